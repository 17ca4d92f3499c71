//! The outbox: every message the user writes goes here first, with its client message id,
//! before anything is awaited; one task delivers the queue in order, across reconnects and
//! (with a local store) restarts. The id is fixed when the message is written, so however
//! often an entry is sent, the server stores it once.
//!
//! An entry leaves the queue when the server stored it ([`SendState::Sent`], with its
//! `seq`) or refused it for good ([`SendState::Failed`]: not a member any more, body
//! rejected, ...); a refusal does not hold up the entries behind it. While the connection
//! is down, or the server answers "try later", the queue waits; it never drops an entry on
//! its own.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_proto::{ClientMsgId, ErrorCode, Message, Response, RoomId};
use tokio::sync::{Notify, watch};

use crate::connection::Conn;
use crate::e2ee::Prepared;
use crate::error::ClientError;
use crate::events::{ClientEvent, lock};
use crate::shared::Shared;
use crate::store::{LocalStore, OutboxEntry};

/// Pause after a retryable server error without a `retry_after_ms`, doubled on each repeat.
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// Pause after a lost connection or a timeout, before waiting for the next connection.
const LOST_PAUSE: Duration = Duration::from_millis(50);
/// Pause while an encrypted room cannot take the entry yet (no group, a commit pending).
const ENCRYPTION_WAIT: Duration = Duration::from_millis(100);
/// How many request timeouts an entry may wait for its encrypted room before it fails.
const ENCRYPTION_WAIT_TIMEOUTS: u32 = 3;

/// Where a message of the outbox stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendState {
    /// Waiting in the outbox (stored on disk with a local store).
    Queued,
    /// The server stored it; here it is with its `seq`.
    Sent(Message),
    /// The server refused it for good, or it was given up (see the error).
    Failed(ClientError),
}

/// Follows one message of the outbox. Awaiting it waits until the message was stored or
/// refused; dropping it, or cancelling the wait (a `timeout`, a `select!`), changes nothing
/// about the message, which stays in the outbox until the server has it.
///
/// ```no_run
/// # async fn demo(client: chat_client_lib::Client, room: chat_proto::RoomId) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use chat_client_lib::SendState;
///
/// let handle = client.send(room, "see you at ten");   // queued now, nothing awaited
/// println!("queued as {}", handle.client_msg_id());
/// match tokio::time::timeout(Duration::from_secs(5), handle.clone()).await {
///     Ok(Ok(message)) => println!("stored as #{}", message.seq),
///     Ok(Err(e)) => println!("refused: {e}"),
///     Err(_) => assert_eq!(handle.state(), SendState::Queued), // still on its way
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SendHandle {
    client_msg_id: ClientMsgId,
    room_id: RoomId,
    entry: Option<OutboxEntry>,
    state: watch::Receiver<SendState>,
}

impl SendHandle {
    pub(crate) fn failed(room_id: RoomId, client_msg_id: ClientMsgId, error: ClientError) -> Self {
        let (_, state) = watch::channel(SendState::Failed(error));
        Self {
            client_msg_id,
            room_id,
            entry: None,
            state,
        }
    }

    /// A handle for a message that could not be queued, failed with `error` (for an
    /// application that reports every send through handles, even without a client).
    pub fn from_error(room_id: RoomId, client_msg_id: ClientMsgId, error: ClientError) -> Self {
        Self::failed(room_id, client_msg_id, error)
    }

    /// The queued message (room, id, text, when written); `None` for a message refused
    /// before it entered the outbox (invalid text, not logged in).
    pub fn entry(&self) -> Option<&OutboxEntry> {
        self.entry.as_ref()
    }

    /// The message's client message id.
    pub fn client_msg_id(&self) -> ClientMsgId {
        self.client_msg_id
    }

    /// The room it goes to.
    pub fn room_id(&self) -> RoomId {
        self.room_id
    }

    /// Where the message stands now.
    pub fn state(&self) -> SendState {
        self.state.borrow().clone()
    }

    /// Waits until the message was stored (its `seq` is known) or refused for good. With
    /// a local store, a message still queued when the user logs out or the client shuts
    /// down stays in the store and goes out at the next login: the wait then ends with
    /// [`ClientError::StillQueued`].
    pub async fn outcome(mut self) -> Result<Message, ClientError> {
        loop {
            match &*self.state.borrow_and_update() {
                SendState::Sent(message) => return Ok(message.clone()),
                SendState::Failed(error) => return Err(error.clone()),
                SendState::Queued => {}
            }
            if self.state.changed().await.is_err() {
                return match &*self.state.borrow() {
                    SendState::Sent(message) => Ok(message.clone()),
                    SendState::Failed(error) => Err(error.clone()),
                    SendState::Queued => Err(ClientError::StillQueued),
                };
            }
        }
    }
}

