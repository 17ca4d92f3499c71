//! The service of one node: [`ChatService`] holds the store, the broker, the at-rest keys and
//! the local hub; [`Connection`] is one client's state. The server turns each decoded
//! request into one [`Connection::handle`] call and forwards the frames that come out of the
//! connection's outbound queue.
//!
//! Handlers live in `accounts` (register, login, sessions), `rooms` (rooms, members,
//! settings, direct chats), `moderation` (invitations, removals, bans, roles),
//! `invite_links`, `directory` (public rooms), `messages` (send, history, resume, read
//! state, typing) and `resume` (many rooms at once). `rules` says who may do what in a room;
//! `room_change` applies a decided change under the room's version; `timeline` turns stored
//! items into events.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat_proto::{
    DEFAULT_MAX_FRAME_BYTES, Event, MAX_BODY_BYTES, PROTOCOL_VERSION, ServerFrame, ServerLimits,
};

use crate::broker::memory::{DEFAULT_EPHEMERAL_QUEUE, MemoryBroker};
use crate::broker::{Broker, BrokerError};
use crate::hub::LocalHub;
use crate::keyring::{KEY_FILE_NAME, KeyError, KeyRing};
use crate::metrics::Metrics;
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::{Millis, Store, StoreError};

mod accounts;
mod connection;
mod devices;
mod directory;
mod gap_fill;
mod invite_links;
mod login_throttle;
mod messages;
mod mls;
mod moderation;
mod presence;
mod reply;
mod resume;
mod room_change;
mod rooms;
mod rules;
mod secrets;
mod session_keeper;
mod timeline;

pub use connection::{Begun, Connection};

/// Name of the SQLite file in the data directory.
pub const DATABASE_FILE_NAME: &str = "chat.db";

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
    /// Failed logins allowed per (username, address) pair within `login_window` before each
    /// further failure makes the next attempt from that address for that username wait
    /// (`login_throttled`), `login_first_delay` and doubling (default 10).
    pub login_failures_allowed: u32,
    /// Failed logins allowed per address, whatever the usernames, within `login_window`
    /// before the address's attempts are slowed down the same way (default 50).
    pub login_address_failures_allowed: u32,
    /// The first wait once an allowance is used up; it doubles with every further failure,
    /// up to `login_window` (default 1 s).
    pub login_first_delay: Duration,
    /// How long failures are remembered: counts fall to zero this long after the first
    /// failure that they count (default 5 minutes). Also the longest wait.
    pub login_window: Duration,
    /// Largest history / resume page (default and maximum 200).
    pub max_page_size: u32,
    /// The `server` string of the `hello` event.
    pub server_name: String,
    /// Largest frame the server accepts, stated in `hello` (default 64 KiB). The server
    /// enforces it; the core only announces it.
    pub max_frame_bytes: usize,
    /// Time a new connection has to authenticate, stated in `hello` (default 10 s).
    pub auth_timeout: Duration,
    /// Silence after which the server closes a connection, stated in `hello` (default 60 s).
    pub idle_timeout: Duration,
    /// At-rest key text (see [`crate::keyring`]) that replaces the key file of the data
    /// directory, e.g. from an environment variable (default none: use the file).
    pub at_rest_keys: Option<String>,
    /// Capacity of the in-process broker's ephemeral (typing) queue (default 4096).
    pub ephemeral_queue: usize,
    /// How often this node compares, for every room with local subscribers, the last item
    /// it delivered with the store's, and delivers what is missing from the store (default
    /// 500 ms, at least 10 ms: there is no turning it off, since the hub holds back items
    /// that follow a missing one until it comes). An item whose event was lost reaches the
    /// node's connections within about two of these.
    pub gap_check_interval: Duration,
    /// Fault injection for tests: the process aborts right after a newly sent message is
    /// stored, before it is published, as a node dying at that point would (default off;
    /// never set in production).
    pub crash_after_storing: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            bcrypt_cost: 12,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            outbound_queue: 1024,
            requests_per_second: 50,
            login_failures_allowed: 10,
            login_address_failures_allowed: 50,
            login_first_delay: Duration::from_secs(1),
            login_window: Duration::from_secs(300),
            max_page_size: chat_proto::MAX_PAGE_SIZE,
            server_name: format!("chat-server {}", env!("CARGO_PKG_VERSION")),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            auth_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            at_rest_keys: None,
            ephemeral_queue: DEFAULT_EPHEMERAL_QUEUE,
            gap_check_interval: Duration::from_millis(500),
            crash_after_storing: false,
        }
    }
}

