//! The observable connection state and its stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::error::ConnectError;

/// Where the client's connection stands. `Connected` is reported only once the server has
/// said `hello` (and, after a reconnect, accepted the session token): never optimistically.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// No connection, none wanted: before the first request, and after logout.
    Disconnected,
    /// The first connection attempt (for a login or register) is running.
    Connecting,
    /// The connection works.
    Connected,
    /// The connection was lost; attempt `attempt` (from 1) of the current round is waiting
    /// for its backoff delay or running.
    Reconnecting {
        /// The attempt number within this round.
        attempt: u32,
    },
    /// Connecting failed: the first attempt (for a login), every attempt of a bounded
    /// reconnect round, or the session was rejected. The next request (or
    /// [`Client::reconnect`](crate::Client::reconnect)) starts again.
    Failed {
        /// Why the last attempt failed.
        reason: ConnectError,
        /// How many attempts this round made.
        attempts: u32,
    },
}

impl ConnectionState {
    /// Whether requests can be sent right now.
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }
}

/// The state as the supervisor publishes it: the public state plus a round counter that
/// lets a waiting request tell a fresh failure from an old one.
#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub state: ConnectionState,
    /// Incremented whenever a new round of connection attempts starts.
    pub round: u64,
}

/// A stream of connection states. It yields the current state first, then every change
/// (states that change faster than the stream is read are coalesced to the latest). It ends
/// only when the client is dropped.
pub struct StateStream {
    rx: watch::Receiver<Status>,
    first: bool,
    pending: Option<BoxFuture<'static, (bool, watch::Receiver<Status>)>>,
}

impl std::fmt::Debug for StateStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStream")
            .field("current", &self.current())
            .finish()
    }
}

impl StateStream {
    pub(crate) fn new(rx: watch::Receiver<Status>) -> Self {
        Self {
            rx,
            first: true,
            pending: None,
        }
    }

    /// The latest state, without waiting.
    pub fn current(&self) -> ConnectionState {
        self.rx.borrow().state.clone()
    }

    /// Waits for the next state (the current one on the first call). `None` once the client
    /// is gone.
    pub async fn next_state(&mut self) -> Option<ConnectionState> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for StateStream {
    type Item = ConnectionState;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionState>> {
        if self.first {
            self.first = false;
            let state = self.rx.borrow_and_update().state.clone();
            return Poll::Ready(Some(state));
        }
        let this = &mut *self;
        let fut = this.pending.get_or_insert_with(|| {
            let mut rx = this.rx.clone();
            Box::pin(async move {
                let ok = rx.changed().await.is_ok();
                (ok, rx)
            })
        });
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((ok, rx)) => {
                this.pending = None;
                this.rx = rx;
                if ok {
                    Poll::Ready(Some(this.rx.borrow_and_update().state.clone()))
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn yields_current_then_changes_and_ends_with_the_sender() {
        let (tx, rx) = watch::channel(Status {
            state: ConnectionState::Disconnected,
            round: 0,
        });
        let mut stream = StateStream::new(rx);
        assert_eq!(stream.next().await, Some(ConnectionState::Disconnected));
        tx.send_replace(Status {
            state: ConnectionState::Reconnecting { attempt: 2 },
            round: 1,
        });
        assert_eq!(
            stream.next().await,
            Some(ConnectionState::Reconnecting { attempt: 2 })
        );
        assert_eq!(stream.current(), ConnectionState::Reconnecting { attempt: 2 });
        drop(tx);
        assert_eq!(stream.next().await, None);
    }
}
