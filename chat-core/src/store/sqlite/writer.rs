//! The writer thread, with group commit.
//!
//! Every commit in `synchronous = FULL` mode waits for the disk (an fsync of the WAL), so one
//! commit per message would cap a node at the disk's sync rate. The writer therefore takes
//! every write request that is waiting (up to [`MAX_BATCH`]), runs each inside its own
//! savepoint of one `BEGIN IMMEDIATE` transaction, commits once, and only then answers them
//! all. A request that fails rolls back to its savepoint and does not disturb the others; if
//! the transaction cannot start (another process holds the lock past the busy timeout) or
//! cannot commit, every request of the batch gets the error at once. Nobody is answered
//! before their change is on disk.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::map_err;
use crate::store::StoreError;

/// Most write requests committed together.
pub(super) const MAX_BATCH: usize = 64;

/// Delivers a request's result once the fate of its transaction is known.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A write request: runs on the writer's connection (or, given `None`, gives up without
/// running) and returns how to answer.
pub(super) type WriteJob = Box<dyn FnOnce(Option<&mut Connection>) -> Finish + Send>;

/// Wraps a closure as a write job answering through a oneshot channel.
pub(super) fn job<T, F>(f: F) -> (WriteJob, oneshot::Receiver<Result<T, StoreError>>)
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: WriteJob = Box::new(move |conn| {
        let result = match conn {
            Some(conn) => f(conn),
            None => Err(StoreError::Unavailable("not run".into())),
        };
        Box::new(move |committed: Result<(), StoreError>| {
            let _ = tx.send(committed.and(result));
        })
    });
    (job, rx)
}

/// Starts the writer thread on `conn`.
pub(super) fn spawn(mut conn: Connection) -> Result<std_mpsc::Sender<WriteJob>, StoreError> {
    let (tx, rx) = std_mpsc::channel::<WriteJob>();
    std::thread::Builder::new()
        .name("chat-sqlite-writer".to_owned())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                run_batch(&mut conn, batch);
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("starting the database thread: {e}")))?;
    Ok(tx)
}

/// Runs one job; a panic inside a request must not take the writer with it (its caller then
/// sees the reply channel closed and reports `Unavailable`).
fn run_one(job: WriteJob, conn: &mut Connection) -> Option<Finish> {
    catch_unwind(AssertUnwindSafe(|| job(Some(conn)))).ok()
}

fn begin(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)
}

/// Answers every job with `error` without running it.
fn fail_all(jobs: impl Iterator<Item = WriteJob>, error: &StoreError) {
    for job in jobs {
        job(None)(Err(StoreError::Unavailable(error.to_string())));
    }
}

fn run_batch(conn: &mut Connection, batch: Vec<WriteJob>) {
    let mut jobs = batch.into_iter();
    let mut pending: Vec<Finish> = Vec::new();
    if let Err(e) = begin(conn) {
        return fail_all(jobs, &e);
    }
    while let Some(job) = jobs.next() {
        let finish = run_one(job, conn);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full): everything
            // done in it so far is gone, this request included.
            let lost = || Err(StoreError::Unavailable("the transaction was rolled back".into()));
            pending.drain(..).chain(finish).for_each(|f| f(lost()));
            if let Err(e) = begin(conn) {
                return fail_all(jobs, &e);
            }
            continue;
        }
        pending.extend(finish);
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => pending.into_iter().for_each(|f| f(Ok(()))),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            let e = map_err(e);
            for f in pending {
                f(Err(StoreError::Unavailable(e.to_string())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(name: &'static str) -> impl FnOnce(&mut Connection) -> Result<i64, StoreError> + Send {
        move |conn| {
            let sp = conn.savepoint().map_err(map_err)?;
            sp.execute("INSERT INTO t (name) VALUES (?1)", [name])
                .map_err(map_err)?;
            // A second statement, so a failure in the middle shows the savepoint at work.
            sp.execute("INSERT INTO t (name) VALUES (?1 || '-shadow')", [name])
                .map_err(map_err)?;
            let id = sp.last_insert_rowid();
            sp.commit().map_err(map_err)?;
            Ok(id)
        }
    }

    #[test]
    fn a_failing_request_does_not_disturb_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
             INSERT INTO t (name) VALUES ('taken-shadow');",
        )
        .unwrap();
        let (a, ra) = job(insert("a"));
        // Its first insert succeeds, its second hits the unique rule: all of it must go.
        let (b, rb) = job(insert("taken"));
        let (c, rc) = job(insert("c"));
        run_batch(&mut conn, vec![a, b, c]);
        assert!(ra.blocking_recv().unwrap().is_ok());
        assert!(matches!(
            rb.blocking_recv().unwrap(),
            Err(StoreError::Conflict(_))
        ));
        assert!(rc.blocking_recv().unwrap().is_ok());
        assert!(conn.is_autocommit(), "the batch was committed");
        let names: Vec<String> = conn
            .prepare("SELECT name FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, ["taken-shadow", "a", "a-shadow", "c", "c-shadow"]);
    }

    #[test]
    fn without_the_write_lock_the_batch_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::from_millis(50)).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE);",
        )
        .unwrap();
        let blocker = Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (a, ra) = job(insert("a"));
        run_batch(&mut conn, vec![a]);
        assert!(matches!(
            ra.blocking_recv().unwrap(),
            Err(StoreError::Unavailable(_))
        ));
        blocker.execute_batch("ROLLBACK").unwrap();
        let (a, ra) = job(insert("a"));
        run_batch(&mut conn, vec![a]);
        assert!(ra.blocking_recv().unwrap().is_ok());
    }
}
