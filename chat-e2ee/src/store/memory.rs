//! A store in memory: for tests, benchmarks and devices that need not survive the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{ChangeSet, Entries, Store, StoreError};

/// A [`Store`] in memory. Clones share the same map, so a test can keep a handle, drop the
/// machine and load a new one from the same state, as after a restart.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    map: Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>,
    fail_writes: Arc<Mutex<bool>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A separate store holding a copy of this one's entries (clones share; this does
    /// not).
    pub fn snapshot(&self) -> MemoryStore {
        let copy = self.lock().clone();
        MemoryStore {
            map: Arc::new(Mutex::new(copy)),
            fail_writes: Arc::default(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Makes every following [`Store::apply`] fail (or succeed again), to see how a caller
    /// copes with a store that is full or gone.
    pub fn set_fail_writes(&self, fail: bool) {
        *self
            .fail_writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fail;
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic elsewhere while holding the lock cannot leave the map half-changed:
        // `apply` changes it only after all checks.
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    fn entries(&self) -> Result<Entries, StoreError> {
        Ok(self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        if *self
            .fail_writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
        {
            return Err(StoreError::new("writes are switched off in this memory store"));
        }
        let mut map = self.lock();
        for (key, value) in &changes.put {
            map.insert(key.clone(), value.clone());
        }
        for key in &changes.delete {
            map.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_and_snapshots_do_not() {
        let mut store = MemoryStore::new();
        let shared = store.clone();
        let changes = ChangeSet {
            put: vec![(b"a".to_vec(), b"1".to_vec())],
            delete: vec![],
        };
        store.apply(&changes).unwrap();
        let copy = store.snapshot();
        store
            .apply(&ChangeSet {
                put: vec![],
                delete: vec![b"a".to_vec()],
            })
            .unwrap();
        assert!(shared.is_empty());
        assert_eq!(copy.entries().unwrap(), vec![(b"a".to_vec(), b"1".to_vec())]);
    }

    #[test]
    fn failing_writes_change_nothing() {
        let mut store = MemoryStore::new();
        store.set_fail_writes(true);
        let changes = ChangeSet {
            put: vec![(b"a".to_vec(), b"1".to_vec())],
            delete: vec![],
        };
        assert!(store.apply(&changes).is_err());
        assert!(store.is_empty());
        store.set_fail_writes(false);
        store.apply(&changes).unwrap();
        assert_eq!(store.len(), 1);
    }
}
