//! The room info panel: the room's name, topic and visibility, its members with their roles
//! and online state, and what the user's role allows: renaming and setting the topic,
//! inviting, and, per member, removing, banning, promoting, demoting and handing ownership
//! over (each asked about first), the bans with unban, and leaving. Docked at the right of a
//! wide window, laid over the conversation in a narrow one.

use chat_proto::{Member, Role, RoomId, RoomKind, RoomSummary, UserId, Visibility};
use egui::{
    Align2, Area, Frame, Id, Order, Panel, Pos2, RichText, ScrollArea, Sense, Ui, WidgetInfo,
    accesskit::Role as A11y, vec2,
};

use crate::app::App;
use crate::backend::{Command, Moderation, Op};
use crate::chat_list::elided;
use crate::confirm::Confirm;
use crate::dialogs::Dialog;
use crate::invite::InviteDialog;
use crate::members::count_text;
use crate::theme::{INFO_WIDTH, Palette};
use crate::widgets::{busy_button, paint_avatar, spinner};

/// What `me` (with role `mine`) may do to a member with role `theirs`: owner and admins act
/// on lower roles; only the owner changes roles and hands ownership over.
pub fn allowed(mine: Role, theirs: Role, is_me: bool) -> Vec<Moderation> {
    let rank = |role: Role| match role {
        Role::Member => 0,
        Role::Admin => 1,
        Role::Owner => 2,
    };
    if is_me || rank(mine) <= rank(theirs) || mine == Role::Member {
        return Vec::new();
    }
    let mut actions = Vec::new();
    if mine == Role::Owner {
        actions.push(match theirs {
            Role::Admin => Moderation::MakeMember,
            _ => Moderation::MakeAdmin,
        });
        actions.push(Moderation::TransferOwnership);
    }
    actions.push(Moderation::Remove);
    actions.push(Moderation::Ban);
    actions
}

/// The words of an action in a member's menu.
pub fn action_label(action: Moderation) -> &'static str {
    match action {
        Moderation::Remove => "Remove from room",
        Moderation::Ban => "Ban",
        Moderation::Unban => "Unban",
        Moderation::MakeAdmin => "Make admin",
        Moderation::MakeMember => "Remove admin rights",
        Moderation::TransferOwnership => "Make owner",
    }
}

fn role_text(role: Role) -> Option<&'static str> {
    match role {
        Role::Owner => Some("owner"),
        Role::Admin => Some("admin"),
        Role::Member => None,
    }
}

/// The panel's edit fields, kept between frames.
#[derive(Clone, Debug, Default)]
struct Edit {
    room: Option<RoomId>,
    name: String,
    topic: String,
}

/// Draws the panel for the selected chat, docked or laid over the conversation.
pub fn show(app: &mut App, ui: &mut Ui, overlay: bool) {
    let Some(chats) = &app.chats else { return };
    let Some(room) = chats.selected else { return };
    let Some(summary) = chats.summary(room).cloned() else {
        return;
    };
    let palette = Palette::of(ui);
    if overlay {
        let screen = ui.ctx().content_rect();
        let width = INFO_WIDTH.min(screen.width());
        Area::new(Id::unique("room_info_overlay"))
            .order(Order::Foreground)
            .anchor(Align2::RIGHT_TOP, vec2(0.0, 0.0))
            .show(ui.ctx(), |ui| {
                Frame::new()
                    .fill(palette.sidebar)
                    .inner_margin(vec2(12.0, 12.0))
                    .shadow(egui::Shadow {
                        offset: [-2, 0],
                        blur: 16,
                        spread: 0,
                        color: egui::Color32::from_black_alpha(60),
                    })
                    .show(ui, |ui| {
                        ui.set_width(width - 24.0);
                        ui.set_height(screen.height() - 24.0);
                        contents(app, ui, &summary, &palette);
                    });
            });
    } else {
        Panel::right("room_info")
            .exact_size(INFO_WIDTH)
            .resizable(false)
            .frame(Frame::new().fill(palette.sidebar).inner_margin(vec2(12.0, 12.0)))
            .show(ui, |ui| contents(app, ui, &summary, &palette));
    }
}

