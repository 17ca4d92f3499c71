//! Successful responses. Each is tagged by `type` inside the frame's `result`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::RoomId;
use crate::model::{Member, Message, Room, RoomSummary, SessionInfo};

/// The result of a successful request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// `session`: answer to `register`, `login` and `resume_session`.
    Session(SessionInfo),
    /// `ok`: answer to requests that return nothing (`logout`, `leave_room`, `mark_read`,
    /// `typing`).
    Ok,
    /// `pong`: answer to `ping`.
    Pong,
    /// `room`: answer to `create_room`, `join_room` and `open_direct`.
    Room {
        /// The room.
        room: Room,
    },
    /// `rooms`: answer to `list_rooms`, newest activity first.
    Rooms {
        /// The caller's rooms.
        rooms: Vec<RoomSummary>,
    },
    /// `members`: answer to `list_members`.
    Members {
        /// The room.
        room_id: RoomId,
        /// Its members.
        members: Vec<Member>,
    },
    /// `message`: answer to `send_message`, the stored message.
    Message {
        /// The stored message (the first one stored, on a retry).
        message: Message,
    },
    /// `messages`: answer to `history`, ascending by `seq`.
    Messages {
        /// The room.
        room_id: RoomId,
        /// The page.
        messages: Vec<Message>,
        /// Whether more messages exist beyond this page in the direction asked.
        has_more: bool,
    },
    /// `resumed`: answer to `resume_room`, ascending by `seq`.
    Resumed {
        /// The room.
        room_id: RoomId,
        /// Messages after the client's `after_seq`.
        messages: Vec<Message>,
        /// False when the gap was larger than one page: ask again from the last `seq`.
        complete: bool,
    },
}
