//! The accept loop: connection caps (total and per address), backoff on accept errors, the
//! TLS handshake, and one task per connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::http::{self, Admission};
use crate::metrics::ServerMetrics;
use crate::state::ServerState;

/// Counts held connections, in total and per IP address.
#[derive(Debug)]
pub(crate) struct ConnectionCaps {
    max_total: usize,
    max_per_ip: usize,
    held: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Refusals of [`ConnectionCaps::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds its maximum of connections.
    Total(usize),
    /// This address holds its maximum of connections.
    PerIp(usize),
}

impl Refusal {
    /// The reason sent to the client.
    pub(crate) fn reason(self) -> String {
        match self {
            Refusal::Total(n) => format!("server is at its limit of {n} connections; try again later"),
            Refusal::PerIp(n) => {
                format!("too many connections from your address (limit {n}); try again later")
            }
        }
    }
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
}

impl ConnectionCaps {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// Takes a slot for a connection from `ip`, or says which cap is reached.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let ip = ip.to_canonical();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.0 >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        let per_ip = held.1.entry(ip).or_insert(0);
        if *per_ip >= self.max_per_ip {
            return Err(Refusal::PerIp(self.max_per_ip));
        }
        *per_ip += 1;
        held.0 += 1;
        Ok(Slot {
            caps: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.caps.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&self.ip);
            }
        }
    }
}

/// Connections being refused at once; beyond this, an over-cap socket is closed without a
/// word so that a flood cannot make the server do TLS handshakes just to refuse.
const MAX_REFUSING: usize = 64;

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(listener: TcpListener, state: Arc<ServerState>, metrics_only: bool) {
    let mut backoff = Duration::from_millis(10);
    let refusing = Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING));
    loop {
        let accepted = tokio::select! {
            () = state.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(10);
                pair
            }
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        ServerMetrics::inc(&state.metrics.connections_accepted);
        let _ = tcp.set_nodelay(true);
        let admission = if metrics_only {
            Admission::MetricsOnly
        } else {
            match state.caps.admit(peer.ip()) {
                Ok(slot) => Admission::Admitted(slot),
                Err(refusal) => {
                    let counter = match refusal {
                        Refusal::Total(_) => &state.metrics.refused_total_cap,
                        Refusal::PerIp(_) => &state.metrics.refused_per_ip_cap,
                    };
                    ServerMetrics::inc(counter);
                    match Arc::clone(&refusing).try_acquire_owned() {
                        Ok(permit) => Admission::Refused(refusal, permit),
                        Err(_) => {
                            let reason = format!(
                                "{} (closed unanswered: {MAX_REFUSING} refusals under way)",
                                refusal.reason()
                            );
                            let now = tokio::time::Instant::now();
                            if let Some(line) = state.refusals.note(&reason, peer.ip(), now) {
                                line.emit();
                            }
                            continue;
                        }
                    }
                }
            }
        };
        let task_state = Arc::clone(&state);
        let kill = state.kill.clone();
        state.tracker.spawn(async move {
            tokio::select! {
                biased;
                () = kill.cancelled() => {}
                () = serve_tcp(tcp, peer, task_state, admission) => {}
            }
        });
    }
}

/// One connection's task: TLS (unless plain), then HTTP and perhaps a WebSocket.
///
/// One deadline, `handshake` after the accept, covers the TLS handshake and the first HTTP
/// request head together: a client cannot hold a connection twice as long by spending the
/// whole time on each in turn.
async fn serve_tcp(tcp: TcpStream, peer: SocketAddr, state: Arc<ServerState>, admission: Admission) {
    state.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(Arc::clone(&state.metrics));
    let deadline = tokio::time::Instant::now() + state.config.timeouts.handshake;
    match (&state.tls, &admission) {
        (Some(tls), Admission::Admitted(_) | Admission::Refused(..)) => {
            let handshake = tokio::time::timeout_at(deadline, tls.acceptor.accept(tcp)).await;
            match handshake {
                Ok(Ok(stream)) => http::serve(stream, peer, state, admission, deadline).await,
                Ok(Err(e)) => {
                    ServerMetrics::inc(&state.metrics.tls_failures);
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                }
                Err(_) => {
                    ServerMetrics::inc(&state.metrics.tls_failures);
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        }
        _ => http::serve(tcp, peer, state, admission, deadline).await,
    }
}

struct OpenGuard(Arc<ServerMetrics>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_total_and_per_address_and_free_on_drop() {
        let caps = ConnectionCaps::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap_or_else(|_| unreachable!());
        let b: IpAddr = "10.0.0.2".parse().unwrap_or_else(|_| unreachable!());
        let a1 = caps.admit(a).expect("a1");
        let _a2 = caps.admit(a).expect("a2");
        assert_eq!(caps.admit(a).err(), Some(Refusal::PerIp(2)));
        let _b1 = caps.admit(b).expect("b1");
        assert_eq!(caps.admit(b).err(), Some(Refusal::Total(3)));
        drop(a1);
        let _a3 = caps.admit(a).expect("a slot was freed");
    }

    #[test]
    fn mapped_ipv4_counts_as_the_same_address() {
        let caps = ConnectionCaps::new(10, 1);
        let v4: IpAddr = "127.0.0.1".parse().unwrap_or_else(|_| unreachable!());
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap_or_else(|_| unreachable!());
        let _held = caps.admit(v4).expect("first");
        assert_eq!(caps.admit(mapped).err(), Some(Refusal::PerIp(1)));
    }
}
