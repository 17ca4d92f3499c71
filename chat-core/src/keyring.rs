//! Encryption at rest: the server's message keys and the AEAD that seals bodies (S14).
//!
//! Bodies are sealed with XChaCha20-Poly1305 under a 256-bit server key, with a fresh random
//! 192-bit nonce per message (random nonces of that size never collide in practice, so no
//! counter has to survive restarts). The associated data binds a ciphertext to its row (room,
//! sender and client message id): a body copied into another row fails to open.
//!
//! # Key file format
//!
//! Plain text, one key a line: `<key id>:<64 hex digits>`, e.g.
//! `1:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`. Blank lines and
//! lines starting with `#` are ignored; commas separate keys too, so the same text fits in
//! one environment variable. The key with the **highest id** seals new messages; every key
//! listed opens the rows that carry its id. To rotate, append a key with a higher id and
//! restart; keep the old lines as long as rows sealed with them exist.
//!
//! In embedded mode the file is `at-rest.keys` in the data directory, generated with one
//! random key on first start and readable by the owner only (mode 0600).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chat_proto::{ClientMsgId, RoomId, UserId};
use rand::RngCore;

/// Name of the key file in the data directory.
pub const KEY_FILE_NAME: &str = "at-rest.keys";

/// Length of a nonce in bytes.
pub const NONCE_BYTES: usize = 24;

/// What can go wrong with keys and sealed bodies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A line of the key text breaks the format.
    #[error("key text line {line}: {reason}")]
    Malformed {
        /// 1-based line (or comma-separated item) number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key text holds no key.
    #[error("the key text holds no key")]
    Empty,
    /// The key file cannot be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row was sealed with a key this ring does not have.
    #[error("no at-rest key with id {0}")]
    UnknownKey(u32),
    /// A ciphertext failed authentication (tampered, moved to another row, or wrong key).
    #[error("a stored body failed authentication")]
    Tampered,
}

/// A body sealed for storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The key that sealed it.
    pub key_id: u32,
    /// The random nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// The server's at-rest keys: the current one for sealing, all of them for opening.
