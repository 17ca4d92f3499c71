//! Where a device's state lives between runs: a flat map of byte keys to byte values in one
//! namespace, behind [`Store`], so the caller chooses the place ([`MemoryStore`] for tests
//! and throwaway devices, [`FileStore`] for a file, or its own encrypted key-value store).
//!
//! The machine hands over each operation's changes as one [`ChangeSet`]; a store that
//! applies it atomically never leaves a half-done operation behind after a crash.

mod file;
mod memory;

pub use file::FileStore;
pub use memory::MemoryStore;

/// Every `(key, value)` of a store.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The changes of one operation: keys to set and keys to delete. No key appears twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Keys to set, with their new values.
    pub put: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys to remove (a missing key is not an error).
    pub delete: Vec<Vec<u8>>,
}

impl ChangeSet {
    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.delete.is_empty()
    }
}

/// A failure of the caller's store, carrying its own error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl StoreError {
    /// Wraps any error (or a message) of a store implementation.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        StoreError(error.into())
    }

    /// The store's own error.
    pub fn source_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.0.as_ref()
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        StoreError::new(error)
    }
}

/// A device's persistent state: one namespace of byte keys and values.
///
/// Implementing it on a key-value store with `get/put/delete/list` takes two methods: list
/// the namespace, and apply a change set (ideally in one transaction; a store that cannot
/// should at least apply the puts before the deletes). Keys and values hold secrets (the
/// signature key, key package and epoch secrets): keep the store encrypted at rest.
pub trait Store {
    /// Every `(key, value)` of the namespace, in any order; read once, when a machine is
    /// loaded.
    fn entries(&self) -> Result<Entries, StoreError>;

    /// Applies one operation's changes together.
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError>;
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn entries(&self) -> Result<Entries, StoreError> {
        (**self).entries()
    }

    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        (**self).apply(changes)
    }
}
