//! The open chat on the right: a header with the chat's name and state, the messages as
//! bubbles (own on the right, sender names in groups, times, day separators), older pages
//! loading when scrolled to the top, the typing line and the composer.
//!
//! A chat with unread messages opens at the first of them, under an "Unread messages"
//! divider, and messages count as read as they come into view. Scrolled up, a button jumps
//! back to the newest message; sending jumps there too.

use chat_proto::{Message, RoomId, RoomKind, Seq, UserId};
use egui::{
    Align, CentralPanel, Frame, Panel, Pos2, Rect, RichText, ScrollArea, Sense, Ui, WidgetInfo,
    accesskit::Role, vec2,
};

use crate::app::App;
use crate::backend::{Command, Connection, Op};
use crate::bubble::{BubbleContent, Delivery, bubble, day_separator, placeholder, service_note};
use crate::chat_list::elided;
use crate::format::{LocalOffset, now_ms};
use crate::state::Conversation;
use crate::theme::{BUBBLE_MAX_SHARE, Palette};
use crate::widgets::spinner;
use crate::{composer, members};

/// Messages closer together than this (ms) from one sender form a group.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;
/// Scrolled this close to the top (points), the next older page loads.
const LOAD_OLDER_MARGIN: f32 = 60.0;
/// Scrolled further than this from the bottom (points), the jump button shows.
const JUMP_BUTTON_AFTER: f32 = 160.0;
/// The divider above the first unread message.
pub const UNREAD_DIVIDER: &str = "Unread messages";

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
            let peer = app
                .chats
                .as_ref()
                .and_then(|c| c.summary(room))
                .and_then(|s| s.room.peer.clone());
            if let Some(peer) = peer {
                crate::safety::warning_band(app, ui, &peer);
            }
            if app.search.is_some() {
                search_bar(app, ui, &palette);
            }
            composer::show(app, ui, room);
            messages(app, ui, room);
        });
}

/// A header button: a glyph with an accessible name, a fixed size so that the title
/// (elided to what is left) never runs under it.
fn icon_button(ui: &mut Ui, glyph: &str, label: &str, selected: bool) -> bool {
    let response = ui.add_sized(
        vec2(34.0, 30.0),
        egui::Button::selectable(selected, RichText::new(glyph).size(16.0)),
    );
    response.widget_info(|| WidgetInfo::selected(Role::Button, true, selected, label));
    response.on_hover_text(label).clicked()
}

