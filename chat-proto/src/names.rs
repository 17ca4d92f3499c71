//! Validated text values: usernames, room names and topics, message bodies, passwords,
//! session tokens and invite tokens. Each has a byte cap and a character rule, and the constructor is the only way in.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ErrorCode, ValidationError};
use crate::limits::{
    MAX_BODY_BYTES, MAX_PASSWORD_BYTES, MAX_ROOM_NAME_BYTES, MAX_ROOM_TOPIC_BYTES, MAX_TOKEN_BYTES,
    MAX_USERNAME_BYTES, MIN_PASSWORD_BYTES, MIN_TOKEN_BYTES, MIN_USERNAME_BYTES,
};

/// Implements string serde for a validated newtype through its `parse` constructor.
macro_rules! string_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A username: 3 to 32 bytes of ASCII letters, digits, `_`, `.` and `-`, starting with a
/// letter or digit. Unique case-insensitively: `Alice` and `alice` are the same account,
/// shown the way it was registered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "3 to 32 of a-z A-Z 0-9 _ . - , starting with a letter or digit; unique ignoring case."
)]
pub struct Username(String);

impl Username {
    /// Checks the username rules.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let len_ok = (MIN_USERNAME_BYTES..=MAX_USERNAME_BYTES).contains(&text.len());
        let chars_ok = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        let start_ok = text.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if len_ok && chars_ok && start_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                ErrorCode::InvalidUsername,
                "a username is 3 to 32 characters of a-z, A-Z, 0-9, '_', '.', '-' and starts with a letter or digit",
            ))
        }
    }

    /// The lowercase form that uniqueness and login compare.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}
string_serde!(Username);

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room name: 1 to 64 bytes of UTF-8 after trimming surrounding whitespace, with no
/// control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "1 to 64 bytes of UTF-8 without control characters; surrounding whitespace is trimmed."
)]
pub struct RoomName(String);

impl RoomName {
    /// Trims and checks the room name rules.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.len() > MAX_ROOM_NAME_BYTES {
            return Err(ValidationError::new(
                ErrorCode::InvalidRoomName,
                "a room name is 1 to 64 bytes long",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new(
                ErrorCode::InvalidRoomName,
                "a room name cannot contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }
}
string_serde!(RoomName);

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room topic: up to 512 bytes of UTF-8 after trimming surrounding whitespace, with no
/// control characters other than newline; empty clears the topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "0 to 512 bytes of UTF-8 without control characters except newline; surrounding whitespace is trimmed; empty clears the topic."
)]
pub struct RoomTopic(String);

impl RoomTopic {
    /// Trims and checks the topic rules.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.len() > MAX_ROOM_TOPIC_BYTES {
            return Err(ValidationError::new(
                ErrorCode::InvalidTopic,
                "a room topic is at most 512 bytes long",
            ));
        }
        if trimmed.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ValidationError::new(
                ErrorCode::InvalidTopic,
                "a room topic cannot contain control characters other than newline",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Whether the topic is empty (no topic).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
string_serde!(RoomTopic);

/// A message body: 1 to 16 KiB of UTF-8, not only whitespace, with no control characters
/// other than newline and tab.
#[derive(Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "1 to 16384 bytes of UTF-8, not only whitespace; no control characters except newline and tab."
)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks the body rules.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.len() > MAX_BODY_BYTES {
            return Err(ValidationError::new(
                ErrorCode::BodyTooLarge,
                format!("a message body is at most {MAX_BODY_BYTES} bytes"),
            ));
        }
        if text.trim().is_empty() {
            return Err(ValidationError::new(
                ErrorCode::InvalidBody,
                "a message body cannot be empty",
            ));
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ValidationError::new(
                ErrorCode::InvalidBody,
                "a message body cannot contain control characters other than newline and tab",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// Takes the text out.
    pub fn into_string(self) -> String {
        self.0
    }
}
string_serde!(MessageBody);

impl fmt::Display for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password: 8 to 72 bytes (bcrypt reads 72 bytes; a longer password is refused, never
/// truncated), with no NUL byte. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, JsonSchema)]
#[schemars(
    with = "String",
    description = "8 to 72 bytes of UTF-8 without NUL. Longer passwords are refused with password_too_long."
)]
pub struct Password(String);

impl Password {
    /// Checks the password rules.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.len() > MAX_PASSWORD_BYTES {
            return Err(ValidationError::new(
                ErrorCode::PasswordTooLong,
                format!("a password is at most {MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)"),
            ));
        }
        if text.len() < MIN_PASSWORD_BYTES {
            return Err(ValidationError::new(
                ErrorCode::InvalidPassword,
                format!("a password is at least {MIN_PASSWORD_BYTES} bytes"),
            ));
        }
        if text.contains('\0') {
            return Err(ValidationError::new(
                ErrorCode::InvalidPassword,
                "a password cannot contain NUL",
            ));
        }
        Ok(Self(text.to_owned()))
    }
}
string_serde!(Password);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// An opaque session token as issued at login: 16 to 128 URL-safe characters. `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "Opaque session token: 16 to 128 characters of A-Z a-z 0-9 - _."
)]
pub struct SessionToken(String);

