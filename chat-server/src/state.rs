//! What every connection task shares.

use std::sync::Arc;

use chat_core::ChatService;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::listener::ConnectionCaps;
use crate::metrics::ServerMetrics;
use crate::refusal_log::RefusalLog;
use crate::tls::TlsSetup;

/// The server's shared state.
pub(crate) struct ServerState {
    pub(crate) config: ServerConfig,
    pub(crate) core: ChatService,
    /// The `hello` frame, the same for every connection.
    pub(crate) hello: Arc<str>,
    /// `None` in plain-ws mode.
    pub(crate) tls: Option<TlsSetup>,
    pub(crate) metrics: Arc<ServerMetrics>,
    pub(crate) caps: Arc<ConnectionCaps>,
    /// Refused connections, logged in aggregate.
    pub(crate) refusals: RefusalLog,
    /// Graceful shutdown: stop accepting, close connections with 1001.
    pub(crate) shutdown: CancellationToken,
    /// Abrupt stop: every task returns at once, dropping its socket.
    pub(crate) kill: CancellationToken,
    /// Every task of the server, to wait for them.
    pub(crate) tracker: TaskTracker,
}
