//! Users and sessions.

use chat_proto::{UserId, UserInfo, Username};
use tokio_postgres::GenericClient;

use super::{map_err, rows};
use crate::store::{Millis, NewSession, SessionRecord, StoreError, TokenHash, UserRecord};

pub(super) async fn create_user(
    c: &impl GenericClient,
    username: &Username,
    password_hash: &str,
    now: Millis,
) -> Result<UserRecord, StoreError> {
    let inserted = c
        .query_one(
            "INSERT INTO users (username, username_canonical, password_hash, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[&username.as_str(), &username.canonical(), &password_hash, &now],
        )
        .await
        .map_err(map_err)
        .and_then(|row| rows::id::<UserId>(&row, 0));
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

pub(super) async fn find_user(
    c: &impl GenericClient,
    canonical: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let row = c
        .query_opt(
            "SELECT id, username, password_hash, created_at FROM users WHERE username_canonical = $1",
            &[&canonical],
        )
        .await
        .map_err(map_err)?;
    row.map(|row| {
        Ok(UserRecord {
            user: rows::user(&row, 0)?,
            password_hash: rows::get(&row, 2)?,
            created_at: rows::get(&row, 3)?,
        })
    })
    .transpose()
}

pub(super) async fn get_user(c: &impl GenericClient, id: UserId) -> Result<Option<UserInfo>, StoreError> {
    let row = c
        .query_opt("SELECT id, username FROM users WHERE id = $1", &[&id.as_i64()])
        .await
        .map_err(map_err)?;
    row.map(|row| rows::user(&row, 0)).transpose()
}

pub(super) async fn create_session(c: &impl GenericClient, session: &NewSession) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[
            &&session.token_hash[..],
            &session.user_id.as_i64(),
            &session.created_at,
            &session.expires_at,
        ],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(super) async fn resume_session(
    c: &impl GenericClient,
    token_hash: &TokenHash,
    now: Millis,
    new_expires_at: Millis,
) -> Result<Option<SessionRecord>, StoreError> {
    // One statement: the extension and the read of the user happen atomically.
    let row = c
        .query_opt(
            "WITH s AS (
                 UPDATE sessions SET expires_at = GREATEST(expires_at, $3)
                 WHERE token_hash = $1 AND expires_at > $2
                 RETURNING user_id, expires_at
             )
             SELECT s.user_id, u.id, u.username, s.expires_at FROM s LEFT JOIN users u ON u.id = s.user_id",
            &[&&token_hash[..], &now, &new_expires_at],
        )
        .await
        .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    if rows::get::<Option<i64>>(&row, 1)?.is_none() {
        let user_id: i64 = rows::get(&row, 0)?;
        return Err(StoreError::Corrupt(format!("session of missing user {user_id}")));
    }
    Ok(Some(SessionRecord {
        user: rows::user(&row, 1)?,
        expires_at: rows::get(&row, 3)?,
    }))
}

pub(super) async fn delete_session(
    c: &impl GenericClient,
    token_hash: &TokenHash,
) -> Result<bool, StoreError> {
    let n = c
        .execute("DELETE FROM sessions WHERE token_hash = $1", &[&&token_hash[..]])
        .await
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) async fn delete_expired_sessions(c: &impl GenericClient, now: Millis) -> Result<u64, StoreError> {
    c.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])
        .await
        .map_err(map_err)
}