/// Errors of the core (at start-up; request failures are error frames).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The store refused an operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker refused an operation.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The at-rest keys could not be loaded.
    #[error("at-rest keys: {0}")]
    Keys(#[from] KeyError),
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
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

/// How long a health check waits for each backend.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// How often expired sessions are deleted.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Everything a node shares between its connections.
pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub broker: Arc<dyn Broker>,
    pub keys: Arc<KeyRing>,
    pub config: CoreConfig,
    pub hub: Arc<LocalHub>,
    pub metrics: Metrics,
    /// A bcrypt hash of a random password at the configured cost, verified against when a
    /// login names no existing user so that both failures take the same time.
    pub dummy_hash: String,
    /// Orders each user's online/offline announcements on this node.
    pub presence_turns: presence::PresenceTurns,
    /// The sessions of this node's authenticated connections, renewed while in use.
    pub open_sessions: session_keeper::OpenSessions,
    /// Changes to one room on this node take turns.
    pub change_turns: room_change::ChangeTurns,
}

/// The service of one node. Cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
}

impl ChatService {
    /// The embedded default: SQLite file `chat.db` and the at-rest key file in `data_dir`
    /// (both created when missing), in-process fan-out.
    pub async fn embedded(data_dir: &Path, config: CoreConfig) -> Result<Self, CoreError> {
        let dir_err = |source| CoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(dir_err)?;
        let keys = match &config.at_rest_keys {
            Some(text) => KeyRing::parse(text)?,
            None => KeyRing::load_or_generate(&data_dir.join(KEY_FILE_NAME))?,
        };
        let store = SqliteStore::open(&data_dir.join(DATABASE_FILE_NAME), SqliteOptions::default())
            .await
            .map_err(|e| CoreError::Storage(e.to_string()))?;
        let broker = MemoryBroker::new(config.ephemeral_queue);
        Self::new(Arc::new(store), Arc::new(broker), keys, config).await
    }

    /// Picks the adapters: PostgreSQL at `database_url` instead of the SQLite file and, for
    /// several nodes, Redis (`redis`, which needs the shared database) instead of in-process
    /// fan-out; with neither this is [`ChatService::embedded`]. Nodes sharing a database must
    /// share the at-rest keys, so with Redis `config.at_rest_keys` is required.
    pub async fn with_backends(
        data_dir: &Path,
        config: CoreConfig,
        database_url: Option<&str>,
        redis: Option<crate::broker::redis::RedisOptions>,
    ) -> Result<Self, CoreError> {
        use crate::store::postgres::{PostgresOptions, PostgresStore};
        let Some(url) = database_url else {
            if redis.is_none() {
                return Self::embedded(data_dir, config).await;
            }
            return Err(CoreError::Config(
                "Redis (several nodes) needs a shared database URL".into(),
            ));
        };
        let keys = match &config.at_rest_keys {
            Some(text) => KeyRing::parse(text)?,
            None if redis.is_some() => {
                return Err(CoreError::Config(
                    "several nodes must share the at-rest keys: give every node the same keys by file or environment".into(),
                ));
            }
            None => {
                std::fs::create_dir_all(data_dir).map_err(|source| CoreError::DataDir {
                    path: data_dir.to_path_buf(),
                    source,
                })?;
                KeyRing::load_or_generate(&data_dir.join(KEY_FILE_NAME))?
            }
        };
        let store: Arc<dyn Store> = Arc::new(
            PostgresStore::connect(url, PostgresOptions::default())
                .await
                .map_err(|e| CoreError::Storage(e.to_string()))?,
        );
        let broker: Arc<dyn Broker> = match redis {
            Some(options) => {
                Arc::new(crate::broker::redis::RedisBroker::connect(options, store.clone()).await?)
            }
            None => Arc::new(MemoryBroker::new(config.ephemeral_queue)),
        };
        Self::new(store, broker, keys, config).await
    }