fn contents(app: &mut App, ui: &mut Ui, summary: &RoomSummary, palette: &Palette) {
    let room = summary.room.id;
    ui.horizontal(|ui| {
        ui.label(RichText::new("Room info").size(16.0).strong());
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let close = ui.add(egui::Button::new("×").frame(false));
            close.widget_info(|| WidgetInfo::labeled(A11y::Button, true, "Close room info"));
            if close.clicked() {
                app.show_info = false;
            }
        });
    });
    ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        about(app, ui, summary, palette);
        ui.separator();
        members(app, ui, summary, palette);
        if summary.room.kind == RoomKind::Group && summary.role != Role::Member {
            ui.separator();
            bans(app, ui, room, palette);
        }
        if summary.room.kind == RoomKind::Group {
            ui.separator();
            let busy = app.is_pending(Op::LeaveRoom(room));
            let leave = egui::Button::new(RichText::new("Leave room").color(palette.danger));
            if busy_button(ui, busy, true, leave, vec2(110.0, 28.0), "Leaving…") {
                app.dialog = Some(Dialog::Confirm(Confirm::leave(room, &summary.room.name)));
            }
        }
    });
}

/// Name, topic, visibility; editable by owner and admins.
fn about(app: &mut App, ui: &mut Ui, summary: &RoomSummary, palette: &Palette) {
    let room = &summary.room;
    ui.label(RichText::new(&room.name).size(18.0).strong());
    if let Some(topic) = &room.topic {
        ui.label(RichText::new(topic.as_str()).color(palette.text));
    }
    let kind = match (room.kind, room.visibility) {
        (RoomKind::Direct, _) => "Direct chat".to_owned(),
        (_, Visibility::Public) => "Public room: listed in the directory, anyone can join".to_owned(),
        _ => "Private room: only invited people can join".to_owned(),
    };
    ui.label(RichText::new(kind).color(palette.muted).size(12.5));
    if room.kind == RoomKind::Direct {
        return;
    }
    if room.visibility == Visibility::Public {
        ui.label(
            RichText::new(format!("Room id: {}", room.id))
                .color(palette.muted)
                .size(12.5),
        );
    }
    if summary.role == Role::Member {
        return;
    }
    let edit_id = Id::unique(("room_edit", room.id));
    let mut edit: Edit = ui.data(|d| d.get_temp(edit_id)).unwrap_or_default();
    if edit.room != Some(room.id) {
        edit = Edit {
            room: Some(room.id),
            name: room.name.clone(),
            topic: room
                .topic
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
        };
    }
    ui.add_space(6.0);
    let name_label = ui.label(RichText::new("Name").color(palette.muted).size(12.5));
    ui.add(egui::TextEdit::singleline(&mut edit.name).desired_width(f32::INFINITY))
        .labelled_by(name_label.id);
    let topic_label = ui.label(RichText::new("Topic").color(palette.muted).size(12.5));
    ui.add(
        egui::TextEdit::multiline(&mut edit.topic)
            .desired_rows(2)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(topic_label.id);
    let old_topic = room.topic.as_ref().map_or("", |t| t.as_str());
    let name_changed = edit.name.trim() != room.name;
    let topic_changed = edit.topic.trim() != old_topic;
    let busy = app.is_pending(Op::UpdateRoom(room.id));
    let save = egui::Button::new("Save");
    if busy_button(
        ui,
        busy,
        name_changed || topic_changed,
        save,
        vec2(80.0, 28.0),
        "Saving…",
    ) {
        app.request(Command::UpdateRoom {
            room: room.id,
            name: name_changed.then(|| edit.name.trim().to_owned()),
            topic: topic_changed.then(|| edit.topic.trim().to_owned()),
        });
    }
    ui.data_mut(|d| d.insert_temp(edit_id, edit));
    ui.add_space(4.0);
    if ui.button("Invite people").clicked() {
        app.dialog = Some(Dialog::Invite(InviteDialog::new(room.id, &room.name)));
    }
}

fn members(app: &mut App, ui: &mut Ui, summary: &RoomSummary, palette: &Palette) {
    let room = summary.room.id;
    let Some(chats) = &app.chats else { return };
    let me = chats.me.id;
    let mut members: Vec<Member> = chats
        .conversations
        .get(&room)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    // Online first, then by name, as chat apps list them.
    members.sort_by_key(|m| (!m.online, m.user.username.canonical()));
    let online = members.iter().filter(|m| m.online).count();
    ui.label(RichText::new("Members").strong());
    ui.label(
        RichText::new(count_text(members.len(), online))
            .color(palette.muted)
            .size(12.5),
    );
    let mine = summary.role;
    let mut chosen = None;
    for member in &members {
        let actions = if summary.room.kind == RoomKind::Group {
            allowed(mine, member.role, member.user.id == me)
        } else {
            Vec::new()
        };
        if let Some(action) = member_row(app, ui, room, member, &actions, palette) {
            chosen = Some((member.user.clone(), action));
        }
    }
    if let Some((user, action)) = chosen {
        app.dialog = Some(Dialog::Confirm(Confirm::moderate(
            room,
            &summary.room.name,
            user,
            action,
        )));
    }
}

/// One member; returns an action picked from their menu.
fn member_row(
    app: &App,
    ui: &mut Ui,
    room: RoomId,
    member: &Member,
    actions: &[Moderation],
    palette: &Palette,
) -> Option<Moderation> {
    let name = member.user.username.as_str();
    let state = if member.online { "online" } else { "offline" };
    let role = role_text(member.role);
    let mut chosen = None;
    let (row, response) = ui.allocate_exact_size(vec2(ui.available_width(), 44.0), Sense::hover());
    let description = match role {
        Some(role) => format!("{name}, {role}, {state}"),
        None => format!("{name}, {state}"),
    };
    response.widget_info(|| WidgetInfo::labeled(A11y::ListItem, true, &description));
    paint_avatar(
        ui,
        Pos2::new(row.left() + 18.0, row.center().y),
        34.0,
        name,
        Some(member.online),
    );
    let x = row.left() + 44.0;
    let text_width = row.right() - x - 44.0;
    let title = elided(
        ui,
        name,
        egui::FontId::proportional(14.0),
        palette.text,
        text_width,
    );
    ui.painter()
        .galley(Pos2::new(x, row.top() + 5.0), title, palette.text);
    let color = if member.online {
        palette.accent_text
    } else {
        palette.muted
    };
    let line = match role {
        Some(role) => format!("{role} · {state}"),
        None => state.to_owned(),
    };
    let line = elided(ui, &line, egui::FontId::proportional(12.0), color, text_width);
    ui.painter().galley(Pos2::new(x, row.top() + 24.0), line, color);
    // The member's menu sits at the row's right end.
    let button =
        egui::Rect::from_center_size(Pos2::new(row.right() - 18.0, row.center().y), vec2(36.0, 30.0));
    // A child that takes no room in the list: the row already holds its place.
    let ui = &mut ui.new_child(egui::UiBuilder::new().max_rect(button));
    {
        if app.is_pending(Op::Moderate(room, member.user.id)) {
            spinner(ui, vec2(28.0, 28.0), "Working…");
        } else if !actions.is_empty() {
            let menu = ui.menu_button("…", |ui| {
                ui.set_min_width(170.0);
                for action in actions {
                    if ui.button(action_label(*action)).clicked() {
                        chosen = Some(*action);
                        ui.close();
                    }
                }
            });
            let label = format!("Actions for {name}");
            menu.response
                .widget_info(|| WidgetInfo::labeled(A11y::Button, true, &label));
        }
    }
    chosen
}

/// The bans, loaded when first shown, each with Unban.
fn bans(app: &mut App, ui: &mut Ui, room: RoomId, palette: &Palette) {
    ui.label(RichText::new("Banned").strong());
    let Some(bans) = app.bans.get(&room).cloned() else {
        if !app.is_pending(Op::Bans(room)) {
            app.request(Command::ListBans(room));
        }
        spinner(ui, vec2(24.0, 24.0), "Loading bans…");
        return;
    };
    if bans.is_empty() {
        ui.label(RichText::new("Nobody is banned").color(palette.muted).size(12.5));
    }
    for ban in bans {
        ui.horizontal(|ui| {
            ui.label(ban.user.username.as_str());
            let user: UserId = ban.user.id;
            let busy = app.is_pending(Op::Moderate(room, user));
            let label = format!("Unban {}", ban.user.username);
            if busy {
                spinner(ui, vec2(24.0, 24.0), "Unbanning…");
            } else {
                let response = ui.button("Unban");
                response.widget_info(|| WidgetInfo::labeled(A11y::Button, true, &label));
                if response.clicked() {
                    app.request(Command::Moderate {
                        room,
                        user: ban.user.clone(),
                        action: Moderation::Unban,
                    });
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_sees_only_what_it_may_do() {
        use Moderation::*;
        assert!(allowed(Role::Member, Role::Member, false).is_empty());
        assert_eq!(allowed(Role::Admin, Role::Member, false), [Remove, Ban]);
        assert!(allowed(Role::Admin, Role::Admin, false).is_empty());
        assert!(allowed(Role::Admin, Role::Owner, false).is_empty());
        assert_eq!(
            allowed(Role::Owner, Role::Member, false),
            [MakeAdmin, TransferOwnership, Remove, Ban]
        );
        assert_eq!(
            allowed(Role::Owner, Role::Admin, false),
            [MakeMember, TransferOwnership, Remove, Ban]
        );
        assert!(allowed(Role::Owner, Role::Owner, true).is_empty());
    }
}
