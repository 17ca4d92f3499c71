//! The application: its state, the frame loop and the handling of backend updates. Views
//! live in their own modules and get `&mut App`.

use std::collections::HashSet;

use chat_client_lib::ClientEvent;
use chat_proto::{ClientMsgId, MessageBody, RoomId};
use egui::{Theme, Ui, UiBuilder};

use crate::backend::{Backend, BackendConfig, Command, Connection, Op, Outcome, ServerAddress, Update};
use crate::dialogs::Dialog;
use crate::format::{LocalOffset, now_ms};
use crate::login::LoginForm;
use crate::reasons::describe;
use crate::snackbar::Snackbar;
use crate::state::{Chats, PendingMessage};
use crate::{banner, chat_list, conversation, dialogs, login, members, snackbar, theme};

/// Frames in which a screen's first field asks for the keyboard focus.
const FOCUS_FRAMES: u8 = 3;

/// Settings of a window.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The backend's settings.
    pub backend: BackendConfig,
    /// The local time zone.
    pub offset: LocalOffset,
    /// The server address the login form starts with.
    pub server: ServerAddress,
    /// A forced theme; `None` follows the system.
    pub theme: Option<Theme>,
    /// Where to remember the login form (server, fingerprint, username; never the
    /// password) after a successful login; `None` remembers nothing.
    pub remember: Option<std::path::PathBuf>,
}

/// The desktop chat application.
pub struct App {
    config: AppConfig,
    backend: Option<Backend>,
    styled: bool,
    /// The login form.
    pub(crate) login: LoginForm,
    /// The signed-in user's chats; `None` shows the login screen.
    pub(crate) chats: Option<Chats>,
    /// Requests in flight, for spinners.
    pub(crate) pending: HashSet<Op>,
    /// The connection, for the banner.
    pub(crate) connection: Connection,
    /// Error messages.
    pub(crate) snackbar: Snackbar,
    /// The composer's text per room.
    pub(crate) drafts: std::collections::HashMap<RoomId, String>,
    /// When a typing notice was last sent (egui seconds), to send at most one per interval.
    pub(crate) last_typing_sent: f64,
    /// The open dialog.
    pub(crate) dialog: Option<Dialog>,
    /// Whether the members panel is open.
    pub(crate) show_members: bool,
    /// The read marker last sent per room, so that it is sent once per new message.
    pub(crate) read_sent: std::collections::HashMap<RoomId, chat_proto::Seq>,
    /// Showing the offline cache after a login the server could not answer; the form keeps
    /// the password so that "Try again" can log in for real.
    pub(crate) offline_login: bool,
    /// Frames left in which to move the keyboard focus to the screen's first field. More
    /// than one, because the click that opened a chat would otherwise take the focus away
    /// again as it ends.
    pub(crate) focus_pending: u8,
    /// Input that arrived in one frame after an Enter that sent a message, replayed at the
    /// start of the next frame so that it lands in the emptied composer, in order.
    pub(crate) replay_input: Vec<egui::Event>,
}

impl App {
    /// A window that starts on the login screen. The backend starts with the first frame.
    pub fn new(config: AppConfig) -> App {
        let saved = config.remember.as_deref().and_then(LoginForm::load);
        App {
            login: saved.unwrap_or_else(|| LoginForm::new(config.server.clone())),
            config,
            backend: None,
            styled: false,
            chats: None,
            pending: HashSet::new(),
            connection: Connection::Idle,
            snackbar: Snackbar::default(),
            drafts: Default::default(),
            last_typing_sent: f64::NEG_INFINITY,
            dialog: None,
            show_members: false,
            read_sent: Default::default(),
            offline_login: false,
            focus_pending: FOCUS_FRAMES,
            replay_input: Vec::new(),
        }
    }

    /// The local time zone the window shows times in.
    pub fn offset(&self) -> LocalOffset {
        self.config.offset
    }

    /// Draws one frame into `ui`, which should cover the window.
    pub fn ui(&mut self, ui: &mut Ui) {
        self.prepare(ui.ctx());
        self.replay_deferred_input(ui.ctx());
        for update in self.backend.as_ref().map(Backend::drain).unwrap_or_default() {
            self.apply(update, ui.ctx());
        }
        // Cover the whole window even when the host wraps `ui` in a margin.
        let screen = ui.ctx().content_rect();
        ui.scope_builder(UiBuilder::new().max_rect(screen), |ui| {
            ui.set_clip_rect(screen);
            let palette = theme::Palette::of(ui);
            ui.painter().rect_filled(screen, 0.0, palette.sidebar);
            if self.chats.is_some() {
                banner::show(self, ui);
                chat_list::show(self, ui);
                if self.show_members {
                    members::show(self, ui);
                }
                conversation::show(self, ui);
                dialogs::show(self, ui);
            } else {
                login::show(self, ui);
            }
            snackbar::show(&mut self.snackbar, ui);
        });
    }

