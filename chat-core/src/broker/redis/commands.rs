//! Running one command on a pooled connection: a time limit, error mapping, and the circuit
//! breaker that keeps a Redis outage from slowing every request down.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bb8::{PooledConnection, RunError};
use bb8_redis::RedisConnectionManager;
use redis::RedisError;
use tokio::time::Instant;

use super::Shared;
use crate::broker::BrokerError;

/// A pooled command connection.
pub(super) type Conn = PooledConnection<'static, RedisConnectionManager>;

/// After a connection failure, answers "unavailable" at once until a pause has passed; the
/// first command after the pause tries Redis again.
pub(super) struct Breaker {
    pause: Duration,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub(super) fn new(pause: Duration) -> Self {
        Self {
            pause,
            open_until: Mutex::new(None),
        }
    }

    fn check(&self) -> Result<(), BrokerError> {
        let open_until = *self.open_until.lock().unwrap_or_else(PoisonError::into_inner);
        match open_until {
            Some(until) if Instant::now() < until => Err(BrokerError::Unavailable(
                "Redis is unreachable; retrying shortly".into(),
            )),
            _ => Ok(()),
        }
    }

    fn trip(&self) {
        *self.open_until.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + self.pause);
    }

    fn reset(&self) {
        *self.open_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Whether a command failed because Redis could not be reached (as opposed to Redis
/// refusing the command).
fn is_connection_failure(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped()
}

impl Shared {
    /// Runs `f` with a pooled connection under the command time limit.
    pub(super) async fn run<T, F, Fut>(&self, f: F) -> Result<T, BrokerError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.breaker.check()?;
        let attempt = async {
            let conn = self.pool.get_owned().await.map_err(|e| match e {
                RunError::User(e) => e,
                RunError::TimedOut => RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out waiting for a Redis connection",
                )),
            })?;
            f(conn).await
        };
        let result = match tokio::time::timeout(self.options.command_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "Redis did not answer in time",
            ))),
        };
        match result {
            Ok(value) => {
                self.breaker.reset();
                Ok(value)
            }
            Err(e) if is_connection_failure(&e) => {
                self.breaker.trip();
                Err(BrokerError::Unavailable(e.to_string()))
            }
            Err(e) => Err(BrokerError::Unavailable(format!("Redis refused a command: {e}"))),
        }
    }

    /// Checks that Redis answers.
    pub(super) async fn ping(&self) -> Result<(), BrokerError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut *c).await })
            .await
            .map(drop)
    }
}
