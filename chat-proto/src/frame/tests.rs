//! Round trips of every message type and every decode error path.

use super::*;
use crate::ids::{ClientMsgId, InviteLinkId, MessageId, RoomId, UserId};
use crate::limits::DEFAULT_MAX_FRAME_BYTES;
use crate::model::*;
use crate::names::*;
use crate::rooms::*;

const ID: &str = "6f1c2b1e-8d3a-4c55-9a57-2f0f5d8b9e10";

fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    decode_client_frame(text.as_bytes(), DEFAULT_MAX_FRAME_BYTES)
}

fn user(id: u64, name: &str) -> UserInfo {
    UserInfo {
        id: UserId::new(id).unwrap(),
        username: Username::parse(name).unwrap(),
    }
}

fn message() -> Message {
    Message {
        id: MessageId::new(9).unwrap(),
        room_id: RoomId::new(3).unwrap(),
        seq: 7,
        sender: user(1, "alice"),
        client_msg_id: ClientMsgId::random(),
        sent_at: 1_700_000_000_000,
        device_id: None,
        content: Content::Text {
            body: MessageBody::parse("hi").unwrap(),
        },
    }
}

fn notice() -> Message {
    Message {
        content: Content::Notice {
            notice: Notice::RoleChanged {
                user: user(2, "bob"),
                role: Role::Admin,
            },
        },
        ..message()
    }
}

fn room() -> Room {
    Room {
        id: RoomId::new(3).unwrap(),
        kind: RoomKind::Group,
        name: "general".into(),
        peer: None,
        visibility: Visibility::Private,
        encrypted: false,
        topic: Some(RoomTopic::parse("plans").unwrap()),
        member_count: 2,
        created_at: 5,
    }
}

fn bytes(n: usize) -> crate::Base64Bytes {
    crate::Base64Bytes::new((0..n).map(|i| i as u8).collect()).unwrap()
}

fn welcome() -> crate::Welcome {
    crate::Welcome {
        id: 9,
        room_id: RoomId::new(3).unwrap(),
        device_id: crate::DeviceId::new(6).unwrap(),
        seq: 12,
        mls: bytes(400),
    }
}

fn device() -> crate::Device {
    crate::Device {
        id: crate::DeviceId::new(5).unwrap(),
        user: user(1, "alice"),
        name: crate::DeviceName::parse("laptop").unwrap(),
        signature_key: bytes(32),
        fingerprint: "AB:CD".into(),
        created_at: 1,
        last_seen_at: 2,
    }
}

fn link() -> InviteLink {
    InviteLink {
        id: InviteLinkId::new(4).unwrap(),
        room_id: RoomId::new(3).unwrap(),
        token: Some(InviteToken::parse("abcdefghijklmnopqrstuv").unwrap()),
        created_by: user(1, "alice"),
        created_at: 6,
        expires_at: Some(7),
        max_uses: Some(3),
        uses: 1,
        revoked: false,
    }
}

