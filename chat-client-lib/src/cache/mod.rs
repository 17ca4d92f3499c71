//! The offline snapshot (C7): the chat list, members and newest messages of each room, kept
//! in the user's encrypted local store ([`crate::store`]) so that a client shows its chats
//! at once at login and can be read without the server.
//!
//! - [`snapshot`]: the cached data and its updates.

pub mod snapshot;

use chat_proto::UserInfo;

use crate::error::StoreError;
use crate::store::LocalStore;
use snapshot::OfflineSnapshot;

/// The store's own namespace for what the client keeps there.
const NAMESPACE: &str = "chat.client";
const SNAPSHOT: &[u8] = b"snapshot";
const USER: &[u8] = b"user";

/// The snapshot kept in `store`, if any (blocking).
pub(crate) fn load(store: &LocalStore, keep: usize) -> Result<Option<OfflineSnapshot>, StoreError> {
    let Some(bytes) = store.get(NAMESPACE, SNAPSHOT)? else {
        return Ok(None);
    };
    let mut snapshot: OfflineSnapshot =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::Tampered { area: "snapshot" })?;
    snapshot.trim(keep);
    Ok(Some(snapshot))
}

/// Keeps `snapshot` in `store` (blocking).
pub(crate) fn save(store: &LocalStore, snapshot: &OfflineSnapshot) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(snapshot).map_err(|e| StoreError::Encode(e.to_string()))?;
    store.put(NAMESPACE, SNAPSHOT, &bytes)
}

/// The user the store belongs to, as recorded at the first login (blocking).
pub(crate) fn user(store: &LocalStore) -> Result<Option<UserInfo>, StoreError> {
    let Some(bytes) = store.get(NAMESPACE, USER)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| StoreError::Tampered { area: "key-value" })
}

/// Records the store's user (blocking).
pub(crate) fn set_user(store: &LocalStore, user: &UserInfo) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(user).map_err(|e| StoreError::Encode(e.to_string()))?;
    store.put(NAMESPACE, USER, &bytes)
}
