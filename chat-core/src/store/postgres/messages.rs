//! Storing messages with their sequence numbers, and reading pages of history.

use std::collections::HashMap;

use chat_proto::{DeviceId, MessageId, ResumePoint, RoomId, Seq, UserId};
use tokio_postgres::{Client, GenericClient};

use super::rows::{self, MESSAGE_COLUMNS};
use super::{accounts, is_unique_violation, map_err};
use crate::store::resume;
use crate::store::{
    InsertOutcome, MessagePage, Millis, NewMessage, PageFrom, RoomAccess, StoreError, StoredBody,
    StoredMessage,
};

/// The constraint that makes sending idempotent.
pub(super) const IDEMPOTENCY_RULE: &str = "messages_sender_client_msg_id";

pub(super) async fn insert_message(
    c: &mut Client,
    message: &NewMessage,
) -> Result<InsertOutcome, StoreError> {
    let client_msg_id = message.client_msg_id.to_string();
    match try_insert(c, message, &client_msg_id).await {
        Ok(outcome) => Ok(outcome),
        // The same message was being stored concurrently (a retry on another node) and
        // committed first; the transaction, its sequence number included, was rolled back.
        Err(Attempt::Duplicate) => find_by_client_id(&*c, message.sender_id, &client_msg_id)
            .await?
            .map(InsertOutcome::Existing)
            .ok_or_else(|| StoreError::Conflict("the message id is taken".into())),
        Err(Attempt::Failed(e)) => Err(e),
    }
}

/// How storing failed: `Duplicate` when the same client message id was stored concurrently
/// (a retry through another node) and this transaction, which stored nothing, lost.
pub(super) enum Attempt {
    Duplicate,
    Failed(StoreError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(e)
    }
}

async fn try_insert(
    c: &mut Client,
    message: &NewMessage,
    client_msg_id: &str,
) -> Result<InsertOutcome, Attempt> {
    let tx = c.transaction().await.map_err(map_err)?;
    if let Some(existing) = find_by_client_id(&tx, message.sender_id, client_msg_id).await? {
        return Ok(InsertOutcome::Existing(existing));
    }
    let body = StoredBody::Text(message.body.clone());
    let item = match append_item(
        &tx,
        message.room_id,
        message.sender_id,
        client_msg_id,
        &body,
        None,
        message.sent_at,
    )
    .await
    {
        Ok(item) => item,
        Err(Appending::Duplicate) => return Err(Attempt::Duplicate),
        Err(Appending::Failed(StoreError::NotFound(e))) => {
            // Plain text never enters an encrypted room's timeline. Only a member learns
            // that the room is encrypted: to anyone else it answers as for any room they
            // are not in (a private one as a missing one).
            return match super::rooms::room_access(&tx, message.room_id, message.sender_id).await? {
                RoomAccess::Member { room, .. } if room.encrypted => Ok(InsertOutcome::RoomEncrypted),
                RoomAccess::NotMember { room, .. } if room.encrypted => {
                    Ok(InsertOutcome::NotMember(room.visibility))
                }
                _ => Err(StoreError::NotFound(e).into()),
            };
        }
        Err(Appending::Failed(e)) => return Err(e.into()),
    };
    // Whoever sends has read the room up to their own message. No member row to move means
    // the sender is not a member: dropping the transaction rolls everything back.
    let members = tx
        .execute(
            "UPDATE members SET last_read_seq = $3, read_count = $4 WHERE room_id = $1 AND user_id = $2",
            &[
                &message.room_id.as_i64(),
                &message.sender_id.as_i64(),
                &(item.seq as i64),
                &(item.counted as i64),
            ],
        )
        .await
        .map_err(map_err)?;
    if members == 0 {
        let visibility = super::rooms::visibility(&tx, message.room_id).await?;
        return Ok(InsertOutcome::NotMember(visibility));
    }
    let sender = accounts::get_user(&tx, message.sender_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {}", message.sender_id)))?;
    tx.commit().await.map_err(map_err)?;
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

/// Why [`append_item`] stored nothing.
pub(super) enum Appending {
    /// The sender's client message id is taken (a concurrent retry committed first).
    Duplicate,
    Failed(StoreError),
}

impl From<StoreError> for Appending {
    fn from(e: StoreError) -> Self {
        Appending::Failed(e)
    }
}

/// Appends an item to a room's timeline inside the caller's transaction: takes the room's
/// next sequence number and, for an item that counts toward unread, the next message count.
/// The row lock taken on the room serialises every writer of this room, on every node,
/// until commit: the next writer reads the committed counter.
pub(super) async fn append_item(
    tx: &impl GenericClient,
    room_id: RoomId,
    sender: UserId,
    client_msg_id: &str,
    body: &StoredBody,
    device: Option<DeviceId>,
    sent_at: Millis,
) -> Result<Appended, Appending> {
    let Some(row) = tx
        .query_opt(
            "UPDATE rooms SET last_seq = last_seq + 1, message_count = message_count + $2
             WHERE id = $1 AND (NOT $3 OR NOT encrypted) RETURNING last_seq, message_count",
            // Plain text never enters an encrypted room's timeline.
            &[
                &room_id.as_i64(),
                &i64::from(body.counts_as_unread()),
                &matches!(body, StoredBody::Text(_)),
            ],
        )
        .await
        .map_err(map_err)?
    else {
        return Err(StoreError::NotFound(format!("room {room_id}")).into());
    };
    let (seq, counted): (i64, i64) = (rows::get(&row, 0)?, rows::get(&row, 1)?);
    let (key_id, nonce, ciphertext, notice) = match body {
        StoredBody::Text(sealed) => (
            i64::from(sealed.key_id),
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
    let inserted = tx
        .query_one(
            "INSERT INTO messages
                 (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at, kind, notice, counted,
                  device_id)
             VALUES ($1, $2, $3, $4::text::uuid, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                &room_id.as_i64(),
                &seq,
                &sender.as_i64(),
                &client_msg_id,
                &key_id,
                &nonce,
                &ciphertext,
                &sent_at,
                &kind,
                &notice,
                &counted,
                &device.map(DeviceId::as_i64),
            ],
        )
        .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e, IDEMPOTENCY_RULE) => return Err(Appending::Duplicate),
        Err(e) => return Err(map_err(e).into()),
    };
    Ok(Appended {
        id: rows::id(&row, 0)?,
        seq: seq as Seq,
        counted: counted as u64,
    })
}

pub(super) async fn find_by_client_id(
    c: &impl GenericClient,
    sender: UserId,
    client_msg_id: &str,
) -> Result<Option<StoredMessage>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users s ON s.id = m.sender_id
         WHERE m.sender_id = $1 AND m.client_msg_id = $2::text::uuid"
    );
    let row = c
        .query_opt(&sql, &[&sender.as_i64(), &client_msg_id])
        .await
        .map_err(map_err)?;
    row.map(|row| rows::message(&row, 0)).transpose()
}

