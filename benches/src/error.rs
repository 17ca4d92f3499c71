//! [`LoadError`]: why a load run or one of its connections failed.

/// Why a load run, or one connection of it, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The options do not describe a run that can be made.
    #[error("configuration: {0}")]
    Config(String),
    /// A socket or a process call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS setup or handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The HTTP upgrade to WebSocket was refused or malformed.
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    /// The server sent something this client does not understand, or closed.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server answered a request with an error frame.
    #[error("server refused {request}: {code}: {message}")]
    Refused {
        /// The request type.
        request: &'static str,
        /// The wire error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// Something did not happen within its bound.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server process could not be started or stopped.
    #[error("server process: {0}")]
    Server(String),
}

impl LoadError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
