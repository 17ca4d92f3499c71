//! The device: loaded from the local store (or made), registered with the server once and
//! named on every later connection, with a pool of one-time key packages kept on the
//! server.

use std::sync::Arc;

use chat_e2ee::{E2eeError, Machine, MemoryStore};
use chat_proto::{Base64Bytes, DeviceName, ErrorCode, Request, Response, UserId};
use tokio::time::Instant;

use super::state_store::{LocalMlsStore, NAMESPACE};
use super::{BoxStore, Device, Input};
use crate::connection::Conn;
use crate::error::{ClientError, StoreError};
use crate::events::{ClientEvent, lock};
use crate::shared::Shared;
use crate::store::LocalStore;

/// One-time key packages uploaded at a time.
const POOL: usize = 30;
/// Below this many on the server, the device uploads more (the server says so at 10).
const LOW: u32 = 10;

/// Loads the logged-in user's device from the local store, or makes one. A failure is
/// reported as [`ClientEvent::EncryptionUnavailable`]: plaintext rooms work on without it.
pub(crate) async fn load(shared: &Arc<Shared>) {
    if lock(&shared.e2ee.device).is_some() {
        return;
    }
    let Some(user) = shared.user() else { return };
    let store = shared.store();
    let loaded = tokio::task::spawn_blocking(move || load_device(store, user.id))
        .await
        .map_err(|e| ClientError::Encryption(e.to_string()))
        .and_then(|r| r);
    match loaded {
        Ok(device) => *lock(&shared.e2ee.device) = Some(device),
        Err(error) => unavailable(shared, error),
    }
}

/// Puts the loaded device in use on the connection (registering it the first time); then
/// the worker catches up with Welcomes and membership.
pub(crate) async fn attach(shared: &Arc<Shared>) {
    if lock(&shared.e2ee.device).is_none() {
        return;
    }
    let deadline = Instant::now() + shared.config.request_timeout;
    let used = match shared.connection(deadline, false).await {
        Ok(conn) => use_device_on(shared, &conn).await,
        Err(e) => Err(e),
    };
    match used {
        Ok(()) => shared.e2ee.push(Input::Connected),
        Err(error) => unavailable(shared, error),
    }
}

fn unavailable(shared: &Shared, error: ClientError) {
    tracing::warn!(%error, "end-to-end encryption unavailable");
    *lock(&shared.e2ee.unavailable) = Some(error.clone());
    shared.hub.publish(ClientEvent::EncryptionUnavailable { error });
}

