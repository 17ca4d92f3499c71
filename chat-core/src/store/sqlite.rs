//! The SQLite store: the embedded default (one file in the data directory).

/// The SQLite adapter of [`super::Store`].
pub struct SqliteStore {}
