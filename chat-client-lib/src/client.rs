//! The [`Client`]: typed async requests, event and state streams.

use std::sync::Arc;

use chat_proto::{
    ClientMsgId, Member, Message, MessageBody, Request, Response, Room, RoomId, RoomName, RoomSummary, Seq,
    UserInfo, Username,
};
use tokio::time::Instant;

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
pub struct HistoryPage {
    /// The room.
    pub room_id: RoomId,
    /// The messages.
    pub messages: Vec<Message>,
    /// Whether more exist beyond the page in the direction asked.
    pub has_more: bool,
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
        lock(&self.shared.cache).snapshot.clone()
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
        };
        let room = room_of(self.shared.call(request).await?)?;
        lock(&self.shared.rooms).track(room.id, 0);
        self.shared.with_snapshot(|s| s.add_room(room.clone()));
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
        if lock(&self.shared.rooms).position(room.id).is_some() {
            return;
        }
        match self.history(room.id, HistoryFrom::Latest, 1).await {
            Ok(page) => {
                let head = page.messages.last().map_or(0, |m| m.seq);
                lock(&self.shared.rooms).track(room.id, head);
            }
            // Without the head, tracking starts at the room's next live message.
            Err(e) => tracing::debug!(room = %room.id, error = %e, "cannot read the room's newest seq"),
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

    /// Sends a message. A client message id is chosen once and reused on every retry, so the
    /// message is stored once however often it is retried: on a lost connection, a timeout or
    /// a retryable server error (`rate_limited`, `unavailable`, ...), `send` waits and retries
    /// for up to [`ClientConfig::send_retry_window`]. The message also arrives as an event.
    pub async fn send(&self, room: RoomId, body: &str) -> Result<Message, ClientError> {
        let body = MessageBody::parse(body)?;
        let id = ClientMsgId::random();
        let window = self.shared.config.send_retry_window;
        let give_up = Instant::now() + window.max(self.shared.config.request_timeout);
        loop {
            let attempt_end = give_up.min(Instant::now() + self.shared.config.request_timeout);
            let error = match self.send_until(room, id, body.clone(), attempt_end).await {
                Ok(message) => return Ok(message),
                Err(e) if e.is_retryable() && Instant::now() < give_up => e,
                Err(e) => return Err(e),
            };
            let pause = match &error {
                ClientError::Server(body) => body.retry_after_ms.unwrap_or(200),
                _ => 50,
            };
            tracing::debug!(%error, "send failed; retrying with the same client message id");
            tokio::time::sleep_until(give_up.min(Instant::now() + std::time::Duration::from_millis(pause)))
                .await;
        }
    }

    /// Sends a message once with the caller's client message id (for applications that keep
    /// their own outbox). Sending the same id again returns the message stored the first time.
    pub async fn send_with_id(
        &self,
        room: RoomId,
        id: ClientMsgId,
        body: &str,
    ) -> Result<Message, ClientError> {
        let body = MessageBody::parse(body)?;
        let deadline = Instant::now() + self.shared.config.request_timeout;
        self.send_until(room, id, body, deadline).await
    }

    async fn send_until(
        &self,
        room: RoomId,
        client_msg_id: ClientMsgId,
        body: MessageBody,
        deadline: Instant,
    ) -> Result<Message, ClientError> {
        let request = Request::SendMessage {
            room_id: room,
            client_msg_id,
            body,
        };
        let message = expect(
            self.shared.call_until(request, deadline).await?,
            "message",
            |r| match r {
                Response::Message { message } => Some(message),
                _ => None,
            },
        )?;
        // Our own message comes back as an event too; the sequencer shows it once.
        self.shared.offer(vec![message.clone()]);
        Ok(message)
    }

    /// One page of a room's history, `limit` 1 to 200.
    pub async fn history(
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
            }),
            _ => None,
        })?;
        let keep = self.shared.config.cache.messages_per_room;
        self.shared
            .with_snapshot(|s| s.record_messages(room, &page.messages, keep));
        Ok(page)
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
