//! What the store keeps for end-to-end encryption: devices with their public signature
//! keys, their key packages, Welcome messages waiting for a device, and MLS items to append
//! to a room's timeline under the room's epoch.
//!
//! The store is the delivery service's memory: it never holds a private key or anything it
//! could decrypt. It orders MLS items like messages and keeps one rule of MLS itself: a
//! commit or an application message is stored only if it is for the room's current epoch,
//! and a commit moves the room to the next epoch in the same transaction, so the group
//! never forks.

use chat_proto::{ClientMsgId, DeviceId, RoomId, UserId, UserInfo, Visibility};

use super::records::{Millis, StoredMessage};

/// A device as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device's id.
    pub id: DeviceId,
    /// Whose device it is.
    pub user: UserInfo,
    /// Its name for people.
    pub name: String,
    /// Its public signature key.
    pub signature_key: Vec<u8>,
    /// When it was registered.
    pub created_at: Millis,
    /// When it was last connected.
    pub last_seen_at: Millis,
}

/// An MLS item to append to an encrypted room's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMlsItem {
    /// The room.
    pub room_id: RoomId,
    /// The sender (a member).
    pub sender_id: UserId,
    /// The sender's device.
    pub device_id: DeviceId,
    /// The sender's idempotency key.
    pub client_msg_id: ClientMsgId,
    /// The MLS message as the client made it.
    pub bytes: Vec<u8>,
    /// Whether it is a commit (moves the room to the next epoch).
    pub commit: bool,
    /// The epoch the message is for, read from its framing.
    pub epoch: u64,
    /// For a commit that adds devices: the Welcome and the devices it is for.
    pub welcome: Option<(Vec<u8>, Vec<DeviceId>)>,
    /// The server time.
    pub sent_at: Millis,
}

/// What [`crate::store::Store::append_mls`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MlsOutcome {
    /// Stored now with the next sequence number.
    Inserted(StoredMessage),
    /// The sender had already stored an item with this client message id: that item.
    Existing(StoredMessage),
    /// The sender is not a member: nothing stored (the room's visibility, to answer as a
    /// missing room when private).
    NotMember(Visibility),
    /// The room is not encrypted, or its group was not created yet.
    NoGroup {
        /// Whether the room is encrypted at all.
        encrypted: bool,
    },
    /// The item is for another epoch than the room's current one: nothing stored.
    StaleEpoch {
        /// The room's current epoch.
        current: u64,
    },
    /// A device named by the Welcome does not belong to a member of the room.
    NotAMemberDevice(DeviceId),
}

/// A Welcome waiting for a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WelcomeRecord {
    /// Its id.
    pub id: u64,
    /// The room.
    pub room_id: RoomId,
    /// The device.
    pub device_id: DeviceId,
    /// The commit that added the device.
    pub seq: u64,
    /// The MLS Welcome.
    pub bytes: Vec<u8>,
}

/// A key package handed out by a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedKeyPackageRecord {
    /// Whose.
    pub device_id: DeviceId,
    /// The MLS KeyPackage.
    pub bytes: Vec<u8>,
    /// The device's one-time key packages left after this claim.
    pub remaining: u32,
}
