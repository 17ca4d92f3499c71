//! End-to-end encrypted rooms (MLS): the client's device, the rooms' groups kept in step
//! with their members, and encrypted items turned into the messages the application sees.
//!
//! - **The device.** After logging in, the client loads its MLS device ([`chat_e2ee::Machine`])
//!   from the user's encrypted local store, or makes a new one; registers it with the
//!   server (`use_device` on later connections) and keeps a pool of key packages there.
//!   Without a store directory the device lives in memory: it is a new device at every
//!   login, and [`Client::logout`](crate::Client::logout) removes it from the account, since an
//!   account has at most 5 devices. Applications that run more than once per user (the
//!   command-line client, bots) keep a store per user.
//! - **Membership follows the room.** For each encrypted room, the first device to find it
//!   without a group creates it; after that any member device that sees the room's devices
//!   differ from the group's (someone joined or left, a device was added or removed, also
//!   while it was offline) commits the change, with a Welcome for the added devices. A
//!   commit refused as stale is settled by the room's newer items and planned again.
//! - **Reading.** Encrypted items are processed in `seq` order, each once, own included.
//!   The application gets [`ClientEvent::Message`](crate::ClientEvent::Message) with the
//!   decrypted text (`device_id` names the sending device: it is set exactly on items that
//!   came end-to-end encrypted), and [`ClientEvent::Undecryptable`](crate::ClientEvent::Undecryptable)
//!   for what it cannot read, never as text. Commits are processed silently.
//! - **History.** Epoch secrets are deleted as epochs move, so what was decrypted is kept in
//!   the local store's history area (in memory without a store) and
//!   [`Client::history`](crate::Client::history) of an encrypted room answers from it.
//!
//! - **Sending** in an encrypted room waits (in the outbox, in order with everything else)
//!   while the device has no group there yet (its Welcome has not come), a commit of this
//!   device awaits the server, or the room's membership changed and its group does not
//!   follow yet: a message is encrypted only for the devices that should read it. A send
//!   refused as stale is encrypted again after the room's newer items are processed. A
//!   message still waiting after three request timeouts fails with
//!   [`ClientError::Encryption`](crate::ClientError::Encryption) (typically: no other
//!   member's device has been online to add this one), so it holds nothing else up.
//!
//! Known limits: a message sent by another member in the moment between someone joining
//! and the commit that adds their devices is not readable by them (their devices were not
//! in the group yet), as in other MLS and Signal-style systems; the server grants a room's
//! group to one device, and a device that crashes between that grant and making the group
//! leaves the room without a group (nothing can be sent there until an operator resets it).
//!
//! - `state_store`: the MLS state in the local store.
//! - `records`: decrypted texts and unreadable items by room and `seq`.
//! - `device`: loading, registering and topping up the device.
//! - `safety`: [`safety_number`].
//! - `send`: encrypting outbox entries.
//! - `worker`: the task that processes items, Welcomes and membership changes in order.

mod device;
mod records;
mod safety;
mod send;
mod state_store;
mod worker;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chat_e2ee::{Machine, Store};
use chat_proto::{Content, DeviceId, Message, RoomId, Seq, TimestampMs, UserInfo, Welcome};
use tokio::sync::{mpsc, oneshot};

use crate::connection::Conn;
use crate::events::lock;
use crate::shared::Shared;

pub(crate) use device::{attach, detach, load, use_device_on};
pub(crate) use records::{Outcome, decrypted_before};
pub use safety::safety_number;
pub(crate) use send::{Prepared, prepare, sent_view};
pub(crate) use worker::{catch_up, run};

/// An encrypted item this device cannot show as a message, and why: shown as a
/// placeholder, never as text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Undecryptable {
    /// The room.
    pub room_id: RoomId,
    /// The item's place in the room.
    pub seq: Seq,
    /// Who the server says sent it.
    pub sender: UserInfo,
    /// The device the server says sent it.
    pub device_id: Option<DeviceId>,
    /// When the server stored it.
    pub sent_at: TimestampMs,
    /// Why it cannot be read.
    pub reason: UndecryptableReason,
}

