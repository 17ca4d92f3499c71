//! Random secrets handed to clients (session tokens, invite link tokens) and the hash the
//! store keeps instead of them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::TokenHash;

/// A fresh random secret: 256 bits, base64url without padding (43 characters of
/// `A-Z a-z 0-9 - _`).
pub(crate) fn random_token_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a secret: what the store keeps.
pub(crate) fn hash_secret(secret: &str) -> TokenHash {
    Sha256::digest(secret.as_bytes()).into()
}
