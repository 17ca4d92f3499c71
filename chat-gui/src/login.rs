//! The first screen: server address, username and password, with "Log in" and
//! "Create account". The fields are checked against the protocol's rules before anything is
//! sent, so a rule broken is explained at once instead of after a round trip.

use chat_proto::{Password, Username};
use egui::{Align, Key, Layout, Ui, vec2};

use crate::app::App;
use crate::backend::{Command, Op, ServerAddress};
use crate::theme::{self, Palette};
use crate::widgets::{busy_button, heading, labelled_field};

/// The login form's fields.
#[derive(Clone, Debug, Default)]
pub struct LoginForm {
    /// The server's URL.
    pub server: String,
    /// The pinned certificate fingerprint, if any.
    pub fingerprint: String,
    /// The username.
    pub username: String,
    /// The password; cleared after login.
    pub password: String,
}

impl LoginForm {
    /// A form for the given server.
    pub fn new(server: ServerAddress) -> LoginForm {
        LoginForm {
            server: server.url,
            fingerprint: server.fingerprint,
            ..LoginForm::default()
        }
    }

    /// The form as saved by [`save`], if the file exists and reads well.
    pub fn load(path: &std::path::Path) -> Option<LoginForm> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        let form = LoginForm {
            server: lines.next()?.trim().to_owned(),
            fingerprint: lines.next()?.trim().to_owned(),
            username: lines.next()?.trim().to_owned(),
            password: String::new(),
        };
        (!form.server.is_empty()).then_some(form)
    }

    /// The server as the form names it.
    pub(crate) fn address(&self) -> ServerAddress {
        ServerAddress {
            url: self.server.trim().to_owned(),
            fingerprint: self.fingerprint.trim().to_owned(),
        }
    }

    /// Checks the fields and makes the command.
    pub(crate) fn command(&self, register: bool) -> Result<Command, String> {
        if self.server.trim().is_empty() {
            return Err("Enter the server's address".to_owned());
        }
        let username = Username::parse(self.username.trim()).map_err(|e| e.message)?;
        let password = Password::parse(&self.password).map_err(|e| e.message)?;
        Ok(Command::Login {
            server: ServerAddress {
                url: self.server.trim().to_owned(),
                fingerprint: self.fingerprint.trim().to_owned(),
            },
            username,
            password,
            register,
        })
    }
}

/// Saves the server, fingerprint and username (never the password) for the next start.
pub fn save(form: &LoginForm, path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    let text = format!(
        "{}\n{}\n{}\n",
        one_line(&form.server),
        one_line(&form.fingerprint),
        one_line(&form.username)
    );
    std::fs::write(path, text)
}

/// Draws the login screen.
pub fn show(app: &mut App, ui: &mut Ui) {
    let palette = Palette::of(ui);
    let busy = app.is_pending(Op::Login) || app.is_pending(Op::Register);
    ui.painter().rect_filled(ui.max_rect(), 0.0, palette.chat_bg);
    let card_width = 380.0_f32.min(ui.available_width() - 32.0);
    let top = ((ui.available_height() - 540.0) / 2.0).max(16.0);
    ui.add_space(top);
    ui.vertical_centered(|ui| {
        ui.set_max_width(card_width);
        egui::Frame::new()
            .fill(palette.sidebar)
            .corner_radius(16)
            .inner_margin(28)
            .shadow(egui::Shadow {
                offset: [0, 2],
                blur: 16,
                spread: 0,
                color: egui::Color32::from_black_alpha(30),
            })
            .show(ui, |ui| {
                ui.with_layout(Layout::top_down(Align::Min), |ui| form(app, ui, &palette, busy));
            });
    });
}

/// What the login screen says about the password and encrypted chats.
pub const PASSWORD_NOTE: &str = "Your password also locks the history of your encrypted chats on this computer. \
     If you forget it, that history is gone: nobody can recover it.";

fn form(app: &mut App, ui: &mut Ui, palette: &Palette, busy: bool) {
    ui.vertical_centered(|ui| {
        crate::widgets::paint_logo(ui, ui.cursor().center_top() + vec2(0.0, 32.0), 64.0);
        ui.add_space(72.0);
        ui.label(heading("Sign in to Chat"));
        ui.label(egui::RichText::new("Enter your server and account.").color(palette.muted));
    });
    ui.add_space(12.0);
    let mut submit = false;
    ui.add_enabled_ui(!busy, |ui| {
        let form = &mut app.login;
        labelled_field(ui, "Server", &mut form.server, false, "wss://host:8443/v2/ws");
        labelled_field(
            ui,
            "Certificate fingerprint or file",
            &mut form.fingerprint,
            false,
            "SHA-256 printed by the server, or cert.pem",
        );
        let username = labelled_field(ui, "Username", &mut form.username, false, "alice");
        let password = labelled_field(ui, "Password", &mut form.password, true, "8 to 72 characters");
        // Start where typing is needed: the username, or the password when remembered.
        let first = if app.login.username.is_empty() {
            username.id
        } else {
            password.id
        };
        app.settle_focus(ui, first);
        submit = password.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
    });
    ui.label(egui::RichText::new(PASSWORD_NOTE).color(palette.muted).size(12.0));
    ui.add_space(12.0);
    let size = vec2(ui.available_width() / 2.0 - 4.0, 34.0);
    let mut chosen = None;
    ui.horizontal(|ui| {
        let login = theme::primary_button("Log in", palette);
        if busy_button(ui, app.is_pending(Op::Login), !busy, login, size, "Logging in…") || submit {
            chosen = Some(false);
        }
        let register = egui::Button::new("Create account");
        if busy_button(
            ui,
            app.is_pending(Op::Register),
            !busy,
            register,
            size,
            "Creating account…",
        ) {
            chosen = Some(true);
        }
    });
    if let Some(register) = chosen
        && !busy
    {
        match app.login.command(register) {
            Ok(command) => app.request(command),
            Err(reason) => app.snackbar.push(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_explains_broken_rules_before_sending() {
        let mut form = LoginForm::new(ServerAddress {
            url: "wss://127.0.0.1:1/v2/ws".to_owned(),
            fingerprint: String::new(),
        });
        form.username = "al".to_owned();
        form.password = "password1".to_owned();
        assert!(form.command(false).unwrap_err().contains("3 to 32"));
        form.username = "alice".to_owned();
        form.password = "short".to_owned();
        assert!(form.command(false).unwrap_err().contains("at least 8"));
        form.password = "password1".to_owned();
        assert!(matches!(
            form.command(true),
            Ok(Command::Login { register: true, .. })
        ));
        form.server = "  ".to_owned();
        assert!(form.command(false).is_err());
    }

    #[test]
    fn the_form_is_remembered_without_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/login.txt");
        let form = LoginForm {
            server: "wss://chat.example:8443/v2/ws".to_owned(),
            fingerprint: "AB:CD".to_owned(),
            username: "alice".to_owned(),
            password: "secret-password".to_owned(),
        };
        save(&form, &path).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("secret"));
        let loaded = LoginForm::load(&path).unwrap();
        assert_eq!(loaded.server, form.server);
        assert_eq!(loaded.fingerprint, form.fingerprint);
        assert_eq!(loaded.username, "alice");
        assert!(loaded.password.is_empty());
        assert!(LoginForm::load(&dir.path().join("missing")).is_none());
    }
}
