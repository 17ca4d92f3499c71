//! Error codes and error bodies as they travel on the wire, and the error of checked
//! conversions. The wire `code` is stable; the human `message` may change.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stable, snake_case error code. Clients match on this, never on the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a JSON object in UTF-8.
    MalformedFrame,
    /// The frame is larger than the server's frame limit.
    FrameTooLarge,
    /// The frame nests arrays or objects deeper than the limit.
    TooDeep,
    /// The request `id` is missing or is not a hyphenated UUID, or a `client_msg_id` is not a
    /// lowercase hyphenated UUID.
    InvalidId,
    /// The request `type` is missing or not one this protocol version knows.
    UnknownType,
    /// A field is missing, has the wrong JSON type, or a value is out of range.
    InvalidRequest,
    /// The username breaks the username rules.
    InvalidUsername,
    /// The password is too short or otherwise unacceptable.
    InvalidPassword,
    /// The password is longer than the 72 bytes that bcrypt reads.
    PasswordTooLong,
    /// The room name breaks the room name rules.
    InvalidRoomName,
    /// The room topic is too long or has forbidden characters.
    InvalidTopic,
    /// The message body is empty or has forbidden characters.
    InvalidBody,
    /// The message body is larger than the limit.
    BodyTooLarge,
    /// The request needs an authenticated session and this connection has none.
    Unauthenticated,
    /// The connection is already authenticated; log out first.
    AlreadyAuthenticated,
    /// Invalid username or password (the same answer whether or not the user exists).
    InvalidCredentials,
    /// The session token is unknown, expired or revoked; log in again.
    InvalidSession,
    /// The username is already taken (case-insensitively).
    UsernameTaken,
    /// The room or user does not exist.
    NotFound,
    /// The user is not a member of the room.
    NotMember,
    /// The caller's role in the room does not allow this (a member cannot remove others, an
    /// admin cannot remove the owner, ...).
    Forbidden,
    /// The caller is banned from this room.
    Banned,
    /// The invite link is unknown, expired, revoked or used up.
    InviteLinkInvalid,
    /// Bytes that should be an MLS message of a certain kind are not (or are for another
    /// group).
    InvalidMls,
    /// The MLS message is for an epoch of the room's group that is not the current one:
    /// process the room's newer items, then make the message again.
    StaleEpoch,
    /// The room's MLS group was already created (by another device): wait for a Welcome.
    GroupExists,
    /// The room is end-to-end encrypted: send MLS messages (`send_mls`), not plain text.
    RoomEncrypted,
    /// The room is not end-to-end encrypted: MLS requests do not apply to it.
    RoomNotEncrypted,
    /// The request needs a device: register one (`register_device`) or use one
    /// (`use_device`) on this connection first.
    NoDevice,
    /// The account already has the most devices it may have: remove one first.
    TooManyDevices,
    /// The encrypted room already has the most members it may have.
    RoomFull,
    /// Too many requests on this connection; retry after `retry_after_ms`.
    RateLimited,
    /// Too many failed logins for this username from this address, or from this address;
    /// retry after `retry_after_ms`.
    LoginThrottled,
    /// A backing service (database, broker) is unavailable; retrying later makes sense.
    Unavailable,
    /// The server is shutting down; reconnect (possibly to another node).
    ShuttingDown,
    /// An unexpected server error.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::TooDeep,
        ErrorCode::InvalidId,
        ErrorCode::UnknownType,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidUsername,
        ErrorCode::InvalidPassword,
        ErrorCode::PasswordTooLong,
        ErrorCode::InvalidRoomName,
        ErrorCode::InvalidTopic,
        ErrorCode::InvalidBody,
        ErrorCode::BodyTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidSession,
        ErrorCode::UsernameTaken,
        ErrorCode::NotFound,
        ErrorCode::NotMember,
        ErrorCode::Forbidden,
        ErrorCode::Banned,
        ErrorCode::InviteLinkInvalid,
        ErrorCode::InvalidMls,
        ErrorCode::StaleEpoch,
        ErrorCode::GroupExists,
        ErrorCode::RoomEncrypted,
        ErrorCode::RoomNotEncrypted,
        ErrorCode::NoDevice,
        ErrorCode::TooManyDevices,
        ErrorCode::RoomFull,
        ErrorCode::RateLimited,
        ErrorCode::LoginThrottled,
        ErrorCode::Unavailable,
        ErrorCode::ShuttingDown,
        ErrorCode::Internal,
    ];

    /// Whether sending the same request again, later, can succeed without changing it.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::LoginThrottled
                | ErrorCode::Unavailable
                | ErrorCode::ShuttingDown
                | ErrorCode::Internal
        )
    }

    /// The wire spelling, e.g. `"not_member"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::TooDeep => "too_deep",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidUsername => "invalid_username",
            ErrorCode::InvalidPassword => "invalid_password",
            ErrorCode::PasswordTooLong => "password_too_long",
            ErrorCode::InvalidRoomName => "invalid_room_name",
            ErrorCode::InvalidTopic => "invalid_topic",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidSession => "invalid_session",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotMember => "not_member",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Banned => "banned",
            ErrorCode::InviteLinkInvalid => "invite_link_invalid",
            ErrorCode::InvalidMls => "invalid_mls",
            ErrorCode::StaleEpoch => "stale_epoch",
            ErrorCode::GroupExists => "group_exists",
            ErrorCode::RoomEncrypted => "room_encrypted",
            ErrorCode::RoomNotEncrypted => "room_not_encrypted",
            ErrorCode::NoDevice => "no_device",
            ErrorCode::TooManyDevices => "too_many_devices",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LoginThrottled => "login_throttled",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
        }
    }

    /// Parses the wire spelling.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error object of an error frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; may change between versions.
    pub message: String,
    /// Whether the same request may succeed if sent again later.
    pub retryable: bool,
    /// For rate limits and throttling: how long to wait before retrying, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// An error body with the code's own retry advice.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retryable: code.retryable(),
            retry_after_ms: None,
        }
    }

    /// Adds a retry delay.
    pub fn with_retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}

/// A value from the wire broke a rule; carries the wire code to answer with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[{code}] {message}")]
pub struct ValidationError {
    /// The code a request carrying this value is refused with.
    pub code: ErrorCode,
    /// What rule was broken.
    pub message: String,
}

impl ValidationError {
    /// A new validation error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Recovers a validation error from the text serde made of it (serde only keeps text),
    /// falling back to `invalid_request` for serde's own messages (missing field, wrong type).
    pub(crate) fn from_serde_message(text: &str) -> Self {
        if let Some(rest) = text.strip_prefix('[')
            && let Some((code, message)) = rest.split_once("] ")
            && let Some(code) = ErrorCode::from_wire(code)
        {
            return Self::new(code, message);
        }
        Self::new(ErrorCode::InvalidRequest, text)
    }
}

impl From<ValidationError> for ErrorBody {
    fn from(e: ValidationError) -> Self {
        ErrorBody::new(e.code, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_spelling() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(ErrorCode::Unavailable.retryable());
        assert!(ErrorCode::RateLimited.retryable());
        assert!(!ErrorCode::InvalidCredentials.retryable());
        assert!(!ErrorCode::NotMember.retryable());
    }

    #[test]
    fn validation_errors_survive_serde_text() {
        let e = ValidationError::new(ErrorCode::PasswordTooLong, "too long");
        assert_eq!(ValidationError::from_serde_message(&e.to_string()), e);
        let plain = ValidationError::from_serde_message("missing field `body`");
        assert_eq!(plain.code, ErrorCode::InvalidRequest);
        assert_eq!(plain.message, "missing field `body`");
    }
}
