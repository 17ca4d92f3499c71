//! Client configuration with documented defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::backoff::ReconnectPolicy;
use crate::fingerprint::{Fingerprint, FingerprintError};

/// How the client decides to trust a `wss://` server. There are no built-in public roots:
/// a self-hosted server is trusted by its certificate file or its pinned fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerTrust {
    /// Accept exactly the certificate whose SHA-256 fingerprint this is (the server prints it
    /// at start). The server must still prove it holds the certificate's key.
    Fingerprint(Fingerprint),
    /// Trust the certificates in this PEM file (or a single DER certificate): a server
    /// presenting one of them is accepted as with a pinned fingerprint; otherwise they are
    /// used as root certificates, with the usual name and date checks.
    CertificateFile(PathBuf),
    /// Like [`ServerTrust::CertificateFile`], with the DER certificates given directly.
    Certificates(Vec<Vec<u8>>),
}

/// Settings of the offline cache (C7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Directory of the cache files; `None` disables the cache. Default: `None` (an
    /// application picks its own data directory, e.g. with the `directories` crate).
    pub dir: Option<PathBuf>,
    /// Messages kept per room. Default: 20.
    pub messages_per_room: usize,
    /// Argon2id memory cost in KiB. Default: 19456 (19 MiB).
    pub kdf_memory_kib: u32,
    /// Argon2id passes. Default: 2.
    pub kdf_iterations: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            dir: None,
            messages_per_room: 20,
            kdf_memory_kib: 19 * 1024,
            kdf_iterations: 2,
        }
    }
}

/// Everything a [`Client`](crate::Client) needs. Build it with [`ClientConfig::new`] and the
/// `with_*` methods; every field is public and documented with its default.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The server's WebSocket URL, `wss://host:port/v1/ws` (or `ws://` behind a
    /// TLS-terminating proxy). A URL without a path gets [`chat_proto::WEBSOCKET_PATH`].
    pub server_url: String,
    /// How a `wss://` server is trusted. Required for `wss://`. Default: `None`.
    pub trust: Option<ServerTrust>,
    /// Time allowed for one connection attempt, from TCP connect to the server's `hello`
    /// (and the session resume after a reconnect). Default: 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for one request, including waiting for a connection that is being
    /// (re-)established. Default: 10 s.
    pub request_timeout: Duration,
    /// How long [`Client::send`](crate::Client::send) keeps retrying one message (with the
    /// same client message id) across reconnects and retryable server errors. Default: 30 s.
    pub send_retry_window: Duration,
    /// After this long without any frame from the server, the client sends a `ping`; no
    /// answer within `request_timeout` means the connection is dead. Default: 15 s.
    pub keepalive_interval: Duration,
    /// Largest frame accepted from the server (history pages can be large). Default: 16 MiB.
    pub max_incoming_frame_bytes: usize,
    /// Reconnect backoff. Default: [`ReconnectPolicy::default`].
    pub reconnect: ReconnectPolicy,
    /// Offline cache. Default: disabled ([`CacheConfig::default`]).
    pub cache: CacheConfig,
}

impl ClientConfig {
    /// A configuration for `server_url` with every default.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            trust: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            send_retry_window: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(15),
            max_incoming_frame_bytes: 16 * 1024 * 1024,
            reconnect: ReconnectPolicy::default(),
            cache: CacheConfig::default(),
        }
    }

    /// Pins the server certificate's SHA-256 fingerprint (hex, colons optional, any case).
    pub fn with_fingerprint(mut self, fingerprint: &str) -> Result<Self, FingerprintError> {
        self.trust = Some(ServerTrust::Fingerprint(fingerprint.parse()?));
        Ok(self)
    }

    /// Trusts the certificate(s) in a PEM or DER file.
    pub fn with_certificate_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.trust = Some(ServerTrust::CertificateFile(path.into()));
        self
    }

    /// Enables the offline cache in `dir`.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache.dir = Some(dir.into());
        self
    }

    /// Replaces the reconnect policy.
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = ClientConfig::new("wss://localhost:8443/v1/ws");
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.send_retry_window, Duration::from_secs(30));
        assert_eq!(c.keepalive_interval, Duration::from_secs(15));
        assert_eq!(c.reconnect.max_attempts, Some(10));
        assert_eq!(c.reconnect.base_delay, Duration::from_millis(500));
        assert_eq!(c.reconnect.max_delay, Duration::from_secs(30));
        assert_eq!(c.cache.messages_per_room, 20);
        assert_eq!(c.cache.dir, None);
        assert!(c.trust.is_none());
    }

    #[test]
    fn fingerprint_setter_validates() {
        assert!(ClientConfig::new("wss://h:1").with_fingerprint("nope").is_err());
        let fp = "ab".repeat(32);
        let c = ClientConfig::new("wss://h:1").with_fingerprint(&fp).unwrap();
        assert!(matches!(c.trust, Some(ServerTrust::Fingerprint(_))));
    }
}
