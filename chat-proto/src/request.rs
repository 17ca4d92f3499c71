//! Requests a client sends. Each variant's doc names its wire `type` and the response.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::e2ee::{Base64Bytes, DeviceName, OutgoingWelcome};
use crate::ids::{ClientMsgId, DeviceId, InviteLinkId, RequestId, RoomId, Seq, UserId};
use crate::names::{InviteToken, MessageBody, Password, RoomName, RoomTopic, SessionToken, Username};
use crate::rooms::{Role, Visibility};

/// A request as it appears on the wire: a client-chosen `id` and the typed request, whose
/// fields sit beside `id` and `type` in one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFrame {
    /// Correlates the response with this request.
    pub id: RequestId,
    /// The request, tagged by `type`.
    #[serde(flatten)]
    pub request: Request,
}

/// Every request of this protocol version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// `register`: create an account and log in. Response: `session`.
    Register {
        /// The new account's username.
        username: Username,
        /// Its password.
        password: Password,
    },
    /// `login`: authenticate this connection. Response: `session`.
    Login {
        /// The username (any case).
        username: Username,
        /// The password.
        password: Password,
    },
    /// `resume_session`: authenticate this connection with a token from an earlier login,
    /// without the password. Response: `session`, with the same token.
    ResumeSession {
        /// The session token.
        token: SessionToken,
    },
    /// `logout`: revoke this connection's session token. Response: `ok`.
    Logout,
    /// `create_room`: create a group room; the caller becomes its owner.
    /// Response: `room`.
    CreateRoom {
        /// The room's name.
        name: RoomName,
        /// Private (the default) or public; fixed for the room's life.
        #[serde(default)]
        visibility: Visibility,
        /// An optional topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<RoomTopic>,
        /// End-to-end encrypted; by default a private room is and a public room is not (a
        /// public room cannot be).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted: Option<bool>,
    },
    /// `list_rooms`: the caller's rooms with last message and unread count.
    /// Response: `rooms`.
    ListRooms,
    /// `join_room`: become a member of a public room, or of a private room one is invited
    /// to (accepting the invitation). Joining twice is not an error. Response: `room`.
    JoinRoom {
        /// The room to join.
        room_id: RoomId,
    },
    /// `leave_room`: stop being a member. Response: `ok`.
    LeaveRoom {
        /// The room to leave.
        room_id: RoomId,
    },
    /// `list_members`: a room's members with their online state. Response: `members`.
    ListMembers {
        /// The room.
        room_id: RoomId,
    },
    /// `open_direct`: get or create the direct chat with another user. Response: `room`.
    OpenDirect {
        /// The other user's username (any case).
        username: Username,
    },
    /// `send_message`: store a message and deliver it to the room's members.
    /// Response: `message`. Sending the same `client_msg_id` again returns the message
    /// stored the first time and stores nothing.
    SendMessage {
        /// The room.
        room_id: RoomId,
        /// The idempotency key.
        client_msg_id: ClientMsgId,
        /// The text.
        body: MessageBody,
    },
    /// `history`: one page of a room's messages, in ascending `seq` order.
    /// With `before_seq`, the page ends just before it (paging backwards); with `after_seq`,
    /// it starts just after it (paging forwards); with neither, the newest page.
    /// Response: `messages`.
    History {
        /// The room.
        room_id: RoomId,
        /// Page backwards from here (exclusive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_seq: Option<Seq>,
        /// Page forwards from here (exclusive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_seq: Option<Seq>,
        /// Page size, 1 to 200.
        limit: u32,
    },
    /// `resume_room`: everything after `after_seq`, in order, up to the server's page limit.
    /// Response: `resumed`; when its `complete` is false, ask again from the last `seq`.
    ResumeRoom {
        /// The room.
        room_id: RoomId,
        /// The last sequence number the client has (0 for none).
        after_seq: Seq,
    },
    /// `resume_rooms`: after a reconnect, everything each named room holds after the
    /// client's `after_seq` in it, in one answer bounded per room (`limit`), in items
    /// overall and in bytes. Response: `resumed_rooms`; rooms whose `complete` is false
    /// continue with `resume_room`.
    ResumeRooms {
        /// Where the client stands in each room: 1 to 1,000 rooms, each named once.
        rooms: Vec<crate::resume::ResumePoint>,
        /// Most items per room, 1 to the server's `max_page_size` (default 50).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// `mark_read`: move the caller's read marker forward. Response: `ok`.
    MarkRead {
        /// The room.
        room_id: RoomId,
        /// The highest sequence number read.
        seq: Seq,
    },
    /// `typing`: tell the room's other members the caller is typing. Never stored.
    /// Response: `ok`.
    Typing {
        /// The room.
        room_id: RoomId,
    },
    /// `update_room`: rename a group room or set its topic (owner and admins).
    /// Response: `room`.
    UpdateRoom {
        /// The room.
        room_id: RoomId,
        /// The new name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<RoomName>,
        /// The new topic (empty clears it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<RoomTopic>,
    },
    /// `invite`: invite a user to a group room by username (owner and admins).
    /// Response: `ok`.
    Invite {
        /// The room.
        room_id: RoomId,
        /// Who to invite (any case).
        username: Username,
    },
    /// `list_invitations`: the invitations waiting for the caller's answer.
    /// Response: `invitations`.
    ListInvitations,
    /// `decline_invitation`: turn an invitation down. Response: `ok`. (Accepting is
    /// `join_room`.)
    DeclineInvitation {
        /// The room of the invitation.
        room_id: RoomId,
    },
    /// `create_invite_link`: make a link that lets whoever holds it join (owner and
    /// admins). Response: `invite_link`, the only time its token is shown.
    CreateInviteLink {
        /// The room.
        room_id: RoomId,
        /// Seconds until the link stops working; none for a link that does not expire.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_in_secs: Option<u64>,
        /// How many joins the link allows; none for no limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_uses: Option<u32>,
    },
    /// `list_invite_links`: a room's invite links, without their tokens (owner and admins).
    /// Response: `invite_links`.
    ListInviteLinks {
        /// The room.
        room_id: RoomId,
    },
    /// `revoke_invite_link`: stop a link from working (owner and admins). Response: `ok`.
    RevokeInviteLink {
        /// The room.
        room_id: RoomId,
        /// The link.
        link_id: InviteLinkId,
    },
    /// `join_by_link`: join the room of an invite link. Response: `room`.
    JoinByLink {
        /// The link's token.
        token: InviteToken,
    },
    /// `remove_member`: remove a member from a group room (owner and admins, over members
    /// of a lower role). Response: `ok`.
    RemoveMember {
        /// The room.
        room_id: RoomId,
        /// Who to remove.
        user_id: UserId,
    },
    /// `ban`: remove a user and keep them out until unbanned (owner and admins, over users
    /// of a lower role). Response: `ok`.
    Ban {
        /// The room.
        room_id: RoomId,
        /// Who to ban (a member or not).
        user_id: UserId,
    },
    /// `unban`: lift a ban (owner and admins). Response: `ok`.
    Unban {
        /// The room.
        room_id: RoomId,
        /// Whose ban to lift.
        user_id: UserId,
    },
    /// `list_bans`: a room's bans (owner and admins). Response: `bans`.
    ListBans {
        /// The room.
        room_id: RoomId,
    },
    /// `set_role`: make a member an admin or a member again (owner only).
    /// Response: `ok`.
    SetRole {
        /// The room.
        room_id: RoomId,
        /// The member.
        user_id: UserId,
        /// `admin` or `member`.
        role: Role,
    },
    /// `transfer_ownership`: make another member the owner; the caller becomes an admin
    /// (owner only). Response: `ok`.
    TransferOwnership {
        /// The room.
        room_id: RoomId,
        /// The new owner.
        user_id: UserId,
    },
    /// `list_public_rooms`: page through the directory of public rooms, most members first,
    /// optionally only those whose name contains `query` (ignoring case).
    /// Response: `public_rooms`.
    ListPublicRooms {
        /// Text the room name must contain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// The `next` of the previous page, to continue from there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// Page size, 1 to 200.
        limit: u32,
    },
    /// `register_device`: register this installation as a device of the user (by its public
    /// signature key; registering the same key again gives the same device) and use it on
    /// this connection. Response: `device`.
    RegisterDevice {
        /// The device's name for people.
        name: DeviceName,
        /// Its public Ed25519 signature key.
        signature_key: Base64Bytes,
    },
    /// `use_device`: say which of the user's devices this connection is (after a reconnect).
    /// Response: `device`.
    UseDevice {
        /// The device.
        device_id: DeviceId,
    },
    /// `list_devices`: a user's devices (oneself, or someone one shares a room with).
    /// Response: `devices`.
    ListDevices {
        /// The user.
        user_id: UserId,
    },
    /// `remove_device`: remove one of the user's own devices (it leaves every encrypted
    /// room). Response: `ok`.
    RemoveDevice {
        /// The device.
        device_id: DeviceId,
    },
    /// `upload_key_packages`: add one-time key packages (and optionally replace the
    /// last-resort one) of this connection's device. Response: `key_package_count`.
    UploadKeyPackages {
        /// One-time MLS `KeyPackage` messages (up to 100 per request).
        key_packages: Vec<Base64Bytes>,
        /// The last-resort key package, handed out when the one-time ones run out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_resort: Option<Base64Bytes>,
    },
    /// `claim_key_packages`: one key package of each given device of the room's members,
    /// for adding them to the room's group. Response: `key_packages`.
    ClaimKeyPackages {
        /// The room.
        room_id: RoomId,
        /// The devices (of the room's members).
        device_ids: Vec<DeviceId>,
    },
    /// `room_devices`: every device of the room's members. Response: `room_devices`.
    RoomDevices {
        /// The room.
        room_id: RoomId,
    },
    /// `create_group`: claim the creation of an encrypted room's MLS group for this
    /// connection's device (once per room: `group_exists` afterwards). Response: `ok`.
    CreateGroup {
        /// The room.
        room_id: RoomId,
    },
    /// `send_mls`: store and deliver an MLS message of this connection's device in an
    /// encrypted room: an application message, or a commit with the Welcome for the
    /// devices it adds. Response: `message`.
    SendMls {
        /// The room.
        room_id: RoomId,
        /// The idempotency key.
        client_msg_id: ClientMsgId,
        /// The MLS message.
        mls: Base64Bytes,
        /// For a commit that adds devices: their Welcome.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        welcome: Option<OutgoingWelcome>,
    },
    /// `list_welcomes`: the Welcome messages waiting for this connection's device.
    /// Response: `welcomes`.
    ListWelcomes,
    /// `ack_welcome`: a Welcome was processed; the server forgets it. Response: `ok`.
    AckWelcome {
        /// The welcome's id.
        welcome_id: u64,
    },
    /// `ping`: an application-level liveness check. Response: `pong`.
    Ping,
}

