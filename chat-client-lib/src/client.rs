//! The [`Client`]: typed async requests, event and state streams.

use std::sync::Arc;

use chat_proto::{
    ClientMsgId, Member, Message, MessageBody, Request, Response, Room, RoomId, RoomName, RoomSummary, Seq,
    UserInfo, Username,
};
use tokio::time::Instant;

use crate::outbox::SendHandle;
use crate::store::{LocalStore, OutboxEntry};

use crate::cache::snapshot::OfflineSnapshot;
use crate::config::ClientConfig;
use crate::connection::ServerHello;
use crate::error::ClientError;
use crate::events::{EventStream, lock};
use crate::shared::Shared;
use crate::state::{ConnectionState, StateStream};

/// Where a page of history starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFrom {
    /// The newest messages.
    Latest,
    /// Messages just before this seq (scrolling back).
    Before(Seq),
    /// Messages just after this seq (scrolling forward).
    After(Seq),
}

/// One page of a room's messages, ascending by `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryPage {
    /// The room.
    pub room_id: RoomId,
    /// The messages.
    pub messages: Vec<Message>,
    /// Whether more exist beyond the page in the direction asked.
    pub has_more: bool,
    /// In an end-to-end encrypted room, the items of the page this device cannot read
    /// (by `seq`, with the reason): show a placeholder in their place.
    pub undecryptable: Vec<crate::e2ee::Undecryptable>,
}

/// A chat client. Cheap to clone; all clones share one connection, one session and one set of
/// streams. Dropping the last clone writes the offline cache and closes the connection.
///
/// Every method that talks to the server connects first if needed (connection is lazy) and
/// is bounded by [`ClientConfig::request_timeout`]. While the connection is being
/// re-established, requests wait for it within that timeout rather than failing at once; a
/// request that was already sent when the connection dropped fails at once with
/// [`ClientError::ConnectionLost`]. Must be created and used inside a tokio runtime; from a
/// non-async thread (a GUI), spawn the calls on the runtime's
/// [`Handle`](tokio::runtime::Handle).
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    _life: Arc<LifeGuard>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.shared.config.server_url)
            .field("user", &self.user().map(|u| u.username))
            .field("state", &self.current_state())
            .field("outbox", &self.shared.outbox.handles().len())
            .finish_non_exhaustive()
    }
}

/// Shuts the client down when the last [`Client`] clone is dropped.
struct LifeGuard {
    shared: Arc<Shared>,
}

impl Drop for LifeGuard {
    fn drop(&mut self) {
        if !self.shared.shutdown.is_cancelled() {
            crate::session::save_cache_now(&self.shared);
            self.shared.shutdown.cancel();
        }
    }
}