    /// A service on any store and broker. Starts the broker with this node's hub.
    pub async fn new(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        keys: KeyRing,
        config: CoreConfig,
    ) -> Result<Self, CoreError> {
        if !(4..=31).contains(&config.bcrypt_cost) {
            return Err(CoreError::Config(format!(
                "bcrypt cost {} is outside 4..=31",
                config.bcrypt_cost
            )));
        }
        let cost = config.bcrypt_cost;
        let dummy_hash = tokio::task::spawn_blocking(move || {
            let mut random = [0u8; 18];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
            bcrypt::non_truncating_hash(random, cost)
        })
        .await
        .map_err(|e| CoreError::Config(e.to_string()))?
        .map_err(|e| CoreError::Config(e.to_string()))?;
        let hub = Arc::new(LocalHub::new());
        broker.start(hub.clone()).await?;
        let inner = Arc::new(Inner {
            store,
            broker,
            keys: Arc::new(keys),
            config,
            hub,
            metrics: Metrics::new(),
            dummy_hash,
            presence_turns: presence::PresenceTurns::default(),
            open_sessions: session_keeper::OpenSessions::default(),
            change_turns: room_change::ChangeTurns::new(),
        });
        spawn_session_sweeper(Arc::downgrade(&inner));
        session_keeper::spawn(Arc::downgrade(&inner), inner.config.session_ttl);
        gap_fill::spawn(Arc::downgrade(&inner), inner.config.gap_check_interval);
        Ok(Self { inner })
    }

    /// Registers a new connection from `peer`. The connection's outbound frames (events) come
    /// out of the returned receiver; the receiver ends (returns `None`) when the core kicks the
    /// connection, and [`Connection::kicked`] then says why.
    pub fn open_connection(&self, peer: IpAddr) -> (Connection, tokio::sync::mpsc::Receiver<Outbound>) {
        Connection::open(self.inner.clone(), peer)
    }

    /// The `hello` event for a new connection.
    pub fn hello(&self) -> ServerFrame {
        let c = &self.inner.config;
        ServerFrame::Event {
            event: Event::Hello {
                protocol: PROTOCOL_VERSION,
                server: c.server_name.clone(),
                limits: ServerLimits {
                    max_frame_bytes: c.max_frame_bytes as u64,
                    max_body_bytes: MAX_BODY_BYTES as u64,
                    max_page_size: c.max_page_size,
                    requests_per_second: c.requests_per_second,
                    auth_timeout_secs: c.auth_timeout.as_secs(),
                    idle_timeout_secs: c.idle_timeout.as_secs(),
                },
            },
        }
    }

    /// Checks the storage and the broker.
    pub async fn health(&self) -> HealthReport {
        let storage = tokio::time::timeout(HEALTH_TIMEOUT, self.inner.store.ping());
        let broker = tokio::time::timeout(HEALTH_TIMEOUT, self.inner.broker.ping());
        let (storage, broker) = tokio::join!(storage, broker);
        HealthReport {
            storage_ok: matches!(storage, Ok(Ok(()))),
            broker_ok: matches!(broker, Ok(Ok(()))),
        }
    }

    /// Prometheus text exposition of the core's counters and gauges.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(&self.inner.hub)
    }

    /// This node's local hub (for benchmarks and diagnostics).
    pub fn hub(&self) -> &Arc<LocalHub> {
        &self.inner.hub
    }
}

/// Deletes expired sessions now and then, for as long as the service lives.
fn spawn_session_sweeper(inner: std::sync::Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SESSION_SWEEP_EVERY).await;
            let Some(inner) = inner.upgrade() else { break };
            if let Err(e) = inner.store.delete_expired_sessions(now_ms()).await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    });
}

/// The server clock in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
