//! Keeps the caller's store in step with the device's state, one operation at a time.
//!
//! openmls writes its state into an in-memory map ([`openmls_memory_storage`]); the machine
//! keeps its own records (identity, per-room progress) in a second map. After each
//! operation the mirror compares both maps with what the store holds and hands the
//! difference to the store as one [`ChangeSet`]. If the store fails, or the operation
//! itself fails, [`Mirror::rollback`] puts both maps back as the store holds them, so an
//! operation happens entirely (memory and store) or not at all.
//!
//! In the store, openmls's keys are prefixed with [`MLS_PREFIX`] and the machine's with
//! [`META_PREFIX`].

use std::collections::{BTreeMap, HashMap};

use openmls_traits::OpenMlsProvider;

use crate::error::{E2eeError, Result};
use crate::provider::Provider;
use crate::records::Records;
use crate::store::{ChangeSet, Store};

/// Prefix of openmls's entries in the store.
pub(crate) const MLS_PREFIX: &[u8] = b"mls/";
/// Prefix of the machine's own entries in the store.
pub(crate) const META_PREFIX: &[u8] = b"chat/";

/// The store, what it holds, and the machine's own records.
#[derive(Debug)]
pub(crate) struct Mirror<S> {
    store: S,
    /// openmls's entries as the store holds them (keys without the prefix).
    saved_mls: HashMap<Vec<u8>, Vec<u8>>,
    /// The machine's entries as the store holds them (keys without the prefix).
    saved_meta: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The machine's entries now.
    pub(crate) meta: Records,
}

impl<S: Store> Mirror<S> {
    /// Reads the store: openmls's entries go to a new provider, the machine's to `meta`.
    pub(crate) fn load(store: S) -> Result<(Mirror<S>, Provider)> {
        let mut mls = HashMap::new();
        let mut meta = BTreeMap::new();
        for (key, value) in store.entries()? {
            if let Some(key) = key.strip_prefix(MLS_PREFIX) {
                mls.insert(key.to_vec(), value);
            } else if let Some(key) = key.strip_prefix(META_PREFIX) {
                meta.insert(key.to_vec(), value);
            }
        }
        let provider = Provider::with_values(mls.clone());
        let mirror = Mirror {
            store,
            saved_mls: mls,
            saved_meta: meta.clone(),
            meta: Records::new(meta),
        };
        Ok((mirror, provider))
    }

    /// Whether the store holds nothing of a device.
    pub(crate) fn is_empty(&self) -> bool {
        self.saved_mls.is_empty() && self.saved_meta.is_empty()
    }

    /// The store.
    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    /// Hands every change since the last save to the store as one change set. On failure
    /// nothing is marked saved; the caller rolls back.
    pub(crate) fn save(&mut self, provider: &Provider) -> Result<()> {
        let changes = {
            let values = provider
                .storage()
                .values
                .read()
                .map_err(|_| E2eeError::internal("openmls storage lock poisoned"))?;
            let mut changes = ChangeSet::default();
            for (key, value) in values.iter() {
                if self.saved_mls.get(key) != Some(value) {
                    changes.put.push((prefixed(MLS_PREFIX, key), value.clone()));
                }
            }
            for key in self.saved_mls.keys() {
                if !values.contains_key(key) {
                    changes.delete.push(prefixed(MLS_PREFIX, key));
                }
            }
            for (key, value) in self.meta.take_changes() {
                match value {
                    Some(value) if self.saved_meta.get(&key) != Some(&value) => {
                        changes.put.push((prefixed(META_PREFIX, &key), value));
                    }
                    None if self.saved_meta.contains_key(&key) => {
                        changes.delete.push(prefixed(META_PREFIX, &key));
                    }
                    _ => {}
                }
            }
            changes
        };
        if changes.is_empty() {
            return Ok(());
        }
        self.store.apply(&changes)?;
        for (key, value) in changes.put {
            if let Some(key) = key.strip_prefix(MLS_PREFIX) {
                self.saved_mls.insert(key.to_vec(), value);
            } else if let Some(key) = key.strip_prefix(META_PREFIX) {
                self.saved_meta.insert(key.to_vec(), value);
            }
        }
        for key in changes.delete {
            if let Some(key) = key.strip_prefix(MLS_PREFIX) {
                self.saved_mls.remove(key);
            } else if let Some(key) = key.strip_prefix(META_PREFIX) {
                self.saved_meta.remove(key);
            }
        }
        Ok(())
    }

    /// Puts openmls's storage and the machine's records back as the store holds them.
    pub(crate) fn rollback(&mut self, provider: &Provider) -> Result<()> {
        let mut values = provider
            .storage()
            .values
            .write()
            .map_err(|_| E2eeError::internal("openmls storage lock poisoned"))?;
        *values = self.saved_mls.clone();
        self.meta = Records::new(self.saved_meta.clone());
        Ok(())
    }
}

fn prefixed(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    [prefix, key].concat()
}
