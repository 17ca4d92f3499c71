//! Service logic of the chat system: accounts, sessions, rooms, messages, presence, typing
//! and read state, behind a storage trait and a broker trait. Knows nothing of sockets: the
//! server hands it decoded requests and forwards the frames it produces.
//!
//! # Layout
//! (to be completed as modules land)
//! - [`service`]: [`ChatService`], the per-node service, and [`Connection`], one client's
//!   state (authentication, rate limit, subscriptions).
//! - [`store`]: the [`store::Store`] trait and its records; [`store::sqlite`] adapter.
//! - [`broker`]: the [`broker::Broker`] trait (fan-out between nodes, presence, ephemeral
//!   events, shared counters); [`broker::memory`] in-process adapter.

#![warn(missing_docs)]

pub mod broker;
pub mod hub;
pub mod keyring;
mod metrics;
pub mod ratelimit;
pub mod service;
pub mod store;

pub use service::{ChatService, Connection, CoreConfig, CoreError, HealthReport, KickReason, Outbound};
