//! The encrypted local store: one SQLite file per user and server, holding what the client
//! keeps between runs: the outbox of messages not yet stored by the server, the offline
//! snapshot of the chat list, a namespaced key-value area (for the end-to-end encryption
//! state and for applications, such as a bot's position in a room), and room history.
//!
//! Every value is sealed with XChaCha20-Poly1305 under a key derived from the password by
//! Argon2id with a per-user salt, authenticated together with its place in the file; every
//! lookup key (namespace, key, room, client message id) appears only as a keyed hash. What
//! the file shows is its size, the number of rows and the `seq` numbers of stored history.
//! A changed, moved or foreign row is reported as [`StoreError::Tampered`] and never shown;
//! a wrong password opens nothing ([`StoreError::WrongPassword`]). The file lives in a
//! directory only its owner can enter, under a name that reveals neither user nor server
//! ([`ServerIdentity`]).
//!
//! - `key`: the store key, its sub-keys, sealing and tagging.
//! - `identity`: the server's identity and the file's name and directory.
//! - `outbox`, `kv`, `history`: the three areas.

mod history;
mod identity;
pub(crate) mod key;
mod kv;
mod outbox;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

pub use identity::ServerIdentity;
pub(crate) use identity::private_dir;
pub use key::StoreKey;
use key::{KdfParams, Keys, SALT_LEN};
pub use kv::KeyValues;
pub use outbox::OutboxEntry;

use crate::error::StoreError;
use crate::events::lock;

/// The layout version written into new files.
const FORMAT: i64 = 1;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS outbox (
        pos INTEGER PRIMARY KEY, tag BLOB NOT NULL UNIQUE, sealed BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS kv (
        ns BLOB NOT NULL, key BLOB NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY (ns, key));
    CREATE TABLE IF NOT EXISTS history (
        room BLOB NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY (room, seq));
";

/// How a store was opened with a password.
#[derive(Debug)]
pub(crate) enum Opened {
    /// The file was there and the password opened it.
    Existing,
    /// There was no file; a new one was made.
    Created,
    /// The file was damaged; it now lies at this path and a new one was made.
    Replaced(PathBuf),
}

/// One user's encrypted store on one server. Cheap operations, all blocking (SQLite on
/// the calling thread); the client calls them off the hot path. Obtain it from
/// [`Client::store`](crate::Client::store) once logged in.
pub struct LocalStore {
    conn: Mutex<Connection>,
    keys: Keys,
    key: StoreKey,
    path: PathBuf,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that opens this store without the password (see [`StoreKey`]).
    pub fn key(&self) -> StoreKey {
        self.key.clone()
    }

    /// Opens `path` with a password (blocking: runs Argon2id). A missing file is created
    /// when `create` is set, else [`StoreError::Missing`]; a damaged file is set aside and,
    /// when `create` is set, replaced by a new one (else [`StoreError::Corrupt`] says where
    /// it went). A wrong password changes nothing.
    pub(crate) fn open_with_password(
        path: &Path,
        password: &[u8],
        params: KdfParams,
        create: bool,
    ) -> Result<(LocalStore, Opened), StoreError> {
        if !path.exists() {
            if !create {
                return Err(StoreError::Missing);
            }
            return Ok((Self::create(path, password, params)?, Opened::Created));
        }
        match read_header(path) {
            Ok((conn, header)) => {
                let key = StoreKey::derive(password, &header.salt, header.params)
                    .ok_or(StoreError::Corrupt { set_aside: None })?;
                let keys = Keys::new(&key);
                if !keys.matches(&header.check) {
                    return Err(StoreError::WrongPassword);
                }
                Ok((Self::wrap(conn, keys, key, path), Opened::Existing))
            }
            Err(StoreError::Corrupt { .. }) => {
                let aside = set_aside(path)?;
                tracing::warn!(path = %aside.display(), "local store damaged; moved aside");
                if !create {
                    return Err(StoreError::Corrupt {
                        set_aside: Some(aside),
                    });
                }
                Ok((Self::create(path, password, params)?, Opened::Replaced(aside)))
            }
            Err(e) => Err(e),
        }
    }

    /// Sets the file at `path` aside and makes a new one for `password` (blocking): for a
    /// file the server's accepted password does not open, whose key material is damaged.
    pub(crate) fn replace(
        path: &Path,
        password: &[u8],
        params: KdfParams,
    ) -> Result<(LocalStore, PathBuf), StoreError> {
        let aside = set_aside(path)?;
        Ok((Self::create(path, password, params)?, aside))
    }

    /// Opens an existing file with its exported key, without the password.
    pub(crate) fn open_with_key(path: &Path, key: StoreKey) -> Result<LocalStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing);
        }
        let (conn, header) = read_header(path)?;
        let keys = Keys::new(&key);
        if !keys.matches(&header.check) {
            return Err(StoreError::WrongKey);
        }
        Ok(Self::wrap(conn, keys, key, path))
    }

    fn create(path: &Path, password: &[u8], params: KdfParams) -> Result<LocalStore, StoreError> {
        if let Some(dir) = path.parent() {
            private_dir(dir)?;
        }
        let salt: [u8; SALT_LEN] = rand::random();
        let key = StoreKey::derive(password, &salt, params).ok_or(StoreError::Corrupt { set_aside: None })?;
        let keys = Keys::new(&key);
        // Build the file under a temporary name, so that a crash never leaves a half-made
        // store where the next start would take it for a damaged one.
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(".new-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        create_private_file(&tmp)?;
        {
            let conn = connect(&tmp)?;
            conn.execute_batch(SCHEMA).map_err(StoreError::db)?;
            let put = |name: &str, value: &[u8]| {
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                    params![name, value],
                )
                .map(|_| ())
                .map_err(StoreError::db)
            };
            put("format", &FORMAT.to_le_bytes())?;
            put("kdf_memory_kib", &params.memory_kib.to_le_bytes())?;
            put("kdf_iterations", &params.iterations.to_le_bytes())?;
            put("salt", &salt)?;
            put("check", &keys.check())?;
        }
        std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
        let conn = connect(path)?;
        Ok(Self::wrap(conn, keys, key, path))
    }

    fn wrap(conn: Connection, keys: Keys, key: StoreKey, path: &Path) -> LocalStore {
        LocalStore {
            conn: Mutex::new(conn),
            keys,
            key,
            path: path.to_path_buf(),
        }
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.conn)
    }
}

