//! Turning SQLite rows back into records: every stored value goes through the same checked
//! constructors as wire values, and a value that breaks them is reported as corrupt.

use chat_proto::{
    ClientMsgId, MessageId, Notice, Role, RoomId, RoomKind, UserId, UserInfo, Username, Visibility,
};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::store::{RoomRecord, SealedBody, StoredBody, StoredMessage};

/// Wraps a rule violation as the conversion error rusqlite reports for column `idx`.
fn bad(idx: usize, ty: Type, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

/// A positive id column.
pub(super) fn id<T: TryFrom<i64, Error = chat_proto::ValidationError>>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let value: i64 = row.get(idx)?;
    T::try_from(value).map_err(|e| bad(idx, Type::Integer, e))
}

/// A non-negative counter column (sequence numbers).
pub(super) fn seq(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(idx)?;
    u64::try_from(value).map_err(|e| bad(idx, Type::Integer, e))
}

/// A username column.
pub(super) fn username(row: &Row<'_>, idx: usize) -> rusqlite::Result<Username> {
    let text: String = row.get(idx)?;
    Username::parse(&text).map_err(|e| bad(idx, Type::Text, e))
}

/// A user as `(id, username)` at columns `idx`, `idx + 1`.
pub(super) fn user(row: &Row<'_>, idx: usize) -> rusqlite::Result<UserInfo> {
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
pub(super) fn room(row: &Row<'_>, idx: usize) -> rusqlite::Result<RoomRecord> {
    let kind: String = row.get(idx + 1)?;
    let kind = match kind.as_str() {
        "group" => RoomKind::Group,
        "direct" => RoomKind::Direct,
        _ => return Err(bad(idx + 1, Type::Text, Unknown("room kind"))),
    };
    let low: Option<i64> = row.get(idx + 6)?;
    let direct = match low {
        Some(_) => Some((id::<UserId>(row, idx + 6)?, id::<UserId>(row, idx + 7)?)),
        None => None,
    };
    let visibility: String = row.get(idx + 9)?;
    Ok(RoomRecord {
        id: id::<RoomId>(row, idx)?,
        kind,
        name: row.get(idx + 2)?,
        created_by: id(row, idx + 3)?,
        created_at: row.get(idx + 4)?,
        last_seq: seq(row, idx + 5)?,
        direct,
        topic: row.get(idx + 8)?,
        visibility: Visibility::from_str_opt(&visibility)
            .ok_or_else(|| bad(idx + 9, Type::Text, Unknown("visibility")))?,
        member_count: seq(row, idx + 10)?,
        state_version: seq(row, idx + 11)?,
        encrypted: row.get(idx + 12)?,
        mls_epoch: {
            let epoch: Option<i64> = row.get(idx + 13)?;
            epoch
                .map(|e| u64::try_from(e).map_err(|e| bad(idx + 13, Type::Integer, e)))
                .transpose()?
        },
    })
}

/// A role column.
pub(super) fn role(row: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let text: String = row.get(idx)?;
    Role::from_str_opt(&text).ok_or_else(|| bad(idx, Type::Text, Unknown("role")))
}

#[derive(Debug, thiserror::Error)]
#[error("unknown {0}")]
struct Unknown(&'static str);

/// The columns [`message`] reads, in order, for `messages m JOIN users s ON s.id = m.sender_id`.
pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.sender_id, s.username, m.client_msg_id, \
     m.key_id, m.nonce, m.ciphertext, m.sent_at, m.kind, m.notice, m.device_id";

/// A timeline item from [`MESSAGE_COLUMNS`] starting at `idx`.
pub(super) fn message(row: &Row<'_>, idx: usize) -> rusqlite::Result<StoredMessage> {
    let client_msg_id: String = row.get(idx + 5)?;
    let kind: String = row.get(idx + 10)?;
    let body = match kind.as_str() {
        "text" => {
            let key_id: i64 = row.get(idx + 6)?;
            StoredBody::Text(SealedBody {
                key_id: u32::try_from(key_id).map_err(|e| bad(idx + 6, Type::Integer, e))?,
                nonce: row.get(idx + 7)?,
                ciphertext: row.get(idx + 8)?,
            })
        }
        "notice" => {
            let json: String = row.get(idx + 11)?;
            let notice: Notice = serde_json::from_str(&json).map_err(|e| bad(idx + 11, Type::Text, e))?;
            StoredBody::Notice(notice)
        }
        "mls" | "mls_commit" => StoredBody::Mls {
            bytes: row.get(idx + 8)?,
            commit: kind == "mls_commit",
        },
        _ => return Err(bad(idx + 10, Type::Text, Unknown("timeline item kind"))),
    };
    Ok(StoredMessage {
        id: id::<MessageId>(row, idx)?,
        room_id: id(row, idx + 1)?,
        seq: seq(row, idx + 2)?,
        sender: user(row, idx + 3)?,
        client_msg_id: client_msg_id
            .parse::<ClientMsgId>()
            .map_err(|e| bad(idx + 5, Type::Text, e))?,
        body,
        device_id: {
            let device: Option<i64> = row.get(idx + 12)?;
            device.map(|_| id(row, idx + 12)).transpose()?
        },
        sent_at: row.get(idx + 9)?,
    })
}
