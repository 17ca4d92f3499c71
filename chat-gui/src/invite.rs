//! The invite dialog of a room: invite someone by username, or make an invite link (with an
//! optional expiry and use limit) that is copied as `chat-invite:TOKEN`, ready to paste into
//! "Join room" on the other side.

use std::time::Duration;

use chat_proto::{InviteLink, RoomId, Username};
use egui::{ComboBox, RichText, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::dialogs::modal;
use crate::theme::{self, Palette};
use crate::widgets::{busy_button, heading, labelled_field};

/// How long a new link works.
pub const EXPIRY_CHOICES: [(&str, Option<u64>); 4] = [
    ("Never expires", None),
    ("1 hour", Some(3600)),
    ("1 day", Some(86_400)),
    ("7 days", Some(7 * 86_400)),
];

/// The invite dialog's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteDialog {
    /// The room.
    pub room: RoomId,
    /// Its name, for the title.
    pub name: String,
    /// The username typed so far.
    pub username: String,
    /// Index into [`EXPIRY_CHOICES`].
    pub expiry: usize,
    /// The use limit typed so far; empty for none.
    pub max_uses: String,
    /// The link made, as shared.
    pub link: Option<String>,
    /// The room's links as last loaded; `None` until (re)loaded.
    pub links: Option<Vec<InviteLink>>,
}

impl InviteDialog {
    /// An empty dialog for a room.
    pub fn new(room: RoomId, name: &str) -> InviteDialog {
        InviteDialog {
            room,
            name: name.to_owned(),
            username: String::new(),
            expiry: 0,
            max_uses: String::new(),
            link: None,
            links: None,
        }
    }

    /// The command for the link fields, or what is wrong with them.
    pub fn link_command(&self) -> Result<Command, String> {
        let max_uses = match self.max_uses.trim() {
            "" => None,
            text => match text.parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err("The use limit is a whole number from 1, or empty for none".to_owned()),
            },
        };
        let expires_in = EXPIRY_CHOICES
            .get(self.expiry)
            .and_then(|(_, secs)| *secs)
            .map(Duration::from_secs);
        Ok(Command::CreateInviteLink {
            room: self.room,
            expires_in,
            max_uses,
        })
    }
}

/// Draws the dialog. Returns whether it stays open.
pub fn show(app: &mut App, ui: &mut Ui, invite: &mut InviteDialog) -> bool {
    let palette = Palette::of(ui);
    let inviting = app.is_pending(Op::Invite);
    let linking = app.is_pending(Op::InviteLink);
    let mut done = false;
    let close = modal(ui, "invite", 380.0, |ui| {
        ui.label(heading(&format!("Invite to {}", invite.name)));
        ui.add_space(8.0);
        let field = labelled_field(ui, "Invite by username", &mut invite.username, false, "username");
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let size = vec2(110.0, 30.0);
        let button = theme::primary_button("Invite", &palette);
        if (busy_button(ui, inviting, true, button, size, "Inviting…") || enter) && !inviting {
            match Username::parse(invite.username.trim()) {
                Ok(username) => app.request(Command::Invite {
                    room: invite.room,
                    username,
                }),
                Err(e) => app.snackbar.push(e.message),
            }
        }
        ui.add_space(10.0);
        ui.separator();
        ui.label(RichText::new("Invite link").strong());
        ui.label(
            RichText::new("Anyone with the link can join until it expires, is used up or is revoked.")
                .color(palette.muted)
                .size(12.5),
        );
        ui.horizontal(|ui| {
            let chosen = EXPIRY_CHOICES.get(invite.expiry).map_or("", |c| c.0);
            ComboBox::from_id_salt("invite_expiry")
                .selected_text(chosen)
                .show_ui(ui, |ui| {
                    for (i, (label, _)) in EXPIRY_CHOICES.iter().enumerate() {
                        ui.selectable_value(&mut invite.expiry, i, *label);
                    }
                })
                .response
                .widget_info(|| {
                    egui::WidgetInfo::labeled(egui::accesskit::Role::ComboBox, true, "Link expires")
                });
        });
        labelled_field(ui, "Use limit", &mut invite.max_uses, false, "no limit");
        let button = theme::primary_button("Copy invite link", &palette);
        if busy_button(ui, linking, true, button, vec2(160.0, 30.0), "Making a link…") && !linking {
            match invite.link_command() {
                Ok(command) => app.request(command),
                Err(reason) => app.snackbar.push(reason),
            }
        }
        if let Some(link) = &invite.link {
            ui.add(egui::Label::new(RichText::new(link).monospace().size(12.0)).selectable(true));
            if ui.button("Copy again").clicked() {
                ui.ctx().copy_text(link.clone());
            }
        }
        ui.add_space(6.0);
        links(app, ui, invite, &palette);
        ui.add_space(10.0);
        done = ui.button("Done").clicked();
    });
    !(done || close)
}

/// The room's links that still work, each with Revoke; loaded when shown.
fn links(app: &mut App, ui: &mut Ui, invite: &InviteDialog, palette: &Palette) {
    let Some(links) = &invite.links else {
        if !app.is_pending(Op::InviteLinks(invite.room)) {
            app.request(Command::ListInviteLinks(invite.room));
        }
        return;
    };
    let now = crate::format::now_ms();
    let working: Vec<&InviteLink> = links
        .iter()
        .filter(|l| !l.revoked && l.expires_at.is_none_or(|t| t > now))
        .filter(|l| l.max_uses.is_none_or(|max| l.uses < max))
        .collect();
    if working.is_empty() {
        return;
    }
    ui.label(RichText::new("Links that work now").strong());
    for (n, link) in working.iter().enumerate() {
        ui.horizontal(|ui| {
            let uses = match link.max_uses {
                Some(max) => format!("{} of {max} uses", link.uses),
                None => format!("{} uses", link.uses),
            };
            let by = format!("by {} · {uses}", link.created_by.username);
            ui.label(RichText::new(by).color(palette.muted).size(12.5));
            let label = format!("Revoke link {}", n + 1);
            if app.is_pending(Op::RevokeLink(link.id)) {
                crate::widgets::spinner(ui, vec2(24.0, 24.0), "Revoking…");
            } else {
                let revoke = ui.button("Revoke");
                revoke.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Button, true, &label));
                if revoke.clicked() {
                    app.request(Command::RevokeInviteLink {
                        room: invite.room,
                        link: link.id,
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
    fn link_fields_are_checked() {
        let mut dialog = InviteDialog::new(RoomId::new(5).unwrap(), "r");
        assert!(matches!(
            dialog.link_command(),
            Ok(Command::CreateInviteLink {
                expires_in: None,
                max_uses: None,
                ..
            })
        ));
        dialog.expiry = 2;
        dialog.max_uses = " 3 ".into();
        assert!(matches!(
            dialog.link_command(),
            Ok(Command::CreateInviteLink { expires_in: Some(d), max_uses: Some(3), .. }) if d.as_secs() == 86_400
        ));
        dialog.max_uses = "0".into();
        assert!(dialog.link_command().is_err());
        dialog.max_uses = "many".into();
        assert!(dialog.link_command().is_err());
    }
}
