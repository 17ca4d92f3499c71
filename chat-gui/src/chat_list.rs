//! The chat list on the left: the menu, then one row per chat with its avatar, name, time
//! of the last message, a one-line preview, the unread badge, and an online dot for direct
//! chats whose peer is online.

use std::sync::Arc;

use chat_proto::{RoomId, RoomKind, RoomSummary, UserId};
use egui::text::{LayoutJob, TextWrapping};
use egui::{
    FontId, Frame, Galley, Panel, Pos2, RichText, ScrollArea, Sense, Theme, Ui, WidgetInfo, accesskit::Role,
    vec2,
};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::dialogs::Dialog;
use crate::format::{LocalOffset, now_ms};
use crate::theme::{AVATAR_SIZE, CHAT_LIST_WIDTH, CHAT_ROW_HEIGHT, Palette};
use crate::widgets::{paint_avatar, paint_badge, spinner};

/// Draws the chat list: a panel on the left, or the whole window (`full`) in one column.
pub fn show(app: &mut App, ui: &mut Ui, full: bool) {
    let palette = Palette::of(ui);
    let contents = |app: &mut App, ui: &mut Ui| {
        top_bar(app, ui, &palette);
        invitations_entry(app, ui, &palette);
        ui.add_space(4.0);
        let mut clicked = None;
        ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| clicked = rows(app, ui, &palette));
        if let Some(room) = clicked {
            app.open_room(room);
        }
    };
    if full {
        egui::CentralPanel::no_frame()
            .frame(Frame::new().fill(palette.sidebar))
            .show(ui, |ui| contents(app, ui));
    } else {
        Panel::left("chat_list")
            .exact_size(CHAT_LIST_WIDTH)
            .resizable(false)
            .frame(Frame::new().fill(palette.sidebar))
            .show(ui, |ui| contents(app, ui));
    }
}

/// "2 invitations" above the chats while any wait for an answer.
fn invitations_entry(app: &mut App, ui: &mut Ui, palette: &Palette) {
    let count = app.invitations.len();
    if count == 0 {
        return;
    }
    let text = crate::invitations::count_text(count);
    let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), 36.0), Sense::click());
    response.widget_info(|| WidgetInfo::labeled(Role::Button, true, &text));
    let fill = if response.hovered() {
        palette.hover
    } else {
        palette.sidebar
    };
    ui.painter().rect_filled(rect.shrink2(vec2(6.0, 1.0)), 10.0, fill);
    paint_badge(
        ui,
        Pos2::new(rect.left() + 44.0, rect.center().y),
        count as u64,
        palette,
    );
    ui.painter().text(
        Pos2::new(rect.left() + 54.0, rect.center().y),
        egui::Align2::LEFT_CENTER,
        &text,
        FontId::proportional(14.0),
        palette.accent_text,
    );
    if response.has_focus() {
        ui.painter().rect_stroke(
            rect.shrink2(vec2(6.0, 1.0)),
            10.0,
            ui.visuals().selection.stroke,
            egui::StrokeKind::Inside,
        );
    }
    if response.clicked() {
        app.dialog = Some(Dialog::Invitations);
    }
}

fn top_bar(app: &mut App, ui: &mut Ui, palette: &Palette) {
    Frame::new().inner_margin(vec2(10.0, 8.0)).show(ui, |ui| {
        ui.horizontal(|ui| {
            if app.is_pending(Op::Logout) {
                spinner(ui, vec2(30.0, 30.0), "Logging out…");
            } else {
                menu(app, ui);
            }
            ui.label(RichText::new("Chats").size(18.0).strong());
            if let Some(chats) = &app.chats {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(RichText::new(chats.me.username.as_str()).color(palette.muted));
                });
            }
        });
    });
}