fn header(app: &mut App, ui: &mut Ui, room: RoomId, palette: &Palette) {
    let Some(chats) = &app.chats else { return };
    let Some(summary) = chats.summary(room) else {
        return;
    };
    let name = summary.room.name.clone();
    let kind = summary.room.kind;
    let protection = crate::protection::Protection::of(&summary.room);
    let peer = summary.room.peer.clone();
    let checked = peer
        .as_ref()
        .is_some_and(|p| crate::safety::shows_check(app, p.id));
    let subtitle = match kind {
        RoomKind::Direct => match summary.peer_online {
            Some(true) => "online".to_owned(),
            _ => "offline".to_owned(),
        },
        RoomKind::Group => {
            let conversation = chats.conversations.get(&room);
            let members = conversation.map_or(0, |c| c.members.len());
            let online = conversation.map_or(0, |c| c.members.iter().filter(|m| m.online).count());
            members::count_text(members, online)
        }
    };
    let one_column = app.layout.one_column;
    Panel::top("conversation_header")
        .frame(Frame::new().fill(palette.sidebar).inner_margin(vec2(12.0, 8.0)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                if one_column && icon_button(ui, "⬅", "Back to chats", false) {
                    app.close_room();
                    return;
                }
                // The buttons take their room first, from the right; the title gets the rest.
                let count = if peer.is_some() { 3.0 } else { 2.0 };
                let buttons = count * (34.0 + ui.spacing().item_spacing.x);
                let title_width = (ui.available_width() - buttons).max(40.0);
                let (rect, _) = ui.allocate_exact_size(vec2(title_width, 38.0), Sense::hover());
                let title = elided(
                    ui,
                    &name,
                    egui::FontId::proportional(16.0),
                    palette.text,
                    title_width - 20.0,
                );
                let glyph = crate::protection::paint(
                    ui,
                    rect.left_top() + vec2(0.0, 10.0),
                    protection,
                    16.0,
                    palette.muted,
                    "header",
                );
                let title_pos = rect.left_top() + vec2(glyph, 0.0);
                let title_rect = Rect::from_min_size(title_pos, title.size());
                ui.painter().galley(title_pos, title, palette.text);
                if checked {
                    // The contact's check mark: their safety number was compared.
                    let at = title_rect.right_center() + vec2(6.0, 0.0);
                    let mark = ui.painter().layout_no_wrap(
                        "\u{2714}".to_owned(),
                        egui::FontId::proportional(14.0),
                        palette.accent_text,
                    );
                    let mark_rect = Rect::from_min_size(at - vec2(0.0, mark.size().y / 2.0), mark.size());
                    ui.painter().galley(mark_rect.min, mark, palette.accent_text);
                    let response = ui.interact(mark_rect, ui.scope_id().with("verified"), Sense::hover());
                    response.widget_info(|| WidgetInfo::labeled(Role::Image, true, "Verified"));
                }
                let color = if subtitle == "online" {
                    palette.accent_text
                } else {
                    palette.muted
                };
                let sub = elided(
                    ui,
                    &subtitle,
                    egui::FontId::proportional(12.5),
                    color,
                    title_width - 20.0,
                );
                let sub_rect = Rect::from_min_size(title_pos + vec2(0.0, 21.0), sub.size());
                ui.painter().galley(sub_rect.min, sub, color);
                // Painted by hand to be cut with an ellipsis; named for screen readers.
                for (rect, text, salt) in [(title_rect, &name, "title"), (sub_rect, &subtitle, "subtitle")] {
                    let response = ui.interact(rect, ui.scope_id().with(salt), Sense::hover());
                    response.widget_info(|| WidgetInfo::labeled(Role::Label, true, text.as_str()));
                }
                ui.with_layout(egui::Layout::right_to_left(Align::Center), |ui| {
                    if icon_button(ui, "ℹ", "Room info", app.show_info) {
                        app.show_info = !app.show_info;
                    }
                    if let Some(peer) = &peer
                        && icon_button(ui, "🛡", "Safety number", false)
                    {
                        crate::safety::open(app, peer.clone());
                    }
                    if icon_button(ui, "🔍", "Search messages", app.search.is_some()) {
                        app.search = match app.search {
                            Some(_) => None,
                            None => Some(String::new()),
                        };
                    }
                });
            });
        });
}

/// The search field (Ctrl+F): the chat shows only the loaded messages that contain it.
fn search_bar(app: &mut App, ui: &mut Ui, palette: &Palette) {
    let Some(query) = &mut app.search else { return };
    let mut close = false;
    Panel::top("conversation_search")
        .frame(Frame::new().fill(palette.sidebar).inner_margin(vec2(12.0, 6.0)))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                let field = ui.add(
                    egui::TextEdit::singleline(query)
                        .hint_text("Search in this chat")
                        .desired_width(ui.available_width() - 50.0),
                );
                field.widget_info(|| WidgetInfo::labeled(Role::TextInput, true, "Search messages"));
                if !field.has_focus() && query.is_empty() {
                    field.request_focus();
                }
                close = icon_button(ui, "×", "Close search", false);
            });
        });
    if close {
        app.search = None;
    }
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
    let search = app
        .search
        .as_ref()
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    let view = View {
        me,
        direct,
        offset,
        unread_from: app.unread_from.get(&room).copied(),
        scroll_to_unread: app.scroll_to_unread.contains_key(&room) && conversation.loaded,
        search: search.as_deref(),
    };

    let scroll_id = egui::Id::unique(("messages", room));
    let anchor = keep_position_before(ui, scroll_id, conversation);
    let mut area = ScrollArea::vertical().id_salt(scroll_id);
    if let Some(y) = ui.data_mut(|d| d.remove_temp::<f32>(scroll_id.with("restore"))) {
        area = area.vertical_scroll_offset(y);
    }
    let jump = app.scroll_to_bottom.contains(&room);
    let mut seen = SeenState::default();
    // Held at the first unread message, the view must not be pulled to the bottom.
    let output = area
        .stick_to_bottom(!view.scroll_to_unread)
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
            } else if !conversation.has_more && conversation.loaded && view.search.is_none() {
                service_note(ui, "This is the beginning of the chat");
            }
            seen = message_list(ui, conversation, &view);
            ui.add_space(8.0);
            if jump {
                ui.scroll_to_cursor(Some(Align::BOTTOM));
            }
            let height = ui.cursor().top() - top;
            if (height - last_height).abs() > 0.5 {
                ui.data_mut(|d| d.insert_temp(filler_id, height));
                ui.ctx().request_repaint();
            }
        });
    keep_position_after(ui, scroll_id, conversation, &output, anchor);
    if seen.scrolled_to_unread
        && let Some(frames) = app.scroll_to_unread.get_mut(&room)
    {
        *frames = frames.saturating_sub(1);
        if *frames == 0 {
            app.scroll_to_unread.remove(&room);
        }
        ui.ctx().request_repaint();
    }
    if jump && !opening {
        app.scroll_to_bottom.remove(&room);
    }

    let from_bottom = output.content_size.y - output.inner_rect.height() - output.state.clamped_offset().y;
    if from_bottom > JUMP_BUTTON_AFTER && view.search.is_none() && jump_button(app, ui, room, &output) {
        app.scroll_to_bottom.insert(room);
        ui.ctx().request_repaint();
    }

    let near_top = output.state.clamped_offset().y <= LOAD_OLDER_MARGIN;
    let online = app.connection == Connection::Online;
    let Some(conversation) = app.chats.as_ref().and_then(|c| c.conversations.get(&room)) else {
        return;
    };
    let older = conversation
        .oldest_seq()
        .filter(|_| near_top && conversation.has_more && conversation.loaded && !loading_older && online);
    if let Some(oldest) = older {
        app.request(Command::LoadOlder(room, oldest));
    }
    // Read as far as the newest message shown, while the window is in front (and, while
    // opening at the first unread one, not before the view has got there).
    let in_front = ui.input(|i| i.focused);
    if let Some(newest_seen) = seen
        .newest
        .filter(|_| in_front && !app.scroll_to_unread.contains_key(&room))
    {
        mark_read(app, room, newest_seen);
    }
}

