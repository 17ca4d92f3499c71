//! Rooms, direct rooms, members and read markers.

use chat_proto::{ClientMsgId, Notice, Role, RoomId, RoomKind, Seq, UserId, UserInfo, Visibility};
use rusqlite::{Connection, OptionalExtension, params};

use super::messages::append_item;
use super::rows::{self, MESSAGE_COLUMNS, ROOM_COLUMNS, ROOM_WIDTH};
use super::{accounts, map_err};
use crate::store::{
    Millis, NewGroupRoom, RoomAccess, RoomListing, RoomRecord, RoomRow, StoreError, StoredBody, StoredMessage,
};

/// Attempts at drawing a random room id that is not taken (a clash is already unlikely
/// once in 2^63).
const ID_ATTEMPTS: usize = 4;

/// Inserts a room row under a fresh random id; returns the id.
fn insert_room(conn: &Connection, row: &RoomRow<'_>) -> Result<RoomId, StoreError> {
    let (low, high) = row
        .direct
        .map_or((None, None), |(l, h)| (Some(l.as_i64()), Some(h.as_i64())));
    let mut last = None;
    for _ in 0..ID_ATTEMPTS {
        let id = crate::store::random_room_id();
        let inserted = conn.execute(
            "INSERT INTO rooms (id, kind, name, topic, visibility, created_by, created_at,
                                direct_user_low, direct_user_high, encrypted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id.as_i64(),
                row.kind_text(),
                row.name,
                row.topic,
                row.visibility.as_str(),
                row.created_by.as_i64(),
                row.now,
                low,
                high,
                row.encrypted
            ],
        );
        match inserted.map_err(map_err) {
            Ok(_) => return Ok(id),
            Err(e @ StoreError::Conflict(_)) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| StoreError::Conflict("no free room id".into())))
}

/// Adds a member row (read marker at the room's end) and counts it.
pub(super) fn add_member_row(
    conn: &Connection,
    room_id: RoomId,
    user_id: UserId,
    role: Role,
    now: Millis,
) -> Result<(), StoreError> {
    let added = conn
        .execute(
            "INSERT OR IGNORE INTO members (room_id, user_id, joined_at, last_read_seq, read_count, role)
             SELECT id, ?2, ?3, last_seq, message_count, ?4 FROM rooms WHERE id = ?1",
            params![room_id.as_i64(), user_id.as_i64(), now, role.as_str()],
        )
        .map_err(map_err)?;
    if added > 0 {
        conn.execute(
            "UPDATE rooms SET member_count = member_count + 1 WHERE id = ?1",
            [room_id.as_i64()],
        )
        .map_err(map_err)?;
    }
    Ok(())
}

/// Appends a notice and returns it as stored.
pub(super) fn append_notice(
    conn: &Connection,
    room_id: RoomId,
    sender: UserId,
    client_msg_id: ClientMsgId,
    notice: Notice,
    now: Millis,
) -> Result<StoredMessage, StoreError> {
    let body = StoredBody::Notice(notice);
    let item = append_item(
        conn,
        room_id,
        sender,
        &client_msg_id.to_string(),
        &body,
        None,
        now,
    )?;
    let sender =
        accounts::get_user(conn, sender)?.ok_or_else(|| StoreError::NotFound(format!("user {sender}")))?;
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
pub(super) fn get_room(conn: &Connection, room_id: RoomId) -> Result<Option<RoomRecord>, StoreError> {
    conn.prepare_cached(&format!("SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.id = ?1"))
        .and_then(|mut stmt| {
            stmt.query_row([room_id.as_i64()], |row| rows::room(row, 0))
                .optional()
        })
        .map_err(map_err)
}

/// The visibility of a room (`NotFound` when there is none).
pub(super) fn visibility(conn: &Connection, room_id: RoomId) -> Result<Visibility, StoreError> {
    get_room(conn, room_id)?
        .map(|room| room.visibility)
        .ok_or_else(|| StoreError::NotFound(format!("room {room_id}")))
}

pub(super) fn create_group_room(
    conn: &mut Connection,
    new: &NewGroupRoom,
) -> Result<(RoomRecord, StoredMessage), StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
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
    let id = insert_room(&tx, &row)?;
    add_member_row(&tx, id, new.creator, Role::Owner, new.now)?;
    let notice = Notice::Created {
        name: new.name.clone(),
        visibility: new.visibility,
    };
    let created = append_notice(&tx, id, new.creator, new.notice_id, notice, new.now)?;
    let room = get_room(&tx, id)?.ok_or_else(|| StoreError::NotFound(format!("room {id}")))?;
    tx.commit().map_err(map_err)?;
    Ok((room, created))
}

