//! The composer at the bottom of a chat: a growing text field where Enter sends and
//! Shift+Enter starts a new line, a round send button, and the typing line above it.
//!
//! Sending never waits for the previous message nor for the connection: every Enter takes
//! the text typed so far as one message and puts it into the client library's outbox (its
//! bubble shows at once with a clock, then a check once the server stored it), so text typed
//! quickly, or while offline, is never merged with the next message, dropped or reordered.
//! Only the read-only view of saved chats (no session) cannot send.

use chat_proto::{MessageBody, RoomId};
use egui::{
    Event, Frame, Key, KeyboardShortcut, Modifiers, Panel, RichText, Sense, TextEdit, Ui, WidgetInfo,
    accesskit::Role, vec2,
};

use crate::app::App;
use crate::backend::{Command, Connection};
use crate::theme::Palette;

/// Seconds between two typing notices while the user keeps typing.
const TYPING_INTERVAL: f64 = 3.0;
/// Side of the round send button.
const SEND_SIZE: f32 = 38.0;
/// Lines the composer grows to before it scrolls inside, as Telegram's does.
pub const MAX_LINES: f32 = 8.0;

/// Draws the composer of `room`.
pub fn show(app: &mut App, ui: &mut Ui, room: RoomId) {
    let palette = Palette::of(ui);
    Panel::bottom("composer")
        .frame(Frame::new().fill(palette.sidebar).inner_margin(vec2(12.0, 8.0)))
        .show(ui, |ui| {
            typing_line(app, ui, room, &palette);
            ui.horizontal(|ui| field_and_button(app, ui, room, &palette));
        });
}

fn typing_line(app: &App, ui: &mut Ui, room: RoomId, palette: &Palette) {
    let now = ui.input(|i| i.time);
    let names = app
        .chats
        .as_ref()
        .and_then(|c| c.conversations.get(&room))
        .map(|c| c.typing_names(now))
        .unwrap_or_default();
    if let Some(text) = typing_text(&names) {
        ui.label(
            RichText::new(text)
                .italics()
                .color(palette.accent_text)
                .size(12.5),
        );
        // Repaint when the notice may have expired.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
    }
}

/// "alice is typing…", "alice and bob are typing…", "3 people are typing…".
pub fn typing_text(names: &[&str]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [a, b] => Some(format!("{a} and {b} are typing…")),
        many => Some(format!("{} people are typing…", many.len())),
    }
}

fn field_and_button(app: &mut App, ui: &mut Ui, room: RoomId, palette: &Palette) {
    let online = app.connection == Connection::Online;
    // Writing works offline too (the outbox sends later); not in the read-only saved view.
    let writable = !app.offline_login;
    let id = ui.make_persistent_id(("composer", room));
    // Enter sends; take it before the field turns it into a new line. Shift+Enter is
    // left to the field, whose return key is set to it.
    let enter = ui.memory(|m| m.has_focus(id)) && take_plain_enter(ui, &mut app.replay_input);
    if !app.replay_input.is_empty() {
        ui.ctx().request_repaint();
    }
    if writable {
        app.settle_focus(ui, id);
    }
    let draft = app.drafts.entry(room).or_default();
    let hint = match (writable, online) {
        (false, _) => "Saved chats are read-only",
        (true, true) => "Write a message…",
        (true, false) => "Write a message; it is sent when the connection is back…",
    };
    // A long paste grows the field to MAX_LINES and no further: the conversation stays in
    // view and the field scrolls.
    let row_height = ui.fonts_mut(|f| f.row_height(&egui::TextStyle::Body.resolve(ui.style())));
    let max_height = MAX_LINES * row_height + 18.0;
    let width = ui.available_width() - SEND_SIZE - 12.0;
    let field = egui::ScrollArea::vertical()
        .id_salt(("composer_scroll", room))
        .max_height(max_height)
        .max_width(width)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            ui.add_enabled(
                writable,
                TextEdit::multiline(draft)
                    .id(id)
                    .hint_text(hint)
                    .desired_rows(1)
                    .desired_width(width - 14.0)
                    .margin(vec2(10.0, 9.0))
                    .return_key(KeyboardShortcut::new(Modifiers::SHIFT, Key::Enter)),
            )
        })
        .inner;
    field.widget_info(|| WidgetInfo::labeled(Role::MultilineTextInput, writable, "Message"));
    let changed = field.changed() && !draft.trim().is_empty();
    let clicked = send_button(ui, writable, palette);
    let now = ui.input(|i| i.time);
    if changed && online && now - app.last_typing_sent >= TYPING_INTERVAL {
        app.last_typing_sent = now;
        app.request(Command::Typing(room));
    }
    if (enter || clicked) && writable {
        submit(app, room);
        ui.memory_mut(|m| m.request_focus(id));
    }
}

fn submit(app: &mut App, room: RoomId) {
    let draft = app.drafts.entry(room).or_default();
    let text = draft.trim();
    if text.is_empty() {
        return;
    }
    match MessageBody::parse(text) {
        Ok(body) => {
            draft.clear();
            app.last_typing_sent = f64::NEG_INFINITY;
            app.send_message(room, body);
        }
        Err(e) => app.snackbar.push(e.message),
    }
}

/// Takes the first Enter press without Shift out of this frame's input and returns whether
/// there was one. Everything typed after it in the same frame (a fast typist's next
/// message) is moved to `later`, to be replayed at the start of the next frame: the field
/// sees only what came before this Enter, so one Enter sends exactly the text typed before
/// it.
fn take_plain_enter(ui: &Ui, later: &mut Vec<Event>) -> bool {
    ui.input_mut(|input| {
        let at = input.events.iter().position(|e| {
            matches!(e, Event::Key { key: Key::Enter, pressed: true, modifiers, .. }
                if !modifiers.shift && !modifiers.ctrl && !modifiers.alt)
        });
        let Some(at) = at else { return false };
        later.extend(input.events.drain(at + 1..));
        input.events.remove(at);
        true
    })
}

/// A round accent button with a paper plane; announced as "Send".
fn send_button(ui: &mut Ui, enabled: bool, palette: &Palette) -> bool {
    let sense = if enabled { Sense::click() } else { Sense::hover() };
    let (rect, response) = ui.allocate_exact_size(vec2(SEND_SIZE, SEND_SIZE), sense);
    response.widget_info(|| WidgetInfo::labeled(Role::Button, enabled, "Send"));
    let fill = if !enabled {
        palette.muted
    } else if response.hovered() {
        palette.accent.gamma_multiply(0.85)
    } else {
        palette.accent
    };
    let painter = ui.painter();
    painter.circle_filled(rect.center(), SEND_SIZE / 2.0, fill);
    let c = rect.center();
    // A paper plane: two triangles meeting at the fold.
    for wing in [
        [c + vec2(-8.0, -8.0), c + vec2(10.0, 0.0), c + vec2(-5.0, 0.0)],
        [c + vec2(-5.0, 0.0), c + vec2(10.0, 0.0), c + vec2(-8.0, 8.0)],
    ] {
        painter.add(egui::Shape::convex_polygon(
            wing.to_vec(),
            palette.on_accent,
            egui::Stroke::NONE,
        ));
    }
    response.clicked()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_text_names_one_two_or_counts() {
        assert_eq!(typing_text(&[]), None);
        assert_eq!(typing_text(&["alice"]).unwrap(), "alice is typing…");
        assert_eq!(
            typing_text(&["alice", "bob"]).unwrap(),
            "alice and bob are typing…"
        );
        assert_eq!(typing_text(&["a", "b", "c"]).unwrap(), "3 people are typing…");
    }
}
