//! Small drawing helpers shared by the views: the button that becomes a spinner, avatars,
//! unread badges, and text fields with an accessible name.

use egui::{
    Color32, FontId, Response, Sense, Spinner, TextEdit, Ui, Vec2, Widget, WidgetInfo, accesskit::Role, vec2,
};

use crate::format::initials;
use crate::theme::Palette;

/// A button that turns into a spinner of the same size while its request is in flight, so
/// that it cannot be pressed twice. The spinner is announced as `busy_label`. Returns
/// whether the button was clicked.
pub fn busy_button(
    ui: &mut Ui,
    busy: bool,
    enabled: bool,
    button: egui::Button<'_>,
    size: Vec2,
    busy_label: &str,
) -> bool {
    if busy {
        spinner(ui, size, busy_label);
        false
    } else {
        ui.add_enabled(enabled, button.min_size(size)).clicked()
    }
}

/// A spinner in a box of `size`, announced to accessibility as `label`.
pub fn spinner(ui: &mut Ui, size: Vec2, label: &str) -> Response {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let side = size.y.min(size.x).min(24.0);
    let spin_rect = egui::Rect::from_center_size(rect.center(), vec2(side, side));
    Spinner::new()
        .color(Palette::of(ui).accent)
        .paint_at(ui, spin_rect);
    response.widget_info(|| WidgetInfo::labeled(Role::ProgressIndicator, true, label));
    response.on_hover_text(label)
}

/// A still "waiting" mark (an open ring) in a box of `size`, announced as `label`: for
/// waits that may last long, where a spinner would keep the window repainting.
pub fn paint_waiting(ui: &mut Ui, size: Vec2, label: &str) -> Response {
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let radius = size.min_elem() / 2.0 - 2.0;
    let color = Palette::of(ui).text;
    let points: Vec<egui::Pos2> = (0..=24)
        .map(|i| {
            let angle = std::f32::consts::PI * (0.25 + 1.5 * i as f32 / 24.0);
            rect.center() + radius * vec2(angle.cos(), angle.sin())
        })
        .collect();
    ui.painter()
        .add(egui::Shape::line(points, egui::Stroke::new(2.0, color)));
    response.widget_info(|| WidgetInfo::labeled(Role::ProgressIndicator, true, label));
    response.on_hover_text(label)
}

/// A labelled single-line text field: the label above, the field below, linked so that
/// screen readers (and tests) find the field by the label's text.
pub fn labelled_field(ui: &mut Ui, label: &str, text: &mut String, password: bool, hint: &str) -> Response {
    let label = ui.label(egui::RichText::new(label).color(Palette::of(ui).muted).size(13.0));
    TextEdit::singleline(text)
        .password(password)
        .hint_text(hint)
        .desired_width(f32::INFINITY)
        .margin(vec2(8.0, 6.0))
        .ui(ui)
        .labelled_by(label.id)
}

/// Paints a round avatar with initials at `center`, with an optional online dot.
pub fn paint_avatar(ui: &Ui, center: egui::Pos2, diameter: f32, name: &str, online: Option<bool>) {
    let palette = Palette::of(ui);
    let dark = ui.visuals().dark_mode;
    let painter = ui.painter();
    painter.circle_filled(center, diameter / 2.0, palette.name_color(name, dark));
    painter.text(
        center,
        egui::Align2::CENTER_CENTER,
        initials(name),
        FontId::proportional(diameter * 0.36),
        Color32::WHITE,
    );
    if online == Some(true) {
        // A ring in the background colour keeps the dot apart from the avatar.
        let r = (diameter * 0.14).max(4.0);
        let dot = center + vec2(diameter * 0.35, diameter * 0.35);
        painter.circle_filled(dot, r + 2.5, palette.sidebar);
        painter.circle_filled(dot, r, palette.online);
    }
}

/// Paints an unread badge right-aligned at `right_center`; returns its width.
pub fn paint_badge(ui: &Ui, right_center: egui::Pos2, count: u64, palette: &Palette) -> f32 {
    let text = if count > 999 {
        "999+".to_owned()
    } else {
        count.to_string()
    };
    let galley = ui
        .painter()
        .layout_no_wrap(text, FontId::proportional(12.0), palette.on_accent);
    let height = 20.0;
    let width = (galley.size().x + 12.0).max(height);
    let rect = egui::Rect::from_min_size(right_center - vec2(width, height / 2.0), vec2(width, height));
    ui.painter().rect_filled(rect, height / 2.0, palette.accent);
    let pos = rect.center() - galley.size() / 2.0;
    ui.painter().galley(pos, galley, palette.on_accent);
    width
}

/// A title-sized text in the palette's text colour.
pub fn heading(text: &str) -> egui::RichText {
    egui::RichText::new(text).size(20.0).strong()
}

/// Paints the app's logo: a white speech bubble on an accent circle.
pub fn paint_logo(ui: &Ui, center: egui::Pos2, diameter: f32) {
    let palette = Palette::of(ui);
    let painter = ui.painter();
    painter.circle_filled(center, diameter / 2.0, palette.accent);
    let bubble = egui::Rect::from_center_size(
        center - vec2(0.0, diameter * 0.04),
        vec2(diameter * 0.5, diameter * 0.36),
    );
    painter.rect_filled(bubble, diameter * 0.1, Color32::WHITE);
    let tail = vec![
        bubble.left_bottom() + vec2(diameter * 0.08, -2.0),
        bubble.left_bottom() + vec2(diameter * 0.2, -2.0),
        bubble.left_bottom() + vec2(diameter * 0.02, diameter * 0.12),
    ];
    painter.add(egui::Shape::convex_polygon(
        tail,
        Color32::WHITE,
        egui::Stroke::NONE,
    ));
    for dx in [-1.0, 0.0, 1.0] {
        let dot = bubble.center() + vec2(dx * diameter * 0.12, 0.0);
        painter.circle_filled(dot, diameter * 0.035, palette.accent);
    }
}
