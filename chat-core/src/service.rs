//! CONTRACT STUB — the public surface the server is written against. The bodies are filled
//! in by the core implementation; signatures may only grow, not change, without updating
//! chat-server.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chat_proto::{ClientFrame, ServerFrame};

/// Core configuration with documented defaults.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// bcrypt cost for new password hashes (default 12; tests use 4).
    pub bcrypt_cost: u32,
    /// How long a session token lives after login or its last resume (default 30 days).
    pub session_ttl: Duration,
    /// Capacity of each connection's outbound queue, in frames (default 1024). A connection
    /// whose queue is full is kicked as a slow consumer.
    pub outbound_queue: usize,
    /// Sustained requests per second per connection (default 50), with a burst of twice that.
    pub requests_per_second: u32,
    /// Failed logins allowed per username and per address within `login_window` before
    /// `login_throttled` (default 10).
    pub login_failures_allowed: u32,
    /// The window of the login throttle (default 5 minutes).
    pub login_window: Duration,
    /// Largest history / resume page (default and maximum 200).
    pub max_page_size: u32,
    /// The `server` string of the `hello` event.
    pub server_name: String,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            bcrypt_cost: 12,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            outbound_queue: 1024,
            requests_per_second: 50,
            login_failures_allowed: 10,
            login_window: Duration::from_secs(300),
            max_page_size: chat_proto::MAX_PAGE_SIZE,
            server_name: format!("chat-server {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Errors of the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// The service of one node. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    _inner: Arc<()>,
}

/// What a connection's outbound queue carries: pre-serialized frames, so an event fanned out
/// to many connections is serialized once.
pub type Outbound = Arc<str>;

/// Why the core dropped a connection's outbound queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KickReason {
    /// The outbound queue was full.
    SlowConsumer,
    /// The session was revoked or expired.
    SessionEnded,
}

/// Result of a health check.
#[derive(Clone, Debug)]
pub struct HealthReport {
    /// Storage reachable.
    pub storage_ok: bool,
    /// Broker reachable.
    pub broker_ok: bool,
}

impl ChatService {
    /// The embedded default: SQLite file `chat.db` and the at-rest key file in `data_dir`,
    /// in-process fan-out.
    pub async fn embedded(_data_dir: &Path, _config: CoreConfig) -> Result<Self, CoreError> {
        todo!()
    }

    /// Registers a new connection from `peer`. The connection's outbound frames (events) come
    /// out of the returned receiver; the receiver ends (returns `None`) when the core kicks the
    /// connection, and [`Connection::kicked`] then says why.
    pub fn open_connection(&self, _peer: IpAddr) -> (Connection, tokio::sync::mpsc::Receiver<Outbound>) {
        todo!()
    }

    /// The `hello` event for a new connection.
    pub fn hello(&self) -> ServerFrame {
        todo!()
    }

    /// Checks the storage and the broker.
    pub async fn health(&self) -> HealthReport {
        todo!()
    }

    /// Prometheus text exposition of the core's counters and gauges.
    pub fn render_metrics(&self) -> String {
        todo!()
    }
}

/// One client connection's state. Dropping it releases its presence and subscriptions.
pub struct Connection {
    _private: (),
}

impl Connection {
    /// Handles one decoded request and returns its one response frame (result or error).
    pub async fn handle(&mut self, _frame: ClientFrame) -> ServerFrame {
        todo!()
    }

    /// Whether the connection is authenticated.
    pub fn is_authenticated(&self) -> bool {
        todo!()
    }

    /// Why the core kicked this connection, if it did.
    pub fn kicked(&self) -> Option<KickReason> {
        todo!()
    }
}
