//! Protocol constants: version, path, sizes and WebSocket close codes.

/// The protocol version this crate speaks. It is part of the WebSocket path and is stated
/// again in the server's `hello` event.
pub const PROTOCOL_VERSION: u32 = 2;

/// The WebSocket path of this protocol version.
pub const WEBSOCKET_PATH: &str = "/v2/ws";

/// Default largest frame (bytes) a server accepts; servers may configure their own and state
/// it in `hello`. It is this large so that one `send_mls` carries the commit and Welcome that
/// add a device to the largest encrypted room ([`MAX_ENCRYPTED_ROOM_MEMBERS`] people with
/// [`MAX_DEVICES_PER_USER`] devices each); text messages stay bounded by [`MAX_BODY_BYTES`].
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Deepest nesting of JSON arrays and objects accepted in a frame.
pub const MAX_JSON_DEPTH: usize = 32;

/// Largest message body in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shortest username in bytes.
pub const MIN_USERNAME_BYTES: usize = 3;
/// Longest username in bytes.
pub const MAX_USERNAME_BYTES: usize = 32;
/// Longest room name in bytes.
pub const MAX_ROOM_NAME_BYTES: usize = 64;
/// Longest room topic in bytes.
pub const MAX_ROOM_TOPIC_BYTES: usize = 512;
/// Shortest password in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest password in bytes: what bcrypt reads.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Shortest session token in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;
/// Longest session token in bytes.
pub const MAX_TOKEN_BYTES: usize = 128;

/// Largest page of history or resume a server returns; larger requests are refused.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Largest MLS message, key package or key carried as base64 bytes (decoded). A Welcome
/// carries the room's whole ratchet tree (about 180 bytes per device) and a commit in a tree
/// with many blank nodes one encrypted secret per device (about 85 bytes each), so the largest
/// encrypted room's (2,000 devices) fit with room to spare.
pub const MAX_MLS_BYTES: usize = 512 * 1024;

/// Most members of an end-to-end encrypted room: every device of every member is a leaf of
/// the room's MLS group, and a Welcome carries them all.
pub const MAX_ENCRYPTED_ROOM_MEMBERS: u64 = 400;

/// Most devices one user may register; remove one (`remove_device`) to add another.
pub const MAX_DEVICES_PER_USER: usize = 5;

/// Largest page of history or resume in bytes of JSON: a page is cut short (fewer items
/// than asked, `has_more` true, or `complete` false) rather than pass it, so it stays well
/// within what clients accept in one frame. A page always holds at least one item.
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Most rooms one `resume_rooms` names; a client in more rooms sends several.
pub const MAX_RESUME_ROOMS: usize = 1000;

/// Most timeline items in one answer to `resume_rooms`, all rooms together (it is also cut
/// before its JSON would pass [`MAX_PAGE_BYTES`]). Rooms left out or cut short answer
/// `complete: false`.
pub const MAX_RESUME_ITEMS: usize = 10_000;

/// Items per room in an answer to `resume_rooms` when the request gives no `limit`.
pub const DEFAULT_RESUME_ROOM_ITEMS: u32 = 50;

/// Longest device name in bytes.
pub const MAX_DEVICE_NAME_BYTES: usize = 64;

/// Most key packages one `upload_key_packages` carries.
pub const MAX_KEY_PACKAGES_PER_UPLOAD: usize = 100;

/// Most devices one `claim_key_packages` (or one Welcome) names.
pub const MAX_DEVICES_PER_CLAIM: usize = 1000;

/// Longest directory cursor (`after` of `list_public_rooms`) in bytes.
pub const MAX_CURSOR_BYTES: usize = 64;

/// Longest life of an invite link: one year, in seconds.
pub const MAX_INVITE_LINK_SECS: u64 = 365 * 24 * 3600;

/// WebSocket close codes the server uses, with the reason it sends as close text.
pub mod close {
    /// Normal closure (after `logout` or when the client closes).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down; reconnect, possibly to another node.
    pub const GOING_AWAY: u16 = 1001;
    /// WebSocket framing error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent a binary frame; this protocol is text only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text frame was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation: a forbidden Origin.
    pub const POLICY: u16 = 1008;
    /// A frame was larger than the server's frame limit.
    pub const TOO_BIG: u16 = 1009;
    /// Server error.
    pub const INTERNAL: u16 = 1011;
    /// Too many connections (in total or from this address); try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The connection did not authenticate in time.
    pub const AUTH_TIMEOUT: u16 = 4001;
    /// The connection was silent past the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4002;
    /// The client did not read its events fast enough; reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4003;
    /// The client kept exceeding its request rate limit.
    pub const RATE_LIMITED: u16 = 4004;
    /// The session was revoked or expired while connected.
    pub const SESSION_ENDED: u16 = 4005;
}