/// What the `meta` table says about the file.
struct Header {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    check: Vec<u8>,
}

/// Opens the file and reads its header; anything unreadable is [`StoreError::Corrupt`].
fn read_header(path: &Path) -> Result<(Connection, Header), StoreError> {
    let corrupt = || StoreError::Corrupt { set_aside: None };
    let conn = connect(path).map_err(|e| match e {
        StoreError::Io { .. } => e,
        _ => corrupt(),
    })?;
    let get = |name: &str| -> Result<Vec<u8>, StoreError> {
        conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|_| corrupt())?
            .ok_or_else(corrupt)
    };
    let u32_of = |bytes: Vec<u8>| -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| corrupt())?))
    };
    let format = i64::from_le_bytes(get("format")?.try_into().map_err(|_| corrupt())?);
    if format != FORMAT {
        return Err(corrupt());
    }
    let params = KdfParams {
        memory_kib: u32_of(get("kdf_memory_kib")?)?,
        iterations: u32_of(get("kdf_iterations")?)?,
    };
    if !params.plausible() {
        return Err(corrupt());
    }
    let salt: [u8; SALT_LEN] = get("salt")?.try_into().map_err(|_| corrupt())?;
    let check = get("check")?;
    // The tables of a newer layout would be refused above; make sure ours are all there.
    conn.execute_batch(SCHEMA).map_err(|_| corrupt())?;
    Ok((conn, Header { params, salt, check }))
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::db)?;
    // WAL with full sync: a queued message is on disk when the insert returns, and a crash
    // or power cut never loses it.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
        .map_err(StoreError::db)?;
    Ok(conn)
}

/// Creates an empty file only its owner can read (SQLite gives its WAL the same mode).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(|_| ())
        .map_err(|e| StoreError::io(path, e))
}

