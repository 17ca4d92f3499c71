//! Rooms, direct rooms, members and read markers.

use chat_proto::{ClientMsgId, Notice, Role, RoomId, RoomKind, Seq, UserId, UserInfo, Visibility};
use tokio_postgres::{Client, GenericClient};

use super::messages::{Appending, append_item};
use super::rows::{self, MESSAGE_COLUMNS, ROOM_COLUMNS, ROOM_WIDTH};
use super::{accounts, is_unique_violation, map_err};
use crate::store::{
    Millis, NewGroupRoom, RoomAccess, RoomListing, RoomRecord, RoomRow, StoreError, StoredBody, StoredMessage,
};

/// Attempts at drawing a random room id that is not taken (a clash is already unlikely
/// once in 2^63).
const ID_ATTEMPTS: usize = 4;

/// Why inserting a room failed.
enum Insert {
    /// Another transaction created the same pair's direct room first.
    PairTaken,
    Failed(StoreError),
}

/// Inserts a room row under a fresh random id; returns the id. Runs in a savepoint per
/// attempt, so that a clash does not abort the caller's transaction.
async fn insert_room(tx: &mut tokio_postgres::Transaction<'_>, row: &RoomRow<'_>) -> Result<RoomId, Insert> {
    let (low, high) = row
        .direct
        .map_or((None, None), |(l, h)| (Some(l.as_i64()), Some(h.as_i64())));
    for _ in 0..ID_ATTEMPTS {
        let id = crate::store::random_room_id();
        let attempt = tx
            .savepoint("room_id")
            .await
            .map_err(|e| Insert::Failed(map_err(e)))?;
        let inserted = attempt
            .execute(
                "INSERT INTO rooms (id, kind, name, topic, visibility, created_by, created_at,
                                    direct_user_low, direct_user_high, encrypted)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &id.as_i64(),
                    &row.kind_text(),
                    &row.name,
                    &row.topic,
                    &row.visibility.as_str(),
                    &row.created_by.as_i64(),
                    &row.now,
                    &low,
                    &high,
                    &row.encrypted,
                ],
            )
            .await;
        match inserted {
            Ok(_) => {
                attempt.commit().await.map_err(|e| Insert::Failed(map_err(e)))?;
                return Ok(id);
            }
            Err(e) if is_unique_violation(&e, "rooms_direct_pair") => return Err(Insert::PairTaken),
            Err(e) if is_unique_violation(&e, "rooms_pkey") => continue,
            Err(e) => return Err(Insert::Failed(map_err(e))),
        }
    }
    Err(Insert::Failed(StoreError::Conflict("no free room id".into())))
}