fn all_requests() -> Vec<Request> {
    let room_id = RoomId::new(3).unwrap();
    vec![
        Request::Register {
            username: Username::parse("alice").unwrap(),
            password: Password::parse("password1").unwrap(),
        },
        Request::Login {
            username: Username::parse("Alice").unwrap(),
            password: Password::parse("password1").unwrap(),
        },
        Request::ResumeSession {
            token: SessionToken::parse("abcdefghijklmnopqrstuv").unwrap(),
        },
        Request::Logout,
        Request::CreateRoom {
            name: RoomName::parse("general").unwrap(),
            visibility: Visibility::Public,
            topic: Some(RoomTopic::parse("plans").unwrap()),
            encrypted: None,
        },
        Request::ListRooms,
        Request::JoinRoom { room_id },
        Request::LeaveRoom { room_id },
        Request::ListMembers { room_id },
        Request::OpenDirect {
            username: Username::parse("bob").unwrap(),
        },
        Request::SendMessage {
            room_id,
            client_msg_id: ClientMsgId::random(),
            body: MessageBody::parse("hello").unwrap(),
        },
        Request::History {
            room_id,
            before_seq: Some(10),
            after_seq: None,
            limit: 50,
        },
        Request::History {
            room_id,
            before_seq: None,
            after_seq: Some(10),
            limit: 50,
        },
        Request::History {
            room_id,
            before_seq: None,
            after_seq: None,
            limit: 1,
        },
        Request::ResumeRoom {
            room_id,
            after_seq: 0,
        },
        Request::ResumeRooms {
            rooms: vec![
                crate::ResumePoint {
                    room_id,
                    after_seq: 3,
                },
                crate::ResumePoint {
                    room_id: RoomId::new(9).unwrap(),
                    after_seq: 0,
                },
            ],
            limit: Some(20),
        },
        Request::ResumeRooms {
            rooms: vec![],
            limit: None,
        },
        Request::MarkRead { room_id, seq: 4 },
        Request::Typing { room_id },
        Request::UpdateRoom {
            room_id,
            name: Some(RoomName::parse("renamed").unwrap()),
            topic: None,
        },
        Request::Invite {
            room_id,
            username: Username::parse("bob").unwrap(),
        },
        Request::ListInvitations,
        Request::DeclineInvitation { room_id },
        Request::CreateInviteLink {
            room_id,
            expires_in_secs: Some(3600),
            max_uses: Some(5),
        },
        Request::ListInviteLinks { room_id },
        Request::RevokeInviteLink {
            room_id,
            link_id: InviteLinkId::new(4).unwrap(),
        },
        Request::JoinByLink {
            token: InviteToken::parse("abcdefghijklmnopqrstuv").unwrap(),
        },
        Request::RemoveMember {
            room_id,
            user_id: UserId::new(2).unwrap(),
        },
        Request::Ban {
            room_id,
            user_id: UserId::new(2).unwrap(),
        },
        Request::Unban {
            room_id,
            user_id: UserId::new(2).unwrap(),
        },
        Request::ListBans { room_id },
        Request::SetRole {
            room_id,
            user_id: UserId::new(2).unwrap(),
            role: Role::Admin,
        },
        Request::TransferOwnership {
            room_id,
            user_id: UserId::new(2).unwrap(),
        },
        Request::ListPublicRooms {
            query: Some("gen".into()),
            after: Some("3.99".into()),
            limit: 20,
        },
        Request::RegisterDevice {
            name: crate::DeviceName::parse("laptop").unwrap(),
            signature_key: bytes(32),
        },
        Request::UseDevice {
            device_id: crate::DeviceId::new(5).unwrap(),
        },
        Request::ListDevices {
            user_id: UserId::new(2).unwrap(),
        },
        Request::RemoveDevice {
            device_id: crate::DeviceId::new(5).unwrap(),
        },
        Request::UploadKeyPackages {
            key_packages: vec![bytes(300), bytes(301)],
            last_resort: Some(bytes(302)),
        },
        Request::ClaimKeyPackages {
            room_id,
            device_ids: vec![crate::DeviceId::new(5).unwrap()],
        },
        Request::RoomDevices { room_id },
        Request::CreateGroup { room_id },
        Request::SendMls {
            room_id,
            client_msg_id: ClientMsgId::random(),
            mls: bytes(200),
            welcome: Some(crate::OutgoingWelcome {
                mls: bytes(400),
                device_ids: vec![crate::DeviceId::new(6).unwrap()],
            }),
        },
        Request::ListWelcomes,
        Request::AckWelcome { welcome_id: 9 },
        Request::Ping,
    ]
}

#[test]
fn every_request_round_trips_and_types_are_listed() {
    let mut seen = std::collections::BTreeSet::new();
    for request in all_requests() {
        let frame = ClientFrame::new(request);
        let text = frame.to_json();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], frame.request.type_name(), "{text}");
        assert_eq!(value["id"], frame.id.to_string());
        assert_eq!(decode(&text).unwrap(), frame, "{text}");
        seen.insert(frame.request.type_name());
    }
    let listed: std::collections::BTreeSet<_> = Request::TYPES.iter().copied().collect();
    assert_eq!(seen, listed, "every listed type has a round trip and vice versa");
}