impl IntoFuture for SendHandle {
    type Output = Result<Message, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.outcome())
    }
}

struct Queued {
    entry: OutboxEntry,
    state: watch::Sender<SendState>,
}

impl Queued {
    fn handle(&self) -> SendHandle {
        SendHandle {
            client_msg_id: self.entry.client_msg_id,
            room_id: self.entry.room_id,
            entry: Some(self.entry.clone()),
            state: self.state.subscribe(),
        }
    }
}

/// The queue in memory, mirrored in the local store when there is one.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Queued>>,
    /// Woken when an entry is queued or a session begins.
    pub wake: Notify,
}

impl Outbox {
    /// Queues `entry` (on disk first when `store` is given) and returns its handle. An id
    /// already queued gets the handle of the queued entry; nothing is added.
    pub fn push(&self, store: Option<&LocalStore>, entry: OutboxEntry) -> SendHandle {
        let (room, id) = (entry.room_id, entry.client_msg_id);
        let mut queue = lock(&self.queue);
        if let Some(queued) = queue.iter().find(|q| q.entry.client_msg_id == id) {
            return queued.handle();
        }
        // Under the queue lock, so that the file and the memory agree on the order.
        if let Some(store) = store
            && let Err(e) = store.outbox_push(&entry)
        {
            return SendHandle::failed(room, id, ClientError::Store(e));
        }
        let queued = Queued {
            entry,
            state: watch::channel(SendState::Queued).0,
        };
        let handle = queued.handle();
        queue.push_back(queued);
        drop(queue);
        self.wake.notify_one();
        handle
    }

    /// Replaces the queue with what a store holds (at login), keeping the handles of
    /// entries already followed. Entries in memory that the store does not hold (queued for
    /// another user, or without a store) fail with `reason`.
    pub fn load(&self, entries: Vec<OutboxEntry>, reason: ClientError) {
        let mut queue = lock(&self.queue);
        let mut old = std::mem::take(&mut *queue);
        for entry in entries {
            let kept = old
                .iter()
                .position(|q| q.entry.client_msg_id == entry.client_msg_id)
                .and_then(|at| old.remove(at));
            queue.push_back(kept.unwrap_or_else(|| Queued {
                entry,
                state: watch::channel(SendState::Queued).0,
            }));
        }
        drop(queue);
        for stale in old {
            stale.state.send_replace(SendState::Failed(reason.clone()));
        }
        self.wake.notify_one();
    }

    /// Empties the queue in memory: with `fail`, each entry fails with it; without, the
    /// handles end with [`ClientError::StillQueued`] (the entries stay in the store).
    pub fn clear(&self, fail: Option<ClientError>) {
        let old = std::mem::take(&mut *lock(&self.queue));
        if let Some(error) = fail {
            for queued in old {
                queued.state.send_replace(SendState::Failed(error.clone()));
            }
        }
    }

    /// Handles of every queued entry, in order.
    pub fn handles(&self) -> Vec<SendHandle> {
        lock(&self.queue).iter().map(Queued::handle).collect()
    }

    fn front(&self) -> Option<OutboxEntry> {
        lock(&self.queue).front().map(|q| q.entry.clone())
    }

    /// Takes the entry out of the queue and tells its handles.
    fn finish(&self, id: ClientMsgId, state: SendState) {
        let mut queue = lock(&self.queue);
        if let Some(at) = queue.iter().position(|q| q.entry.client_msg_id == id)
            && let Some(queued) = queue.remove(at)
        {
            queued.state.send_replace(state);
        }
    }
}