/// Adds a member row (read marker at the room's end) and counts it.
pub(super) async fn add_member_row(
    c: &impl GenericClient,
    room_id: RoomId,
    user_id: UserId,
    role: Role,
    now: Millis,
) -> Result<(), StoreError> {
    c.execute(
        "WITH added AS (
             INSERT INTO members (room_id, user_id, joined_at, last_read_seq, read_count, role)
             SELECT id, $2, $3, last_seq, message_count, $4 FROM rooms WHERE id = $1
             ON CONFLICT DO NOTHING RETURNING room_id
         )
         UPDATE rooms SET member_count = member_count + 1 WHERE id IN (SELECT room_id FROM added)",
        &[&room_id.as_i64(), &user_id.as_i64(), &now, &role.as_str()],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Appends a notice and returns it as stored.
pub(super) async fn append_notice(
    c: &impl GenericClient,
    room_id: RoomId,
    sender: UserId,
    client_msg_id: ClientMsgId,
    notice: Notice,
    now: Millis,
) -> Result<StoredMessage, StoreError> {
    let body = StoredBody::Notice(notice);
    let item = append_item(c, room_id, sender, &client_msg_id.to_string(), &body, None, now)
        .await
        .map_err(|e| match e {
            Appending::Duplicate => StoreError::Conflict("a notice id was reused".into()),
            Appending::Failed(e) => e,
        })?;
    let sender = accounts::get_user(c, sender)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {sender}")))?;
    Ok(StoredMessage {
        id: item.id,
        room_id,
        seq: item.seq,
        sender,
        client_msg_id,
        body,
        device_id: None,
        sent_at: now,
    })
}

/// The room with this id.
pub(super) async fn get_room(
    c: &impl GenericClient,
    room_id: RoomId,
) -> Result<Option<RoomRecord>, StoreError> {
    let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = $1");
    c.query_opt(&sql, &[&room_id.as_i64()])
        .await
        .map_err(map_err)?
        .map(|row| rows::room(&row, 0))
        .transpose()
}

/// The visibility of a room (`NotFound` when there is none).
pub(super) async fn visibility(c: &impl GenericClient, room_id: RoomId) -> Result<Visibility, StoreError> {
    get_room(c, room_id)
        .await?
        .map(|room| room.visibility)
        .ok_or_else(|| StoreError::NotFound(format!("room {room_id}")))
}

pub(super) async fn create_group_room(
    c: &mut Client,
    new: &NewGroupRoom,
) -> Result<(RoomRecord, StoredMessage), StoreError> {
    let mut tx = c.transaction().await.map_err(map_err)?;
    let row = RoomRow {
        kind: RoomKind::Group,
        name: new.name.as_str(),
        topic: new.topic.as_ref().map_or("", |t| t.as_str()),
        visibility: new.visibility,
        encrypted: new.encrypted,
        created_by: new.creator,
        now: new.now,
        direct: None,
    };
    let id = insert_room(&mut tx, &row).await.map_err(|e| match e {
        Insert::PairTaken => StoreError::Conflict("not a direct room".into()),
        Insert::Failed(e) => e,
    })?;
    add_member_row(&tx, id, new.creator, Role::Owner, new.now).await?;
    let notice = Notice::Created {
        name: new.name.clone(),
        visibility: new.visibility,
    };
    let created = append_notice(&tx, id, new.creator, new.notice_id, notice, new.now).await?;
    let room = get_room(&tx, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("room {id}")))?;
    tx.commit().await.map_err(map_err)?;
    Ok((room, created))
}

pub(super) async fn open_direct(
    c: &mut Client,
    a: &UserInfo,
    b: &UserInfo,
    now: Millis,
) -> Result<(RoomRecord, Vec<StoredMessage>), StoreError> {
    // Two nodes may create the same pair's room at once: the loser's insert breaks the
    // pair's unique rule, and its second attempt finds the winner's room.
    match try_open_direct(c, a, b, now).await {
        Err(Insert::PairTaken) => try_open_direct(c, a, b, now).await,
        other => other,
    }
    .map_err(|e| match e {
        Insert::PairTaken => StoreError::Conflict("the direct room was created concurrently".into()),
        Insert::Failed(e) => e,
    })
}

