//! Changes to rooms (membership, roles, invitations, bans, settings) applied under the
//! room's state version, and the reads behind invitations, invite links, bans and the
//! public directory.

use chat_proto::{InviteLinkId, RoomId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::map_err;
use super::rooms::{add_member_row, append_notice, get_room};
use super::rows::{self, ROOM_COLUMNS, ROOM_WIDTH};
use crate::store::{
    BanRecord, DirectoryCursor, InvitationRecord, InviteLinkRecord, MemberOp, NewInviteLink, RoomChange,
    RoomRecord, StoreError, StoredMessage, TokenHash,
};

/// Why a change was not applied: the room moved on (decide again) or a real failure.
enum Refused {
    Stale,
    Failed(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Failed(e)
    }
}

pub(super) fn change_room(
    conn: &mut Connection,
    change: &RoomChange,
) -> Result<Option<Vec<StoredMessage>>, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    match apply(&tx, change) {
        Ok(notices) => {
            tx.commit().map_err(map_err)?;
            Ok(Some(notices))
        }
        // Dropping the savepoint undoes whatever was applied before the refusal.
        Err(Refused::Stale) => Ok(None),
        Err(Refused::Failed(e)) => Err(e),
    }
}

fn apply(conn: &Connection, change: &RoomChange) -> Result<Vec<StoredMessage>, Refused> {
    let room = change.room_id.as_i64();
    let bumped = conn
        .execute(
            "UPDATE rooms SET state_version = state_version + 1 WHERE id = ?1 AND state_version = ?2",
            params![room, change.expected_version as i64],
        )
        .map_err(map_err)?;
    if bumped == 0 {
        return match get_room(conn, change.room_id)? {
            Some(_) => Err(Refused::Stale),
            None => Err(StoreError::NotFound(format!("room {}", change.room_id)).into()),
        };
    }
    for op in &change.ops {
        apply_op(conn, change, op)?;
    }
    let mut stored = Vec::with_capacity(change.notices.len());
    for notice in &change.notices {
        stored.push(append_notice(
            conn,
            change.room_id,
            notice.sender,
            notice.client_msg_id,
            notice.notice.clone(),
            change.now,
        )?);
    }
    Ok(stored)
}

fn apply_op(conn: &Connection, change: &RoomChange, op: &MemberOp) -> Result<(), Refused> {
    let room = change.room_id.as_i64();
    let run = |sql: &str, user: UserId| conn.execute(sql, params![room, user.as_i64()]).map_err(map_err);
    match op {
        MemberOp::Add { user, role } => {
            add_member_row(conn, change.room_id, *user, *role, change.now)?;
            run("DELETE FROM invites WHERE room_id = ?1 AND user_id = ?2", *user)?;
        }
        MemberOp::Remove { user } => {
            if run("DELETE FROM members WHERE room_id = ?1 AND user_id = ?2", *user)? > 0 {
                conn.execute(
                    "UPDATE rooms SET member_count = member_count - 1 WHERE id = ?1",
                    [room],
                )
                .map_err(map_err)?;
            }
        }
        MemberOp::SetRole { user, role } => {
            conn.execute(
                "UPDATE members SET role = ?3 WHERE room_id = ?1 AND user_id = ?2",
                params![room, user.as_i64(), role.as_str()],
            )
            .map_err(map_err)?;
        }
        MemberOp::Invite { user, by } => {
            conn.execute(
                "INSERT OR REPLACE INTO invites (room_id, user_id, invited_by, invited_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![room, user.as_i64(), by.as_i64(), change.now],
            )
            .map_err(map_err)?;
        }
        MemberOp::Uninvite { user } => {
            run("DELETE FROM invites WHERE room_id = ?1 AND user_id = ?2", *user)?;
        }
        MemberOp::Ban { user, by } => {
            conn.execute(
                "INSERT OR REPLACE INTO bans (room_id, user_id, banned_by, banned_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![room, user.as_i64(), by.as_i64(), change.now],
            )
            .map_err(map_err)?;
            run("DELETE FROM invites WHERE room_id = ?1 AND user_id = ?2", *user)?;
        }
        MemberOp::Unban { user } => {
            run("DELETE FROM bans WHERE room_id = ?1 AND user_id = ?2", *user)?;
        }
        MemberOp::UseLink { link } => {
            let used = conn
                .execute(
                    "UPDATE invite_links SET uses = uses + 1
                     WHERE id = ?1 AND room_id = ?2 AND revoked = 0
                       AND (expires_at IS NULL OR expires_at > ?3)
                       AND (max_uses IS NULL OR uses < max_uses)",
                    params![link.as_i64(), room, change.now],
                )
                .map_err(map_err)?;
            if used == 0 {
                return Err(Refused::Stale);
            }
        }
        MemberOp::Update { name, topic } => {
            if let Some(name) = name {
                conn.execute(
                    "UPDATE rooms SET name = ?2 WHERE id = ?1",
                    params![room, name.as_str()],
                )
                .map_err(map_err)?;
            }
            if let Some(topic) = topic {
                conn.execute(
                    "UPDATE rooms SET topic = ?2 WHERE id = ?1",
                    params![room, topic.as_str()],
                )
                .map_err(map_err)?;
            }
        }
    }
    Ok(())
}

