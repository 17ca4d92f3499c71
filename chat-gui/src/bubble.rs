//! Message bubbles and day separators, painted by hand so that they shrink to their text
//! and put the time on the last line when it fits, as Telegram does. Each bubble is one
//! accessible node labelled with its text, so a screen reader (or a test) reads it.

use egui::{Color32, FontId, Pos2, Rect, Sense, Stroke, Ui, Vec2, WidgetInfo, accesskit::Role, vec2};

use crate::bidi::{self, BidiText};
use crate::theme::Palette;
use egui::text_selection::LabelSelectionState;

const PAD: Vec2 = vec2(10.0, 6.0);
const TIME_GAP: f32 = 10.0;

/// What one bubble shows.
pub struct BubbleContent<'a> {
    /// The text.
    pub body: &'a str,
    /// The sender's name and colour, shown above the text (others' messages in groups).
    pub sender: Option<(&'a str, Color32)>,
    /// `HH:MM`.
    pub time: &'a str,
    /// Whether the user wrote it: right side, own colour.
    pub own: bool,
    /// Whether it starts a run of messages from one sender (gets the tail corner).
    pub first_in_group: bool,
    /// For own messages: whether the server has stored it (a check) or it is still in the
    /// outbox (a clock). Drawn after the time; a screen reader reads it as the value.
    pub delivery: Option<Delivery>,
}

/// Where an own message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// In the outbox, waiting for the server.
    Sending,
    /// Stored by the server.
    Sent,
}

impl Delivery {
    /// The mark drawn after the time.
    pub fn mark(self) -> &'static str {
        match self {
            Delivery::Sending => "🕓",
            Delivery::Sent => "✔",
        }
    }

    /// What a screen reader says about the message `body`: `Sending: …` or `Sent: …`.
    pub fn describe(self, body: &str) -> String {
        match self {
            Delivery::Sending => format!("Sending: {body}"),
            Delivery::Sent => format!("Sent: {body}"),
        }
    }
}

/// Paints a bubble on its side of a row `width` wide; returns its response (hover, right
/// click for copying).
pub fn bubble(ui: &mut Ui, content: &BubbleContent<'_>, width: f32, max_width: f32) -> egui::Response {
    let palette = Palette::of(ui);
    let text_color = palette.text;
    let time_color = if content.own {
        palette.time_out
    } else {
        palette.muted
    };
    let wrap = (max_width - 2.0 * PAD.x).max(40.0);
    let painter = ui.painter();
    let body = bidi::layout(
        painter,
        content.body,
        FontId::proportional(15.0),
        text_color,
        wrap,
    );
    let time_text = match content.delivery {
        Some(delivery) => format!("{} {}", content.time, delivery.mark()),
        None => content.time.to_owned(),
    };
    let time = painter.layout_no_wrap(time_text, FontId::proportional(11.5), time_color);
    let name = content
        .sender
        .map(|(name, color)| painter.layout_no_wrap(name.to_owned(), FontId::proportional(13.5), color));

    // The time sits on the body's last line when there is room, else on a line of its own.
    let last_row_width = body.last_row_right();
    let inline = last_row_width + TIME_GAP + time.size().x <= wrap;
    let mut inner_width = body.size().x.max(name.as_ref().map_or(0.0, |n| n.size().x));
    let time_line = if inline {
        inner_width = inner_width.max(last_row_width + TIME_GAP + time.size().x);
        0.0
    } else {
        inner_width = inner_width.max(time.size().x);
        time.size().y
    };
    let name_height = name.as_ref().map_or(0.0, |n| n.size().y + 2.0);
    let size = vec2(inner_width, name_height + body.size().y + time_line) + 2.0 * PAD;

    // Click and drag: the text can be selected with the mouse and copied.
    let (row, response) = ui.allocate_exact_size(vec2(width, size.y), Sense::click_and_drag());
    let x = if content.own {
        row.right() - size.x - 8.0
    } else {
        row.left() + 8.0
    };
    let rect = Rect::from_min_size(Pos2::new(x, row.top()), size);
    response.widget_info(|| WidgetInfo::labeled(Role::Label, true, content.body));
    if !ui.is_rect_visible(rect) {
        return response;
    }
    let fill = if content.own {
        palette.bubble_out
    } else {
        palette.bubble_in
    };
    let big = 14;
    let tail = if content.first_in_group { 4 } else { big };
    let radius = if content.own {
        egui::CornerRadius {
            nw: big,
            ne: tail,
            sw: big,
            se: big,
        }
    } else {
        egui::CornerRadius {
            nw: tail,
            ne: big,
            sw: big,
            se: big,
        }
    };
    let painter = ui.painter();
    painter.rect(rect, radius, fill, Stroke::NONE, egui::StrokeKind::Inside);
    let mut cursor = rect.min + PAD;
    if let Some(name) = name {
        painter.galley(cursor, name, text_color);
        cursor.y += name_height;
    }
    match &body {
        BidiText::Plain(galley) => LabelSelectionState::label_text_selection(
            ui,
            &response,
            cursor,
            galley.clone(),
            text_color,
            Stroke::NONE,
        ),
        rows => rows.paint(ui.painter(), cursor, text_color),
    }
    let painter = ui.painter();
    let time_pos = Pos2::new(
        rect.right() - PAD.x - time.size().x,
        rect.bottom() - PAD.y - time.size().y + 1.0,
    );
    let time_rect = Rect::from_min_size(time_pos, time.size());
    painter.galley(time_pos, time, time_color);
    if let Some(delivery) = content.delivery {
        // Its own node, so that a screen reader can say where the message stands.
        let mark = ui.interact(
            time_rect,
            response.id.with("delivery"),
            Sense::focusable_noninteractive(),
        );
        mark.widget_info(|| WidgetInfo::labeled(Role::Label, true, delivery.describe(content.body)));
    }
    response
}

