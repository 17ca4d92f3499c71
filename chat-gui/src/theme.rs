//! Colours and sizes: a light and a dark palette in the manner of Telegram, and the egui
//! style built from them. Views ask for [`Palette::of`] instead of hard-coding colours, so
//! both themes stay consistent.

use egui::{Color32, Context, CornerRadius, Stroke, Theme, Ui, Visuals};

/// Width of the chat list on the left.
pub const CHAT_LIST_WIDTH: f32 = 300.0;
/// Width of the members panel on the right.
pub const MEMBERS_WIDTH: f32 = 220.0;
/// Height of one row of the chat list.
pub const CHAT_ROW_HEIGHT: f32 = 64.0;
/// Diameter of an avatar in the chat list.
pub const AVATAR_SIZE: f32 = 44.0;
/// Widest a message bubble may grow, as a share of the conversation's width.
pub const BUBBLE_MAX_SHARE: f32 = 0.7;

/// The colours of one theme.
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    /// Accent: selected chat, primary buttons, unread badges, links.
    pub accent: Color32,
    /// Text on an accent background.
    pub on_accent: Color32,
    /// Normal text.
    pub text: Color32,
    /// Secondary text: previews, times, hints.
    pub muted: Color32,
    /// Background of the chat list and headers.
    pub sidebar: Color32,
    /// A hovered chat row.
    pub hover: Color32,
    /// Background behind the conversation's bubbles.
    pub chat_bg: Color32,
    /// Bubble of a message from someone else.
    pub bubble_in: Color32,
    /// Bubble of the user's own message.
    pub bubble_out: Color32,
    /// Time text inside an own bubble.
    pub time_out: Color32,
    /// Background of day separators and service notes over the chat background.
    pub service_bg: Color32,
    /// Text of day separators.
    pub service_text: Color32,
    /// The online dot.
    pub online: Color32,
    /// Snackbar background.
    pub snackbar_bg: Color32,
    /// Snackbar text.
    pub snackbar_text: Color32,
    /// Banner background while reconnecting.
    pub banner_warn: Color32,
    /// Banner background while offline.
    pub banner_offline: Color32,
    /// Thin lines between areas.
    pub divider: Color32,
}

impl Palette {
    /// Telegram's light look: white list, pale blue-grey chat background, green own bubbles.
    pub const LIGHT: Palette = Palette {
        accent: Color32::from_rgb(0x33, 0x90, 0xec),
        on_accent: Color32::WHITE,
        text: Color32::from_rgb(0x0f, 0x0f, 0x0f),
        muted: Color32::from_rgb(0x70, 0x75, 0x79),
        sidebar: Color32::WHITE,
        hover: Color32::from_rgb(0xf1, 0xf1, 0xf2),
        chat_bg: Color32::from_rgb(0xdc, 0xe5, 0xd3),
        bubble_in: Color32::WHITE,
        bubble_out: Color32::from_rgb(0xe3, 0xfe, 0xd0),
        time_out: Color32::from_rgb(0x4f, 0xae, 0x4e),
        service_bg: Color32::from_rgba_premultiplied(0x50, 0x6a, 0x4a, 0x90),
        service_text: Color32::WHITE,
        online: Color32::from_rgb(0x4f, 0xae, 0x4e),
        snackbar_bg: Color32::from_rgb(0x2c, 0x2c, 0x2e),
        snackbar_text: Color32::WHITE,
        banner_warn: Color32::from_rgb(0xff, 0xe4, 0x9c),
        banner_offline: Color32::from_rgb(0xff, 0xcd, 0xd2),
        divider: Color32::from_rgb(0xdf, 0xe1, 0xe5),
    };

    /// Telegram's "night blue" look.
    pub const DARK: Palette = Palette {
        accent: Color32::from_rgb(0x52, 0x88, 0xc1),
        on_accent: Color32::WHITE,
        text: Color32::from_rgb(0xf5, 0xf5, 0xf5),
        muted: Color32::from_rgb(0x7f, 0x91, 0xa4),
        sidebar: Color32::from_rgb(0x17, 0x21, 0x2b),
        hover: Color32::from_rgb(0x20, 0x2b, 0x36),
        chat_bg: Color32::from_rgb(0x0e, 0x16, 0x21),
        bubble_in: Color32::from_rgb(0x18, 0x25, 0x33),
        bubble_out: Color32::from_rgb(0x2b, 0x52, 0x78),
        time_out: Color32::from_rgb(0x7d, 0xa8, 0xd3),
        service_bg: Color32::from_rgb(0x1e, 0x2c, 0x3a),
        service_text: Color32::from_rgb(0xe0, 0xe6, 0xec),
        online: Color32::from_rgb(0x4f, 0xbd, 0x5a),
        snackbar_bg: Color32::from_rgb(0xe8, 0xea, 0xed),
        snackbar_text: Color32::from_rgb(0x10, 0x10, 0x10),
        banner_warn: Color32::from_rgb(0x6b, 0x55, 0x1a),
        banner_offline: Color32::from_rgb(0x6e, 0x2a, 0x2e),
        divider: Color32::from_rgb(0x0b, 0x11, 0x18),
    };

