//! Storing messages with their sequence numbers, and reading pages of history.

use std::collections::HashMap;

use chat_proto::{DeviceId, MessageId, ResumePoint, RoomId, Seq, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, MESSAGE_COLUMNS};
use super::{accounts, map_err, rooms};
use crate::store::resume;
use crate::store::{
    InsertOutcome, MessagePage, Millis, NewMessage, PageFrom, RoomAccess, StoreError, StoredBody,
    StoredMessage,
};

pub(super) fn insert_message(
    conn: &mut Connection,
    message: &NewMessage,
) -> Result<InsertOutcome, StoreError> {
    let client_msg_id = message.client_msg_id.to_string();
    // One savepoint: the idempotency check, the counter and the insert stand or fall
    // together (the writer's batch transaction already holds the write lock).
    let tx = conn.savepoint().map_err(map_err)?;
    if let Some(existing) = find_by_client_id(&tx, message.sender_id, &client_msg_id)? {
        return Ok(InsertOutcome::Existing(existing));
    }
    let body = StoredBody::Text(message.body.clone());
    let item = match append_item(
        &tx,
        message.room_id,
        message.sender_id,
        &client_msg_id,
        &body,
        None,
        message.sent_at,
    ) {
        Err(StoreError::NotFound(e)) => {
            // Plain text never enters an encrypted room's timeline. Only a member learns
            // that the room is encrypted: to anyone else it answers as for any room they
            // are not in (a private one as a missing one).
            return match rooms::room_access(&tx, message.room_id, message.sender_id)? {
                RoomAccess::Member { room, .. } if room.encrypted => Ok(InsertOutcome::RoomEncrypted),
                RoomAccess::NotMember { room, .. } if room.encrypted => {
                    Ok(InsertOutcome::NotMember(room.visibility))
                }
                _ => Err(StoreError::NotFound(e)),
            };
        }
        other => other?,
    };
    // Whoever sends has read the room up to their own message. No member row to move means
    // the sender is not a member: dropping the savepoint undoes the counter and the insert.
    let members = tx
        .prepare_cached(
            "UPDATE members SET last_read_seq = ?3, read_count = ?4 WHERE room_id = ?1 AND user_id = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                message.room_id.as_i64(),
                message.sender_id.as_i64(),
                item.seq as i64,
                item.counted as i64
            ])
        })
        .map_err(map_err)?;
    if members == 0 {
        return Ok(InsertOutcome::NotMember(rooms::visibility(&tx, message.room_id)?));
    }
    let sender = accounts::get_user(&tx, message.sender_id)?
        .ok_or_else(|| StoreError::NotFound(format!("user {}", message.sender_id)))?;
    tx.commit().map_err(map_err)?;
    Ok(InsertOutcome::Inserted(StoredMessage {
        id: item.id,
        room_id: message.room_id,
        seq: item.seq,
        sender,
        client_msg_id: message.client_msg_id,
        body,
        device_id: None,
        sent_at: message.sent_at,
    }))
}

/// Where [`append_item`] put an item.
pub(super) struct Appended {
    pub id: MessageId,
    pub seq: Seq,
    /// The room's message count right after the item.
    pub counted: u64,
}

