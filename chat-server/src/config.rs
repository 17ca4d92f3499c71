//! The server's configuration: one struct with documented defaults. The command line, the
//! environment and the TOML file are turned into it by [`crate::cli`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use chat_core::CoreConfig;

use crate::error::ServerError;

/// Default port of the WebSocket and HTTP listener.
pub const DEFAULT_PORT: u16 = 8443;

/// Everything the server needs to start. `ServerConfig::default()` is the documented
/// default: wss on `0.0.0.0:8443`, data in `./data`, a self-signed certificate.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address of the listener for WebSockets, `/healthz` and (unless moved) `/metrics`.
    /// Default `0.0.0.0:8443`: all interfaces, so other machines can connect without setup.
    pub listen: SocketAddr,
    /// Directory for the database, the at-rest key and the generated certificate.
    /// Default `./data`, relative to the working directory; created when missing.
    pub data_dir: PathBuf,
    /// How the listener speaks TLS. Default: a self-signed certificate in the data directory.
    pub tls: TlsMode,
    /// Extra DNS names or IP addresses for a generated certificate, besides `localhost`,
    /// `127.0.0.1`, `::1` and a specific listen address. Default empty.
    pub tls_names: Vec<String>,
    /// When set, `/metrics` is served only on this separate plain-HTTP listener, which must be
    /// a loopback address, and no longer on the main one. Default `None`.
    pub metrics_listen: Option<SocketAddr>,
    /// Whether `/metrics` on the main listener is served to every client. Default `false`:
    /// only to clients on this host (a loopback peer whose request no proxy forwarded);
    /// others get 403. Not combined with `metrics_listen`, which moves `/metrics` away.
    pub metrics_public: bool,
    /// Browser origins allowed to open WebSockets (exact match, such as
    /// `https://chat.example.com`). Empty (the default) allows any origin; otherwise a request
    /// whose `Origin` header is not listed gets HTTP 403. Requests without `Origin`
    /// (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Size and count limits.
    pub limits: Limits,
    /// Timeouts and intervals.
    pub timeouts: Timeouts,
    /// PostgreSQL URL of a database shared by several nodes. Default `None`: the SQLite
    /// file in the data directory.
    pub database_url: Option<String>,
    /// Redis for fan-out, presence and limits across nodes (needs `database_url` and shared
    /// at-rest keys). Default `None`: in-process fan-out, one node. Every node needs its
    /// own `node_id`: when one options value is reused for several nodes in one process,
    /// give each a fresh id.
    pub redis: Option<chat_core::broker::redis::RedisOptions>,
    /// The core's configuration (bcrypt cost, session lifetime, outbound queue, rate limit,
    /// login throttle, page size).
    pub core: CoreConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
            data_dir: PathBuf::from("data"),
            tls: TlsMode::SelfSigned,
            tls_names: Vec::new(),
            metrics_listen: None,
            metrics_public: false,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            database_url: None,
            redis: None,
            core: CoreConfig::default(),
        }
    }
}

/// How the main listener speaks TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// wss with a self-signed certificate kept in `<data_dir>/tls/` (generated on first
    /// start, reused afterwards). The default.
    SelfSigned,
    /// wss with the operator's certificate chain and private key (PEM files).
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// Plain ws, for use behind a TLS-terminating proxy only. Never the default.
    Plain,
}

/// Size and count limits. Every refusal is an error frame or a close code.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest WebSocket message, after joining fragments (default 65536 bytes). Larger
    /// ones close the connection with 1009.
    pub max_frame_bytes: usize,
    /// Most connections held at once (default 10000). Further WebSocket upgrades are closed
    /// with 1013; further plain HTTP requests get 503.
    pub max_connections: usize,
    /// Most connections held at once from one IP address (default 256).
    pub max_connections_per_ip: usize,
    /// Requests read from one connection and not yet answered (default 32), and the most
    /// consecutive sends of one connection being stored at once. When full, the server stops
    /// reading that socket until the core catches up.
    pub max_pipelined_requests: usize,
    /// Upper bound of bytes gathered into one write (default 262144). Frames queued for a
    /// connection are written together up to this size.
    pub max_write_batch_bytes: usize,
    /// Consecutive `rate_limited` answers after which the connection is closed with 4004
    /// (default 100).
    pub rate_limit_strikes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: chat_proto::DEFAULT_MAX_FRAME_BYTES,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            max_pipelined_requests: 32,
            max_write_batch_bytes: 256 * 1024,
            rate_limit_strikes: 100,
        }
    }
}

/// Timeouts and intervals.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// Time allowed for the TLS handshake and the first HTTP request head together, counted
    /// from the accept (default 10 s).
    pub handshake: Duration,
    /// Time a WebSocket connection has to authenticate (default 10 s); after it, close 4001.
    /// It starts again after a `logout`.
    pub auth: Duration,
    /// Silence after which a connection is closed with 4002 (default 60 s). Any frame from
    /// the client, pongs included, counts as activity.
    pub idle: Duration,
    /// Interval of the server's WebSocket pings (default 20 s).
    pub ping_interval: Duration,
    /// Longest a single write to a client may block before the client is dropped as a slow
    /// consumer (default 10 s).
    pub write: Duration,
    /// Bound of a graceful shutdown (default 10 s): connections still open after it are
    /// dropped.
    pub shutdown: Duration,
    /// How long the server waits for the client's close frame after sending its own
    /// (default 2 s).
    pub close_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            auth: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            write: Duration::from_secs(10),
            shutdown: Duration::from_secs(10),
            close_grace: Duration::from_secs(2),
        }
    }
}

impl ServerConfig {
    /// A configuration for tests and embedding: `127.0.0.1` on a free port, the given data
    /// directory, everything else default.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Checks the rules that the types cannot express.
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |what: &str| Err(ServerError::Config(what.to_owned()));
        if let Some(addr) = self.metrics_listen
            && !addr.ip().is_loopback()
        {
            return bad("metrics_listen must be a loopback address (127.0.0.1 or ::1)");
        }
        if self.metrics_public && self.metrics_listen.is_some() {
            return bad(
                "metrics_public applies to the main listener; with metrics_listen, /metrics is served only there",
            );
        }
        if self.limits.max_frame_bytes < 1024 {
            return bad("max_frame_bytes must be at least 1024");
        }
        if self.limits.max_connections == 0 || self.limits.max_connections_per_ip == 0 {
            return bad("max_connections and max_connections_per_ip must be at least 1");
        }
        if self.limits.max_pipelined_requests == 0 {
            return bad("max_pipelined_requests must be at least 1");
        }
        let t = &self.timeouts;
        let zero = [t.handshake, t.auth, t.idle, t.ping_interval, t.write, t.shutdown];
        if zero.iter().any(Duration::is_zero) {
            return bad("timeouts and intervals must be longer than zero");
        }
        if t.ping_interval >= t.idle {
            return bad("ping_interval must be shorter than the idle timeout");
        }
        if self.core.outbound_queue == 0 {
            return bad("outbound_queue must be at least 1");
        }
        if self.core.login_first_delay.is_zero() || self.core.login_window.is_zero() {
            return bad("login_first_delay and login_window must be longer than zero");
        }
        Ok(())
    }

    /// The `ws(s)://` scheme this configuration serves.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            TlsMode::Plain => "ws",
            _ => "wss",
        }
    }
}