pub struct KeyRing {
    current: u32,
    keys: BTreeMap<u32, XChaCha20Poly1305>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The associated data of a message row.
fn message_aad(room: RoomId, sender: UserId, client_msg_id: &ClientMsgId) -> [u8; 39] {
    let mut aad = [0u8; 39];
    aad[..7].copy_from_slice(b"chat-v1");
    aad[7..15].copy_from_slice(&room.get().to_be_bytes());
    aad[15..23].copy_from_slice(&sender.get().to_be_bytes());
    aad[23..].copy_from_slice(client_msg_id.as_uuid().as_bytes());
    aad
}

impl KeyRing {
    /// Parses key text (see the module docs for the format).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        let items = text.split(['\n', ',']).enumerate();
        for (index, item) in items {
            let line = index + 1;
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let malformed = |reason| KeyError::Malformed { line, reason };
            let (id, hex_key) = item.split_once(':').ok_or(malformed("expected <id>:<hex key>"))?;
            let id: u32 = id
                .trim()
                .parse()
                .map_err(|_| malformed("the key id is not a number"))?;
            let mut key = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut key)
                .map_err(|_| malformed("the key is not 64 hex digits"))?;
            if keys.insert(id, XChaCha20Poly1305::new(&key.into())).is_some() {
                return Err(malformed("the key id appears twice"));
            }
        }
        let current = *keys.keys().next_back().ok_or(KeyError::Empty)?;
        Ok(Self { current, keys })
    }

    /// Key text with one fresh random key of id 1.
    pub fn generate_text() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        format!(
            "# At-rest message keys: <id>:<64 hex digits>. The highest id seals new messages.\n\
             # Keep every key that still has rows; back this file up with the database.\n\
             1:{}\n",
            hex::encode(key)
        )
    }

    /// Loads the key file at `path`, creating it with one random key (mode 0600) when it
    /// does not exist.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = Self::generate_text();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Self::parse(&text)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The id of the key that seals new messages.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// Seals a message body for the row `(room, sender, client_msg_id)`.
    pub fn seal(&self, room: RoomId, sender: UserId, client_msg_id: &ClientMsgId, body: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let aad = message_aad(room, sender, client_msg_id);
        let cipher = &self.keys[&self.current];
        // Encryption only fails for inputs beyond the cipher's ~256 GiB limit; bodies are
        // capped at 16 KiB by the protocol.
        let ciphertext = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: body, aad: &aad })
            .unwrap_or_default();
        Sealed {
            key_id: self.current,
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a body sealed by [`KeyRing::seal`] for the same row.
    pub fn open(
        &self,
        room: RoomId,
        sender: UserId,
        client_msg_id: &ClientMsgId,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, KeyError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or(KeyError::UnknownKey(sealed.key_id))?;
        let nonce: [u8; NONCE_BYTES] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Tampered)?;
        let aad = message_aad(room, sender, client_msg_id);
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> (RoomId, UserId, ClientMsgId) {
        (
            RoomId::new(5).unwrap(),
            UserId::new(9).unwrap(),
            ClientMsgId::random(),
        )
    }

    #[test]
    fn sealed_bodies_open_only_for_their_row() {
        let ring = KeyRing::parse(&KeyRing::generate_text()).unwrap();
        let (room, sender, cid) = row();
        let sealed = ring.seal(room, sender, &cid, b"hello there");
        assert_eq!(sealed.key_id, 1);
        assert_eq!(sealed.nonce.len(), NONCE_BYTES);
        assert!(!sealed.ciphertext.windows(5).any(|w| w == b"hello"));
        assert_eq!(ring.open(room, sender, &cid, &sealed).unwrap(), b"hello there");
        let other_room = RoomId::new(6).unwrap();
        assert!(matches!(
            ring.open(other_room, sender, &cid, &sealed),
            Err(KeyError::Tampered)
        ));
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open(room, sender, &cid, &flipped),
            Err(KeyError::Tampered)
        ));
    }

    #[test]
    fn rotation_seals_with_the_highest_id_and_opens_old_rows() {
        let k1 = format!("1:{}", "11".repeat(32));
        let old = KeyRing::parse(&k1).unwrap();
        let (room, sender, cid) = row();
        let sealed_old = old.seal(room, sender, &cid, b"before rotation");
        let rotated = KeyRing::parse(&format!("# keys\n{k1}\n\n7:{}\n", "22".repeat(32))).unwrap();
        assert_eq!(rotated.current_key_id(), 7);
        assert_eq!(
            rotated.open(room, sender, &cid, &sealed_old).unwrap(),
            b"before rotation"
        );
        assert_eq!(rotated.seal(room, sender, &cid, b"after").key_id, 7);
        let env_form = KeyRing::parse(&format!("{k1},7:{}", "22".repeat(32))).unwrap();
        assert_eq!(env_form.current_key_id(), 7);
        let only_new = KeyRing::parse(&format!("7:{}", "22".repeat(32))).unwrap();
        assert!(matches!(
            only_new.open(room, sender, &cid, &sealed_old),
            Err(KeyError::UnknownKey(1))
        ));
    }

    #[test]
    fn malformed_key_text_is_refused_with_its_line() {
        for (text, line) in [
            ("", 0),
            ("# only a comment", 0),
            ("1:abcd", 1),
            ("\nx:00", 2),
            ("1-00", 1),
        ] {
            match KeyRing::parse(text) {
                Err(KeyError::Empty) => assert_eq!(line, 0, "{text:?}"),
                Err(KeyError::Malformed { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let dup = format!("1:{k}\n1:{k}", k = "00".repeat(32));
        assert!(matches!(
            KeyRing::parse(&dup),
            Err(KeyError::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn the_key_file_is_generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let first = KeyRing::load_or_generate(&path).unwrap();
        let (room, sender, cid) = row();
        let sealed = first.seal(room, sender, &cid, b"kept");
        let again = KeyRing::load_or_generate(&path).unwrap();
        assert_eq!(again.open(room, sender, &cid, &sealed).unwrap(), b"kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
