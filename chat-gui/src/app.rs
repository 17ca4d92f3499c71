//! The application: its state, the frame loop and the handling of backend updates. Views
//! live in their own modules and get `&mut App`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use chat_proto::{Ban, ClientMsgId, Invitation, MessageBody, RoomId, Seq};
use egui::{Theme, Ui, UiBuilder};

use crate::backend::{Backend, BackendConfig, Command, Connection, Op, ServerAddress};
use crate::dialogs::Dialog;
use crate::format::{LocalOffset, now_ms};
use crate::layout::Layout;
use crate::login::LoginForm;
use crate::notify::Notifier;
use crate::snackbar::Snackbar;
use crate::state::{Chats, PendingMessage};
use crate::{banner, chat_list, conversation, dialogs, keys, login, prefs, room_info, snackbar, theme};

/// Frames in which a screen's first field asks for the keyboard focus.
const FOCUS_FRAMES: u8 = 3;
/// Frames in which an opened chat keeps its first unread message in view, while the page
/// that arrived is laid out (heights settle over a few frames).
const SCROLL_TO_UNREAD_FRAMES: u8 = 8;

/// Settings of a window.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// The backend's settings.
    pub backend: BackendConfig,
    /// The local time zone.
    pub offset: LocalOffset,
    /// The server address the login form starts with.
    pub server: ServerAddress,
    /// A forced theme; `None` uses the remembered one, else follows the system.
    pub theme: Option<Theme>,
    /// Where to remember the login form (server, fingerprint, username; never the
    /// password) after a successful login; `None` remembers nothing.
    pub remember: Option<PathBuf>,
    /// Where to remember preferences (the theme); `None` remembers nothing.
    pub prefs: Option<PathBuf>,
    /// Shows desktop notifications.
    pub notifier: Arc<dyn Notifier>,
}

/// The desktop chat application.
pub struct App {
    pub(crate) config: AppConfig,
    pub(crate) backend: Option<Backend>,
    styled: bool,
    /// Whether the saved session was tried (once, at start).
    resume_tried: bool,
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
    pub(crate) drafts: HashMap<RoomId, String>,
    /// When a typing notice was last sent (egui seconds), to send at most one per interval.
    pub(crate) last_typing_sent: f64,
    /// The open dialog.
    pub(crate) dialog: Option<Dialog>,
    /// Whether the room info panel (members, settings) is open.
    pub(crate) show_info: bool,
    /// The read marker last sent per room, so that it is sent once per new message.
    pub(crate) read_sent: HashMap<RoomId, Seq>,
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
    /// Invitations waiting for this user's answer.
    pub(crate) invitations: Vec<Invitation>,
    /// Bans of rooms whose info panel loaded them.
    pub(crate) bans: HashMap<RoomId, Vec<Ban>>,
    /// The first unread message of each chat as it was when the chat was opened: the
    /// divider sits above it and the chat opens there.
    pub(crate) unread_from: HashMap<RoomId, Seq>,
    /// Chats that should scroll to their first unread message (set when opened), with the
    /// frames left to keep doing so while the page's layout settles.
    pub(crate) scroll_to_unread: HashMap<RoomId, u8>,
    /// Chats that should scroll to their newest message (after sending, or the button).
    pub(crate) scroll_to_bottom: HashSet<RoomId>,
    /// The search in the open chat (Ctrl+F), if open.
    pub(crate) search: Option<String>,
    /// The window title last sent, so that it is sent only when it changes.
    title: String,
    /// How the window is laid out this frame.
    pub(crate) layout: Layout,
    /// The contacts this user verified (loaded at login).
    pub(crate) verified: crate::verified::Verified,
    /// Verified contacts whose devices are not the ones verified: their chats warn.
    pub(crate) device_warnings: HashSet<chat_proto::UserId>,
}

impl App {
    /// A window that starts on the login screen, or picks up the saved session. The backend
    /// starts with the first frame.
    pub fn new(config: AppConfig) -> App {
        let saved = config.remember.as_deref().and_then(LoginForm::load);
        App {
            login: saved.unwrap_or_else(|| LoginForm::new(config.server.clone())),
            config,
            backend: None,
            styled: false,
            resume_tried: false,
            chats: None,
            pending: HashSet::new(),
            connection: Connection::Idle,
            snackbar: Snackbar::default(),
            drafts: Default::default(),
            last_typing_sent: f64::NEG_INFINITY,
            dialog: None,
            show_info: false,
            read_sent: Default::default(),
            offline_login: false,
            focus_pending: FOCUS_FRAMES,
            replay_input: Vec::new(),
            invitations: Vec::new(),
            bans: HashMap::new(),
            unread_from: HashMap::new(),
            scroll_to_unread: HashMap::new(),
            scroll_to_bottom: HashSet::new(),
            search: None,
            title: String::new(),
            layout: Layout::default(),
            verified: Default::default(),
            device_warnings: HashSet::new(),
        }
    }

    /// The local time zone the window shows times in.
    pub fn offset(&self) -> LocalOffset {
        self.config.offset
    }

    /// The window's title: the app's name and, when there are unread messages, how many.
    pub fn window_title(&self) -> String {
        let unread: u64 = self
            .chats
            .as_ref()
            .map_or(0, |c| c.list.iter().map(|s| s.unread).sum());
        if unread > 0 {
            format!("Chat ({unread})")
        } else {
            "Chat".to_owned()
        }
    }