impl Client {
    /// A client for the configured server. Nothing happens on the network until the first
    /// request (typically [`Client::login`]).
    pub fn new(config: ClientConfig) -> Self {
        let shared = Shared::new(config);
        Self {
            _life: Arc::new(LifeGuard {
                shared: shared.clone(),
            }),
            shared,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// Every event, for as long as the client lives (across reconnects, logouts and logins).
    pub fn events(&self) -> EventStream {
        self.shared.hub.subscribe(None)
    }

    /// The events of one room only: its messages, joins, leaves and typing.
    pub fn room_events(&self, room: RoomId) -> EventStream {
        self.shared.hub.subscribe(Some(room))
    }

    /// The connection state as a stream (current state first).
    pub fn state(&self) -> StateStream {
        StateStream::new(self.shared.status.subscribe())
    }

    /// The connection state now.
    pub fn current_state(&self) -> ConnectionState {
        self.shared.state()
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<UserInfo> {
        self.shared.user()
    }

    /// What the server said when the current connection opened.
    pub fn server_hello(&self) -> Option<ServerHello> {
        self.shared.live_conn().map(|c| c.hello().clone())
    }

    /// The cached chat list: loaded at login (before the server answers) and kept current
    /// while logged in; after a failed login for lack of a connection, the read-only offline
    /// view. `None` when the cache is disabled or nothing was loaded.
    pub fn cached_snapshot(&self) -> Option<OfflineSnapshot> {
        lock(&self.shared.local).snapshot.clone()
    }

    /// Starts a new round of connection attempts now, with a fresh count (what any request
    /// does when the client gave up reconnecting). Returns once connected or failed.
    pub async fn reconnect(&self) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.shared.config.request_timeout;
        self.shared.connection(deadline, true).await.map(|_| ())
    }

    /// Checks that the server answers.
    pub async fn ping(&self) -> Result<(), ClientError> {
        expect(self.shared.call(Request::Ping).await?, "pong", |r| match r {
            Response::Pong => Some(()),
            _ => None,
        })
    }

    /// Sends one request and waits for its answer.
    pub(crate) async fn call(&self, request: Request) -> Result<Response, ClientError> {
        self.shared.call(request).await
    }

    /// The user's rooms, most recent activity first, with last message and unread count.
    pub async fn list_rooms(&self) -> Result<Vec<RoomSummary>, ClientError> {
        crate::session::refresh_rooms(&self.shared).await
    }

    /// Creates a private group room (only people it invites can join); the user becomes
    /// its owner. [`Client::create_room_with`] makes a public room or sets a topic.
    pub async fn create_room(&self, name: &str) -> Result<Room, ClientError> {
        self.create_room_with(crate::NewRoom::private(name)).await
    }

    /// Creates a group room with the given settings; the user becomes its owner.
    pub async fn create_room_with(&self, new: crate::NewRoom) -> Result<Room, ClientError> {
        let request = Request::CreateRoom {
            name: RoomName::parse(&new.name)?,
            visibility: new.visibility,
            topic: new
                .topic
                .as_deref()
                .map(chat_proto::RoomTopic::parse)
                .transpose()?,
            encrypted: new.encrypted,
        };
        let room = room_of(self.shared.call(request).await?)?;
        lock(&self.shared.rooms).track(room.id, 0);
        self.shared.with_snapshot(|s| s.add_room(room.clone()));
        self.note_encrypted(&room);
        Ok(room)
    }

    /// Joins a public room, or accepts the invitation to a private one (joining twice is not
    /// an error).
    pub async fn join_room(&self, room: RoomId) -> Result<Room, ClientError> {
        let room = room_of(self.shared.call(Request::JoinRoom { room_id: room }).await?)?;
        self.start_tracking(&room).await;
        Ok(room)
    }

    /// Gets or creates the direct chat with `username`.
    pub async fn open_direct(&self, username: &str) -> Result<Room, ClientError> {
        let username = Username::parse(username)?;
        let room = room_of(self.shared.call(Request::OpenDirect { username }).await?)?;
        self.start_tracking(&room).await;
        Ok(room)
    }

    /// Tracks a room that may already have messages: its newest seq is where live delivery
    /// starts (older messages are history).
    pub(crate) async fn start_tracking(&self, room: &Room) {
        self.shared.with_snapshot(|s| s.add_room(room.clone()));
        self.note_encrypted(room);
        if lock(&self.shared.rooms).position(room.id).is_some() {
            return;
        }
        match self.server_history(room.id, HistoryFrom::Latest, 1).await {
            Ok(page) => {
                let head = page.messages.last().map_or(0, |m| m.seq);
                lock(&self.shared.rooms).track(room.id, head);
            }
            // Without the head, tracking starts at the room's next live message.
            Err(e) => tracing::debug!(room = %room.id, error = %e, "cannot read the room's newest seq"),
        }
    }

    /// An encrypted room this device has no group for yet: create or wait for the group.
    fn note_encrypted(&self, room: &Room) {
        if room.encrypted {
            self.shared.e2ee.mark_encrypted(room.id);
            self.shared.e2ee.push(crate::e2ee::Input::Sync(room.id));
        }
    }

    /// Leaves a room.
    pub async fn leave_room(&self, room: RoomId) -> Result<(), ClientError> {
        expect_ok(self.shared.call(Request::LeaveRoom { room_id: room }).await?)?;
        lock(&self.shared.rooms).untrack(room);
        self.shared.with_snapshot(|s| s.remove_room(room));
        Ok(())
    }

    /// A room's members with their online state.
    pub async fn members(&self, room: RoomId) -> Result<Vec<Member>, ClientError> {
        crate::session::refresh_members(&self.shared, room).await
    }

    /// Sends a message through the outbox. The message gets its client message id and
    /// enters the outbox (on disk, with a local store) before this returns: nothing is
    /// awaited, so no `timeout` or `select!` around the handle can lose it or send it twice.
    /// The outbox delivers in order, across reconnects and (with a local store) restarts;
    /// the server stores each message once. Asking to send counts as a user action: a client
    /// that gave up reconnecting tries again at once.
    ///
    /// The returned [`SendHandle`] tells where the message stands; awaiting it gives the
    /// stored message (with its `seq`) or the reason it was refused for good. Events report
    /// the same ([`ClientEvent::Sent`](crate::ClientEvent::Sent),
    /// [`ClientEvent::SendFailed`](crate::ClientEvent::SendFailed)), and the message also
    /// arrives as a [`ClientEvent::Message`](crate::ClientEvent::Message), once.
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client, room: chat_proto::RoomId) -> Result<(), chat_client_lib::ClientError> {
    /// let stored = client.send(room, "hello, world").await?;
    /// println!("stored as #{}", stored.seq);
    /// # Ok(()) }
    /// ```
    pub fn send(&self, room: RoomId, body: &str) -> SendHandle {
        self.send_with_id(room, ClientMsgId::random(), body)
    }

    /// [`Client::send`] with the caller's client message id: for an application that shows
    /// the message before the outbox has it (its bubble keyed by the id). An id already in
    /// the outbox gets the queued entry's handle; an id the server already stored gets the
    /// stored message back.
    pub fn send_with_id(&self, room: RoomId, id: ClientMsgId, body: &str) -> SendHandle {
        let body = match MessageBody::parse(body) {
            Ok(body) => body,
            Err(e) => return SendHandle::failed(room, id, e.into()),
        };
        if !self.shared.has_session() {
            return SendHandle::failed(room, id, ClientError::NotLoggedIn);
        }
        let store = self.shared.store();
        let handle = self
            .shared
            .outbox
            .push(store.as_deref(), OutboxEntry::new(room, id, body));
        self.shared.user_action();
        handle
    }

    /// The messages waiting in the outbox, oldest first: after a restart, what the last
    /// run wrote and the server did not confirm (it is being sent).
    pub fn outbox(&self) -> Vec<SendHandle> {
        self.shared.outbox.handles()
    }

    /// The logged-in user's encrypted local store (for its key-value and history areas);
    /// `None` when no store directory is configured or nobody is logged in.
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// if let Some(store) = client.store() {
    ///     store.put("my-app", b"theme", b"dark")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn store(&self) -> Option<std::sync::Arc<LocalStore>> {
        self.shared.store()
    }

    /// Starts a room's delivery just after `after_seq`: every later message arrives as a
    /// [`ClientEvent::Message`](crate::ClientEvent::Message), in order, then the live ones.
    /// A bot that saved the last `seq` it handled calls this right after logging in, before
    /// reading events, and catches up with what it missed while it was away. A room that
    /// already delivered messages in this run only moves forward, so nothing is ever
    /// delivered twice.
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client, room: chat_proto::RoomId) -> Result<(), chat_client_lib::ClientError> {
    /// let mut events = client.room_events(room);
    /// client.login("echo-bot", "bot password").await?;
    /// client.start_room_at(room, 41); // handled up to #41 before the restart
    /// while let Some(chat_client_lib::ClientEvent::Message(m)) = events.recv().await {
    ///     assert!(m.seq > 41);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn start_room_at(&self, room: RoomId, after_seq: Seq) {
        self.shared.start_room_at(room, after_seq);
    }

