//! The storage trait: everything the service keeps durably, and the records it reads back.
//!
//! One trait, [`Store`], with one adapter per database: [`sqlite`] for the embedded default
//! (PostgreSQL lives beside it). The trait is async and object-safe so the service holds an
//! `Arc<dyn Store>` and never knows which database it talks to.
//!
//! Design rules every adapter follows (the behavioural test suite checks them):
//! - Identifiers are positive `bigint`s assigned by the database.
//! - Usernames are unique by their canonical (lowercase) form; the registered spelling is kept
//!   for display.
//! - Sessions are stored only as the SHA-256 of the token.
//! - Message bodies arrive already encrypted ([`NewMessage`] carries ciphertext, nonce and
//!   key id): the store never sees a plaintext body.
//! - A room's timeline holds messages and notices of changes to the room; both take the
//!   room's next sequence number (`seq = rooms.last_seq + 1`) in the transaction that
//!   stores them, so sequence numbers are gap-free; with PostgreSQL the row lock taken on
//!   `rooms` serialises concurrent writers on several nodes. [`Store::insert_message`] is
//!   idempotent on `(sender_id, client_msg_id)`.
//! - Room ids are random 63-bit numbers, so an id says nothing about other rooms.
//! - Changes to membership, roles, invitations, bans and settings are decided by the
//!   service and applied by [`Store::change_room`] only if the room did not change
//!   meanwhile (see [`room_control`]).
//! - A method returns only after its change is durable (committed, synced to disk): the
//!   service acknowledges a message only after `insert_message` returned.
//! - Errors say what the caller can do ([`StoreError::is_retryable`]).

use async_trait::async_trait;
use chat_proto::{
    DeviceId, InviteLinkId, ResumePoint, Role, RoomId, RoomName, RoomTopic, Seq, UserId, UserInfo, Username,
    Visibility,
};

pub mod e2ee;
pub mod postgres;
mod records;
pub(crate) mod resume;
pub mod room_control;
pub mod sqlite;

pub use e2ee::{ClaimedKeyPackageRecord, DeviceRecord, MlsOutcome, NewMlsItem, WelcomeRecord};
pub(crate) use records::RoomRow;
pub use records::{
    InsertOutcome, MessagePage, Millis, NewMessage, NewSession, PageFrom, RoomAccess, RoomListing,
    RoomRecord, SealedBody, SessionRecord, StoredBody, StoredMessage, TokenHash, UserRecord,
};
pub use room_control::{
    BanRecord, DirectoryCursor, InvitationRecord, InviteLinkRecord, MemberOp, NewInviteLink, NewNotice,
    RoomChange,
};

/// The outcome of a message queued with [`Store::queue_message`].
pub type QueuedInsert =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<InsertOutcome, StoreError>> + Send + 'static>>;

/// Why a storage operation failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be reached or cannot take the change right now (connection lost,
    /// pool exhausted, locked, disk full, read-only). Nothing was changed; retrying later
    /// makes sense. Maps to the wire code `unavailable`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule refused the change (for example a username that is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the operation needs (a room, a user) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored row cannot be turned back into a record (a value breaks the record's rules).
    /// Not retryable: it needs an operator.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// A random room id: 63 random bits (never 0), so that an id says nothing about other
/// rooms and cannot be guessed from them.
pub(crate) fn random_room_id() -> RoomId {
    loop {
        let value = rand::random::<u64>() & chat_proto::ids::MAX_NUMERIC_ID;
        if let Ok(id) = RoomId::new(value) {
            return id;
        }
    }
}

impl StoreError {
    /// Whether the same operation may succeed if attempted again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// A group room to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGroupRoom {
    /// Its name.
    pub name: RoomName,
    /// Its topic, if any.
    pub topic: Option<RoomTopic>,
    /// Private or public, for good.
    pub visibility: Visibility,
    /// End-to-end encrypted, for good.
    pub encrypted: bool,
    /// The creator, who becomes the owner.
    pub creator: UserId,
    /// The id of the `created` notice.
    pub notice_id: chat_proto::ClientMsgId,
    /// When.
    pub now: Millis,
}