    /// Draws one frame into `ui`, which should cover the window.
    pub fn ui(&mut self, ui: &mut Ui) {
        self.prepare(ui.ctx());
        self.replay_deferred_input(ui.ctx());
        for update in self.backend.as_ref().map(Backend::drain).unwrap_or_default() {
            self.apply(update, ui.ctx());
        }
        self.update_title(ui.ctx());
        // Cover the whole window even when the host wraps `ui` in a margin.
        let screen = ui.ctx().content_rect();
        self.layout = Layout::for_width(screen.width(), self.show_info);
        ui.scope_builder(UiBuilder::new().max_rect(screen), |ui| {
            ui.set_clip_rect(screen);
            let palette = theme::Palette::of(ui);
            ui.painter().rect_filled(screen, 0.0, palette.sidebar);
            if self.chats.is_some() {
                keys::handle(self, ui);
                banner::show(self, ui);
                let selected = self.chats.as_ref().and_then(|c| c.selected).is_some();
                let list = !self.layout.one_column || !selected;
                let chat = !self.layout.one_column || selected;
                if list {
                    chat_list::show(self, ui, !chat);
                }
                if chat {
                    if self.show_info && !self.layout.info_overlay {
                        room_info::show(self, ui, false);
                    }
                    conversation::show(self, ui);
                    if self.show_info && self.layout.info_overlay {
                        room_info::show(self, ui, true);
                    }
                }
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
            crate::fonts::install(ctx);
            let remembered = self.config.prefs.as_deref().and_then(prefs::load_theme);
            if let Some(theme) = self.config.theme.or(remembered) {
                ctx.set_theme(theme);
            }
        }
        if self.backend.is_none() {
            match Backend::start(self.config.backend.clone(), ctx.clone()) {
                Ok(backend) => self.backend = Some(backend),
                Err(e) => self.snackbar.push(format!("Cannot start the network: {e}")),
            }
        }
        if !self.resume_tried && self.backend.is_some() {
            self.resume_tried = true;
            self.try_saved_session();
        }
    }

    /// Picks up the session kept from the last run, if the form remembers an account.
    fn try_saved_session(&mut self) {
        let Ok(username) = chat_proto::Username::parse(self.login.username.trim()) else {
            return;
        };
        if self.login.server.trim().is_empty() {
            return;
        }
        self.request(Command::Resume {
            server: self.login.address(),
            username,
        });
    }

    /// Switches the theme and remembers the choice.
    pub(crate) fn set_theme(&mut self, ctx: &egui::Context, theme: Theme) {
        ctx.set_theme(theme);
        if let Some(path) = &self.config.prefs
            && let Err(e) = prefs::save_theme(path, theme)
        {
            tracing::warn!(error = %e, "cannot remember the theme");
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let title = self.window_title();
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
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

    /// Sends a message from the composer of `room`, and shows the newest messages.
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
        self.scroll_to_bottom.insert(room);
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

    /// Opens a chat: selects it, remembers where its unread messages start, and loads its
    /// newest page if not loaded yet.
    pub(crate) fn open_room(&mut self, room: RoomId) {
        let Some(chats) = &mut self.chats else { return };
        if chats.selected != Some(room) {
            self.focus_pending = FOCUS_FRAMES;
            self.search = None;
            match chats.summary(room).filter(|s| s.unread > 0) {
                Some(summary) => {
                    self.unread_from.insert(room, summary.last_read_seq + 1);
                    self.scroll_to_unread.insert(room, SCROLL_TO_UNREAD_FRAMES);
                }
                None => {
                    self.unread_from.remove(&room);
                    self.scroll_to_bottom.insert(room);
                }
            }
        }
        chats.select(room);
        let peer = chats
            .summary(room)
            .and_then(|s| s.room.peer.clone())
            .filter(|_| self.connection == Connection::Online);
        crate::safety::check_peer(self, peer);
        let Some(chats) = &mut self.chats else { return };
        let loaded = chats.conversations.get(&room).is_some_and(|c| c.loaded);
        if !loaded && !self.is_pending(Op::OpenRoom(room)) && self.connection == Connection::Online {
            self.request(Command::OpenRoom(room));
        }
    }

    /// Closes the open chat (the narrow layout's way back to the list).
    pub(crate) fn close_room(&mut self) {
        if let Some(chats) = &mut self.chats {
            chats.selected = None;
        }
        self.show_info = false;
        self.search = None;
    }

    /// Forgets the session's state: back to the login screen.
    pub(crate) fn reset(&mut self) {
        self.chats = None;
        self.dialog = None;
        self.drafts.clear();
        self.read_sent.clear();
        self.invitations.clear();
        self.bans.clear();
        self.unread_from.clear();
        self.show_info = false;
        self.search = None;
        self.connection = Connection::Idle;
        self.offline_login = false;
        self.verified = Default::default();
        self.device_warnings.clear();
        // Whatever the session was, the password does not stay on screen after it.
        self.login.password.clear();
        self.focus_pending = FOCUS_FRAMES;
    }

    /// Saves the login form (never the password) for the next start.
    pub(crate) fn remember_login(&self) {
        if let Some(path) = &self.config.remember
            && let Err(e) = crate::login::save(&self.login, path)
        {
            tracing::warn!(error = %e, path = %path.display(), "cannot remember the login form");
        }
    }
}

impl App {
    /// Saves the offline cache and closes the connection (bounded wait): call when the
    /// window closes. The saved session stays for the next start.
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
