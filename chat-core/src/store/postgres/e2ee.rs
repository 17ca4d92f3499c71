//! Devices, key packages, Welcomes and MLS items under the room's epoch rule.

use chat_proto::{DeviceId, RoomId, UserId};
use tokio_postgres::{Client, GenericClient, Row};

use super::messages::{Appending, IDEMPOTENCY_RULE, append_item, find_by_client_id};
use super::rooms::get_room;
use super::{accounts, is_unique_violation, map_err, rows};
use crate::store::{
    ClaimedKeyPackageRecord, DeviceRecord, Millis, MlsOutcome, NewMlsItem, StoreError, StoredBody,
    StoredMessage, WelcomeRecord,
};

/// The columns [`device`] reads, for `devices d JOIN users u ON u.id = d.user_id`.
const DEVICE_COLUMNS: &str = "d.id, u.id, u.username, d.name, d.signature_key, d.created_at, d.last_seen_at";

fn device(row: &Row) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: rows::id(row, 0)?,
        user: rows::user(row, 1)?,
        name: rows::get(row, 3)?,
        signature_key: rows::get(row, 4)?,
        created_at: rows::get(row, 5)?,
        last_seen_at: rows::get(row, 6)?,
    })
}

async fn devices_where(
    c: &impl GenericClient,
    condition: &str,
    arg: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Vec<DeviceRecord>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d JOIN users u ON u.id = d.user_id WHERE {condition}
         ORDER BY u.id, d.created_at, d.id"
    );
    c.query(&sql, &[arg])
        .await
        .map_err(map_err)?
        .iter()
        .map(device)
        .collect()
}

pub(super) async fn register_device(
    c: &mut Client,
    user: UserId,
    name: &str,
    signature_key: &[u8],
    now: Millis,
) -> Result<DeviceRecord, StoreError> {
    let tx = c.transaction().await.map_err(map_err)?;
    // Insert or touch in one statement; a key of another user's device is refused.
    let row = tx
        .query_opt(
            "INSERT INTO devices (user_id, name, signature_key, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (signature_key) DO UPDATE SET name = EXCLUDED.name, last_seen_at = EXCLUDED.last_seen_at
             WHERE devices.user_id = EXCLUDED.user_id
             RETURNING id",
            &[&user.as_i64(), &name, &signature_key, &now],
        )
        .await
        .map_err(map_err)?;
    if row.is_none() {
        return Err(StoreError::Conflict(
            "this key belongs to another user's device".into(),
        ));
    }
    let record = devices_where(&tx, "d.signature_key = $1", &signature_key)
        .await?
        .pop()
        .ok_or_else(|| StoreError::NotFound("the device just registered".into()))?;
    tx.commit().await.map_err(map_err)?;
    Ok(record)
}

pub(super) async fn get_device(
    c: &impl GenericClient,
    id: DeviceId,
) -> Result<Option<DeviceRecord>, StoreError> {
    Ok(devices_where(c, "d.id = $1", &id.as_i64()).await?.pop())
}

pub(super) async fn list_devices(
    c: &impl GenericClient,
    user: UserId,
) -> Result<Vec<DeviceRecord>, StoreError> {
    devices_where(c, "d.user_id = $1", &user.as_i64()).await
}

pub(super) async fn remove_device(
    c: &impl GenericClient,
    user: UserId,
    device: DeviceId,
) -> Result<bool, StoreError> {
    // Key packages and Welcomes go with it (ON DELETE CASCADE).
    let n = c
        .execute(
            "DELETE FROM devices WHERE id = $1 AND user_id = $2",
            &[&device.as_i64(), &user.as_i64()],
        )
        .await
        .map_err(map_err)?;
    Ok(n > 0)
}

