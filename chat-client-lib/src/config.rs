//! Client configuration with documented defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::backoff::ReconnectPolicy;
use crate::error::ConnectError;
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

/// Settings of the encrypted local store: the outbox, the offline snapshot (chat list,
/// members, newest messages per room), and the key-value and history areas.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Directory of the store files, made private to its owner (0700). `None` keeps
    /// nothing on disk: the outbox then lives in memory only (it still survives reconnects,
    /// not restarts) and there is no offline snapshot. Default: `None` (an application
    /// picks its own cache directory, e.g. with the `directories` crate).
    pub dir: Option<PathBuf>,
    /// Messages kept per room. Default: 20.
    pub messages_per_room: usize,
    /// Argon2id memory cost in KiB. Default: 19456 (19 MiB).
    pub kdf_memory_kib: u32,
    /// Argon2id passes. Default: 2.
    pub kdf_iterations: u32,
}

impl CacheConfig {
    /// Sets the directory (see [`CacheConfig::dir`]).
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Sets how many messages per room the offline snapshot keeps.
    pub fn with_messages_per_room(mut self, n: usize) -> Self {
        self.messages_per_room = n;
        self
    }

    /// Sets the Argon2id costs for new stores (memory in KiB, passes). Lower costs make
    /// the password easier to guess from a stolen file: change them for tests only.
    pub fn with_kdf(mut self, memory_kib: u32, iterations: u32) -> Self {
        self.kdf_memory_kib = memory_kib;
        self.kdf_iterations = iterations;
        self
    }
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

/// Everything a [`Client`](crate::Client) needs. Build it with [`ClientConfig::parse`] (which
/// checks the URL) and the `with_*` methods; every field is public, documented with its
/// default, and has a `with_*` method.
///
/// ```
/// use std::time::Duration;
/// use chat_client_lib::{ClientConfig, ReconnectPolicy};
///
/// let config = ClientConfig::parse("wss://chat.example.org:8443")?
///     .with_fingerprint("3A9F00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDD")?
///     .with_request_timeout(Duration::from_secs(5))
///     .with_reconnect(ReconnectPolicy::default().with_max_delay(Duration::from_secs(10)));
/// assert_eq!(config.server_url, "wss://chat.example.org:8443/v2/ws");
///
/// assert!(ClientConfig::parse("http://chat.example.org").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The server's WebSocket URL, `wss://host:port/v2/ws` (or `ws://` behind a
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
    /// After this long without any frame from the server, the client sends a `ping`; no
    /// answer within `request_timeout` means the connection is dead. Default: 15 s.
    pub keepalive_interval: Duration,
    /// Largest frame accepted from the server (history pages can be large). Default: 16 MiB.
    pub max_incoming_frame_bytes: usize,
    /// Reconnect backoff. Default: [`ReconnectPolicy::default`].
    pub reconnect: ReconnectPolicy,
    /// The encrypted local store. Default: none ([`CacheConfig::default`]).
    pub cache: CacheConfig,
    /// The name this installation registers its end-to-end encryption device under, for
    /// people to tell their devices apart (1 to 64 bytes). Default: `"chat client"`.
    pub device_name: String,
}

impl ClientConfig {
    /// A configuration for `server_url`, checked: the scheme must be `wss://` or `ws://`,
    /// there must be a host, and no credentials. A URL without a path gets
    /// [`chat_proto::WEBSOCKET_PATH`]. Every other setting has its default.
    pub fn parse(server_url: &str) -> Result<Self, ConnectError> {
        let target = crate::transport::parse_url(server_url)?;
        let scheme = if target.tls { "wss" } else { "ws" };
        Ok(Self::new(format!(
            "{scheme}://{}{}",
            target.authority, target.path
        )))
    }

