//! Reading the framing of MLS (RFC 9420) messages, never their content: which group, which
//! epoch, and whether a message is an application message, a proposal or a commit. That is
//! all the delivery service needs to order a room's messages (one commit per epoch) and to
//! refuse bytes that are not what a request says they are. The parsing is openmls's own, so
//! the server reads the framing exactly as the clients write it.

use openmls::prelude::tls_codec::DeserializeBytes;
use openmls::prelude::{ContentType, MlsMessageBodyIn, MlsMessageIn, ProtocolMessage};

/// What an MLS protocol message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An application message (a chat message, encrypted).
    Application,
    /// A standalone proposal.
    Proposal,
    /// A commit: it moves the group to the next epoch.
    Commit,
}

/// The framing of an MLS protocol message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framing {
    /// The group's id.
    pub group_id: Vec<u8>,
    /// The epoch the message was made in.
    pub epoch: u64,
    /// What the message is.
    pub kind: MessageKind,
}

/// Why bytes were not what they should be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Not an MLS message at all (or trailing bytes after one).
    #[error("not an MLS message: {0}")]
    Malformed(String),
    /// An MLS message of another kind than expected.
    #[error("an MLS {found} where a {expected} was expected")]
    WrongKind {
        /// What was expected.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
}

fn parse(bytes: &[u8]) -> Result<MlsMessageIn, FramingError> {
    let (message, rest) =
        MlsMessageIn::tls_deserialize_bytes(bytes).map_err(|e| FramingError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FramingError::Malformed(format!(
            "{} bytes after the message",
            rest.len()
        )));
    }
    Ok(message)
}

fn body_name(body: &MlsMessageBodyIn) -> &'static str {
    match body {
        MlsMessageBodyIn::PublicMessage(_) => "public message",
        MlsMessageBodyIn::PrivateMessage(_) => "private message",
        MlsMessageBodyIn::Welcome(_) => "welcome",
        MlsMessageBodyIn::GroupInfo(_) => "group info",
        MlsMessageBodyIn::KeyPackage(_) => "key package",
        #[allow(unreachable_patterns)]
        _ => "other message",
    }
}

/// Reads the framing of a protocol message (a public or private message).
pub fn read_protocol_message(bytes: &[u8]) -> Result<Framing, FramingError> {
    let message = parse(bytes)?;
    let found = body_name(&message.clone().extract());
    let protocol: ProtocolMessage =
        message
            .try_into_protocol_message()
            .map_err(|_| FramingError::WrongKind {
                expected: "protocol message",
                found,
            })?;
    let kind = match protocol.content_type() {
        ContentType::Application => MessageKind::Application,
        ContentType::Proposal => MessageKind::Proposal,
        ContentType::Commit => MessageKind::Commit,
    };
    Ok(Framing {
        group_id: protocol.group_id().as_slice().to_vec(),
        epoch: protocol.epoch().as_u64(),
        kind,
    })
}

/// Checks that bytes are one MLS message of the expected body kind.
fn expect_body(
    bytes: &[u8],
    expected: &'static str,
    is: fn(&MlsMessageBodyIn) -> bool,
) -> Result<(), FramingError> {
    let body = parse(bytes)?.extract();
    if is(&body) {
        Ok(())
    } else {
        Err(FramingError::WrongKind {
            expected,
            found: body_name(&body),
        })
    }
}

/// Checks that bytes are one MLS Welcome message.
pub fn check_welcome(bytes: &[u8]) -> Result<(), FramingError> {
    expect_body(bytes, "welcome", |b| matches!(b, MlsMessageBodyIn::Welcome(_)))
}

/// Checks that bytes are one MLS KeyPackage message.
pub fn check_key_package(bytes: &[u8]) -> Result<(), FramingError> {
    expect_body(bytes, "key package", |b| {
        matches!(b, MlsMessageBodyIn::KeyPackage(_))
    })
}

/// The group id of a room's MLS group: the room id's 8 bytes, big endian.
pub fn room_group_id(room: chat_proto::RoomId) -> [u8; 8] {
    room.get().to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_bytes_are_malformed_never_a_panic() {
        for bytes in [&b""[..], b"\x00", b"not mls at all", &[0u8; 64], &[0xff; 300]] {
            assert!(matches!(
                read_protocol_message(bytes),
                Err(FramingError::Malformed(_))
            ));
            assert!(check_welcome(bytes).is_err());
            assert!(check_key_package(bytes).is_err());
        }
        // Every prefix of random bytes: an error each time, no panic.
        let noise: Vec<u8> = (0..512u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for end in 0..noise.len() {
            let _ = read_protocol_message(&noise[..end]);
        }
    }
}
