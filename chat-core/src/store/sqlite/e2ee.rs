//! Devices, key packages, Welcomes and MLS items under the room's epoch rule.

use chat_proto::{DeviceId, RoomId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::messages::{append_item, find_by_client_id};
use super::rooms::{get_room, visibility};
use super::{accounts, map_err, rows};
use crate::store::{
    ClaimedKeyPackageRecord, DeviceRecord, Millis, MlsOutcome, NewMlsItem, StoreError, StoredBody,
    StoredMessage, WelcomeRecord,
};

/// The columns [`device`] reads, for `devices d JOIN users u ON u.id = d.user_id`.
const DEVICE_COLUMNS: &str = "d.id, u.id, u.username, d.name, d.signature_key, d.created_at, d.last_seen_at";

fn device(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: rows::id(row, 0)?,
        user: rows::user(row, 1)?,
        name: row.get(3)?,
        signature_key: row.get(4)?,
        created_at: row.get(5)?,
        last_seen_at: row.get(6)?,
    })
}

fn devices_where(conn: &Connection, condition: &str, arg: i64) -> Result<Vec<DeviceRecord>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d JOIN users u ON u.id = d.user_id WHERE {condition}
         ORDER BY u.id, d.created_at, d.id"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.query_map([arg], device)
        .and_then(|it| it.collect())
        .map_err(map_err)
}

pub(super) fn register_device(
    conn: &mut Connection,
    user: UserId,
    name: &str,
    signature_key: &[u8],
    now: Millis,
) -> Result<DeviceRecord, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    let owner: Option<i64> = tx
        .query_row(
            "SELECT user_id FROM devices WHERE signature_key = ?1",
            [signature_key],
            |row| row.get(0),
        )
        .optional()
        .map_err(map_err)?;
    match owner {
        Some(owner) if owner != user.as_i64() => {
            return Err(StoreError::Conflict(
                "this key belongs to another user's device".into(),
            ));
        }
        Some(_) => {
            tx.execute(
                "UPDATE devices SET name = ?2, last_seen_at = ?3 WHERE signature_key = ?1",
                params![signature_key, name, now],
            )
            .map_err(map_err)?;
        }
        None => {
            tx.execute(
                "INSERT INTO devices (user_id, name, signature_key, created_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![user.as_i64(), name, signature_key, now],
            )
            .map_err(map_err)?;
        }
    }
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d JOIN users u ON u.id = d.user_id WHERE d.signature_key = ?1"
    );
    let record = tx.query_row(&sql, [signature_key], device).map_err(map_err)?;
    tx.commit().map_err(map_err)?;
    Ok(record)
}

pub(super) fn get_device(conn: &Connection, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
    Ok(devices_where(conn, "d.id = ?1", id.as_i64())?.pop())
}

pub(super) fn list_devices(conn: &Connection, user: UserId) -> Result<Vec<DeviceRecord>, StoreError> {
    devices_where(conn, "d.user_id = ?1", user.as_i64())
}

pub(super) fn remove_device(
    conn: &mut Connection,
    user: UserId,
    device: DeviceId,
) -> Result<bool, StoreError> {
    // Key packages and Welcomes go with it (ON DELETE CASCADE).
    let n = conn
        .execute(
            "DELETE FROM devices WHERE id = ?1 AND user_id = ?2",
            params![device.as_i64(), user.as_i64()],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) fn touch_device(conn: &mut Connection, device: DeviceId, now: Millis) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE devices SET last_seen_at = ?2 WHERE id = ?1",
        params![device.as_i64(), now],
    )
    .map_err(map_err)?;
    Ok(())
}

fn one_time_left(conn: &Connection, device: DeviceId) -> Result<u32, StoreError> {
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM key_packages WHERE device_id = ?1 AND last_resort = 0",
            [device.as_i64()],
            |row| row.get(0),
        )
        .map_err(map_err)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

pub(super) fn add_key_packages(
    conn: &mut Connection,
    device: DeviceId,
    one_time: &[Vec<u8>],
    last_resort: Option<&[u8]>,
) -> Result<u32, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    for data in one_time {
        tx.execute(
            "INSERT INTO key_packages (device_id, data, last_resort) VALUES (?1, ?2, 0)",
            params![device.as_i64(), data],
        )
        .map_err(map_err)?;
    }
    if let Some(data) = last_resort {
        tx.execute(
            "DELETE FROM key_packages WHERE device_id = ?1 AND last_resort = 1",
            [device.as_i64()],
        )
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO key_packages (device_id, data, last_resort) VALUES (?1, ?2, 1)",
            params![device.as_i64(), data],
        )
        .map_err(map_err)?;
    }
    let left = one_time_left(&tx, device)?;
    tx.commit().map_err(map_err)?;
    Ok(left)
}

pub(super) fn claim_key_packages(
    conn: &mut Connection,
    devices: &[DeviceId],
) -> Result<Vec<ClaimedKeyPackageRecord>, StoreError> {
    let tx = conn.savepoint().map_err(map_err)?;
    let mut claimed = Vec::new();
    for &device in devices {
        let one_time: Option<Vec<u8>> = tx
            .query_row(
                "DELETE FROM key_packages WHERE id =
                     (SELECT id FROM key_packages WHERE device_id = ?1 AND last_resort = 0 ORDER BY id LIMIT 1)
                 RETURNING data",
                [device.as_i64()],
                |row| row.get(0),
            )
            .optional()
            .map_err(map_err)?;
        let bytes = match one_time {
            Some(bytes) => Some(bytes),
            None => tx
                .query_row(
                    "SELECT data FROM key_packages WHERE device_id = ?1 AND last_resort = 1",
                    [device.as_i64()],
                    |row| row.get(0),
                )
                .optional()
                .map_err(map_err)?,
        };
        if let Some(bytes) = bytes {
            claimed.push(ClaimedKeyPackageRecord {
                device_id: device,
                bytes,
                remaining: one_time_left(&tx, device)?,
            });
        }
    }
    tx.commit().map_err(map_err)?;
    Ok(claimed)
}