fn menu(app: &mut App, ui: &mut Ui) {
    let response = ui.menu_button(RichText::new("☰").size(18.0), |ui| {
        ui.set_min_width(180.0);
        if ui.button("New room").clicked() {
            app.dialog = Some(Dialog::create_room());
        }
        if ui.button("Join room").clicked() {
            app.dialog = Some(Dialog::join_room());
        }
        if ui.button("Public rooms").clicked() {
            app.dialog = Some(Dialog::Directory(Default::default()));
        }
        if ui.button("Invitations").clicked() {
            app.request(Command::ListInvitations);
            app.dialog = Some(Dialog::Invitations);
        }
        if ui.button("New direct chat").clicked() {
            app.dialog = Some(Dialog::direct());
        }
        ui.separator();
        if ui.button("Devices").clicked() {
            crate::devices::open(app);
        }
        ui.separator();
        let dark = ui.ctx().theme() == Theme::Dark;
        if ui.button(if dark { "Light mode" } else { "Dark mode" }).clicked() {
            app.set_theme(ui.ctx(), if dark { Theme::Light } else { Theme::Dark });
        }
        ui.separator();
        if ui.button("Log out").clicked() {
            app.dialog = Some(Dialog::Confirm(crate::confirm::Confirm::logout()));
        }
    });
    // The glyph means nothing to a screen reader; name the button.
    response
        .response
        .widget_info(|| WidgetInfo::labeled(Role::Button, true, "Menu"));
}

fn rows(app: &App, ui: &mut Ui, palette: &Palette) -> Option<RoomId> {
    let chats = app.chats.as_ref()?;
    if chats.list.is_empty() {
        ui.add_space(24.0);
        ui.vertical_centered(|ui| {
            ui.label(RichText::new("No chats yet").strong());
            ui.label(
                RichText::new("Open the menu ☰ to create or join a room,\nor to start a direct chat.")
                    .color(palette.muted),
            );
        });
        return None;
    }
    let now = now_ms();
    let mut clicked = None;
    for summary in &chats.list {
        let selected = chats.selected == Some(summary.room.id);
        if row(ui, summary, chats.me.id, selected, app.offset(), now, palette) {
            clicked = Some(summary.room.id);
        }
    }
    clicked
}

#[allow(clippy::too_many_arguments)]
fn row(
    ui: &mut Ui,
    summary: &RoomSummary,
    me: UserId,
    selected: bool,
    offset: LocalOffset,
    now: i64,
    palette: &Palette,
) -> bool {
    let width = ui.available_width();
    let (rect, response) = ui.allocate_exact_size(vec2(width, CHAT_ROW_HEIGHT), Sense::click());
    let name = summary.room.name.as_str();
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, selected, name));
    if selected && ui.input(|i| i.modifiers.alt || i.modifiers.ctrl) {
        // Switching chats by keyboard keeps the open one in view.
        response.scroll_to_me(None);
    }
    if !ui.is_rect_visible(rect) {
        return response.clicked();
    }
    let (fg, sub) = if selected {
        ui.painter()
            .rect_filled(rect.shrink2(vec2(6.0, 1.0)), 10.0, palette.accent);
        (palette.on_accent, palette.on_accent)
    } else {
        if response.hovered() {
            ui.painter()
                .rect_filled(rect.shrink2(vec2(6.0, 1.0)), 10.0, palette.hover);
        }
        (palette.text, palette.muted)
    };
    let online = (summary.room.kind == RoomKind::Direct).then(|| summary.peer_online == Some(true));
    let avatar = Pos2::new(rect.left() + 14.0 + AVATAR_SIZE / 2.0, rect.center().y);
    paint_avatar(ui, avatar, AVATAR_SIZE, name, online);

    let left = rect.left() + 24.0 + AVATAR_SIZE;
    let right = rect.right() - 14.0;
    let time = summary
        .last_message
        .as_ref()
        .map(|m| offset.list_time(m.sent_at, now))
        .unwrap_or_default();
    let time = ui.painter().layout_no_wrap(time, FontId::proportional(12.0), sub);
    let time_pos = Pos2::new(right - time.size().x, rect.top() + 13.0);
    ui.painter().galley(time_pos, time.clone(), sub);

    let protection = crate::protection::Protection::of(&summary.room);
    let glyph_width = crate::protection::paint(
        ui,
        Pos2::new(left, rect.top() + 20.0),
        protection,
        14.0,
        sub,
        summary.room.id,
    );
    let title = elided(
        ui,
        name,
        FontId::proportional(15.0),
        fg,
        right - left - glyph_width - time.size().x - 8.0,
    );
    ui.painter()
        .galley(Pos2::new(left + glyph_width, rect.top() + 11.0), title, fg);

    let badge_w = if summary.unread > 0 && !selected {
        paint_badge(ui, Pos2::new(right, rect.top() + 43.0), summary.unread, palette) + 8.0
    } else {
        0.0
    };
    let preview = preview_text(summary, me);
    let preview = elided(
        ui,
        &preview,
        FontId::proportional(14.0),
        sub,
        right - left - badge_w,
    );
    ui.painter()
        .galley(Pos2::new(left, rect.top() + 34.0), preview, sub);
    if response.has_focus() {
        // The keyboard focus, visible (Tab reaches the rows).
        ui.painter().rect_stroke(
            rect.shrink2(vec2(6.0, 1.0)),
            10.0,
            egui::Stroke::new(
                2.0,
                if selected {
                    palette.on_accent
                } else {
                    palette.accent
                },
            ),
            egui::StrokeKind::Inside,
        );
    }
    response.clicked()
}

