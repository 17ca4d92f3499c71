//! Starting and stopping the server: [`start`] binds, prepares TLS and the core, and spawns
//! the accept loops; [`RunningServer`] says where it listens and stops it gracefully or
//! abruptly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_core::ChatService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ServerConfig, TlsMode};
use crate::error::ServerError;
use crate::listener::{ConnectionCaps, accept_loop};
use crate::metrics::ServerMetrics;
use crate::refusal_log::{REFUSAL_LOG_INTERVAL, RefusalLog};
use crate::state::ServerState;
use crate::tls;

/// Creates the data directory (and missing parents) readable by its owner only: it holds the
/// database, the TLS key and the at-rest key. An existing directory keeps its mode.
fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Starts the server: creates the data directory, loads or generates the certificate, binds
/// the listener(s), opens the core's storage, and starts accepting.
pub async fn start(mut config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    // The core states these in `hello`; the transport enforces them.
    config.core.max_frame_bytes = config.limits.max_frame_bytes;
    config.core.auth_timeout = config.timeouts.auth;
    config.core.idle_timeout = config.timeouts.idle;
    create_private_dir(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let tls = match &config.tls {
        TlsMode::SelfSigned => Some(tls::self_signed(
            &config.data_dir,
            config.listen,
            &config.tls_names,
        )?),
        TlsMode::Files { cert, key } => Some(tls::from_files(cert, key)?),
        TlsMode::Plain => None,
    };
    // Bind before opening storage so that a taken port fails fast.
    let listener = bind(config.listen).await?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let core = ChatService::with_backends(
        &config.data_dir,
        config.core.clone(),
        config.database_url.as_deref(),
        config.redis.clone(),
    )
    .await?;
    let hello = Arc::from(core.hello().to_json());

    let state = Arc::new(ServerState {
        caps: ConnectionCaps::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
        ),
        refusals: RefusalLog::new(REFUSAL_LOG_INTERVAL),
        config,
        core,
        hello,
        tls,
        metrics: Arc::new(ServerMetrics::default()),
        shutdown: CancellationToken::new(),
        kill: CancellationToken::new(),
        tracker: TaskTracker::new(),
    });
    spawn_refusal_log_flush(&state);
    spawn_accept_loop(&state, listener, false);
    if let Some(listener) = metrics_listener {
        spawn_accept_loop(&state, listener, true);
    }
    tracing::info!(%local_addr, ?metrics_addr, "listening");
    Ok(RunningServer {
        state,
        local_addr,
        metrics_addr,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

fn spawn_accept_loop(state: &Arc<ServerState>, listener: TcpListener, metrics_only: bool) {
    let kill = state.kill.clone();
    let accept = accept_loop(listener, Arc::clone(state), metrics_only);
    state.tracker.spawn(async move {
        tokio::select! {
            biased;
            () = kill.cancelled() => {}
            () = accept => {}
        }
    });
}

/// Writes out the refusals held back by the aggregate log, once per interval and at
/// shutdown.
fn spawn_refusal_log_flush(state: &Arc<ServerState>) {
    let state = Arc::clone(state);
    let tracker = state.tracker.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(REFUSAL_LOG_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = state.kill.cancelled() => return,
                () = state.shutdown.cancelled() => break,
                now = tick.tick() => {
                    state.refusals.flush(now, false).iter().for_each(|line| line.emit());
                }
            }
        }
        let now = tokio::time::Instant::now();
        state
            .refusals
            .flush(now, true)
            .iter()
            .for_each(|line| line.emit());
    });
}

/// A started server. Dropping it stops it abruptly, like [`RunningServer::kill`].
pub struct RunningServer {
    state: Arc<ServerState>,
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
}

impl RunningServer {
    /// The address the main listener is bound to (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the separate metrics listener, when configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether `/metrics` on the main listener is served to every client rather than only to
    /// clients on this host (see [`ServerConfig::metrics_public`]).
    pub fn metrics_public(&self) -> bool {
        self.state.config.metrics_public
    }

    /// The WebSocket URL, such as `wss://127.0.0.1:8443/v2/ws`. An unspecified listen address
    /// (`0.0.0.0`, `::`) is shown as the loopback address.
    pub fn ws_url(&self) -> String {
        let mut addr = self.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        format!(
            "{}://{addr}{}",
            self.state.config.scheme(),
            chat_proto::WEBSOCKET_PATH
        )
    }

    /// SHA-256 of the leaf certificate's DER bytes, uppercase hex pairs joined by colons;
    /// `None` in plain-ws mode.
    pub fn cert_fingerprint(&self) -> Option<String> {
        self.state.tls.as_ref().map(|t| t.fingerprint.clone())
    }

    /// The leaf certificate's DER bytes; `None` in plain-ws mode.
    pub fn cert_der(&self) -> Option<Vec<u8>> {
        self.state.tls.as_ref().map(|t| t.leaf_der.clone())
    }

    /// The PEM file of the certificate; `None` in plain-ws mode.
    pub fn cert_path(&self) -> Option<PathBuf> {
        self.state.tls.as_ref().map(|t| t.cert_path.clone())
    }

    /// Whether the certificate was generated by this start (first start on this data dir).
    pub fn cert_generated(&self) -> bool {
        self.state.tls.as_ref().is_some_and(|t| t.generated)
    }

    /// The data directory in use.
    pub fn data_dir(&self) -> PathBuf {
        self.state.config.data_dir.clone()
    }

    /// Connections the server has closed with `code` so far (from its metrics).
    pub fn closed_with(&self, code: u16) -> u64 {
        self.state.metrics.closed_with(code)
    }

    /// Graceful shutdown: stops accepting, answers the requests already read, sends every
    /// client a close frame 1001 with a reason, and waits for the connections to end, at
    /// most the configured shutdown timeout; whatever is left then is dropped.
    pub async fn shutdown(self) {
        let state = Arc::clone(&self.state);
        state.shutdown.cancel();
        state.tracker.close();
        if tokio::time::timeout(state.config.timeouts.shutdown, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown timeout; dropping them");
            state.kill.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), state.tracker.wait()).await;
        }
        tracing::info!("server stopped");
    }

    /// Abrupt stop, as if the process died: every task ends at once and its socket is
    /// dropped without a close frame. For fault tests.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // The kill token first: tasks check it before the shutdown token.
        self.state.kill.cancel();
        self.state.shutdown.cancel();
        self.state.tracker.close();
    }
}
