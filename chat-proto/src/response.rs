//! Successful responses. Each is tagged by `type` inside the frame's `result`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::e2ee::{ClaimedKeyPackage, Device, Welcome};
use crate::ids::{RoomId, UserId};
use crate::model::{Member, Message, Room, RoomSummary, SessionInfo};
use crate::rooms::{Ban, Invitation, InviteLink};

/// The result of a successful request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// `session`: answer to `register`, `login` and `resume_session`.
    Session(SessionInfo),
    /// `ok`: answer to requests that return nothing (`logout`, `leave_room`, `mark_read`,
    /// `typing`, `invite`, `decline_invitation`, `revoke_invite_link`, `remove_member`,
    /// `ban`, `unban`, `set_role`, `transfer_ownership`).
    Ok,
    /// `pong`: answer to `ping`.
    Pong,
    /// `room`: answer to `create_room`, `join_room`, `join_by_link`, `update_room` and
    /// `open_direct`.
    Room {
        /// The room.
        room: Room,
    },
    /// `rooms`: answer to `list_rooms`, newest activity first.
    Rooms {
        /// The caller's rooms.
        rooms: Vec<RoomSummary>,
    },
    /// `members`: answer to `list_members`.
    Members {
        /// The room.
        room_id: RoomId,
        /// Its members.
        members: Vec<Member>,
    },
    /// `message`: answer to `send_message`, the stored message.
    Message {
        /// The stored message (the first one stored, on a retry).
        message: Message,
    },
    /// `messages`: answer to `history`, ascending by `seq`.
    Messages {
        /// The room.
        room_id: RoomId,
        /// The page.
        messages: Vec<Message>,
        /// Whether more messages exist beyond this page in the direction asked.
        has_more: bool,
    },
    /// `resumed`: answer to `resume_room`, ascending by `seq`.
    Resumed {
        /// The room.
        room_id: RoomId,
        /// Messages after the client's `after_seq`.
        messages: Vec<Message>,
        /// False when the gap was larger than one page: ask again from the last `seq`.
        complete: bool,
    },
    /// `resumed_rooms`: answer to `resume_rooms`, rooms in the order asked.
    ResumedRooms {
        /// Each room the caller can read, with what it missed.
        rooms: Vec<crate::resume::ResumedRoom>,
        /// The rooms named that the caller cannot read: not (or no longer) a member, or no
        /// such room. Stop tracking them.
        unreadable: Vec<RoomId>,
    },
    /// `invitations`: answer to `list_invitations`, newest first.
    Invitations {
        /// The invitations waiting for an answer.
        invitations: Vec<Invitation>,
    },
    /// `invite_link`: answer to `create_invite_link`, with the link's token.
    InviteLink {
        /// The new link.
        link: InviteLink,
    },
    /// `invite_links`: answer to `list_invite_links`, newest first, without tokens.
    InviteLinks {
        /// The room.
        room_id: RoomId,
        /// Its links, revoked and expired ones included.
        links: Vec<InviteLink>,
    },
    /// `bans`: answer to `list_bans`.
    Bans {
        /// The room.
        room_id: RoomId,
        /// Its bans.
        bans: Vec<Ban>,
    },
    /// `device`: answer to `register_device` and `use_device`.
    Device {
        /// The device.
        device: Device,
    },
    /// `devices`: answer to `list_devices`.
    Devices {
        /// Whose devices.
        user_id: UserId,
        /// The devices, oldest first.
        devices: Vec<Device>,
    },
    /// `key_package_count`: answer to `upload_key_packages`.
    KeyPackageCount {
        /// One-time key packages of the device left on the server.
        remaining: u32,
    },
    /// `key_packages`: answer to `claim_key_packages` (devices with none left and no
    /// last-resort one are missing).
    KeyPackages {
        /// The room.
        room_id: RoomId,
        /// One per device that had one.
        key_packages: Vec<ClaimedKeyPackage>,
    },
    /// `room_devices`: answer to `room_devices`.
    RoomDevices {
        /// The room.
        room_id: RoomId,
        /// Every device of the room's members.
        devices: Vec<Device>,
    },
    /// `welcomes`: answer to `list_welcomes`, oldest first.
    Welcomes {
        /// The Welcome messages waiting for the device.
        welcomes: Vec<Welcome>,
    },
    /// `public_rooms`: answer to `list_public_rooms`, most members first.
    PublicRooms {
        /// One page of public rooms.
        rooms: Vec<Room>,
        /// Give this as `after` to get the next page; absent on the last page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
}
