//! Dialogs over the main view. The simple ones (create a room, join one by id or invite link,
//! start a direct chat) have one field and one button that becomes a spinner until the
//! server answers; on success the dialog closes and the chat opens, on failure the snackbar
//! says why and the dialog stays so the user can correct the input. The others (invite
//! people, the directory, pending invitations, confirmations) live in their own modules.

use chat_proto::{RoomId, RoomName, Username, Visibility};
use egui::{Id, Key, Modal, RichText, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::confirm::Confirm;
use crate::directory::DirectoryDialog;
use crate::invite::InviteDialog;
use crate::theme::{self, Palette};
use crate::widgets::{busy_button, heading, labelled_field};
use crate::{confirm, directory, invitations, invite};

/// Which dialog, with what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// Create a group room: its name and whether it is public.
    CreateRoom {
        /// The name typed so far.
        name: String,
        /// Public (in the directory) instead of private (the default).
        public: bool,
    },
    /// Join a group room by id or invite link.
    JoinRoom(String),
    /// Start a direct chat with a user.
    Direct(String),
    /// Invite people to a room.
    Invite(InviteDialog),
    /// The directory of public rooms.
    Directory(DirectoryDialog),
    /// The invitations waiting for an answer.
    Invitations,
    /// Asks before something that cannot be undone.
    Confirm(Confirm),
    /// The safety number with a contact.
    Safety(crate::safety::SafetyDialog),
    /// This user's devices.
    Devices(crate::devices::DevicesDialog),
}

impl Dialog {
    /// An empty "New room" dialog, private by default.
    pub fn create_room() -> Dialog {
        Dialog::CreateRoom {
            name: String::new(),
            public: false,
        }
    }

    /// An empty "Join room" dialog.
    pub fn join_room() -> Dialog {
        Dialog::JoinRoom(String::new())
    }

    /// An empty "New direct chat" dialog.
    pub fn direct() -> Dialog {
        Dialog::Direct(String::new())
    }

    /// Checks the field of a simple dialog and makes the command, or says what is wrong.
    pub fn command(&self) -> Result<Command, String> {
        match self {
            Dialog::CreateRoom { name, public } => RoomName::parse(name)
                .map(|name| Command::CreateRoom {
                    name,
                    visibility: if *public {
                        Visibility::Public
                    } else {
                        Visibility::Private
                    },
                })
                .map_err(|e| e.message),
            Dialog::JoinRoom(text) => join_command(text),
            Dialog::Direct(username) => Username::parse(username.trim())
                .map(Command::OpenDirect)
                .map_err(|e| e.message),
            _ => Err("nothing to send".to_owned()),
        }
    }
}

/// A room id (`42`, `#42`) or an invite link (`chat-invite:TOKEN`, or the token).
fn join_command(text: &str) -> Result<Command, String> {
    let text = text.trim();
    if let Ok(id) = text.trim_start_matches('#').parse::<RoomId>() {
        return Ok(Command::JoinRoom(id));
    }
    let token = text
        .strip_prefix(chat_client_lib::INVITE_LINK_PREFIX)
        .unwrap_or(text);
    match chat_proto::InviteToken::parse(token) {
        Ok(_) => Ok(Command::JoinByLink(text.to_owned())),
        Err(_) => Err("Paste an invite link (chat-invite:…) or a public room's id".to_owned()),
    }
}

/// The texts of a simple dialog: title, field label, hint, action, busy text.
struct Texts {
    title: &'static str,
    field: &'static str,
    hint: &'static str,
    action: &'static str,
    busy: &'static str,
}

fn texts(dialog: &Dialog) -> Option<(Texts, Op)> {
    let (texts, op) = match dialog {
        Dialog::CreateRoom { .. } => (
            Texts {
                title: "New room",
                field: "Room name",
                hint: "e.g. general",
                action: "Create",
                busy: "Creating…",
            },
            Op::CreateRoom,
        ),
        Dialog::JoinRoom(_) => (
            Texts {
                title: "Join room",
                field: "Invite link or room id",
                hint: "chat-invite:… or a public room's id",
                action: "Join",
                busy: "Joining…",
            },
            Op::JoinRoom,
        ),
        Dialog::Direct(_) => (
            Texts {
                title: "New direct chat",
                field: "Username",
                hint: "who to write to",
                action: "Start chat",
                busy: "Starting…",
            },
            Op::OpenDirect,
        ),
        _ => return None,
    };
    Some((texts, op))
}

/// Draws the open dialog, if any.
pub fn show(app: &mut App, ui: &mut Ui) {
    let Some(mut dialog) = app.dialog.clone() else {
        return;
    };
    let open = match &mut dialog {
        Dialog::Invite(invite) => invite::show(app, ui, invite),
        Dialog::Directory(directory) => directory::show(app, ui, directory),
        Dialog::Invitations => invitations::show(app, ui),
        Dialog::Confirm(confirm) => confirm::show(app, ui, confirm),
        Dialog::Safety(safety) => crate::safety::show(app, ui, safety),
        Dialog::Devices(devices) => crate::devices::show(app, ui, devices),
        simple => simple_dialog(app, ui, simple),
    };
    // The dialog may have been replaced by what happened inside (an answer, another dialog).
    if !open {
        if app.dialog.as_ref().is_some_and(|d| same_kind(d, &dialog)) {
            app.dialog = None;
        }
    } else if app.dialog.as_ref().is_some_and(|d| same_kind(d, &dialog)) {
        app.dialog = Some(dialog);
    }
}