impl SessionToken {
    /// Checks the token's form (not whether it is valid on the server).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let len_ok = (MIN_TOKEN_BYTES..=MAX_TOKEN_BYTES).contains(&text.len());
        if len_ok
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                ErrorCode::InvalidSession,
                "malformed session token",
            ))
        }
    }
}
string_serde!(SessionToken);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// The secret of an invite link: 16 to 128 characters of `A-Z a-z 0-9 - _`. Whoever holds
/// it may join the link's room while the link is valid, so it is shown once, when the link
/// is made, and the server keeps only its hash.
#[derive(Clone, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(
    with = "String",
    description = "16 to 128 characters of A-Z a-z 0-9 - _ : the secret part of an invite link."
)]
pub struct InviteToken(String);

impl InviteToken {
    /// Checks the token's form (not whether a link with it exists).
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let len_ok = (MIN_TOKEN_BYTES..=MAX_TOKEN_BYTES).contains(&text.len());
        if len_ok
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                ErrorCode::InviteLinkInvalid,
                "malformed invite link",
            ))
        }
    }
}
string_serde!(InviteToken);

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules_and_compare_without_case() {
        let name = Username::parse("Alice_1.x-y").unwrap();
        assert_eq!(name.canonical(), "alice_1.x-y");
        for bad in ["", "ab", "_alice", "al ice", "alice\n", "ålice", &"a".repeat(33)] {
            let err = Username::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidUsername, "{bad:?}");
        }
    }

    #[test]
    fn room_names_are_trimmed_and_refuse_controls() {
        assert_eq!(RoomName::parse("  Général  ").unwrap().as_str(), "Général");
        for bad in ["", "   ", "a\u{7}b", "tab\there", &"x".repeat(65)] {
            assert_eq!(
                RoomName::parse(bad).unwrap_err().code,
                ErrorCode::InvalidRoomName,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn topics_are_trimmed_capped_and_may_be_empty() {
        assert_eq!(
            RoomTopic::parse("  plans\nand notes ").unwrap().as_str(),
            "plans\nand notes"
        );
        assert!(RoomTopic::parse("").unwrap().is_empty());
        for bad in ["a\u{7}b", "tab\there", &"x".repeat(513)] {
            assert_eq!(
                RoomTopic::parse(bad).unwrap_err().code,
                ErrorCode::InvalidTopic,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn invite_tokens_have_the_token_form() {
        assert!(InviteToken::parse("abcdefghijklmnop_-0123").is_ok());
        for bad in ["short", "has space in it here", &"x".repeat(129)] {
            assert_eq!(
                InviteToken::parse(bad).unwrap_err().code,
                ErrorCode::InviteLinkInvalid
            );
        }
    }

    #[test]
    fn bodies_have_a_byte_cap_and_no_controls() {
        assert!(MessageBody::parse("hello\n\tworld 👋").is_ok());
        assert_eq!(
            MessageBody::parse(" \n ").unwrap_err().code,
            ErrorCode::InvalidBody
        );
        assert_eq!(
            MessageBody::parse("a\u{0}b").unwrap_err().code,
            ErrorCode::InvalidBody
        );
        assert_eq!(
            MessageBody::parse("a\rb").unwrap_err().code,
            ErrorCode::InvalidBody
        );
        let big = "é".repeat(MAX_BODY_BYTES / 2 + 1);
        assert_eq!(
            MessageBody::parse(&big).unwrap_err().code,
            ErrorCode::BodyTooLarge
        );
        assert!(MessageBody::parse(&"x".repeat(MAX_BODY_BYTES)).is_ok());
    }

    #[test]
    fn passwords_over_72_bytes_are_refused_not_truncated() {
        assert!(Password::parse(&"p".repeat(72)).is_ok());
        assert_eq!(
            Password::parse(&"p".repeat(73)).unwrap_err().code,
            ErrorCode::PasswordTooLong
        );
        // 37 two-byte characters are 74 bytes: the rule counts bytes, not characters.
        assert_eq!(
            Password::parse(&"é".repeat(37)).unwrap_err().code,
            ErrorCode::PasswordTooLong
        );
        assert_eq!(
            Password::parse("short").unwrap_err().code,
            ErrorCode::InvalidPassword
        );
        assert_eq!(
            Password::parse("with\0nul!").unwrap_err().code,
            ErrorCode::InvalidPassword
        );
        assert_eq!(
            format!("{:?}", Password::parse("secret-password").unwrap()),
            "Password(..)"
        );
    }

    #[test]
    fn tokens_have_a_form() {
        assert!(SessionToken::parse("abcdefghijklmnop_-0123").is_ok());
        for bad in ["short", "has space in it here", "ünïcödé-ünïcödé-x"] {
            assert_eq!(
                SessionToken::parse(bad).unwrap_err().code,
                ErrorCode::InvalidSession
            );
        }
    }
}
