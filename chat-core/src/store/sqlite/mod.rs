//! The SQLite store: the embedded default, one file in the data directory.
//!
//! rusqlite is blocking, so the database lives on dedicated threads and async callers hand
//! them closures: one writer thread owns the only connection that writes (SQLite admits one
//! writer at a time anyway, and a single in-process writer never waits on its own lock), and a
//! few reader threads read concurrently thanks to WAL. Writes are committed in groups (see
//! `writer`) with `synchronous = FULL`, so a change is on disk when its call returns: a
//! message is durable before it is acknowledged.
//!
//! The schema comes from `migrations/sqlite`, embedded at build time and applied at open by
//! refinery.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode as SqliteCode, OpenFlags};
use tokio::sync::oneshot;

use super::StoreError;

mod accounts;
mod e2ee;
mod impl_store;
mod messages;
mod room_control;
mod rooms;
mod rows;
mod writer;

mod embedded {
    refinery::embed_migrations!("../migrations/sqlite");
}

/// Tuning of the SQLite store, with documented defaults.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How long a statement waits for a lock held by another process before the store reports
    /// `Unavailable` (default 5 s).
    pub busy_timeout: Duration,
    /// Reader threads (default 2).
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            readers: 2,
        }
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite adapter of [`super::Store`]. Dropping it stops its threads and closes the file.
pub struct SqliteStore {
    path: PathBuf,
    writer: std_mpsc::Sender<writer::WriteJob>,
    readers: std_mpsc::Sender<Job>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`, applies the migrations and
    /// starts the store's threads.
    pub async fn open(path: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let opened = path.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(opened, options))
            .await
            .map_err(|e| StoreError::Unavailable(format!("opening the database: {e}")))?
            .map(|(writer, readers)| Self {
                path,
                writer,
                readers,
            })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_blocking(
        path: PathBuf,
        options: SqliteOptions,
    ) -> Result<(std_mpsc::Sender<writer::WriteJob>, std_mpsc::Sender<Job>), StoreError> {
        let mut writer = open_connection(&path, &options)?;
        // WAL lets readers run while the writer commits; the mode is stored in the file.
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "cannot enable WAL (journal mode {mode})"
            )));
        }
        embedded::migrations::runner()
            .run(&mut writer)
            .map_err(|e| StoreError::Unavailable(format!("applying migrations: {e}")))?;
        let writer_tx = writer::spawn(writer)?;
        let (readers_tx, readers_rx) = std_mpsc::channel::<Job>();
        let shared_rx = Arc::new(Mutex::new(Some(readers_rx)));
        for i in 0..options.readers.max(1) {
            let conn = open_connection(&path, &options)?;
            spawn_reader(format!("chat-sqlite-reader-{i}"), shared_rx.clone(), conn)?;
        }
        Ok((writer_tx, readers_tx))
    }

    /// Runs `f` on the writer thread, inside the transaction of a batch (see [`writer`]);
    /// the result comes back once that transaction is committed. `f` keeps its own changes
    /// atomic with a savepoint.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue_write(f).await
    }

    /// Hands `f` to the writer thread now (writes run in the order they are queued); the
    /// returned future gives its result.
    fn queue_write<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, rx) = writer::job(f);
        let queued = self
            .writer
            .send(job)
            .map_err(|_| StoreError::Unavailable("the database threads have stopped".into()));
        async move {
            queued?;
            rx.await
                .map_err(|_| StoreError::Unavailable("the database thread dropped the request".into()))?
        }
    }

    /// Runs `f` on a reader thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        run_on(&self.readers, f).await
    }
}

async fn run_on<T, F>(queue: &std_mpsc::Sender<Job>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let _ = tx.send(f(conn));
    });
    queue
        .send(job)
        .map_err(|_| StoreError::Unavailable("the database threads have stopped".into()))?;
    rx.await
        .map_err(|_| StoreError::Unavailable("the database thread dropped the request".into()))?
}

fn open_connection(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(options.busy_timeout).map_err(map_err)?;
    // FULL: the WAL is synced at every commit, so a committed message survives a power cut.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(map_err)?;
    Ok(conn)
}

fn spawn_reader(
    name: String,
    shared: Arc<Mutex<Option<std_mpsc::Receiver<Job>>>>,
    mut conn: Connection,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            loop {
                // Take one job while holding the lock, run it without.
                let job = {
                    let guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    match guard.as_ref().map(|rx| rx.recv()) {
                        Some(Ok(job)) => job,
                        _ => break,
                    }
                };
                run_job(job, &mut conn);
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("starting the database thread: {e}")))?;
    Ok(())
}

/// Runs a job; a panic inside one request must not take the database thread with it (the
/// caller then sees its reply channel closed and reports `Unavailable`).
fn run_job(job: Job, conn: &mut Connection) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
    // A panic may leave a transaction open; roll it back so the next job starts clean.
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Maps SQLite failures onto what the caller can do about them.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            SqliteCode::ConstraintViolation => StoreError::Conflict(e.to_string()),
            SqliteCode::DatabaseBusy
            | SqliteCode::DatabaseLocked
            | SqliteCode::SystemIoFailure
            | SqliteCode::DiskFull
            | SqliteCode::ReadOnly
            | SqliteCode::CannotOpen
            | SqliteCode::OutOfMemory
            | SqliteCode::FileLockingProtocolFailed
            | SqliteCode::DatabaseCorrupt
            | SqliteCode::NotADatabase
            | SqliteCode::PermissionDenied => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}
