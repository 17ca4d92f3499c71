//! Service logic of the chat system: accounts, sessions, rooms, messages, presence, typing
//! and read state, behind a storage trait and a broker trait. Knows nothing of sockets: the
//! server hands it decoded requests and forwards the frames it produces.
//!
//! # Layout
//! - [`service`]: [`ChatService`], the per-node service (configuration, health, metrics),
//!   and [`Connection`], one client's state; the request handlers live in its private
//!   submodules `accounts` (register, login, throttling, sessions), `rooms` (rooms, members,
//!   direct chats) and `messages` (send, history, resume, read markers, typing).
//! - [`store`]: the [`store::Store`] trait and its records; adapters [`store::sqlite`]
//!   (embedded default: writer thread with group commit, reader threads, WAL) and
//!   [`store::postgres`] (bb8 pool).
//! - [`broker`]: the [`broker::Broker`] trait (fan-out between nodes, presence, ephemeral
//!   events, login-failure counters) and the events' wire form; adapters [`broker::memory`]
//!   (in-process, one node) and [`broker::redis`] (pub/sub between nodes, presence with
//!   expiry).
//! - [`hub`]: [`hub::LocalHub`], this node's connections by room and by user; delivers broker
//!   events with `try_send` and kicks slow consumers.
//! - [`mls_framing`]: reading the framing of MLS messages (group, epoch, kind), never their
//!   content: what the delivery service needs to order an encrypted room.
//! - [`keyring`]: at-rest encryption of message bodies (XChaCha20-Poly1305, key ids,
//!   rotation, the key file format).
//! - [`ratelimit`]: the per-connection token bucket and the rules of the login throttle.
//! - `metrics`: counters and gauges in the Prometheus text format.
//!
//! Service rules in one place:
//! - A message is stored (committed, synced) before `send_message` answers; the event is
//!   published after, and a client that misses it resumes (`resume_room`).
//! - Every refusal is a [`chat_proto::ErrorBody`] whose code says what to do; storage
//!   outages are `unavailable` (retryable), never a panic.

#![warn(missing_docs)]

pub mod broker;
pub mod hub;
pub mod keyring;
mod metrics;
pub mod mls_framing;
pub mod ratelimit;
pub mod service;
pub mod store;

pub use service::{
    Begun, ChatService, Connection, CoreConfig, CoreError, HealthReport, KickReason, Outbound,
};
