//! The bridge between the UI thread and the network. The UI sends [`Command`]s and, once
//! per frame, drains [`Update`]s; a tokio runtime owned by the [`Backend`] runs the client
//! library. Every update that arrives asks egui for a repaint, so the window shows it at
//! once without polling, and the UI thread never waits on a socket.

use std::sync::mpsc;

use chat_client_lib::ClientEvent;
use chat_proto::{
    Ban, ClientMsgId, Device, DeviceId, Invitation, Member, Message, MessageBody, Room, RoomId, RoomName,
    RoomSummary, Seq, UserId, UserInfo, Username, Visibility,
};
use tokio::runtime::Runtime;

use crate::error::GuiError;
use crate::worker;

/// Where the server is and how to trust its certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerAddress {
    /// The WebSocket URL, e.g. `wss://chat.example.org:8443/v2/ws`, or `host:port`.
    pub url: String,
    /// The SHA-256 fingerprint of a self-signed certificate to pin (hex, colons allowed);
    /// empty to rely on the system's trust roots.
    pub fingerprint: String,
}

/// Settings of the backend that do not change during a run.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// Where the client library keeps its encrypted offline cache.
    pub cache_dir: std::path::PathBuf,
    /// How long a request may take before it fails with a timeout.
    pub request_timeout: std::time::Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: std::time::Duration,
    /// How lost connections are retried.
    pub reconnect: chat_client_lib::ReconnectPolicy,
    /// Where the session token and the store key are kept between runs (the OS keyring in
    /// the app; memory in tests).
    pub secrets: std::sync::Arc<dyn crate::secrets::SecretStore>,
}

/// One request the UI makes. Each command is answered by exactly one [`Update::Done`] with
/// the command's [`Op`], except the fire-and-forget `MarkRead` and `Typing`, and `Send`,
/// which the outbox answers with [`ClientEvent::Sent`] or [`ClientEvent::SendFailed`] (an
/// `Update::Done` only when the message could not even be queued).
#[derive(Debug)]
pub enum Command {
    /// Log in (or register, then log in) on the given server.
    Login {
        /// The server.
        server: ServerAddress,
        /// The account.
        username: Username,
        /// The password, checked by the UI against the password rules.
        password: chat_proto::Password,
        /// Create the account first.
        register: bool,
    },
    /// Pick up the session saved for this account at an earlier run, without the password.
    /// Answered with [`Op::Resume`]; an empty error means there was nothing saved.
    Resume {
        /// The server.
        server: ServerAddress,
        /// The account.
        username: Username,
    },
    /// Log out and forget the session (also the saved one).
    Logout {
        /// The server, to find the saved session.
        server: ServerAddress,
    },
    /// Reload the chat list.
    ListRooms,
    /// Load the newest page of a room and its members.
    OpenRoom(RoomId),
    /// Load the page of a room before the given sequence number.
    LoadOlder(RoomId, Seq),
    /// Put a message into the outbox (it is sent whenever the server is there).
    Send {
        /// The room.
        room: RoomId,
        /// The idempotency key, also used to match the pending bubble with the stored one.
        client_msg_id: ClientMsgId,
        /// The text.
        body: MessageBody,
    },
    /// Move the read marker.
    MarkRead(RoomId, Seq),
    /// Tell the room the user is typing.
    Typing(RoomId),
    /// Create a group room.
    CreateRoom {
        /// Its name.
        name: RoomName,
        /// Private (only invited people) or public (in the directory).
        visibility: Visibility,
    },
    /// Join a group room by id (a public room, or one this user is invited to).
    JoinRoom(RoomId),
    /// Join the room of an invite link (`chat-invite:TOKEN` or the bare token).
    JoinByLink(String),
    /// Accept an invitation (join the room).
    AcceptInvitation(RoomId),
    /// Turn an invitation down.
    DeclineInvitation(RoomId),
    /// Load the invitations waiting for an answer.
    ListInvitations,
    /// Invite a user to a room by username.
    Invite {
        /// The room.
        room: RoomId,
        /// Who.
        username: Username,
    },
    /// Make an invite link.
    CreateInviteLink {
        /// The room.
        room: RoomId,
        /// How long it works; `None` until revoked.
        expires_in: Option<std::time::Duration>,
        /// How many people may join with it; `None` for any number.
        max_uses: Option<u32>,
    },
    /// Load a room's invite links.
    ListInviteLinks(RoomId),
    /// Stop an invite link from working.
    RevokeInviteLink {
        /// The room.
        room: RoomId,
        /// The link.
        link: chat_proto::InviteLinkId,
    },
    /// Reload a room's members (with roles and online state).
    LoadMembers(RoomId),
    /// Act on a member: remove, ban, unban, change the role, hand ownership over.
    Moderate {
        /// The room.
        room: RoomId,
        /// Who.
        user: UserInfo,
        /// What.
        action: Moderation,
    },
    /// Load a room's bans.
    ListBans(RoomId),
    /// Rename a room and/or set its topic.
    UpdateRoom {
        /// The room.
        room: RoomId,
        /// The new name, if it changes.
        name: Option<String>,
        /// The new topic (empty clears it), if it changes.
        topic: Option<String>,
    },
    /// Load a page of the public room directory.
    Directory {
        /// Keep rooms whose name contains this.
        query: Option<String>,
        /// The previous page's `next`; `None` for the first page.
        after: Option<String>,
    },
    /// Get or create the direct chat with a user.
    OpenDirect(Username),
    /// Leave a room.
    LeaveRoom(RoomId),
    /// Compute the safety number with a contact, and load the contact's devices.
    SafetyNumber(UserInfo),
    /// Load a contact's devices (to see whether a verified contact's devices changed).
    ContactDevices(UserInfo),
    /// Load this user's devices.
    Devices,
    /// Remove one of this user's devices: it leaves every encrypted chat.
    RemoveDevice(DeviceId),
    /// Save the offline cache and close the connection; the sender is told when done.
    Shutdown(mpsc::Sender<()>),
}

