//! The device's MLS state kept in the user's encrypted local store: [`chat_e2ee::Store`]
//! over one namespace of the key-value area, so the signature key, key packages and epoch
//! secrets are sealed at rest under the password-derived key, and each machine operation
//! lands in one SQLite transaction.

use std::sync::Arc;

use chat_e2ee::{ChangeSet, Entries, Store, StoreError as MlsStoreError};

use crate::store::LocalStore;

/// The key-value namespace of the MLS state.
pub(crate) const NAMESPACE: &str = "chat.e2ee.state";

/// [`Store`] over the local store's key-value area.
pub(crate) struct LocalMlsStore {
    store: Arc<LocalStore>,
}

impl LocalMlsStore {
    pub(crate) fn new(store: Arc<LocalStore>) -> Self {
        Self { store }
    }
}

impl Store for LocalMlsStore {
    fn entries(&self) -> Result<Entries, MlsStoreError> {
        self.store.list(NAMESPACE).map_err(MlsStoreError::new)
    }

    fn apply(&mut self, changes: &ChangeSet) -> Result<(), MlsStoreError> {
        self.store
            .apply_batch(NAMESPACE, &changes.put, &changes.delete)
            .map_err(MlsStoreError::new)
    }
}
