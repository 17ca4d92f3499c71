//! The broker trait: how nodes tell each other about events, who is online, and the shared
//! counters of the login throttle.
//!
//! Every node has a local hub holding its own connections. A node
//! publishes an event once to the broker; the broker hands it to the [`EventSink`] of every
//! node (the publishing node included), and each node's hub delivers it to its local
//! connections. The embedded default, [`memory::MemoryBroker`], does this within one process;
//! a Redis adapter does it with pub/sub so that a message sent on node A reaches members on
//! node B.
//!
//! Events carry their payload already serialized ([`Payload`]): a node serializes an event
//! once and every subscriber gets the same `Arc<str>`. [`BrokerEvent::encode`] and
//! [`BrokerEvent::decode`] give the one wire form that adapters crossing a process boundary
//! use, so nodes of one deployment always agree on it.
//!
//! The broker holds no durable state: a message is in the store before it is published, and
//! delivery through the broker is best effort. What makes it complete is the gap filler of
//! every node (`service::gap_fill`): it compares, for each room with local subscribers, the
//! last `seq` the hub delivered with the store's, and delivers what is missing from the
//! store, so a stored item reaches every node's connections even when its event was lost (a
//! node died between storing and publishing, a node's Redis link or Redis itself was down).
//! When a broker knows it may have lost events (its link came back after an outage) it
//! calls [`EventSink::resync`]: the hub fills every room's gap at once and tells every
//! local connection to resume, which also brings back what is not in a room's timeline.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_proto::{RoomId, Seq, UserId};
use serde::{Deserialize, Serialize};

use crate::store::TokenHash;

pub mod memory;
pub mod redis;

/// A pre-serialized server frame (the JSON text of one WebSocket frame).
pub type Payload = Arc<str>;

/// The outcome of [`Broker::publish`] for the other nodes.
pub type Publishing =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BrokerError>> + Send + 'static>>;

/// Why a broker operation failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker cannot be reached right now; retrying later makes sense.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker was shut down.
    #[error("broker closed")]
    Closed,
    /// An event from another node could not be decoded.
    #[error("malformed broker event: {0}")]
    Malformed(String),
}

impl BrokerError {
    /// Whether the same operation may succeed if attempted again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }
}

/// A change of membership that rides along with a room event, so that every node can
/// (un)subscribe that user's local connections at the right moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", content = "user_id", rename_all = "snake_case")]
pub enum MembershipChange {
    /// The user became a member: subscribe their connections before delivering the payload
    /// (so they see it too).
    Joined(UserId),
    /// The user stopped being a member: deliver the payload first (so they see it), then
    /// unsubscribe their connections.
    Left(UserId),
}

impl MembershipChange {
    /// The user whose membership changed.
    pub fn user_id(self) -> UserId {
        match self {
            MembershipChange::Joined(id) | MembershipChange::Left(id) => id,
        }
    }
}

/// An event for the connections subscribed to one room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEvent {
    /// The room.
    pub room_id: RoomId,
    /// The frame to deliver.
    pub payload: Payload,
    /// A membership change to apply on every node along with the delivery.
    pub membership: Option<MembershipChange>,
    /// A user whose connections must not receive the payload (the typist of a typing event).
    pub skip_user: Option<UserId>,
    /// The item's place in the room's timeline, for a stored item (a message or a notice);
    /// `None` for an ephemeral event. Each node delivers a room's items once and in `seq`
    /// order, however many times and in whatever order they reach it.
    pub seq: Option<Seq>,
}

/// Something one node tells every node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerEvent {
    /// Deliver to every connection subscribed to a room.
    Room(RoomEvent),
    /// Deliver to every connection of these users (presence changes).
    Users {
        /// The recipients.
        user_ids: Arc<[UserId]>,
        /// The frame to deliver.
        payload: Payload,
    },
    /// A session was revoked: close the connections authenticated with it.
    SessionEnded {
        /// Whose session.
        user_id: UserId,
        /// Which session (the stored hash, never the token).
        token_hash: TokenHash,
    },
}

/// The receiving end of a node: the broker calls it for every event, from any node.
///
/// Neither method may block: the local hub only enqueues with `try_send`.
pub trait EventSink: Send + Sync + 'static {
    /// Delivers one event to this node's local connections.
    fn deliver(&self, event: BrokerEvent);

    /// The broker's link to the other nodes was down and is back: events meant for this
    /// node's connections may have been lost meanwhile, so the node fills every room's gap
    /// from the store now (rather than at its next check) and every local connection is told
    /// to resume its rooms (the `resync` event), which also brings back what is not in a
    /// room's timeline.
    ///
    /// This is a method rather than a [`BrokerEvent`] because it is a fact about this node's
    /// link, not something one node tells the others: it has no wire form and is never
    /// published. A broker that cannot lose events (the in-process one) never calls it.
    fn resync(&self);
}

/// A fixed-window failure counter's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FailureCount {
    /// Failures counted in the current window.
    pub count: u32,
    /// Time left until the window ends and the count falls to zero.
    pub retry_after: Duration,
}

