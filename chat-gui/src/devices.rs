//! The devices settings page: every place this user is logged in, each with its key's
//! fingerprint and when it was last seen, and a way to remove one (asked first). A removed
//! device leaves every encrypted chat and cannot read what is sent afterwards.

use chat_proto::{Device, DeviceId};
use egui::{RichText, ScrollArea, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::confirm::Confirm;
use crate::dialogs::{Dialog, modal};
use crate::format::now_ms;
use crate::theme::Palette;
use crate::widgets::{heading, spinner};

/// The title of the page.
pub const TITLE: &str = "Your devices";

/// The devices page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevicesDialog {
    /// The devices, once loaded.
    pub devices: Option<Vec<Device>>,
    /// This device, once registered.
    pub this_device: Option<DeviceId>,
}

/// Opens the page and loads the devices.
pub fn open(app: &mut App) {
    app.dialog = Some(Dialog::Devices(DevicesDialog::default()));
    app.request(Command::Devices);
}

/// The label of the remove button of the device `name`.
pub fn remove_label(name: &str) -> String {
    format!("Remove {name}")
}

/// Draws the page. Returns whether it stays open.
pub fn show(app: &mut App, ui: &mut Ui, dialog: &mut DevicesDialog) -> bool {
    let palette = Palette::of(ui);
    let offset = app.offset();
    let now = now_ms();
    let mut remove: Option<Device> = None;
    let mut done = false;
    let close = modal(ui, "devices", 460.0, |ui| {
        ui.label(heading(TITLE));
        ui.add_space(4.0);
        ui.label(
            RichText::new(
                "Each place where you are logged in has its own keys. Remove a device you do not recognise: \
                 it leaves every encrypted chat at once and cannot read anything sent afterwards.",
            )
            .color(palette.muted)
            .size(13.0),
        );
        ui.add_space(8.0);
        match &dialog.devices {
            None => {
                spinner(ui, vec2(ui.available_width(), 48.0), "Loading devices…");
            }
            Some(devices) => {
                ScrollArea::vertical().max_height(360.0).show(ui, |ui| {
                    for device in devices {
                        let this = dialog.this_device == Some(device.id);
                        ui.group(|ui| {
                            ui.set_width(ui.available_width());
                            ui.horizontal(|ui| {
                                ui.label(RichText::new(device.name.as_str()).strong().size(15.0));
                                if this {
                                    ui.label(RichText::new("this device").color(palette.accent_text));
                                }
                                if !this {
                                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                                        let label = remove_label(device.name.as_str());
                                        let busy = app.is_pending(Op::RemoveDevice(device.id));
                                        if busy {
                                            spinner(ui, vec2(80.0, 24.0), "Removing…");
                                        } else {
                                            let button = ui.button("Remove");
                                            button.widget_info(|| {
                                                egui::WidgetInfo::labeled(
                                                    egui::accesskit::Role::Button,
                                                    true,
                                                    &label,
                                                )
                                            });
                                            if button.clicked() {
                                                remove = Some(device.clone());
                                            }
                                        }
                                    });
                                }
                            });
                            ui.label(RichText::new(&device.fingerprint).monospace().size(11.0));
                            let seen = if this {
                                "online now".to_owned()
                            } else {
                                format!(
                                    "last seen {} {}",
                                    offset.day_label(device.last_seen_at, now).to_lowercase(),
                                    offset.clock(device.last_seen_at)
                                )
                            };
                            ui.label(RichText::new(seen).color(palette.muted).size(12.5));
                        });
                        ui.add_space(4.0);
                    }
                });
            }
        }
        ui.add_space(8.0);
        done = ui
            .add(egui::Button::new("Close").min_size(vec2(90.0, 32.0)))
            .clicked();
    });
    if let Some(device) = remove {
        app.dialog = Some(Dialog::Confirm(Confirm::remove_device(
            device.id,
            device.name.as_str(),
        )));
        return true;
    }
    !(close || done)
}