/// Why an encrypted item cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UndecryptableReason {
    /// Sent before this device joined the room's group: by design it has no keys for it.
    BeforeJoined,
    /// This device has not joined the room's group yet (its Welcome has not come); it is
    /// read once the keys arrive.
    WaitingForKeys,
    /// The item failed authentication: changed bytes, a forged sender, or not a message of
    /// this group.
    Tampered,
    /// A copy of an item already read.
    Replayed,
    /// This device was removed from the room's group.
    Removed,
    /// Anything else (this device fell out of step with the group, an unknown format).
    NotDecryptable,
}

impl UndecryptableReason {
    /// A short sentence for a placeholder.
    pub fn describe(self) -> &'static str {
        match self {
            UndecryptableReason::BeforeJoined => "sent before this device joined",
            UndecryptableReason::WaitingForKeys => "waiting for keys",
            UndecryptableReason::Tampered => "damaged or tampered",
            UndecryptableReason::Replayed => "a replayed copy of an earlier message",
            UndecryptableReason::Removed => "sent after this device was removed",
            UndecryptableReason::NotDecryptable => "could not be decrypted",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            UndecryptableReason::BeforeJoined => 1,
            UndecryptableReason::WaitingForKeys => 2,
            UndecryptableReason::Tampered => 3,
            UndecryptableReason::Replayed => 4,
            UndecryptableReason::Removed => 5,
            UndecryptableReason::NotDecryptable => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Self {
        match code {
            1 => UndecryptableReason::BeforeJoined,
            2 => UndecryptableReason::WaitingForKeys,
            3 => UndecryptableReason::Tampered,
            4 => UndecryptableReason::Replayed,
            5 => UndecryptableReason::Removed,
            _ => UndecryptableReason::NotDecryptable,
        }
    }
}

impl Undecryptable {
    pub(crate) fn of(item: &Message, reason: UndecryptableReason) -> Self {
        Undecryptable {
            room_id: item.room_id,
            seq: item.seq,
            sender: item.sender.clone(),
            device_id: item.device_id,
            sent_at: item.sent_at,
            reason,
        }
    }
}

/// The MLS state's store: the local store's key-value area, or memory.
pub(crate) type BoxStore = Box<dyn Store + Send>;

/// The device of the logged-in user.
pub(crate) struct Device {
    pub machine: Machine<BoxStore>,
    /// Whether its state survives the run (kept in the local store).
    pub persistent: bool,
}

/// What the worker is asked to do.
pub(crate) enum Input {
    /// An item of an encrypted room, as the sequencer delivered it (in `seq` order).
    Item(Message),
    /// A Welcome for one of the user's devices.
    Welcome(Welcome),
    /// The device is in use on a new connection: fetch Welcomes, send pending commits,
    /// bring every encrypted room's group in step.
    Connected,
    /// Bring one room's group in step with its members' devices.
    Sync(RoomId),
    /// Bring every encrypted room's group in step (someone's devices changed).
    SyncAll,
    /// The server's pool of this device's key packages runs low.
    KeyPackagesLow,
    /// Process the room's items newer than the group's position (a send was stale), then
    /// answer.
    CatchUp(RoomId, oneshot::Sender<()>),
    /// Answer once everything asked before is done (before shutting down, so a group
    /// the server let this device create is made, and a commit in flight settles).
    Flush(oneshot::Sender<()>),
    /// The user logged out: forget what waits.
    Reset,
}

impl Input {
    /// The input's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Item(_) => "item",
            Input::Welcome(_) => "welcome",
            Input::Connected => "connected",
            Input::Sync(_) => "sync",
            Input::SyncAll => "sync_all",
            Input::KeyPackagesLow => "key_packages_low",
            Input::CatchUp(..) => "catch_up",
            Input::Flush(_) => "flush",
            Input::Reset => "reset",
        }
    }
}

