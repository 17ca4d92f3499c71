//! The open chat on the right: a header with the chat's name and state, the messages as
//! bubbles (own on the right, sender names in groups, times, day separators), older pages
//! loading when scrolled to the top, the typing line and the composer.

use chat_proto::{Message, RoomId, RoomKind, UserId};
use egui::{CentralPanel, Frame, Panel, RichText, ScrollArea, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Connection, Op};
use crate::bubble::{BubbleContent, Delivery, bubble, day_separator, service_note};
use crate::format::{LocalOffset, now_ms};
use crate::state::Conversation;
use crate::theme::{BUBBLE_MAX_SHARE, Palette};
use crate::widgets::{busy_button, spinner};
use crate::{composer, members};

/// Messages closer together than this (ms) from one sender form a group.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;
/// Scrolled this close to the top (points), the next older page loads.
const LOAD_OLDER_MARGIN: f32 = 60.0;

/// Draws the conversation area.
pub fn show(app: &mut App, ui: &mut Ui) {
    let palette = Palette::of(ui);
    CentralPanel::no_frame()
        .frame(Frame::new().fill(palette.chat_bg))
        .show(ui, |ui| {
            let Some(room) = app.chats.as_ref().and_then(|c| c.selected) else {
                ui.add_space(ui.available_height() / 2.0 - 16.0);
                service_note(ui, "Select a chat to start messaging");
                return;
            };
            header(app, ui, room, &palette);
            composer::show(app, ui, room);
            messages(app, ui, room);
        });
}

fn header(app: &mut App, ui: &mut Ui, room: RoomId, palette: &Palette) {
    let Some(chats) = &app.chats else { return };
    let Some(summary) = chats.summary(room) else {
        return;
    };
    let name = summary.room.name.clone();
    let kind = summary.room.kind;
    let subtitle = match kind {
        RoomKind::Direct => match summary.peer_online {
            Some(true) => "online".to_owned(),
            _ => "offline".to_owned(),
        },
        RoomKind::Group => {
            let conversation = chats.conversations.get(&room);
            let members = conversation.map_or(0, |c| c.members.len());
            let online = conversation.map_or(0, |c| c.members.iter().filter(|m| m.online).count());
            format!("room #{room} · {}", members::count_text(members, online))
        }
    };
    Panel::top("conversation_header")
        .frame(Frame::new().fill(palette.sidebar).inner_margin(vec2(16.0, 8.0)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new(&name).size(16.0).strong());
                    let color = if subtitle == "online" {
                        palette.accent
                    } else {
                        palette.muted
                    };
                    ui.label(RichText::new(subtitle).color(color).size(12.5));
                });
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let label = if app.show_members {
                        "Hide members"
                    } else {
                        "Members"
                    };
                    if ui.selectable_label(app.show_members, label).clicked() {
                        app.show_members = !app.show_members;
                    }
                    if kind == RoomKind::Group {
                        let busy = app.is_pending(Op::LeaveRoom(room));
                        let leave = egui::Button::new("Leave").frame(false);
                        if busy_button(ui, busy, true, leave, vec2(60.0, 24.0), "Leaving…") {
                            app.request(Command::LeaveRoom(room));
                        }
                    }
                });
            });
        });
}

fn messages(app: &mut App, ui: &mut Ui, room: RoomId) {
    let Some(chats) = &app.chats else { return };
    let me = chats.me.id;
    let direct = chats
        .summary(room)
        .is_some_and(|s| s.room.kind == RoomKind::Direct);
    let empty = Conversation::default();
    let conversation = chats.conversations.get(&room).unwrap_or(&empty);
    let loading_older = app.is_pending(Op::LoadOlder(room));
    let opening = app.is_pending(Op::OpenRoom(room));
    let offset = app.offset();

    let scroll_id = egui::Id::unique(("messages", room));
    let anchor = keep_position_before(ui, scroll_id, conversation);
    let mut area = ScrollArea::vertical().id_salt(scroll_id);
    if let Some(y) = ui.data_mut(|d| d.remove_temp::<f32>(scroll_id.with("restore"))) {
        area = area.vertical_scroll_offset(y);
    }
    let output = area
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // Few messages sit at the bottom, next to the composer, as in every chat app.
            let filler_id = scroll_id.with("content_height");
            let last_height: f32 = ui.data(|d| d.get_temp(filler_id)).unwrap_or(0.0);
            ui.add_space((ui.available_height() - last_height).max(0.0));
            let top = ui.cursor().top();
            ui.add_space(8.0);
            if loading_older || (opening && conversation.messages.is_empty()) {
                ui.vertical_centered(|ui| spinner(ui, vec2(28.0, 28.0), "Loading messages…"));
            } else if !conversation.has_more && conversation.loaded {
                service_note(ui, "This is the beginning of the chat");
            }
            message_list(ui, conversation, me, direct, offset);
            ui.add_space(8.0);
            let height = ui.cursor().top() - top;
            if (height - last_height).abs() > 0.5 {
                ui.data_mut(|d| d.insert_temp(filler_id, height));
                ui.ctx().request_repaint();
            }
        });
    keep_position_after(ui, scroll_id, conversation, &output, anchor);

    let near_top = output.state.clamped_offset().y <= LOAD_OLDER_MARGIN;
    let online = app.connection == Connection::Online;
    let older = conversation
        .oldest_seq()
        .filter(|_| near_top && conversation.has_more && conversation.loaded && !loading_older && online);
    let newest = conversation.newest_seq();
    if let Some(oldest) = older {
        app.request(Command::LoadOlder(room, oldest));
    }
    if let Some(newest) = newest {
        mark_read(app, room, newest);
    }
}