#[test]
fn every_server_frame_round_trips() {
    let id = RequestId::random();
    let session = SessionInfo {
        user: user(1, "alice"),
        token: SessionToken::parse("abcdefghijklmnopqrstuv").unwrap(),
        expires_at: 9,
    };
    let results = vec![
        Response::Session(session),
        Response::Ok,
        Response::Pong,
        Response::Room { room: room() },
        Response::Rooms {
            rooms: vec![RoomSummary {
                room: room(),
                last_message: Some(message()),
                unread: 2,
                last_read_seq: 5,
                peer_online: Some(true),
                role: Role::Owner,
            }],
        },
        Response::Members {
            room_id: RoomId::new(3).unwrap(),
            members: vec![Member {
                user: user(2, "bob"),
                role: Role::Admin,
                online: true,
            }],
        },
        Response::Message { message: message() },
        Response::Messages {
            room_id: RoomId::new(3).unwrap(),
            messages: vec![message()],
            has_more: true,
        },
        Response::Resumed {
            room_id: RoomId::new(3).unwrap(),
            messages: vec![notice()],
            complete: false,
        },
        Response::ResumedRooms {
            rooms: vec![crate::ResumedRoom {
                room_id: RoomId::new(3).unwrap(),
                messages: vec![message(), notice()],
                complete: true,
            }],
            unreadable: vec![RoomId::new(4).unwrap()],
        },
        Response::Invitations {
            invitations: vec![Invitation {
                room: room(),
                inviter: user(1, "alice"),
                invited_at: 8,
            }],
        },
        Response::InviteLink { link: link() },
        Response::InviteLinks {
            room_id: RoomId::new(3).unwrap(),
            links: vec![InviteLink {
                token: None,
                ..link()
            }],
        },
        Response::Bans {
            room_id: RoomId::new(3).unwrap(),
            bans: vec![Ban {
                user: user(2, "bob"),
                banned_by: user(1, "alice"),
                banned_at: 9,
            }],
        },
        Response::PublicRooms {
            rooms: vec![room()],
            next: Some("2.3".into()),
        },
        Response::Device { device: device() },
        Response::Devices {
            user_id: UserId::new(1).unwrap(),
            devices: vec![device()],
        },
        Response::KeyPackageCount { remaining: 40 },
        Response::KeyPackages {
            room_id: RoomId::new(3).unwrap(),
            key_packages: vec![crate::ClaimedKeyPackage {
                device_id: crate::DeviceId::new(5).unwrap(),
                key_package: bytes(300),
            }],
        },
        Response::RoomDevices {
            room_id: RoomId::new(3).unwrap(),
            devices: vec![device()],
        },
        Response::Welcomes {
            welcomes: vec![welcome()],
        },
        Response::Message {
            message: Message {
                device_id: Some(crate::DeviceId::new(5).unwrap()),
                content: Content::Mls { mls: bytes(180) },
                ..message()
            },
        },
        Response::Message {
            message: Message {
                device_id: Some(crate::DeviceId::new(5).unwrap()),
                content: Content::MlsCommit { mls: bytes(900) },
                ..message()
            },
        },
    ];
    let limits = ServerLimits {
        max_frame_bytes: 65536,
        max_body_bytes: 16384,
        max_page_size: 200,
        requests_per_second: 50,
        auth_timeout_secs: 10,
        idle_timeout_secs: 60,
    };
    let events = vec![
        Event::Hello {
            protocol: 2,
            server: "chat-server 0.1.0".into(),
            limits,
        },
        Event::Message { message: message() },
        Event::Presence {
            user: user(2, "bob"),
            online: false,
        },
        Event::Message { message: notice() },
        Event::Welcome { welcome: welcome() },
        Event::KeyPackagesLow {
            device_id: crate::DeviceId::new(5).unwrap(),
            remaining: 3,
        },
        Event::DevicesChanged { user: user(2, "bob") },
        Event::Invited {
            invitation: Invitation {
                room: room(),
                inviter: user(1, "alice"),
                invited_at: 8,
            },
        },
        Event::Typing {
            room_id: RoomId::new(3).unwrap(),
            user: user(2, "bob"),
        },
        Event::Resync,
    ];
    let mut frames: Vec<ServerFrame> = results
        .into_iter()
        .map(|result| ServerFrame::Response { id, result })
        .collect();
    frames.extend(events.into_iter().map(|event| ServerFrame::Event { event }));
    for &code in ErrorCode::ALL {
        frames.push(ServerFrame::Error {
            id: Some(id),
            error: ErrorBody::new(code, "why"),
        });
    }
    frames.push(ServerFrame::Error {
        id: None,
        error: ErrorBody::new(ErrorCode::RateLimited, "slow down").with_retry_after_ms(250),
    });
    for frame in frames {
        let text = frame.to_json();
        assert_eq!(decode_server_frame(&text).unwrap(), frame, "{text}");
    }
}

fn expect_err(text: &str, code: ErrorCode, with_id: bool) -> DecodeError {
    let err = decode(text).expect_err(text);
    assert_eq!(err.error.code, code, "{text}: {}", err.error.message);
    assert_eq!(err.id.is_some(), with_id, "{text}: id kept?");
    err
}

