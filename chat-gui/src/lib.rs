//! The desktop chat app: an egui/eframe window on `chat-client-lib`, in the manner of
//! Telegram and Messenger. A chat list on the left, the conversation on the right, a
//! members panel; every request shows a spinner in its button's place, every failure a
//! snackbar with the reason, and a banner tells when the connection is down.
//!
//! The UI thread never waits on the network: a [`Backend`] owns a tokio runtime on which the
//! client library runs; the UI sends it commands and drains its updates once per frame,
//! and every update wakes the window. Nothing else does: an idle window paints no frames
//! (no blinking caret, no spinner while reconnecting).
//!
//! # Behaviour worth knowing
//! - **Rooms people control**: private or public rooms, invitations by name and by link,
//!   the room info panel with roles and moderation (each action asked first), bans, the
//!   directory, and pending invitations.
//! - **Staying logged in**: the session token and the local store's key live in the OS
//!   keyring through a [`SecretStore`] ([`OsKeyring`] in the app, [`MemorySecrets`] in
//!   tests); the password is never kept.
//! - **Every script**: Hebrew, Arabic, CJK and colour emoji fonts ship in the binary
//!   ([`fonts`]); right-to-left text is ordered for display by [`bidi`].
//! - **Every window size**: one column below 800 points, the info panel over the chat when
//!   it would squeeze it ([`layout`]).
//! - **Notifications** go through a [`Notifier`] ([`DesktopNotifier`] in the app,
//!   [`RecordingNotifier`] in tests), for messages in chats the user is not looking at.
//!
//! # Layout
//! - [`app`]: the [`App`] state and the frame loop.
//! - `updates`: what the window does with each answer, event and connection change.
//! - [`backend`]: commands, updates and the runtime that carries them.
//! - `worker`: the task that calls the client library.
//! - [`state`]: chats, conversations, members and typing, and how events change them.
//! - [`login`]: the server address and login / register screen.
//! - [`chat_list`]: the list of chats on the left and the menu.
//! - [`conversation`]: the open chat: header, bubbles, day separators, older pages.
//! - [`bubble`]: painting one message bubble or day separator.
//! - [`composer`]: the message field, the send button and the typing line.
//! - [`room_info`]: the room info panel: members with roles, settings, moderation, bans.
//! - [`members`]: member counts in words.
//! - [`invite`]: the invite dialog (by username, invite links).
//! - [`directory`]: the directory of public rooms.
//! - [`invitations`]: pending invitations with accept and decline.
//! - [`confirm`]: asking before leaving, logging out and acting on members.
//! - [`layout`]: one or two columns, docked or overlaid info panel, by window width.
//! - [`keys`]: keyboard shortcuts (chat switching, search, Esc).
//! - [`fonts`]: the Hebrew, Arabic, CJK and colour emoji fonts the app ships.
//! - [`bidi`]: right-to-left text laid out for display.
//! - [`secrets`]: the saved session in the OS keyring.
//! - [`notify`]: desktop notifications.
//! - [`prefs`]: remembered preferences (the theme).
//! - [`protection`]: the lock of encrypted chats and the globe of public rooms.
//! - [`safety`]: the safety number of a direct chat (digits and QR code), marking a contact
//!   verified, and the warning when a verified contact's devices change.
//! - [`verified`]: the verified contacts, kept between runs.
//! - [`devices`]: the settings page of this user's devices (fingerprints, last seen, remove).
//! - [`reasons`]: client errors in words, for the snackbar and the banner.
//! - [`dialogs`]: the dialog in front: create room (private or public), join by id or
//!   invite link, new direct chat, and the others below.
//! - [`snackbar`]: error messages at the bottom.
//! - [`banner`]: the connecting / reconnecting / offline banner.
//! - [`theme`]: the light and dark palettes and the egui style.
//! - [`widgets`]: spinner buttons, avatars, badges, labelled fields.
//! - [`format`](mod@format): times, day names and initials.
//! - [`error`]: the crate's error type.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod backend;
pub mod banner;
pub mod bidi;
pub mod bubble;
pub mod chat_list;
pub mod composer;
pub mod confirm;
pub mod conversation;
pub mod devices;
pub mod dialogs;
pub mod directory;
pub mod error;
pub mod fonts;
pub mod format;
pub mod invitations;
pub mod invite;
pub mod keys;
pub mod layout;
pub mod login;
pub mod members;
pub mod notify;
pub mod prefs;
pub mod protection;
pub mod reasons;
pub mod room_info;
pub mod safety;
pub mod secrets;
pub mod snackbar;
pub mod state;
pub mod theme;
mod updates;
pub mod verified;
pub mod widgets;
mod worker;

pub use app::{App, AppConfig};
pub use backend::{Backend, BackendConfig, ServerAddress};
pub use error::GuiError;
pub use format::LocalOffset;
pub use notify::{DesktopNotifier, Notifier, RecordingNotifier};
pub use secrets::{MemorySecrets, OsKeyring, SecretStore};
