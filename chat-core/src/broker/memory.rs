//! The in-process broker: the embedded default, for one node.
//!
//! Publishing hands the event straight to this node's sink (the local hub), so a message is
//! in every local subscriber's queue before `send_message` answers. Ephemeral events go
//! through a bounded queue drained by one task and are dropped when it is full. Presence and
//! failure counters are maps behind mutexes: one process is the whole deployment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chat_proto::UserId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Broker, BrokerError, BrokerEvent, EventSink, FailureCount, Publishing};

/// Default capacity of the ephemeral queue, in events.
pub const DEFAULT_EPHEMERAL_QUEUE: usize = 4096;

/// How many failure windows are kept before expired ones are swept out.
const FAILURE_SWEEP_AT: usize = 10_000;

/// The in-process broker.
pub struct MemoryBroker {
    sink: OnceLock<Arc<dyn EventSink>>,
    ephemeral_tx: mpsc::Sender<BrokerEvent>,
    ephemeral_rx: Mutex<Option<mpsc::Receiver<BrokerEvent>>>,
    online: Mutex<HashMap<UserId, u32>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl MemoryBroker {
    /// A broker whose ephemeral queue holds `ephemeral_queue` events.
    pub fn new(ephemeral_queue: usize) -> Self {
        let (ephemeral_tx, rx) = mpsc::channel(ephemeral_queue.max(1));
        Self {
            sink: OnceLock::new(),
            ephemeral_tx,
            ephemeral_rx: Mutex::new(Some(rx)),
            online: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new(DEFAULT_EPHEMERAL_QUEUE)
    }
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves the map consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn start(&self, sink: Arc<dyn EventSink>) -> Result<(), BrokerError> {
        if self.sink.set(sink.clone()).is_err() {
            return Err(BrokerError::Unavailable("broker already started".into()));
        }
        if let Some(mut rx) = lock(&self.ephemeral_rx).take() {
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    sink.deliver(event);
                }
            });
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    fn publish(&self, event: BrokerEvent) -> Publishing {
        let delivered = match self.sink.get() {
            Some(sink) => {
                sink.deliver(event);
                Ok(())
            }
            None => Err(BrokerError::Unavailable("broker not started".into())),
        };
        Box::pin(std::future::ready(delivered))
    }

    fn publish_ephemeral(&self, event: BrokerEvent) -> bool {
        self.ephemeral_tx.try_send(event).is_ok()
    }

    async fn connection_opened(&self, user: UserId) -> Result<bool, BrokerError> {
        let mut online = lock(&self.online);
        let count = online.entry(user).or_insert(0);
        *count += 1;
        Ok(*count == 1)
    }

    async fn connection_closed(&self, user: UserId) -> Result<bool, BrokerError> {
        let mut online = lock(&self.online);
        match online.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                Ok(false)
            }
            Some(_) => {
                online.remove(&user);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn online(&self, users: &[UserId]) -> Result<Vec<bool>, BrokerError> {
        let online = lock(&self.online);
        Ok(users.iter().map(|u| online.contains_key(u)).collect())
    }

    async fn count_failure(&self, key: &str, window: Duration) -> Result<FailureCount, BrokerError> {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= FAILURE_SWEEP_AT {
            failures.retain(|_, (_, end)| *end > now);
        }
        let entry = failures.entry(key.to_owned()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(FailureCount {
            count: entry.0,
            retry_after: entry.1 - now,
        })
    }

    async fn failure_count(&self, key: &str) -> Result<FailureCount, BrokerError> {
        let now = Instant::now();
        let failures = lock(&self.failures);
        Ok(match failures.get(key) {
            Some(&(count, end)) if end > now => FailureCount {
                count,
                retry_after: end - now,
            },
            _ => FailureCount::default(),
        })
    }

    async fn clear_failures(&self, key: &str) -> Result<(), BrokerError> {
        lock(&self.failures).remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failure_windows_count_and_expire() {
        let broker = MemoryBroker::default();
        let window = Duration::from_secs(60);
        assert_eq!(broker.failure_count("k").await.unwrap().count, 0);
        broker.count_failure("k", window).await.unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        let second = broker.count_failure("k", window).await.unwrap();
        assert_eq!(second.count, 2);
        assert_eq!(second.retry_after, Duration::from_secs(50));
        tokio::time::advance(Duration::from_secs(50)).await;
        assert_eq!(broker.failure_count("k").await.unwrap().count, 0);
        assert_eq!(broker.count_failure("k", window).await.unwrap().count, 1);
        broker.clear_failures("k").await.unwrap();
        assert_eq!(broker.failure_count("k").await.unwrap().count, 0);
    }

    #[tokio::test]
    async fn presence_counts_connections() {
        let broker = MemoryBroker::default();
        let u = UserId::new(1).unwrap();
        assert!(broker.connection_opened(u).await.unwrap());
        assert!(!broker.connection_opened(u).await.unwrap());
        assert!(!broker.connection_closed(u).await.unwrap());
        assert_eq!(broker.online(&[u]).await.unwrap(), vec![true]);
        assert!(broker.connection_closed(u).await.unwrap());
        assert_eq!(broker.online(&[u]).await.unwrap(), vec![false]);
        assert!(!broker.connection_closed(u).await.unwrap());
    }
}
