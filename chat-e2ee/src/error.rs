//! What can go wrong, as one enum: each variant names what happened so the caller can
//! decide (show "could not decrypt", process what it missed and retry, plan again, ...).

use chat_proto::RoomId;

use crate::store::StoreError;

/// Why the machine refused an input or an operation.
///
/// Every failed operation leaves the machine as it was before the call (memory and store),
/// except [`process`](crate::Machine::process), which also marks the item's `seq` as
/// processed: a bad item is skipped once and the next good one still works.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum E2eeError {
    /// This device has no group for the room (never joined, or forgot it).
    #[error("no encrypted group for room {room} on this device")]
    UnknownGroup {
        /// The room asked about.
        room: RoomId,
    },
    /// A group for the room already exists on this device.
    #[error("this device already has a group for room {room}")]
    GroupExists {
        /// The room asked about.
        room: RoomId,
    },
    /// This device was removed from the room's group; it can no longer read or send there
    /// until it is added again (a new Welcome).
    #[error("this device was removed from the group of room {room}")]
    Removed {
        /// The room.
        room: RoomId,
    },
    /// The item belongs to another group than the room it was given for.
    #[error("the item belongs to another group than room {room}")]
    WrongGroup {
        /// The room the item was given for.
        room: RoomId,
    },
    /// An application message this device cannot decrypt: sent in an epoch it does not have
    /// (before it joined, after it fell out of step), or its own message it no longer holds.
    #[error("cannot decrypt: {reason}")]
    NotDecryptable {
        /// Why, for logs.
        reason: String,
    },
    /// The item failed authentication: changed bytes, a bad signature or tag, or a sender
    /// that is not a member.
    #[error("the item failed authentication: {reason}")]
    Tampered {
        /// Which check failed, for logs.
        reason: String,
    },
    /// The item was already processed: a `seq` at or below the last one processed, or a
    /// message whose key was already used.
    #[error("the item was already processed")]
    Replayed,
    /// A handshake message (commit or proposal) for another epoch than the group's: the
    /// server orders commits, so this one lost or is a copy; it is skipped.
    #[error("a commit for epoch {message_epoch} while the group is at epoch {group_epoch}")]
    StaleEpoch {
        /// The epoch the commit was made in.
        message_epoch: u64,
        /// The group's current epoch on this device.
        group_epoch: u64,
    },
    /// Bytes that are not the kind of MLS message expected here.
    #[error("malformed input: {reason}")]
    Malformed {
        /// What was wrong, for logs.
        reason: String,
    },
    /// A message from a member that decrypted but does not hold a padded text this
    /// version understands.
    #[error("the decrypted message is not a valid padded text: {reason}")]
    BadPayload {
        /// What was wrong, for logs.
        reason: String,
    },
    /// A valid MLS message of a kind this machine does not use (standalone proposals,
    /// external joins).
    #[error("unsupported message: {what}")]
    Unsupported {
        /// The kind of message.
        what: &'static str,
    },
    /// A commit that adds a member whose credential does not name a user as this system
    /// does (`user:<id>`); it is refused so every member keeps knowing who is who.
    #[error("a member credential does not name a user: {reason}")]
    InvalidMember {
        /// What was wrong, for logs.
        reason: String,
    },
    /// This device's own commit for the room awaits the server's answer: nothing else can
    /// be sent or committed until it is merged (it came back in the timeline) or refused.
    #[error("a commit of this device for room {room} awaits the server's answer")]
    CommitPending {
        /// The room.
        room: RoomId,
    },
    /// There is nothing to commit (every add is already a member, every remove is gone).
    #[error("nothing to commit")]
    NothingToCommit,
    /// A claimed key package that is invalid or not the device it was claimed for.
    #[error("key package for device {device}: {reason}")]
    InvalidKeyPackage {
        /// The device the key package was claimed for.
        device: chat_proto::DeviceId,
        /// What was wrong.
        reason: String,
    },
    /// The Welcome was made for none of this device's unused key packages (already used,
    /// or meant for another device).
    #[error("the Welcome matches none of this device's unused key packages")]
    NoMatchingKeyPackage,
    /// The room's current devices (as the server lists them) do not include this device:
    /// it must not commit for the room.
    #[error("this device is not among the room's devices")]
    NotInRoom,
    /// The text is longer than [`MAX_TEXT_BYTES`](crate::MAX_TEXT_BYTES).
    #[error("text of {len} bytes is longer than the {max}-byte limit")]
    TextTooLong {
        /// The text's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `create` was given a store that already holds a device.
    #[error("the store already holds a device; load it instead")]
    StoreNotEmpty,
    /// `load` was given a store that holds no device, or whose content is damaged.
    #[error("the store holds no usable device state: {reason}")]
    BadState {
        /// What was missing or damaged.
        reason: String,
    },
    /// The caller's store failed; the operation was undone in memory and can be retried.
    #[error("storage failed: {0}")]
    Storage(#[from] StoreError),
    /// The MLS library failed in a way this machine does not expect (a bug, not an input
    /// problem).
    #[error("MLS library error: {0}")]
    Internal(String),
}

impl E2eeError {
    /// Whether doing the same again may work: only when the store failed (the operation
    /// was undone). Every other error is about the input or the state, and repeats.
    pub fn is_retryable(&self) -> bool {
        matches!(self, E2eeError::Storage(_))
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        E2eeError::Internal(error.to_string())
    }

    pub(crate) fn malformed(reason: impl std::fmt::Display) -> Self {
        E2eeError::Malformed {
            reason: reason.to_string(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = E2eeError> = std::result::Result<T, E>;
