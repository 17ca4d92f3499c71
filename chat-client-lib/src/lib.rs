//! An async client for the chat server: lazy connection over TLS (a self-signed server is
//! trusted by pinned fingerprint or certificate file), typed requests with timeouts, one
//! event stream for the client's whole life plus per-room streams, automatic reconnect with
//! backoff that re-authenticates and resumes every room (each message is seen exactly once,
//! in order), idempotent sends, and an encrypted per-user offline cache.
//!
//! # Quick start
//!
//! The server prints its URL and certificate fingerprint when it starts; pin the fingerprint:
//!
//! ```no_run
//! use chat_client_lib::{Client, ClientConfig, ClientEvent};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = ClientConfig::new("wss://127.0.0.1:8443/v1/ws")
//!         .with_fingerprint("3A9F00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDD")?;
//!     let client = Client::new(config);
//!     let mut events = client.events();
//!
//!     client.login("alice", "correct horse battery").await?;
//!     let room = client.create_room("general").await?;
//!     client.send(room.id, "hello, world").await?;
//!
//!     while let Some(event) = events.recv().await {
//!         if let ClientEvent::Message(m) = event {
//!             println!("[{}] {}: {}", m.room_id, m.sender.username, m.body);
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Runnable examples live in the `chat-examples` package: a bot that answers in a room
//! (`cargo run -p chat-examples --bin chat-bot -- --help`) and a command-line client with a
//! REPL and a scripting mode (`cargo run -p chat-examples --bin chat-cli -- --help`).
//!
//! # Behaviour worth knowing
//!
//! - **Lazy connection.** [`Client::new`] does nothing on the network; the first request
//!   (usually [`Client::login`]) connects, within [`ClientConfig::connect_timeout`]. A failed
//!   attempt says why: [`ConnectError::Refused`], [`ConnectError::Certificate`],
//!   [`ConnectError::Tls`], [`ConnectError::Timeout`], [`ConnectError::HandshakeRejected`], ...
//! - **State.** [`Client::state`] streams [`ConnectionState`]s. `Connected` means the server
//!   said `hello` and (after a reconnect) accepted the session token.
//! - **Requests.** Each carries a UUID v4 id and is bounded by
//!   [`ClientConfig::request_timeout`]. When the connection drops, every request waiting for
//!   an answer fails at once with [`ClientError::ConnectionLost`]. A request made while the
//!   client is reconnecting waits for the connection within its timeout, and counts as a user
//!   action: if reconnecting had given up, it starts a fresh round of attempts.
//! - **Reconnect.** Lost connections are retried per [`ReconnectPolicy`] (exponential backoff,
//!   jitter, bounded attempts); the client then resumes the session with its token and every
//!   room from the last `seq` it delivered, before and while live events flow: the
//!   application sees each message exactly once, in order.
//! - **Sending.** [`Client::send`] picks a client message id and reuses it on every retry
//!   within [`ClientConfig::send_retry_window`], so a message is stored once.
//! - **Offline cache.** With [`CacheConfig::dir`] set, each user's chat list, members and
//!   last 20 messages per room are kept in a file encrypted with XChaCha20-Poly1305 under a
//!   key derived from the password by Argon2id with a per-user salt. Read at login, written at
//!   logout and at [`Client::shutdown`] (or when the last handle is dropped); a damaged file is
//!   renamed aside ([`ClientEvent::CacheSetAside`]) and rebuilt from the server.
//!
//! # Layout
//! - [`client`]: [`Client`] and its requests about rooms and messages.
//! - [`display`]: plain-text renderings of timeline items (message bodies, notices).
//! - [`rooms`]: invitations, invite links, removals, bans, roles, the public directory
//!   ([`NewRoom`], [`DirectoryPage`]).
//! - [`session`]: register, login, logout, shutdown and the cache around them.
//! - [`config`]: [`ClientConfig`], [`ServerTrust`], [`CacheConfig`] with their defaults.
//! - [`backoff`]: the reconnect policy, [`ReconnectPolicy`].
//! - [`state`]: [`ConnectionState`] and [`StateStream`].
//! - [`events`]: [`ClientEvent`], [`EventStream`] and the hub that never closes.
//! - [`error`]: [`ClientError`], [`ConnectError`], [`CacheError`].
//! - [`fingerprint`]: [`Fingerprint`] parsing and display.
//! - [`cache`]: the encrypted offline cache ([`OfflineSnapshot`]).
//! - `transport`: URL, TCP, TLS, WebSocket upgrade and `hello`.
//! - `tls`: certificate pinning and file trust (ring only).
//! - `connection`: one connection's reader, writer, pending requests and keepalive.
//! - `supervisor`: connecting, reconnecting, re-authenticating and resuming.
//! - `sequencer`: per-room ordering and deduplication.
//! - `shared`: the state all of the above share.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod cache;
pub mod client;
pub mod config;
mod connection;
pub mod display;
pub mod error;
pub mod events;
pub mod fingerprint;
pub mod rooms;
mod sequencer;
pub mod session;
mod shared;
pub mod state;
mod supervisor;
mod tls;
mod transport;

pub use backoff::ReconnectPolicy;
pub use cache::snapshot::{CachedRoom, OfflineSnapshot};
pub use chat_proto;
pub use client::{Client, HistoryFrom, HistoryPage};
pub use config::{CacheConfig, ClientConfig, ServerTrust};
pub use connection::ServerHello;
pub use error::{CacheError, ClientError, ConnectError, ConnectStage};
pub use events::{ClientEvent, EventStream};
pub use fingerprint::{Fingerprint, FingerprintError};
pub use rooms::{DirectoryPage, INVITE_LINK_PREFIX, NewRoom};
pub use state::{ConnectionState, StateStream};
pub use tls::client_config as tls_client_config;
