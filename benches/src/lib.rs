//! Benchmarks and the load generator of the chat system.
//!
//! The criterion benches (`cargo bench -p chat-benches`) measure the protocol codec, the
//! in-process hub's fan-out, and a message's way through a real server over wss. The load
//! generator (`cargo run --release -p chat-benches --bin loadgen -- --scenario 1`) drives
//! the release `chat-server` binary, pinned to its own core, with thousands of wss
//! connections and reports deliveries per second, latency percentiles, lost and duplicated
//! deliveries, and the server's CPU and memory per connection. `docs/BENCHMARKS.md` holds
//! the commands and the results.
//!
//! Everything here targets loopback addresses only, and every run is bounded in time and
//! count and stops by itself.
//!
//! # Layout
//! - [`wire`]: the lean wss client (TLS pinned by fingerprint, hand-written upgrade).
//! - [`frames`]: the frames sent, and the fast reading of message events.
//! - [`conn`]: one load connection (reader and writer tasks, pending answers).
//! - [`track`]: lost / duplicate accounting, latency histograms, sender windows.
//! - [`setup`]: accounts, rooms and memberships through the protocol; bounded fan-in.
//! - [`encrypted`]: encrypted rooms, the senders' MLS devices and their ciphertexts.
//! - [`plan`]: a phase's parameters and the seven scenarios.
//! - [`server`]: the `chat-server` child process and its metrics.
//! - [`cluster`]: one or two nodes, embedded or on PostgreSQL + Redis.
//! - [`traffic`], [`idle`], [`reconnect`], [`scale`]: the four kinds of phase.
//! - [`dataset`]: the scale phase's bulk loader (millions of messages as the server stores
//!   them).
//! - [`run`]: phases one after the other, with ratios against the first.
//! - [`report`]: the printed results.
//! - [`procfs`]: CPU and memory from `/proc`, the open-files limit, core pinning.
//! - [`profile`]: `perf record` of a node around the measured part.
//! - [`error`]: why a run failed ([`LoadError`]).

#![warn(missing_docs)]

pub mod cluster;
pub mod conn;
pub mod dataset;
pub mod encrypted;
pub mod error;
pub mod frames;
pub mod idle;
pub mod plan;
pub mod procfs;
pub mod profile;
pub mod reconnect;
pub mod report;
pub mod run;
pub mod scale;
pub mod server;
pub mod setup;
pub mod track;
pub mod traffic;
pub mod wire;

pub use error::LoadError;
