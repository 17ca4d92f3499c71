//! Room history: messages per room by `seq`, each sealed for its room and position. The end
//! to end encryption keeps what it decrypted here, since the server cannot give it back in
//! clear. Room ids appear only as keyed hashes.

use chat_proto::{Message, RoomId, Seq};
use rusqlite::params;

use super::LocalStore;
use crate::error::StoreError;

impl LocalStore {
    fn room_tag(&self, room: RoomId) -> Vec<u8> {
        self.keys.tag(b"room", room.to_string().as_bytes())
    }

    fn history_place(room: &[u8], seq: Seq) -> Vec<u8> {
        [b"history\0".as_slice(), room, &seq.to_le_bytes()].concat()
    }

    /// Keeps messages in their rooms' history; a message already kept is replaced.
    pub fn record_history(&self, messages: &[Message]) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db)?;
        for message in messages {
            let room = self.room_tag(message.room_id);
            let json = serde_json::to_vec(message).map_err(|e| StoreError::Encode(e.to_string()))?;
            let sealed = self.keys.seal(&Self::history_place(&room, message.seq), &json);
            let seq =
                i64::try_from(message.seq).map_err(|_| StoreError::Encode("seq out of range".into()))?;
            tx.execute(
                "INSERT INTO history (room, seq, sealed) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room, seq) DO UPDATE SET sealed = excluded.sealed",
                params![room, seq, sealed],
            )
            .map_err(StoreError::db)?;
        }
        tx.commit().map_err(StoreError::db)
    }

    /// Up to `limit` kept messages of `room` before `before` (or the newest), ascending.
    pub fn history(
        &self,
        room: RoomId,
        before: Option<Seq>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let tag = self.room_tag(room);
        let before = before.map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, Vec<u8>)> = {
            let db = self.db();
            let mut statement = db
                .prepare(
                    "SELECT seq, sealed FROM history WHERE room = ?1 AND seq < ?2
                     ORDER BY seq DESC LIMIT ?3",
                )
                .map_err(StoreError::db)?;
            let rows = statement
                .query_map(params![tag, before, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(StoreError::db)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::db)?
        };
        let tampered = || StoreError::Tampered { area: "history" };
        let mut out = Vec::with_capacity(rows.len());
        for (seq, sealed) in rows.into_iter().rev() {
            let seq = Seq::try_from(seq).map_err(|_| tampered())?;
            let plain = self
                .keys
                .open(&Self::history_place(&tag, seq), &sealed)
                .ok_or_else(tampered)?;
            let message: Message = serde_json::from_slice(&plain).map_err(|_| tampered())?;
            if message.room_id != room || message.seq != seq {
                return Err(tampered());
            }
            out.push(message);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{ClientMsgId, Message, MessageBody, MessageId, RoomId, UserId, UserInfo, Username};

    use super::super::tests::fresh;
    use crate::error::StoreError;

    fn message(room: u64, seq: u64, body: &str) -> Message {
        Message {
            id: MessageId::new(room * 1000 + seq).unwrap(),
            room_id: RoomId::new(room).unwrap(),
            seq,
            sender: UserInfo {
                id: UserId::new(1).unwrap(),
                username: Username::parse("alice").unwrap(),
            },
            client_msg_id: ClientMsgId::random(),
            sent_at: 1_700_000_000_000,
            device_id: None,
            content: chat_proto::Content::Text {
                body: MessageBody::parse(body).unwrap(),
            },
        }
    }

    #[test]
    fn pages_back_through_a_room_in_order_and_keeps_rooms_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path());
        let room = RoomId::new(7).unwrap();
        let all: Vec<_> = (1..=10).map(|s| message(7, s, &format!("m{s}"))).collect();
        store.record_history(&all[5..]).unwrap();
        store.record_history(&all[..6]).unwrap();
        store.record_history(&[message(8, 1, "other room")]).unwrap();
        let seqs = |v: Vec<Message>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.history(room, None, 3).unwrap()), [8, 9, 10]);
        assert_eq!(seqs(store.history(room, Some(8), 3).unwrap()), [5, 6, 7]);
        assert_eq!(seqs(store.history(room, Some(3), 10).unwrap()), [1, 2]);
        assert_eq!(store.history(room, None, 100).unwrap(), all);
        assert_eq!(store.history(RoomId::new(8).unwrap(), None, 9).unwrap().len(), 1);
        let raw = std::fs::read(store.path()).unwrap();
        assert!(
            !raw.windows(10).any(|w| w == b"other room"),
            "visible in the file"
        );
    }

    #[test]
    fn a_message_moved_to_another_seq_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path());
        let room = RoomId::new(7).unwrap();
        store
            .record_history(&[message(7, 1, "first"), message(7, 2, "second")])
            .unwrap();
        store
            .db()
            .execute("DELETE FROM history WHERE seq = 1", [])
            .unwrap();
        store
            .db()
            .execute("UPDATE history SET seq = 1 WHERE seq = 2", [])
            .unwrap();
        assert_eq!(
            store.history(room, None, 10).unwrap_err(),
            StoreError::Tampered { area: "history" }
        );
    }
}
