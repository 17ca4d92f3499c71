//! The PostgreSQL store: for deployments of several nodes sharing one database.
//!
//! Connections come from a bb8 pool. Each [`super::Store`] method runs as one statement or
//! one transaction on one pooled connection, under a time limit: a database that does not
//! answer makes the call fail with [`StoreError::Unavailable`] instead of hanging the
//! request. PostgreSQL commits are durable (WAL flushed at commit with the server's default
//! `synchronous_commit = on`), so a method's change is on disk when it returns.
//!
//! Messages of one room are stored in batches (see `group_commit`), so that a busy room
//! is not limited to one message per commit.
//!
//! Sequence numbers stay gap-free when several nodes write to one room at once:
//! `UPDATE rooms SET last_seq = last_seq + 1 ... RETURNING` takes the room row's lock, so
//! concurrent inserts into a room queue behind each other, and a failed transaction rolls
//! its increment back with it.
//!
//! The schema comes from `migrations/postgres`, embedded at build time and applied at
//! connect by refinery, under an advisory lock so that nodes starting together apply it once.

use std::future::Future;
use std::time::Duration;

use bb8::{Pool, PooledConnection, RunError};
use bb8_postgres::PostgresConnectionManager;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

use super::StoreError;

mod accounts;
mod e2ee;
mod group_commit;
mod impl_store;
mod messages;
mod room_control;
mod rooms;
mod rows;

mod embedded {
    refinery::embed_migrations!("../migrations/postgres");
}

/// Key of the advisory lock held while migrations run (any constant unique to this schema).
const MIGRATION_LOCK: i64 = 0x6368_6174_5f6d_6967; // "chat_mig"

/// Tuning of the PostgreSQL store, with documented defaults.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Most connections the pool opens (default 16).
    pub pool_size: u32,
    /// How long a call waits for a pooled connection, including opening a new one, before it
    /// fails with `Unavailable` (default 5 s).
    pub connect_timeout: Duration,
    /// Longest one store call (a statement or a transaction) may take before it fails with
    /// `Unavailable` (default 10 s). A transaction cut off this way is rolled back by the
    /// server when its connection is dropped.
    pub operation_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
        }
    }
}

type Manager = PostgresConnectionManager<NoTls>;

/// A pooled connection.
pub(super) type Conn<'a> = PooledConnection<'a, Manager>;

/// The PostgreSQL adapter of [`super::Store`].
pub struct PostgresStore {
    pool: Pool<Manager>,
    options: PostgresOptions,
    batches: std::sync::Arc<group_commit::GroupCommit>,
}

impl PostgresStore {
    /// Connects to the database at `url` (such as `postgres://chat@db:5432/chat`), applies
    /// the migrations and returns the store. Fails with `Unavailable` when the database
    /// cannot be reached or the migrations cannot be applied.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?;
        config
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("chat-server");
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = Pool::builder()
            .max_size(options.pool_size.max(1))
            .connection_timeout(options.connect_timeout)
            // A connection that died while idle (database restarted, network cut) is found
            // at checkout and replaced instead of failing the caller's statement.
            .test_on_check_out(true)
            .build_unchecked(manager);
        let batches = group_commit::GroupCommit::new(pool.clone(), options.operation_timeout);
        let store = Self {
            pool,
            options,
            batches,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let failed = |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("applying migrations: {e}"));
        conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(map_err)?;
        let applied = embedded::migrations::runner().run_async(&mut *conn).await;
        let unlocked = conn
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        applied.map_err(|e| failed(&e))?;
        unlocked.map_err(map_err)?;
        Ok(())
    }

    /// A pooled connection, or `Unavailable` when none can be had in time.
    pub(super) async fn conn(&self) -> Result<Conn<'_>, StoreError> {
        checkout(&self.pool).await
    }

    /// Runs one store call under the operation time limit.
    pub(super) async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.options.operation_timeout, call)
            .await
            .map_err(|_| StoreError::Unavailable("the database did not answer in time".into()))?
    }
}

/// A connection from `pool`, or `Unavailable` when none can be had in time.
pub(super) async fn checkout(pool: &Pool<Manager>) -> Result<Conn<'_>, StoreError> {
    pool.get().await.map_err(|e| match e {
        RunError::User(e) => map_err(e),
        RunError::TimedOut => StoreError::Unavailable("timed out waiting for a database connection".into()),
    })
}

/// Whether `e` is a unique violation of the named constraint.
pub(super) fn is_unique_violation(e: &tokio_postgres::Error, constraint: &str) -> bool {
    e.as_db_error()
        .is_some_and(|db| *db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some(constraint))
}

/// Maps PostgreSQL failures onto what the caller can do about them, like the SQLite
/// adapter: integrity rules are `Conflict`, a value the server cannot take is `Corrupt`,
/// everything else (connection lost, server shutting down, serialization failure, lack of
/// resources) is `Unavailable`.
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code.starts_with("23") {
            return StoreError::Conflict(db.message().to_owned());
        }
        if code.starts_with("22") {
            return StoreError::Corrupt(db.message().to_owned());
        }
        return StoreError::Unavailable(format!("{}: {}", code, db.message()));
    }
    // No server error: the connection failed or was closed. (Rows are converted by
    // `rows`, which reports its own failures as `Corrupt`.)
    StoreError::Unavailable(e.to_string())
}
