//! Applying a change to a room: decide from what was read, apply if the room did not move
//! on meanwhile, decide again if it did, then publish the change's notices.
//!
//! Deciding in the service and applying in the store under the room's state version keeps
//! the rules in one place for every store and still makes two people acting at once safe:
//! an admin demoted while removing someone finds their removal refused on the second
//! look, and an invite link's last use goes to one of two joiners, never both.
//!
//! On one node, changes to a room also take turns ([`ChangeTurns`]): without them, many
//! people joining a popular room at once would keep invalidating each other's decisions
//! and some would run out of attempts (`unavailable`) though nothing was wrong. Racing
//! stays possible only between nodes, where it is rare and the attempts absorb it.

use chat_proto::{ClientMsgId, ErrorBody, ErrorCode, Notice, RoomId, UserId};

use super::connection::Connection;
use super::now_ms;
use super::reply::{refuse, store_failed};
use super::timeline::publish_notices;
use crate::store::{MemberOp, NewNotice, RoomChange, StoredMessage};

/// How often a change is decided again after losing a race before the request gives up.
const ATTEMPTS: usize = 8;

/// How many locks the rooms share; two rooms on one lock only wait for each other.
const TURN_STRIPES: usize = 256;

/// One node's turns for changing rooms: a change holds its room's lock from the first
/// decision until its notices are published. Striped, so memory stays fixed however many
/// rooms there are; a change never takes a second lock, so sharing one cannot deadlock.
pub(crate) struct ChangeTurns {
    stripes: Box<[tokio::sync::Mutex<()>]>,
}

impl ChangeTurns {
    /// Turns for every room.
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..TURN_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Waits for `room`'s turn.
    async fn take(&self, room: RoomId) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes[(room.get() % TURN_STRIPES as u64) as usize]
            .lock()
            .await
    }
}

/// What a request decided to change, on the room's state version it read.
pub(super) struct Decision {
    /// The version the decision was made on.
    pub version: u64,
    /// The steps.
    pub ops: Vec<MemberOp>,
    /// The notices to record, each with who made the change.
    pub notices: Vec<(UserId, Notice)>,
}

/// A decision being made: reads what it needs and decides (boxed, so that the request's
/// future stays `Send` whatever the decision borrows).
pub(super) type Deciding<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<Decision>, ErrorBody>> + Send + 'a>>;

impl Connection {
    /// Decides with `decide` (which reads what it needs each time), applies, and decides
    /// again when the room moved on. `decide` returning `None` means nothing needs to
    /// change (the request was already satisfied). Returns the notices stored, already
    /// published.
    pub(super) async fn apply_change<'a>(
        &'a self,
        room_id: RoomId,
        decide: impl Fn() -> Deciding<'a> + Send + 'a,
    ) -> Result<Vec<StoredMessage>, ErrorBody> {
        let _turn = self.inner.change_turns.take(room_id).await;
        for _ in 0..ATTEMPTS {
            let Some(decision) = decide().await? else {
                return Ok(Vec::new());
            };
            let change = RoomChange {
                room_id,
                expected_version: decision.version,
                ops: decision.ops,
                notices: decision
                    .notices
                    .into_iter()
                    .map(|(sender, notice)| NewNotice {
                        sender,
                        client_msg_id: ClientMsgId::random(),
                        notice,
                    })
                    .collect(),
                now: now_ms(),
            };
            match self
                .inner
                .store
                .change_room(&change)
                .await
                .map_err(store_failed)?
            {
                Some(stored) => {
                    publish_notices(&self.inner, &stored).await;
                    return Ok(stored);
                }
                None => continue,
            }
        }
        Err(refuse(
            ErrorCode::Unavailable,
            "the room is changing too fast right now; try again",
        ))
    }
}
