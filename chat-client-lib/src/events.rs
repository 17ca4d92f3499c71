//! Events for the application: one hub that lives as long as the client, a stream of
//! everything, and streams filtered to one room.
//!
//! Every subscriber has its own unbounded queue, so a subscriber that reads slowly never makes
//! another one miss a message, and none is ever told "you lagged": the exactly-once promise
//! holds for each stream. The price is that a stream nobody reads keeps growing: drop
//! streams you no longer read.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use chat_proto::{ClientMsgId, Invitation, Message, RoomId, UserInfo};
use futures::Stream;
use tokio::sync::mpsc;

use crate::error::{ClientError, ConnectError, StoreError};
use crate::store::OutboxEntry;

/// Something that happened, as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A new item of a room's timeline: a message, or a notice of a change to the room
    /// ([`Message::notice`]: someone joined, left, was removed or banned, a role changed, the
    /// room was renamed). Per room, items arrive exactly once and in `seq` order, across
    /// reconnects (the client resumes every room and drops duplicates). A notice that this
    /// user left or was removed or banned is the last item of that room.
    Message(Message),
    /// A user who shares a room with this user came online or went offline.
    Presence {
        /// The user.
        user: UserInfo,
        /// Whether they are online now.
        online: bool,
    },
    /// Someone invited this user to a room: answer with
    /// [`Client::join_room`](crate::Client::join_room) or
    /// [`Client::decline_invitation`](crate::Client::decline_invitation).
    Invited(Invitation),
    /// Someone is typing in a room (show it for a few seconds).
    Typing {
        /// The room.
        room_id: RoomId,
        /// Who is typing.
        user: UserInfo,
    },
    /// The session ended on the server (revoked or expired): log in again with the password.
    SessionEnded {
        /// What the server said.
        reason: String,
    },
    /// The local store file was damaged or would not open with the accepted password; it
    /// was moved aside and a new one is being filled from the server.
    CacheSetAside {
        /// Where the damaged file now is.
        path: PathBuf,
    },
    /// The server stored a message of the outbox (it also arrives as
    /// [`ClientEvent::Message`], once).
    Sent {
        /// The id it was queued under.
        client_msg_id: ClientMsgId,
        /// The stored message, with its `seq`.
        message: Message,
    },
    /// The server refused a message of the outbox for good (not a member any more, body
    /// rejected, ...); it left the queue and the messages behind it go on.
    SendFailed {
        /// The message that was refused.
        entry: OutboxEntry,
        /// Why.
        error: ClientError,
    },
    /// A bounded [`ReconnectPolicy`](crate::ReconnectPolicy) ran out: the client stopped
    /// trying to reconnect until the application asks (any request, a send, or
    /// [`Client::reconnect`](crate::Client::reconnect)). Never sent with the default policy,
    /// which does not give up.
    ReconnectGaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        reason: ConnectError,
    },
    /// An item of an end-to-end encrypted room that this device cannot read, in its place
    /// among the room's messages: show a placeholder saying why, never a text.
    Undecryptable(crate::e2ee::Undecryptable),
    /// End-to-end encryption is not available on this device (it could not be loaded or
    /// registered): encrypted rooms cannot be read or written until the next login.
    EncryptionUnavailable {
        /// Why.
        error: ClientError,
    },
    /// A user who shares a room with this user (or this user) registered or removed a
    /// device: their safety number changed. This client's encrypted rooms follow by
    /// themselves; an application shows it (a verified contact's devices changed, a new
    /// login in the devices list).
    DevicesChanged {
        /// Whose devices changed.
        user: UserInfo,
    },
    /// Something in the local store could not be read (a damaged or tampered row); it is
    /// left in the file, never shown and never sent.
    StoreDamaged {
        /// What was found.
        error: StoreError,
    },
}

impl ClientEvent {
    /// The room the event belongs to, if it belongs to one.
    pub fn room_id(&self) -> Option<RoomId> {
        match self {
            ClientEvent::Message(m) | ClientEvent::Sent { message: m, .. } => Some(m.room_id),
            ClientEvent::SendFailed { entry, .. } => Some(entry.room_id),
            ClientEvent::Typing { room_id, .. } => Some(*room_id),
            ClientEvent::Undecryptable(item) => Some(item.room_id),
            _ => None,
        }
    }
}

struct Subscriber {
    room: Option<RoomId>,
    tx: mpsc::UnboundedSender<ClientEvent>,
}

/// Fans events out to subscribers. Owned by the client's shared state, so streams stay open
/// exactly as long as the client does.
#[derive(Default)]
pub(crate) struct EventHub {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl EventHub {
    /// A stream of every event (`room: None`) or of one room's events.
    pub fn subscribe(&self, room: Option<RoomId>) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.subscribers).push(Subscriber { room, tx });
        EventStream { rx }
    }

    /// Delivers an event to every interested subscriber and forgets dropped ones.
    pub fn publish(&self, event: ClientEvent) {
        let room = event.room_id();
        lock(&self.subscribers).retain(|s| {
            if s.room.is_some() && s.room != room {
                return !s.tx.is_closed();
            }
            s.tx.send(event.clone()).is_ok()
        });
    }
}

/// Locks a mutex, recovering from poisoning: the data behind these locks stays consistent
/// between statements, so a panic elsewhere must not take the client down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A stream of [`ClientEvent`]s from [`Client::events`](crate::Client::events) or
/// [`Client::room_events`](crate::Client::room_events). It ends only when the client is
/// dropped.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<ClientEvent>,
}

impl EventStream {
    /// Waits for the next event; `None` once the client is gone.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.rx.recv().await
    }

    /// The next event if one is already queued (for UI loops that poll once per frame).
    pub fn try_recv(&mut self) -> Option<ClientEvent> {
        self.rx.try_recv().ok()
    }
}

impl Stream for EventStream {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{UserId, Username};

    fn typing(room: u64) -> ClientEvent {
        ClientEvent::Typing {
            room_id: RoomId::new(room).unwrap(),
            user: UserInfo {
                id: UserId::new(1).unwrap(),
                username: Username::parse("alice").unwrap(),
            },
        }
    }

    #[tokio::test]
    async fn room_streams_see_only_their_room_and_the_main_stream_sees_all() {
        let hub = EventHub::default();
        let mut all = hub.subscribe(None);
        let mut one = hub.subscribe(Some(RoomId::new(1).unwrap()));
        hub.publish(typing(2));
        hub.publish(typing(1));
        hub.publish(ClientEvent::SessionEnded { reason: "x".into() });
        assert_eq!(all.recv().await, Some(typing(2)));
        assert_eq!(all.recv().await, Some(typing(1)));
        assert!(matches!(all.recv().await, Some(ClientEvent::SessionEnded { .. })));
        assert_eq!(one.recv().await, Some(typing(1)));
        assert_eq!(one.try_recv(), None);
    }

    #[tokio::test]
    async fn dropped_subscribers_are_forgotten_and_streams_end_with_the_hub() {
        let hub = EventHub::default();
        let dropped = hub.subscribe(None);
        let dropped_room = hub.subscribe(Some(RoomId::new(5).unwrap()));
        let mut kept = hub.subscribe(None);
        drop((dropped, dropped_room));
        hub.publish(typing(1));
        assert_eq!(lock(&hub.subscribers).len(), 1);
        assert_eq!(kept.recv().await, Some(typing(1)));
        drop(hub);
        assert_eq!(kept.recv().await, None);
    }
}
