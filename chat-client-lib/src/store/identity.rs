//! Which server a store belongs to, and where its file lives.
//!
//! A server is identified by its normalised URL (scheme, lower-case host, explicit port,
//! path) and the certificate the client trusts it by, never by the URL text as typed: two
//! spellings of one server share a store, and the same address with another certificate (a
//! different server) gets another. The file name is a hash of that identity and the
//! canonical username, so a directory listing reveals neither.

use std::path::{Path, PathBuf};

use chat_proto::Username;
use sha2::{Digest, Sha256};

use crate::config::{ClientConfig, ServerTrust};
use crate::error::StoreError;
use crate::fingerprint::Fingerprint;
use crate::transport::parse_url;

/// The identity of a server, as far as the local store is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIdentity {
    /// `scheme://host:port/path`, lower-case host, default port written out.
    pub url: String,
    /// The certificate(s) the server is trusted by, as SHA-256 fingerprints; empty for a
    /// plain `ws://` server.
    pub certificates: Vec<Fingerprint>,
}

impl ServerIdentity {
    /// The identity of the server `config` talks to. Reads a certificate file if the trust
    /// is one.
    pub fn of(config: &ClientConfig) -> Result<Self, StoreError> {
        let target = parse_url(&config.server_url).map_err(StoreError::Identity)?;
        let scheme = if target.tls { "wss" } else { "ws" };
        let host = target.host.to_ascii_lowercase();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let url = format!("{scheme}://{host}:{}{}", target.port, target.path);
        let mut certificates = match (&config.trust, target.tls) {
            (_, false) | (None, true) => Vec::new(),
            (Some(ServerTrust::Fingerprint(fp)), true) => vec![*fp],
            (Some(ServerTrust::Certificates(ders)), true) => {
                ders.iter().map(|d| Fingerprint::of_der(d)).collect()
            }
            (Some(ServerTrust::CertificateFile(path)), true) => crate::tls::certificates_in_file(path)
                .map_err(StoreError::Identity)?
                .iter()
                .map(|d| Fingerprint::of_der(d))
                .collect(),
        };
        certificates.sort_by_key(|f| *f.as_bytes());
        certificates.dedup();
        Ok(Self { url, certificates })
    }

    /// The store file of `username` on this server inside `dir` (for an application that
    /// wants to remove a user's data).
    pub fn store_file(&self, dir: &Path, username: &Username) -> PathBuf {
        let mut hash = Sha256::new();
        hash.update(b"chat-store/v1\0");
        hash.update(self.url.as_bytes());
        hash.update(b"\0");
        for fp in &self.certificates {
            hash.update(fp.as_bytes());
        }
        hash.update(b"\0");
        hash.update(username.canonical().as_bytes());
        dir.join(format!("{}.store", hex::encode(&hash.finalize()[..16])))
    }
}

/// Makes `dir` (and missing parents) a directory only its owner can enter. An existing
/// directory open to others is tightened, except a shared one (sticky bit, like `/tmp`),
/// which is refused: the store belongs in a directory of the application's own.
pub(crate) fn private_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::io(dir, e);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode();
        if mode & 0o1000 != 0 {
            return Err(StoreError::SharedDirectory(dir.to_path_buf()));
        }
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(url: &str, fp: &str) -> ServerIdentity {
        let config = ClientConfig::new(url).with_fingerprint(fp).unwrap();
        ServerIdentity::of(&config).unwrap()
    }

    #[test]
    fn spellings_of_one_server_share_an_identity_and_another_certificate_does_not() {
        let fp = "ab".repeat(32);
        let a = identity("wss://Chat.Example.org:443/v2/ws", &fp);
        assert_eq!(a, identity("wss://chat.example.org", &fp));
        assert_eq!(a, identity(" wss://CHAT.example.ORG/ ", &fp.to_uppercase()));
        assert_eq!(a.url, "wss://chat.example.org:443/v2/ws");
        assert_ne!(a, identity("wss://chat.example.org", &"cd".repeat(32)));
        assert_ne!(a, identity("wss://chat.example.org:8443", &fp));
        let v6 = identity("wss://[::1]:9443", &fp);
        assert_eq!(v6.url, "wss://[::1]:9443/v2/ws");
    }

    #[test]
    fn file_names_reveal_neither_user_nor_server_and_ignore_case() {
        let fp = "ab".repeat(32);
        let server = identity("wss://chat.example.org", &fp);
        let dir = Path::new("/c");
        let alice = server.store_file(dir, &Username::parse("Alice").unwrap());
        assert_eq!(alice, server.store_file(dir, &Username::parse("ALICE").unwrap()));
        assert_ne!(alice, server.store_file(dir, &Username::parse("bob").unwrap()));
        let name = alice.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains("alice") && !name.contains("example"), "{name}");
        assert_ne!(
            alice,
            identity("wss://chat.example.org", &"cd".repeat(32))
                .store_file(dir, &Username::parse("alice").unwrap())
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_is_made_private_and_a_shared_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        private_dir(&fresh).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(matches!(
            private_dir(&shared),
            Err(StoreError::SharedDirectory(_))
        ));
        assert_eq!(mode(&shared), 0o1777, "left alone");
    }
}
