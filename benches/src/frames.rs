//! The frames the load generator sends and the fast reading of the ones it receives.
//!
//! Setup requests are built from `chat-proto`'s types. The hot path is not: a sender builds
//! `send_message` text directly (ids from a cheap generator, no system call per message),
//! and a receiver picks the room, `seq` and the load marker out of a message event by
//! searching for fixed keys instead of deserializing the whole frame. A unit test checks both
//! against `chat-proto`'s decoders, so the shortcuts cannot drift from the protocol.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// Starts every message event (serde writes fields in declaration order, without spaces).
pub const MESSAGE_EVENT_PREFIX: &str = r#"{"kind":"event","event":{"type":"message","message":{"#;
/// Starts every successful response.
pub const RESPONSE_PREFIX: &str = r#"{"kind":"response""#;
/// Starts every error answer.
pub const ERROR_PREFIX: &str = r#"{"kind":"error""#;
/// Starts the body of a message the load generator sent.
const MARK_PREFIX: &str = "lg ";

static ROOM_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""room_id":""#));
static SEQ_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""seq":"#));
static BODY_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""body":""#));
static CLIENT_MSG_ID_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""client_msg_id":""#));
/// Starts the client message id of an encrypted message the load generator sent (whose body
/// it cannot read without decrypting, so the mark travels in the id).
const MARK_ID_PREFIX: &str = "10ad";

/// What the load generator put in a message body: who sent it, its number in that sender's
/// stream, and when it was sent (microseconds since the run's epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The sender's index.
    pub sender: u32,
    /// The message's number in the sender's stream, from 0.
    pub n: u64,
    /// Send time, microseconds since the run's epoch.
    pub t_us: u64,
}

/// A message event, as far as the load generator reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenMessage {
    /// The room.
    pub room: u64,
    /// The message's sequence number in the room.
    pub seq: u64,
    /// The load marker, when the body carries one.
    pub mark: Option<Mark>,
}

/// A server frame sorted by what the load generator does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sorted {
    /// A message event.
    Message(SeenMessage),
    /// A successful response.
    Response,
    /// An error answer.
    Error,
    /// Any other event (presence, membership, typing).
    OtherEvent,
}

/// Sorts one server frame.
pub fn sort(text: &str) -> Sorted {
    if text.starts_with(MESSAGE_EVENT_PREFIX) {
        match read_message(text.as_bytes()) {
            Some(seen) => Sorted::Message(seen),
            None => Sorted::OtherEvent,
        }
    } else if text.starts_with(RESPONSE_PREFIX) {
        Sorted::Response
    } else if text.starts_with(ERROR_PREFIX) {
        Sorted::Error
    } else {
        Sorted::OtherEvent
    }
}

fn read_message(bytes: &[u8]) -> Option<SeenMessage> {
    let room_at = ROOM_KEY.find(bytes)? + ROOM_KEY.needle().len();
    let (room, rest) = digits(&bytes[room_at..])?;
    let seq_at = SEQ_KEY.find(rest)? + SEQ_KEY.needle().len();
    let (seq, rest) = digits(&rest[seq_at..])?;
    let mark = match BODY_KEY.find(rest) {
        Some(at) => read_mark(&rest[at + BODY_KEY.needle().len()..]),
        // An MLS item: the mark is in its client message id.
        None => {
            let at = CLIENT_MSG_ID_KEY.find(rest)? + CLIENT_MSG_ID_KEY.needle().len();
            read_mark_id(rest.get(at..at + 36)?)
        }
    };
    Some(SeenMessage { room, seq, mark })
}

/// The client message id that carries `mark`: `10ad` and the sender (4 hex digits), the
/// number (48 bits in three groups of 4), and the send time (48 bits, 12 digits). A valid
/// UUID, which is all the server asks of it.
pub fn mark_id(mark: Mark) -> String {
    let n = mark.n & 0xffff_ffff_ffff;
    format!(
        "{MARK_ID_PREFIX}{:04x}-{:04x}-{:04x}-{:04x}-{:012x}",
        mark.sender & 0xffff,
        n >> 32,
        (n >> 16) & 0xffff,
        n & 0xffff,
        mark.t_us & 0xffff_ffff_ffff
    )
}