    /// One page of a room's history, `limit` 1 to 200.
    ///
    /// In an end-to-end encrypted room the page holds the decrypted messages and notices
    /// (commits are left out), and [`HistoryPage::undecryptable`] the items this device
    /// cannot read; newer items the device had not processed yet are processed first.
    /// Texts come from the local store (the server only has ciphertext, and the keys of
    /// past epochs are gone), so scrolling back works after the group moved on; without a
    /// connection, the page comes from the local store alone.
    pub async fn history(
        &self,
        room: RoomId,
        from: HistoryFrom,
        limit: u32,
    ) -> Result<HistoryPage, ClientError> {
        if !self.shared.e2ee.is_encrypted(room) {
            return self.server_history(room, from, limit).await;
        }
        match self.server_history(room, from, limit).await {
            Ok(page) => {
                let page = crate::e2ee::decrypt_page(&self.shared, page).await;
                self.record_page(&page);
                Ok(page)
            }
            Err(e @ (ClientError::Connect(_) | ClientError::Timeout(_) | ClientError::ConnectionLost)) => {
                let before = match from {
                    HistoryFrom::Before(seq) => Some(seq),
                    _ => None,
                };
                let shared = self.shared.clone();
                let messages = tokio::task::spawn_blocking(move || {
                    crate::e2ee::decrypted_before(&shared, room, before, limit as usize)
                })
                .await
                .map_err(|_| e.clone())??;
                if messages.is_empty() {
                    return Err(e);
                }
                Ok(HistoryPage {
                    room_id: room,
                    has_more: true,
                    messages,
                    undecryptable: Vec::new(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// One page of a room's items exactly as the server stores them: in an end-to-end
    /// encrypted room, MLS ciphertext (`mls` and `mls_commit` items). For tools and tests;
    /// applications read [`Client::history`].
    pub async fn server_history(
        &self,
        room: RoomId,
        from: HistoryFrom,
        limit: u32,
    ) -> Result<HistoryPage, ClientError> {
        let (before_seq, after_seq) = match from {
            HistoryFrom::Latest => (None, None),
            HistoryFrom::Before(seq) => (Some(seq), None),
            HistoryFrom::After(seq) => (None, Some(seq)),
        };
        let request = Request::History {
            room_id: room,
            before_seq,
            after_seq,
            limit,
        };
        let page = expect(self.shared.call(request).await?, "messages", |r| match r {
            Response::Messages {
                room_id,
                messages,
                has_more,
            } => Some(HistoryPage {
                room_id,
                messages,
                has_more,
                undecryptable: Vec::new(),
            }),
            _ => None,
        })?;
        if !self.shared.e2ee.is_encrypted(room) {
            self.record_page(&page);
        }
        Ok(page)
    }

    /// This device's view of an end-to-end encrypted room's group: its epoch and devices.
    /// `None` for a room this device has no group for (not encrypted, or not joined yet:
    /// its Welcome has not come).
    pub fn room_encryption(&self, room: RoomId) -> Option<crate::e2ee::RoomEncryption> {
        self.shared
            .e2ee
            .with_machine(|m| {
                Some(crate::e2ee::RoomEncryption {
                    epoch: m.epoch(room)?,
                    devices: m.group_devices(room).ok()?,
                })
            })
            .flatten()
    }

    /// This device's end-to-end encryption identity: its id on the server (once
    /// registered) and its fingerprint, for people to compare. `None` before login.
    pub fn device(&self) -> Option<(Option<chat_proto::DeviceId>, String)> {
        self.shared
            .e2ee
            .with_machine(|m| (m.device_id(), m.fingerprint()))
    }

    /// A user's devices (this user's, or someone's who shares a room with them), each
    /// with its fingerprint.
    pub async fn devices(&self, user: chat_proto::UserId) -> Result<Vec<chat_proto::Device>, ClientError> {
        expect(
            self.shared.call(Request::ListDevices { user_id: user }).await?,
            "devices",
            |r| match r {
                Response::Devices { devices, .. } => Some(devices),
                _ => None,
            },
        )
    }

    /// The safety number of this user and `other` (see [`crate::e2ee::safety_number`]),
    /// from both users' current devices as the server lists them: compare it with the
    /// other person over a channel you trust.
    pub async fn safety_number(&self, other: chat_proto::UserId) -> Result<String, ClientError> {
        let me = self.user().ok_or(ClientError::NotLoggedIn)?.id;
        let keys = |devices: Vec<chat_proto::Device>| -> Vec<Vec<u8>> {
            devices
                .into_iter()
                .map(|d| d.signature_key.into_bytes())
                .collect()
        };
        let mine = keys(self.devices(me).await?);
        let theirs = keys(self.devices(other).await?);
        Ok(crate::e2ee::safety_number(me, &mine, other, &theirs))
    }

    /// Sends one protocol request as it is and returns the server's answer, on this
    /// client's connection (and so as its end-to-end encryption device): for requests
    /// this library has no method for, and for tools. Nothing else happens: a message sent
    /// this way bypasses the outbox.
    pub async fn send_request(&self, request: Request) -> Result<Response, ClientError> {
        self.shared.call(request).await
    }

    /// Keeps a page's newest messages in the offline snapshot.
    fn record_page(&self, page: &HistoryPage) {
        let keep = self.shared.config.cache.messages_per_room;
        self.shared
            .with_snapshot(|s| s.record_messages(page.room_id, &page.messages, keep));
    }

    /// Marks a room read up to `seq`.
    pub async fn mark_read(&self, room: RoomId, seq: Seq) -> Result<(), ClientError> {
        expect_ok(self.shared.call(Request::MarkRead { room_id: room, seq }).await?)?;
        self.shared.with_snapshot(|s| s.mark_read(room, seq));
        Ok(())
    }

    /// Tells the room's other members that the user is typing.
    pub async fn typing(&self, room: RoomId) -> Result<(), ClientError> {
        expect_ok(self.shared.call(Request::Typing { room_id: room }).await?)
    }
}

/// Takes the expected result out of a response, or reports a server bug.
pub(crate) fn expect<T>(
    response: Response,
    expected: &'static str,
    pick: impl FnOnce(Response) -> Option<T>,
) -> Result<T, ClientError> {
    pick(response).ok_or(ClientError::UnexpectedResponse { expected })
}

pub(crate) fn expect_ok(response: Response) -> Result<(), ClientError> {
    expect(response, "ok", |r| matches!(r, Response::Ok).then_some(()))
}

pub(crate) fn room_of(response: Response) -> Result<Room, ClientError> {
    expect(response, "room", |r| match r {
        Response::Room { room } => Some(room),
        _ => None,
    })
}