/// Durable storage of users, sessions, rooms, members and messages.
///
/// Every method is one transaction. Implementations must be cheap to share (`Arc<dyn Store>`)
/// and safe to call from many tasks at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers (for the health endpoint).
    async fn ping(&self) -> Result<(), StoreError>;

    // ---- users ----

    /// Creates an account. `Conflict` when the username is taken ignoring case.
    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        now: Millis,
    ) -> Result<UserRecord, StoreError>;

    /// Finds an account by the canonical (lowercase) username.
    async fn find_user(&self, canonical_username: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Finds a user by id.
    async fn get_user(&self, id: UserId) -> Result<Option<UserInfo>, StoreError>;

    // ---- sessions ----

    /// Stores a new session.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// Finds the session with this token hash if it has not expired at `now`, and moves its
    /// expiry to `new_expires_at`. `None` for an unknown, expired or revoked token.
    async fn resume_session(
        &self,
        token_hash: &TokenHash,
        now: Millis,
        new_expires_at: Millis,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Deletes a session (logout). Whether it existed.
    async fn delete_session(&self, token_hash: &TokenHash) -> Result<bool, StoreError>;

    /// Deletes sessions that expired before `now`; how many.
    async fn delete_expired_sessions(&self, now: Millis) -> Result<u64, StoreError>;

    // ---- rooms and members ----

    /// Creates a group room with `creator` as its owner and first member, and its first
    /// timeline item, the `created` notice (`notice`, whose sender is the creator). The
    /// room gets a random id.
    async fn create_group_room(&self, room: &NewGroupRoom)
    -> Result<(RoomRecord, StoredMessage), StoreError>;

    /// Gets or creates the direct room of two users (the same user twice for a chat with
    /// oneself) and makes sure both are members. When the room is created now, it also
    /// stores a `joined` notice for each user and returns them; an existing room returns
    /// none. `NotFound` when a user does not exist.
    async fn open_direct(
        &self,
        a: UserInfo,
        b: UserInfo,
        now: Millis,
    ) -> Result<(RoomRecord, Vec<StoredMessage>), StoreError>;

    // ---- end-to-end encryption ----

    /// Registers a device of `user` by its public signature key; the same key again gives
    /// the same device (its name updated). `Conflict` when the key is another user's.
    async fn register_device(
        &self,
        user: UserId,
        name: &str,
        signature_key: &[u8],
        now: Millis,
    ) -> Result<DeviceRecord, StoreError>;

    /// A device by id.
    async fn get_device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError>;

    /// A user's devices, oldest first.
    async fn list_devices(&self, user: UserId) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Deletes one of `user`'s devices with its key packages and Welcomes. Whether it was
    /// theirs.
    async fn remove_device(&self, user: UserId, device: DeviceId) -> Result<bool, StoreError>;

    /// Notes that a device connected now.
    async fn touch_device(&self, device: DeviceId, now: Millis) -> Result<(), StoreError>;

    /// Adds one-time key packages of a device and, if given, replaces its last-resort one.
    /// The one-time packages left.
    async fn add_key_packages(
        &self,
        device: DeviceId,
        one_time: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<u32, StoreError>;

    /// Hands out one key package of each device: a one-time one (deleted now), else the
    /// last-resort one (kept). Devices with neither are left out.
    async fn claim_key_packages(
        &self,
        devices: &[DeviceId],
    ) -> Result<Vec<ClaimedKeyPackageRecord>, StoreError>;

    /// Every device of the room's members, by user then age.
    async fn room_devices(&self, room: RoomId) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Marks the room's MLS group created (epoch 0). `false` when it already was.
    /// `NotFound` when the room does not exist.
    async fn create_group(&self, room: RoomId) -> Result<bool, StoreError>;

    /// Appends an MLS item under the room's epoch rule (see [`e2ee`]), with its Welcome.
    async fn append_mls(&self, item: &NewMlsItem) -> Result<MlsOutcome, StoreError>;

    /// The Welcomes waiting for a device, oldest first.
    async fn list_welcomes(&self, device: DeviceId) -> Result<Vec<WelcomeRecord>, StoreError>;

    /// Forgets a Welcome of the device. Whether it existed.
    async fn ack_welcome(&self, device: DeviceId, welcome: u64) -> Result<bool, StoreError>;

    /// The room and the user's standing in it (member with role and read marker, or
    /// outsider with invitation and ban), in one lookup.
    async fn room_access(&self, room_id: RoomId, user_id: UserId) -> Result<RoomAccess, StoreError>;

    /// Applies a change decided on `change.expected_version`, in one transaction, and
    /// returns the notices it appended. `Ok(None)` when the room moved on meanwhile (or an
    /// invite link stopped being usable): nothing was changed, decide again.
    /// `NotFound` when the room does not exist.
    async fn change_room(&self, change: &RoomChange) -> Result<Option<Vec<StoredMessage>>, StoreError>;

    /// Who takes over when `leaving` (the last owner) leaves: the longest-standing admin,
    /// else the longest-standing member; `None` when nobody else is a member.
    async fn successor(&self, room_id: RoomId, leaving: UserId) -> Result<Option<UserId>, StoreError>;

    /// A room's members with their roles, ordered by username.
    async fn list_members(&self, room_id: RoomId) -> Result<Vec<(UserInfo, Role)>, StoreError>;

    /// The rooms a user is a member of, each with its last `seq` (0 for none), by room id.
    async fn rooms_with_last_seq(&self, user_id: UserId) -> Result<Vec<(RoomId, Seq)>, StoreError>;

    /// The last `seq` of each of these rooms that exists (in no particular order): one
    /// query however many rooms, for a node comparing what it delivered with what is stored.
    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError>;

    /// Every other user who shares at least one room with `user_id` (each once).
    async fn co_member_ids(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError>;

    /// A user's rooms with last item, read marker and unread count, newest activity first.
    async fn list_rooms(&self, user_id: UserId) -> Result<Vec<RoomListing>, StoreError>;

    /// Moves a member's read marker forward to `seq` (clamped to the room's `last_seq`;
    /// never backwards). The marker after the call, or `None` when not a member.
    async fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: Seq) -> Result<Option<Seq>, StoreError>;

    // ---- invitations, invite links, bans, directory ----

    /// The invitations waiting for a user, newest first.
    async fn list_invitations(&self, user_id: UserId) -> Result<Vec<InvitationRecord>, StoreError>;

    /// Stores a new invite link. `NotFound` when the room does not exist.
    async fn create_invite_link(&self, link: &NewInviteLink) -> Result<InviteLinkRecord, StoreError>;

    /// A room's invite links, newest first.
    async fn list_invite_links(&self, room_id: RoomId) -> Result<Vec<InviteLinkRecord>, StoreError>;

    /// Finds an invite link by the hash of its token.
    async fn find_invite_link(&self, token_hash: &TokenHash) -> Result<Option<InviteLinkRecord>, StoreError>;

    /// Revokes a link of the room. Whether such a link existed (revoking twice is fine).
    async fn revoke_invite_link(&self, room_id: RoomId, link: InviteLinkId) -> Result<bool, StoreError>;

    /// A room's bans, newest first.
    async fn list_bans(&self, room_id: RoomId) -> Result<Vec<BanRecord>, StoreError>;

    /// One page of public group rooms, most members first then by id, after `after`,
    /// whose name contains `query` ignoring case (ASCII case); `limit` rooms at most.
    async fn public_rooms(
        &self,
        query: Option<&str>,
        after: Option<DirectoryCursor>,
        limit: u32,
    ) -> Result<Vec<RoomRecord>, StoreError>;

    // ---- messages ----

    /// Stores a message with the room's next sequence number, in one transaction that also
    /// moves the sender's read marker to it; or returns the message the sender already stored
    /// under the same `client_msg_id`; or [`InsertOutcome::NotMember`] when the sender is not
    /// a member of the room. `NotFound` when the room does not exist.
    async fn insert_message(&self, message: &NewMessage) -> Result<InsertOutcome, StoreError> {
        self.queue_message(message.clone()).await
    }

    /// [`Store::insert_message`] in two steps: the message is queued for storing during this
    /// call, and the returned future gives its outcome. Messages queued one after the other
    /// are stored in that order, however their futures are polled, so one connection can
    /// have several sends in flight (and share a group commit) without reordering them.
    fn queue_message(&self, message: NewMessage) -> QueuedInsert;

    /// Many rooms' items after a point each, for one user, in one go (`resume_rooms`): for
    /// every point, `None` when the user is not a member of the room (or it does not exist),
    /// else up to `per_room` items after its `after_seq`, ascending, with `has_more` when
    /// more follow. At most `total` items in all, shared out in the order of `points`; a
    /// room past that budget gets an empty page with `has_more` (when it has anything new).
    async fn resume_pages(
        &self,
        user: UserId,
        points: &[ResumePoint],
        per_room: u32,
        total: usize,
    ) -> Result<Vec<Option<MessagePage>>, StoreError>;

    /// One page of a room's messages, ascending by `seq`; `limit` is at least 1.
    async fn messages_page(
        &self,
        room_id: RoomId,
        from: PageFrom,
        limit: u32,
    ) -> Result<MessagePage, StoreError>;
}
