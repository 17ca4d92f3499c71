//! The outbox's rows: messages the user wrote that the server has not confirmed yet, in
//! the order written. A row is removed once the server stored the message (or refused it
//! for good); until then it survives restarts, and the client message id inside it makes
//! sending it again harmless.

use chat_proto::{ClientMsgId, MessageBody, RoomId, TimestampMs};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::LocalStore;
use crate::error::StoreError;

/// One message waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// The idempotency key the server stores the message under: fixed when the message was
    /// written, the same on every attempt.
    pub client_msg_id: ClientMsgId,
    /// The room it goes to.
    pub room_id: RoomId,
    /// The text.
    pub body: MessageBody,
    /// When it was written, in milliseconds since the Unix epoch (client clock).
    pub queued_at: TimestampMs,
}

impl OutboxEntry {
    /// An entry written now.
    pub(crate) fn new(room_id: RoomId, client_msg_id: ClientMsgId, body: MessageBody) -> Self {
        Self {
            client_msg_id,
            room_id,
            body,
            queued_at: crate::session::now_ms(),
        }
    }
}

impl LocalStore {
    fn outbox_place(pos: i64, tag: &[u8]) -> Vec<u8> {
        [b"outbox\0".as_slice(), &pos.to_le_bytes(), tag].concat()
    }

    /// Appends an entry; returns false (and changes nothing) when its client message id is
    /// already queued. On disk when this returns.
    pub(crate) fn outbox_push(&self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        let tag = self.keys.tag(b"outbox", entry.client_msg_id.as_uuid().as_bytes());
        let json = serde_json::to_vec(entry).map_err(|e| StoreError::Encode(e.to_string()))?;
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE tag = ?1)",
                [&tag],
                |r| r.get(0),
            )
            .map_err(StoreError::db)?;
        if exists {
            return Ok(false);
        }
        let pos: i64 = tx
            .query_row("SELECT COALESCE(MAX(pos), 0) + 1 FROM outbox", [], |r| r.get(0))
            .map_err(StoreError::db)?;
        let sealed = self.keys.seal(&Self::outbox_place(pos, &tag), &json);
        tx.execute(
            "INSERT INTO outbox (pos, tag, sealed) VALUES (?1, ?2, ?3)",
            params![pos, tag, sealed],
        )
        .map_err(StoreError::db)?;
        tx.commit().map_err(StoreError::db)?;
        Ok(true)
    }

    /// Removes the entry with this client message id (sent, or refused for good).
    pub(crate) fn outbox_remove(&self, id: ClientMsgId) -> Result<(), StoreError> {
        let tag = self.keys.tag(b"outbox", id.as_uuid().as_bytes());
        self.db()
            .execute("DELETE FROM outbox WHERE tag = ?1", [tag])
            .map_err(StoreError::db)?;
        Ok(())
    }

    /// Every entry in the order written, and how many rows failed to open (tampered rows
    /// are left in the file, never sent and never shown).
    pub(crate) fn outbox_entries(&self) -> Result<(Vec<OutboxEntry>, usize), StoreError> {
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = {
            let db = self.db();
            let mut statement = db
                .prepare("SELECT pos, tag, sealed FROM outbox ORDER BY pos")
                .map_err(StoreError::db)?;
            let rows = statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(StoreError::db)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::db)?
        };
        let mut entries = Vec::with_capacity(rows.len());
        let mut tampered = 0;
        for (pos, tag, sealed) in rows {
            let entry = self
                .keys
                .open(&Self::outbox_place(pos, &tag), &sealed)
                .and_then(|plain| serde_json::from_slice::<OutboxEntry>(&plain).ok())
                .filter(|e| self.keys.tag(b"outbox", e.client_msg_id.as_uuid().as_bytes()) == tag);
            match entry {
                Some(entry) => entries.push(entry),
                None => tampered += 1,
            }
        }
        Ok((entries, tampered))
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{ClientMsgId, MessageBody, RoomId};

    use super::super::tests::fresh;
    use super::OutboxEntry;

    fn entry(text: &str) -> OutboxEntry {
        OutboxEntry::new(
            RoomId::new(3).unwrap(),
            ClientMsgId::random(),
            MessageBody::parse(text).unwrap(),
        )
    }

    #[test]
    fn entries_keep_their_order_once_each_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path());
        let (a, b, c) = (entry("first"), entry("second"), entry("third"));
        assert!(store.outbox_push(&a).unwrap());
        assert!(store.outbox_push(&b).unwrap());
        assert!(!store.outbox_push(&a).unwrap(), "an id is queued once");
        assert!(store.outbox_push(&c).unwrap());
        store.outbox_remove(b.client_msg_id).unwrap();
        let d = entry("fourth");
        store.outbox_push(&d).unwrap();
        drop(store);
        let store = fresh(dir.path());
        assert_eq!(store.outbox_entries().unwrap(), (vec![a, c, d], 0));
    }

    #[test]
    fn reordered_or_damaged_rows_are_counted_and_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path());
        let (a, b, c) = (entry("first"), entry("second"), entry("third"));
        for e in [&a, &b, &c] {
            store.outbox_push(e).unwrap();
        }
        // Someone moves the first message behind the others.
        store
            .db()
            .execute("UPDATE outbox SET pos = 10 WHERE pos = 1", [])
            .unwrap();
        super::super::tests::flip_sealed(&store, "outbox", "pos = 3");
        assert_eq!(store.outbox_entries().unwrap(), (vec![b], 2));
        let raw = std::fs::read(store.path()).unwrap();
        assert!(!raw.windows(6).any(|w| w == b"second"), "visible in the file");
    }
}
