//! Rooms, direct rooms, members and read markers.

use chat_proto::{RoomId, RoomKind, RoomName, Seq, UserId, UserInfo};
use tokio_postgres::{Client, GenericClient};

use super::rows::{self, MESSAGE_COLUMNS, ROOM_COLUMNS, ROOM_WIDTH};
use super::{is_unique_violation, map_err};
use crate::store::{Millis, RoomAccess, RoomListing, RoomRecord, StoreError};

pub(super) async fn create_group_room(
    c: &mut Client,
    name: &RoomName,
    creator: UserId,
    now: Millis,
) -> Result<RoomRecord, StoreError> {
    let tx = c.transaction().await.map_err(map_err)?;
    let row = tx
        .query_one(
            "INSERT INTO rooms (kind, name, created_by, created_at) VALUES ('group', $1, $2, $3)
             RETURNING id",
            &[&name.as_str(), &creator.as_i64(), &now],
        )
        .await
        .map_err(map_err)?;
    let id: RoomId = rows::id(&row, 0)?;
    tx.execute(
        "INSERT INTO members (room_id, user_id, joined_at) VALUES ($1, $2, $3)",
        &[&id.as_i64(), &creator.as_i64(), &now],
    )
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(RoomRecord {
        id,
        kind: RoomKind::Group,
        name: name.as_str().to_owned(),
        created_by: creator,
        created_at: now,
        last_seq: 0,
        direct: None,
    })
}

pub(super) async fn open_direct(
    c: &mut Client,
    a: UserId,
    b: UserId,
    now: Millis,
) -> Result<(RoomRecord, bool), StoreError> {
    // Two nodes may create the same pair's room at once: the loser's insert breaks the
    // pair's unique rule, and its second attempt finds the winner's room.
    match try_open_direct(c, a, b, now).await {
        Err(Retry::PairTaken) => try_open_direct(c, a, b, now).await.map_err(Retry::into_error),
        other => other.map_err(Retry::into_error),
    }
}

enum Retry {
    PairTaken,
    Failed(StoreError),
}

impl Retry {
    fn into_error(self) -> StoreError {
        match self {
            Retry::PairTaken => StoreError::Conflict("the direct room was created concurrently".into()),
            Retry::Failed(e) => e,
        }
    }
}

impl From<StoreError> for Retry {
    fn from(e: StoreError) -> Self {
        Retry::Failed(e)
    }
}

async fn try_open_direct(
    c: &mut Client,
    a: UserId,
    b: UserId,
    now: Millis,
) -> Result<(RoomRecord, bool), Retry> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let tx = c.transaction().await.map_err(map_err)?;
    let existing = tx
        .query_opt(
            &format!(
                "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.direct_user_low = $1 AND r.direct_user_high = $2"
            ),
            &[&low.as_i64(), &high.as_i64()],
        )
        .await
        .map_err(map_err)?;
    let (room, created) = match existing {
        Some(row) => (rows::room(&row, 0)?, false),
        None => {
            let known: i64 = rows::get(
                &tx.query_one(
                    "SELECT COUNT(*) FROM users WHERE id IN ($1, $2)",
                    &[&low.as_i64(), &high.as_i64()],
                )
                .await
                .map_err(map_err)?,
                0,
            )?;
            if known != if low == high { 1 } else { 2 } {
                return Err(StoreError::NotFound("no such user".into()).into());
            }
            let inserted = tx
                .query_one(
                    "INSERT INTO rooms (kind, name, created_by, created_at, direct_user_low, direct_user_high)
                     VALUES ('direct', '', $1, $2, $3, $4) RETURNING id",
                    &[&a.as_i64(), &now, &low.as_i64(), &high.as_i64()],
                )
                .await;
            let row = match inserted {
                Ok(row) => row,
                Err(e) if is_unique_violation(&e, "rooms_direct_pair") => {
                    return Err(Retry::PairTaken);
                }
                Err(e) => return Err(map_err(e).into()),
            };
            let room = RoomRecord {
                id: rows::id(&row, 0)?,
                kind: RoomKind::Direct,
                name: String::new(),
                created_by: a,
                created_at: now,
                last_seq: 0,
                direct: Some((low, high)),
            };
            (room, true)
        }
    };
    for user in [low, high] {
        tx.execute(
            "INSERT INTO members (room_id, user_id, joined_at, last_read_seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&room.id.as_i64(), &user.as_i64(), &now, &(room.last_seq as i64)],
        )
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok((room, created))
}

