//! Rooms, direct rooms, members and read markers.

use chat_proto::{RoomId, RoomKind, RoomName, Seq, UserId, UserInfo};
use rusqlite::{Connection, OptionalExtension, params};

use super::map_err;
use super::rows::{self, MESSAGE_COLUMNS, ROOM_COLUMNS};
use crate::store::{Millis, RoomAccess, RoomListing, RoomRecord, StoreError};

pub(super) fn create_group_room(
    conn: &mut Connection,
    name: &RoomName,
    creator: UserId,
    now: Millis,
) -> Result<RoomRecord, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    let id: RoomId = tx
        .query_row(
            "INSERT INTO rooms (kind, name, created_by, created_at) VALUES ('group', ?1, ?2, ?3)
             RETURNING id",
            params![name.as_str(), creator.as_i64(), now],
            |row| rows::id(row, 0),
        )
        .map_err(map_err)?;
    tx.execute(
        "INSERT INTO members (room_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
        params![id.as_i64(), creator.as_i64(), now],
    )
    .map_err(map_err)?;
    tx.commit().map_err(map_err)?;
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

pub(super) fn open_direct(
    conn: &mut Connection,
    a: UserId,
    b: UserId,
    now: Millis,
) -> Result<(RoomRecord, bool), StoreError> {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let tx = conn.savepoint().map_err(map_err)?;
    let existing = tx
        .query_row(
            &format!(
                "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.direct_user_low = ?1 AND r.direct_user_high = ?2"
            ),
            params![low.as_i64(), high.as_i64()],
            |row| rows::room(row, 0),
        )
        .optional()
        .map_err(map_err)?;
    let (room, created) = match existing {
        Some(room) => (room, false),
        None => {
            let known: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM users WHERE id IN (?1, ?2)",
                    params![low.as_i64(), high.as_i64()],
                    |row| row.get(0),
                )
                .map_err(map_err)?;
            if known != if low == high { 1 } else { 2 } {
                return Err(StoreError::NotFound("no such user".into()));
            }
            let id: RoomId = tx
                .query_row(
                    "INSERT INTO rooms (kind, name, created_by, created_at, direct_user_low, direct_user_high)
                     VALUES ('direct', '', ?1, ?2, ?3, ?4) RETURNING id",
                    params![a.as_i64(), now, low.as_i64(), high.as_i64()],
                    |row| rows::id(row, 0),
                )
                .map_err(map_err)?;
            let room = RoomRecord {
                id,
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
            "INSERT OR IGNORE INTO members (room_id, user_id, joined_at, last_read_seq) VALUES (?1, ?2, ?3, ?4)",
            params![room.id.as_i64(), user.as_i64(), now, room.last_seq as i64],
        )
        .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)?;
    Ok((room, created))
}

pub(super) fn room_access(
    conn: &Connection,
    room_id: RoomId,
    user_id: UserId,
) -> Result<RoomAccess, StoreError> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, m.last_read_seq FROM rooms r
         LEFT JOIN members m ON m.room_id = r.id AND m.user_id = ?2 WHERE r.id = ?1"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(params![room_id.as_i64(), user_id.as_i64()], |row| {
                let room = rows::room(row, 0)?;
                let read: Option<i64> = row.get(8)?;
                Ok(match read {
                    Some(_) => RoomAccess::Member {
                        room,
                        last_read_seq: rows::seq(row, 8)?,
                    },
                    None => RoomAccess::NotMember(room),
                })
            })
            .optional()
        })
        .map(|found| found.unwrap_or(RoomAccess::NoRoom))
        .map_err(map_err)
}

