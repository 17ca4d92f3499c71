//! The store's keys: one 32-byte store key (derived from the password by Argon2id with a
//! per-user salt, or handed back by the application that exported it), and sub-keys derived
//! from it with keyed BLAKE2b for each purpose: sealing rows, tagging lookup keys, and the
//! key check that tells a wrong password from a damaged row.
//!
//! A row is sealed with XChaCha20-Poly1305 under a fresh random nonce, and authenticated
//! together with where it lives (its table and its row identity), so a row copied or moved
//! to another place fails to open just like a row whose bytes were changed.

use argon2::{Algorithm, Argon2, Params, Version};
use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::U32;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Salt length of the password derivation.
pub(crate) const SALT_LEN: usize = 16;

/// Upper bounds on KDF parameters read from a file, so a damaged header cannot make the
/// client allocate gigabytes or spin for minutes.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MIN_MEMORY_KIB: u32 = 8;

/// Argon2id cost parameters (parallelism is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl KdfParams {
    /// Whether parameters read from a file are within sane bounds.
    pub fn plausible(&self) -> bool {
        (MIN_MEMORY_KIB..=MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (1..=MAX_ITERATIONS).contains(&self.iterations)
    }
}

/// The secret key of one local store. It opens the store without the password: an
/// application that wants to stay logged in keeps it (for example in the operating system's
/// keyring, next to the session token) and hands it to
/// [`Client::resume_session`](crate::Client::resume_session). Never printed by `Debug`, and
/// wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// A key from the 32 bytes [`StoreKey::to_bytes`] gave.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's 32 secret bytes, to keep somewhere safe. Whoever holds them can read the
    /// store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Derives the key from a password (blocking; Argon2id is slow on purpose).
    pub(crate) fn derive(password: &[u8], salt: &[u8; SALT_LEN], params: KdfParams) -> Option<Self> {
        let argon = Params::new(params.memory_kib, params.iterations, 1, Some(32)).ok()?;
        let mut out = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, argon)
            .hash_password_into(password, salt, &mut out)
            .ok()?;
        Some(Self(out))
    }

    /// A sub-key for one purpose: keyed BLAKE2b-256 of the purpose's label.
    fn sub_key(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("a 32-byte key is a valid BLAKE2b key"));
        mac.update(b"chat-store/v1/");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

/// The working keys of an open store.
pub(crate) struct Keys {
    seal: XChaCha20Poly1305,
    tag: [u8; 32],
    check: [u8; 32],
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.tag.zeroize();
        self.check.zeroize();
    }
}

impl Keys {
    pub fn new(key: &StoreKey) -> Self {
        let mut seal = key.sub_key(b"seal");
        let keys = Self {
            seal: XChaCha20Poly1305::new(&Key::from(seal)),
            tag: key.sub_key(b"tag"),
            check: key.sub_key(b"check"),
        };
        seal.zeroize();
        keys
    }

    /// The value stored in the file to recognise the right key.
    pub fn check(&self) -> [u8; 32] {
        self.check
    }

    /// Whether `stored` is this key's check value (compared without an early exit).
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == self.check.len()
            && stored
                .iter()
                .zip(self.check.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// A keyed hash that stands for a lookup key in the file (namespaces, keys, room ids,
    /// client message ids), so that the file does not show them.
    pub fn tag(&self, kind: &[u8], value: &[u8]) -> Vec<u8> {
        let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(&self.tag)
            .unwrap_or_else(|_| unreachable!("a 32-byte key is a valid BLAKE2b key"));
        mac.update(&(kind.len() as u32).to_le_bytes());
        mac.update(kind);
        mac.update(value);
        mac.finalize().into_bytes().to_vec()
    }

    /// Seals `plaintext` for the place named by `place`: nonce then ciphertext and tag.
    pub fn seal(&self, place: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: plaintext,
            aad: place,
        };
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        // Encryption into a Vec only fails on absurd lengths (beyond 2^38 bytes), which the
        // protocol's size limits rule out; an empty result then fails to open, loudly.
        if let Ok(ciphertext) = self.seal.encrypt(&XNonce::from(nonce), payload) {
            out.extend_from_slice(&ciphertext);
        }
        out
    }

    /// Opens what [`Keys::seal`] sealed for the same place; `None` when the bytes were
    /// changed, moved from another place, or sealed under another key.
    pub fn open(&self, place: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: place,
        };
        self.seal.decrypt(&XNonce::from(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
    };

    #[test]
    fn the_same_password_and_salt_give_the_same_key_and_others_do_not() {
        let salt = [7u8; SALT_LEN];
        let a = StoreKey::derive(b"password-a", &salt, CHEAP).unwrap();
        assert_eq!(a, StoreKey::derive(b"password-a", &salt, CHEAP).unwrap());
        assert_ne!(a, StoreKey::derive(b"password-b", &salt, CHEAP).unwrap());
        assert_ne!(
            a,
            StoreKey::derive(b"password-a", &[8u8; SALT_LEN], CHEAP).unwrap()
        );
        assert_eq!(format!("{a:?}"), "StoreKey(..)", "Debug shows no secret");
        assert_eq!(StoreKey::from_bytes(a.to_bytes()), a);
    }

    #[test]
    fn sealed_rows_open_only_in_their_place_and_unchanged() {
        let keys = Keys::new(&StoreKey::from_bytes([1; 32]));
        let sealed = keys.seal(b"outbox/1", b"hello store");
        assert!(
            !sealed.windows(11).any(|w| w == b"hello store"),
            "plaintext visible"
        );
        assert_ne!(sealed, keys.seal(b"outbox/1", b"hello store"), "fresh nonce");
        assert_eq!(keys.open(b"outbox/1", &sealed).unwrap(), b"hello store");
        assert!(keys.open(b"outbox/2", &sealed).is_none(), "moved row");
        for i in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[i] ^= 0x01;
            assert!(keys.open(b"outbox/1", &damaged).is_none(), "flip at {i}");
        }
        let other = Keys::new(&StoreKey::from_bytes([2; 32]));
        assert!(other.open(b"outbox/1", &sealed).is_none(), "another key");
        assert!(!other.matches(&keys.check()));
        assert!(keys.matches(&keys.check()));
    }

    #[test]
    fn tags_hide_values_and_separate_kinds() {
        let keys = Keys::new(&StoreKey::from_bytes([1; 32]));
        let other = Keys::new(&StoreKey::from_bytes([2; 32]));
        assert_eq!(keys.tag(b"ns", b"mls"), keys.tag(b"ns", b"mls"));
        assert_ne!(keys.tag(b"ns", b"mls"), keys.tag(b"key", b"mls"));
        assert_ne!(keys.tag(b"ns", b"mls"), other.tag(b"ns", b"mls"));
    }

    #[test]
    fn absurd_kdf_parameters_are_not_plausible() {
        assert!(CHEAP.plausible());
        assert!(
            !KdfParams {
                memory_kib: u32::MAX,
                iterations: 1
            }
            .plausible()
        );
        assert!(
            !KdfParams {
                memory_kib: 64,
                iterations: 0
            }
            .plausible()
        );
    }
}