    /// The palette of a theme.
    pub fn for_theme(theme: Theme) -> Palette {
        match theme {
            Theme::Light => Palette::LIGHT,
            Theme::Dark => Palette::DARK,
        }
    }

    /// The palette of the theme the UI is drawn in now.
    pub fn of(ui: &Ui) -> Palette {
        Palette::for_theme(ui.ctx().theme())
    }

    /// A stable colour for a name, for avatars and sender names (Telegram gives each user
    /// one of a few colours).
    pub fn name_color(&self, name: &str, dark: bool) -> Color32 {
        const LIGHT: [Color32; 7] = [
            Color32::from_rgb(0xe1, 0x72, 0x76),
            Color32::from_rgb(0xeb, 0x8f, 0x4b),
            Color32::from_rgb(0x9f, 0x7a, 0xe0),
            Color32::from_rgb(0x4f, 0xae, 0x4e),
            Color32::from_rgb(0x3c, 0xa5, 0xc8),
            Color32::from_rgb(0x3d, 0x8b, 0xd5),
            Color32::from_rgb(0xd5, 0x6b, 0xa8),
        ];
        // FNV-1a over the lowercase name: same name, same colour on every start.
        let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
        });
        let base = LIGHT[(hash % LIGHT.len() as u32) as usize];
        if dark { base.gamma_multiply(1.15) } else { base }
    }
}

/// Installs the look for both themes; the system (or the user's choice) picks one.
pub fn install(ctx: &Context) {
    for theme in [Theme::Light, Theme::Dark] {
        let palette = Palette::for_theme(theme);
        ctx.style_mut_of(theme, |style| {
            style.spacing.item_spacing = egui::vec2(8.0, 6.0);
            style.spacing.button_padding = egui::vec2(12.0, 6.0);
            style.spacing.interact_size.y = 30.0;
            apply_visuals(&mut style.visuals, &palette);
        });
    }
}

fn apply_visuals(visuals: &mut Visuals, palette: &Palette) {
    let radius = CornerRadius::same(8);
    visuals.panel_fill = palette.sidebar;
    visuals.window_fill = palette.sidebar;
    visuals.window_corner_radius = CornerRadius::same(12);
    visuals.hyperlink_color = palette.accent;
    visuals.selection.bg_fill = palette.accent.gamma_multiply(0.45);
    visuals.selection.stroke = Stroke::new(1.0, palette.accent);
    visuals.override_text_color = Some(palette.text);
    visuals.text_edit_bg_color = Some(if visuals.dark_mode {
        Color32::from_rgb(0x24, 0x2f, 0x3d)
    } else {
        Color32::from_rgb(0xf4, 0xf4, 0xf5)
    });
    for w in [
        &mut visuals.widgets.noninteractive,
        &mut visuals.widgets.inactive,
        &mut visuals.widgets.hovered,
        &mut visuals.widgets.active,
        &mut visuals.widgets.open,
    ] {
        w.corner_radius = radius;
    }
    let (button, button_hover) = if visuals.dark_mode {
        (
            Color32::from_rgb(0x24, 0x2f, 0x3d),
            Color32::from_rgb(0x2c, 0x3a, 0x4a),
        )
    } else {
        (
            Color32::from_rgb(0xec, 0xee, 0xf1),
            Color32::from_rgb(0xe0, 0xe4, 0xe9),
        )
    };
    visuals.widgets.inactive.weak_bg_fill = button;
    visuals.widgets.inactive.bg_fill = button;
    visuals.widgets.hovered.weak_bg_fill = button_hover;
    visuals.widgets.hovered.bg_fill = button_hover;
    visuals.widgets.active.weak_bg_fill = button_hover;
    visuals.widgets.noninteractive.bg_stroke = Stroke::new(1.0, palette.divider);
    visuals.widgets.hovered.bg_stroke = Stroke::new(1.0, palette.accent);
    visuals.widgets.active.bg_stroke = Stroke::new(1.0, palette.accent);
}

/// A filled button in the accent colour, for the main action of a form.
pub fn primary_button(text: &str, palette: &Palette) -> egui::Button<'static> {
    egui::Button::new(
        egui::RichText::new(text.to_owned())
            .color(palette.on_accent)
            .strong(),
    )
    .fill(palette.accent)
    .min_size(egui::vec2(96.0, 32.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_colours_are_stable_and_ignore_case() {
        let p = Palette::LIGHT;
        assert_eq!(p.name_color("Alice", false), p.name_color("alice", false));
        assert_eq!(p.name_color("bob", false), p.name_color("bob", false));
    }
}