pub(super) async fn messages_page(
    c: &impl GenericClient,
    room_id: chat_proto::RoomId,
    from: PageFrom,
    limit: u32,
) -> Result<MessagePage, StoreError> {
    let limit = limit.max(1);
    // One row more than asked tells whether the page is the last one in its direction.
    let (condition, order, bound) = match from {
        PageFrom::Latest => ("AND m.seq > $2", "DESC", 0),
        PageFrom::Before(seq) => ("AND m.seq < $2", "DESC", seq),
        PageFrom::After(seq) => ("AND m.seq > $2", "ASC", seq),
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users s ON s.id = m.sender_id
         WHERE m.room_id = $1 {condition} ORDER BY m.seq {order} LIMIT $3"
    );
    let bound = i64::try_from(bound).unwrap_or(i64::MAX);
    let found = c
        .query(&sql, &[&room_id.as_i64(), &bound, &(i64::from(limit) + 1)])
        .await
        .map_err(map_err)?;
    let mut messages = found
        .iter()
        .map(|row| rows::message(row, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if order == "DESC" {
        messages.reverse();
    }
    Ok(MessagePage { messages, has_more })
}

/// See [`crate::store::Store::resume_pages`]: one membership query, then one statement
/// that reads the page of every room with anything new.
pub(super) async fn resume_pages(
    c: &impl GenericClient,
    user: UserId,
    points: &[ResumePoint],
    per_room: u32,
    total: usize,
) -> Result<Vec<Option<MessagePage>>, StoreError> {
    let last_seqs: HashMap<RoomId, Seq> = c
        .query(
            "SELECT m.room_id, r.last_seq FROM members m JOIN rooms r ON r.id = m.room_id
             WHERE m.user_id = $1",
            &[&user.as_i64()],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| Ok((rows::id(row, 0)?, rows::seq(row, 1)?)))
        .collect::<Result<_, StoreError>>()?;
    let (mut pages, reads) = resume::plan(points, &last_seqs, per_room, total);
    if reads.is_empty() {
        return Ok(pages);
    }
    let index: Vec<i64> = reads.iter().map(|r| r.index as i64).collect();
    let room: Vec<i64> = reads.iter().map(|r| r.room_id.as_i64()).collect();
    let after: Vec<i64> = reads
        .iter()
        .map(|r| i64::try_from(r.after_seq).unwrap_or(i64::MAX))
        .collect();
    // One row more than taken tells whether the room has more.
    let limit: Vec<i64> = reads.iter().map(|r| i64::from(r.take) + 1).collect();
    let sql = format!(
        "SELECT q.ix, {MESSAGE_COLUMNS}
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS q(ix, room_id, after_seq, lim)
         CROSS JOIN LATERAL (
             SELECT * FROM messages mm WHERE mm.room_id = q.room_id AND mm.seq > q.after_seq
             ORDER BY mm.seq LIMIT q.lim) m
         JOIN users s ON s.id = m.sender_id
         ORDER BY q.ix, m.seq"
    );
    let found = c
        .query(&sql, &[&index, &room, &after, &limit])
        .await
        .map_err(map_err)?;
    let takes: HashMap<usize, u32> = reads.iter().map(|r| (r.index, r.take)).collect();
    for row in &found {
        let ix: i64 = row.get(0);
        let ix = ix as usize;
        let Some(Some(page)) = pages.get_mut(ix) else {
            return Err(StoreError::Corrupt("a resumed row names no asked room".into()));
        };
        if page.messages.len() as u64 >= u64::from(takes.get(&ix).copied().unwrap_or(0)) {
            page.has_more = true;
            continue;
        }
        page.messages.push(rows::message(row, 1)?);
    }
    Ok(pages)
}