/// Moves a damaged file (and its WAL) out of the way, next to where it was; never deletes.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let suffix = format!(".damaged-{millis}");
    let with = |p: &Path, extra: &str| {
        let mut name = p.file_name().unwrap_or_default().to_os_string();
        name.push(extra);
        p.with_file_name(name)
    };
    let target = with(path, &suffix);
    std::fs::rename(path, &target).map_err(|e| StoreError::io(path, e))?;
    for side in ["-wal", "-shm"] {
        let from = with(path, side);
        if from.exists() {
            let _ = std::fs::rename(&from, with(&target, side));
        }
    }
    Ok(target)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
    };

    /// Flips one byte of the sealed value of the rows `filter` selects in `table`, as
    /// someone editing the file could.
    pub(crate) fn flip_sealed(store: &LocalStore, table: &str, filter: &str) {
        let db = store.db();
        let rows: Vec<(i64, Vec<u8>)> = db
            .prepare(&format!("SELECT rowid, sealed FROM {table} WHERE {filter}"))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!rows.is_empty());
        for (rowid, mut sealed) in rows {
            let middle = sealed.len() / 2;
            sealed[middle] ^= 0x20;
            db.execute(
                &format!("UPDATE {table} SET sealed = ?1 WHERE rowid = ?2"),
                params![sealed, rowid],
            )
            .unwrap();
        }
    }

    pub(crate) fn fresh(dir: &Path) -> LocalStore {
        LocalStore::open_with_password(&dir.join("s.store"), b"pw-alice", CHEAP, true)
            .unwrap()
            .0
    }

    #[test]
    fn created_then_reopened_by_password_or_key_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/s.store");
        let (store, how) = LocalStore::open_with_password(&path, b"pw-alice", CHEAP, true).unwrap();
        assert!(matches!(how, Opened::Created));
        store.put("app", b"k", b"v").unwrap();
        let key = store.key();
        drop(store);

        let (store, how) = LocalStore::open_with_password(&path, b"pw-alice", CHEAP, true).unwrap();
        assert!(matches!(how, Opened::Existing));
        assert_eq!(store.get("app", b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(store.key(), key, "the same key each time");
        drop(store);

        let before = std::fs::read(&path).unwrap();
        assert_eq!(
            LocalStore::open_with_password(&path, b"pw-bob!!", CHEAP, true).unwrap_err(),
            StoreError::WrongPassword
        );
        assert_eq!(
            LocalStore::open_with_key(&path, StoreKey::from_bytes([9; 32])).unwrap_err(),
            StoreError::WrongKey
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "a wrong password leaves it alone"
        );
        let store = LocalStore::open_with_key(&path, key).unwrap();
        assert_eq!(store.get("app", b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(
            LocalStore::open_with_key(&dir.path().join("none.store"), store.key()).unwrap_err(),
            StoreError::Missing
        );
    }

    #[test]
    fn a_damaged_file_is_set_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.store");
        std::fs::write(&path, b"this is not a database at all, just some bytes").unwrap();
        let (store, how) = LocalStore::open_with_password(&path, b"pw-alice", CHEAP, true).unwrap();
        let Opened::Replaced(aside) = how else {
            panic!("{how:?}")
        };
        assert_eq!(
            std::fs::read(&aside).unwrap(),
            b"this is not a database at all, just some bytes",
            "kept for inspection"
        );
        assert_eq!(store.get("app", b"k").unwrap(), None);
        drop(store);
        std::fs::write(&path, b"damaged again").unwrap();
        let err = LocalStore::open_with_password(&path, b"pw-alice", CHEAP, false).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { set_aside: Some(_) }),
            "{err:?}"
        );
        assert!(!path.exists(), "moved aside, nothing new without `create`");
        assert_eq!(
            LocalStore::open_with_password(&path, b"pw-alice", CHEAP, false).unwrap_err(),
            StoreError::Missing
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_file_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private/s.store");
        let (store, _) = LocalStore::open_with_password(&path, b"pw-alice", CHEAP, true).unwrap();
        store.put("app", b"k", b"v").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let wal = path.with_file_name("s.store-wal");
        assert!(wal.exists());
        assert_eq!(mode(&wal), 0o600);
    }
}
