//! A store in one file: an append-only log of change sets, each a checksummed record, so
//! an operation's changes land together or not at all, and compacted when it grows.
//!
//! Layout: the 16-byte [`MAGIC`], then records of `len: u32 LE | body | SHA-256(body)`,
//! where the body is a list of `1 | key_len: u32 | key | value_len: u32 | value` (set) and
//! `2 | key_len: u32 | key` (delete). Opening replays the records; a record cut short or
//! failing its checksum at the end of the file (a write interrupted by a crash) is dropped
//! and the file truncated to the last whole record.
//!
//! The file is not encrypted: it holds the device's private keys, so it is created readable
//! by its owner only, and belongs on an encrypted disk or behind the caller's own
//! encryption (implement [`Store`] on an encrypted store instead where there is one).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::HashType;

use super::{ChangeSet, Entries, Store, StoreError};

/// First bytes of the file: what it is and the layout version.
pub const MAGIC: &[u8; 16] = b"chat-e2ee log 1\n";
const CHECKSUM_LEN: usize = 32;
const PUT: u8 = 1;
const DELETE: u8 = 2;
/// Compaction starts once the log is this large and more than twice the live data.
const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// A [`Store`] in a file (see the module docs for the layout and its guarantees). Each
/// [`Store::apply`] appends one record and syncs it to disk before returning.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    file: File,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Bytes of the file.
    len: u64,
    /// Whether opening dropped an interrupted last record.
    repaired: bool,
}

impl FileStore {
    /// Opens the store at `path`, creating an empty one (readable by its owner only) if
    /// there is no file.
    pub fn open(path: impl AsRef<Path>) -> Result<FileStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut file = open_private(&path, false)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.is_empty() {
            file.write_all(MAGIC)?;
            file.sync_all()?;
            sync_parent(&path)?;
            bytes.extend_from_slice(MAGIC);
        }
        if !bytes.starts_with(MAGIC) {
            return Err(StoreError::new(format!(
                "{} is not a chat-e2ee store (or of another version)",
                path.display()
            )));
        }
        let crypto = RustCrypto::default();
        let mut map = BTreeMap::new();
        let mut at = MAGIC.len();
        while let Some((body, next)) = next_record(&crypto, &bytes, at) {
            apply_body(&mut map, body).ok_or_else(|| {
                StoreError::new(format!("{}: a checksummed record does not parse", path.display()))
            })?;
            at = next;
        }
        let repaired = at < bytes.len();
        if repaired {
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(at as u64))?;
        Ok(FileStore {
            path,
            file,
            map,
            len: at as u64,
            repaired,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether opening found an interrupted last write and dropped it (the state is the
    /// one before that operation).
    pub fn repaired_on_open(&self) -> bool {
        self.repaired
    }

    fn live_bytes(&self) -> u64 {
        self.map.iter().map(|(k, v)| (k.len() + v.len() + 9) as u64).sum()
    }

    /// Rewrites the file with only the live entries: to a temporary file, synced, then
    /// renamed over the log, so a crash leaves either the old or the new file.
    fn compact(&mut self) -> Result<(), StoreError> {
        let crypto = RustCrypto::default();
        let changes = ChangeSet {
            put: self.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            delete: Vec::new(),
        };
        let mut bytes = MAGIC.to_vec();
        bytes.extend(encode_record(&crypto, &changes)?);
        let temporary = self.path.with_extension("compacting");
        let mut file = open_private(&temporary, true)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)?;
        sync_parent(&self.path)?;
        file.seek(SeekFrom::End(0))?;
        self.file = file;
        self.len = bytes.len() as u64;
        Ok(())
    }
}

impl Store for FileStore {
    fn entries(&self) -> Result<Entries, StoreError> {
        Ok(self.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let record = encode_record(&RustCrypto::default(), changes)?;
        let written = self.file.write_all(&record).and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            // Cut off whatever part of the record reached the file, so the next record
            // does not follow garbage.
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(error.into());
        }
        self.len += record.len() as u64;
        for (key, value) in &changes.put {
            self.map.insert(key.clone(), value.clone());
        }
        for key in &changes.delete {
            self.map.remove(key);
        }
        if self.len > COMPACT_MIN_BYTES && self.len > 2 * self.live_bytes() {
            self.compact()?;
        }
        Ok(())
    }
}

fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes a rename or creation in the file's directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn checksum(crypto: &RustCrypto, body: &[u8]) -> Result<Vec<u8>, StoreError> {
    crypto
        .hash(HashType::Sha2_256, body)
        .map_err(|e| StoreError::new(format!("checksum: {e:?}")))
}

fn encode_record(crypto: &RustCrypto, changes: &ChangeSet) -> Result<Vec<u8>, StoreError> {
    let too_big = || StoreError::new("a change set larger than 4 GiB");
    let mut body = Vec::new();
    for (key, value) in &changes.put {
        body.push(PUT);
        for part in [key, value] {
            body.extend_from_slice(&u32::try_from(part.len()).map_err(|_| too_big())?.to_le_bytes());
            body.extend_from_slice(part);
        }
    }
    for key in &changes.delete {
        body.push(DELETE);
        body.extend_from_slice(&u32::try_from(key.len()).map_err(|_| too_big())?.to_le_bytes());
        body.extend_from_slice(key);
    }
    let mut record = Vec::with_capacity(body.len() + 4 + CHECKSUM_LEN);
    record.extend_from_slice(&u32::try_from(body.len()).map_err(|_| too_big())?.to_le_bytes());
    record.extend_from_slice(&body);
    record.extend_from_slice(&checksum(crypto, &body)?);
    Ok(record)
}

/// The body of the whole, intact record at `at`, and where the next one starts.
fn next_record<'a>(crypto: &RustCrypto, bytes: &'a [u8], at: usize) -> Option<(&'a [u8], usize)> {
    let rest = bytes.get(at..)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    let body = rest.get(..len)?;
    let sum = rest.get(len..len.checked_add(CHECKSUM_LEN)?)?;
    if checksum(crypto, body).ok()? != sum {
        return None;
    }
    Some((body, at + 4 + len + CHECKSUM_LEN))
}

