//! Events the server pushes without a request. They carry no request id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::RoomId;
use crate::model::{Message, ServerLimits, UserInfo};

/// A pushed event, tagged by `type` inside the frame's `event`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// `hello`: the first frame on every connection: protocol version and limits.
    Hello {
        /// The protocol version the server speaks.
        protocol: u32,
        /// Server software and version.
        server: String,
        /// The limits in force on this connection.
        limits: ServerLimits,
    },
    /// `message`: a new message in one of the user's rooms (sent to every device of every
    /// member, the sender's other devices included).
    Message {
        /// The stored message.
        message: Message,
    },
    /// `presence`: a user who shares a room with the recipient came online or went offline.
    Presence {
        /// The user.
        user: UserInfo,
        /// Whether they now have at least one live connection.
        online: bool,
    },
    /// `member_joined`: someone joined a room the recipient is in (or the recipient itself
    /// joined on another device).
    MemberJoined {
        /// The room.
        room_id: RoomId,
        /// Who joined.
        user: UserInfo,
    },
    /// `member_left`: someone left a room the recipient is in.
    MemberLeft {
        /// The room.
        room_id: RoomId,
        /// Who left.
        user: UserInfo,
    },
    /// `typing`: someone is typing in a room; lasts a few seconds unless repeated.
    Typing {
        /// The room.
        room_id: RoomId,
        /// Who is typing.
        user: UserInfo,
    },
    /// `resync`: the server may have failed to deliver some events to this connection (for
    /// example while its broker link was down); resume every room from its last seq.
    /// Nothing stored was lost: `resume_room` returns whatever was missed.
    Resync,
}