impl Request {
    /// The wire `type` of this request.
    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Login { .. } => "login",
            Request::ResumeSession { .. } => "resume_session",
            Request::Logout => "logout",
            Request::CreateRoom { .. } => "create_room",
            Request::ListRooms => "list_rooms",
            Request::JoinRoom { .. } => "join_room",
            Request::LeaveRoom { .. } => "leave_room",
            Request::ListMembers { .. } => "list_members",
            Request::OpenDirect { .. } => "open_direct",
            Request::SendMessage { .. } => "send_message",
            Request::History { .. } => "history",
            Request::ResumeRoom { .. } => "resume_room",
            Request::ResumeRooms { .. } => "resume_rooms",
            Request::MarkRead { .. } => "mark_read",
            Request::Typing { .. } => "typing",
            Request::UpdateRoom { .. } => "update_room",
            Request::Invite { .. } => "invite",
            Request::ListInvitations => "list_invitations",
            Request::DeclineInvitation { .. } => "decline_invitation",
            Request::CreateInviteLink { .. } => "create_invite_link",
            Request::ListInviteLinks { .. } => "list_invite_links",
            Request::RevokeInviteLink { .. } => "revoke_invite_link",
            Request::JoinByLink { .. } => "join_by_link",
            Request::RemoveMember { .. } => "remove_member",
            Request::Ban { .. } => "ban",
            Request::Unban { .. } => "unban",
            Request::ListBans { .. } => "list_bans",
            Request::SetRole { .. } => "set_role",
            Request::TransferOwnership { .. } => "transfer_ownership",
            Request::ListPublicRooms { .. } => "list_public_rooms",
            Request::RegisterDevice { .. } => "register_device",
            Request::UseDevice { .. } => "use_device",
            Request::ListDevices { .. } => "list_devices",
            Request::RemoveDevice { .. } => "remove_device",
            Request::UploadKeyPackages { .. } => "upload_key_packages",
            Request::ClaimKeyPackages { .. } => "claim_key_packages",
            Request::RoomDevices { .. } => "room_devices",
            Request::CreateGroup { .. } => "create_group",
            Request::SendMls { .. } => "send_mls",
            Request::ListWelcomes => "list_welcomes",
            Request::AckWelcome { .. } => "ack_welcome",
            Request::Ping => "ping",
        }
    }

    /// Every wire `type` of this protocol version.
    pub const TYPES: &'static [&'static str] = &[
        "register",
        "login",
        "resume_session",
        "logout",
        "create_room",
        "list_rooms",
        "join_room",
        "leave_room",
        "list_members",
        "open_direct",
        "send_message",
        "history",
        "resume_room",
        "resume_rooms",
        "mark_read",
        "typing",
        "update_room",
        "invite",
        "list_invitations",
        "decline_invitation",
        "create_invite_link",
        "list_invite_links",
        "revoke_invite_link",
        "join_by_link",
        "remove_member",
        "ban",
        "unban",
        "list_bans",
        "set_role",
        "transfer_ownership",
        "list_public_rooms",
        "register_device",
        "use_device",
        "list_devices",
        "remove_device",
        "upload_key_packages",
        "claim_key_packages",
        "room_devices",
        "create_group",
        "send_mls",
        "list_welcomes",
        "ack_welcome",
        "ping",
    ];

    /// Whether the request may be sent before authenticating.
    pub fn allowed_unauthenticated(&self) -> bool {
        matches!(
            self,
            Request::Register { .. } | Request::Login { .. } | Request::ResumeSession { .. } | Request::Ping
        )
    }
}
