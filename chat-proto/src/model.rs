//! The objects that requests, responses and events carry: users, rooms, messages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, MessageId, RoomId, Seq, UserId};
use crate::names::{MessageBody, SessionToken, Username};

/// Milliseconds since the Unix epoch, as measured by the server.
pub type TimestampMs = i64;

/// A user as other users see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserInfo {
    /// The user's id.
    pub id: UserId,
    /// The username, as registered.
    pub username: Username,
}

/// An authenticated session, returned by `register`, `login` and `resume_session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    /// The logged-in user.
    pub user: UserInfo,
    /// The token that `resume_session` takes; keep it secret.
    pub token: SessionToken,
    /// When the token stops working unless the session is resumed earlier.
    pub expires_at: TimestampMs,
}

/// Whether a room is a group room or a direct chat between two users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// A named room that anyone may join by id.
    Group,
    /// The one-to-one room of two users; nobody else can join.
    Direct,
}

/// A room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Room {
    /// The room's id.
    pub id: RoomId,
    /// Group or direct.
    pub kind: RoomKind,
    /// For a group room its name; for a direct chat the other user's username.
    pub name: String,
    /// For a direct chat, the other user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<UserInfo>,
    /// When the room was created.
    pub created_at: TimestampMs,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// The message id, unique across rooms.
    pub id: MessageId,
    /// The room it was sent to.
    pub room_id: RoomId,
    /// Its place in the room: strictly increasing, no gaps.
    pub seq: Seq,
    /// Who sent it.
    pub sender: UserInfo,
    /// The sender's idempotency key.
    pub client_msg_id: ClientMsgId,
    /// The text.
    pub body: MessageBody,
    /// When the server stored it.
    pub sent_at: TimestampMs,
}

/// A room in the caller's chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomSummary {
    /// The room.
    pub room: Room,
    /// The newest message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// How many messages arrived after the caller's read marker.
    pub unread: u64,
    /// The caller's read marker: the highest sequence number marked read (0 for none).
    pub last_read_seq: Seq,
    /// For a direct chat, whether the other user is online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_online: Option<bool>,
}

/// A member of a room with their online state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    /// The user.
    pub user: UserInfo,
    /// Whether they have at least one live connection.
    pub online: bool,
}

/// Limits a server states in its `hello` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerLimits {
    /// Largest frame in bytes.
    pub max_frame_bytes: u64,
    /// Largest message body in bytes.
    pub max_body_bytes: u64,
    /// Largest history or resume page.
    pub max_page_size: u32,
    /// Sustained requests per second allowed on one connection.
    pub requests_per_second: u32,
    /// Seconds a new connection has to authenticate.
    pub auth_timeout_secs: u64,
    /// Seconds of silence after which the server closes the connection.
    pub idle_timeout_secs: u64,
}
