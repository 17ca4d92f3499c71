//! The members panel on the right of a chat: who is in it, online first, each with a green
//! dot when online; and the room's id, which others need to join it.

use egui::{Frame, Panel, Pos2, RichText, ScrollArea, Sense, Ui, WidgetInfo, accesskit::Role, vec2};

use crate::app::App;
use crate::theme::{MEMBERS_WIDTH, Palette};
use crate::widgets::paint_avatar;

/// "3 members, 1 online".
pub fn count_text(members: usize, online: usize) -> String {
    let noun = if members == 1 { "member" } else { "members" };
    format!("{members} {noun}, {online} online")
}

/// Draws the members panel of the selected chat.
pub fn show(app: &mut App, ui: &mut Ui) {
    let palette = Palette::of(ui);
    let Some(chats) = &app.chats else { return };
    let Some(room) = chats.selected else { return };
    let mut members = chats
        .conversations
        .get(&room)
        .map(|c| c.members.clone())
        .unwrap_or_default();
    // Online first, then by name, as chat apps list them.
    members.sort_by_key(|m| (!m.online, m.user.username.canonical()));
    let online = members.iter().filter(|m| m.online).count();
    Panel::right("members")
        .exact_size(MEMBERS_WIDTH)
        .resizable(false)
        .frame(Frame::new().fill(palette.sidebar).inner_margin(vec2(12.0, 12.0)))
        .show(ui, |ui| {
            ui.label(RichText::new("Members").size(16.0).strong());
            ui.label(
                RichText::new(count_text(members.len(), online))
                    .color(palette.muted)
                    .size(12.5),
            );
            ui.label(
                RichText::new(format!("Room id: {room}"))
                    .color(palette.muted)
                    .size(12.5),
            );
            ui.add_space(8.0);
            ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
                for member in &members {
                    row(ui, member.user.username.as_str(), member.online, &palette);
                }
            });
        });
}

fn row(ui: &mut Ui, name: &str, online: bool, palette: &Palette) {
    let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), 44.0), Sense::hover());
    let state = if online { "online" } else { "offline" };
    response.widget_info(|| WidgetInfo::labeled(Role::ListItem, true, format!("{name}, {state}")));
    let avatar = Pos2::new(rect.left() + 18.0, rect.center().y);
    paint_avatar(ui, avatar, 34.0, name, Some(online));
    let painter = ui.painter();
    let x = rect.left() + 44.0;
    painter.text(
        Pos2::new(x, rect.top() + 6.0),
        egui::Align2::LEFT_TOP,
        name,
        egui::FontId::proportional(14.0),
        palette.text,
    );
    let color = if online { palette.accent } else { palette.muted };
    painter.text(
        Pos2::new(x, rect.top() + 24.0),
        egui::Align2::LEFT_TOP,
        state,
        egui::FontId::proportional(12.0),
        color,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(count_text(1, 1), "1 member, 1 online");
        assert_eq!(count_text(3, 0), "3 members, 0 online");
    }
}