    /// A configuration for `server_url` with every default. The URL is checked when the
    /// client first connects; [`ClientConfig::parse`] checks it now.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            trust: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            max_incoming_frame_bytes: 16 * 1024 * 1024,
            reconnect: ReconnectPolicy::default(),
            cache: CacheConfig::default(),
            device_name: "chat client".to_owned(),
        }
    }

    /// Pins the server certificate's SHA-256 fingerprint (hex, colons optional, any case).
    pub fn with_fingerprint(mut self, fingerprint: &str) -> Result<Self, FingerprintError> {
        self.trust = Some(ServerTrust::Fingerprint(fingerprint.parse()?));
        Ok(self)
    }

    /// Sets how the server is trusted.
    pub fn with_trust(mut self, trust: ServerTrust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// Trusts the certificate(s) in a PEM or DER file.
    pub fn with_certificate_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.trust = Some(ServerTrust::CertificateFile(path.into()));
        self
    }

    /// Keeps the encrypted local store in `dir`.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache.dir = Some(dir.into());
        self
    }

    /// Replaces the local store settings.
    pub fn with_cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Sets the device name (see [`ClientConfig::device_name`]).
    pub fn with_device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = name.into();
        self
    }

    /// Sets the keepalive interval.
    pub fn with_keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// Sets the largest frame accepted from the server.
    pub fn with_max_incoming_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_incoming_frame_bytes = bytes;
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
        let c = ClientConfig::new("wss://localhost:8443/v2/ws");
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.keepalive_interval, Duration::from_secs(15));
        assert_eq!(c.reconnect.max_attempts, None, "never gives up");
        assert_eq!(c.reconnect.base_delay, Duration::from_millis(500));
        assert_eq!(c.reconnect.max_delay, Duration::from_secs(30));
        assert_eq!(c.cache.messages_per_room, 20);
        assert_eq!(c.cache.dir, None);
        assert!(c.trust.is_none());
    }

    #[test]
    fn parse_checks_and_normalises_the_url() {
        let c = ClientConfig::parse(" wss://h:1 ").unwrap();
        assert_eq!(c.server_url, "wss://h:1/v2/ws");
        let c = ClientConfig::parse("ws://[::1]:80/custom").unwrap();
        assert_eq!(c.server_url, "ws://[::1]:80/custom");
        for bad in ["", "https://h", "wss://", "wss://u:p@h:1"] {
            assert!(
                matches!(ClientConfig::parse(bad), Err(ConnectError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_setter_sets_its_field() {
        let c = ClientConfig::new("wss://h:1")
            .with_trust(ServerTrust::Certificates(vec![vec![1]]))
            .with_connect_timeout(Duration::from_secs(1))
            .with_request_timeout(Duration::from_secs(2))
            .with_keepalive_interval(Duration::from_secs(3))
            .with_max_incoming_frame_bytes(4)
            .with_reconnect(ReconnectPolicy::default().with_max_attempts(Some(5)))
            .with_cache(
                CacheConfig::default()
                    .with_dir("/d")
                    .with_messages_per_room(6)
                    .with_kdf(64, 1),
            );
        assert_eq!(c.trust, Some(ServerTrust::Certificates(vec![vec![1]])));
        assert_eq!(
            (c.connect_timeout, c.request_timeout, c.keepalive_interval),
            (
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3)
            )
        );
        assert_eq!(c.max_incoming_frame_bytes, 4);
        assert_eq!(c.reconnect.max_attempts, Some(5));
        assert_eq!(c.cache.dir.as_deref(), Some(std::path::Path::new("/d")));
        assert_eq!(
            (
                c.cache.messages_per_room,
                c.cache.kdf_memory_kib,
                c.cache.kdf_iterations
            ),
            (6, 64, 1)
        );
    }

    #[test]
    fn fingerprint_setter_validates() {
        assert!(ClientConfig::new("wss://h:1").with_fingerprint("nope").is_err());
        let fp = "ab".repeat(32);
        let c = ClientConfig::new("wss://h:1").with_fingerprint(&fp).unwrap();
        assert!(matches!(c.trust, Some(ServerTrust::Fingerprint(_))));
    }
}
