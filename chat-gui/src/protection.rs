//! Whether a chat is end-to-end encrypted or readable by the server, as the chat list, the
//! header and the new-room dialog show it: a lock, or an open globe.

use chat_proto::{Room, Visibility};

/// Who can read a chat's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// End-to-end encrypted: only the members' devices.
    Encrypted,
    /// A public room: anyone who joins, and the server.
    Public,
    /// A private room without end-to-end encryption (a server that has it turned off):
    /// the members, and the server.
    ServerReadable,
}

/// What a screen reader (and a test) hears for an encrypted chat's lock.
pub const ENCRYPTED_LABEL: &str = "End-to-end encrypted";
/// What a screen reader hears for a public room's globe.
pub const PUBLIC_LABEL: &str = "Public: readable by the server";
/// What a screen reader hears for a private room the server can read.
pub const SERVER_READABLE_LABEL: &str = "Not end-to-end encrypted: readable by the server";

impl Protection {
    /// The protection of a room.
    pub fn of(room: &Room) -> Protection {
        if room.encrypted {
            Protection::Encrypted
        } else if room.visibility == Visibility::Public {
            Protection::Public
        } else {
            Protection::ServerReadable
        }
    }

    /// The glyph drawn next to the chat's name.
    pub fn glyph(self) -> &'static str {
        match self {
            Protection::Encrypted => "\u{1f512}",
            Protection::Public => "\u{1f310}",
            Protection::ServerReadable => "\u{1f513}",
        }
    }

    /// Its accessible name and hover text.
    pub fn label(self) -> &'static str {
        match self {
            Protection::Encrypted => ENCRYPTED_LABEL,
            Protection::Public => PUBLIC_LABEL,
            Protection::ServerReadable => SERVER_READABLE_LABEL,
        }
    }
}

/// Paints the glyph of `protection` at `pos` (left centre) in `color`, as its own accessible
/// node with a hover text; returns the width it took.
pub fn paint(
    ui: &mut egui::Ui,
    pos: egui::Pos2,
    protection: Protection,
    size: f32,
    color: egui::Color32,
    salt: impl std::hash::Hash + std::fmt::Debug,
) -> f32 {
    let galley = ui.painter().layout_no_wrap(
        protection.glyph().to_owned(),
        egui::FontId::proportional(size),
        color,
    );
    let rect = egui::Rect::from_min_size(egui::pos2(pos.x, pos.y - galley.size().y / 2.0), galley.size());
    ui.painter().galley(rect.min, galley, color);
    let response = ui.interact(
        rect,
        ui.scope_id().with(("protection", salt)),
        egui::Sense::hover(),
    );
    response
        .widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, protection.label()));
    response.on_hover_text(protection.label());
    rect.width() + 4.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{RoomId, RoomKind};

    fn room(visibility: Visibility, encrypted: bool) -> Room {
        Room {
            id: RoomId::new(1).unwrap(),
            kind: RoomKind::Group,
            name: "r".into(),
            peer: None,
            visibility,
            encrypted,
            topic: None,
            member_count: 1,
            created_at: 0,
        }
    }

    #[test]
    fn a_lock_for_encrypted_rooms_and_a_globe_for_public_ones() {
        assert_eq!(
            Protection::of(&room(Visibility::Private, true)),
            Protection::Encrypted
        );
        assert_eq!(
            Protection::of(&room(Visibility::Public, false)),
            Protection::Public
        );
        assert_eq!(
            Protection::of(&room(Visibility::Private, false)),
            Protection::ServerReadable
        );
        assert_eq!(Protection::Encrypted.glyph(), "🔒");
        assert_eq!(Protection::Public.glyph(), "🌐");
    }
}
