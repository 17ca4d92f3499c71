//! Group commit per room: the messages of one room that arrive while a commit of that room
//! is in flight are stored together in the next transaction, under one lock of the room row
//! and one WAL flush.
//!
//! Storing a message holds its room's row lock until commit (that lock is what keeps the
//! sequence numbers gap-free across nodes), and a commit waits for the WAL flush, a few
//! milliseconds on a real disk. One message per transaction would cap a room at one message
//! per flush, however many nodes and senders there are. Here each room with messages
//! waiting has one leader task on this node, which takes everything queued (up to
//! [`MAX_BATCH`]) into one transaction: one lookup of the client message ids, one counter
//! update, one multi-row insert, one commit. Every message still gets its own outcome, and
//! nothing is acknowledged before its transaction committed.
//!
//! A batch that collides with the same client message id being stored concurrently
//! elsewhere (a retry through another node) is rolled back as a whole and its messages are
//! stored one by one, each with the single-message path's duplicate handling.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bb8::Pool;
use chat_proto::{ClientMsgId, RoomId, UserId, UserInfo, Visibility};
use tokio::sync::oneshot;
use tokio_postgres::Client;

use super::messages::{self, Attempt};
use super::rows::{self, MESSAGE_COLUMNS};
use super::{Manager, checkout, is_unique_violation, map_err};
use crate::store::{InsertOutcome, NewMessage, StoreError, StoredBody, StoredMessage};

/// Most messages stored in one transaction.
pub(super) const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<InsertOutcome, StoreError>>;

struct Job {
    message: NewMessage,
    reply: Reply,
}

/// The per-room queues of one store. A room is in the map while its leader runs.
pub(super) struct GroupCommit {
    pool: Pool<Manager>,
    operation_timeout: Duration,
    rooms: Mutex<HashMap<RoomId, Vec<Job>>>,
}