    fn prepare(&mut self, ctx: &egui::Context) {
        if !self.styled {
            self.styled = true;
            theme::install(ctx);
            if let Some(theme) = self.config.theme {
                ctx.set_theme(theme);
            }
        }
        if self.backend.is_none() {
            match Backend::start(self.config.backend.clone(), ctx.clone()) {
                Ok(backend) => self.backend = Some(backend),
                Err(e) => self.snackbar.push(format!("Cannot start the network: {e}")),
            }
        }
    }

    /// Puts input held back from the previous frame in front of this frame's.
    fn replay_deferred_input(&mut self, ctx: &egui::Context) {
        if self.replay_input.is_empty() {
            return;
        }
        let mut events = std::mem::take(&mut self.replay_input);
        ctx.input_mut(|input| {
            events.append(&mut input.events);
            input.events = events;
        });
    }

    /// Sends a command and remembers it as in flight.
    pub(crate) fn request(&mut self, command: Command) {
        let op = command.op();
        if op != Op::Background {
            self.pending.insert(op);
        }
        match &self.backend {
            Some(backend) => backend.send(command),
            None => {
                self.pending.remove(&op);
                self.snackbar.push("The network is not running".to_owned());
            }
        }
    }

    /// Gives the keyboard focus to `id` while a screen change asks for it.
    pub(crate) fn settle_focus(&mut self, ui: &Ui, id: egui::Id) {
        if self.focus_pending == 0 {
            return;
        }
        if ui.memory(|m| m.has_focus(id)) {
            self.focus_pending = 0;
        } else {
            self.focus_pending -= 1;
            ui.memory_mut(|m| m.request_focus(id));
        }
    }

    /// Whether a request is in flight.
    pub(crate) fn is_pending(&self, op: Op) -> bool {
        self.pending.contains(&op)
    }

    /// Sends a message from the composer of `room`.
    pub(crate) fn send_message(&mut self, room: RoomId, body: MessageBody) {
        let client_msg_id = ClientMsgId::random();
        if let Some(chats) = &mut self.chats {
            chats.add_pending(
                room,
                PendingMessage {
                    client_msg_id,
                    body: body.clone(),
                    written_at: now_ms(),
                },
            );
        }
        // Not a request with a spinner: the outbox answers with events (sent, or refused).
        let command = Command::Send {
            room,
            client_msg_id,
            body,
        };
        match &self.backend {
            Some(backend) => backend.send(command),
            None => self.snackbar.push("The network is not running".to_owned()),
        }
    }

    /// Opens a chat: selects it and loads its newest page if not loaded yet.
    pub(crate) fn open_room(&mut self, room: RoomId) {
        let Some(chats) = &mut self.chats else { return };
        if chats.selected != Some(room) {
            self.focus_pending = FOCUS_FRAMES;
        }
        chats.select(room);
        let loaded = chats.conversations.get(&room).is_some_and(|c| c.loaded);
        if !loaded && !self.is_pending(Op::OpenRoom(room)) && self.connection == Connection::Online {
            self.request(Command::OpenRoom(room));
        }
    }

    fn apply(&mut self, update: Update, ctx: &egui::Context) {
        match update {
            Update::Done { op, result } => {
                self.pending.remove(&op);
                match result {
                    Ok(outcome) => self.on_outcome(op, outcome),
                    Err(reason) => self.on_failure(op, reason),
                }
            }
            Update::Event(ClientEvent::SessionEnded { reason }) => {
                self.reset();
                self.snackbar
                    .push(format!("Your session ended ({reason}); log in again"));
            }
            Update::Event(ClientEvent::Sent { message, .. }) => {
                if let Some(chats) = &mut self.chats {
                    chats.add_message(message);
                }
            }
            Update::Event(ClientEvent::SendFailed { entry, error }) => {
                self.on_failure(Op::Send(entry.client_msg_id), describe(&error));
            }
            Update::Event(ClientEvent::CacheSetAside { .. }) => self.snackbar.push(
                "The chats saved on this computer were damaged; they are being rebuilt from the server"
                    .to_owned(),
            ),
            Update::Event(event) => {
                let now = ctx.input(|i| i.time);
                let reload = self
                    .chats
                    .as_mut()
                    .is_some_and(|chats| chats.apply_event(event, now));
                if reload && !self.is_pending(Op::ListRooms) {
                    self.request(Command::ListRooms);
                }
            }
            Update::Connection(connection) => self.on_connection(connection),
        }
    }

