//! Events the server pushes without a request. They carry no request id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::e2ee::Welcome;
use crate::ids::{DeviceId, RoomId};
use crate::model::{Message, ServerLimits, UserInfo};
use crate::rooms::Invitation;

/// A pushed event, tagged by `type` inside the frame's `event`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// `hello`: the first frame on every connection: protocol version and limits.
    Hello {
        /// The protocol version the server speaks.
        protocol: u32,
        /// Server software and version.
        server: String,
        /// The limits in force on this connection.
        limits: ServerLimits,
    },
    /// `message`: a new item in the timeline of one of the user's rooms, a message or a
    /// notice (sent to every device of every member, the sender's other devices included).
    Message {
        /// The stored message.
        message: Message,
    },
    /// `presence`: a user who shares a room with the recipient came online or went offline.
    Presence {
        /// The user.
        user: UserInfo,
        /// Whether they now have at least one live connection.
        online: bool,
    },
    /// `invited`: someone invited the recipient to a room; answer with `join_room` or
    /// `decline_invitation`.
    Invited {
        /// The invitation.
        invitation: Invitation,
    },
    /// `welcome`: a Welcome for one of the user's devices (the device it names joins the
    /// room's group with it; other devices ignore it).
    Welcome {
        /// The Welcome.
        welcome: Welcome,
    },
    /// `key_packages_low`: a device of the user has few one-time key packages left on the
    /// server: that device should upload more.
    KeyPackagesLow {
        /// The device.
        device_id: DeviceId,
        /// How many are left.
        remaining: u32,
    },
    /// `devices_changed`: a user who shares a room with the recipient (or the recipient)
    /// registered or removed a device: fetch their devices again (`list_devices`).
    DevicesChanged {
        /// Whose devices changed.
        user: UserInfo,
    },
    /// `typing`: someone is typing in a room; lasts a few seconds unless repeated.
    Typing {
        /// The room.
        room_id: RoomId,
        /// Who is typing.
        user: UserInfo,
    },
    /// `resync`: the server may have failed to deliver some events to this connection (for
    /// example while its broker link was down); resume every room from its last seq.
    /// Nothing stored was lost: `resume_room` returns whatever was missed.
    Resync,
}