impl GroupCommit {
    pub(super) fn new(pool: Pool<Manager>, operation_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            pool,
            operation_timeout,
            rooms: Mutex::new(HashMap::new()),
        })
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomId, Vec<Job>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` for the next batch of its room, now; the returned future gives the
    /// outcome once that batch committed (or failed).
    pub(super) fn queue(
        self: &Arc<Self>,
        message: NewMessage,
    ) -> impl Future<Output = Result<InsertOutcome, StoreError>> + Send + 'static {
        let room = message.room_id;
        let (reply, outcome) = oneshot::channel();
        let job = Job { message, reply };
        let start_leader = match self.rooms().entry(room) {
            Entry::Occupied(mut queue) => {
                queue.get_mut().push(job);
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(vec![job]);
                true
            }
        };
        if start_leader {
            // A task, not the caller: the caller's answer must not wait for other batches.
            tokio::spawn(Arc::clone(self).lead(room));
        }
        async move {
            outcome.await.map_err(|_| {
                StoreError::Unavailable("the message was not stored: the store stopped".into())
            })?
        }
    }

    /// Stores the room's queued messages batch after batch until none are left.
    async fn lead(self: Arc<Self>, room: RoomId) {
        // Should this task end early (a panic), the room must not stay "led" by nobody:
        // the guard removes its queue, whose callers are then told the store stopped.
        let mut guard = Abandon {
            commits: Arc::clone(&self),
            room,
            finished: false,
        };
        loop {
            let batch = {
                let mut rooms = self.rooms();
                let Some(queue) = rooms.get_mut(&room) else {
                    guard.finished = true;
                    return;
                };
                if queue.is_empty() {
                    rooms.remove(&room);
                    guard.finished = true;
                    return;
                }
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect::<Vec<_>>()
            };
            self.store_batch(batch).await;
        }
    }

    async fn store_batch(&self, jobs: Vec<Job>) {
        let messages: Vec<&NewMessage> = jobs.iter().map(|j| &j.message).collect();
        let attempt = tokio::time::timeout(self.operation_timeout, async {
            let mut conn = checkout(&self.pool).await.map_err(Attempt::Failed)?;
            insert_batch(&mut conn, &messages).await
        })
        .await
        .unwrap_or_else(|_| {
            Err(Attempt::Failed(StoreError::Unavailable(
                "the database did not answer in time".into(),
            )))
        });
        match attempt {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(Attempt::Duplicate) => {
                for job in jobs {
                    let outcome = tokio::time::timeout(self.operation_timeout, async {
                        let mut conn = checkout(&self.pool).await?;
                        messages::insert_message(&mut conn, &job.message).await
                    })
                    .await
                    .unwrap_or_else(|_| {
                        Err(StoreError::Unavailable(
                            "the database did not answer in time".into(),
                        ))
                    });
                    let _ = job.reply.send(outcome);
                }
            }
            Err(Attempt::Failed(e)) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Removes a room's queue when its leader ends without finishing it. (Once the leader has
/// removed the queue itself, a new leader may own the room: then this does nothing.)
struct Abandon {
    commits: Arc<GroupCommit>,
    room: RoomId,
    finished: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.finished {
            self.commits.rooms().remove(&self.room);
        }
    }
}

/// Stores the messages of one room in one transaction; one outcome per message, in order.
async fn insert_batch(c: &mut Client, batch: &[&NewMessage]) -> Result<Vec<InsertOutcome>, Attempt> {
    let room = batch[0].room_id;
    let tx = c.transaction().await.map_err(map_err)?;

    // What is already stored, and the first place of each (sender, client id) in the batch.
    let key = |m: &NewMessage| (m.sender_id, m.client_msg_id);
    let senders: Vec<i64> = batch.iter().map(|m| m.sender_id.as_i64()).collect();
    let client_ids: Vec<String> = batch.iter().map(|m| m.client_msg_id.to_string()).collect();
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users s ON s.id = m.sender_id
         JOIN unnest($1::bigint[], $2::text[]::uuid[]) AS k(sender_id, client_msg_id)
           ON m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id"
    );
    let mut stored: HashMap<(UserId, ClientMsgId), StoredMessage> = HashMap::new();
    for row in tx.query(&sql, &[&senders, &client_ids]).await.map_err(map_err)? {
        let found = rows::message(&row, 0)?;
        stored.insert((found.sender.id, found.client_msg_id), found);
    }
    // Which senders are members (no row at all: the room does not exist).
    let membership = tx
        .query(
            "SELECT m.user_id, r.visibility, r.encrypted FROM rooms r
             LEFT JOIN members m ON m.room_id = r.id AND m.user_id = ANY($2)
             WHERE r.id = $1",
            &[&room.as_i64(), &senders],
        )
        .await
        .map_err(map_err)?;
    let Some(first) = membership.first() else {
        return Err(StoreError::NotFound(format!("room {room}")).into());
    };
    let visibility = rows::get::<&str>(first, 1)?;
    let visibility = Visibility::from_str_opt(visibility)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown visibility {visibility:?}")))?;
    let members: HashSet<i64> = membership
        .iter()
        .map(|row| rows::get::<Option<i64>>(row, 0))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let is_member = |m: &NewMessage| members.contains(&m.sender_id.as_i64());
    if rows::get::<bool>(first, 2)? {
        // Plain text never enters an encrypted room's timeline. Only a member learns that
        // the room is encrypted: to anyone else it answers as a room they are not in.
        return Ok(batch
            .iter()
            .map(|m| {
                if is_member(m) {
                    InsertOutcome::RoomEncrypted
                } else {
                    InsertOutcome::NotMember(visibility)
                }
            })
            .collect());
    }
    let mut fresh: Vec<&NewMessage> = Vec::new();
    for m in batch {
        if !stored.contains_key(&key(m)) && is_member(m) && !fresh.iter().any(|f| key(f) == key(m)) {
            fresh.push(m);
        }
    }

    let mut inserted: HashMap<(UserId, ClientMsgId), StoredMessage> = HashMap::new();
    if !fresh.is_empty() {
        let column = |f: fn(&NewMessage) -> i64| fresh.iter().map(|m| f(m)).collect::<Vec<i64>>();
        let sender_ids = column(|m| m.sender_id.as_i64());
        let key_ids = column(|m| i64::from(m.body.key_id));
        let sent_at = column(|m| m.sent_at);
        let fresh_client_ids: Vec<String> = fresh.iter().map(|m| m.client_msg_id.to_string()).collect();
        let nonces: Vec<&[u8]> = fresh.iter().map(|m| m.body.nonce.as_slice()).collect();
        let ciphertexts: Vec<&[u8]> = fresh.iter().map(|m| m.body.ciphertext.as_slice()).collect();
        // Looked up before the room's lock is taken, to keep the lock short.
        let users: HashMap<i64, UserInfo> = tx
            .query(
                "SELECT id, username FROM users WHERE id = ANY($1)",
                &[&sender_ids],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|row| Ok((rows::get::<i64>(row, 0)?, rows::user(row, 0)?)))
            .collect::<Result<_, StoreError>>()?;
        // One statement under the room's row lock (taken by `bump`, held until commit; it
        // serialises every writer of the room, on every node): the counters move by the
        // batch's size, the messages take the numbers in batch order, and each sender has
        // read the room up to their own newest message.
        let ids = tx
            .query(
                "WITH bump AS (
                     UPDATE rooms SET last_seq = last_seq + cardinality($2::bigint[]),
                                      message_count = message_count + cardinality($2::bigint[])
                     WHERE id = $1 RETURNING last_seq, message_count
                 ), v AS (
                     SELECT bump.last_seq - cardinality($2::bigint[]) + u.ord AS seq,
                            bump.message_count - cardinality($2::bigint[]) + u.ord AS counted, u.*
                     FROM bump, unnest($2::bigint[], $3::text[]::uuid[], $4::bigint[], $5::bytea[],
                                       $6::bytea[], $7::bigint[])
                          WITH ORDINALITY AS u(sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at, ord)
                 ), ins AS (
                     INSERT INTO messages (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext,
                                           sent_at, counted)
                     SELECT $1, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at, counted FROM v
                     RETURNING seq, id
                 ), reads AS (
                     UPDATE members SET last_read_seq = r.seq, read_count = r.counted
                     FROM (SELECT sender_id, max(seq) AS seq, max(counted) AS counted FROM v
                           GROUP BY sender_id) AS r
                     WHERE members.room_id = $1 AND members.user_id = r.sender_id
                 )
                 SELECT seq, id FROM ins ORDER BY seq",
                &[
                    &room.as_i64(),
                    &sender_ids,
                    &fresh_client_ids,
                    &key_ids,
                    &nonces,
                    &ciphertexts,
                    &sent_at,
                ],
            )
            .await;
        let ids = match ids {
            Ok(ids) => ids,
            Err(e) if is_unique_violation(&e, messages::IDEMPOTENCY_RULE) => return Err(Attempt::Duplicate),
            Err(e) => return Err(map_err(e).into()),
        };
        if ids.is_empty() {
            return Err(StoreError::NotFound(format!("room {room}")).into());
        }
        if ids.len() != fresh.len() {
            return Err(
                StoreError::Corrupt(format!("{} of {} messages stored", ids.len(), fresh.len())).into(),
            );
        }
        // Ascending by seq, which is batch order.
        for (m, row) in fresh.iter().zip(&ids) {
            let sender = users
                .get(&m.sender_id.as_i64())
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("user {}", m.sender_id)))?;
            inserted.insert(
                key(m),
                StoredMessage {
                    id: rows::id::<chat_proto::MessageId>(row, 1)?,
                    room_id: room,
                    seq: rows::seq(row, 0)?,
                    sender,
                    client_msg_id: m.client_msg_id,
                    body: StoredBody::Text(m.body.clone()),
                    device_id: None,
                    sent_at: m.sent_at,
                },
            );
        }
    }

    // The first of each key in the batch is the one stored now; a repeat in the same batch
    // (a retry that overtook its original) gets the stored message, like any retry.
    let mut answered = HashSet::new();
    let outcomes = batch
        .iter()
        .map(|m| {
            let k = key(m);
            if let Some(existing) = stored.get(&k) {
                return Ok(InsertOutcome::Existing(existing.clone()));
            }
            if !is_member(m) {
                return Ok(InsertOutcome::NotMember(visibility));
            }
            let new = inserted
                .get(&k)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt("a message of the batch was not stored".into()))?;
            Ok(if answered.insert(k) {
                InsertOutcome::Inserted(new)
            } else {
                InsertOutcome::Existing(new)
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    tx.commit().await.map_err(map_err)?;
    Ok(outcomes)
}
