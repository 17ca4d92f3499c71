//! The objects that requests, responses and events carry: users, rooms, messages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::e2ee::Base64Bytes;
use crate::ids::{ClientMsgId, DeviceId, MessageId, RoomId, Seq, UserId};
use crate::names::{MessageBody, RoomTopic, SessionToken, Username};
use crate::rooms::{Notice, Role, Visibility};

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
    /// A named room of any number of members, private or public.
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
    /// Who may find and join it (direct chats are private).
    pub visibility: Visibility,
    /// Whether it is end-to-end encrypted (messages are MLS ciphertext the server cannot
    /// read), fixed at creation.
    pub encrypted: bool,
    /// The room's topic, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<RoomTopic>,
    /// How many members it has.
    pub member_count: u64,
    /// When the room was created.
    pub created_at: TimestampMs,
}

/// What a timeline item holds, tagged by `kind`: a text message, or a notice of a change
/// to the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// `text`: a message, readable by the server (public rooms).
    Text {
        /// The text.
        body: MessageBody,
    },
    /// `notice`: a change to the room made by the item's sender (membership, roles, name).
    Notice {
        /// What changed.
        notice: Notice,
    },
    /// `mls`: an end-to-end encrypted message (an MLS application message) the server
    /// cannot read.
    Mls {
        /// The MLS message.
        mls: Base64Bytes,
    },
    /// `mls_commit`: a change of an encrypted room's keys (an MLS commit: devices added or
    /// removed, keys refreshed). Members process it in `seq` order.
    MlsCommit {
        /// The MLS message.
        mls: Base64Bytes,
    },
}

/// An item of a room's timeline: a message someone sent, or a notice of a change to the
/// room. Every item has its place (`seq`) in the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// The message id, unique across rooms.
    pub id: MessageId,
    /// The room it was sent to.
    pub room_id: RoomId,
    /// Its place in the room: strictly increasing, no gaps.
    pub seq: Seq,
    /// Who sent it (for a notice: who made the change).
    pub sender: UserInfo,
    /// The sender's idempotency key (for a notice: chosen by the server).
    pub client_msg_id: ClientMsgId,
    /// When the server stored it.
    pub sent_at: TimestampMs,
    /// For an MLS item, the device that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// What it holds, with its `kind`.
    #[serde(flatten)]
    pub content: Content,
}

impl Message {
    /// The text of a text message; `None` for a notice.
    pub fn text(&self) -> Option<&MessageBody> {
        match &self.content {
            Content::Text { body } => Some(body),
            _ => None,
        }
    }

    /// The MLS bytes of an encrypted message or commit.
    pub fn mls(&self) -> Option<&Base64Bytes> {
        match &self.content {
            Content::Mls { mls } | Content::MlsCommit { mls } => Some(mls),
            _ => None,
        }
    }

    /// The notice, when the item is one.
    pub fn notice(&self) -> Option<&Notice> {
        match &self.content {
            Content::Notice { notice } => Some(notice),
            _ => None,
        }
    }

    /// An upper bound on the bytes of this item's JSON, cheap to compute: what a server adds
    /// up to keep a page within [`crate::MAX_PAGE_BYTES`].
    pub fn json_size_bound(&self) -> usize {
        // Ids, seq, sender, timestamps and keys: usernames and ids are short and never escaped.
        const FIXED: usize = 512;
        // A notice names at most two users and a room name or a topic (512 bytes), each byte
        // escaped at worst as `\u00XX`.
        const NOTICE: usize = 4096;
        FIXED
            + match &self.content {
                Content::Text { body } => escaped_len(body.as_str()),
                Content::Notice { .. } => NOTICE,
                Content::Mls { mls } | Content::MlsCommit { mls } => mls.as_bytes().len().div_ceil(3) * 4,
            }
    }
}

/// The length of `text` as a JSON string body: control characters, quotes and backslashes
/// take up to six bytes each.
fn escaped_len(text: &str) -> usize {
    text.len()
        + text
            .bytes()
            .filter(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
            .count()
            * 5
}

/// A room in the caller's chat list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoomSummary {
    /// The room.
    pub room: Room,
    /// The newest message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// How many messages arrived after the caller's read marker (notices are not counted).
    pub unread: u64,
    /// The caller's read marker: the highest sequence number marked read (0 for none).
    pub last_read_seq: Seq,
    /// For a direct chat, whether the other user is online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_online: Option<bool>,
    /// The caller's role in the room.
    pub role: Role,
}

/// A member of a room with their online state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    /// The user.
    pub user: UserInfo,
    /// Their role in the room.
    pub role: Role,
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