async fn try_open_direct(
    c: &mut Client,
    a: &UserInfo,
    b: &UserInfo,
    now: Millis,
) -> Result<(RoomRecord, Vec<StoredMessage>), Insert> {
    let failed = Insert::Failed;
    let (low, high) = if a.id <= b.id { (a, b) } else { (b, a) };
    let mut tx = c.transaction().await.map_err(|e| failed(map_err(e)))?;
    let existing = tx
        .query_opt(
            &format!(
                "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.direct_user_low = $1 AND r.direct_user_high = $2"
            ),
            &[&low.id.as_i64(), &high.id.as_i64()],
        )
        .await
        .map_err(|e| failed(map_err(e)))?;
    if let Some(row) = existing {
        return Ok((rows::room(&row, 0).map_err(failed)?, Vec::new()));
    }
    let known: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM users WHERE id IN ($1, $2)",
            &[&low.id.as_i64(), &high.id.as_i64()],
        )
        .await
        .map_err(|e| failed(map_err(e)))
        .and_then(|row| rows::get(&row, 0).map_err(failed))?;
    if known != if low.id == high.id { 1 } else { 2 } {
        return Err(failed(StoreError::NotFound("no such user".into())));
    }
    let row = RoomRow {
        kind: RoomKind::Direct,
        name: "",
        topic: "",
        visibility: Visibility::Private,
        // New direct chats are end-to-end encrypted.
        encrypted: true,
        created_by: a.id,
        now,
        direct: Some((low.id, high.id)),
    };
    let id = insert_room(&mut tx, &row).await?;
    let mut joined = Vec::new();
    let users: &[&UserInfo] = if low.id == high.id { &[a] } else { &[a, b] };
    for user in users {
        add_member_row(&tx, id, user.id, Role::Member, now)
            .await
            .map_err(failed)?;
        let notice = Notice::Joined {
            user: (*user).clone(),
        };
        let stored = append_notice(&tx, id, a.id, ClientMsgId::random(), notice, now)
            .await
            .map_err(failed)?;
        joined.push(stored);
    }
    let room = get_room(&tx, id)
        .await
        .map_err(failed)?
        .ok_or_else(|| failed(StoreError::NotFound(format!("room {id}"))))?;
    tx.commit().await.map_err(|e| failed(map_err(e)))?;
    Ok((room, joined))
}

pub(super) async fn room_access(
    c: &impl GenericClient,
    room_id: RoomId,
    user_id: UserId,
) -> Result<RoomAccess, StoreError> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, m.role, m.last_read_seq,
                EXISTS (SELECT 1 FROM invites i WHERE i.room_id = r.id AND i.user_id = $2),
                EXISTS (SELECT 1 FROM bans b WHERE b.room_id = r.id AND b.user_id = $2)
         FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.id = $1"
    );
    let Some(row) = c
        .query_opt(&sql, &[&room_id.as_i64(), &user_id.as_i64()])
        .await
        .map_err(map_err)?
    else {
        return Ok(RoomAccess::NoRoom);
    };
    let room = rows::room(&row, 0)?;
    let at = ROOM_WIDTH;
    Ok(match rows::get::<Option<&str>>(&row, at)? {
        Some(_) => RoomAccess::Member {
            room,
            role: rows::role(&row, at)?,
            last_read_seq: rows::seq(&row, at + 1)?,
        },
        None => RoomAccess::NotMember {
            room,
            invited: rows::get(&row, at + 2)?,
            banned: rows::get(&row, at + 3)?,
        },
    })
}

pub(super) async fn successor(
    c: &impl GenericClient,
    room_id: RoomId,
    leaving: UserId,
) -> Result<Option<UserId>, StoreError> {
    c.query_opt(
        "SELECT user_id FROM members WHERE room_id = $1 AND user_id <> $2
         ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, joined_at, user_id
         LIMIT 1",
        &[&room_id.as_i64(), &leaving.as_i64()],
    )
    .await
    .map_err(map_err)?
    .map(|row| rows::id(&row, 0))
    .transpose()
}

