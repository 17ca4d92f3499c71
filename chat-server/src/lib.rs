//! The chat server as a library: TLS (a self-signed certificate generated on first start by
//! default), the HTTP upgrade to WebSocket at the versioned path, one task per connection,
//! limits and timeouts, health and metrics endpoints, and graceful shutdown. The service
//! logic lives in `chat-core`; this crate carries frames between sockets and it.
//!
//! The binary is a thin wrapper; tests, benches and other crates start a real server in
//! process:
//!
//! ```no_run
//! # async fn demo() -> Result<(), chat_server::ServerError> {
//! let mut config = chat_server::ServerConfig::local("/tmp/chat-data");
//! config.core.bcrypt_cost = 4;
//! let server = chat_server::start(config).await?;
//! println!("{} pinned by {:?}", server.ws_url(), server.cert_fingerprint());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`ServerConfig`] and its documented defaults.
//! - [`cli`]: flags, `CHAT_*` environment variables and the TOML file.
//! - [`tls`]: certificate loading or generation, fingerprints.
//! - `server`: [`start`] and [`RunningServer`] (graceful and abrupt stop).
//! - `listener`: the accept loop, connection caps and backoff.
//! - `refusal_log`: refused connections logged in aggregate, one line per kind per interval.
//! - `http`: routing of `/v2/ws`, `/healthz`, `/metrics`; the Origin allowlist.
//! - `connection`: one WebSocket connection (reader, processor, writer, supervisor).
//! - `wsio`: message framing with size limits, and batched frame writing.
//! - [`metrics`]: the transport's Prometheus counters.
//! - [`error`]: [`ServerError`], why start-up failed.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
mod connection;
pub mod error;
mod http;
mod listener;
pub mod metrics;
mod refusal_log;
mod server;
mod state;
pub mod tls;
mod wsio;

pub use cli::{LogFormat, LogSettings, Settings};
pub use config::{Limits, ServerConfig, Timeouts, TlsMode};
pub use error::ServerError;
pub use server::{RunningServer, start};