pub(super) fn open_direct(
    conn: &mut Connection,
    a: &UserInfo,
    b: &UserInfo,
    now: Millis,
) -> Result<(RoomRecord, Vec<StoredMessage>), StoreError> {
    let (low, high) = if a.id <= b.id { (a, b) } else { (b, a) };
    let tx = conn.savepoint().map_err(map_err)?;
    let existing = tx
        .query_row(
            &format!(
                "SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.direct_user_low = ?1 AND r.direct_user_high = ?2"
            ),
            params![low.id.as_i64(), high.id.as_i64()],
            |row| rows::room(row, 0),
        )
        .optional()
        .map_err(map_err)?;
    if let Some(room) = existing {
        return Ok((room, Vec::new()));
    }
    let known: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM users WHERE id IN (?1, ?2)",
            params![low.id.as_i64(), high.id.as_i64()],
            |row| row.get(0),
        )
        .map_err(map_err)?;
    if known != if low.id == high.id { 1 } else { 2 } {
        return Err(StoreError::NotFound("no such user".into()));
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
    let id = insert_room(&tx, &row)?;
    let mut joined = Vec::new();
    let users: &[&UserInfo] = if low.id == high.id { &[a] } else { &[a, b] };
    for user in users {
        add_member_row(&tx, id, user.id, Role::Member, now)?;
        let notice = Notice::Joined {
            user: (*user).clone(),
        };
        joined.push(append_notice(&tx, id, a.id, ClientMsgId::random(), notice, now)?);
    }
    let room = get_room(&tx, id)?.ok_or_else(|| StoreError::NotFound(format!("room {id}")))?;
    tx.commit().map_err(map_err)?;
    Ok((room, joined))
}

pub(super) fn room_access(
    conn: &Connection,
    room_id: RoomId,
    user_id: UserId,
) -> Result<RoomAccess, StoreError> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, m.role, m.last_read_seq,
                EXISTS (SELECT 1 FROM invites i WHERE i.room_id = r.id AND i.user_id = ?2),
                EXISTS (SELECT 1 FROM bans b WHERE b.room_id = r.id AND b.user_id = ?2)
         FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = ?2 WHERE r.id = ?1"
    );
    let at = ROOM_WIDTH;
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row(params![room_id.as_i64(), user_id.as_i64()], |row| {
                let room = rows::room(row, 0)?;
                let role: Option<String> = row.get(at)?;
                Ok(match role {
                    Some(_) => RoomAccess::Member {
                        room,
                        role: rows::role(row, at)?,
                        last_read_seq: rows::seq(row, at + 1)?,
                    },
                    None => RoomAccess::NotMember {
                        room,
                        invited: row.get(at + 2)?,
                        banned: row.get(at + 3)?,
                    },
                })
            })
            .optional()
        })
        .map(|found| found.unwrap_or(RoomAccess::NoRoom))
        .map_err(map_err)
}