/// Fan-out between nodes, presence, ephemeral events and shared counters.
///
/// Implementations are shared as `Arc<dyn Broker>` and called from many tasks at once.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Attaches this node's sink and starts receiving events (for Redis: the pub/sub
    /// subscription). Called once, before anything is published.
    async fn start(&self, sink: Arc<dyn EventSink>) -> Result<(), BrokerError>;

    /// Checks that the broker answers (for the health endpoint).
    async fn ping(&self) -> Result<(), BrokerError>;

    /// Publishes an event to every node, this one included. The event is taken during the
    /// call (delivered to this node's hub, queued for the others), so events published one
    /// after the other keep that order on every node; the future resolves once the broker
    /// has taken it for the other nodes. Delivery itself is best effort (clients resume
    /// what they miss).
    fn publish(&self, event: BrokerEvent) -> Publishing;

    /// Publishes an ephemeral event (typing) through a bounded in-memory queue without
    /// waiting. `false` when the queue was full and the event was dropped: losing it is fine.
    fn publish_ephemeral(&self, event: BrokerEvent) -> bool;

    /// Counts one more authenticated connection of `user` on this node. `true` when the user
    /// was offline everywhere before (they just came online).
    async fn connection_opened(&self, user: UserId) -> Result<bool, BrokerError>;

    /// Counts one authenticated connection of `user` on this node as closed. `true` when the
    /// user now has no connection on any node (they just went offline).
    async fn connection_closed(&self, user: UserId) -> Result<bool, BrokerError>;

    /// Whether each user has at least one connection on some node, in the order given.
    async fn online(&self, users: &[UserId]) -> Result<Vec<bool>, BrokerError>;

    /// Counts one failure under `key` in a fixed window of `window` that starts with the
    /// first failure; returns the count including this one.
    async fn count_failure(&self, key: &str, window: Duration) -> Result<FailureCount, BrokerError>;

    /// The failures counted under `key` in its current window (zero when none).
    async fn failure_count(&self, key: &str) -> Result<FailureCount, BrokerError>;

    /// Forgets the failures under `key`.
    async fn clear_failures(&self, key: &str) -> Result<(), BrokerError>;
}

/// The wire form of a [`BrokerEvent`] between processes (JSON).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Envelope {
    Room {
        room_id: u64,
        payload: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        membership: Option<MembershipChange>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        skip_user: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<Seq>,
    },
    Users {
        user_ids: Vec<u64>,
        payload: String,
    },
    SessionEnded {
        user_id: u64,
        token_hash: String,
    },
}

impl BrokerEvent {
    /// The event as bytes for a broker that crosses process boundaries.
    pub fn encode(&self) -> Vec<u8> {
        let envelope = match self {
            BrokerEvent::Room(e) => Envelope::Room {
                room_id: e.room_id.get(),
                payload: e.payload.to_string(),
                membership: e.membership,
                skip_user: e.skip_user.map(UserId::get),
                seq: e.seq,
            },
            BrokerEvent::Users { user_ids, payload } => Envelope::Users {
                user_ids: user_ids.iter().map(|u| u.get()).collect(),
                payload: payload.to_string(),
            },
            BrokerEvent::SessionEnded { user_id, token_hash } => Envelope::SessionEnded {
                user_id: user_id.get(),
                token_hash: hex::encode(token_hash),
            },
        };
        // Serializing plain structs of numbers and strings cannot fail.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }

    /// Decodes what [`BrokerEvent::encode`] produced (on any node).
    pub fn decode(bytes: &[u8]) -> Result<Self, BrokerError> {
        let malformed = |e: &dyn std::fmt::Display| BrokerError::Malformed(e.to_string());
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
        Ok(match envelope {
            Envelope::Room {
                room_id,
                payload,
                membership,
                skip_user,
                seq,
            } => BrokerEvent::Room(RoomEvent {
                room_id: RoomId::new(room_id).map_err(|e| malformed(&e))?,
                payload: payload.into(),
                membership,
                skip_user: skip_user
                    .map(UserId::new)
                    .transpose()
                    .map_err(|e| malformed(&e))?,
                seq,
            }),
            Envelope::Users { user_ids, payload } => BrokerEvent::Users {
                user_ids: user_ids
                    .into_iter()
                    .map(UserId::new)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| malformed(&e))?
                    .into(),
                payload: payload.into(),
            },
            Envelope::SessionEnded { user_id, token_hash } => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&token_hash, &mut hash).map_err(|e| malformed(&e))?;
                BrokerEvent::SessionEnded {
                    user_id: UserId::new(user_id).map_err(|e| malformed(&e))?,
                    token_hash: hash,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_their_wire_form() {
        let room = RoomId::new(7).unwrap();
        let user = UserId::new(3).unwrap();
        let events = [
            BrokerEvent::Room(RoomEvent {
                room_id: room,
                payload: "{\"kind\":\"event\"}".into(),
                membership: Some(MembershipChange::Joined(user)),
                skip_user: Some(user),
                seq: Some(42),
            }),
            BrokerEvent::Users {
                user_ids: vec![user, UserId::new(9).unwrap()].into(),
                payload: "x".into(),
            },
            BrokerEvent::SessionEnded {
                user_id: user,
                token_hash: [0xab; 32],
            },
        ];
        for event in events {
            assert_eq!(BrokerEvent::decode(&event.encode()).unwrap(), event);
        }
        assert!(BrokerEvent::decode(b"{\"kind\":\"room\",\"room_id\":0,\"payload\":\"\"}").is_err());
        assert!(BrokerEvent::decode(b"not json").is_err());
    }
}