/// The end-to-end encryption state every part of the client shares.
pub(crate) struct E2ee {
    pub device: Mutex<Option<Device>>,
    /// Rooms known to be encrypted.
    pub encrypted: Mutex<HashSet<RoomId>>,
    pub inputs: mpsc::UnboundedSender<Input>,
    input_rx: Mutex<Option<mpsc::UnboundedReceiver<Input>>>,
    /// The connection on which the device is in use (its address), if any.
    ready_on: Mutex<Option<usize>>,
    /// Held while items of a room are processed: the worker and history pages take turns.
    pub processing: tokio::sync::Mutex<()>,
    /// Decrypted texts and unreadable items when there is no local store.
    pub memory: Mutex<records::Memory>,
    /// Rooms whose membership changed and whose group was not brought in step since:
    /// sending there waits, so a message is encrypted for the new members too.
    pub out_of_step: Mutex<HashSet<RoomId>>,
    /// Why the device could not be loaded or put in use, until it is: messages for
    /// encrypted rooms are refused with it rather than held up.
    pub unavailable: Mutex<Option<crate::error::ClientError>>,
}

impl Default for E2ee {
    fn default() -> Self {
        let (inputs, rx) = mpsc::unbounded_channel();
        E2ee {
            device: Mutex::new(None),
            encrypted: Mutex::new(HashSet::new()),
            inputs,
            input_rx: Mutex::new(Some(rx)),
            ready_on: Mutex::new(None),
            processing: tokio::sync::Mutex::new(()),
            memory: Mutex::new(records::Memory::default()),
            out_of_step: Mutex::new(HashSet::new()),
            unavailable: Mutex::new(None),
        }
    }
}

impl E2ee {
    /// The worker's input queue, taken once when the worker starts.
    pub fn take_inputs(&self) -> Option<mpsc::UnboundedReceiver<Input>> {
        lock(&self.input_rx).take()
    }

    pub fn push(&self, input: Input) {
        let _ = self.inputs.send(input);
    }

    /// Notes that `room` is encrypted; true if it was not known before.
    pub fn mark_encrypted(&self, room: RoomId) -> bool {
        lock(&self.encrypted).insert(room)
    }

    pub fn is_encrypted(&self, room: RoomId) -> bool {
        lock(&self.encrypted).contains(&room)
    }

    pub fn encrypted_rooms(&self) -> Vec<RoomId> {
        let mut rooms: Vec<RoomId> = lock(&self.encrypted).iter().copied().collect();
        rooms.sort();
        rooms
    }

    /// Whether an item the sequencer delivered goes through the worker (every item of an
    /// encrypted room, so notices keep their order among the decrypted messages).
    pub fn routes(&self, item: &Message) -> bool {
        if matches!(item.content, Content::Mls { .. } | Content::MlsCommit { .. }) {
            self.mark_encrypted(item.room_id);
            return true;
        }
        self.is_encrypted(item.room_id)
    }

    /// Runs `f` on the machine, if there is a device.
    pub fn with_machine<T>(&self, f: impl FnOnce(&mut Machine<BoxStore>) -> T) -> Option<T> {
        lock(&self.device).as_mut().map(|d| f(&mut d.machine))
    }

    pub fn device_id(&self) -> Option<DeviceId> {
        self.with_machine(|m| m.device_id()).flatten()
    }

    pub fn set_ready(&self, conn: Option<&Arc<Conn>>) {
        *lock(&self.ready_on) = conn.map(|c| Arc::as_ptr(c) as usize);
    }

    /// Whether the device is in use on `conn`.
    pub fn ready_on(&self, conn: &Arc<Conn>) -> bool {
        *lock(&self.ready_on) == Some(Arc::as_ptr(conn) as usize)
    }

    /// The position the sequencer starts an encrypted room at: where the group's
    /// processing stands, so what came while this device was away is processed (and shown)
    /// in order; `head` for a room without a group.
    pub fn start_position(&self, room: RoomId, head: Seq) -> Seq {
        self.with_machine(|m| {
            if m.has_group(room) {
                m.last_seq(room).map_or(head, |last| last.min(head))
            } else {
                head
            }
        })
        .unwrap_or(head)
    }