/// Names an in-flight request so that the view can draw a spinner in its button's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Logging in.
    Login,
    /// Registering.
    Register,
    /// Picking up a saved session.
    Resume,
    /// Logging out.
    Logout,
    /// Loading the chat list.
    ListRooms,
    /// Loading a room's newest page and members.
    OpenRoom(RoomId),
    /// Loading an older page.
    LoadOlder(RoomId),
    /// Sending a message.
    Send(ClientMsgId),
    /// Creating a room.
    CreateRoom,
    /// Joining a room.
    JoinRoom,
    /// Opening a direct chat.
    OpenDirect,
    /// Leaving a room.
    LeaveRoom(RoomId),
    /// Accepting or declining an invitation.
    Invitation(RoomId),
    /// Loading the invitations.
    Invitations,
    /// Inviting someone by name.
    Invite,
    /// Making an invite link.
    InviteLink,
    /// Loading a room's invite links.
    InviteLinks(RoomId),
    /// Revoking an invite link.
    RevokeLink(chat_proto::InviteLinkId),
    /// Loading a room's members.
    Members(RoomId),
    /// Acting on a member of a room.
    Moderate(RoomId, UserId),
    /// Loading a room's bans.
    Bans(RoomId),
    /// Renaming a room or setting its topic.
    UpdateRoom(RoomId),
    /// Loading the directory.
    Directory,
    /// Computing a safety number.
    Safety(UserId),
    /// Loading a contact's devices.
    ContactDevices(UserId),
    /// Loading this user's devices.
    Devices,
    /// Removing one of this user's devices.
    RemoveDevice(DeviceId),
    /// Requests nobody waits for (typing, read markers).
    Background,
}