pub(super) fn list_invitations(
    conn: &Connection,
    user_id: UserId,
) -> Result<Vec<InvitationRecord>, StoreError> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, u.id, u.username, i.invited_at
         FROM invites i JOIN rooms r ON r.id = i.room_id JOIN users u ON u.id = i.invited_by
         WHERE i.user_id = ?1 ORDER BY i.invited_at DESC, r.id"
    );
    let at = ROOM_WIDTH;
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.query_map([user_id.as_i64()], |row| {
        Ok(InvitationRecord {
            room: rows::room(row, 0)?,
            inviter: rows::user(row, at)?,
            invited_at: row.get(at + 2)?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}

/// The columns [`link`] reads, for `invite_links l JOIN users u ON u.id = l.created_by`.
const LINK_COLUMNS: &str =
    "l.id, l.room_id, u.id, u.username, l.created_at, l.expires_at, l.max_uses, l.uses, l.revoked";

fn link(row: &rusqlite::Row<'_>) -> rusqlite::Result<InviteLinkRecord> {
    let max_uses: Option<i64> = row.get(6)?;
    let uses: i64 = row.get(7)?;
    let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(InviteLinkRecord {
        id: rows::id(row, 0)?,
        room_id: rows::id(row, 1)?,
        created_by: rows::user(row, 2)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        max_uses: max_uses.map(count),
        uses: count(uses),
        revoked: row.get(8)?,
    })
}

pub(super) fn create_invite_link(
    conn: &mut Connection,
    new: &NewInviteLink,
) -> Result<InviteLinkRecord, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    if get_room(&tx, new.room_id)?.is_none() {
        return Err(StoreError::NotFound(format!("room {}", new.room_id)));
    }
    let id: InviteLinkId = tx
        .query_row(
            "INSERT INTO invite_links (room_id, token_hash, created_by, created_at, expires_at, max_uses)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![
                new.room_id.as_i64(),
                &new.token_hash[..],
                new.created_by.as_i64(),
                new.created_at,
                new.expires_at,
                new.max_uses
            ],
            |row| rows::id(row, 0),
        )
        .map_err(map_err)?;
    let record = find_link(&tx, "l.id = ?1", params![id.as_i64()])?
        .ok_or_else(|| StoreError::NotFound(format!("invite link {id}")))?;
    tx.commit().map_err(map_err)?;
    Ok(record)
}

fn find_link(
    conn: &Connection,
    condition: &str,
    args: impl rusqlite::Params,
) -> Result<Option<InviteLinkRecord>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN users u ON u.id = l.created_by WHERE {condition}"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.query_row(args, link).optional())
        .map_err(map_err)
}

pub(super) fn find_invite_link(
    conn: &Connection,
    token_hash: &TokenHash,
) -> Result<Option<InviteLinkRecord>, StoreError> {
    find_link(conn, "l.token_hash = ?1", params![&token_hash[..]])
}

pub(super) fn list_invite_links(
    conn: &Connection,
    room_id: RoomId,
) -> Result<Vec<InviteLinkRecord>, StoreError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM invite_links l JOIN users u ON u.id = l.created_by
         WHERE l.room_id = ?1 ORDER BY l.created_at DESC, l.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.query_map([room_id.as_i64()], link)
        .and_then(|it| it.collect())
        .map_err(map_err)
}

pub(super) fn revoke_invite_link(
    conn: &mut Connection,
    room_id: RoomId,
    link: InviteLinkId,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "UPDATE invite_links SET revoked = 1 WHERE id = ?1 AND room_id = ?2",
            params![link.as_i64(), room_id.as_i64()],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) fn list_bans(conn: &Connection, room_id: RoomId) -> Result<Vec<BanRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.username, a.id, a.username, b.banned_at
             FROM bans b JOIN users u ON u.id = b.user_id JOIN users a ON a.id = b.banned_by
             WHERE b.room_id = ?1 ORDER BY b.banned_at DESC, u.id",
        )
        .map_err(map_err)?;
    stmt.query_map([room_id.as_i64()], |row| {
        Ok(BanRecord {
            user: rows::user(row, 0)?,
            banned_by: rows::user(row, 2)?,
            banned_at: row.get(4)?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}

pub(super) fn public_rooms(
    conn: &Connection,
    query: Option<&str>,
    after: Option<DirectoryCursor>,
    limit: u32,
) -> Result<Vec<RoomRecord>, StoreError> {
    // `instr(lower(..), lower(..))` matches a plain substring: no LIKE wildcards to escape.
    let sql = format!(
        "SELECT {ROOM_COLUMNS} FROM rooms r
         WHERE r.kind = 'group' AND r.visibility = 'public'
           AND (?1 IS NULL OR instr(lower(r.name), lower(?1)) > 0)
           AND (?2 IS NULL OR r.member_count < ?2 OR (r.member_count = ?2 AND r.id > ?3))
         ORDER BY r.member_count DESC, r.id
         LIMIT ?4"
    );
    let (count, id) = after.map_or((None, None), |c| {
        (Some(c.member_count as i64), Some(c.room_id.as_i64()))
    });
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.query_map(params![query, count, id, i64::from(limit)], |row| {
        rows::room(row, 0)
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}