pub(super) async fn touch_device(
    c: &impl GenericClient,
    device: DeviceId,
    now: Millis,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE devices SET last_seen_at = $2 WHERE id = $1",
        &[&device.as_i64(), &now],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn one_time_left(c: &impl GenericClient, device: DeviceId) -> Result<u32, StoreError> {
    let row = c
        .query_one(
            "SELECT COUNT(*) FROM key_packages WHERE device_id = $1 AND NOT last_resort",
            &[&device.as_i64()],
        )
        .await
        .map_err(map_err)?;
    Ok(u32::try_from(rows::get::<i64>(&row, 0)?).unwrap_or(u32::MAX))
}

pub(super) async fn add_key_packages(
    c: &mut Client,
    device: DeviceId,
    one_time: &[Vec<u8>],
    last_resort: Option<&[u8]>,
) -> Result<u32, StoreError> {
    let tx = c.transaction().await.map_err(map_err)?;
    let data: Vec<&[u8]> = one_time.iter().map(Vec::as_slice).collect();
    tx.execute(
        "INSERT INTO key_packages (device_id, data, last_resort)
         SELECT $1, d, FALSE FROM unnest($2::bytea[]) AS d",
        &[&device.as_i64(), &data],
    )
    .await
    .map_err(map_err)?;
    if let Some(data) = last_resort {
        tx.execute(
            "DELETE FROM key_packages WHERE device_id = $1 AND last_resort",
            &[&device.as_i64()],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO key_packages (device_id, data, last_resort) VALUES ($1, $2, TRUE)",
            &[&device.as_i64(), &data],
        )
        .await
        .map_err(map_err)?;
    }
    let left = one_time_left(&tx, device).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(left)
}

pub(super) async fn claim_key_packages(
    c: &mut Client,
    devices: &[DeviceId],
) -> Result<Vec<ClaimedKeyPackageRecord>, StoreError> {
    let tx = c.transaction().await.map_err(map_err)?;
    let mut claimed = Vec::new();
    for &device in devices {
        // SKIP LOCKED: two members claiming at once get different one-time packages.
        let one_time = tx
            .query_opt(
                "DELETE FROM key_packages WHERE id =
                     (SELECT id FROM key_packages WHERE device_id = $1 AND NOT last_resort
                      ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING data",
                &[&device.as_i64()],
            )
            .await
            .map_err(map_err)?;
        let row = match one_time {
            Some(row) => Some(row),
            None => tx
                .query_opt(
                    "SELECT data FROM key_packages WHERE device_id = $1 AND last_resort",
                    &[&device.as_i64()],
                )
                .await
                .map_err(map_err)?,
        };
        if let Some(row) = row {
            claimed.push(ClaimedKeyPackageRecord {
                device_id: device,
                bytes: rows::get(&row, 0)?,
                remaining: one_time_left(&tx, device).await?,
            });
        }
    }
    tx.commit().await.map_err(map_err)?;
    Ok(claimed)
}

pub(super) async fn room_devices(
    c: &impl GenericClient,
    room: RoomId,
) -> Result<Vec<DeviceRecord>, StoreError> {
    devices_where(
        c,
        "d.user_id IN (SELECT user_id FROM members WHERE room_id = $1)",
        &room.as_i64(),
    )
    .await
}

pub(super) async fn create_group(c: &impl GenericClient, room: RoomId) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "UPDATE rooms SET mls_epoch = 0 WHERE id = $1 AND encrypted AND mls_epoch IS NULL",
            &[&room.as_i64()],
        )
        .await
        .map_err(map_err)?;
    if n == 0 && get_room(c, room).await?.is_none() {
        return Err(StoreError::NotFound(format!("room {room}")));
    }
    Ok(n > 0)
}

pub(super) async fn append_mls(c: &mut Client, item: &NewMlsItem) -> Result<MlsOutcome, StoreError> {
    let client_msg_id = item.client_msg_id.to_string();
    match try_append(c, item, &client_msg_id).await {
        Err(Attempt::Duplicate) => find_by_client_id(&*c, item.sender_id, &client_msg_id)
            .await?
            .map(MlsOutcome::Existing)
            .ok_or_else(|| StoreError::Conflict("the message id is taken".into())),
        Err(Attempt::Failed(e)) => Err(e),
        Ok(outcome) => Ok(outcome),
    }
}

enum Attempt {
    Duplicate,
    Failed(StoreError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(e)
    }
}

