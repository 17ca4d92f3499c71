//! Checking a contact: the safety number of a direct chat (60 digits in 12 groups of 5, and
//! the same number as a QR code), "Mark as verified", and the warning a chat shows when a
//! verified contact's devices change. The number comes from the client library
//! (`Client::safety_number`), so it is the same digits the command-line client shows.

use chat_proto::{Device, UserId, UserInfo};
use egui::{Color32, Pos2, Rect, RichText, Sense, Ui, WidgetInfo, accesskit::Role, vec2};

use crate::app::App;
use crate::backend::{Command, Op};
use crate::dialogs::modal;
use crate::theme::{self, Palette};
use crate::widgets::{heading, spinner};

/// The accessible name of the QR code.
pub const QR_LABEL: &str = "QR code of the safety number";
/// The start of the accessible name of the digits, followed by the number as the library
/// writes it.
pub const NUMBER_LABEL: &str = "Safety number: ";
/// The button that marks a contact verified.
pub const MARK_VERIFIED: &str = "Mark as verified";
/// The start of the warning a chat shows when a verified contact's devices changed.
pub const WARNING_START: &str = "Your safety number with";

/// The safety number dialog of one contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyDialog {
    /// The contact.
    pub user: UserInfo,
    /// The number, once computed.
    pub number: Option<String>,
    /// The contact's devices the number covers.
    pub devices: Vec<Device>,
}

impl SafetyDialog {
    /// A dialog waiting for the number of `user`.
    pub fn new(user: UserInfo) -> SafetyDialog {
        SafetyDialog {
            user,
            number: None,
            devices: Vec::new(),
        }
    }
}

/// The 12 groups in three lines of four, as read aloud.
pub fn lines(number: &str) -> String {
    let groups: Vec<&str> = number.split_whitespace().collect();
    groups
        .chunks(4)
        .map(|line| line.join("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the QR code holds: a versioned tag and the 60 digits, so that a scanner can tell it
/// from any other code and compare the digits.
pub fn qr_payload(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("chat-safety-number:v1:{digits}")
}

/// The sentence of the warning about `name`.
pub fn warning_text(name: &str) -> String {
    format!(
        "{WARNING_START} {name} changed: their devices are not the ones you verified. Compare the safety number again before you share anything sensitive."
    )
}

/// Opens the safety number of `user` and asks for it.
pub fn open(app: &mut App, user: UserInfo) {
    app.dialog = Some(crate::dialogs::Dialog::Safety(SafetyDialog::new(user.clone())));
    app.request(Command::SafetyNumber(user));
}

/// Takes a computed number: shows it in the dialog and updates the warning.
pub fn on_number(app: &mut App, user: UserInfo, number: String, devices: Vec<Device>) {
    on_devices(app, &user, &devices);
    if let Some(crate::dialogs::Dialog::Safety(dialog)) = &mut app.dialog
        && dialog.user.id == user.id
    {
        dialog.number = Some(number);
        dialog.devices = devices;
    }
}

/// Takes a contact's current devices: a verified contact whose devices are not the ones
/// verified gets the warning, one whose devices match loses it.
pub fn on_devices(app: &mut App, user: &UserInfo, devices: &[Device]) {
    if app.verified.is_verified(user.id) && !app.verified.matches(user.id, devices) {
        app.device_warnings.insert(user.id);
    } else {
        app.device_warnings.remove(&user.id);
    }
}

/// Asks for the devices of the peer of a direct chat, if the peer is verified: the answer
/// shows or clears the warning.
pub fn check_peer(app: &mut App, peer: Option<UserInfo>) {
    let Some(peer) = peer else { return };
    if app.verified.is_verified(peer.id) && !app.is_pending(Op::ContactDevices(peer.id)) {
        app.request(Command::ContactDevices(peer));
    }
}

/// A message from a verified contact sent by a device that was not theirs when verified:
/// look at their devices again.
pub fn on_message(app: &mut App, message: &chat_proto::Message) {
    let Some(device) = message.device_id else { return };
    if app.verified.knows_device(message.sender.id, device) == Some(false) {
        check_peer(app, Some(message.sender.clone()));
    }
}

/// Draws the dialog. Returns whether it stays open.
pub fn show(app: &mut App, ui: &mut Ui, dialog: &mut SafetyDialog) -> bool {
    let palette = Palette::of(ui);
    let name = dialog.user.username.to_string();
    let verified = app.verified.is_verified(dialog.user.id);
    let matches = app.verified.matches(dialog.user.id, &dialog.devices);
    let mut mark = false;
    let mut clear = false;
    let mut done = false;
    let close = modal(ui, "safety", 420.0, |ui| {
        ui.label(heading(&format!("Safety number with {name}")));
        ui.add_space(6.0);
        let Some(number) = &dialog.number else {
            spinner(
                ui,
                vec2(ui.available_width(), 60.0),
                "Computing the safety number…",
            );
            done = ui.button("Close").clicked();
            return;
        };
        ui.label(
            RichText::new(format!(
                "Compare these numbers with {name}, in person or over a call where you recognise their voice. \
                 If they match on both screens, only your and {name}'s devices are in your chats."
            ))
            .color(palette.muted)
            .size(13.0),
        );
        ui.add_space(10.0);
        ui.vertical_centered(|ui| {
            let digits = ui.label(
                RichText::new(lines(number))
                    .monospace()
                    .size(19.0)
                    .color(palette.text),
            );
            digits.widget_info(|| WidgetInfo::labeled(Role::Label, true, format!("{NUMBER_LABEL}{number}")));
            ui.add_space(10.0);
            qr(ui, &qr_payload(number), 180.0);
        });
        ui.add_space(10.0);
        let (status, color) = if verified && matches {
            (format!("\u{2714} You verified {name}"), palette.accent_text)
        } else if verified {
            (warning_text(&name), palette.danger)
        } else {
            (format!("{name} is not verified yet"), palette.muted)
        };
        ui.label(RichText::new(status).color(color).size(13.5));
        ui.add_space(6.0);
        ui.collapsing(format!("{name}'s devices ({})", dialog.devices.len()), |ui| {
            for device in &dialog.devices {
                ui.label(RichText::new(device.name.as_str()).strong());
                ui.label(RichText::new(&device.fingerprint).monospace().size(11.0));
            }
        });
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            let size = vec2(150.0, 32.0);
            if verified && matches {
                clear = ui
                    .add(egui::Button::new("Clear verification").min_size(size))
                    .clicked();
            } else {
                mark = ui
                    .add(theme::primary_button(MARK_VERIFIED, &palette).min_size(size))
                    .clicked();
            }
            done = ui
                .add(egui::Button::new("Close").min_size(vec2(90.0, 32.0)))
                .clicked();
        });
    });
    if mark {
        match app.verified.verify(&dialog.user, &dialog.devices) {
            Ok(()) => app.snackbar.push(format!("{name} is verified")),
            Err(e) => app
                .snackbar
                .push(format!("Cannot save that {name} is verified: {e}")),
        }
        app.device_warnings.remove(&dialog.user.id);
    }
    if clear {
        if let Err(e) = app.verified.unverify(dialog.user.id) {
            app.snackbar.push(format!("Cannot save the change: {e}"));
        }
        app.device_warnings.remove(&dialog.user.id);
    }
    !(close || done)
}

/// Paints `payload` as a QR code `side` points wide (dark modules on white, with the quiet
/// zone the standard asks for), as one accessible image.
fn qr(ui: &mut Ui, payload: &str, side: f32) {
    let (rect, response) = ui.allocate_exact_size(vec2(side, side), Sense::hover());
    response.widget_info(|| WidgetInfo::labeled(Role::Image, true, QR_LABEL));
    let Ok(code) = qrcode::QrCode::new(payload.as_bytes()) else {
        // The payload is 83 ASCII bytes: every QR version from 4 up holds it.
        return;
    };
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let cells = (width + 2 * quiet) as f32;
    let cell = side / cells;
    let painter = ui.painter();
    painter.rect_filled(rect, 4.0, Color32::WHITE);
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = ((i % width + quiet) as f32, (i / width + quiet) as f32);
            let min = Pos2::new(rect.left() + x * cell, rect.top() + y * cell);
            painter.rect_filled(
                Rect::from_min_size(min, vec2(cell, cell)).expand(0.2),
                0.0,
                Color32::BLACK,
            );
        }
    }
}