#[test]
fn oversized_frame_is_refused_before_parsing() {
    let text = format!(r#"{{"id":"{ID}","type":"ping","pad":"{}"}}"#, "x".repeat(100));
    let err = decode_client_frame(text.as_bytes(), 64).unwrap_err();
    assert_eq!(err.error.code, ErrorCode::FrameTooLarge);
}

#[test]
fn invalid_utf8_non_json_and_non_objects_are_malformed() {
    let err = decode_client_frame(b"{\"id\":\"\xff\"}", DEFAULT_MAX_FRAME_BYTES).unwrap_err();
    assert_eq!(err.error.code, ErrorCode::MalformedFrame);
    expect_err("hello", ErrorCode::MalformedFrame, false);
    // Truncated after a complete id: the id is readable, so the answer carries it.
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"pi"#),
        ErrorCode::MalformedFrame,
        true,
    );
    expect_err("[1,2]", ErrorCode::MalformedFrame, false);
    expect_err("\"text\"", ErrorCode::MalformedFrame, false);
    expect_err("", ErrorCode::MalformedFrame, false);
}

#[test]
fn deep_nesting_is_refused_even_inside_unknown_fields() {
    let deep = format!(
        r#"{{"id":"{ID}","type":"ping","x":{}{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let err = expect_err(&deep, ErrorCode::TooDeep, true);
    assert_eq!(err.id.unwrap().to_string(), ID);
    // Brackets inside strings do not count.
    let quoted = format!(r#"{{"id":"{ID}","type":"ping","x":"{}"}}"#, "[".repeat(40));
    assert!(decode(&quoted).is_ok());
    let escaped = format!(r#"{{"id":"{ID}","type":"ping","x":"\"{}"}}"#, "[".repeat(40));
    assert!(decode(&escaped).is_ok());
}

#[test]
fn missing_or_bad_ids_are_invalid_id() {
    expect_err(r#"{"type":"ping"}"#, ErrorCode::InvalidId, false);
    expect_err(r#"{"id":"abc","type":"ping"}"#, ErrorCode::InvalidId, false);
    expect_err(r#"{"id":42,"type":"ping"}"#, ErrorCode::InvalidId, false);
    expect_err(r#"{"id":null,"type":"ping"}"#, ErrorCode::InvalidId, false);
}

#[test]
fn unknown_missing_or_non_string_types_keep_the_id() {
    let err = expect_err(
        &format!(r#"{{"id":"{ID}","type":"fly"}}"#),
        ErrorCode::UnknownType,
        true,
    );
    assert_eq!(err.id.unwrap().to_string(), ID);
    expect_err(&format!(r#"{{"id":"{ID}"}}"#), ErrorCode::UnknownType, true);
    expect_err(
        &format!(r#"{{"id":"{ID}","type":7}}"#),
        ErrorCode::UnknownType,
        true,
    );
}

#[test]
fn missing_fields_and_wrong_types_are_invalid_request() {
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"join_room"}}"#),
        ErrorCode::InvalidRequest,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"join_room","room_id":5}}"#),
        ErrorCode::InvalidRequest,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"join_room","room_id":"-5"}}"#),
        ErrorCode::InvalidRequest,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"mark_read","room_id":"1","seq":"x"}}"#),
        ErrorCode::InvalidRequest,
        true,
    );
}

#[test]
fn history_limits_out_of_range_are_invalid_request() {
    for limit in ["-1", "0", "201", "1000000000000", "1.5", "\"10\""] {
        let text = format!(r#"{{"id":"{ID}","type":"history","room_id":"1","limit":{limit}}}"#);
        expect_err(&text, ErrorCode::InvalidRequest, true);
    }
    let both =
        format!(r#"{{"id":"{ID}","type":"history","room_id":"1","before_seq":5,"after_seq":1,"limit":10}}"#);
    expect_err(&both, ErrorCode::InvalidRequest, true);
}

#[test]
fn value_rules_answer_with_their_own_codes() {
    let long_pw = "p".repeat(73);
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"login","username":"alice","password":"{long_pw}"}}"#),
        ErrorCode::PasswordTooLong,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"register","username":"a\u0007b","password":"password1"}}"#),
        ErrorCode::InvalidUsername,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"create_room","name":"bad\nname"}}"#),
        ErrorCode::InvalidRoomName,
        true,
    );
    let big = "x".repeat(crate::limits::MAX_BODY_BYTES + 1);
    let cmid = ClientMsgId::random();
    expect_err(
        &format!(
            r#"{{"id":"{ID}","type":"send_message","room_id":"1","client_msg_id":"{cmid}","body":"{big}"}}"#
        ),
        ErrorCode::BodyTooLarge,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"send_message","room_id":"1","client_msg_id":"nope","body":"hi"}}"#),
        ErrorCode::InvalidId,
        true,
    );
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"resume_session","token":"x"}}"#),
        ErrorCode::InvalidSession,
        true,
    );
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let frame = decode(&format!(r#"{{"id":"{ID}","type":"ping","future":{{"a":1}}}}"#)).unwrap();
    assert_eq!(frame.request, Request::Ping);
}

#[test]
fn decode_errors_become_error_frames_with_the_id() {
    let err = decode(&format!(r#"{{"id":"{ID}","type":"fly"}}"#)).unwrap_err();
    let value: Value = serde_json::from_str(&err.to_frame().to_json()).unwrap();
    assert_eq!(value["kind"], "error");
    assert_eq!(value["id"], ID);
    assert_eq!(value["error"]["code"], "unknown_type");
    assert_eq!(value["error"]["retryable"], false);
}

#[test]
fn server_frame_decoder_refuses_deep_and_foreign_frames() {
    let deep = format!(
        "{{\"kind\":\"event\",\"event\":{}{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    assert!(matches!(
        decode_server_frame(&deep),
        Err(ServerFrameError::TooDeep)
    ));
    assert!(matches!(
        decode_server_frame(r#"{"kind":"nope"}"#),
        Err(ServerFrameError::Invalid(_))
    ));
}

#[test]
fn the_id_is_kept_whatever_else_is_wrong_in_the_frame() {
    // A lone surrogate: what a JavaScript client sends after cutting an emoji in half.
    let lone = format!(
        r#"{{"id":"{ID}","type":"send_message","room_id":"1","client_msg_id":"{}","body":"\ud83d"}}"#,
        ClientMsgId::random()
    );
    let err = expect_err(&lone, ErrorCode::MalformedFrame, true);
    assert_eq!(err.id.unwrap().to_string(), ID);
    // The id after the broken part, and the broken part in an ignored field.
    let late = format!(r#"{{"type":"ping","x":"\udc00","id":"{ID}"}}"#);
    assert_eq!(
        expect_err(&late, ErrorCode::MalformedFrame, true)
            .id
            .unwrap()
            .to_string(),
        ID
    );
    let deep_first = format!(
        r#"{{"x":{}{},"type":"ping","id":"{ID}"}}"#,
        "{\"a\":".repeat(40),
        "1".to_owned() + &"}".repeat(40)
    );
    expect_err(&deep_first, ErrorCode::TooDeep, true);
    // Invalid UTF-8 outside the id.
    let mut bytes = format!(r#"{{"id":"{ID}","type":"ping","x":""#).into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\"}");
    let err = decode_client_frame(&bytes, DEFAULT_MAX_FRAME_BYTES).unwrap_err();
    assert_eq!(err.error.code, ErrorCode::MalformedFrame);
    assert_eq!(err.id.unwrap().to_string(), ID);
    // Wrong types of the fields.
    expect_err(
        &format!(r#"{{"id":"{ID}","type":"create_room","name":[1]}}"#),
        ErrorCode::InvalidRequest,
        true,
    );
    // An id that is there but not a UUID is no readable id.
    expect_err(
        &format!(
            r#"{{"id":"nope","type":"ping","x":{}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        ),
        ErrorCode::TooDeep,
        false,
    );
}

#[test]
fn request_ids_are_echoed_exactly_as_sent() {
    let upper = ID.to_uppercase();
    let frame = decode(&format!(r#"{{"id":"{upper}","type":"ping"}}"#)).unwrap();
    let answer = ServerFrame::Response {
        id: frame.id,
        result: Response::Pong,
    };
    let value: Value = serde_json::from_str(&answer.to_json()).unwrap();
    assert_eq!(value["id"], upper.as_str());
    let err = decode(&format!(r#"{{"id":"{upper}","type":"fly"}}"#)).unwrap_err();
    let value: Value = serde_json::from_str(&err.to_frame().to_json()).unwrap();
    assert_eq!(value["id"], upper.as_str());
}

#[test]
fn an_uppercase_client_message_id_is_refused_with_the_request_id() {
    let cmid = ClientMsgId::random().to_string().to_uppercase();
    let text = format!(
        r#"{{"id":"{ID}","type":"send_message","room_id":"1","client_msg_id":"{cmid}","body":"hi"}}"#
    );
    let err = expect_err(&text, ErrorCode::InvalidId, true);
    assert!(err.error.message.contains("lowercase"), "{}", err.error.message);
}