pub(super) fn room_devices(conn: &Connection, room: RoomId) -> Result<Vec<DeviceRecord>, StoreError> {
    devices_where(
        conn,
        "d.user_id IN (SELECT user_id FROM members WHERE room_id = ?1)",
        room.as_i64(),
    )
}

pub(super) fn create_group(conn: &mut Connection, room: RoomId) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "UPDATE rooms SET mls_epoch = 0 WHERE id = ?1 AND encrypted = 1 AND mls_epoch IS NULL",
            [room.as_i64()],
        )
        .map_err(map_err)?;
    if n == 0 && get_room(conn, room)?.is_none() {
        return Err(StoreError::NotFound(format!("room {room}")));
    }
    Ok(n > 0)
}

pub(super) fn append_mls(conn: &mut Connection, item: &NewMlsItem) -> Result<MlsOutcome, StoreError> {
    let client_msg_id = item.client_msg_id.to_string();
    // One savepoint: the idempotency check, the epoch rule, the insert, the Welcome.
    let tx = conn.savepoint().map_err(map_err)?;
    if let Some(existing) = find_by_client_id(&tx, item.sender_id, &client_msg_id)? {
        return Ok(MlsOutcome::Existing(existing));
    }
    let Some(room) = get_room(&tx, item.room_id)? else {
        return Err(StoreError::NotFound(format!("room {}", item.room_id)));
    };
    let member = tx
        .query_row(
            "SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2",
            params![item.room_id.as_i64(), item.sender_id.as_i64()],
            |_| Ok(()),
        )
        .optional()
        .map_err(map_err)?;
    if member.is_none() {
        return Ok(MlsOutcome::NotMember(visibility(&tx, item.room_id)?));
    }
    let current = match (room.encrypted, room.mls_epoch) {
        (true, Some(epoch)) => epoch,
        (encrypted, _) => return Ok(MlsOutcome::NoGroup { encrypted }),
    };
    if item.epoch != current {
        return Ok(MlsOutcome::StaleEpoch { current });
    }
    if let Some((_, devices)) = &item.welcome {
        for &device in devices {
            if !is_member_device(&tx, item.room_id, device)? {
                return Ok(MlsOutcome::NotAMemberDevice(device));
            }
        }
    }
    let body = StoredBody::Mls {
        bytes: item.bytes.clone(),
        commit: item.commit,
    };
    let appended = append_item(
        &tx,
        item.room_id,
        item.sender_id,
        &client_msg_id,
        &body,
        Some(item.device_id),
        item.sent_at,
    )?;
    if item.commit {
        tx.execute(
            "UPDATE rooms SET mls_epoch = mls_epoch + 1 WHERE id = ?1",
            [item.room_id.as_i64()],
        )
        .map_err(map_err)?;
    }
    if let Some((welcome, devices)) = &item.welcome {
        for &device in devices {
            tx.execute(
                "INSERT INTO welcomes (device_id, room_id, seq, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    device.as_i64(),
                    item.room_id.as_i64(),
                    appended.seq as i64,
                    welcome,
                    item.sent_at
                ],
            )
            .map_err(map_err)?;
        }
    }
    // Sending moves the sender's read marker, as for a text message.
    tx.execute(
        "UPDATE members SET last_read_seq = ?3, read_count = ?4 WHERE room_id = ?1 AND user_id = ?2",
        params![
            item.room_id.as_i64(),
            item.sender_id.as_i64(),
            appended.seq as i64,
            appended.counted as i64
        ],
    )
    .map_err(map_err)?;
    let sender = accounts::get_user(&tx, item.sender_id)?
        .ok_or_else(|| StoreError::NotFound(format!("user {}", item.sender_id)))?;
    tx.commit().map_err(map_err)?;
    Ok(MlsOutcome::Inserted(StoredMessage {
        id: appended.id,
        room_id: item.room_id,
        seq: appended.seq,
        sender,
        client_msg_id: item.client_msg_id,
        body,
        device_id: Some(item.device_id),
        sent_at: item.sent_at,
    }))
}

fn is_member_device(conn: &Connection, room: RoomId, device: DeviceId) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM devices d JOIN members m ON m.user_id = d.user_id WHERE d.id = ?1 AND m.room_id = ?2",
        params![device.as_i64(), room.as_i64()],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(map_err)
}

pub(super) fn list_welcomes(conn: &Connection, device: DeviceId) -> Result<Vec<WelcomeRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, room_id, device_id, seq, data FROM welcomes WHERE device_id = ?1 ORDER BY id",
        )
        .map_err(map_err)?;
    stmt.query_map([device.as_i64()], |row| {
        let id: i64 = row.get(0)?;
        Ok(WelcomeRecord {
            id: id as u64,
            room_id: rows::id(row, 1)?,
            device_id: rows::id(row, 2)?,
            seq: rows::seq(row, 3)?,
            bytes: row.get(4)?,
        })
    })
    .and_then(|it| it.collect())
    .map_err(map_err)
}

pub(super) fn ack_welcome(conn: &mut Connection, device: DeviceId, welcome: u64) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM welcomes WHERE id = ?1 AND device_id = ?2",
            params![i64::try_from(welcome).unwrap_or(-1), device.as_i64()],
        )
        .map_err(map_err)?;
    Ok(n > 0)
}