fn same_kind(a: &Dialog, b: &Dialog) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// A modal with the app's frame, closed by Esc or a click outside unless `busy`.
pub(crate) fn modal(ui: &Ui, id: &str, width: f32, content: impl FnOnce(&mut Ui)) -> bool {
    let frame = egui::Frame::window(ui.style()).inner_margin(20);
    let modal = Modal::new(Id::unique(("dialog", id)))
        .frame(frame)
        .show(ui.ctx(), |ui| {
            ui.set_width(width);
            content(ui);
        });
    modal.should_close()
}

/// One field and one button. Returns whether the dialog stays open.
fn simple_dialog(app: &mut App, ui: &mut Ui, dialog: &mut Dialog) -> bool {
    let Some((texts, op)) = texts(dialog) else {
        return false;
    };
    let palette = Palette::of(ui);
    let busy = app.is_pending(op);
    let mut submit = false;
    let mut cancel = false;
    let close = modal(ui, texts.title, 340.0, |ui| {
        ui.label(heading(texts.title));
        ui.add_space(8.0);
        ui.add_enabled_ui(!busy, |ui| {
            let text = match dialog {
                Dialog::CreateRoom { name, .. } => name,
                Dialog::JoinRoom(t) | Dialog::Direct(t) => t,
                _ => return,
            };
            let response = labelled_field(ui, texts.field, text, false, texts.hint);
            if !response.has_focus() && !response.lost_focus() && ui.memory(|m| m.focused().is_none()) {
                response.request_focus();
            }
            submit = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if let Dialog::CreateRoom { public, .. } = dialog {
                ui.add_space(6.0);
                visibility_choice(ui, public, &palette);
            }
        });
        ui.add_space(12.0);
        ui.horizontal(|ui| {
            let size = vec2(100.0, 32.0);
            let button = theme::primary_button(texts.action, &palette);
            submit |= busy_button(ui, busy, !busy, button, size, texts.busy);
            if ui
                .add_enabled(!busy, egui::Button::new(RichText::new("Cancel")).min_size(size))
                .clicked()
            {
                cancel = true;
            }
        });
    });
    if (close || cancel) && !busy {
        return false;
    }
    if submit && !busy {
        match dialog.command() {
            Ok(command) => app.request(command),
            Err(reason) => app.snackbar.push(reason),
        }
    }
    true
}

/// Private (the default) or public, each with what it means.
fn visibility_choice(ui: &mut Ui, public: &mut bool, palette: &Palette) {
    ui.radio_value(public, false, "Private");
    ui.label(
        RichText::new("Only people you invite, by name or invite link, can join.")
            .color(palette.muted)
            .size(12.5),
    );
    ui.radio_value(public, true, "Public");
    ui.label(
        RichText::new("Listed in the room directory; anyone can join.")
            .color(palette.muted)
            .size(12.5),
    );
    ui.add_space(6.0);
    ui.label(
        RichText::new(protection_note(*public))
            .color(palette.text)
            .size(13.0),
    );
}

/// What the new-room dialog says about who will be able to read the room.
pub fn protection_note(public: bool) -> &'static str {
    if public {
        "\u{1f310} Public rooms are not end-to-end encrypted: the server can read them."
    } else {
        "\u{1f512} This room will be end-to-end encrypted: only its members' devices can read it."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialogs_check_their_field() {
        assert!(matches!(
            Dialog::JoinRoom(" #42 ".into()).command(),
            Ok(Command::JoinRoom(id)) if id.get() == 42
        ));
        assert!(Dialog::JoinRoom("general".into()).command().is_err());
        let link = format!("chat-invite:{}", "A".repeat(43));
        assert!(matches!(
            Dialog::JoinRoom(format!(" {link} ")).command(),
            Ok(Command::JoinByLink(text)) if text == link
        ));
        assert!(
            Dialog::CreateRoom {
                name: "   ".into(),
                public: false
            }
            .command()
            .is_err()
        );
        assert!(matches!(
            Dialog::CreateRoom { name: " Rust fans ".into(), public: false }.command(),
            Ok(Command::CreateRoom { name, visibility: Visibility::Private }) if name.as_str() == "Rust fans"
        ));
        assert!(matches!(
            Dialog::CreateRoom {
                name: "news".into(),
                public: true
            }
            .command(),
            Ok(Command::CreateRoom {
                visibility: Visibility::Public,
                ..
            })
        ));
        assert!(Dialog::Direct("a b".into()).command().is_err());
    }
}