pub(super) fn add_member(
    conn: &mut Connection,
    room_id: RoomId,
    user_id: UserId,
    now: Millis,
) -> Result<bool, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    // A new member starts with everything before their arrival marked read.
    let added = tx
        .execute(
            "INSERT OR IGNORE INTO members (room_id, user_id, joined_at, last_read_seq)
             SELECT id, ?2, ?3, last_seq FROM rooms WHERE id = ?1",
            params![room_id.as_i64(), user_id.as_i64(), now],
        )
        .map_err(map_err)?;
    if added == 0 {
        let exists = tx
            .query_row(
                "SELECT 1 FROM rooms WHERE id = ?1",
                [room_id.as_i64()],
                |_| Ok(()),
            )
            .optional()
            .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("room {room_id}")));
        }
    }
    tx.commit().map_err(map_err)?;
    Ok(added > 0)
}

pub(super) fn remove_member(
    conn: &mut Connection,
    room_id: RoomId,
    user_id: UserId,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
            params![room_id.as_i64(), user_id.as_i64()],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) fn list_members(conn: &Connection, room_id: RoomId) -> Result<Vec<UserInfo>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.username FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = ?1 ORDER BY u.username_canonical",
        )
        .map_err(map_err)?;
    stmt.query_map([room_id.as_i64()], |row| rows::user(row, 0))
        .and_then(|it| it.collect())
        .map_err(map_err)
}

pub(super) fn room_ids_of(conn: &Connection, user_id: UserId) -> Result<Vec<RoomId>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT room_id FROM members WHERE user_id = ?1 ORDER BY room_id")
        .map_err(map_err)?;
    stmt.query_map([user_id.as_i64()], |row| rows::id(row, 0))
        .and_then(|it| it.collect())
        .map_err(map_err)
}

pub(super) fn co_member_ids(conn: &Connection, user_id: UserId) -> Result<Vec<UserId>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT DISTINCT other.user_id FROM members mine
             JOIN members other ON other.room_id = mine.room_id
             WHERE mine.user_id = ?1 AND other.user_id <> ?1 ORDER BY other.user_id",
        )
        .map_err(map_err)?;
    stmt.query_map([user_id.as_i64()], |row| rows::id(row, 0))
        .and_then(|it| it.collect())
        .map_err(map_err)
}

pub(super) fn list_rooms(conn: &Connection, user_id: UserId) -> Result<Vec<RoomListing>, StoreError> {
    // Columns: room 0..8, read marker 8, peer 9..11, last message 11..21.
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, mb.last_read_seq, p.id, p.username, {MESSAGE_COLUMNS}
         FROM members mb
         JOIN rooms r ON r.id = mb.room_id
         LEFT JOIN users p ON r.kind = 'direct' AND p.id =
             CASE WHEN r.direct_user_low = ?1 THEN r.direct_user_high ELSE r.direct_user_low END
         LEFT JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq
         LEFT JOIN users s ON s.id = m.sender_id
         WHERE mb.user_id = ?1
         ORDER BY COALESCE(m.sent_at, r.created_at) DESC, r.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.query_map([user_id.as_i64()], |row| {
        let peer_id: Option<i64> = row.get(9)?;
        let msg_id: Option<i64> = row.get(11)?;
        Ok(RoomListing {
            room: rows::room(row, 0)?,
            last_read_seq: rows::seq(row, 8)?,
            peer: peer_id.map(|_| rows::user(row, 9)).transpose()?,
            last_message: msg_id.map(|_| rows::message(row, 11)).transpose()?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}

pub(super) fn mark_read(
    conn: &mut Connection,
    room_id: RoomId,
    user_id: UserId,
    seq: Seq,
) -> Result<Option<Seq>, StoreError> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    conn.query_row(
        "UPDATE members SET last_read_seq =
             MAX(last_read_seq, MIN(?3, (SELECT last_seq FROM rooms WHERE id = ?1)))
         WHERE room_id = ?1 AND user_id = ?2 RETURNING last_read_seq",
        params![room_id.as_i64(), user_id.as_i64(), seq],
        |row| rows::seq(row, 0),
    )
    .optional()
    .map_err(map_err)
}
