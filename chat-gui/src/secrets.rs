//! Staying logged in across restarts: the session token and the key of the user's local
//! store (never the password) are kept in the operating system's keyring, one entry per
//! account and server, behind the [`SecretStore`] trait so that tests keep theirs in memory
//! and never touch the real keyring.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The keyring's service name for the app's entries.
pub const SERVICE: &str = "chat-gui";

/// Why a secret could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the keyring: {0}")]
pub struct SecretError(pub String);

/// Where secrets live between runs.
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// The secret kept for `account`, if any.
    fn load(&self, account: &str) -> Result<Option<String>, SecretError>;
    /// Keeps `secret` for `account`, replacing what was there.
    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError>;
    /// Forgets `account`'s secret; forgetting nothing is not an error.
    fn delete(&self, account: &str) -> Result<(), SecretError>;
}

/// The operating system's keyring (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows), through the `keyring` crate.
#[derive(Debug, Default)]
pub struct OsKeyring;

impl OsKeyring {
    fn entry(account: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, account).map_err(|e| SecretError(e.to_string()))
    }
}

impl SecretStore for OsKeyring {
    fn load(&self, account: &str) -> Result<Option<String>, SecretError> {
        match OsKeyring::entry(account)?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(SecretError(e.to_string())),
        }
    }

    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError> {
        OsKeyring::entry(account)?
            .set_password(secret)
            .map_err(|e| SecretError(e.to_string()))
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        match OsKeyring::entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(SecretError(e.to_string())),
        }
    }
}

/// Secrets in memory, for tests and for runs that must not remember anything.
#[derive(Debug, Default)]
pub struct MemorySecrets(Mutex<HashMap<String, String>>);

impl MemorySecrets {
    /// Every account with a secret, and the secret.
    pub fn entries(&self) -> Vec<(String, String)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl SecretStore for MemorySecrets {
    fn load(&self, account: &str) -> Result<Option<String>, SecretError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(account)
            .cloned())
    }

    fn save(&self, account: &str, secret: &str) -> Result<(), SecretError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.to_owned(), secret.to_owned());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(account);
        Ok(())
    }
}

/// What is kept per account: enough for `Client::resume_session`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SavedSession {
    /// The session token.
    pub token: String,
    /// The local store's key, hex.
    pub store_key: String,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SavedSession(..)")
    }
}

impl SavedSession {
    /// The keyring text.
    pub fn to_secret(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the keyring text; `None` if it is not ours.
    pub fn from_secret(secret: &str) -> Option<SavedSession> {
        serde_json::from_str(secret).ok()
    }

    /// The store key's bytes, if well formed.
    pub fn key_bytes(&self) -> Option<[u8; 32]> {
        hex::decode(&self.store_key).ok()?.try_into().ok()
    }
}

/// The keyring account of a user on a server: case-insensitive in the username, as accounts
/// are.
pub fn account(server_url: &str, username: &str) -> String {
    format!("{}@{}", username.to_ascii_lowercase(), server_url.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_round_trips_and_hides_its_token_from_logs() {
        let saved = SavedSession {
            token: "tok".into(),
            store_key: hex::encode([7u8; 32]),
        };
        let back = SavedSession::from_secret(&saved.to_secret()).unwrap();
        assert_eq!(back, saved);
        assert_eq!(back.key_bytes(), Some([7u8; 32]));
        assert!(!format!("{saved:?}").contains("tok"));
        assert!(SavedSession::from_secret("a password?").is_none());
        assert_eq!(account(" wss://h/v2/ws ", "Alice"), "alice@wss://h/v2/ws");
    }

    #[test]
    fn memory_secrets_keep_replace_and_forget() {
        let store = MemorySecrets::default();
        assert_eq!(store.load("a").unwrap(), None);
        store.save("a", "1").unwrap();
        store.save("a", "2").unwrap();
        assert_eq!(store.load("a").unwrap().as_deref(), Some("2"));
        store.delete("a").unwrap();
        store.delete("a").unwrap();
        assert_eq!(store.load("a").unwrap(), None);
    }
}