/// What the previous frame saw: the oldest message and the content's height.
#[derive(Clone, Copy)]
struct Anchor {
    oldest: Option<u64>,
    height: f32,
}

/// The previous frame's anchor, if an older page was prepended since.
fn keep_position_before(ui: &Ui, id: egui::Id, conversation: &Conversation) -> Option<Anchor> {
    let previous: Option<Anchor> = ui.data(|d| d.get_temp(id));
    previous.filter(|p| p.oldest.is_some() && conversation.oldest_seq() < p.oldest)
}

/// When an older page was prepended, moves the scroll offset down by the height it added
/// so that the messages the user was reading stay in place, and redraws before showing.
fn keep_position_after(
    ui: &Ui,
    id: egui::Id,
    conversation: &Conversation,
    output: &egui::scroll_area::ScrollAreaOutput<()>,
    prepended: Option<Anchor>,
) {
    let height = output.content_size.y;
    if let Some(before) = prepended {
        let y = output.state.clamped_offset().y + height - before.height;
        ui.data_mut(|d| d.insert_temp(id.with("restore"), y));
        ui.ctx()
            .request_discard("keep the scroll position after loading older messages");
    }
    let anchor = Anchor {
        oldest: conversation.oldest_seq(),
        height,
    };
    ui.data_mut(|d| d.insert_temp(id, anchor));
}

fn message_list(ui: &mut Ui, conversation: &Conversation, me: UserId, direct: bool, offset: LocalOffset) {
    let now = now_ms();
    let width = ui.available_width();
    let max_width = (width * BUBBLE_MAX_SHARE).clamp(200.0, 560.0);
    let palette = Palette::of(ui);
    let dark = ui.visuals().dark_mode;
    let mut previous: Option<&Message> = None;
    for message in conversation.messages.values() {
        let new_day = previous.is_none_or(|p| offset.day(p.sent_at) != offset.day(message.sent_at));
        if new_day {
            day_separator(ui, &offset.day_label(message.sent_at, now));
        }
        let Some(text) = message.text() else {
            // A notice of a change to the room: a centred line, as chat apps show them.
            service_note(ui, &chat_client_lib::display::item_text(message));
            previous = None;
            continue;
        };
        let own = message.sender.id == me;
        let first_in_group = new_day
            || previous.is_none_or(|p| {
                p.sender.id != message.sender.id || message.sent_at - p.sent_at > GROUP_GAP_MS
            });
        if first_in_group && previous.is_some() {
            ui.add_space(4.0);
        }
        let name = message.sender.username.as_str();
        let content = BubbleContent {
            body: text.as_str(),
            sender: (first_in_group && !own && !direct).then(|| (name, palette.name_color(name, dark))),
            time: &offset.clock(message.sent_at),
            own,
            first_in_group,
            delivery: own.then_some(Delivery::Sent),
        };
        let response = bubble(ui, &content, width, max_width);
        response.context_menu(|ui| {
            if ui.button("Copy text").clicked() {
                ui.ctx().copy_text(text.as_str().to_owned());
            }
        });
        previous = Some(message);
    }
    for pending in &conversation.pending {
        let content = BubbleContent {
            body: pending.body.as_str(),
            sender: None,
            time: &offset.clock(pending.written_at),
            own: true,
            first_in_group: previous.is_none_or(|p| p.sender.id != me),
            delivery: Some(Delivery::Sending),
        };
        bubble(ui, &content, width, max_width);
    }
}

/// Moves the read marker to the newest message of the open chat, once per new message.
fn mark_read(app: &mut App, room: RoomId, newest: u64) {
    let already = app.read_sent.get(&room).copied().unwrap_or(0);
    let read = app
        .chats
        .as_ref()
        .and_then(|c| c.summary(room))
        .map_or(0, |s| s.last_read_seq);
    if newest > already.max(read) && app.connection == Connection::Online {
        app.read_sent.insert(room, newest);
        if let Some(chats) = &mut app.chats {
            chats.mark_read(room, newest);
        }
        app.request(Command::MarkRead(room, newest));
    }
}