/// The round "↓" button over the bottom right of the messages, with the unread count.
fn jump_button(
    app: &App,
    ui: &mut Ui,
    room: RoomId,
    output: &egui::scroll_area::ScrollAreaOutput<()>,
) -> bool {
    let palette = Palette::of(ui);
    let unread = app
        .chats
        .as_ref()
        .and_then(|c| c.summary(room))
        .map_or(0, |s| s.unread);
    let size = 40.0;
    let center = output.inner_rect.right_bottom() - vec2(size / 2.0 + 16.0, size / 2.0 + 12.0);
    let rect = Rect::from_center_size(center, vec2(size, size));
    let response = ui.interact(rect, ui.scope_id().with(("jump", room)), Sense::click());
    response.widget_info(|| WidgetInfo::labeled(Role::Button, true, "Jump to the newest message"));
    let painter = ui.painter();
    painter.circle_filled(
        center + vec2(0.0, 1.0),
        size / 2.0,
        egui::Color32::from_black_alpha(40),
    );
    painter.circle_filled(center, size / 2.0, palette.sidebar);
    let arrow = [
        center + vec2(-7.0, -3.0),
        center + vec2(0.0, 4.0),
        center + vec2(7.0, -3.0),
    ];
    painter.add(egui::Shape::line(
        arrow.to_vec(),
        egui::Stroke::new(2.0, palette.muted),
    ));
    if unread > 0 {
        crate::widgets::paint_badge(ui, Pos2::new(rect.right() + 4.0, rect.top()), unread, &palette);
    }
    response.clicked()
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

/// How the list is drawn.
struct View<'a> {
    me: UserId,
    direct: bool,
    offset: LocalOffset,
    /// The first unread message when the chat was opened: the divider goes above it.
    unread_from: Option<Seq>,
    /// Scroll the divider into view this frame.
    scroll_to_unread: bool,
    /// Show only messages containing this (lowercase).
    search: Option<&'a str>,
}

/// What the list saw while drawing.
#[derive(Default)]
struct SeenState {
    /// The newest message at least partly in view.
    newest: Option<Seq>,
    /// The unread divider was scrolled to.
    scrolled_to_unread: bool,
}

