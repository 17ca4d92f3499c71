//! Service logic of the chat system: accounts, sessions, rooms, messages, presence, typing
//! and read state, behind a storage trait and a broker trait. Knows nothing of sockets: the
//! server hands it decoded requests and forwards the frames it produces.
//!
//! # Layout
//! (to be completed as modules land)
//! - [`service`]: [`ChatService`], the per-node service, and [`Connection`], one client's
//!   state (authentication, rate limit, subscriptions).

#![warn(missing_docs)]

pub mod service;

pub use service::{ChatService, Connection, CoreConfig, CoreError, HealthReport, KickReason, Outbound};