    fn on_connection(&mut self, connection: Connection) {
        let came_back = connection == Connection::Online && self.connection != Connection::Online;
        let lost = self.connection == Connection::Online && connection != Connection::Online;
        self.connection = connection;
        if lost && let Some(chats) = &mut self.chats {
            chats.connection_lost();
        }
        if came_back && self.chats.is_some() {
            // Unread counts and new chats may have changed while away; messages themselves
            // are resumed by the client library.
            self.request(Command::ListRooms);
            if let Some(room) = self.chats.as_ref().and_then(|c| c.selected) {
                self.open_room(room);
            }
        }
    }

    fn on_outcome(&mut self, op: Op, outcome: Outcome) {
        match outcome {
            Outcome::LoggedIn {
                user,
                cached,
                offline,
                queued,
            } => {
                let selected = self.chats.as_ref().and_then(|c| c.selected);
                let mut chats = Chats::new(user, cached);
                chats.selected = selected;
                // What the outbox still holds from the last run shows as on its way.
                for entry in queued {
                    chats.add_pending(
                        entry.room_id,
                        PendingMessage {
                            client_msg_id: entry.client_msg_id,
                            body: entry.body,
                            written_at: entry.queued_at,
                        },
                    );
                }
                self.chats = Some(chats);
                self.offline_login = offline;
                if offline {
                    self.snackbar
                        .push("Offline: showing the chats saved on this computer".to_owned());
                } else {
                    self.login.password.clear();
                    self.remember_login();
                    self.request(Command::ListRooms);
                    if let Some(room) = selected {
                        self.open_room(room);
                    }
                }
            }
            Outcome::LoggedOut => self.reset(),
            Outcome::Rooms(rooms) => {
                if let Some(chats) = &mut self.chats {
                    chats.set_rooms(rooms);
                }
            }
            Outcome::History {
                room,
                messages,
                has_more,
                members,
            } => {
                let newest = matches!(op, Op::OpenRoom(_));
                if let Some(chats) = &mut self.chats {
                    chats.add_page(room, messages, has_more, newest);
                    if let Some(members) = members {
                        chats.conversations.entry(room).or_default().members = members;
                    }
                }
            }
            Outcome::Sent(message) => {
                if let Some(chats) = &mut self.chats {
                    chats.add_message(message);
                }
            }
            Outcome::Room(room) => {
                let id = room.id;
                if let Some(chats) = &mut self.chats {
                    chats.add_room(room);
                }
                if matches!(op, Op::CreateRoom | Op::JoinRoom | Op::OpenDirect) {
                    self.dialog = None;
                    self.open_room(id);
                    // The list entry carries what the room alone does not: the last
                    // message, unread count and the peer's online state.
                    if !self.is_pending(Op::ListRooms) {
                        self.request(Command::ListRooms);
                    }
                }
            }
            Outcome::Ok => {
                if let (Op::LeaveRoom(room), Some(chats)) = (op, &mut self.chats) {
                    chats.remove_room(room);
                }
            }
        }
    }

    fn on_failure(&mut self, op: Op, reason: String) {
        match op {
            Op::Send(id) => {
                // Give the text back so that nothing typed is lost.
                let body = self.chats.as_mut().and_then(|c| c.drop_pending(id));
                let room = self.chats.as_ref().and_then(|c| c.selected);
                if let (Some(body), Some(room)) = (body, room) {
                    let draft = self.drafts.entry(room).or_default();
                    if draft.trim().is_empty() {
                        *draft = body.into_string();
                    }
                }
                self.snackbar.push(format!("Message not sent: {reason}"));
            }
            Op::Logout => {
                // The session ends locally either way.
                self.reset();
                self.snackbar.push(format!("Logged out locally: {reason}"));
            }
            Op::Background => {}
            _ => self.snackbar.push(reason),
        }
    }

    fn reset(&mut self) {
        self.chats = None;
        self.dialog = None;
        self.drafts.clear();
        self.read_sent.clear();
        self.show_members = false;
        self.connection = Connection::Idle;
        self.offline_login = false;
        self.focus_pending = FOCUS_FRAMES;
    }

    /// Saves the login form (never the password) for the next start.
    fn remember_login(&self) {
        if let Some(path) = &self.config.remember
            && let Err(e) = crate::login::save(&self.login, path)
        {
            tracing::warn!(error = %e, path = %path.display(), "cannot remember the login form");
        }
    }
}

impl App {
    /// Saves the offline cache and closes the connection (bounded wait): call when the
    /// window closes.
    pub fn close(&mut self) {
        if let Some(backend) = &self.backend {
            backend.close(std::time::Duration::from_secs(3));
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        App::ui(self, ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.close();
    }
}
