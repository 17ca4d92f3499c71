//! The chat system's wire protocol, version 2: typed requests, responses and events, their
//! JSON form, and total decoders. Sans-IO: no sockets, no async runtime, no clock; the
//! server and the client library drive it.
//!
//! Every frame is one JSON object in one WebSocket text frame. A client sends
//! [`ClientFrame`]s (an `id` and a request `type`); the server answers each with exactly one
//! [`ServerFrame::Response`] or [`ServerFrame::Error`] carrying the same id, and pushes
//! [`ServerFrame::Event`]s. `docs/PROTOCOL.md` describes the same thing for people.
//!
//! ```
//! use chat_proto::{decode_client_frame, ClientFrame, Request, RoomName, Visibility, DEFAULT_MAX_FRAME_BYTES};
//!
//! let frame = ClientFrame::new(Request::CreateRoom {
//!     name: RoomName::parse("general").unwrap(),
//!     visibility: Visibility::Private,
//!     topic: None,
//!     encrypted: None,
//! });
//! let text = frame.to_json();
//! assert_eq!(decode_client_frame(text.as_bytes(), DEFAULT_MAX_FRAME_BYTES).unwrap(), frame);
//!
//! let err = decode_client_frame(b"{\"id\":\"nope\"}", DEFAULT_MAX_FRAME_BYTES).unwrap_err();
//! assert_eq!(err.error.code, chat_proto::ErrorCode::InvalidId);
//! ```
//!
//! # Layout
//! - [`ids`]: numeric ids (strings on the wire) and UUID ids.
//! - [`names`]: validated usernames, room names, bodies, passwords and tokens.
//! - [`model`]: users, rooms, timeline items (messages and notices) and summaries carried
//!   by frames.
//! - [`e2ee`]: devices, MLS bytes, key packages and Welcome messages.
//! - [`rooms`]: visibility, roles, notices, invitations, invite links and bans.
//! - [`request`]: every request and the client frame.
//! - [`response`]: every successful result.
//! - [`resume`]: where a client stands in its rooms, and what each missed (`resume_rooms`).
//! - [`event`]: every pushed event.
//! - [`error`]: wire error codes and bodies.
//! - [`frame`]: the server frame and the total decoders.
//! - [`limits`]: version, path, size limits and close codes.
//! - [`schema`]: the JSON Schema of the protocol.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod e2ee;
pub mod error;
pub mod event;
pub mod frame;
pub mod ids;
pub mod limits;
pub mod model;
pub mod names;
pub mod request;
pub mod response;
pub mod resume;
pub mod rooms;
pub mod schema;

pub use e2ee::{Base64Bytes, ClaimedKeyPackage, Device, DeviceName, OutgoingWelcome, Welcome};
pub use error::{ErrorBody, ErrorCode, ValidationError};
pub use event::Event;
pub use frame::{DecodeError, ServerFrame, ServerFrameError, decode_client_frame, decode_server_frame};
pub use ids::{ClientMsgId, DeviceId, InviteLinkId, MessageId, RequestId, RoomId, Seq, UserId};
pub use limits::{
    DEFAULT_MAX_FRAME_BYTES, DEFAULT_RESUME_ROOM_ITEMS, MAX_BODY_BYTES, MAX_DEVICES_PER_USER,
    MAX_ENCRYPTED_ROOM_MEMBERS, MAX_MLS_BYTES, MAX_PAGE_BYTES, MAX_PAGE_SIZE, MAX_RESUME_ITEMS,
    MAX_RESUME_ROOMS, PROTOCOL_VERSION, WEBSOCKET_PATH, close,
};
pub use model::{
    Content, Member, Message, Room, RoomKind, RoomSummary, ServerLimits, SessionInfo, TimestampMs, UserInfo,
};
pub use names::{InviteToken, MessageBody, Password, RoomName, RoomTopic, SessionToken, Username};
pub use request::{ClientFrame, Request};
pub use response::Response;
pub use resume::{ResumePoint, ResumedRoom};
pub use rooms::{Ban, Invitation, InviteLink, Notice, Role, Visibility};