/// Appends an item to a room's timeline inside the caller's transaction: takes the room's
/// next sequence number and, for an item that counts toward unread, the next message count.
/// `NotFound` when the room does not exist.
pub(super) fn append_item(
    conn: &Connection,
    room_id: RoomId,
    sender: UserId,
    client_msg_id: &str,
    body: &StoredBody,
    device: Option<DeviceId>,
    sent_at: Millis,
) -> Result<Appended, StoreError> {
    let (seq, counted): (i64, i64) = conn
        .prepare_cached(
            "UPDATE rooms SET last_seq = last_seq + 1, message_count = message_count + ?2
             WHERE id = ?1 AND (?3 = 0 OR encrypted = 0) RETURNING last_seq, message_count",
        )
        .and_then(|mut stmt| {
            // Plain text never enters an encrypted room's timeline.
            let text = matches!(body, StoredBody::Text(_));
            stmt.query_row(
                params![
                    room_id.as_i64(),
                    i64::from(body.counts_as_unread()),
                    i64::from(text)
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
        })
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("room {room_id}")))?;
    let (key_id, nonce, ciphertext, notice) = match body {
        StoredBody::Text(sealed) => (
            sealed.key_id,
            sealed.nonce.as_slice(),
            sealed.ciphertext.as_slice(),
            None,
        ),
        StoredBody::Notice(notice) => (
            0,
            &[][..],
            &[][..],
            Some(serde_json::to_string(notice).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        ),
        // MLS bytes are stored as the client made them: the server cannot read them anyway.
        StoredBody::Mls { bytes, .. } => (0, &[][..], bytes.as_slice(), None),
    };
    let kind = body.kind();
    let id: MessageId = conn
        .prepare_cached(
            "INSERT INTO messages
                 (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at, kind, notice, counted,
                  device_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    room_id.as_i64(),
                    seq,
                    sender.as_i64(),
                    client_msg_id,
                    key_id,
                    nonce,
                    ciphertext,
                    sent_at,
                    kind,
                    notice,
                    counted,
                    device.map(DeviceId::as_i64)
                ],
                |row| rows::id(row, 0),
            )
        })
        .map_err(map_err)?;
    Ok(Appended {
        id,
        seq: seq as Seq,
        counted: counted as u64,
    })
}

pub(super) fn find_by_client_id(
    conn: &Connection,
    sender: UserId,
    client_msg_id: &str,
) -> Result<Option<StoredMessage>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users s ON s.id = m.sender_id
         WHERE m.sender_id = ?1 AND m.client_msg_id = ?2"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(params![sender.as_i64(), client_msg_id], |row| {
                rows::message(row, 0)
            })
            .optional()
        })
        .map_err(map_err)
}

pub(super) fn messages_page(
    conn: &Connection,
    room_id: RoomId,
    from: PageFrom,
    limit: u32,
) -> Result<MessagePage, StoreError> {
    let limit = limit.max(1);
    // One row more than asked tells whether the page is the last one in its direction.
    let (condition, order, bound) = match from {
        PageFrom::Latest => ("AND m.seq > ?2", "DESC", 0),
        PageFrom::Before(seq) => ("AND m.seq < ?2", "DESC", seq),
        PageFrom::After(seq) => ("AND m.seq > ?2", "ASC", seq),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users s ON s.id = m.sender_id
         WHERE m.room_id = ?1 {condition} ORDER BY m.seq {order} LIMIT ?3"
    );
    let bound = i64::try_from(bound).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let mut messages: Vec<StoredMessage> = stmt
        .query_map(params![room_id.as_i64(), bound, i64::from(limit) + 1], |row| {
            rows::message(row, 0)
        })
        .and_then(|it| it.collect())
        .map_err(map_err)?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if order == "DESC" {
        messages.reverse();
    }
    Ok(MessagePage { messages, has_more })
}

/// The rooms of `user` with their newest seq.
fn last_seqs_of(conn: &Connection, user: UserId) -> Result<HashMap<RoomId, Seq>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.room_id, r.last_seq FROM members m JOIN rooms r ON r.id = m.room_id
             WHERE m.user_id = ?1",
        )
        .map_err(map_err)?;
    stmt.query_map([user.as_i64()], |row| Ok((rows::id(row, 0)?, rows::seq(row, 1)?)))
        .and_then(|it| it.collect())
        .map_err(map_err)
}

/// See [`crate::store::Store::resume_pages`]: one membership query, then one page query
/// per room that has anything new, all on this connection.
pub(super) fn resume_pages(
    conn: &Connection,
    user: UserId,
    points: &[ResumePoint],
    per_room: u32,
    total: usize,
) -> Result<Vec<Option<MessagePage>>, StoreError> {
    let last_seqs = last_seqs_of(conn, user)?;
    let (mut pages, reads) = resume::plan(points, &last_seqs, per_room, total);
    for read in reads {
        pages[read.index] = Some(messages_page(
            conn,
            read.room_id,
            PageFrom::After(read.after_seq),
            read.take,
        )?);
    }
    Ok(pages)
}
