//! The encrypted per-user offline cache (C7): one file per user and server, holding the chat
//! list, members and the newest messages of each room.
//!
//! Written at logout and at clean shutdown, read at login. A file that fails authentication is
//! renamed aside (never deleted, never shown) and the cache is rebuilt from the server.
//!
//! - [`crypto`]: the file format, Argon2id and XChaCha20-Poly1305.
//! - [`snapshot`]: the cached data and its updates.

pub(crate) mod crypto;
pub mod snapshot;

use std::path::{Path, PathBuf};

use chat_proto::Username;
use sha2::{Digest, Sha256};

use crate::error::CacheError;
use crypto::{CacheKey, KdfParams, OpenError};
use snapshot::OfflineSnapshot;

/// The outcome of reading a user's cache file with a password.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// The file opened; `key` seals the next version.
    Opened {
        snapshot: OfflineSnapshot,
        key: CacheKey,
    },
    /// There was no file; `key` is new.
    Missing { key: CacheKey },
    /// The file was damaged and now lies at `path`; `key` is new.
    SetAside { path: PathBuf, key: CacheKey },
    /// The password does not open the file; it was left alone.
    WrongPassword,
}

/// The cache file of `username` on the server at `server_url`, inside `dir`. The server is
/// part of the name so that one account name on two servers gets two caches.
pub(crate) fn file_path(dir: &Path, server_url: &str, username: &Username) -> PathBuf {
    let server = hex::encode(&Sha256::digest(server_url.trim().as_bytes())[..8]);
    dir.join(format!("{server}-{}.cache", username.canonical()))
}

/// Reads and opens the cache file (blocking: runs the KDF). A damaged file is moved aside.
pub(crate) fn load(
    path: &Path,
    username: &Username,
    password: &[u8],
    params: KdfParams,
    keep: usize,
) -> Result<Loaded, CacheError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::Missing {
                key: new_key(password, params)?,
            });
        }
        Err(e) => return Err(CacheError::Io(format!("{}: {e}", path.display()))),
    };
    let opened = CacheKey::open(password, &bytes).and_then(|(plain, key)| {
        let mut snapshot: OfflineSnapshot = serde_json::from_slice(&plain).map_err(|_| OpenError::Corrupt)?;
        // A file renamed from another user's cache is not this user's chat list.
        if snapshot.user.username.canonical() != username.canonical() {
            return Err(OpenError::Corrupt);
        }
        snapshot.trim(keep);
        Ok((snapshot, key))
    });
    match opened {
        Ok((snapshot, key)) => Ok(Loaded::Opened { snapshot, key }),
        Err(OpenError::WrongPassword) => Ok(Loaded::WrongPassword),
        Err(OpenError::Corrupt) => {
            let path = set_aside(path)?;
            tracing::warn!(path = %path.display(), "offline cache damaged; moved aside");
            Ok(Loaded::SetAside {
                path,
                key: new_key(password, params)?,
            })
        }
    }
}

/// Derives a key for a fresh file (blocking).
pub(crate) fn new_key(password: &[u8], params: KdfParams) -> Result<CacheKey, CacheError> {
    CacheKey::generate(password, params)
        .map_err(|_| CacheError::Io("invalid key derivation parameters".into()))
}

/// Moves a damaged file out of the way, next to where it was.
pub(crate) fn set_aside(path: &Path) -> Result<PathBuf, CacheError> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{millis}"));
    let target = path.with_file_name(name);
    std::fs::rename(path, &target).map_err(|e| CacheError::Io(format!("{}: {e}", path.display())))?;
    Ok(target)
}

/// Encrypts and writes the snapshot, replacing the file atomically (blocking).
pub(crate) fn write(path: &Path, key: &CacheKey, snapshot: &OfflineSnapshot) -> Result<(), CacheError> {
    let io = |e: std::io::Error| CacheError::Io(format!("{}: {e}", path.display()));
    let plain = serde_json::to_vec(snapshot).map_err(|e| CacheError::Io(e.to_string()))?;
    let sealed = key.seal(&plain);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    write_private(&tmp, &sealed).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{UserId, UserInfo};

    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
    };

    fn alice() -> Username {
        Username::parse("Alice").unwrap()
    }

    fn snapshot() -> OfflineSnapshot {
        OfflineSnapshot::new(UserInfo {
            id: UserId::new(1).unwrap(),
            username: alice(),
        })
    }

    #[test]
    fn file_names_separate_servers_and_ignore_username_case() {
        let dir = Path::new("/c");
        let a = file_path(dir, "wss://a:1/v1/ws", &alice());
        assert_eq!(
            a,
            file_path(dir, "wss://a:1/v1/ws", &Username::parse("ALICE").unwrap())
        );
        assert_ne!(a, file_path(dir, "wss://b:1/v1/ws", &alice()));
        assert!(a.to_string_lossy().ends_with("-alice.cache"));
    }

    #[test]
    fn write_then_load_then_damage_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_path(dir.path(), "wss://h:1", &alice());
        assert!(matches!(
            load(&path, &alice(), b"pw-alice", CHEAP, 20).unwrap(),
            Loaded::Missing { .. }
        ));
        let key = new_key(b"pw-alice", CHEAP).unwrap();
        write(&path, &key, &snapshot()).unwrap();
        match load(&path, &alice(), b"pw-alice", CHEAP, 20).unwrap() {
            Loaded::Opened { snapshot: s, .. } => assert_eq!(s, snapshot()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            load(&path, &alice(), b"pw-bob!!", CHEAP, 20).unwrap(),
            Loaded::WrongPassword
        ));
        assert!(path.exists(), "a wrong password leaves the file alone");

        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() - 20;
        bytes[middle] ^= 0x80;
        std::fs::write(&path, &bytes).unwrap();
        match load(&path, &alice(), b"pw-alice", CHEAP, 20).unwrap() {
            Loaded::SetAside { path: aside, .. } => {
                assert!(!path.exists());
                assert_eq!(std::fs::read(&aside).unwrap(), bytes, "kept for inspection");
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn cache_files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = file_path(dir.path(), "wss://h:1", &alice());
        write(&path, &new_key(b"pw-alice", CHEAP).unwrap(), &snapshot()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
