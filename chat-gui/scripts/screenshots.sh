#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/screenshots/*.png): the `screenshots` example
# starts a chat server in process, fills it with sample users and messages, drives the app
# headless with egui_kittest and renders the login screen and the main view, light and dark,
# and a narrow window in one column.
#
# Rendering goes through wgpu on a software GPU, so it needs Mesa, which `cargo test` does
# not: on Debian/Ubuntu `apt-get install libegl-mesa0 libgl1-mesa-dri` (OpenGL) or
# `apt-get install mesa-vulkan-drivers libvulkan1` (Vulkan). Run it by hand after a visual
# change and commit the PNGs.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run -p chat-gui --example screenshots -- docs/screenshots
