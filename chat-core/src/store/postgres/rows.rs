//! Turning PostgreSQL rows back into records: every stored value goes through the same
//! checked constructors as wire values, and a value that breaks them is reported as corrupt.

use chat_proto::{
    ClientMsgId, MessageId, Notice, Role, RoomId, RoomKind, UserId, UserInfo, Username, Visibility,
};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::store::{RoomRecord, SealedBody, StoreError, StoredBody, StoredMessage};

/// Column `idx` as `T`; a missing column or a wrong type is corrupt data.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
}

fn bad(idx: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {idx}: {e}"))
}

/// A positive id column.
pub(super) fn id<T: TryFrom<i64, Error = chat_proto::ValidationError>>(
    row: &Row,
    idx: usize,
) -> Result<T, StoreError> {
    T::try_from(get::<i64>(row, idx)?).map_err(|e| bad(idx, e))
}

/// A non-negative counter column (sequence numbers).
pub(super) fn seq(row: &Row, idx: usize) -> Result<u64, StoreError> {
    u64::try_from(get::<i64>(row, idx)?).map_err(|e| bad(idx, e))
}

/// A username column.
pub(super) fn username(row: &Row, idx: usize) -> Result<Username, StoreError> {
    Username::parse(get::<&str>(row, idx)?).map_err(|e| bad(idx, e))
}

/// A user as `(id, username)` at columns `idx`, `idx + 1`.
pub(super) fn user(row: &Row, idx: usize) -> Result<UserInfo, StoreError> {
    Ok(UserInfo {
        id: id(row, idx)?,
        username: username(row, idx + 1)?,
    })
}

/// The columns [`room`] reads, in order, for a table aliased `r`.
pub(super) const ROOM_COLUMNS: &str = "r.id, r.kind, r.name, r.created_by, r.created_at, r.last_seq, \
     r.direct_user_low, r.direct_user_high, r.topic, r.visibility, r.member_count, r.state_version, \
     r.encrypted, r.mls_epoch";

/// How many columns [`ROOM_COLUMNS`] has.
pub(super) const ROOM_WIDTH: usize = 14;

/// A room from [`ROOM_COLUMNS`] starting at `idx`.
pub(super) fn room(row: &Row, idx: usize) -> Result<RoomRecord, StoreError> {
    let kind = match get::<&str>(row, idx + 1)? {
        "group" => RoomKind::Group,
        "direct" => RoomKind::Direct,
        other => return Err(bad(idx + 1, format!("unknown room kind {other:?}"))),
    };
    let direct = match get::<Option<i64>>(row, idx + 6)? {
        Some(_) => Some((id::<UserId>(row, idx + 6)?, id::<UserId>(row, idx + 7)?)),
        None => None,
    };
    let visibility = get::<&str>(row, idx + 9)?;
    Ok(RoomRecord {
        id: id::<RoomId>(row, idx)?,
        kind,
        name: get(row, idx + 2)?,
        created_by: id(row, idx + 3)?,
        created_at: get(row, idx + 4)?,
        last_seq: seq(row, idx + 5)?,
        direct,
        topic: get(row, idx + 8)?,
        visibility: Visibility::from_str_opt(visibility)
            .ok_or_else(|| bad(idx + 9, format!("unknown visibility {visibility:?}")))?,
        member_count: seq(row, idx + 10)?,
        state_version: seq(row, idx + 11)?,
        encrypted: get(row, idx + 12)?,
        mls_epoch: get::<Option<i64>>(row, idx + 13)?
            .map(|e| u64::try_from(e).map_err(|e| bad(idx + 13, e)))
            .transpose()?,
    })
}

/// A role column.
pub(super) fn role(row: &Row, idx: usize) -> Result<Role, StoreError> {
    let text = get::<&str>(row, idx)?;
    Role::from_str_opt(text).ok_or_else(|| bad(idx, format!("unknown role {text:?}")))
}

/// The columns [`message`] reads, in order, for `messages m JOIN users s ON s.id = m.sender_id`.
/// The client message id is read as text: the UUID column needs no extra type support.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.sender_id, s.username, m.client_msg_id::text, \
     m.key_id, m.nonce, m.ciphertext, m.sent_at, m.kind, m.notice, m.device_id";

/// A timeline item from [`MESSAGE_COLUMNS`] starting at `idx`.
pub(super) fn message(row: &Row, idx: usize) -> Result<StoredMessage, StoreError> {
    let client_msg_id = get::<&str>(row, idx + 5)?
        .parse::<ClientMsgId>()
        .map_err(|e| bad(idx + 5, e))?;
    let body = match get::<&str>(row, idx + 10)? {
        "text" => StoredBody::Text(SealedBody {
            key_id: u32::try_from(get::<i64>(row, idx + 6)?).map_err(|e| bad(idx + 6, e))?,
            nonce: get(row, idx + 7)?,
            ciphertext: get(row, idx + 8)?,
        }),
        "notice" => {
            let json = get::<&str>(row, idx + 11)?;
            StoredBody::Notice(serde_json::from_str::<Notice>(json).map_err(|e| bad(idx + 11, e))?)
        }
        kind @ ("mls" | "mls_commit") => StoredBody::Mls {
            bytes: get(row, idx + 8)?,
            commit: kind == "mls_commit",
        },
        other => return Err(bad(idx + 10, format!("unknown timeline item kind {other:?}"))),
    };
    Ok(StoredMessage {
        id: id::<MessageId>(row, idx)?,
        room_id: id(row, idx + 1)?,
        seq: seq(row, idx + 2)?,
        sender: user(row, idx + 3)?,
        client_msg_id,
        body,
        device_id: get::<Option<i64>>(row, idx + 12)?
            .map(|_| id(row, idx + 12))
            .transpose()?,
        sent_at: get(row, idx + 9)?,
    })
}
