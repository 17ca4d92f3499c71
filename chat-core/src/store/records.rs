//! The records the store takes and gives back: accounts, sessions, rooms with a user's
//! standing in them, and the items of a room's timeline.

use chat_proto::{
    ClientMsgId, DeviceId, MessageId, Notice, Role, RoomId, RoomKind, Seq, UserId, UserInfo, Visibility,
};

/// Milliseconds since the Unix epoch (what every timestamp column holds).
pub type Millis = i64;

/// The SHA-256 of a secret token (a session or an invite link): the only form in which a
/// token is stored.
pub type TokenHash = [u8; 32];

/// A user account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The account's id and registered username.
    pub user: UserInfo,
    /// The bcrypt hash of the password.
    pub password_hash: String,
    /// When the account was registered.
    pub created_at: Millis,
}

/// A session to store at login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the token handed to the client.
    pub token_hash: TokenHash,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it was created.
    pub created_at: Millis,
    /// When it stops working unless resumed earlier.
    pub expires_at: Millis,
}

/// A live session found by its token hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's user.
    pub user: UserInfo,
    /// The (possibly extended) expiry.
    pub expires_at: Millis,
}

/// A room as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRecord {
    /// The room's id: random for rooms made since rooms became private, so that ids reveal
    /// nothing about other rooms.
    pub id: RoomId,
    /// Group or direct.
    pub kind: RoomKind,
    /// The group name; empty for a direct room (its display name depends on the viewer).
    pub name: String,
    /// The topic; empty for none.
    pub topic: String,
    /// Private or public (direct rooms are private).
    pub visibility: Visibility,
    /// End-to-end encrypted (MLS), fixed at creation.
    pub encrypted: bool,
    /// The epoch of its MLS group; `None` until a device created the group.
    pub mls_epoch: Option<u64>,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: Millis,
    /// The sequence number of its newest timeline item (0 when it has none).
    pub last_seq: Seq,
    /// How many members it has.
    pub member_count: u64,
    /// Counts every change of membership, roles, invitations, bans or settings: a change
    /// decided on one version applies only while the room is still at it
    /// ([`crate::store::RoomChange::expected_version`]).
    pub state_version: u64,
    /// For a direct room, its two users, lower id first (equal for a chat with oneself).
    pub direct: Option<(UserId, UserId)>,
}

/// A room row to insert (either store), under an id the store draws.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RoomRow<'a> {
    /// Group or direct.
    pub kind: RoomKind,
    /// The group name; empty for a direct room.
    pub name: &'a str,
    /// The topic; empty for none.
    pub topic: &'a str,
    /// Private or public.
    pub visibility: Visibility,
    /// End-to-end encrypted.
    pub encrypted: bool,
    /// Who creates it.
    pub created_by: UserId,
    /// When.
    pub now: Millis,
    /// For a direct room, its two users, lower id first.
    pub direct: Option<(UserId, UserId)>,
}

impl RoomRow<'_> {
    /// The storage spelling of the kind.
    pub fn kind_text(&self) -> &'static str {
        match self.kind {
            RoomKind::Group => "group",
            RoomKind::Direct => "direct",
        }
    }
}

/// What a user may do with a room, found with one lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomAccess {
    /// No room has this id.
    NoRoom,
    /// The room exists and the user is not a member.
    NotMember {
        /// The room.
        room: RoomRecord,
        /// Whether an invitation waits for the user.
        invited: bool,
        /// Whether the user is banned from it.
        banned: bool,
    },
    /// The user is a member.
    Member {
        /// The room.
        room: RoomRecord,
        /// The member's role.
        role: Role,
        /// The member's read marker.
        last_read_seq: Seq,
    },
}

impl RoomAccess {
    /// The room, when it exists.
    pub fn room(&self) -> Option<&RoomRecord> {
        match self {
            RoomAccess::NoRoom => None,
            RoomAccess::NotMember { room, .. } | RoomAccess::Member { room, .. } => Some(room),
        }
    }

