//! Colours and sizes: a light and a dark palette in the manner of Telegram, and the egui
//! style built from them. Views ask for [`Palette::of`] instead of hard-coding colours, so
//! both themes stay consistent.

use egui::{Color32, Context, CornerRadius, Stroke, Theme, Ui, Visuals};

/// Width of the chat list on the left.
pub const CHAT_LIST_WIDTH: f32 = 300.0;
/// Width of the room info panel on the right.
pub const INFO_WIDTH: f32 = 280.0;
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
    /// Text in the accent colour over the sidebar or a bubble ("online", "typing…"): the
    /// accent itself where it is dark enough to read.
    pub accent_text: Color32,
    /// Destructive actions: leave, remove, ban.
    pub danger: Color32,
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
        accent: Color32::from_rgb(0x2a, 0x78, 0xc8),
        accent_text: Color32::from_rgb(0x2a, 0x78, 0xc8),
        danger: Color32::from_rgb(0xc6, 0x28, 0x28),
        on_accent: Color32::WHITE,
        text: Color32::from_rgb(0x0f, 0x0f, 0x0f),
        muted: Color32::from_rgb(0x70, 0x75, 0x79),
        sidebar: Color32::WHITE,
        hover: Color32::from_rgb(0xf1, 0xf1, 0xf2),
        chat_bg: Color32::from_rgb(0xdc, 0xe5, 0xd3),
        bubble_in: Color32::WHITE,
        bubble_out: Color32::from_rgb(0xe3, 0xfe, 0xd0),
        time_out: Color32::from_rgb(0x2f, 0x7a, 0x30),
        service_bg: Color32::from_rgb(0x55, 0x7a, 0x50),
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
        accent_text: Color32::from_rgb(0x64, 0xa0, 0xdc),
        danger: Color32::from_rgb(0xff, 0x8a, 0x80),
        on_accent: Color32::WHITE,
        text: Color32::from_rgb(0xf5, 0xf5, 0xf5),
        muted: Color32::from_rgb(0x7f, 0x91, 0xa4),
        sidebar: Color32::from_rgb(0x17, 0x21, 0x2b),
        hover: Color32::from_rgb(0x20, 0x2b, 0x36),
        chat_bg: Color32::from_rgb(0x0e, 0x16, 0x21),
        bubble_in: Color32::from_rgb(0x18, 0x25, 0x33),
        bubble_out: Color32::from_rgb(0x2b, 0x52, 0x78),
        time_out: Color32::from_rgb(0xa9, 0xcb, 0xed),
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
    /// one of a few colours). None is green, so that the online dot stands out on every
    /// avatar.
    pub fn name_color(&self, name: &str, dark: bool) -> Color32 {
        const LIGHT: [Color32; 7] = AVATAR_COLORS;
        // FNV-1a over the lowercase name: same name, same colour on every start.
        let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
        });
        let base = LIGHT[(hash % LIGHT.len() as u32) as usize];
        if dark { base.gamma_multiply(1.15) } else { base }
    }
}

/// The colours avatars and sender names take.
pub const AVATAR_COLORS: [Color32; 7] = [
    Color32::from_rgb(0xe1, 0x72, 0x76),
    Color32::from_rgb(0xeb, 0x8f, 0x4b),
    Color32::from_rgb(0x9f, 0x7a, 0xe0),
    Color32::from_rgb(0x8c, 0x7a, 0x5c),
    Color32::from_rgb(0x3c, 0xa5, 0xc8),
    Color32::from_rgb(0x3d, 0x8b, 0xd5),
    Color32::from_rgb(0xd5, 0x6b, 0xa8),
];

/// The WCAG contrast ratio of two opaque colours (1 to 21; text wants 4.5).
pub fn contrast(a: Color32, b: Color32) -> f32 {
    fn luminance(c: Color32) -> f32 {
        let channel = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
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
            // A blinking caret repaints the whole window twice a second for as long as the
            // composer has the focus: a steady one costs nothing while idle.
            style.visuals.text_cursor.blink = false;
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
    // A focus ring that can be seen, for keyboard users.
    visuals.selection.stroke = Stroke::new(2.0, palette.accent);
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

/// A button for a destructive action, in the danger colour.
pub fn danger_button(text: &str, palette: &Palette) -> egui::Button<'static> {
    egui::Button::new(
        egui::RichText::new(text.to_owned())
            .color(Color32::WHITE)
            .strong(),
    )
    .fill(if palette.text == Palette::DARK.text {
        Color32::from_rgb(0xb7, 0x1c, 0x1c)
    } else {
        palette.danger
    })
    .min_size(egui::vec2(96.0, 32.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG AA for text.
    const AA: f32 = 4.5;

    #[test]
    fn text_colours_meet_wcag_aa_in_both_themes() {
        for (name, p) in [("light", Palette::LIGHT), ("dark", Palette::DARK)] {
            let pairs = [
                ("day labels", p.service_text, p.service_bg),
                ("own bubble times", p.time_out, p.bubble_out),
                ("other bubble times", p.muted, p.bubble_in),
                ("text in bubbles", p.text, p.bubble_in),
                ("text in own bubbles", p.text, p.bubble_out),
                ("previews", p.muted, p.sidebar),
                ("online and typing", p.accent_text, p.sidebar),
                ("snackbar", p.snackbar_text, p.snackbar_bg),
            ];
            for (what, fg, bg) in pairs {
                let ratio = contrast(fg, bg);
                assert!(ratio >= AA, "{name}: {what} have {ratio:.2}:1");
            }
        }
        assert!(contrast(Palette::LIGHT.on_accent, Palette::LIGHT.accent) >= AA);
    }

    #[test]
    fn the_online_dot_differs_from_every_avatar_colour() {
        for p in [Palette::LIGHT, Palette::DARK] {
            for avatar in AVATAR_COLORS {
                let distance = [
                    (avatar.r(), p.online.r()),
                    (avatar.g(), p.online.g()),
                    (avatar.b(), p.online.b()),
                ]
                .iter()
                .map(|(a, b)| (f32::from(*a) - f32::from(*b)).powi(2))
                .sum::<f32>()
                .sqrt();
                assert!(distance > 80.0, "{avatar:?} is too close to the dot");
            }
        }
    }

    #[test]
    fn name_colours_are_stable_and_ignore_case() {
        let p = Palette::LIGHT;
        assert_eq!(p.name_color("Alice", false), p.name_color("alice", false));
        assert_eq!(p.name_color("bob", false), p.name_color("bob", false));
    }
}
