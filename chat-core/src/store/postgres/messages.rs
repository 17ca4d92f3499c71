//! Storing messages with their sequence numbers, and reading pages of history.

use chat_proto::UserId;
use tokio_postgres::{Client, GenericClient};

use super::rows::{self, MESSAGE_COLUMNS};
use super::{accounts, is_unique_violation, map_err};
use crate::store::{InsertOutcome, MessagePage, NewMessage, PageFrom, StoreError, StoredMessage};

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
    // The row lock taken here serialises every writer of this room, on every node, until
    // commit: the next writer reads the committed counter.
    let seq: i64 = match tx
        .query_opt(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
            &[&message.room_id.as_i64()],
        )
        .await
        .map_err(map_err)?
    {
        Some(row) => rows::get(&row, 0)?,
        None => return Err(StoreError::NotFound(format!("room {}", message.room_id)).into()),
    };
    let inserted = tx
        .query_one(
            "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at)
             VALUES ($1, $2, $3, $4::text::uuid, $5, $6, $7, $8) RETURNING id",
            &[
                &message.room_id.as_i64(),
                &seq,
                &message.sender_id.as_i64(),
                &client_msg_id,
                &i64::from(message.key_id),
                &message.nonce,
                &message.ciphertext,
                &message.sent_at,
            ],
        )
        .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e, IDEMPOTENCY_RULE) => return Err(Attempt::Duplicate),
        Err(e) => return Err(map_err(e).into()),
    };
    let id = rows::id(&row, 0)?;
    // Whoever sends has read the room up to their own message. No member row to move means
    // the sender is not a member: dropping the transaction rolls everything back.
    let members = tx
        .execute(
            "UPDATE members SET last_read_seq = $3 WHERE room_id = $1 AND user_id = $2",
            &[&message.room_id.as_i64(), &message.sender_id.as_i64(), &seq],
        )
        .await
        .map_err(map_err)?;
    if members == 0 {
        return Ok(InsertOutcome::NotMember);
    }
    let sender = accounts::get_user(&tx, message.sender_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {}", message.sender_id)))?;
    tx.commit().await.map_err(map_err)?;
    Ok(InsertOutcome::Inserted(StoredMessage {
        id,
        room_id: message.room_id,
        seq: seq as u64,
        sender,
        client_msg_id: message.client_msg_id,
        key_id: message.key_id,
        nonce: message.nonce.clone(),
        ciphertext: message.ciphertext.clone(),
        sent_at: message.sent_at,
    }))
}

async fn find_by_client_id(
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