/// What an owner or admin does to a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moderation {
    /// Remove from the room (they may come back if invited again).
    Remove,
    /// Remove and keep out until unbanned.
    Ban,
    /// Lift a ban.
    Unban,
    /// Make an admin.
    MakeAdmin,
    /// Make an admin a member again.
    MakeMember,
    /// Make the owner; this user becomes an admin.
    TransferOwnership,
}

impl Command {
    /// The operation this command starts.
    pub fn op(&self) -> Op {
        match self {
            Command::Login { register: true, .. } => Op::Register,
            Command::Login { .. } => Op::Login,
            Command::Resume { .. } => Op::Resume,
            Command::Logout { .. } => Op::Logout,
            Command::ListRooms => Op::ListRooms,
            Command::OpenRoom(room) => Op::OpenRoom(*room),
            Command::LoadOlder(room, _) => Op::LoadOlder(*room),
            Command::Send { client_msg_id, .. } => Op::Send(*client_msg_id),
            Command::CreateRoom { .. } => Op::CreateRoom,
            Command::JoinRoom(_) | Command::JoinByLink(_) => Op::JoinRoom,
            Command::AcceptInvitation(room) | Command::DeclineInvitation(room) => Op::Invitation(*room),
            Command::ListInvitations => Op::Invitations,
            Command::Invite { .. } => Op::Invite,
            Command::CreateInviteLink { .. } => Op::InviteLink,
            Command::ListInviteLinks(room) => Op::InviteLinks(*room),
            Command::RevokeInviteLink { link, .. } => Op::RevokeLink(*link),
            Command::LoadMembers(room) => Op::Members(*room),
            Command::Moderate { room, user, .. } => Op::Moderate(*room, user.id),
            Command::ListBans(room) => Op::Bans(*room),
            Command::UpdateRoom { room, .. } => Op::UpdateRoom(*room),
            Command::Directory { .. } => Op::Directory,
            Command::OpenDirect(_) => Op::OpenDirect,
            Command::LeaveRoom(room) => Op::LeaveRoom(*room),
            Command::SafetyNumber(user) => Op::Safety(user.id),
            Command::ContactDevices(user) => Op::ContactDevices(user.id),
            Command::Devices => Op::Devices,
            Command::RemoveDevice(device) => Op::RemoveDevice(*device),
            Command::MarkRead(..) | Command::Typing(_) | Command::Shutdown(_) => Op::Background,
        }
    }
}

/// What the offline cache held for the user at login: enough for a first screen before
/// the server answers, and for reading while offline.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The chat list.
    pub rooms: Vec<RoomSummary>,
    /// The last messages of each chat, ascending.
    pub messages: Vec<(RoomId, Vec<Message>)>,
    /// The members of each chat.
    pub members: Vec<(RoomId, Vec<Member>)>,
}

/// The successful result of a command.
#[derive(Debug)]
pub enum Outcome {
    /// Logged in (or registered); `cached` is what the offline cache held.
    LoggedIn {
        /// The user.
        user: UserInfo,
        /// The cached chats.
        cached: Snapshot,
        /// True when the server could not be reached and the cache was opened instead.
        offline: bool,
        /// Messages the outbox still holds from the last run, oldest first (being sent).
        queued: Vec<chat_client_lib::OutboxEntry>,
    },
    /// Logged out.
    LoggedOut,
    /// The chat list.
    Rooms(Vec<RoomSummary>),
    /// A page of history.
    History {
        /// The room.
        room: RoomId,
        /// The page, ascending.
        messages: Vec<Message>,
        /// In an encrypted chat, the items of the page this device cannot read.
        unreadable: Vec<chat_client_lib::e2ee::Undecryptable>,
        /// Whether older messages exist.
        has_more: bool,
        /// The room's members, when they were loaded with the page.
        members: Option<Vec<Member>>,
    },
    /// The stored message.
    Sent(Message),
    /// A room created, joined, opened or changed.
    Room(Room),
    /// An invite link as people share it: `chat-invite:TOKEN`.
    InviteLink(String),
    /// The invitations waiting for an answer.
    Invitations(Vec<Invitation>),
    /// A room's invite links (without tokens).
    InviteLinks(RoomId, Vec<chat_proto::InviteLink>),
    /// A room's members.
    Members(RoomId, Vec<Member>),
    /// A room's bans.
    Bans(RoomId, Vec<Ban>),
    /// A page of the directory.
    Directory {
        /// Public rooms, most members first.
        rooms: Vec<Room>,
        /// Where the next page starts; `None` on the last page.
        next: Option<String>,
        /// Whether this page follows the one shown (else it replaces it).
        more: bool,
    },
    /// The safety number with a contact.
    Safety {
        /// The contact.
        user: UserInfo,
        /// 60 digits in 12 groups of 5.
        number: String,
        /// The contact's devices, whose keys the number covers.
        devices: Vec<Device>,
    },
    /// A contact's devices.
    ContactDevices(UserInfo, Vec<Device>),
    /// This user's devices.
    Devices {
        /// The devices.
        devices: Vec<Device>,
        /// Which of them is this one, once registered.
        this_device: Option<DeviceId>,
    },
    /// Nothing to report.
    Ok,
}