/// Paints the grey placeholder of a message this device cannot read, on its sender's side,
/// with the sender's name (in groups), the reason and the time. One accessible node labelled
/// with the whole sentence.
pub fn placeholder(
    ui: &mut Ui,
    text: &str,
    sender: Option<&str>,
    time: &str,
    own: bool,
    width: f32,
    max_width: f32,
) -> egui::Response {
    let palette = Palette::of(ui);
    let wrap = (max_width - 2.0 * PAD.x).max(40.0);
    let painter = ui.painter();
    let mut job = egui::text::LayoutJob::default();
    if let Some(sender) = sender {
        job.append(
            &format!("{sender}\n"),
            0.0,
            egui::TextFormat::simple(FontId::proportional(13.5), palette.muted),
        );
    }
    job.append(
        text,
        0.0,
        egui::TextFormat {
            font_id: FontId::proportional(14.0),
            color: palette.muted,
            italics: true,
            ..Default::default()
        },
    );
    job.wrap.max_width = wrap;
    let body = painter.layout_job(job);
    let time = painter.layout_no_wrap(time.to_owned(), FontId::proportional(11.5), palette.muted);
    let inner = vec2(body.size().x.max(time.size().x), body.size().y + time.size().y);
    let size = inner + 2.0 * PAD;
    let (row, response) = ui.allocate_exact_size(vec2(width, size.y + 2.0), Sense::hover());
    let x = if own {
        row.right() - size.x - 8.0
    } else {
        row.left() + 8.0
    };
    let rect = Rect::from_min_size(Pos2::new(x, row.top()), size);
    let label = match sender {
        Some(sender) => format!("{sender}: {text}"),
        None => text.to_owned(),
    };
    response.widget_info(|| WidgetInfo::labeled(Role::Label, true, &label));
    if !ui.is_rect_visible(rect) {
        return response;
    }
    let painter = ui.painter();
    painter.rect(
        rect,
        14.0,
        palette.service_bg.gamma_multiply(0.5),
        Stroke::new(1.0, palette.muted.gamma_multiply(0.5)),
        egui::StrokeKind::Inside,
    );
    painter.galley(rect.min + PAD, body, palette.muted);
    let time_pos = Pos2::new(
        rect.right() - PAD.x - time.size().x,
        rect.bottom() - PAD.y - time.size().y + 1.0,
    );
    painter.galley(time_pos, time, palette.muted);
    response
}

/// Paints a centred pill with a day's name between messages of different days.
pub fn day_separator(ui: &mut Ui, label: &str) {
    service_note(ui, label);
}

/// Paints a centred pill over the chat background: day separators, empty-chat notes,
/// notices of changes to the room.
pub fn service_note(ui: &mut Ui, label: &str) -> egui::Response {
    let palette = Palette::of(ui);
    let shown = crate::bidi::display_line(label).into_owned();
    let galley = ui
        .painter()
        .layout_no_wrap(shown, FontId::proportional(13.0), palette.service_text);
    let size = galley.size() + vec2(20.0, 8.0);
    let (row, response) = ui.allocate_exact_size(vec2(ui.available_width(), size.y + 8.0), Sense::hover());
    response.widget_info(|| WidgetInfo::labeled(Role::Label, true, label));
    let rect = Rect::from_center_size(row.center(), size);
    ui.painter().rect_filled(rect, size.y / 2.0, palette.service_bg);
    ui.painter()
        .galley(rect.center() - galley.size() / 2.0, galley, palette.service_text);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_right_to_left_message_is_drawn_right_to_left() {
        let ctx = egui::Context::default();
        crate::fonts::install(&ctx);
        let mut output = ctx.run_ui(Default::default(), |ui| {
            // Hebrew: "shalom olam". Arabic: "salam alaykum".
            for (text, first, second, last_of_first) in
                [("שלום עולם", 'ש', 'ע', 'ם'), ("سلام عليكم", 'س', 'ع', 'م')]
            {
                let layout = bidi::layout(
                    ui.painter(),
                    text,
                    FontId::proportional(15.0),
                    Color32::BLACK,
                    300.0,
                );
                let BidiText::Rows { rows, .. } = layout else {
                    panic!("{text} takes the right-to-left path");
                };
                let x = |c: char| {
                    rows[0]
                        .galley
                        .rows
                        .iter()
                        .flat_map(|r| r.glyphs.iter())
                        .find(|g| g.chr == c)
                        .map(|g| g.pos.x)
                        .unwrap_or_else(|| panic!("{c} is drawn"))
                };
                assert!(
                    x(first) > x(second),
                    "{text}: the first word is drawn right of the second"
                );
                assert!(
                    x(first) > x(last_of_first),
                    "{text}: a word's first letter is drawn rightmost"
                );
            }
        });
        output.textures_delta.clear();
    }
}