async fn try_append(c: &mut Client, item: &NewMlsItem, client_msg_id: &str) -> Result<MlsOutcome, Attempt> {
    let fail = |e: tokio_postgres::Error| Attempt::Failed(map_err(e));
    let tx = c.transaction().await.map_err(fail)?;
    if let Some(existing) = find_by_client_id(&tx, item.sender_id, client_msg_id).await? {
        return Ok(MlsOutcome::Existing(existing));
    }
    // The room row's lock, held until commit, serialises this with every other item of the
    // room on every node: the epoch read here is the one the item is stored under.
    let Some(row) = tx
        .query_opt(
            "SELECT r.encrypted, r.mls_epoch, r.visibility,
                    EXISTS (SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = $2)
             FROM rooms r WHERE r.id = $1 FOR UPDATE",
            &[&item.room_id.as_i64(), &item.sender_id.as_i64()],
        )
        .await
        .map_err(fail)?
    else {
        return Err(StoreError::NotFound(format!("room {}", item.room_id)).into());
    };
    let encrypted: bool = rows::get(&row, 0)?;
    let epoch: Option<i64> = rows::get(&row, 1)?;
    let member: bool = rows::get(&row, 3)?;
    if !member {
        let visibility = rows::get::<&str>(&row, 2)?;
        let visibility = chat_proto::Visibility::from_str_opt(visibility)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown visibility {visibility:?}")))?;
        return Ok(MlsOutcome::NotMember(visibility));
    }
    let current = match (encrypted, epoch) {
        (true, Some(epoch)) => epoch as u64,
        (encrypted, _) => return Ok(MlsOutcome::NoGroup { encrypted }),
    };
    if item.epoch != current {
        return Ok(MlsOutcome::StaleEpoch { current });
    }
    if let Some((_, devices)) = &item.welcome {
        let ids: Vec<i64> = devices.iter().map(|d| d.as_i64()).collect();
        let found = tx
            .query(
                "SELECT d.id FROM devices d JOIN members m ON m.user_id = d.user_id
                 WHERE m.room_id = $1 AND d.id = ANY($2)",
                &[&item.room_id.as_i64(), &ids],
            )
            .await
            .map_err(fail)?;
        let found: Vec<i64> = found.iter().map(|r| rows::get(r, 0)).collect::<Result<_, _>>()?;
        if let Some(missing) = devices.iter().find(|d| !found.contains(&d.as_i64())) {
            return Ok(MlsOutcome::NotAMemberDevice(*missing));
        }
    }
    let body = StoredBody::Mls {
        bytes: item.bytes.clone(),
        commit: item.commit,
    };
    let appended = match append_item(
        &tx,
        item.room_id,
        item.sender_id,
        client_msg_id,
        &body,
        Some(item.device_id),
        item.sent_at,
    )
    .await
    {
        Ok(appended) => appended,
        Err(Appending::Duplicate) => return Err(Attempt::Duplicate),
        Err(Appending::Failed(e)) => return Err(e.into()),
    };
    if item.commit {
        tx.execute(
            "UPDATE rooms SET mls_epoch = mls_epoch + 1 WHERE id = $1",
            &[&item.room_id.as_i64()],
        )
        .await
        .map_err(fail)?;
    }
    if let Some((welcome, devices)) = &item.welcome {
        let ids: Vec<i64> = devices.iter().map(|d| d.as_i64()).collect();
        tx.execute(
            "INSERT INTO welcomes (device_id, room_id, seq, data, created_at)
             SELECT d, $2, $3, $4, $5 FROM unnest($1::bigint[]) AS d",
            &[
                &ids,
                &item.room_id.as_i64(),
                &(appended.seq as i64),
                &welcome,
                &item.sent_at,
            ],
        )
        .await
        .map_err(fail)?;
    }
    // Sending moves the sender's read marker, as for a text message.
    tx.execute(
        "UPDATE members SET last_read_seq = $3, read_count = $4 WHERE room_id = $1 AND user_id = $2",
        &[
            &item.room_id.as_i64(),
            &item.sender_id.as_i64(),
            &(appended.seq as i64),
            &(appended.counted as i64),
        ],
    )
    .await
    .map_err(fail)?;
    let sender = accounts::get_user(&tx, item.sender_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {}", item.sender_id)))?;
    match tx.commit().await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e, IDEMPOTENCY_RULE) => return Err(Attempt::Duplicate),
        Err(e) => return Err(fail(e)),
    }
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

pub(super) async fn list_welcomes(
    c: &impl GenericClient,
    device: DeviceId,
) -> Result<Vec<WelcomeRecord>, StoreError> {
    c.query(
        "SELECT id, room_id, device_id, seq, data FROM welcomes WHERE device_id = $1 ORDER BY id",
        &[&device.as_i64()],
    )
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| {
        Ok(WelcomeRecord {
            id: rows::seq(row, 0)?,
            room_id: rows::id(row, 1)?,
            device_id: rows::id(row, 2)?,
            seq: rows::seq(row, 3)?,
            bytes: rows::get(row, 4)?,
        })
    })
    .collect()
}

pub(super) async fn ack_welcome(
    c: &impl GenericClient,
    device: DeviceId,
    welcome: u64,
) -> Result<bool, StoreError> {
    let n = c
        .execute(
            "DELETE FROM welcomes WHERE id = $1 AND device_id = $2",
            &[&i64::try_from(welcome).unwrap_or(-1), &device.as_i64()],
        )
        .await
        .map_err(map_err)?;
    Ok(n > 0)
}
