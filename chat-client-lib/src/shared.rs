//! The state every part of a client shares: configuration, connection state, the live
//! connection, the session, per-room ordering, the event hub, the outbox and the local store.

use std::sync::{Arc, Mutex, Weak};

use chat_proto::{Event, Message, Notice, Request, Response, Role, RoomId, SessionInfo, UserInfo};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::snapshot::OfflineSnapshot;
use crate::config::ClientConfig;
use crate::connection::{Conn, EventSink};
use crate::error::ClientError;
use crate::events::{ClientEvent, EventHub, lock};
use crate::outbox::Outbox;
use crate::sequencer::Sequencer;
use crate::state::{ConnectionState, Status};
use crate::store::LocalStore;
use crate::supervisor::{self, Command};

/// What the client keeps locally for the logged-in user.
#[derive(Default)]
pub(crate) struct Local {
    /// The user's store; `None` when no directory is configured or nobody is logged in.
    pub store: Option<Arc<LocalStore>>,
    /// The current chat list (loaded from the store, then kept current).
    pub snapshot: Option<OfflineSnapshot>,
    /// Whether the snapshot is complete enough to replace the stored one: it came from the
    /// store, or a full refresh from the server finished. A logout right after login then
    /// never overwrites a good snapshot with a nearly empty one.
    pub worth_saving: bool,
}

pub(crate) struct Shared {
    pub config: ClientConfig,
    pub status: watch::Sender<Status>,
    /// The connection, present exactly while the state is `Connected`.
    pub conn: Mutex<Option<Arc<Conn>>>,
    pub session: Mutex<Option<SessionInfo>>,
    pub rooms: Mutex<Sequencer>,
    pub hub: EventHub,
    pub local: Mutex<Local>,
    pub outbox: Outbox,
    pub commands: mpsc::UnboundedSender<Command>,
    command_rx: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
    pub shutdown: CancellationToken,
    /// Woken when a room has messages waiting behind a gap.
    pub gap: Notify,
    /// Woken when the server says it may have failed to deliver events (`resync`): every
    /// room is resumed, as after a reconnect.
    pub resync: Notify,
    /// End-to-end encryption: the device and the work on encrypted rooms.
    pub e2ee: crate::e2ee::E2ee,
}

impl Shared {
    pub fn new(config: ClientConfig) -> Arc<Self> {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (status, _) = watch::channel(Status {
            state: ConnectionState::Disconnected,
            round: 0,
        });
        Arc::new(Self {
            config,
            status,
            conn: Mutex::new(None),
            session: Mutex::new(None),
            rooms: Mutex::new(Sequencer::default()),
            hub: EventHub::default(),
            local: Mutex::new(Local::default()),
            outbox: Outbox::default(),
            commands,
            command_rx: Mutex::new(Some(command_rx)),
            shutdown: CancellationToken::new(),
            gap: Notify::new(),
            resync: Notify::new(),
            e2ee: crate::e2ee::E2ee::default(),
        })
    }

    // ----- connection state -----

    pub fn state(&self) -> ConnectionState {
        self.status.borrow().state.clone()
    }

    /// Publishes a state within the current round.
    pub fn set_state(&self, state: ConnectionState) {
        self.status.send_modify(|s| s.state = state);
    }

    /// Publishes the first state of a new round of connection attempts.
    pub fn new_round(&self, state: ConnectionState) {
        self.status.send_modify(|s| {
            s.state = state;
            s.round += 1;
        });
    }

    /// Makes `conn` the live connection, then says so.
    pub fn install(&self, conn: Arc<Conn>) {
        *lock(&self.conn) = Some(conn);
        self.set_state(ConnectionState::Connected);
    }

    pub fn uninstall(&self) {
        lock(&self.conn).take();
    }

    pub fn live_conn(&self) -> Option<Arc<Conn>> {
        lock(&self.conn).clone().filter(|c| !c.is_closed())
    }

    pub fn has_session(&self) -> bool {
        lock(&self.session).is_some()
    }

    pub fn user(&self) -> Option<UserInfo> {
        lock(&self.session).as_ref().map(|s| s.user.clone())
    }

    /// The user's local store, if open.
    pub fn store(&self) -> Option<Arc<LocalStore>> {
        lock(&self.local).store.clone()
    }

