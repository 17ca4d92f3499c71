//! The cache file format: a header with the KDF parameters, salt, key check and nonce, then
//! the XChaCha20-Poly1305 ciphertext of the snapshot, authenticated together with the header.
//!
//! ```text
//! magic "CHATCCH" + format 1 (8) | m_cost KiB u32 LE (4) | t_cost u32 LE (4) | salt (16)
//! | key check (32) | nonce (24) | ciphertext + tag
//! ```
//!
//! Argon2id turns the password and the per-user salt into 64 bytes: the first 32 are the AEAD
//! key, the last 32 are stored as the key check. A wrong password fails the key check (and is
//! reported as such, leaving the file alone); a right password with a failing tag means the
//! file was damaged or tampered with.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

const MAGIC: &[u8; 8] = b"CHATCCH\x01";
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + 4 + 4 + SALT_LEN + CHECK_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;

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

/// A derived key with the salt and parameters it came from, ready to seal a new file.
#[derive(Clone)]
pub(crate) struct CacheKey {
    key: [u8; 32],
    check: [u8; CHECK_LEN],
    salt: [u8; SALT_LEN],
    params: KdfParams,
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// Why a file could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The key check failed: another password, or damaged key material.
    WrongPassword,
    /// The format is broken or the ciphertext failed authentication.
    Corrupt,
}

impl CacheKey {
    /// Derives a key for a new file, with a fresh random salt. CPU- and memory-heavy: call it
    /// off the async runtime's worker threads.
    pub fn generate(password: &[u8], params: KdfParams) -> Result<Self, OpenError> {
        Self::derive(password, rand::random(), params)
    }

    fn derive(password: &[u8], salt: [u8; SALT_LEN], params: KdfParams) -> Result<Self, OpenError> {
        let argon_params =
            Params::new(params.memory_kib, params.iterations, 1, Some(64)).map_err(|_| OpenError::Corrupt)?;
        let mut out = [0u8; 64];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
            .hash_password_into(password, &salt, &mut out)
            .map_err(|_| OpenError::Corrupt)?;
        let mut key = [0u8; 32];
        let mut check = [0u8; CHECK_LEN];
        key.copy_from_slice(&out[..32]);
        check.copy_from_slice(&out[32..]);
        Ok(Self {
            key,
            check,
            salt,
            params,
        })
    }

    /// Encrypts `plaintext` into a complete file image with a fresh nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut file = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&self.params.memory_kib.to_le_bytes());
        file.extend_from_slice(&self.params.iterations.to_le_bytes());
        file.extend_from_slice(&self.salt);
        file.extend_from_slice(&self.check);
        file.extend_from_slice(&nonce);
        let cipher = XChaCha20Poly1305::new(&Key::from(self.key));
        let payload = Payload {
            msg: plaintext,
            aad: &file[..HEADER_LEN],
        };
        // Encryption into a Vec only fails on absurd lengths (beyond 2^38 bytes).
        match cipher.encrypt(&XNonce::from(nonce), payload) {
            Ok(ciphertext) => file.extend_from_slice(&ciphertext),
            Err(_) => file.truncate(0),
        }
        file
    }

    /// Opens a file image with `password`; returns the plaintext and the key, which can seal
    /// the next version of the file without deriving again.
    pub fn open(password: &[u8], file: &[u8]) -> Result<(Vec<u8>, CacheKey), OpenError> {
        if file.len() < HEADER_LEN + TAG_LEN || &file[..MAGIC.len()] != MAGIC {
            return Err(OpenError::Corrupt);
        }
        let (header, ciphertext) = file.split_at(HEADER_LEN);
        let mut at = MAGIC.len();
        let mut take = |n: usize| {
            let part = &header[at..at + n];
            at += n;
            part
        };
        let memory_kib = u32::from_le_bytes(take(4).try_into().map_err(|_| OpenError::Corrupt)?);
        let iterations = u32::from_le_bytes(take(4).try_into().map_err(|_| OpenError::Corrupt)?);
        let salt: [u8; SALT_LEN] = take(SALT_LEN).try_into().map_err(|_| OpenError::Corrupt)?;
        let check: [u8; CHECK_LEN] = take(CHECK_LEN).try_into().map_err(|_| OpenError::Corrupt)?;
        let nonce: [u8; NONCE_LEN] = take(NONCE_LEN).try_into().map_err(|_| OpenError::Corrupt)?;
        if !(MIN_MEMORY_KIB..=MAX_MEMORY_KIB).contains(&memory_kib)
            || !(1..=MAX_ITERATIONS).contains(&iterations)
        {
            return Err(OpenError::Corrupt);
        }
        let key = Self::derive(
            password,
            salt,
            KdfParams {
                memory_kib,
                iterations,
            },
        )?;
        let differs = key
            .check
            .iter()
            .zip(check.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if differs != 0 {
            return Err(OpenError::WrongPassword);
        }
        let cipher = XChaCha20Poly1305::new(&Key::from(key.key));
        let payload = Payload {
            msg: ciphertext,
            aad: header,
        };
        let plaintext = cipher
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| OpenError::Corrupt)?;
        Ok((plaintext, key))
    }

    /// The parameters this key was derived with.
    #[cfg(test)]
    pub fn params(&self) -> KdfParams {
        self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Small costs keep the exhaustive byte-flip test quick; the format is the same.
    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
    };

    #[test]
    fn round_trip_and_a_fresh_nonce_each_time() {
        let key = CacheKey::generate(b"password-a", CHEAP).unwrap();
        let a = key.seal(b"hello cache");
        let b = key.seal(b"hello cache");
        assert_ne!(a, b, "nonce must differ");
        let (plain, reopened) = CacheKey::open(b"password-a", &a).unwrap();
        assert_eq!(plain, b"hello cache");
        assert_eq!(reopened.params(), CHEAP);
        assert!(!a.windows(11).any(|w| w == b"hello cache"), "plaintext visible");
    }

    #[test]
    fn another_password_is_told_apart_from_damage() {
        let file = CacheKey::generate(b"password-a", CHEAP)
            .unwrap()
            .seal(b"secret rooms");
        assert_eq!(
            CacheKey::open(b"password-b", &file).unwrap_err(),
            OpenError::WrongPassword
        );
    }

    #[test]
    fn every_single_flipped_byte_is_detected() {
        let file = CacheKey::generate(b"password-a", CHEAP)
            .unwrap()
            .seal(b"{\"rooms\":[1,2,3]}");
        for i in 0..file.len() {
            let mut damaged = file.clone();
            damaged[i] ^= 0x01;
            let result = CacheKey::open(b"password-a", &damaged);
            assert!(result.is_err(), "flip at byte {i} went unnoticed");
        }
        for cut in [0, 7, HEADER_LEN, file.len() - 1] {
            assert!(
                CacheKey::open(b"password-a", &file[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
    }

    #[test]
    fn absurd_kdf_parameters_are_refused_without_running_them() {
        let mut file = CacheKey::generate(b"pw-pw-pw", CHEAP).unwrap().seal(b"x");
        file[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            CacheKey::open(b"pw-pw-pw", &file).unwrap_err(),
            OpenError::Corrupt
        );
    }
}
