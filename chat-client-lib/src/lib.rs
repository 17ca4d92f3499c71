//! An async client for the chat server: lazy connection over TLS (a self-signed server is
//! trusted by pinned fingerprint or certificate file), typed requests with timeouts, one
//! event stream for the client's whole life plus per-room streams, reconnecting for as long
//! as it lives (re-authenticating and resuming every room, so each message is seen exactly
//! once, in order), an outbox that sends each message once however the caller is cancelled,
//! an encrypted per-user local store, and end-to-end encrypted rooms (MLS) that read and
//! write like any other.
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
//!     let config = ClientConfig::parse("wss://127.0.0.1:8443/v2/ws")?
//!         .with_fingerprint("3A9F00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDD")?
//!         .with_cache_dir("/home/alice/.cache/chat"); // the outbox survives restarts
//!     let client = Client::new(config);
//!     let mut events = client.events();
//!
//!     client.login("alice", "correct horse battery").await?;
//!     let room = client.create_room("general").await?; // private: invite people to it
//!     client.invite(room.id, "bob").await?;
//!     client.send(room.id, "hello, world").await?;
//!
//!     while let Some(event) = events.recv().await {
//!         if let ClientEvent::Message(m) = event {
//!             // A message, or a notice such as "bob joined".
//!             let text = chat_client_lib::display::item_text(&m);
//!             println!("[{}] {}: {text}", m.room_id, m.sender.username);
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
//! - **Reconnect.** Lost connections are retried per [`ReconnectPolicy`]: exponential
//!   backoff with jitter, capped at 30 s, and by default for as long as the client lives (an
//!   unattended bot rides out any outage). A bounded policy is available; when it runs out
//!   the event stream says so ([`ClientEvent::ReconnectGaveUp`]). The client then resumes
//!   the session with its token and every room from the last `seq` it delivered (all rooms
//!   in one `resume_rooms` request, up to 1,000 at a time): the application sees each
//!   message exactly once, in order.
//! - **Sending.** [`Client::send`] puts the message, with its client message id, into the
//!   outbox before it returns and hands back a [`SendHandle`] (queued, sent with its `seq`,
//!   or failed with a reason). One task delivers the outbox in order across reconnects and,
//!   with a local store, restarts; a message written while the server is down goes out when
//!   it is back, and the server stores each one once. A message the server refuses for good
//!   fails without holding up the others.
//! - **Catching up.** [`Client::start_room_at`] starts a room from a saved `seq`, so a bot
//!   that restarts answers what came while it was away.
//! - **Local store.** With [`CacheConfig::dir`] set, each user has one SQLite file per
//!   server ([`LocalStore`]) in a directory only its owner can enter, named by a hash that
//!   reveals neither user nor server. Every value in it is sealed with XChaCha20-Poly1305
//!   under a key derived from the password by Argon2id with a per-user salt; a tampered row
//!   is reported, never shown. It holds the outbox, the offline snapshot (chat list,
//!   members, last 20 messages per room: read at login, written at logout and at
//!   [`Client::shutdown`]), a key-value area and room history. [`Client::store_key`] and
//!   [`Client::resume_session`] let an application stay logged in without keeping the
//!   password. A damaged file is set aside ([`ClientEvent::CacheSetAside`]) and rebuilt
//!   from the server.
//!
//! - **End-to-end encrypted rooms.** Private rooms and direct chats are encrypted by
//!   default ([`Room::encrypted`](chat_proto::Room)); the library does the MLS work
//!   ([`e2ee`] says how): after login it loads or registers this installation's device,
//!   keeps each room's group in step with its members, encrypts what [`Client::send`]
//!   sends there and decrypts what arrives, in `seq` order. The application sees the same
//!   [`ClientEvent::Message`] as in other rooms, with the text and `device_id` set (it is
//!   set exactly on end-to-end encrypted items); what it cannot read comes as
//!   [`ClientEvent::Undecryptable`] with a reason (sent before this device joined, damaged
//!   or tampered, waiting for keys), never as text. [`Client::history`] of an encrypted room
//!   reads decrypted texts from the local store, since the server has only ciphertext and
//!   past keys are deleted: keep a store directory ([`CacheConfig::dir`]) for a client that
//!   runs more than once. Without one the device lives in memory, is new at every login and
//!   is removed from the account at logout and shutdown (an account holds at most 5).
//!
//! # Layout
//! - [`client`]: [`Client`] and its requests about rooms and messages.
//! - [`display`]: plain-text renderings of timeline items (message bodies, notices).
//! - [`rooms`]: invitations, invite links, removals, bans, roles, the public directory
//!   ([`NewRoom`], [`DirectoryPage`]).
//! - [`session`]: register, login, resume, logout, shutdown and the store around them.
//! - [`outbox`]: [`SendHandle`], [`SendState`] and the task that delivers the outbox.
//! - [`e2ee`]: end-to-end encrypted rooms: the device, the groups, reading and sending
//!   ([`Undecryptable`], [`RoomEncryption`]).
//! - [`store`]: the encrypted [`LocalStore`] with its outbox, key-value and history areas.
//! - [`config`]: [`ClientConfig`], [`ServerTrust`], [`CacheConfig`] with their defaults.
//! - [`backoff`]: the reconnect policy, [`ReconnectPolicy`].
//! - [`state`]: [`ConnectionState`] and [`StateStream`].
//! - [`events`]: [`ClientEvent`], [`EventStream`] and the hub that never closes.
//! - [`error`]: [`ClientError`], [`ConnectError`], [`StoreError`].
//! - [`fingerprint`]: [`Fingerprint`] parsing and display.
//! - [`cache`]: the offline snapshot ([`OfflineSnapshot`]) kept in the store.
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
pub mod e2ee;
pub mod error;
pub mod events;
pub mod fingerprint;
pub mod outbox;
pub mod rooms;
mod sequencer;
pub mod session;
mod shared;
pub mod state;
pub mod store;
mod supervisor;
mod tls;
mod transport;

pub use backoff::ReconnectPolicy;
pub use cache::snapshot::{CachedRoom, OfflineSnapshot};
pub use chat_e2ee::GroupDevice;
pub use chat_proto;
pub use chat_proto::{
    ClientMsgId, ErrorBody, ErrorCode, Member, Message, MessageId, Room, RoomId, RoomKind, RoomSummary, Seq,
    SessionInfo, UserId, UserInfo,
};
pub use client::{Client, HistoryFrom, HistoryPage};
pub use config::{CacheConfig, ClientConfig, ServerTrust};
pub use connection::ServerHello;
pub use e2ee::{RoomEncryption, Undecryptable, UndecryptableReason};
pub use error::{Cause, ClientError, ConnectError, ConnectStage, StoreError};
pub use events::{ClientEvent, EventStream};
pub use fingerprint::{Fingerprint, FingerprintError};
pub use outbox::{SendHandle, SendState};
pub use rooms::{DirectoryPage, INVITE_LINK_PREFIX, NewRoom};
pub use state::{ConnectionState, StateStream};
pub use store::{LocalStore, OutboxEntry, ServerIdentity, StoreKey};
#[cfg(feature = "raw-tls")]
pub use tls::client_config as tls_client_config;