/// The warning band at the top of a direct chat whose verified peer's devices changed; its
/// button opens the safety number. Returns whether it was drawn.
pub fn warning_band(app: &mut App, ui: &mut Ui, peer: &UserInfo) -> bool {
    if !app.device_warnings.contains(&peer.id) {
        return false;
    }
    let palette = Palette::of(ui);
    let text = warning_text(peer.username.as_str());
    let mut compare = false;
    egui::Panel::top("device_warning")
        .frame(
            egui::Frame::new()
                .fill(palette.banner_warn)
                .inner_margin(vec2(12.0, 8.0)),
        )
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                let button_width = 140.0;
                ui.add_sized(
                    vec2((ui.available_width() - button_width).max(100.0), 0.0),
                    egui::Label::new(RichText::new(format!("\u{26a0} {text}")).color(palette.text)).wrap(),
                );
                compare = ui.button("Compare safety number").clicked();
            });
        });
    if compare {
        open(app, peer.clone());
    }
    true
}

/// Whether `user` is verified and their devices are the ones verified (for the check mark).
pub fn shows_check(app: &App, user: UserId) -> bool {
    app.verified.is_verified(user) && !app.device_warnings.contains(&user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_reads_in_three_lines_and_the_qr_code_holds_its_digits() {
        let number = "12345 23456 34567 45678 56789 67890 78901 89012 90123 01234 11111 22222";
        assert_eq!(
            lines(number),
            "12345  23456  34567  45678\n56789  67890  78901  89012\n90123  01234  11111  22222"
        );
        let payload = qr_payload(number);
        assert!(payload.ends_with(":123452345634567456785678967890789018901290123012341111122222"));
        assert!(qrcode::QrCode::new(payload.as_bytes()).is_ok());
    }
}
