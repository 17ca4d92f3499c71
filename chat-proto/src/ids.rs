//! Identifiers: integers in storage, decimal strings on the wire (S4), UUIDs for requests and
//! client message ids.
//!
//! Each identifier is its own type so that a room id can never be passed where a user id is
//! expected, and the only way to make one from wire data is through a checked conversion.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{ErrorCode, ValidationError};

/// Largest numeric identifier: identifiers are `bigint` columns, so they must fit an `i64`.
pub const MAX_NUMERIC_ID: u64 = i64::MAX as u64;

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
        #[schemars(with = "String", description = concat!("A ", $what, " id: a positive decimal integer (at most 2^63-1) in a string."))]
        pub struct $name(u64);

        impl $name {
            /// Makes an id from a stored integer. Ids are positive and fit a signed 64-bit
            /// column, so anything else is refused.
            pub fn new(value: u64) -> Result<Self, ValidationError> {
                if value == 0 || value > MAX_NUMERIC_ID {
                    return Err(ValidationError::new(
                        ErrorCode::InvalidRequest,
                        concat!($what, " id must be between 1 and 2^63-1"),
                    ));
                }
                Ok(Self(value))
            }

            /// The integer, as stored in the database.
            pub fn get(self) -> u64 {
                self.0
            }

            /// The integer as the signed type that SQL `bigint` columns use.
            pub fn as_i64(self) -> i64 {
                // Cannot wrap: `new` caps the value at i64::MAX.
                self.0 as i64
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ValidationError;
            fn try_from(value: i64) -> Result<Self, Self::Error> {
                if value <= 0 {
                    return Err(ValidationError::new(
                        ErrorCode::InvalidRequest,
                        concat!($what, " id must be positive"),
                    ));
                }
                Self::new(value as u64)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only plain decimal digits: no sign, no spaces, no leading zeros, at most 19.
                let well_formed = !s.is_empty()
                    && s.len() <= 19
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && !s.starts_with('0');
                let value = if well_formed { s.parse::<u64>().ok() } else { None };
                match value {
                    Some(v) => Self::new(v),
                    None => Err(ValidationError::new(
                        ErrorCode::InvalidRequest,
                        concat!($what, " id must be a decimal string such as \"42\""),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

numeric_id!(
    /// Identifies a user account.
    UserId,
    "user"
);
numeric_id!(
    /// Identifies a room (a group chat or a direct chat between two users).
    RoomId,
    "room"
);
numeric_id!(
    /// Identifies a stored message, unique across all rooms.
    MessageId,
    "message"
);
numeric_id!(
    /// Identifies one device (one installation of a client) of a user: the unit of
    /// end-to-end encryption, with its own signature key.
    DeviceId,
    "device"
);
numeric_id!(
    /// Identifies an invite link of a room (for listing and revoking it; the link's token
    /// is what lets someone join).
    InviteLinkId,
    "invite link"
);

/// Length of a UUID in its hyphenated form, the only form accepted on the wire.
const HYPHENATED_LEN: usize = 36;

/// Parses the hyphenated form of a UUID (36 characters, either case), the one form of an
/// id on the wire.
fn parse_hyphenated(s: &str, what: &str) -> Result<Uuid, ValidationError> {
    let refuse = || ValidationError::new(ErrorCode::InvalidId, format!("{what} must be a hyphenated UUID"));
    // The length rules out the simple, braced and URN forms that `Uuid::parse_str` also reads.
    if s.len() != HYPHENATED_LEN {
        return Err(refuse());
    }
    Uuid::parse_str(s).map_err(|_| refuse())
}

/// The client-chosen id of a request; the response carries the same id.
///
/// The id keeps the exact text the client sent (a hyphenated UUID in any mix of case), and
/// equality and hashing are on that text: the answer echoes the id character for character,
/// so a client that matches answers to requests by string always finds its own.
#[derive(Clone, Copy, JsonSchema)]
#[schemars(
    with = "String",
    description = "A request id: a UUID in its hyphenated form (version 4 recommended), echoed exactly as sent.",
    extend("pattern" = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
)]
pub struct RequestId {
    uuid: Uuid,
    /// The id as the client spelled it: 36 ASCII characters.
    text: [u8; HYPHENATED_LEN],
}

impl RequestId {
    /// Wraps a UUID, spelled in lowercase.
    pub fn from_uuid(uuid: Uuid) -> Self {
        let mut text = [0u8; HYPHENATED_LEN];
        uuid.hyphenated().encode_lower(&mut text);
        Self { uuid, text }
    }

    /// A fresh random (version 4) request id.
    pub fn random() -> Self {
        Self::from_uuid(Uuid::new_v4())
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> &Uuid {
        &self.uuid
    }

    /// The id exactly as the client sent it.
    pub fn as_str(&self) -> &str {
        // Cannot fail: the text passed `parse_hyphenated`, so it is ASCII hex and hyphens.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl PartialEq for RequestId {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for RequestId {}

impl std::hash::Hash for RequestId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

impl FromStr for RequestId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = parse_hyphenated(s, "request id")?;
        let mut text = [0u8; HYPHENATED_LEN];
        text.copy_from_slice(s.as_bytes());
        Ok(Self { uuid, text })
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client-chosen id of a message, which makes sending idempotent: a retry with the same
/// id returns the message stored the first time.
///
/// The server stores and compares it as a UUID, so it would come back in lowercase whatever
/// case was sent. To keep one spelling per id, only the lowercase hyphenated form is
/// accepted (`invalid_id` otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "A client message id: a UUID in its lowercase hyphenated form (version 4 recommended).",
    extend("pattern" = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
)]
pub struct ClientMsgId(Uuid);

impl ClientMsgId {
    /// Wraps a UUID.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// A fresh random (version 4) client message id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl FromStr for ClientMsgId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = parse_hyphenated(s, "client_msg_id")?;
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::new(
                ErrorCode::InvalidId,
                "client_msg_id must be a lowercase hyphenated UUID (it is compared as a UUID, so each \
                 id has one spelling)",
            ));
        }
        Ok(Self(uuid))
    }
}

impl fmt::Display for ClientMsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Serde through the string form, checked by `FromStr`.
macro_rules! string_form_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_form_serde!(RequestId);
string_form_serde!(ClientMsgId);

/// A per-room sequence number: 1 for a room's first message, then strictly increasing with
/// no gaps among stored messages.
pub type Seq = u64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_strings_on_the_wire() {
        let id = RoomId::new(42).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"42\"");
        assert_eq!(serde_json::from_str::<RoomId>("\"42\"").unwrap(), id);
    }

    #[test]
    fn numeric_ids_refuse_numbers_signs_zero_and_overflow() {
        for bad in [
            "42",
            "\"\"",
            "\"0\"",
            "\"-1\"",
            "\"+1\"",
            "\" 1\"",
            "\"01\"",
            "\"9223372036854775808\"",
            "\"1e3\"",
            "null",
        ] {
            assert!(serde_json::from_str::<UserId>(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(
            serde_json::from_str::<UserId>("\"9223372036854775807\"")
                .unwrap()
                .get(),
            i64::MAX as u64
        );
    }

    #[test]
    fn uuid_ids_need_the_hyphenated_form() {
        let text = "\"6f1c2b1e-8d3a-4c55-9a57-2f0f5d8b9e10\"";
        let id: RequestId = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), text);
        for bad in ["\"6f1c2b1e8d3a4c559a572f0f5d8b9e10\"", "\"nope\"", "7", "\"\""] {
            assert!(
                serde_json::from_str::<RequestId>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn request_ids_keep_the_text_the_client_sent() {
        let upper = "6F1C2B1E-8D3A-4C55-9A57-2F0F5D8B9E10";
        let mixed = "6f1c2b1e-8D3A-4c55-9a57-2f0f5d8b9e10";
        let a: RequestId = upper.parse().unwrap();
        let b: RequestId = mixed.parse().unwrap();
        assert_eq!(a.to_string(), upper);
        assert_eq!(serde_json::to_string(&b).unwrap(), format!("\"{mixed}\""));
        // Same UUID, different text: different ids, as a client matching strings sees them.
        assert_eq!(a.as_uuid(), b.as_uuid());
        assert_ne!(a, b);
        assert_eq!(a, upper.parse::<RequestId>().unwrap());
        assert_eq!(
            RequestId::from_uuid(*a.as_uuid()).to_string(),
            upper.to_lowercase()
        );
    }

    #[test]
    fn client_message_ids_must_be_lowercase() {
        let lower = "6f1c2b1e-8d3a-4c55-9a57-2f0f5d8b9e10";
        assert_eq!(lower.parse::<ClientMsgId>().unwrap().to_string(), lower);
        let err = lower.to_uppercase().parse::<ClientMsgId>().unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidId);
        assert!(err.message.contains("lowercase"), "{}", err.message);
    }
}
