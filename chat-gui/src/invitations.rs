//! The invitations waiting for the user's answer, each with Accept and Decline. The chat
//! list shows an entry with their number while there are any.

use egui::{RichText, Ui, WidgetInfo, accesskit::Role, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::dialogs::modal;
use crate::theme::{self, Palette};
use crate::widgets::{heading, spinner};

/// "2 invitations".
pub fn count_text(count: usize) -> String {
    if count == 1 {
        "1 invitation".to_owned()
    } else {
        format!("{count} invitations")
    }
}

/// Draws the list. Returns whether it stays open.
pub fn show(app: &mut App, ui: &mut Ui) -> bool {
    let palette = Palette::of(ui);
    let invitations = app.invitations.clone();
    let mut answer = None;
    let mut done = false;
    let close = modal(ui, "invitations", 380.0, |ui| {
        ui.label(heading("Invitations"));
        ui.add_space(6.0);
        if invitations.is_empty() {
            ui.label(RichText::new("No invitations waiting").color(palette.muted));
        }
        for invitation in &invitations {
            let room = &invitation.room;
            ui.label(RichText::new(&room.name).strong());
            ui.label(
                RichText::new(format!("from {}", invitation.inviter.username))
                    .color(palette.muted)
                    .size(12.5),
            );
            ui.horizontal(|ui| {
                if app.is_pending(Op::Invitation(room.id)) {
                    spinner(ui, vec2(28.0, 28.0), "Answering…");
                    return;
                }
                let accept = ui.add(theme::primary_button("Accept", &palette).min_size(vec2(90.0, 28.0)));
                let label = format!("Accept the invitation to {}", room.name);
                accept.widget_info(|| WidgetInfo::labeled(Role::Button, true, &label));
                if accept.clicked() {
                    answer = Some(Command::AcceptInvitation(room.id));
                }
                let decline = ui.add(egui::Button::new("Decline").min_size(vec2(90.0, 28.0)));
                let label = format!("Decline the invitation to {}", room.name);
                decline.widget_info(|| WidgetInfo::labeled(Role::Button, true, &label));
                if decline.clicked() {
                    answer = Some(Command::DeclineInvitation(room.id));
                }
            });
            ui.separator();
        }
        done = ui.button("Close").clicked();
    });
    if let Some(command) = answer {
        app.request(command);
    }
    !(done || close)
}