    /// Waits (at most `within`) until the worker has done what it was asked so far.
    pub async fn flush(&self, within: std::time::Duration) {
        let (done, finished) = oneshot::channel();
        self.push(Input::Flush(done));
        let _ = tokio::time::timeout(within, finished).await;
    }

    /// Forgets everything of the logged-out user.
    pub fn clear(&self) {
        lock(&self.device).take();
        lock(&self.encrypted).clear();
        self.set_ready(None);
        *lock(&self.memory) = records::Memory::default();
        lock(&self.out_of_step).clear();
        lock(&self.unavailable).take();
        self.push(Input::Reset);
    }
}

/// A room's group as this device has it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoomEncryption {
    /// The group's epoch on this device.
    pub epoch: u64,
    /// The devices in the group, this one included.
    pub devices: Vec<chat_e2ee::GroupDevice>,
}

/// Publishes an unreadable item to the application.
pub(crate) fn publish_undecryptable(shared: &Shared, item: Undecryptable) {
    shared
        .hub
        .publish(crate::events::ClientEvent::Undecryptable(item));
}

/// An encrypted room's last message as this device decrypted it, so that chat lists preview
/// the text (as the server's list only has ciphertext). Left as it is when this device did
/// not decrypt it (yet), or could not.
pub(crate) fn readable_last_message(shared: &Shared, summary: &mut chat_proto::RoomSummary) {
    let Some(last) = summary.last_message.as_ref().filter(|m| m.mls().is_some()) else {
        return;
    };
    if let Ok(Some(Outcome::Decrypted(message))) = records::get(shared, summary.room.id, last.seq) {
        summary.last_message = Some(message);
    }
}

/// A server page of an encrypted room as the application sees it: decrypted messages and
/// notices, commits left out, unreadable items listed apart. Items newer than the group's
/// position are processed first.
pub(crate) async fn decrypt_page(shared: &Arc<Shared>, page: crate::HistoryPage) -> crate::HistoryPage {
    let room = page.room_id;
    let newest = page
        .messages
        .iter()
        .filter(|m| m.mls().is_some())
        .map(|m| m.seq)
        .max();
    let _turn = shared.e2ee.processing.lock().await;
    if let Some(newest) = newest {
        let behind = shared
            .e2ee
            .with_machine(|m| m.has_group(room) && m.last_seq(room).unwrap_or(0) < newest)
            .unwrap_or(false);
        if behind && let Err(error) = catch_up(shared, room, Some(newest)).await {
            tracing::debug!(%error, %room, "cannot process the page's newer items");
        }
    }
    let (has_group, last) = shared
        .e2ee
        .with_machine(|m| (m.has_group(room), m.last_seq(room).unwrap_or(0)))
        .unwrap_or((false, 0));
    let mut messages = Vec::with_capacity(page.messages.len());
    let mut undecryptable = Vec::new();
    for item in page.messages {
        match &item.content {
            Content::MlsCommit { .. } => {}
            Content::Mls { .. } => match records::get(shared, room, item.seq) {
                Ok(Some(Outcome::Decrypted(message))) => messages.push(message),
                Ok(Some(Outcome::Failed(reason))) => undecryptable.push(Undecryptable::of(&item, reason)),
                Ok(None) => {
                    let reason = if !has_group || item.seq > last {
                        UndecryptableReason::WaitingForKeys
                    } else {
                        UndecryptableReason::BeforeJoined
                    };
                    undecryptable.push(Undecryptable::of(&item, reason));
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read a kept message");
                    undecryptable.push(Undecryptable::of(&item, UndecryptableReason::NotDecryptable));
                }
            },
            _ => messages.push(item),
        }
    }
    crate::HistoryPage {
        room_id: room,
        messages,
        has_more: page.has_more,
        undecryptable,
    }
}
