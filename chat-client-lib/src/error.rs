//! Errors of the client library: why a connection could not be made ([`ConnectError`]), why a
//! request failed ([`ClientError`]) and why the encrypted local store could not be used
//! ([`StoreError`]). Each error says what went wrong in its own words and keeps what caused
//! it in its `source()` chain.

use std::path::PathBuf;
use std::sync::Arc;
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
    #[error("invalid input")]
    Invalid(#[from] ValidationError),
    /// The request needs a logged-in session and there is none.
    #[error("not logged in")]
    NotLoggedIn,
    /// A connection could not be made.
    #[error("cannot connect")]
    Connect(#[from] ConnectError),
    /// The connection dropped while the request was waiting for its answer. Whether the
    /// server acted on it is unknown; sending it again is safe for reads and for
    /// messages, which the outbox sends again under the same client message id.
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
    /// The encrypted local store could not be used.
    #[error("local store")]
    Store(#[from] StoreError),
    /// The message is still in the outbox of the local store: the user logged out or the
    /// client shut down before the server had it. It goes out at the user's next login.
    #[error("the message is still queued; it is sent at the next login")]
    StillQueued,
    /// [`Client::shutdown`](crate::Client::shutdown) was called.
    #[error("the client was shut down")]
    Shutdown,
    /// End-to-end encryption failed on this device (its state could not be loaded or
    /// saved, or the message cannot be encrypted for the room's group).
    #[error("end-to-end encryption: {0}")]
    Encryption(String),
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

/// An underlying error, kept for its message and its own `source()` chain. Compares by
/// message, so that errors holding one stay comparable in tests.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub(crate) fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

/// Why the encrypted local store could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// There is no store for this user on this server yet.
    #[error("no local store for this user")]
    Missing,
    /// The password does not open this store (another user's password, or the store's key
    /// material is damaged). The file is left alone.
    #[error("the password does not open this local store")]
    WrongPassword,
    /// The exported key does not open this store.
    #[error("the key does not open this local store")]
    WrongKey,
    /// The file is not a store (damaged, truncated, or of another format); when it was
    /// moved out of the way, `set_aside` says where.
    #[error("the local store file is damaged")]
    Corrupt {
        /// Where the damaged file was moved, if it was.
        set_aside: Option<PathBuf>,
    },
    /// A row failed authentication: its bytes were changed, or it was moved or copied from
    /// elsewhere. Its content is never shown.
    #[error("a row of the local store's {area} area is damaged or was tampered with")]
    Tampered {
        /// Which area: `outbox`, `key-value`, `history` or `snapshot`.
        area: &'static str,
    },
    /// Reading or writing a file or directory failed.
    #[error("cannot use {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: Cause,
    },
    /// The embedded database failed.
    #[error("local database error")]
    Database(#[source] Cause),
    /// The server's identity, which names the store, cannot be worked out (the URL or the
    /// certificate file is unusable).
    #[error("cannot identify the server")]
    Identity(#[source] ConnectError),
    /// The configured directory is shared with other users (it has the sticky bit, like
    /// `/tmp`): the store needs a directory of its own.
    #[error("{0} is shared with other users; choose a directory of the application's own")]
    SharedDirectory(PathBuf),
    /// A value could not be encoded.
    #[error("cannot encode a value: {0}")]
    Encode(String),
    /// No store directory is configured ([`CacheConfig::dir`](crate::CacheConfig::dir)).
    #[error("no local store directory configured")]
    Disabled,
}

impl StoreError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source: Cause::new(error),
        }
    }

    pub(crate) fn db(error: rusqlite::Error) -> Self {
        StoreError::Database(Cause::new(error))
    }
}

/// An error and its causes in one line, outermost first, joined by `": "`: what a program
/// prints for a person (`cannot connect: connection refused by 127.0.0.1:8443`).
///
/// ```
/// use chat_client_lib::{ClientError, ConnectError, error::report};
///
/// let e = ClientError::Connect(ConnectError::Refused { addr: "127.0.0.1:8443".into() });
/// assert_eq!(report(&e), "cannot connect: connection refused by 127.0.0.1:8443");
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