/// The user's device from the store, or a new one (in memory without a store). A state
/// that does not load, or belongs to another user, is replaced by a new device.
fn load_device(store: Option<Arc<LocalStore>>, user: UserId) -> Result<Device, ClientError> {
    let encryption = |e: E2eeError| ClientError::Encryption(e.to_string());
    let Some(store) = store else {
        let machine = Machine::create(user, Box::new(MemoryStore::new()) as BoxStore).map_err(encryption)?;
        return Ok(Device {
            machine,
            persistent: false,
        });
    };
    let existing = match store.list(NAMESPACE) {
        Ok(existing) => existing,
        Err(StoreError::Tampered { .. }) => {
            // A damaged state opens nothing; a new device replaces it (the other members'
            // devices remove the old one from the groups).
            tracing::warn!("the stored device state is damaged; making a new device");
            store.clear_namespace(NAMESPACE)?;
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    if !existing.is_empty() {
        let loaded = Machine::load(Box::new(LocalMlsStore::new(store.clone())) as BoxStore);
        match loaded {
            Ok(machine) if machine.user() == user => {
                return Ok(Device {
                    machine,
                    persistent: true,
                });
            }
            Ok(_) => tracing::warn!("the stored device belongs to another account; making a new one"),
            Err(error) => tracing::warn!(%error, "the stored device does not load; making a new one"),
        }
        let keys: Vec<Vec<u8>> = existing.into_iter().map(|(k, _)| k).collect();
        store.apply_batch(NAMESPACE, &[], &keys)?;
    }
    let machine =
        Machine::create(user, Box::new(LocalMlsStore::new(store)) as BoxStore).map_err(encryption)?;
    Ok(Device {
        machine,
        persistent: true,
    })
}

/// Says on `conn` which device this is (registering it the first time), tops up its key
/// packages, and marks the device ready on `conn`. Nothing happens without a device.
pub(crate) async fn use_device_on(shared: &Shared, conn: &Arc<Conn>) -> Result<(), ClientError> {
    let Some((device_id, key)) = shared
        .e2ee
        .with_machine(|m| (m.device_id(), m.signature_public_key().to_vec()))
    else {
        return Ok(());
    };
    let timeout = shared.config.request_timeout;
    let used = match device_id {
        Some(device_id) => match conn.request(Request::UseDevice { device_id }, timeout).await {
            Ok(_) => true,
            // Removed from the account (on another device): register again.
            Err(ClientError::Server(e)) if e.code == ErrorCode::NotFound => false,
            Err(e) => return Err(e),
        },
        None => false,
    };
    if used {
        let remaining = upload(shared, conn, 0).await?;
        if remaining < LOW {
            upload(shared, conn, POOL).await?;
        }
    } else {
        let name =
            DeviceName::parse(&shared.config.device_name).or_else(|_| DeviceName::parse("chat client"))?;
        let request = Request::RegisterDevice {
            name,
            signature_key: Base64Bytes::new(key)?,
        };
        let device = match conn.request(request, timeout).await? {
            Response::Device { device } => device,
            _ => return Err(ClientError::UnexpectedResponse { expected: "device" }),
        };
        shared
            .e2ee
            .with_machine(|m| m.set_device_id(device.id))
            .transpose()
            .map_err(|e| ClientError::Encryption(e.to_string()))?;
        upload(shared, conn, POOL).await?;
    }
    // Membership may have changed while this device was away: sending in a room waits
    // until its group is brought in step (the worker does it after `Connected`).
    let rooms = shared.e2ee.encrypted_rooms();
    lock(&shared.e2ee.out_of_step).extend(rooms);
    lock(&shared.e2ee.unavailable).take();
    shared.e2ee.set_ready(Some(conn));
    Ok(())
}

/// Uploads `n` new one-time key packages and the last-resort one (just asks how many are
/// left when `n` is 0); returns how many the server holds.
async fn upload(shared: &Shared, conn: &Conn, n: usize) -> Result<u32, ClientError> {
    let made = shared
        .e2ee
        .with_machine(|m| -> Result<_, E2eeError> {
            if n == 0 {
                return Ok((Vec::new(), None));
            }
            Ok((m.key_packages(n)?, Some(m.last_resort_key_package())))
        })
        .ok_or(ClientError::NotLoggedIn)?
        .map_err(|e| ClientError::Encryption(e.to_string()))?;
    let (packages, last_resort) = made;
    let request = Request::UploadKeyPackages {
        key_packages: packages
            .into_iter()
            .map(Base64Bytes::new)
            .collect::<Result<_, _>>()?,
        last_resort: last_resort.map(Base64Bytes::new).transpose()?,
    };
    match conn.request(request, shared.config.request_timeout).await? {
        Response::KeyPackageCount { remaining } => Ok(remaining),
        _ => Err(ClientError::UnexpectedResponse {
            expected: "key_package_count",
        }),
    }
}

/// Uploads more key packages after the server said the pool runs low.
pub(crate) async fn top_up(shared: &Shared) {
    let Some(conn) = shared.live_conn().filter(|c| shared.e2ee.ready_on(c)) else {
        return;
    };
    if let Err(error) = upload(shared, &conn, POOL).await {
        tracing::debug!(%error, "cannot top up key packages");
    }
}

/// At logout: a device kept only in memory is removed from the account (it can never be
/// used again, and an account holds at most 5); then everything of the user is forgotten.
pub(crate) async fn detach(shared: &Shared) {
    if lock(&shared.e2ee.device).is_none() {
        return;
    }
    // What the worker was asked to do (make a group the server granted, send a commit)
    // happens before the device goes.
    shared.e2ee.flush(shared.config.request_timeout).await;
    let throwaway = lock(&shared.e2ee.device)
        .as_ref()
        .filter(|d| !d.persistent)
        .and_then(|d| d.machine.device_id());
    if let (Some(device_id), Some(conn)) = (throwaway, shared.live_conn())
        && let Err(error) = conn
            .request(Request::RemoveDevice { device_id }, shared.config.request_timeout)
            .await
    {
        tracing::debug!(%error, "cannot remove this session's device");
    }
    shared.e2ee.clear();
}
