//! The Redis broker: fan-out, presence and login-throttle counters shared by every node of a
//! deployment.
//!
//! - **Fan-out.** Every event goes to this node's hub at once and is `PUBLISH`ed on the
//!   channel `{prefix}:events` with this node's id in front; each node's subscriber hands
//!   events from *other* nodes to its hub. The subscription lives on a dedicated pub/sub
//!   connection owned by one task that pings it, and reconnects and resubscribes with
//!   backoff when it is lost ([`pubsub`]). While Redis is away, members on the sender's own
//!   node still get messages live; every other node reads them back from the store (its gap
//!   filler), so they arrive there too, only later.
//! - **Presence** ([`presence`]). Each node keeps a hash `{prefix}:presence:{node}` of its
//!   users' connection counts and a heartbeat score in the sorted set `{prefix}:nodes`.
//!   Online means "counted on a node whose heartbeat has not expired". A node that dies stops
//!   beating; the next sweep by any surviving node claims it, drops its hash and announces
//!   its users offline to their co-members (the broker reads co-members from the store for
//!   that). A node that finds its own registration gone (Redis restarted, or it was cut off
//!   longer than the expiry) writes its hash again from its own counts.
//! - **Limits** ([`limits`]). Failure counters are `INCR` + `PEXPIRE` keys, so a login
//!   throttle holds across nodes.
//!
//! Commands go through a bb8 pool. Every command has a short time limit, and after a
//! connection failure a circuit breaker answers `Unavailable` at once for a moment instead of
//! waiting on a dead server each time, so a Redis outage slows no request down: sends are
//! still stored and acknowledged (the service treats fan-out as best effort).
//!
//! Scripts build their keys from the prefix, so the broker needs a single Redis server (or a
//! primary with replicas), not a Redis Cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bb8::Pool;
use bb8_redis::RedisConnectionManager;
use chat_proto::UserId;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Broker, BrokerError, BrokerEvent, EventSink, FailureCount, Publishing};
use crate::store::Store;

mod commands;
mod limits;
pub mod presence;
mod publisher;
mod pubsub;

use commands::Breaker;

/// Tuning of the Redis broker, with documented defaults.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// The server, such as `redis://redis:6379` or `redis://:password@host:6379/0`.
    pub url: String,
    /// Prefix of every key and channel (default `chat`). Deployments sharing one Redis use
    /// different prefixes.
    pub prefix: String,
    /// This node's id in presence records and published events (default: random per start).
    pub node_id: String,
    /// How long a node's users stay online after its last heartbeat (default 15 s): the time
    /// it takes for the users of a node that died to be shown offline. Heartbeats and sweeps
    /// run three times per expiry. At least 1 s (shorter values count as 1 s).
    pub presence_ttl: Duration,
    /// Most pooled command connections (default 8).
    pub pool_size: u32,
    /// Time limit of one command, taking a pooled connection included (default 1 s).
    pub command_timeout: Duration,
    /// After a connection failure, how long commands fail at once before trying Redis again
    /// (default 1 s).
    pub breaker_pause: Duration,
    /// First and last delay between attempts to re-establish the subscription (default
    /// 100 ms doubling up to 5 s).
    pub reconnect_backoff: (Duration, Duration),
    /// Capacity of the ephemeral (typing) queue (default 4096).
    pub ephemeral_queue: usize,
}

impl RedisOptions {
    /// Default options for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "chat".to_owned(),
            node_id: uuid::Uuid::new_v4().simple().to_string(),
            presence_ttl: Duration::from_secs(15),
            pool_size: 8,
            command_timeout: Duration::from_secs(1),
            breaker_pause: Duration::from_secs(1),
            reconnect_backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            ephemeral_queue: super::memory::DEFAULT_EPHEMERAL_QUEUE,
        }
    }
}

/// State shared by the broker handle and its background tasks.
pub(crate) struct Shared {
    options: RedisOptions,
    pool: Pool<RedisConnectionManager>,
    client: ::redis::Client,
    breaker: Breaker,
    sink: OnceLock<Arc<dyn EventSink>>,
    /// Source of co-members for presence announcements made by the broker itself.
    store: Arc<dyn Store>,
    /// This node's connection counts: the truth from which its Redis hash is rebuilt.
    local: Mutex<HashMap<UserId, u32>>,
    /// A presence update did not reach Redis: the next heartbeat rewrites the hash.
    dirty: AtomicBool,
    /// Whether the pub/sub subscription is established (for the health check).
    subscribed: AtomicBool,
    /// The queue of the ordered publisher task.
    publisher: mpsc::UnboundedSender<publisher::Outgoing>,
}

impl Shared {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.options.prefix)
    }

    fn channel(&self) -> String {
        self.key("events")
    }

    fn local(&self) -> MutexGuard<'_, HashMap<UserId, u32>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands an event to this node's hub.
    fn deliver_locally(&self, event: BrokerEvent) {
        if let Some(sink) = self.sink.get() {
            sink.deliver(event);
        }
    }

    /// Delivers locally and queues the event for the other nodes, both now (so events keep
    /// the order of the calls); the future says whether Redis took it.
    pub(super) fn publish(&self, event: BrokerEvent) -> Publishing {
        let mut message = Vec::with_capacity(self.options.node_id.len() + 256);
        message.extend_from_slice(self.options.node_id.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(&event.encode());
        self.deliver_locally(event);
        let (done, confirmed) = oneshot::channel();
        let queued = self
            .publisher
            .send(publisher::Outgoing { message, done })
            .map_err(|_| BrokerError::Closed);
        Box::pin(async move {
            queued?;
            confirmed.await.map_err(|_| BrokerError::Closed)?
        })
    }
}

