//! End-to-end encryption on the wire: devices with their public signature keys, opaque
//! MLS (RFC 9420) bytes in base64, key packages and Welcome messages.
//!
//! The server is only the delivery service of MLS: it orders, stores and forwards these
//! bytes, and reads no more than the MLS framing (group, epoch, content type). Private rooms
//! and direct chats are encrypted; docs/PROTOCOL.md says how a client takes part.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ErrorCode, ValidationError};
use crate::ids::{DeviceId, RoomId, Seq};
use crate::limits::{MAX_DEVICE_NAME_BYTES, MAX_MLS_BYTES};
use crate::model::{TimestampMs, UserInfo};

/// Bytes carried as standard base64 (with padding): MLS messages, key packages, public keys.
/// At most [`MAX_MLS_BYTES`] bytes once decoded.
#[derive(Clone, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "Bytes in standard base64 with padding, at most 49152 bytes once decoded."
)]
pub struct Base64Bytes(Vec<u8>);

impl Base64Bytes {
    /// Wraps bytes, checking the size cap.
    pub fn new(bytes: Vec<u8>) -> Result<Self, ValidationError> {
        if bytes.is_empty() || bytes.len() > MAX_MLS_BYTES {
            return Err(ValidationError::new(
                ErrorCode::InvalidMls,
                format!("expected 1 to {MAX_MLS_BYTES} bytes"),
            ));
        }
        Ok(Self(bytes))
    }

    /// Decodes base64 text.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.len() > MAX_MLS_BYTES.div_ceil(3) * 4 {
            return Err(ValidationError::new(
                ErrorCode::InvalidMls,
                format!("expected at most {MAX_MLS_BYTES} bytes"),
            ));
        }
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| ValidationError::new(ErrorCode::InvalidMls, "not standard base64"))?;
        Self::new(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Takes the bytes out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Base64Bytes::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A device's name for people ("laptop", "phone"): 1 to 64 bytes after trimming, no
/// control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "1 to 64 bytes of UTF-8 without control characters; surrounding whitespace is trimmed."
)]
pub struct DeviceName(String);

impl DeviceName {
    /// Trims and checks the rules.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty()
            || trimmed.len() > MAX_DEVICE_NAME_BYTES
            || trimmed.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                ErrorCode::InvalidRequest,
                "a device name is 1 to 64 bytes without control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for DeviceName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DeviceName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DeviceName::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One device of a user: one installation of a client, one MLS member of every encrypted
/// room of the user, with its own signature key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Device {
    /// The device's id.
    pub id: DeviceId,
    /// Whose device it is.
    pub user: UserInfo,
    /// Its name for people.
    pub name: DeviceName,
    /// Its public signature key (Ed25519), as the device registered it.
    pub signature_key: Base64Bytes,
    /// SHA-256 of `signature_key`, as uppercase hex pairs separated by colons: what people
    /// compare.
    pub fingerprint: String,
    /// When it was registered.
    pub created_at: TimestampMs,
    /// When it was last connected.
    pub last_seen_at: TimestampMs,
}

/// A key package handed out by `claim_key_packages`, for adding one device to a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimedKeyPackage {
    /// Whose key package it is.
    pub device_id: DeviceId,
    /// The MLS `KeyPackage` message.
    pub key_package: Base64Bytes,
}

/// A Welcome that goes with a commit adding devices to a room's group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OutgoingWelcome {
    /// The MLS `Welcome` message.
    pub mls: Base64Bytes,
    /// The devices it welcomes (those the commit adds).
    pub device_ids: Vec<DeviceId>,
}

/// A Welcome waiting for one device: it lets the device join the room's group at the
/// epoch the commit at `seq` starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Welcome {
    /// The welcome's id, for `ack_welcome`.
    pub id: u64,
    /// The room.
    pub room_id: RoomId,
    /// The device it is for.
    pub device_id: DeviceId,
    /// The seq of the commit that added the device: process the room's items after it.
    pub seq: Seq,
    /// The MLS `Welcome` message.
    pub mls: Base64Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_bytes_round_trip_and_are_capped() {
        let bytes = Base64Bytes::new(vec![0, 1, 2, 250]).unwrap();
        let json = serde_json::to_string(&bytes).unwrap();
        assert_eq!(json, "\"AAEC+g==\"");
        assert_eq!(serde_json::from_str::<Base64Bytes>(&json).unwrap(), bytes);
        for bad in ["\"not base64!\"", "\"\"", "\"AAEC+g\""] {
            assert!(serde_json::from_str::<Base64Bytes>(bad).is_err(), "{bad}");
        }
        assert!(Base64Bytes::new(vec![0; MAX_MLS_BYTES + 1]).is_err());
        assert!(Base64Bytes::new(vec![0; MAX_MLS_BYTES]).is_ok());
    }

    #[test]
    fn device_names_are_trimmed_and_checked() {
        assert_eq!(DeviceName::parse("  laptop ").unwrap().as_str(), "laptop");
        assert!(DeviceName::parse("").is_err());
        assert!(DeviceName::parse("a\u{7}").is_err());
        assert!(DeviceName::parse(&"x".repeat(65)).is_err());
    }
}