pub(super) fn successor(
    conn: &Connection,
    room_id: RoomId,
    leaving: UserId,
) -> Result<Option<UserId>, StoreError> {
    conn.prepare_cached(
        "SELECT user_id FROM members WHERE room_id = ?1 AND user_id <> ?2
         ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, joined_at, user_id
         LIMIT 1",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![room_id.as_i64(), leaving.as_i64()], |row| {
            rows::id(row, 0)
        })
        .optional()
    })
    .map_err(map_err)
}

pub(super) fn list_members(conn: &Connection, room_id: RoomId) -> Result<Vec<(UserInfo, Role)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.username, m.role FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = ?1 ORDER BY u.username_canonical",
        )
        .map_err(map_err)?;
    stmt.query_map([room_id.as_i64()], |row| {
        Ok((rows::user(row, 0)?, rows::role(row, 2)?))
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}

pub(super) fn rooms_with_last_seq(
    conn: &Connection,
    user_id: UserId,
) -> Result<Vec<(RoomId, Seq)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.room_id, r.last_seq FROM members m JOIN rooms r ON r.id = m.room_id
             WHERE m.user_id = ?1 ORDER BY m.room_id",
        )
        .map_err(map_err)?;
    stmt.query_map([user_id.as_i64()], |row| {
        Ok((rows::id(row, 0)?, rows::seq(row, 1)?))
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}

/// One statement whatever the number of rooms: the ids go in as one JSON array.
pub(super) fn last_seqs(conn: &Connection, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError> {
    let ids: Vec<i64> = rooms.iter().map(|r| r.as_i64()).collect();
    let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut stmt = conn
        .prepare_cached("SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?1))")
        .map_err(map_err)?;
    stmt.query_map([ids], |row| Ok((rows::id(row, 0)?, rows::seq(row, 1)?)))
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
    // Columns: room, then role, read marker, unread, peer (2), last item.
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, mb.role, mb.last_read_seq, r.message_count - mb.read_count,
                p.id, p.username, {MESSAGE_COLUMNS}
         FROM members mb
         JOIN rooms r ON r.id = mb.room_id
         LEFT JOIN users p ON r.kind = 'direct' AND p.id =
             CASE WHEN r.direct_user_low = ?1 THEN r.direct_user_high ELSE r.direct_user_low END
         LEFT JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq
         LEFT JOIN users s ON s.id = m.sender_id
         WHERE mb.user_id = ?1
         ORDER BY COALESCE(m.sent_at, r.created_at) DESC, r.id DESC"
    );
    let at = ROOM_WIDTH;
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.query_map([user_id.as_i64()], |row| {
        let peer_id: Option<i64> = row.get(at + 3)?;
        let msg_id: Option<i64> = row.get(at + 5)?;
        Ok(RoomListing {
            room: rows::room(row, 0)?,
            role: rows::role(row, at)?,
            last_read_seq: rows::seq(row, at + 1)?,
            unread: rows::seq(row, at + 2)?,
            peer: peer_id.map(|_| rows::user(row, at + 3)).transpose()?,
            last_message: msg_id.map(|_| rows::message(row, at + 5)).transpose()?,
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
    // The marker moves to min(seq, last_seq) if that is further; its message count is the
    // `counted` of the newest item at or before it.
    conn.execute(
        "UPDATE members SET
             last_read_seq = t.seq,
             read_count = COALESCE((SELECT counted FROM messages
                                    WHERE room_id = ?1 AND seq <= t.seq ORDER BY seq DESC LIMIT 1), 0)
         FROM (SELECT MIN(?3, last_seq) AS seq FROM rooms WHERE id = ?1) AS t
         WHERE room_id = ?1 AND user_id = ?2 AND t.seq > members.last_read_seq",
        params![room_id.as_i64(), user_id.as_i64(), seq],
    )
    .map_err(map_err)?;
    conn.query_row(
        "SELECT last_read_seq FROM members WHERE room_id = ?1 AND user_id = ?2",
        params![room_id.as_i64(), user_id.as_i64()],
        |row| rows::seq(row, 0),
    )
    .optional()
    .map_err(map_err)
}