/// Delivers the outbox, in order, for as long as the client lives.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut retry = RETRY_MIN;
    // The entry the encrypted room holds up, and since when.
    let mut held: Option<(ClientMsgId, tokio::time::Instant)> = None;
    loop {
        let (entry, conn) = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            ready = next_to_send(&shared) => ready,
        };
        // The one place where an entry becomes a request on the wire: in an encrypted room
        // it is encrypted here, at each sending, for the group's epoch of the moment.
        let request = match crate::e2ee::prepare(&shared, &entry, &conn) {
            Prepared::Send(request) => request,
            Prepared::Wait => {
                let since = match held {
                    Some((id, since)) if id == entry.client_msg_id => since,
                    _ => held.insert((entry.client_msg_id, tokio::time::Instant::now())).1,
                };
                // An encrypted room this device cannot write in yet (no member's device has
                // added it) must not hold up every other message for ever.
                if since.elapsed() > shared.config.request_timeout * ENCRYPTION_WAIT_TIMEOUTS {
                    held = None;
                    refused(
                        &shared,
                        &entry,
                        ClientError::Encryption(
                            "this device cannot write in the room yet: it is added to the room's \
                             encryption group when another member's device is online"
                                .into(),
                        ),
                    );
                    continue;
                }
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(ENCRYPTION_WAIT) => {}
                }
                continue;
            }
            Prepared::Refuse(error) => {
                refused(&shared, &entry, error);
                continue;
            }
        };
        let answer = conn.request(request, shared.config.request_timeout).await;
        let pause = match answer {
            Ok(Response::Message { message }) => {
                retry = RETRY_MIN;
                delivered(&shared, &entry, message);
                continue;
            }
            Ok(_) => {
                refused(
                    &shared,
                    &entry,
                    ClientError::UnexpectedResponse { expected: "message" },
                );
                continue;
            }
            Err(ClientError::Server(body)) if body.code == ErrorCode::StaleEpoch => {
                // The group moved on: process its newer items, then encrypt again.
                let (done, caught_up) = tokio::sync::oneshot::channel();
                shared.e2ee.push(crate::e2ee::Input::CatchUp(entry.room_id, done));
                let _ = tokio::time::timeout(shared.config.request_timeout, caught_up).await;
                continue;
            }
            Err(ClientError::Server(body)) if body.code == ErrorCode::RoomEncrypted => {
                // Learned only now that the room is encrypted: encrypt and send again.
                shared.e2ee.mark_encrypted(entry.room_id);
                continue;
            }
            Err(ClientError::Server(body)) if body.code == ErrorCode::NoDevice => {
                // The device is not in use on this connection yet.
                ENCRYPTION_WAIT
            }
            Err(ClientError::Server(body)) if refused_for_good(body.code, body.retryable) => {
                refused(&shared, &entry, ClientError::Server(body));
                continue;
            }
            Err(ClientError::Server(body)) => {
                let pause = body.retry_after_ms.map_or(retry, Duration::from_millis);
                retry = (retry * 2).min(RETRY_MAX);
                tracing::debug!(error = %body, "outbox: the server asks to retry later");
                pause
            }
            // Lost connection or timeout: wait for the next connection, then send the same
            // entry again; its id makes that harmless.
            Err(e) => {
                tracing::debug!(error = %e, "outbox: sending again once connected");
                LOST_PAUSE
            }
        };
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Whether a server error ends an entry. Session errors do not: the entry waits for the
/// next session.
fn refused_for_good(code: ErrorCode, retryable: bool) -> bool {
    !retryable && !matches!(code, ErrorCode::Unauthenticated | ErrorCode::InvalidSession)
}

/// Waits until there is an entry, a session and a live connection.
async fn next_to_send(shared: &Shared) -> (OutboxEntry, Arc<Conn>) {
    let mut status = shared.status.subscribe();
    loop {
        if let Some(entry) = shared.outbox.front()
            && shared.has_session()
        {
            if let Some(conn) = shared.live_conn() {
                return (entry, conn);
            }
            tokio::select! {
                _ = status.changed() => {}
                _ = shared.outbox.wake.notified() => {}
            }
        } else {
            shared.outbox.wake.notified().await;
        }
    }
}

fn delivered(shared: &Shared, entry: &OutboxEntry, message: Message) {
    forget(shared, entry);
    let shown = crate::e2ee::sent_view(entry, &message);
    shared
        .outbox
        .finish(entry.client_msg_id, SendState::Sent(shown.clone()));
    shared.hub.publish(ClientEvent::Sent {
        client_msg_id: entry.client_msg_id,
        message: shown,
    });
    // Our own message comes back as an event too; the sequencer shows it once.
    shared.offer(vec![message]);
}

fn refused(shared: &Shared, entry: &OutboxEntry, error: ClientError) {
    tracing::info!(%error, room = %entry.room_id, "outbox: message refused for good");
    forget(shared, entry);
    shared
        .outbox
        .finish(entry.client_msg_id, SendState::Failed(error.clone()));
    shared.hub.publish(ClientEvent::SendFailed {
        entry: entry.clone(),
        error,
    });
}

/// Removes a finished entry from the store.
fn forget(shared: &Shared, entry: &OutboxEntry) {
    if let Some(store) = shared.store()
        && let Err(error) = store.outbox_remove(entry.client_msg_id)
    {
        // It would be sent again at the next start, which its id makes harmless.
        tracing::warn!(%error, "outbox: cannot remove a finished entry from the store");
    }
}
