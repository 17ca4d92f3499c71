//! What became of each encrypted item this device processed: the decrypted message (kept
//! in the local store's history area, sealed like everything there) or why it cannot be
//! read (in the key-value area). The group's epoch secrets are gone once it moves on, so
//! these records are the only way back to a text. Without a local store they live in
//! memory for the session.

use std::collections::{BTreeMap, HashMap};

use chat_proto::{Message, RoomId, Seq};

use super::UndecryptableReason;
use crate::error::StoreError;
use crate::shared::Shared;
use crate::store::LocalStore;

/// The key-value namespace of unreadable items.
const UNREADABLE: &str = "chat.e2ee.unreadable";

/// Items kept in memory per room, at most (the oldest go first).
const MEMORY_PER_ROOM: usize = 2_000;

/// What became of one encrypted item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Decrypted: the message as the application sees it.
    Decrypted(Message),
    /// Not readable, and why.
    Failed(UndecryptableReason),
}

/// Records of a session without a local store.
#[derive(Default)]
pub(crate) struct Memory {
    rooms: HashMap<RoomId, BTreeMap<Seq, Outcome>>,
}

fn unreadable_key(room: RoomId, seq: Seq) -> Vec<u8> {
    [room.get().to_be_bytes(), seq.to_be_bytes()].concat()
}

/// Keeps what became of the item at `(room, seq)`.
pub(crate) fn put(shared: &Shared, room: RoomId, seq: Seq, outcome: &Outcome) -> Result<(), StoreError> {
    match shared.store() {
        Some(store) => put_stored(&store, room, seq, outcome),
        None => {
            let mut memory = crate::events::lock(&shared.e2ee.memory);
            let kept = memory.rooms.entry(room).or_default();
            kept.insert(seq, outcome.clone());
            while kept.len() > MEMORY_PER_ROOM {
                kept.pop_first();
            }
            Ok(())
        }
    }
}

fn put_stored(store: &LocalStore, room: RoomId, seq: Seq, outcome: &Outcome) -> Result<(), StoreError> {
    match outcome {
        Outcome::Decrypted(message) => store.record_history(std::slice::from_ref(message)),
        Outcome::Failed(reason) => store.put(UNREADABLE, &unreadable_key(room, seq), &[reason.code()]),
    }
}

/// What became of the item at `(room, seq)`, if it was processed and kept.
pub(crate) fn get(shared: &Shared, room: RoomId, seq: Seq) -> Result<Option<Outcome>, StoreError> {
    let Some(store) = shared.store() else {
        let memory = crate::events::lock(&shared.e2ee.memory);
        return Ok(memory.rooms.get(&room).and_then(|r| r.get(&seq)).cloned());
    };
    if let Some(message) = store.history(room, Some(seq + 1), 1)?.pop()
        && message.seq == seq
    {
        return Ok(Some(Outcome::Decrypted(message)));
    }
    Ok(store
        .get(UNREADABLE, &unreadable_key(room, seq))?
        .and_then(|code| code.first().copied())
        .map(|code| Outcome::Failed(UndecryptableReason::from_code(code))))
}

/// Up to `limit` decrypted messages of `room` before `before` (or the newest), ascending:
/// history read without the server.
pub(crate) fn decrypted_before(
    shared: &Shared,
    room: RoomId,
    before: Option<Seq>,
    limit: usize,
) -> Result<Vec<Message>, StoreError> {
    if let Some(store) = shared.store() {
        return store.history(room, before, limit);
    }
    let memory = crate::events::lock(&shared.e2ee.memory);
    let Some(kept) = memory.rooms.get(&room) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Message> = kept
        .range(..before.unwrap_or(Seq::MAX))
        .rev()
        .filter_map(|(_, o)| match o {
            Outcome::Decrypted(m) => Some(m.clone()),
            Outcome::Failed(_) => None,
        })
        .take(limit)
        .collect();
    out.reverse();
    Ok(out)
}