fn read_mark_id(id: &[u8]) -> Option<Mark> {
    let id = std::str::from_utf8(id).ok()?;
    let rest = id.strip_prefix(MARK_ID_PREFIX)?;
    let hex = |part: &str| u64::from_str_radix(part, 16).ok();
    let mut parts = rest.split('-');
    let sender = hex(parts.next()?)?;
    let (a, b, c) = (hex(parts.next()?)?, hex(parts.next()?)?, hex(parts.next()?)?);
    let t_us = hex(parts.next()?)?;
    Some(Mark {
        sender: u32::try_from(sender).ok()?,
        n: (a << 32) | (b << 16) | c,
        t_us,
    })
}

fn read_mark(body: &[u8]) -> Option<Mark> {
    let rest = body.strip_prefix(MARK_PREFIX.as_bytes())?;
    let (sender, rest) = digits(rest)?;
    let (n, rest) = digits(rest.strip_prefix(b" ")?)?;
    let (t_us, _) = digits(rest.strip_prefix(b" ")?)?;
    Some(Mark {
        sender: u32::try_from(sender).ok()?,
        n,
        t_us,
    })
}

/// A decimal number at the start of `bytes` and what follows it.
fn digits(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    if end == 0 || end > 19 {
        return None;
    }
    let mut value = 0u64;
    for b in &bytes[..end] {
        value = value * 10 + u64::from(b - b'0');
    }
    Some((value, &bytes[end..]))
}

/// Makes version-4 UUIDs from a xorshift generator: request ids and client message ids
/// need to be unique, not unpredictable, and this costs no system call.
#[derive(Debug)]
pub struct IdGen(u64);

