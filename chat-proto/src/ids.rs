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
    /// Identifies an invite link of a room (for listing and revoking it; the link's token
    /// is what lets someone join).
    InviteLinkId,
    "invite link"
);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
        #[schemars(with = "String", description = concat!("A ", $what, ": a UUID in its hyphenated form (version 4 recommended)."))]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // The hyphenated form only (36 chars): one spelling per id keeps
                // idempotency keys and correlation unambiguous.
                if s.len() != 36 {
                    return Err(ValidationError::new(
                        ErrorCode::InvalidId,
                        concat!($what, " must be a hyphenated UUID"),
                    ));
                }
                Uuid::parse_str(s).map(Self).map_err(|_| {
                    ValidationError::new(ErrorCode::InvalidId, concat!($what, " must be a hyphenated UUID"))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
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

uuid_id!(
    /// The client-chosen id of a request; the response carries the same id.
    RequestId,
    "request id"
);
uuid_id!(
    /// The client-chosen id of a message, which makes sending idempotent: a retry with the
    /// same id returns the message stored the first time.
    ClientMsgId,
    "client message id"
);

impl RequestId {
    /// A fresh random (version 4) request id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl ClientMsgId {
    /// A fresh random (version 4) client message id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

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
}