/// The connection as the banner shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Not logged in, or logged out.
    Idle,
    /// Connecting for the first time.
    Connecting,
    /// Connected and authenticated.
    Online,
    /// The connection dropped; trying again.
    Reconnecting {
        /// Which attempt this is, from 1.
        attempt: u32,
    },
    /// Gave up reconnecting, or the server was unreachable at login.
    Offline {
        /// Why.
        reason: String,
    },
}

/// Something the backend tells the UI.
#[derive(Debug)]
pub enum Update {
    /// A command finished; the error is a sentence for the snackbar.
    Done {
        /// Which command.
        op: Op,
        /// Its result.
        result: Result<Outcome, String>,
    },
    /// Something happened on the server (a message, presence, typing, ...).
    Event(ClientEvent),
    /// The connection changed.
    Connection(Connection),
}

/// Sends updates to the UI and wakes it.
#[derive(Clone)]
pub(crate) struct UpdateSink {
    tx: mpsc::Sender<Update>,
    ctx: egui::Context,
}

impl UpdateSink {
    /// Queues an update and asks for a repaint so that the next frame shows it.
    pub(crate) fn push(&self, update: Update) {
        // A closed channel means the window is gone; nothing to tell.
        let _ = self.tx.send(update);
        self.ctx.request_repaint();
    }
}

/// Owns the runtime that talks to the server on behalf of the UI.
pub struct Backend {
    runtime: Option<Runtime>,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    updates: mpsc::Receiver<Update>,
}

impl Backend {
    /// Starts the runtime and the worker. `ctx` is woken whenever an update arrives.
    pub fn start(config: BackendConfig, ctx: egui::Context) -> Result<Backend, GuiError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("chat-gui-net")
            .enable_all()
            .build()
            .map_err(GuiError::Runtime)?;
        let (tx, updates) = mpsc::channel();
        let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = UpdateSink { tx, ctx };
        runtime.spawn(worker::run(config, rx, sink));
        Ok(Backend {
            runtime: Some(runtime),
            commands,
            updates,
        })
    }

    /// Hands a command to the worker; never blocks.
    pub fn send(&self, command: Command) {
        // Fails only when the worker has stopped, which happens only at shutdown.
        let _ = self.commands.send(command);
    }

    /// Takes every update that arrived since the last call; never blocks.
    pub fn drain(&self) -> Vec<Update> {
        self.updates.try_iter().collect()
    }

    /// Saves the offline cache and closes the connection, waiting at most `timeout`: the
    /// clean shutdown when the window closes.
    pub fn close(&self, timeout: std::time::Duration) {
        let (done, wait) = mpsc::channel();
        self.send(Command::Shutdown(done));
        if wait.recv_timeout(timeout).is_err() {
            tracing::warn!("the network did not shut down in time");
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Do not wait for sockets to close: closing the window must be instant.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