fn message_list(ui: &mut Ui, conversation: &Conversation, view: &View<'_>) -> SeenState {
    let now = now_ms();
    let width = ui.available_width();
    let max_width = (width * BUBBLE_MAX_SHARE).clamp(200.0, 560.0);
    let palette = Palette::of(ui);
    let dark = ui.visuals().dark_mode;
    let visible = ui.clip_rect();
    let mut seen = SeenState::default();
    let mut previous: Option<&Message> = None;
    // The day of the item drawn last: notices count, so a day's label shows once.
    let mut last_day = None;
    let mut divider_drawn = false;
    let mut matches = 0;
    // Messages and the placeholders of unreadable items, in the room's order.
    let mut items: Vec<(Seq, Option<&Message>)> = conversation
        .messages
        .iter()
        .map(|(seq, m)| (*seq, Some(m)))
        .chain(conversation.unreadable.keys().map(|seq| (*seq, None)))
        .collect();
    items.sort_by_key(|(seq, _)| *seq);
    for (seq, message) in items {
        let Some(message) = message else {
            if view.search.is_some() {
                continue;
            }
            let Some(item) = conversation.unreadable.get(&seq) else {
                continue;
            };
            let day = view.offset.day(item.sent_at);
            if last_day != Some(day) {
                day_separator(ui, &view.offset.day_label(item.sent_at, now));
                last_day = Some(day);
            }
            let own = item.sender.id == view.me;
            let name = item.sender.username.as_str();
            let response = placeholder(
                ui,
                &unreadable_text(item.reason),
                (!own && !view.direct).then_some(name),
                &view.offset.clock(item.sent_at),
                own,
                width,
                max_width,
            );
            if visible.intersects(response.rect) {
                seen.newest = Some(seq);
            }
            previous = None;
            continue;
        };
        if let Some(query) = view.search {
            let text = chat_client_lib::display::item_text(message).to_lowercase();
            if !text.contains(query) {
                continue;
            }
            matches += 1;
        }
        let day = view.offset.day(message.sent_at);
        let new_day = last_day != Some(day);
        if new_day {
            day_separator(ui, &view.offset.day_label(message.sent_at, now));
            last_day = Some(day);
        }
        let unread_start = !divider_drawn
            && view
                .unread_from
                .is_some_and(|from| message.seq >= from && message.sender.id != view.me);
        if unread_start {
            divider_drawn = true;
            let divider = unread_divider(ui);
            if view.scroll_to_unread {
                divider.scroll_to_me(Some(Align::TOP));
                seen.scrolled_to_unread = true;
            }
        }
        let Some(text) = message.text() else {
            // A notice of a change to the room: a centred line, as chat apps show them.
            let response = service_note(ui, &chat_client_lib::display::item_text(message));
            if visible.intersects(response.rect) {
                seen.newest = Some(message.seq);
            }
            previous = None;
            continue;
        };
        let own = message.sender.id == view.me;
        let first_in_group = new_day
            || unread_start
            || previous.is_none_or(|p| {
                p.sender.id != message.sender.id || message.sent_at - p.sent_at > GROUP_GAP_MS
            });
        if first_in_group && previous.is_some() {
            ui.add_space(4.0);
        }
        let name = message.sender.username.as_str();
        let content = BubbleContent {
            body: text.as_str(),
            sender: (first_in_group && !own && !view.direct).then(|| (name, palette.name_color(name, dark))),
            time: &view.offset.clock(message.sent_at),
            own,
            first_in_group,
            delivery: own.then_some(Delivery::Sent),
        };
        let response = bubble(ui, &content, width, max_width);
        if visible.intersects(response.rect) {
            seen.newest = Some(message.seq);
        }
        response.context_menu(|ui| {
            if ui.button("Copy text").clicked() {
                ui.ctx().copy_text(text.as_str().to_owned());
            }
        });
        previous = Some(message);
    }
    if view.search.is_some() {
        if matches == 0 {
            service_note(ui, "No messages found");
        }
        return seen;
    }
    for pending in &conversation.pending {
        let content = BubbleContent {
            body: pending.body.as_str(),
            sender: None,
            time: &view.offset.clock(pending.written_at),
            own: true,
            first_in_group: previous.is_none_or(|p| p.sender.id != view.me),
            delivery: Some(Delivery::Sending),
        };
        bubble(ui, &content, width, max_width);
    }
    seen
}

/// The sentence of a placeholder: that the message cannot be read, and why.
pub fn unreadable_text(reason: chat_client_lib::e2ee::UndecryptableReason) -> String {
    format!("\u{1f512} This message cannot be read: {}", reason.describe())
}

/// A full-width band saying where the unread messages start.
fn unread_divider(ui: &mut Ui) -> egui::Response {
    let palette = Palette::of(ui);
    let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), 30.0), Sense::hover());
    response.widget_info(|| WidgetInfo::labeled(Role::Label, true, UNREAD_DIVIDER));
    let band = rect.shrink2(vec2(0.0, 4.0));
    ui.painter().rect_filled(band, 0.0, palette.service_bg);
    ui.painter().text(
        band.center(),
        egui::Align2::CENTER_CENTER,
        UNREAD_DIVIDER,
        egui::FontId::proportional(13.0),
        palette.service_text,
    );
    response
}

/// Moves the read marker to the newest message seen in the open chat, once per message.
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
