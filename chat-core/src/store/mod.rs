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
//! - [`Store::insert_message`] assigns `seq = rooms.last_seq + 1` in the same transaction as
//!   the insert, so sequence numbers are gap-free among stored messages; with PostgreSQL the
//!   row lock taken on `rooms` serialises concurrent writers on several nodes. It is
//!   idempotent on `(sender_id, client_msg_id)`.
//! - A method returns only after its change is durable (committed, synced to disk): the
//!   service acknowledges a message only after `insert_message` returned.
//! - Errors say what the caller can do ([`StoreError::is_retryable`]).

use async_trait::async_trait;
use chat_proto::{ClientMsgId, MessageId, RoomId, RoomKind, RoomName, Seq, UserId, UserInfo, Username};

pub mod postgres;
pub mod sqlite;

/// The outcome of a message queued with [`Store::queue_message`].
pub type QueuedInsert =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<InsertOutcome, StoreError>> + Send + 'static>>;

/// Milliseconds since the Unix epoch (what every timestamp column holds).
pub type Millis = i64;

/// The SHA-256 of a session token: the only form in which a token is stored.
pub type TokenHash = [u8; 32];

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

impl StoreError {
    /// Whether the same operation may succeed if attempted again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

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
    /// The room's id.
    pub id: RoomId,
    /// Group or direct.
    pub kind: RoomKind,
    /// The group name; empty for a direct room (its display name depends on the viewer).
    pub name: String,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: Millis,
    /// The sequence number of its newest message (0 when it has none).
    pub last_seq: Seq,
    /// For a direct room, its two users, lower id first (equal for a chat with oneself).
    pub direct: Option<(UserId, UserId)>,
}

/// What a user may do with a room, found with one lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomAccess {
    /// No room has this id.
    NoRoom,
    /// The room exists and the user is not a member.
    NotMember(RoomRecord),
    /// The user is a member.
    Member {
        /// The room.
        room: RoomRecord,
        /// The member's read marker.
        last_read_seq: Seq,
    },
}

/// A message to store. The body is already encrypted with the key `key_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// The room.
    pub room_id: RoomId,
    /// The sender (a member of the room).
    pub sender_id: UserId,
    /// The sender's idempotency key.
    pub client_msg_id: ClientMsgId,
    /// Which at-rest key encrypted the body.
    pub key_id: u32,
    /// The AEAD nonce.
    pub nonce: Vec<u8>,
    /// The encrypted body with its authentication tag.
    pub ciphertext: Vec<u8>,
    /// The server time of the send.
    pub sent_at: Millis,
}

/// A stored message, still encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// The message id.
    pub id: MessageId,
    /// The room.
    pub room_id: RoomId,
    /// Its place in the room.
    pub seq: Seq,
    /// The sender, with the username as registered.
    pub sender: UserInfo,
    /// The sender's idempotency key.
    pub client_msg_id: ClientMsgId,
    /// Which at-rest key encrypted the body.
    pub key_id: u32,
    /// The AEAD nonce.
    pub nonce: Vec<u8>,
    /// The encrypted body.
    pub ciphertext: Vec<u8>,
    /// When it was stored.
    pub sent_at: Millis,
}

/// What [`Store::insert_message`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The message was stored now, with the next sequence number.
    Inserted(StoredMessage),
    /// The sender had already stored a message with this client message id: that message,
    /// unchanged (possibly in another room; the caller decides what that means).
    Existing(StoredMessage),
    /// The sender is not a member of the room: nothing was stored. (Checked in the same
    /// transaction as the insert, so a send needs no separate membership query.)
    NotMember,
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
    /// The user's read marker.
    pub last_read_seq: Seq,
    /// The newest message, still encrypted.
    pub last_message: Option<StoredMessage>,
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

    /// Creates a group room with `creator` as its first member.
    async fn create_group_room(
        &self,
        name: &RoomName,
        creator: UserId,
        now: Millis,
    ) -> Result<RoomRecord, StoreError>;

    /// Gets or creates the direct room of two users (the same user twice for a chat with
    /// oneself) and makes sure both are members. `true` when it was created now.
    /// `NotFound` when a user does not exist.
    async fn open_direct(&self, a: UserId, b: UserId, now: Millis) -> Result<(RoomRecord, bool), StoreError>;

    /// The room and the user's membership in it, in one lookup.
    async fn room_access(&self, room_id: RoomId, user_id: UserId) -> Result<RoomAccess, StoreError>;

    /// Adds a member. `true` when added now, `false` when already a member; `NotFound` when
    /// the room does not exist. Kind rules (who may join a direct room) are the caller's.
    async fn add_member(&self, room_id: RoomId, user_id: UserId, now: Millis) -> Result<bool, StoreError>;

    /// Removes a member. Whether they were one.
    async fn remove_member(&self, room_id: RoomId, user_id: UserId) -> Result<bool, StoreError>;

    /// A room's members, ordered by username.
    async fn list_members(&self, room_id: RoomId) -> Result<Vec<UserInfo>, StoreError>;

    /// Ids of the rooms a user is a member of.
    async fn room_ids_of(&self, user_id: UserId) -> Result<Vec<RoomId>, StoreError>;

    /// Every other user who shares at least one room with `user_id` (each once).
    async fn co_member_ids(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError>;

    /// A user's rooms with last message and read marker, newest activity first.
    async fn list_rooms(&self, user_id: UserId) -> Result<Vec<RoomListing>, StoreError>;

    /// Moves a member's read marker forward to `seq` (clamped to the room's `last_seq`;
    /// never backwards). The marker after the call, or `None` when not a member.
    async fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: Seq) -> Result<Option<Seq>, StoreError>;

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

    /// One page of a room's messages, ascending by `seq`; `limit` is at least 1.
    async fn messages_page(
        &self,
        room_id: RoomId,
        from: PageFrom,
        limit: u32,
    ) -> Result<MessagePage, StoreError>;
}