    /// The user's role, when a member.
    pub fn role(&self) -> Option<Role> {
        match self {
            RoomAccess::Member { role, .. } => Some(*role),
            _ => None,
        }
    }
}

/// A text body sealed with the server's at-rest key `key_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBody {
    /// Which at-rest key encrypted the body.
    pub key_id: u32,
    /// The AEAD nonce.
    pub nonce: Vec<u8>,
    /// The encrypted body with its authentication tag.
    pub ciphertext: Vec<u8>,
}

/// What a timeline item holds, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredBody {
    /// A text message, sealed at rest. Counts toward unread.
    Text(SealedBody),
    /// A notice of a change to the room (membership, roles, settings): metadata the server
    /// needs anyway, stored as it is. Does not count toward unread.
    Notice(Notice),
    /// An MLS message as the client made it: an application message (counts toward unread)
    /// or a commit (does not).
    Mls {
        /// The MLS message.
        bytes: Vec<u8>,
        /// Whether it is a commit.
        commit: bool,
    },
}

impl StoredBody {
    /// Whether the item counts as a message for unread counts.
    pub fn counts_as_unread(&self) -> bool {
        matches!(self, StoredBody::Text(_) | StoredBody::Mls { commit: false, .. })
    }

    /// The `kind` column's value.
    pub fn kind(&self) -> &'static str {
        match self {
            StoredBody::Text(_) => "text",
            StoredBody::Notice(_) => "notice",
            StoredBody::Mls { commit: false, .. } => "mls",
            StoredBody::Mls { commit: true, .. } => "mls_commit",
        }
    }
}

/// A message to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// The room.
    pub room_id: RoomId,
    /// The sender (a member of the room).
    pub sender_id: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: ClientMsgId,
    /// The body, already sealed.
    pub body: SealedBody,
    /// The server time of the send.
    pub sent_at: Millis,
}

/// A stored timeline item (a message or a notice), still sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The item's id.
    pub id: MessageId,
    /// The room.
    pub room_id: RoomId,
    /// Its place in the room.
    pub seq: Seq,
    /// The sender (for a notice: who made the change), with the username as registered.
    pub sender: UserInfo,
    /// The sender's idempotency key (chosen by the server for a notice).
    pub client_msg_id: ClientMsgId,
    /// What it holds.
    pub body: StoredBody,
    /// For an MLS item, the sender's device.
    pub device_id: Option<DeviceId>,
    /// When it was stored.
    pub sent_at: Millis,
}

/// What [`crate::store::Store::insert_message`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The message was stored now, with the next sequence number.
    Inserted(StoredMessage),
    /// The sender had already stored a message with this client message id: that message,
    /// unchanged (possibly in another room; the caller decides what that means).
    Existing(StoredMessage),
    /// The sender is not a member of the room: nothing was stored. (Checked in the same
    /// transaction as the insert, so a send needs no separate membership query.) Carries
    /// the room's visibility, so that a private room can answer as a missing one.
    NotMember(Visibility),
    /// The room is end-to-end encrypted: plain text is not taken (nothing stored).
    RoomEncrypted,
}

/// Which page of a room's history to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageFrom {
    /// The newest messages.
    Latest,
    /// The messages just before this sequence number (exclusive), paging backwards.
    Before(Seq),
    /// The messages just after this sequence number (exclusive), paging forwards.
    After(Seq),
}

/// One page of history, ascending by `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePage {
    /// The messages, ascending by `seq`.
    pub messages: Vec<StoredMessage>,
    /// Whether more messages exist beyond this page in the direction asked (older ones for
    /// `Latest` and `Before`, newer ones for `After`).
    pub has_more: bool,
}

/// A room in a user's chat list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomListing {
    /// The room.
    pub room: RoomRecord,
    /// For a direct room, the other user (the user itself for a chat with oneself).
    pub peer: Option<UserInfo>,
    /// The user's role.
    pub role: Role,
    /// The user's read marker.
    pub last_read_seq: Seq,
    /// How many messages (notices not counted) came after the read marker.
    pub unread: u64,
    /// The newest timeline item, still sealed.
    pub last_message: Option<StoredMessage>,
}
