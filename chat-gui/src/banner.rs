//! The banner across the top of the main view while the connection is not up: connecting,
//! reconnecting (with the attempt number) or offline (with the reason). Chats already
//! loaded stay readable below it.

use egui::{Frame, Panel, RichText, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Connection, Op};
use crate::theme::Palette;
use crate::widgets::{busy_button, paint_waiting};

/// The banner's text for a connection state, or `None` when no banner is due.
pub fn text(connection: &Connection) -> Option<String> {
    match connection {
        Connection::Idle | Connection::Online => None,
        Connection::Connecting => Some("Connecting…".to_owned()),
        Connection::Reconnecting { attempt } => {
            Some(format!("Connection lost. Reconnecting… (attempt {attempt})"))
        }
        Connection::Offline { reason } => {
            Some(format!("Offline: {reason}. Saved chats are shown read-only."))
        }
    }
}

/// Draws the banner, if one is due.
pub fn show(app: &mut App, ui: &mut Ui) {
    let Some(text) = text(&app.connection) else {
        return;
    };
    let palette = Palette::of(ui);
    let offline = matches!(app.connection, Connection::Offline { .. });
    let fill = if offline {
        palette.banner_offline
    } else {
        palette.banner_warn
    };
    Panel::top("connection_banner")
        .frame(Frame::new().fill(fill).inner_margin(vec2(12.0, 6.0)))
        .show_separator_line(false)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                if !offline {
                    // A still mark, not a spinner: reconnecting can last minutes, and an
                    // animation would repaint the window all that time.
                    paint_waiting(ui, vec2(18.0, 18.0), "Reconnecting");
                }
                ui.label(RichText::new(text).strong());
                if offline {
                    let retry = egui::Button::new("Try again");
                    let busy = app.is_pending(Op::ListRooms) || app.is_pending(Op::Login);
                    if busy_button(ui, busy, true, retry, vec2(80.0, 24.0), "Trying…") {
                        retry_now(app);
                    }
                }
            });
        });
}

/// Any request makes the client library start connecting again; after an offline login the
/// login itself is what needs repeating.
fn retry_now(app: &mut App) {
    if app.offline_login {
        match app.login.command(false) {
            Ok(command) => app.request(command),
            Err(reason) => app.snackbar.push(reason),
        }
    } else {
        app.request(Command::ListRooms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_the_state() {
        assert_eq!(text(&Connection::Online), None);
        assert_eq!(text(&Connection::Idle), None);
        assert!(
            text(&Connection::Reconnecting { attempt: 3 })
                .unwrap()
                .contains("attempt 3")
        );
        let offline = text(&Connection::Offline {
            reason: "connection refused".into(),
        })
        .unwrap();
        assert!(offline.contains("connection refused"));
    }
}
