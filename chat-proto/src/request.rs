//! Requests a client sends. Each variant's doc names its wire `type` and the response.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, RequestId, RoomId, Seq};
use crate::names::{MessageBody, Password, RoomName, SessionToken, Username};

/// A request as it appears on the wire: a client-chosen `id` and the typed request, whose
/// fields sit beside `id` and `type` in one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFrame {
    /// Correlates the response with this request.
    pub id: RequestId,
    /// The request, tagged by `type`.
    #[serde(flatten)]
    pub request: Request,
}

/// Every request of protocol version 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// `register`: create an account and log in. Response: `session`.
    Register {
        /// The new account's username.
        username: Username,
        /// Its password.
        password: Password,
    },
    /// `login`: authenticate this connection. Response: `session`.
    Login {
        /// The username (any case).
        username: Username,
        /// The password.
        password: Password,
    },
    /// `resume_session`: authenticate this connection with a token from an earlier login,
    /// without the password. Response: `session`, with the same token.
    ResumeSession {
        /// The session token.
        token: SessionToken,
    },
    /// `logout`: revoke this connection's session token. Response: `ok`.
    Logout,
    /// `create_room`: create a group room; the caller becomes its first member.
    /// Response: `room`.
    CreateRoom {
        /// The room's name.
        name: RoomName,
    },
    /// `list_rooms`: the caller's rooms with last message and unread count.
    /// Response: `rooms`.
    ListRooms,
    /// `join_room`: become a member of a group room. Joining twice is not an error.
    /// Response: `room`.
    JoinRoom {
        /// The room to join.
        room_id: RoomId,
    },
    /// `leave_room`: stop being a member. Response: `ok`.
    LeaveRoom {
        /// The room to leave.
        room_id: RoomId,
    },
    /// `list_members`: a room's members with their online state. Response: `members`.
    ListMembers {
        /// The room.
        room_id: RoomId,
    },
    /// `open_direct`: get or create the direct chat with another user. Response: `room`.
    OpenDirect {
        /// The other user's username (any case).
        username: Username,
    },
    /// `send_message`: store a message and deliver it to the room's members.
    /// Response: `message`. Sending the same `client_msg_id` again returns the message
    /// stored the first time and stores nothing.
    SendMessage {
        /// The room.
        room_id: RoomId,
        /// The idempotency key.
        client_msg_id: ClientMsgId,
        /// The text.
        body: MessageBody,
    },
    /// `history`: one page of a room's messages, in ascending `seq` order.
    /// With `before_seq`, the page ends just before it (paging backwards); with `after_seq`,
    /// it starts just after it (paging forwards); with neither, the newest page.
    /// Response: `messages`.
    History {
        /// The room.
        room_id: RoomId,
        /// Page backwards from here (exclusive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<Seq>,
        /// Page forwards from here (exclusive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_seq: Option<Seq>,
        /// Page size, 1 to 200.
        limit: u32,
    },
    /// `resume_room`: everything after `after_seq`, in order, up to the server's page limit.
    /// Response: `resumed`; when its `complete` is false, ask again from the last `seq`.
    ResumeRoom {
        /// The room.
        room_id: RoomId,
        /// The last sequence number the client has (0 for none).
        after_seq: Seq,
    },
    /// `mark_read`: move the caller's read marker forward. Response: `ok`.
    MarkRead {
        /// The room.
        room_id: RoomId,
        /// The highest sequence number read.
        seq: Seq,
    },
    /// `typing`: tell the room's other members the caller is typing. Never stored.
    /// Response: `ok`.
    Typing {
        /// The room.
        room_id: RoomId,
    },
    /// `ping`: an application-level liveness check. Response: `pong`.
    Ping,
}

impl Request {
    /// The wire `type` of this request.
    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Login { .. } => "login",
            Request::ResumeSession { .. } => "resume_session",
            Request::Logout => "logout",
            Request::CreateRoom { .. } => "create_room",
            Request::ListRooms => "list_rooms",
            Request::JoinRoom { .. } => "join_room",
            Request::LeaveRoom { .. } => "leave_room",
            Request::ListMembers { .. } => "list_members",
            Request::OpenDirect { .. } => "open_direct",
            Request::SendMessage { .. } => "send_message",
            Request::History { .. } => "history",
            Request::ResumeRoom { .. } => "resume_room",
            Request::MarkRead { .. } => "mark_read",
            Request::Typing { .. } => "typing",
            Request::Ping => "ping",
        }
    }

    /// Every wire `type` of this protocol version.
    pub const TYPES: &'static [&'static str] = &[
        "register",
        "login",
        "resume_session",
        "logout",
        "create_room",
        "list_rooms",
        "join_room",
        "leave_room",
        "list_members",
        "open_direct",
        "send_message",
        "history",
        "resume_room",
        "mark_read",
        "typing",
        "ping",
    ];

    /// Whether the request may be sent before authenticating.
    pub fn allowed_unauthenticated(&self) -> bool {
        matches!(
            self,
            Request::Register { .. } | Request::Login { .. } | Request::ResumeSession { .. } | Request::Ping
        )
    }
}