pub(super) async fn room_access(
    c: &impl GenericClient,
    room_id: RoomId,
    user_id: UserId,
) -> Result<RoomAccess, StoreError> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, m.last_read_seq FROM rooms r
         LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2 WHERE r.id = $1"
    );
    let Some(row) = c
        .query_opt(&sql, &[&room_id.as_i64(), &user_id.as_i64()])
        .await
        .map_err(map_err)?
    else {
        return Ok(RoomAccess::NoRoom);
    };
    let room = rows::room(&row, 0)?;
    Ok(match rows::get::<Option<i64>>(&row, ROOM_WIDTH)? {
        Some(_) => RoomAccess::Member {
            room,
            last_read_seq: rows::seq(&row, ROOM_WIDTH)?,
        },
        None => RoomAccess::NotMember(room),
    })
}

pub(super) async fn add_member(
    c: &impl GenericClient,
    room_id: RoomId,
    user_id: UserId,
    now: Millis,
) -> Result<bool, StoreError> {
    // One statement: a new member starts with everything before their arrival marked read;
    // the second part tells "already a member" from "no such room".
    let row = c
        .query_one(
            "WITH added AS (
                 INSERT INTO members (room_id, user_id, joined_at, last_read_seq)
                 SELECT id, $2, $3, last_seq FROM rooms WHERE id = $1
                 ON CONFLICT DO NOTHING RETURNING 1
             )
             SELECT (SELECT COUNT(*) FROM added), EXISTS (SELECT 1 FROM rooms WHERE id = $1)",
            &[&room_id.as_i64(), &user_id.as_i64(), &now],
        )
        .await
        .map_err(map_err)?;
    let added: i64 = rows::get(&row, 0)?;
    let exists: bool = rows::get(&row, 1)?;
    if !exists {
        return Err(StoreError::NotFound(format!("room {room_id}")));
    }
    Ok(added > 0)
}

pub(super) async fn remove_member(
    c: &impl GenericClient,
    room_id: RoomId,
    user_id: UserId,
) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "DELETE FROM members WHERE room_id = $1 AND user_id = $2",
            &[&room_id.as_i64(), &user_id.as_i64()],
        )
        .await
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) async fn list_members(
    c: &impl GenericClient,
    room_id: RoomId,
) -> Result<Vec<UserInfo>, StoreError> {
    c.query(
        "SELECT u.id, u.username FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = $1 ORDER BY u.username_canonical",
        &[&room_id.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| rows::user(row, 0))
    .collect()
}

pub(super) async fn room_ids_of(c: &impl GenericClient, user_id: UserId) -> Result<Vec<RoomId>, StoreError> {
    c.query(
        "SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id",
        &[&user_id.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| rows::id(row, 0))
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
    // Columns: room 0..8, read marker 8, peer 9..11, last message 11..21.
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, mb.last_read_seq, p.id, p.username, {MESSAGE_COLUMNS}
         FROM members mb
         JOIN rooms r ON r.id = mb.room_id
         LEFT JOIN users p ON r.kind = 'direct' AND p.id =
             CASE WHEN r.direct_user_low = $1 THEN r.direct_user_high ELSE r.direct_user_low END
         LEFT JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq
         LEFT JOIN users s ON s.id = m.sender_id
         WHERE mb.user_id = $1
         ORDER BY COALESCE(m.sent_at, r.created_at) DESC, r.id DESC"
    );
    let found = c.query(&sql, &[&user_id.as_i64()]).await.map_err(map_err)?;
    found
        .iter()
        .map(|row| {
            let peer = rows::get::<Option<i64>>(row, 9)?;
            let message = rows::get::<Option<i64>>(row, 11)?;
            Ok(RoomListing {
                room: rows::room(row, 0)?,
                last_read_seq: rows::seq(row, 8)?,
                peer: peer.map(|_| rows::user(row, 9)).transpose()?,
                last_message: message.map(|_| rows::message(row, 11)).transpose()?,
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
    let row = c
        .query_opt(
            "UPDATE members SET last_read_seq =
                 GREATEST(last_read_seq, LEAST($3, (SELECT last_seq FROM rooms WHERE id = $1)))
             WHERE room_id = $1 AND user_id = $2 RETURNING last_read_seq",
            &[&room_id.as_i64(), &user_id.as_i64(), &seq],
        )
        .await
        .map_err(map_err)?;
    row.map(|row| rows::seq(&row, 0)).transpose()
}