impl IdGen {
    /// A generator seeded from the clock and a salt (such as a sender index).
    pub fn new(salt: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Self((nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A fresh version-4 UUID.
    pub fn uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// The text of a `send_message` frame whose body carries `mark`, padded with dots to
/// `body_bytes` (the marker alone when it is longer).
pub fn send_message(ids: &mut IdGen, room: u64, mark: Mark, body_bytes: usize) -> String {
    let mut body = format!("{MARK_PREFIX}{} {} {} ", mark.sender, mark.n, mark.t_us);
    while body.len() < body_bytes {
        body.push('.');
    }
    format!(
        r#"{{"id":"{}","type":"send_message","room_id":"{room}","client_msg_id":"{}","body":"{body}"}}"#,
        ids.uuid(),
        ids.uuid()
    )
}

/// The text of a `send_mls` frame carrying the ciphertext `mls` (base64), with `mark` in its
/// client message id.
pub fn send_mls(ids: &mut IdGen, room: u64, mark: Mark, mls: &str) -> String {
    format!(
        r#"{{"id":"{}","type":"send_mls","room_id":"{room}","client_msg_id":"{}","mls":"{mls}"}}"#,
        ids.uuid(),
        mark_id(mark)
    )
}

#[cfg(test)]
mod tests {
    use chat_proto::{
        ClientMsgId, DEFAULT_MAX_FRAME_BYTES, Event, Message, MessageBody, MessageId, Request, RoomId,
        ServerFrame, UserInfo, Username, decode_client_frame,
    };

    use super::*;

    #[test]
    fn a_hand_built_send_decodes_as_the_protocol_says() {
        let mut ids = IdGen::new(7);
        let mark = Mark {
            sender: 3,
            n: 41,
            t_us: 123_456,
        };
        let text = send_message(&mut ids, 12, mark, 100);
        let frame = decode_client_frame(text.as_bytes(), DEFAULT_MAX_FRAME_BYTES).unwrap();
        match frame.request {
            Request::SendMessage { room_id, body, .. } => {
                assert_eq!(room_id.get(), 12);
                assert_eq!(body.as_str().len(), 100);
                assert_eq!(read_mark(body.as_str().as_bytes()), Some(mark));
            }
            other => panic!("decoded as {other:?}"),
        }
        assert_eq!(frame.id.to_string().as_bytes()[14], b'4', "version 4 id");
    }

    #[test]
    fn message_events_are_read_without_a_full_decode() {
        let message = Message {
            id: MessageId::new(99).unwrap(),
            room_id: RoomId::new(12).unwrap(),
            seq: 5,
            sender: UserInfo {
                id: chat_proto::UserId::new(3).unwrap(),
                username: Username::parse("lg_u3").unwrap(),
            },
            client_msg_id: ClientMsgId::random(),
            sent_at: 1,
            device_id: None,
            content: chat_proto::Content::Text {
                body: MessageBody::parse("lg 3 41 123456 ....").unwrap(),
            },
        };
        let text = ServerFrame::Event {
            event: Event::Message {
                message: message.clone(),
            },
        }
        .to_json();
        let expected = SeenMessage {
            room: 12,
            seq: 5,
            mark: Some(Mark {
                sender: 3,
                n: 41,
                t_us: 123_456,
            }),
        };
        assert_eq!(sort(&text), Sorted::Message(expected));

        let plain = Message {
            content: chat_proto::Content::Text {
                body: MessageBody::parse("hello").unwrap(),
            },
            ..message
        };
        let text = ServerFrame::Event {
            event: Event::Message { message: plain },
        }
        .to_json();
        assert!(matches!(
            sort(&text),
            Sorted::Message(SeenMessage {
                mark: None,
                seq: 5,
                ..
            })
        ));
        let pong = ServerFrame::Response {
            id: chat_proto::RequestId::random(),
            result: chat_proto::Response::Pong,
        };
        assert_eq!(sort(&pong.to_json()), Sorted::Response);
        assert_eq!(sort(r#"{"kind":"error","error":{}}"#), Sorted::Error);
        assert_eq!(
            sort(r#"{"kind":"event","event":{"type":"presence"}}"#),
            Sorted::OtherEvent
        );
    }

    #[test]
    fn an_encrypted_send_carries_its_mark_in_the_client_message_id() {
        let mut ids = IdGen::new(7);
        let mark = Mark {
            sender: 9,
            n: 0x1234_5678_9abc,
            t_us: 987_654_321,
        };
        let text = send_mls(&mut ids, 12, mark, "AAEAAgAAAAAAAAAB");
        let frame = decode_client_frame(text.as_bytes(), DEFAULT_MAX_FRAME_BYTES).unwrap();
        let Request::SendMls {
            room_id,
            client_msg_id,
            mls,
            welcome,
        } = frame.request
        else {
            panic!("decoded as {:?}", frame.request);
        };
        assert_eq!(room_id.get(), 12);
        assert_eq!(mls.as_bytes(), [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(welcome.is_none());

        // The server echoes the id in the MLS item it delivers; the mark comes back out.
        let message = Message {
            id: MessageId::new(99).unwrap(),
            room_id,
            seq: 6,
            sender: UserInfo {
                id: chat_proto::UserId::new(3).unwrap(),
                username: Username::parse("lg_u3").unwrap(),
            },
            client_msg_id,
            sent_at: 1,
            device_id: Some(chat_proto::DeviceId::new(4).unwrap()),
            content: chat_proto::Content::Mls { mls },
        };
        let event = |message: Message| ServerFrame::Event {
            event: Event::Message { message },
        };
        let expected = SeenMessage {
            room: 12,
            seq: 6,
            mark: Some(mark),
        };
        assert_eq!(sort(&event(message.clone()).to_json()), Sorted::Message(expected));

        // Someone else's MLS item has no mark.
        let other = Message {
            client_msg_id: ClientMsgId::from_uuid(uuid::Uuid::from_u128(
                0x2f1e_4b3c_5d6e_4f70_8192_a3b4_c5d6_e7f8,
            )),
            ..message
        };
        assert_eq!(
            sort(&event(other).to_json()),
            Sorted::Message(SeenMessage {
                mark: None,
                ..expected
            })
        );
    }

    #[test]
    fn ids_are_distinct() {
        let mut ids = IdGen::new(1);
        let a = ids.uuid();
        let b = ids.uuid();
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 4);
    }
}
