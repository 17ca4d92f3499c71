//! Asking before what cannot be undone: leaving a room, logging out, and acting on a member
//! (remove, ban, change a role, hand ownership over). The dialog says what will happen, in
//! words, with the action on its button.

use chat_proto::{RoomId, UserInfo};
use egui::{RichText, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Moderation, Op};
use crate::dialogs::modal;
use crate::theme::{self, Palette};
use crate::widgets::{busy_button, heading};

/// What waits for the user's yes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave a room.
    Leave(RoomId),
    /// Log out of this computer.
    Logout,
    /// Remove one of this user's devices.
    RemoveDevice(chat_proto::DeviceId),
    /// Act on a member of a room.
    Moderate {
        /// The room.
        room: RoomId,
        /// Who.
        user: UserInfo,
        /// What.
        action: Moderation,
    },
}

/// A question with its action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirm {
    /// The title, e.g. "Leave “general”?".
    pub title: String,
    /// What it means.
    pub text: String,
    /// The button, e.g. "Leave".
    pub button: String,
    /// What happens on yes.
    pub action: Action,
}

impl Confirm {
    /// Leaving the room `name`.
    pub fn leave(room: RoomId, name: &str) -> Confirm {
        Confirm {
            title: format!("Leave \u{201c}{name}\u{201d}?"),
            text: "You stop receiving its messages. To come back, you need a new invitation if the room is private."
                .to_owned(),
            button: "Leave".to_owned(),
            action: Action::Leave(room),
        }
    }

    /// Logging out.
    pub fn logout() -> Confirm {
        Confirm {
            title: "Log out?".to_owned(),
            text: "You will need your password to log in again on this computer. Messages not sent yet go out at your next login."
                .to_owned(),
            button: "Log out".to_owned(),
            action: Action::Logout,
        }
    }

    /// Removing this user's device `name`.
    pub fn remove_device(device: chat_proto::DeviceId, name: &str) -> Confirm {
        Confirm {
            title: format!("Remove the device \u{201c}{name}\u{201d}?"),
            text: "It leaves every encrypted chat now and cannot read anything sent from now on. \
                   Whoever uses it has to log in again, as a new device."
                .to_owned(),
            button: "Remove device".to_owned(),
            action: Action::RemoveDevice(device),
        }
    }

    /// Acting on `user` in the room `name`.
    pub fn moderate(room: RoomId, name: &str, user: UserInfo, action: Moderation) -> Confirm {
        let who = user.username.to_string();
        let (title, text, button) = match action {
            Moderation::Remove => (
                format!("Remove {who} from \u{201c}{name}\u{201d}?"),
                format!("{who} leaves the room now and can come back only when invited again."),
                "Remove",
            ),
            Moderation::Ban => (
                format!("Ban {who} from \u{201c}{name}\u{201d}?"),
                format!(
                    "{who} leaves the room now and cannot come back, by invitation or link, until unbanned."
                ),
                "Ban",
            ),
            Moderation::Unban => (
                format!("Lift the ban on {who}?"),
                format!("{who} can be invited again."),
                "Unban",
            ),
            Moderation::MakeAdmin => (
                format!("Make {who} an admin?"),
                format!(
                    "{who} will be able to invite, remove and ban members and change the room's name and topic."
                ),
                "Make admin",
            ),
            Moderation::MakeMember => (
                format!("Remove {who}'s admin rights?"),
                format!("{who} stays in the room as a member."),
                "Remove admin",
            ),
            Moderation::TransferOwnership => (
                format!("Make {who} the owner of \u{201c}{name}\u{201d}?"),
                format!("{who} becomes the owner and you become an admin. Only the new owner can undo this."),
                "Make owner",
            ),
        };
        Confirm {
            title,
            text,
            button: button.to_owned(),
            action: Action::Moderate { room, user, action },
        }
    }

    fn op(&self) -> Op {
        match &self.action {
            Action::Leave(room) => Op::LeaveRoom(*room),
            Action::Logout => Op::Logout,
            Action::RemoveDevice(device) => Op::RemoveDevice(*device),
            Action::Moderate { room, user, .. } => Op::Moderate(*room, user.id),
        }
    }
}

/// Draws the question. Returns whether it stays open (until the answer to a yes arrives).
pub fn show(app: &mut App, ui: &mut Ui, confirm: &mut Confirm) -> bool {
    let palette = Palette::of(ui);
    let busy = app.is_pending(confirm.op());
    let (mut yes, mut no) = (false, false);
    let close = modal(ui, "confirm", 360.0, |ui| {
        ui.label(heading(&confirm.title));
        ui.add_space(6.0);
        ui.label(RichText::new(&confirm.text).color(palette.muted));
        ui.add_space(14.0);
        ui.horizontal(|ui| {
            let size = vec2(110.0, 32.0);
            let button = theme::danger_button(&confirm.button, &palette);
            yes = busy_button(ui, busy, true, button, size, "Working…");
            no = ui
                .add_enabled(!busy, egui::Button::new("Cancel").min_size(size))
                .clicked();
        });
    });
    if yes {
        let command = match confirm.action.clone() {
            Action::Leave(room) => Command::LeaveRoom(room),
            Action::Logout => Command::Logout {
                server: app.login.address(),
            },
            Action::Moderate { room, user, action } => Command::Moderate { room, user, action },
            Action::RemoveDevice(device) => Command::RemoveDevice(device),
        };
        app.request(command);
        // The question has been answered; the spinner lives in the panel's place.
        return false;
    }
    !(no || (close && !busy))
}