/// The preview line: the last message, with its sender in group chats.
pub fn preview_text(summary: &RoomSummary, me: UserId) -> String {
    let Some(message) = &summary.last_message else {
        return match summary.room.kind {
            RoomKind::Direct => "Say hello".to_owned(),
            RoomKind::Group => format!("Room #{}", summary.room.id),
        };
    };
    if message.mls().is_some() {
        // Ciphertext the window has not seen decrypted (the chat was not opened yet).
        return "\u{1f512} Encrypted message".to_owned();
    }
    let body: String = chat_client_lib::display::item_text(message)
        .chars()
        .take(200)
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    if message.text().is_none() {
        // A notice reads as a sentence of its own ("alice joined").
        body
    } else if message.sender.id == me {
        format!("You: {body}")
    } else if summary.room.kind == RoomKind::Group {
        format!("{}: {body}", message.sender.username)
    } else {
        body
    }
}

/// One line of text cut with an ellipsis to `width`, right-to-left parts in display order.
pub fn elided(ui: &Ui, text: &str, font: FontId, color: egui::Color32, width: f32) -> Arc<Galley> {
    let text = crate::bidi::display_line(text);
    let mut job = LayoutJob::simple_singleline(text.into_owned(), font, color);
    job.wrap = TextWrapping {
        max_width: width.max(10.0),
        max_rows: 1,
        break_anywhere: true,
        overflow_character: Some('…'),
    };
    ui.painter().layout_job(job)
}

#[cfg(test)]
mod tests {
    use chat_proto::{
        ClientMsgId, Content, Message, MessageId, Notice, Room, RoomId, UserInfo, Username, Visibility,
    };

    use super::*;

    #[test]
    fn a_notice_previews_as_its_sentence_without_a_sender() {
        let alice = UserInfo {
            id: UserId::new(1).unwrap(),
            username: Username::parse("alice").unwrap(),
        };
        let room = Room {
            id: RoomId::new(5).unwrap(),
            kind: RoomKind::Group,
            name: "club".into(),
            peer: None,
            visibility: Visibility::Private,
            topic: None,
            member_count: 2,
            created_at: 0,
            encrypted: false,
        };
        let summary = RoomSummary {
            room,
            last_message: Some(Message {
                id: MessageId::new(1).unwrap(),
                room_id: RoomId::new(5).unwrap(),
                seq: 3,
                sender: alice.clone(),
                client_msg_id: ClientMsgId::random(),
                sent_at: 0,
                device_id: None,
                content: Content::Notice {
                    notice: Notice::Joined { user: alice.clone() },
                },
            }),
            unread: 0,
            last_read_seq: 0,
            peer_online: None,
            role: chat_proto::Role::Member,
        };
        assert_eq!(preview_text(&summary, alice.id), "alice joined");
    }
}
