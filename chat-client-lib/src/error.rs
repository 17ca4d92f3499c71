//! Errors of the client library: why a connection could not be made ([`ConnectError`]), why a
//! request failed ([`ClientError`]) and why the offline cache could not be used
//! ([`CacheError`]).

use std::time::Duration;

use chat_proto::{ErrorBody, ErrorCode, ValidationError};

/// The step of a connection attempt that a timeout interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectStage {
    /// Opening the TCP connection.
    Tcp,
    /// The TLS handshake.
    Tls,
    /// The HTTP upgrade to a WebSocket.
    Upgrade,
    /// Waiting for the server's `hello` event.
    Hello,
    /// Re-authenticating with the session token after a reconnect.
    Resume,
}

impl std::fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectStage::Tcp => "TCP connect",
            ConnectStage::Tls => "TLS handshake",
            ConnectStage::Upgrade => "WebSocket upgrade",
            ConnectStage::Hello => "waiting for the server's hello",
            ConnectStage::Resume => "resuming the session",
        })
    }
}

/// Why a connection attempt failed. Cheap to clone so that it can sit in
/// [`ConnectionState::Failed`](crate::ConnectionState::Failed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The server URL or the trust settings cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {message}")]
    Resolve {
        /// The host name.
        host: String,
        /// What the resolver said.
        message: String,
    },
    /// Nothing listens on the port (TCP connection refused).
    #[error("connection refused by {addr}")]
    Refused {
        /// The address tried.
        addr: String,
    },
    /// Another network error while connecting.
    #[error("network error: {0}")]
    Network(String),
    /// The attempt did not finish within the connect timeout.
    #[error("timed out after {after:?} during {stage}")]
    Timeout {
        /// The step that did not finish.
        stage: ConnectStage,
        /// The connect timeout.
        after: Duration,
    },
    /// The server's certificate is not the trusted one (wrong fingerprint, unknown issuer,
    /// expired, wrong name).
    #[error("server certificate not trusted: {0}")]
    Certificate(String),
    /// Another TLS failure (no common protocol version, bad record, alert from the server).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server answered the WebSocket upgrade with an HTTP status other than 101 (for
    /// example 403 for a refused Origin, 503 when it has too many connections).
    #[error("WebSocket handshake rejected with HTTP status {status}")]
    HandshakeRejected {
        /// The HTTP status code.
        status: u16,
    },
    /// The upgrade failed for another reason (not an HTTP server, malformed answer).
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// The server closed the WebSocket before it was usable.
    #[error("server closed the connection (code {code}): {reason}")]
    Closed {
        /// The WebSocket close code.
        code: u16,
        /// The close reason text.
        reason: String,
    },
    /// The server does not speak this protocol version, or its first frame was not `hello`.
    #[error("protocol mismatch: {0}")]
    Protocol(String),
    /// The server refused the saved session token (expired or revoked): log in again.
    #[error("session rejected: {0}")]
    SessionRejected(String),
    /// The server answered the session resume with another error (for example
    /// `unavailable` while its database is down); the next attempt may succeed.
    #[error("server error while resuming the session: {0}")]
    Server(ErrorBody),
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A value was refused before anything was sent (bad username, empty body, ...).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// The request needs a logged-in session and there is none.
    #[error("not logged in")]
    NotLoggedIn,
    /// A connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectError),
    /// The connection dropped while the request was waiting for its answer. Whether the
    /// server acted on it is unknown; sending it again is safe for reads and for
    /// [`Client::send_with_id`](crate::Client::send_with_id) with the same id.
    #[error("connection lost before the answer arrived")]
    ConnectionLost,
    /// No answer (or no connection) within the time allowed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error.
    #[error("server error: {0}")]
    Server(ErrorBody),
    /// The server answered with a result of the wrong type (a server bug).
    #[error("unexpected answer from the server: expected {expected}")]
    UnexpectedResponse {
        /// The result type the request should have received.
        expected: &'static str,
    },
    /// The offline cache could not be used.
    #[error("offline cache: {0}")]
    Cache(#[from] CacheError),
    /// [`Client::shutdown`](crate::Client::shutdown) was called.
    #[error("the client was shut down")]
    Shutdown,
}

impl ClientError {
    /// The server's error code, when the server answered with an error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(body) => Some(body.code),
            _ => None,
        }
    }

    /// Whether the same request may succeed if made again later, unchanged.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Server(body) => body.retryable,
            ClientError::ConnectionLost | ClientError::Timeout(_) => true,
            ClientError::Connect(e) => {
                !matches!(e, ConnectError::Config(_) | ConnectError::SessionRejected(_))
            }
            _ => false,
        }
    }
}

/// Why the offline cache could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// There is no cache for this user yet.
    #[error("no offline cache for this user")]
    Missing,
    /// The password does not open this cache (another user's password, or the cache's key
    /// material is damaged).
    #[error("the password does not open this cache")]
    WrongPassword,
    /// The file is damaged or was tampered with; it was renamed to `set_aside` when the
    /// path is given.
    #[error("the cache file is damaged or was tampered with")]
    Corrupt {
        /// Where the damaged file was moved, if it was.
        set_aside: Option<std::path::PathBuf>,
    },
    /// Reading or writing the file failed.
    #[error("cache file error: {0}")]
    Io(String),
    /// No cache directory is configured.
    #[error("no cache directory configured")]
    Disabled,
}
