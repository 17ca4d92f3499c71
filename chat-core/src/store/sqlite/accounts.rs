//! Users and sessions.

use chat_proto::{UserId, UserInfo, Username};
use rusqlite::{Connection, OptionalExtension, params};

use super::{map_err, rows};
use crate::store::{Millis, NewSession, SessionRecord, StoreError, TokenHash, UserRecord};

pub(super) fn create_user(
    conn: &mut Connection,
    username: &Username,
    password_hash: &str,
    now: Millis,
) -> Result<UserRecord, StoreError> {
    let inserted = conn
        .query_row(
            "INSERT INTO users (username, username_canonical, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4) RETURNING id",
            params![username.as_str(), username.canonical(), password_hash, now],
            |row| rows::id::<UserId>(row, 0),
        )
        .map_err(map_err);
    match inserted {
        Ok(id) => Ok(UserRecord {
            user: UserInfo {
                id,
                username: username.clone(),
            },
            password_hash: password_hash.to_owned(),
            created_at: now,
        }),
        Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
            "username {:?} is taken",
            username.canonical()
        ))),
        Err(e) => Err(e),
    }
}

pub(super) fn find_user(conn: &Connection, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT id, username, password_hash, created_at FROM users WHERE username_canonical = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([canonical], |row| {
            Ok(UserRecord {
                user: rows::user(row, 0)?,
                password_hash: row.get(2)?,
                created_at: row.get(3)?,
            })
        })
        .optional()
    })
    .map_err(map_err)
}

pub(super) fn get_user(conn: &Connection, id: UserId) -> Result<Option<UserInfo>, StoreError> {
    conn.prepare_cached("SELECT id, username FROM users WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id.as_i64()], |row| rows::user(row, 0)).optional())
        .map_err(map_err)
}

pub(super) fn create_session(conn: &mut Connection, session: &NewSession) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            &session.token_hash[..],
            session.user_id.as_i64(),
            session.created_at,
            session.expires_at
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

pub(super) fn resume_session(
    conn: &mut Connection,
    token_hash: &TokenHash,
    now: Millis,
    new_expires_at: Millis,
) -> Result<Option<SessionRecord>, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    let found = tx
        .query_row(
            "UPDATE sessions SET expires_at = MAX(expires_at, ?3)
             WHERE token_hash = ?1 AND expires_at > ?2
             RETURNING user_id, expires_at",
            params![&token_hash[..], now, new_expires_at],
            |row| Ok((rows::id::<UserId>(row, 0)?, row.get::<_, i64>(1)?)),
        )
        .optional()
        .map_err(map_err)?;
    let Some((user_id, expires_at)) = found else {
        return Ok(None);
    };
    let user = get_user(&tx, user_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("session of missing user {user_id}")))?;
    tx.commit().map_err(map_err)?;
    Ok(Some(SessionRecord { user, expires_at }))
}

pub(super) fn delete_session(conn: &mut Connection, token_hash: &TokenHash) -> Result<bool, StoreError> {
    let n = conn
        .execute("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash[..]])
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) fn delete_expired_sessions(conn: &mut Connection, now: Millis) -> Result<u64, StoreError> {
    let n = conn
        .execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
        .map_err(map_err)?;
    Ok(n as u64)
}
