//! The machine's own records, next to openmls's state in the store: who the device is, its
//! key packages, and per room how far it got, its commit awaiting the server and the texts
//! it sent that have not come back yet.
//!
//! Small records are JSON; commit, Welcome and sent texts are stored as raw bytes under
//! their own keys, so a large group's Welcome is not re-encoded on every save.

use std::collections::{BTreeMap, BTreeSet};

use chat_proto::{DeviceId, RoomId, UserId};
use openmls::prelude::KeyPackageRef;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{E2eeError, Result};
use crate::membership::{GroupDevice, RoomDevice};

/// The device: its user, server-given id, signature key and key packages.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IdentityRecord {
    pub(crate) user: UserId,
    pub(crate) device: Option<DeviceId>,
    pub(crate) signature_key: Vec<u8>,
    /// Hash references of the one-time key packages made so far and not yet seen used.
    pub(crate) one_time: Vec<KeyPackageRef>,
    /// The last-resort key package, serialized for upload.
    pub(crate) last_resort: Vec<u8>,
    pub(crate) last_resort_ref: Option<KeyPackageRef>,
    /// The last-resort package before the current one: kept so a Welcome made from it
    /// while the new one was being uploaded still opens.
    pub(crate) previous_last_resort_ref: Option<KeyPackageRef>,
}

/// A device's progress in one room.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoomRecord {
    /// The last `seq` given to `process`.
    pub(crate) last_seq: Option<u64>,
    /// This device's commit awaiting the server (its bytes are under `pending/`).
    pub(crate) pending: Option<PendingRecord>,
    /// This device was removed from the group; its group state is deleted.
    pub(crate) removed: bool,
    /// Counts the texts sent, to order those waiting to come back.
    pub(crate) sent_counter: u64,
}

/// What is known of a commit awaiting the server besides its bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PendingRecord {
    pub(crate) epoch: u64,
    pub(crate) commit_hash: Vec<u8>,
    pub(crate) added: Vec<RoomDevice>,
    pub(crate) removed: Vec<GroupDevice>,
    pub(crate) has_welcome: bool,
}

/// A device of the server's lists: who it belongs to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    pub(crate) user: UserId,
    pub(crate) device: DeviceId,
}

pub(crate) const IDENTITY: &[u8] = b"identity";

pub(crate) fn room_key(room: RoomId) -> Vec<u8> {
    [b"room/".as_slice(), &room.get().to_be_bytes()].concat()
}

pub(crate) fn room_of_key(key: &[u8]) -> Option<RoomId> {
    let bytes = key.strip_prefix(b"room/")?;
    RoomId::new(u64::from_be_bytes(bytes.try_into().ok()?)).ok()
}

pub(crate) fn pending_commit_key(room: RoomId) -> Vec<u8> {
    [b"pending/".as_slice(), &room.get().to_be_bytes(), b"/commit"].concat()
}

pub(crate) fn pending_welcome_key(room: RoomId) -> Vec<u8> {
    [b"pending/".as_slice(), &room.get().to_be_bytes(), b"/welcome"].concat()
}

pub(crate) fn sent_prefix(room: RoomId) -> Vec<u8> {
    [b"sent/".as_slice(), &room.get().to_be_bytes(), b"/"].concat()
}

pub(crate) fn sent_key(room: RoomId, hash: &[u8]) -> Vec<u8> {
    [sent_prefix(room).as_slice(), hash].concat()
}

pub(crate) fn device_key(signature_key: &[u8]) -> Vec<u8> {
    [b"device/".as_slice(), signature_key].concat()
}

/// The machine's records (keys without the store prefix), remembering which keys changed
/// since the last save so saving looks at those only.
#[derive(Clone, Debug, Default)]
pub(crate) struct Records {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    changed: BTreeSet<Vec<u8>>,
}

impl Records {
    pub(crate) fn new(map: BTreeMap<Vec<u8>, Vec<u8>>) -> Self {
        Records {
            map,
            changed: BTreeSet::new(),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.map.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Vec<u8>> {
        let value = self.map.get_mut(key)?;
        self.changed.insert(key.to_vec());
        Some(value)
    }

    pub(crate) fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.changed.insert(key.clone());
        self.map.insert(key, value);
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.map.remove(key)?;
        self.changed.insert(key.to_vec());
        Some(value)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.map.keys()
    }

    /// The entries whose keys start with `prefix`.
    pub(crate) fn with_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> {
        self.map
            .range(prefix.to_vec()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    pub(crate) fn remove_prefix(&mut self, prefix: &[u8]) {
        let keys: Vec<Vec<u8>> = self.with_prefix(prefix).map(|(k, _)| k.clone()).collect();
        for key in keys {
            self.remove(&key);
        }
    }

    pub(crate) fn count_prefix(&self, prefix: &[u8]) -> usize {
        self.with_prefix(prefix).count()
    }

    pub(crate) fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        let Some(bytes) = self.map.get(key) else {
            return Ok(None);
        };
        serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|e| E2eeError::BadState {
                reason: format!("record {}: {e}", String::from_utf8_lossy(key)),
            })
    }

    pub(crate) fn put_json<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(E2eeError::internal)?;
        self.insert(key, bytes);
        Ok(())
    }

    /// The keys changed since the last call, with their values now (`None`: deleted).
    pub(crate) fn take_changes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|key| {
                let value = self.map.get(&key).cloned();
                (key, value)
            })
            .collect()
    }
}
