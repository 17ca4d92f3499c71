//! Examples of embedding `chat-client-lib`: a bot that answers in a room and a command-line
//! client with a REPL and a scripting mode. This library holds what the two programs share,
//! so that it can be tested.
//!
//! Run them with
//!
//! ```text
//! cargo run -p chat-examples --bin chat-cli -- --server wss://127.0.0.1:8443/v2/ws \
//!     --fingerprint 3A:9F:... --user alice     # asks for the password
//! cargo run -p chat-examples --bin chat-bot -- --server wss://127.0.0.1:8443/v2/ws \
//!     --fingerprint 3A:9F:... --user echo-bot --password 'bot password' --register --room 1
//! ```
//!
//! # Layout
//! - [`bot`]: the bot's answers and its saved position in a room.
//! - [`connect`]: command-line flags for the server and its trust, turned into a
//!   [`chat_client_lib::ClientConfig`].
//! - [`command`]: the CLI's slash commands and their parser.
//! - [`manage`]: the commands for rooms people control (invitations, links, removals,
//!   bans, roles, settings, the directory).
//! - [`output`]: printing results and events for people or as JSON lines.
//! - [`repl`]: running commands against a client, from a script or the prompt.
//! - [`interactive`]: the prompt: line editing, history, passwords without echo.

#![warn(missing_docs)]

pub mod bot;
pub mod command;
pub mod connect;
pub mod interactive;
pub mod manage;
pub mod output;
pub mod repl;
