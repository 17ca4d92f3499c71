//! Resuming many rooms with one request after a reconnect (`resume_rooms`): where the client
//! stands in each room, and what each room missed.
//!
//! The answer is bounded per room (`limit` items), in items overall
//! ([`MAX_RESUME_ITEMS`](crate::limits::MAX_RESUME_ITEMS)) and in bytes
//! ([`MAX_PAGE_BYTES`](crate::limits::MAX_PAGE_BYTES)); a room cut short says so
//! (`complete: false`) and the client follows it with `resume_room`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{RoomId, Seq};
use crate::model::Message;

/// Where the client stands in one room: the last `seq` it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ResumePoint {
    /// The room.
    pub room_id: RoomId,
    /// The last sequence number the client has in it (0 for none).
    pub after_seq: Seq,
}

/// What one room missed, in the answer to `resume_rooms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResumedRoom {
    /// The room.
    pub room_id: RoomId,
    /// Items after the client's `after_seq`, ascending by `seq` (possibly none).
    pub messages: Vec<Message>,
    /// False when more items follow: continue with `resume_room` from the last `seq`
    /// received (or from `after_seq` when none came).
    pub complete: bool,
}