/// The Redis adapter of [`Broker`]. Dropping it stops its background tasks.
pub struct RedisBroker {
    shared: Arc<Shared>,
    ephemeral_tx: mpsc::Sender<BrokerEvent>,
    ephemeral_rx: Mutex<Option<mpsc::Receiver<BrokerEvent>>>,
    publisher_rx: Mutex<Option<mpsc::UnboundedReceiver<publisher::Outgoing>>>,
    stop: watch::Sender<bool>,
}

impl RedisBroker {
    /// Connects to Redis (failing with `Unavailable` when it does not answer now, so that a
    /// wrong address is caught at start) and prepares the broker. `store` supplies the
    /// co-members of users whose node died, for their offline announcements.
    pub async fn connect(options: RedisOptions, store: Arc<dyn Store>) -> Result<Self, BrokerError> {
        let invalid = |e: ::redis::RedisError| BrokerError::Unavailable(format!("invalid Redis URL: {e}"));
        let client = ::redis::Client::open(options.url.as_str()).map_err(invalid)?;
        let manager = RedisConnectionManager::new(options.url.as_str()).map_err(invalid)?;
        let pool = Pool::builder()
            .max_size(options.pool_size.max(1))
            .connection_timeout(options.command_timeout)
            // A connection that broke (Redis restarted) is found by a PING at checkout and
            // replaced.
            .test_on_check_out(true)
            .build_unchecked(manager);
        let (ephemeral_tx, ephemeral_rx) = mpsc::channel(options.ephemeral_queue.max(1));
        let (publisher, publisher_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            breaker: Breaker::new(options.breaker_pause),
            options,
            pool,
            client,
            sink: OnceLock::new(),
            store,
            local: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            publisher,
        });
        shared.ping().await?;
        Ok(Self {
            shared,
            ephemeral_tx,
            ephemeral_rx: Mutex::new(Some(ephemeral_rx)),
            publisher_rx: Mutex::new(Some(publisher_rx)),
            stop: watch::channel(false).0,
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.shared.options.node_id
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn start(&self, sink: Arc<dyn EventSink>) -> Result<(), BrokerError> {
        if self.shared.sink.set(sink).is_err() {
            return Err(BrokerError::Unavailable("broker already started".into()));
        }
        // Register this node before any connection counts on it.
        if let Err(e) = presence::heartbeat(&self.shared).await {
            tracing::warn!(error = %e, "first presence heartbeat failed; retrying in the background");
        }
        let publisher_rx = self
            .publisher_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rx) = publisher_rx {
            tokio::spawn(publisher::run(self.shared.clone(), rx, self.stop.subscribe()));
        }
        tokio::spawn(pubsub::run(self.shared.clone(), self.stop.subscribe()));
        tokio::spawn(presence::run(self.shared.clone(), self.stop.subscribe()));
        // Events published by other nodes from now on should arrive: give the subscription
        // a moment to be established (it keeps trying in the background if not).
        let deadline = tokio::time::Instant::now() + self.shared.options.command_timeout;
        while !self.shared.subscribed.load(Ordering::Acquire) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let rx = self
            .ephemeral_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rx) = rx {
            tokio::spawn(drain_ephemeral(self.shared.clone(), rx, self.stop.subscribe()));
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        self.shared.ping().await?;
        if !self.shared.subscribed.load(Ordering::Acquire) {
            return Err(BrokerError::Unavailable(
                "the pub/sub subscription is down".into(),
            ));
        }
        Ok(())
    }

    fn publish(&self, event: BrokerEvent) -> Publishing {
        self.shared.publish(event)
    }

    fn publish_ephemeral(&self, event: BrokerEvent) -> bool {
        self.ephemeral_tx.try_send(event).is_ok()
    }

    async fn connection_opened(&self, user: UserId) -> Result<bool, BrokerError> {
        presence::opened(&self.shared, user).await
    }

    async fn connection_closed(&self, user: UserId) -> Result<bool, BrokerError> {
        presence::closed(&self.shared, user).await
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<bool>, BrokerError> {
        presence::online(&self.shared, users).await
    }

    async fn count_failure(&self, key: &str, window: Duration) -> Result<FailureCount, BrokerError> {
        limits::count_failure(&self.shared, key, window).await
    }

    async fn failure_count(&self, key: &str) -> Result<FailureCount, BrokerError> {
        limits::failure_count(&self.shared, key).await
    }

    async fn clear_failures(&self, key: &str) -> Result<(), BrokerError> {
        limits::clear_failures(&self.shared, key).await
    }
}

/// Delivers and publishes ephemeral events one by one; a failed publish loses the event,
/// which is fine for typing indicators.
async fn drain_ephemeral(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<BrokerEvent>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return,
            event = rx.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        if let Err(e) = shared.publish(event).await {
            tracing::debug!(error = %e, "ephemeral event not published");
        }
    }
}