    /// Starts the supervisor and outbox tasks on first use, on the caller's runtime (a
    /// caller outside any runtime starts nothing; login, which needs one, starts them).
    pub fn ensure_supervisor(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if let Some(rx) = lock(&self.command_rx).take() {
            tokio::spawn(supervisor::run(self.clone(), rx));
            tokio::spawn(crate::outbox::run(self.clone()));
            tokio::spawn(crate::e2ee::run(self.clone()));
        }
    }

    /// Something the user did needs the server: connect now if not connected, starting a
    /// fresh round of attempts (also after a bounded policy gave up).
    pub fn user_action(self: &Arc<Self>) {
        if self.live_conn().is_none() {
            self.ensure_supervisor();
            let _ = self.commands.send(Command::Connect);
        }
    }

    /// A working connection, made or waited for until `deadline`. Asking counts as a user
    /// action: it starts a new round of attempts when none is running or the last one gave up.
    /// `for_auth` lets login and register connect without a session.
    pub async fn connection(
        self: &Arc<Self>,
        deadline: Instant,
        for_auth: bool,
    ) -> Result<Arc<Conn>, ClientError> {
        let mut rx = self.status.subscribe();
        let mut asked_in_round: Option<u64> = None;
        loop {
            if self.shutdown.is_cancelled() {
                return Err(ClientError::Shutdown);
            }
            if let Some(conn) = self.live_conn() {
                return Ok(conn);
            }
            if !for_auth && !self.has_session() {
                return Err(ClientError::NotLoggedIn);
            }
            let status = rx.borrow_and_update().clone();
            match (&status.state, asked_in_round) {
                (ConnectionState::Failed { reason, .. }, Some(round)) if status.round > round => {
                    return Err(ClientError::Connect(reason.clone()));
                }
                (ConnectionState::Connected, _) => {}
                (_, None) => {
                    self.ensure_supervisor();
                    let _ = self.commands.send(Command::Connect);
                    asked_in_round = Some(status.round);
                }
                _ => {}
            }
            let wait = self.config.request_timeout;
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(ClientError::Shutdown) },
                _ = tokio::time::sleep_until(deadline) => return Err(ClientError::Timeout(wait)),
                _ = self.shutdown.cancelled() => return Err(ClientError::Shutdown),
            }
        }
    }

    /// Sends one request, connecting or waiting for the connection first, all within the
    /// request timeout.
    pub async fn call(self: &Arc<Self>, request: Request) -> Result<Response, ClientError> {
        let timeout = self.config.request_timeout;
        self.call_until(request, Instant::now() + timeout).await
    }

    pub async fn call_until(
        self: &Arc<Self>,
        request: Request,
        deadline: Instant,
    ) -> Result<Response, ClientError> {
        let for_auth = matches!(
            request,
            Request::Login { .. } | Request::Register { .. } | Request::Ping
        );
        let conn = self.connection(deadline, for_auth).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        conn.request(request, left).await.map_err(|e| match e {
            ClientError::Timeout(_) => ClientError::Timeout(self.config.request_timeout),
            e => e,
        })
    }

    // ----- events -----

    /// The sink a new connection hands its events to.
    pub fn event_sink(self: &Arc<Self>) -> EventSink {
        let weak: Weak<Shared> = Arc::downgrade(self);
        Arc::new(move |event| {
            if let Some(shared) = weak.upgrade() {
                shared.on_event(event);
            }
        })
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::Message { message } => self.offer(vec![message]),
            Event::Presence { user, online } => {
                self.with_snapshot(|s| s.presence(&user, online));
                self.hub.publish(ClientEvent::Presence { user, online });
            }
            Event::Invited { invitation } => self.hub.publish(ClientEvent::Invited(invitation)),
            Event::Typing { room_id, user } => self.hub.publish(ClientEvent::Typing { room_id, user }),
            Event::Welcome { welcome } => self.e2ee.push(crate::e2ee::Input::Welcome(welcome)),
            Event::KeyPackagesLow { device_id, .. } if self.e2ee.device_id() == Some(device_id) => {
                self.e2ee.push(crate::e2ee::Input::KeyPackagesLow)
            }
            Event::DevicesChanged { user } => {
                // Until the groups follow, nothing is encrypted for a device that may be gone.
                let rooms = self.e2ee.encrypted_rooms();
                lock(&self.e2ee.out_of_step).extend(rooms);
                self.e2ee.push(crate::e2ee::Input::SyncAll);
                self.hub.publish(ClientEvent::DevicesChanged { user });
            }
            // Not shown to the application: what was missed arrives as messages.
            Event::Resync => self.resync.notify_one(),
            // `hello` only opens a connection; newer event types are ignored.
            _ => {}
        }
    }

    /// Passes messages through the per-room sequencer and publishes what became
    /// deliverable, in order. Publishing under the sequencer lock keeps the order across the
    /// reader task and the resume path.
    pub fn offer(&self, messages: Vec<Message>) {
        let (delivered, shown, gaps) = {
            let mut rooms = lock(&self.rooms);
            let mut delivered = Vec::new();
            for message in messages {
                delivered.extend(rooms.offer(message));
            }
            let shown = self.publish_delivered(&delivered);
            (delivered, shown, !rooms.gaps().is_empty())
        };
        self.record(&shown);
        // Live and resumed items only (in seq order): an old notice read from history
        // says nothing about the room now.
        for message in &delivered {
            if let Some(notice) = message.notice() {
                self.apply_notice(message.room_id, notice);
            }
        }
        if gaps {
            self.gap.notify_one();
        }
    }

    /// Delivers whatever waits behind a gap the server has confirmed to be empty.
    pub fn close_gap(&self, room: RoomId) {
        let delivered = {
            let mut rooms = lock(&self.rooms);
            let delivered = rooms.resume_complete(room);
            self.publish_delivered(&delivered)
        };
        self.record(&delivered);
    }

    /// Publishes what the sequencer delivered, in order: items of encrypted rooms go to
    /// the encryption worker (which publishes them decrypted, in the same order); the
    /// others are published now and returned. Called under the sequencer lock, so the
    /// order holds across the tasks that deliver.
    fn publish_delivered(&self, delivered: &[Message]) -> Vec<Message> {
        let mut shown = Vec::with_capacity(delivered.len());
        for message in delivered {
            if self.e2ee.routes(message) {
                self.e2ee.push(crate::e2ee::Input::Item(message.clone()));
            } else {
                self.hub.publish(ClientEvent::Message(message.clone()));
                shown.push(message.clone());
            }
        }
        shown
    }

    /// Records messages in the offline cache.
    pub fn record(&self, messages: &[Message]) {
        if messages.is_empty() {
            return;
        }
        let keep = self.config.cache.messages_per_room;
        self.with_snapshot(|s| {
            for message in messages {
                s.record_messages(message.room_id, std::slice::from_ref(message), keep);
            }
        });
    }

    /// Keeps the cached members, roles and room settings in step with a notice; a notice
    /// that this user is gone from the room stops tracking it.
    fn apply_notice(&self, room: RoomId, notice: &Notice) {
        let me = self.user().map(|u| u.id);
        match notice {
            Notice::Joined { user } => {
                self.with_snapshot(|s| s.member_changed(room, user, Some(Role::Member)))
            }
            Notice::Left { user } | Notice::Removed { user } | Notice::Banned { user } => {
                if Some(user.id) == me {
                    lock(&self.rooms).untrack(room);
                    self.with_snapshot(|s| s.remove_room(room));
                } else {
                    self.with_snapshot(|s| s.member_changed(room, user, None));
                }
            }
            Notice::RoleChanged { user, role } => {
                self.with_snapshot(|s| s.member_changed(room, user, Some(*role)))
            }
            Notice::RoomUpdated { name, topic } => {
                self.with_snapshot(|s| s.room_updated(room, name.as_ref(), topic.as_ref()))
            }
            _ => {}
        }
    }

    /// Runs `f` on the cached snapshot, if there is one.
    pub fn with_snapshot(&self, f: impl FnOnce(&mut OfflineSnapshot)) {
        if let Some(snapshot) = lock(&self.local).snapshot.as_mut() {
            f(snapshot);
        }
    }

    /// Makes `after` the room's position and asks the supervisor to resume the room.
    pub fn start_room_at(&self, room: RoomId, after: chat_proto::Seq) {
        let delivered = {
            let mut rooms = lock(&self.rooms);
            let delivered = rooms.start_at(room, after);
            self.publish_delivered(&delivered)
        };
        self.record(&delivered);
        self.resync.notify_one();
    }

    /// The session ended on the server: forget it, tell the application, stop reconnecting.
    pub fn session_ended(&self, reason: String) {
        lock(&self.session).take();
        self.hub.publish(ClientEvent::SessionEnded {
            reason: reason.clone(),
        });
        self.set_state(ConnectionState::Failed {
            reason: crate::error::ConnectError::SessionRejected(reason),
            attempts: 0,
        });
    }
}