pub(super) async fn list_members(
    c: &impl GenericClient,
    room_id: RoomId,
) -> Result<Vec<(UserInfo, Role)>, StoreError> {
    c.query(
        "SELECT u.id, u.username, m.role FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = $1 ORDER BY u.username_canonical",
        &[&room_id.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| Ok((rows::user(row, 0)?, rows::role(row, 2)?)))
    .collect()
}

pub(super) async fn rooms_with_last_seq(
    c: &impl GenericClient,
    user_id: UserId,
) -> Result<Vec<(RoomId, Seq)>, StoreError> {
    c.query(
        "SELECT m.room_id, r.last_seq FROM members m JOIN rooms r ON r.id = m.room_id
         WHERE m.user_id = $1 ORDER BY m.room_id",
        &[&user_id.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| Ok((rows::id(row, 0)?, rows::seq(row, 1)?)))
    .collect()
}

pub(super) async fn last_seqs(
    c: &impl GenericClient,
    rooms: &[RoomId],
) -> Result<Vec<(RoomId, Seq)>, StoreError> {
    let ids: Vec<i64> = rooms.iter().map(|r| r.as_i64()).collect();
    c.query("SELECT id, last_seq FROM rooms WHERE id = ANY($1)", &[&ids])
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| Ok((rows::id(row, 0)?, rows::seq(row, 1)?)))
        .collect()
}

pub(super) async fn co_member_ids(
    c: &impl GenericClient,
    user_id: UserId,
) -> Result<Vec<UserId>, StoreError> {
    c.query(
        "SELECT DISTINCT other.user_id FROM members mine
         JOIN members other ON other.room_id = mine.room_id
         WHERE mine.user_id = $1 AND other.user_id <> $1 ORDER BY other.user_id",
        &[&user_id.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| rows::id(row, 0))
    .collect()
}

pub(super) async fn list_rooms(
    c: &impl GenericClient,
    user_id: UserId,
) -> Result<Vec<RoomListing>, StoreError> {
    // Columns: room, then role, read marker, unread, peer (2), last item.
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, mb.role, mb.last_read_seq, r.message_count - mb.read_count,
                p.id, p.username, {MESSAGE_COLUMNS}
         FROM members mb
         JOIN rooms r ON r.id = mb.room_id
         LEFT JOIN users p ON r.kind = 'direct' AND p.id =
             CASE WHEN r.direct_user_low = $1 THEN r.direct_user_high ELSE r.direct_user_low END
         LEFT JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq
         LEFT JOIN users s ON s.id = m.sender_id
         WHERE mb.user_id = $1
         ORDER BY COALESCE(m.sent_at, r.created_at) DESC, r.id DESC"
    );
    let at = ROOM_WIDTH;
    let found = c.query(&sql, &[&user_id.as_i64()]).await.map_err(map_err)?;
    found
        .iter()
        .map(|row| {
            let peer = rows::get::<Option<i64>>(row, at + 3)?;
            let message = rows::get::<Option<i64>>(row, at + 5)?;
            Ok(RoomListing {
                room: rows::room(row, 0)?,
                role: rows::role(row, at)?,
                last_read_seq: rows::seq(row, at + 1)?,
                unread: rows::seq(row, at + 2)?,
                peer: peer.map(|_| rows::user(row, at + 3)).transpose()?,
                last_message: message.map(|_| rows::message(row, at + 5)).transpose()?,
            })
        })
        .collect()
}

pub(super) async fn mark_read(
    c: &impl GenericClient,
    room_id: RoomId,
    user_id: UserId,
    seq: Seq,
) -> Result<Option<Seq>, StoreError> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    // The marker moves to least(seq, last_seq) if that is further; its message count is the
    // `counted` of the newest item at or before it.
    let row = c
        .query_opt(
            "WITH target AS (SELECT LEAST($3, last_seq) AS seq FROM rooms WHERE id = $1),
                  moved AS (
                      UPDATE members SET
                          last_read_seq = target.seq,
                          read_count = COALESCE((SELECT counted FROM messages
                                                 WHERE room_id = $1 AND seq <= target.seq
                                                 ORDER BY seq DESC LIMIT 1), 0)
                      FROM target
                      WHERE room_id = $1 AND user_id = $2 AND target.seq > members.last_read_seq
                      RETURNING last_read_seq
                  )
             SELECT COALESCE((SELECT last_read_seq FROM moved), m.last_read_seq)
             FROM members m WHERE m.room_id = $1 AND m.user_id = $2",
            &[&room_id.as_i64(), &user_id.as_i64(), &seq],
        )
        .await
        .map_err(map_err)?;
    row.map(|row| rows::seq(&row, 0)).transpose()
}
