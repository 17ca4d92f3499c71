//! Dialogs over the main view: create a room, join a room by id, start a direct chat. Each
//! has one field and one button that becomes a spinner until the server answers; on
//! success the dialog closes and the chat opens, on failure the snackbar says why and the
//! dialog stays so the user can correct the input.

use chat_proto::{RoomId, RoomName, Username};
use egui::{Id, Key, Modal, RichText, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::theme::{self, Palette};
use crate::widgets::{busy_button, heading, labelled_field};

/// Which dialog, with its field's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// Create a group room.
    CreateRoom(String),
    /// Join a group room by id.
    JoinRoom(String),
    /// Start a direct chat with a user.
    Direct(String),
}

impl Dialog {
    /// An empty "New room" dialog.
    pub fn create_room() -> Dialog {
        Dialog::CreateRoom(String::new())
    }

    /// An empty "Join room" dialog.
    pub fn join_room() -> Dialog {
        Dialog::JoinRoom(String::new())
    }

    /// An empty "New direct chat" dialog.
    pub fn direct() -> Dialog {
        Dialog::Direct(String::new())
    }

    fn texts(
        &self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Dialog::CreateRoom(_) => ("New room", "Room name", "e.g. general", "Create", "Creating…"),
            Dialog::JoinRoom(_) => (
                "Join room",
                "Room id",
                "the number shown in the room",
                "Join",
                "Joining…",
            ),
            Dialog::Direct(_) => (
                "New direct chat",
                "Username",
                "who to write to",
                "Start chat",
                "Starting…",
            ),
        }
    }

    fn op(&self) -> Op {
        match self {
            Dialog::CreateRoom(_) => Op::CreateRoom,
            Dialog::JoinRoom(_) => Op::JoinRoom,
            Dialog::Direct(_) => Op::OpenDirect,
        }
    }

    fn text_mut(&mut self) -> &mut String {
        match self {
            Dialog::CreateRoom(t) | Dialog::JoinRoom(t) | Dialog::Direct(t) => t,
        }
    }

    /// Checks the field and makes the command, or says what is wrong with it.
    pub fn command(&self) -> Result<Command, String> {
        match self {
            Dialog::CreateRoom(name) => RoomName::parse(name)
                .map(Command::CreateRoom)
                .map_err(|e| e.message),
            Dialog::JoinRoom(id) => id
                .trim()
                .trim_start_matches('#')
                .parse::<RoomId>()
                .map(Command::JoinRoom)
                .map_err(|_| "A room id is a number, such as 42".to_owned()),
            Dialog::Direct(username) => Username::parse(username.trim())
                .map(Command::OpenDirect)
                .map_err(|e| e.message),
        }
    }
}

/// Draws the open dialog, if any.
pub fn show(app: &mut App, ui: &mut Ui) {
    let Some(mut dialog) = app.dialog.clone() else {
        return;
    };
    let palette = Palette::of(ui);
    let (title, field, hint, action, busy_text) = dialog.texts();
    let busy = app.is_pending(dialog.op());
    let mut submit = false;
    let mut cancel = false;
    let frame = egui::Frame::window(ui.style()).inner_margin(20);
    let modal = Modal::new(Id::unique("dialog"))
        .frame(frame)
        .show(ui.ctx(), |ui| {
            ui.set_width(320.0);
            ui.label(heading(title));
            ui.add_space(8.0);
            ui.add_enabled_ui(!busy, |ui| {
                let response = labelled_field(ui, field, dialog.text_mut(), false, hint);
                if !response.has_focus() && !response.lost_focus() && ui.memory(|m| m.focused().is_none()) {
                    response.request_focus();
                }
                submit = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            });
            ui.add_space(12.0);
            ui.horizontal(|ui| {
                let size = vec2(100.0, 32.0);
                let button = theme::primary_button(action, &palette);
                submit |= busy_button(ui, busy, !busy, button, size, busy_text);
                if ui
                    .add_enabled(!busy, egui::Button::new(RichText::new("Cancel")).min_size(size))
                    .clicked()
                {
                    cancel = true;
                }
            });
        });
    if modal.should_close() && !busy {
        cancel = true;
    }
    if cancel {
        app.dialog = None;
        return;
    }
    if submit && !busy {
        match dialog.command() {
            Ok(command) => app.request(command),
            Err(reason) => app.snackbar.push(reason),
        }
    }
    app.dialog = Some(dialog);
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
        assert!(Dialog::CreateRoom("   ".into()).command().is_err());
        assert!(matches!(
            Dialog::CreateRoom(" Rust fans ".into()).command(),
            Ok(Command::CreateRoom(name)) if name.as_str() == "Rust fans"
        ));
        assert!(Dialog::Direct("a b".into()).command().is_err());
    }
}