fn apply_body(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, mut body: &[u8]) -> Option<()> {
    fn part<'a>(body: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, rest) = body.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (part, rest) = rest.split_at_checked(len)?;
        *body = rest;
        Some(part)
    }
    while let Some((&tag, rest)) = body.split_first() {
        body = rest;
        let key = part(&mut body)?.to_vec();
        match tag {
            PUT => {
                let value = part(&mut body)?.to_vec();
                map.insert(key, value);
            }
            DELETE => {
                map.remove(&key);
            }
            _ => return None,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> ChangeSet {
        ChangeSet {
            put: vec![(key.as_bytes().to_vec(), value.as_bytes().to_vec())],
            delete: vec![],
        }
    }

    #[test]
    fn changes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.e2ee");
        let mut store = FileStore::open(&path).unwrap();
        store.apply(&put("a", "1")).unwrap();
        store.apply(&put("b", "2")).unwrap();
        store
            .apply(&ChangeSet {
                put: vec![(b"a".to_vec(), b"3".to_vec())],
                delete: vec![b"b".to_vec()],
            })
            .unwrap();
        drop(store);
        let store = FileStore::open(&path).unwrap();
        assert!(!store.repaired_on_open());
        assert_eq!(store.entries().unwrap(), vec![(b"a".to_vec(), b"3".to_vec())]);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.e2ee");
        FileStore::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_interrupted_last_write_is_dropped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.e2ee");
        let mut store = FileStore::open(&path).unwrap();
        store.apply(&put("kept", "1")).unwrap();
        store
            .apply(&ChangeSet {
                put: vec![
                    (b"kept".to_vec(), b"2".to_vec()),
                    (b"new".to_vec(), b"x".to_vec()),
                ],
                delete: vec![],
            })
            .unwrap();
        drop(store);
        // Cut the last record in the middle, as a crash during the write would.
        let full = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(full - 10).unwrap();
        drop(file);

        let mut store = FileStore::open(&path).unwrap();
        assert!(store.repaired_on_open());
        assert_eq!(store.entries().unwrap(), vec![(b"kept".to_vec(), b"1".to_vec())]);
        // The log goes on from the last whole record.
        store.apply(&put("after", "3")).unwrap();
        drop(store);
        let store = FileStore::open(&path).unwrap();
        assert!(!store.repaired_on_open());
        assert_eq!(store.entries().unwrap().len(), 2);
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_is_caught_by_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.e2ee");
        let mut store = FileStore::open(&path).unwrap();
        store.apply(&put("a", "first")).unwrap();
        store.apply(&put("a", "second")).unwrap();
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - CHECKSUM_LEN - 2;
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let store = FileStore::open(&path).unwrap();
        assert!(store.repaired_on_open());
        assert_eq!(store.entries().unwrap(), vec![(b"a".to_vec(), b"first".to_vec())]);
    }

    #[test]
    fn another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"shopping list").unwrap();
        let err = FileStore::open(&path).unwrap_err();
        assert!(err.to_string().contains("not a chat-e2ee store"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"shopping list");
    }

    #[test]
    fn a_growing_log_is_compacted_to_its_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.e2ee");
        let mut store = FileStore::open(&path).unwrap();
        let value = "v".repeat(64 * 1024);
        for _ in 0..40 {
            store.apply(&put("same key", &value)).unwrap();
        }
        // 40 records of 64 KiB would make 2.6 MB; compaction keeps the file near the
        // threshold.
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(
            size < COMPACT_MIN_BYTES + 128 * 1024,
            "log not compacted: {size} bytes"
        );
        store.apply(&put("other", "x")).unwrap();
        drop(store);
        let store = FileStore::open(&path).unwrap();
        assert_eq!(store.entries().unwrap().len(), 2);
        assert!(!dir.path().join("device.compacting").exists());
    }
}
