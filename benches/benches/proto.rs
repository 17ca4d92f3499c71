//! Protocol codec: every request decoded as the server decodes it (with all its checks) and
//! encoded as a client encodes it; the server's frames encoded as the server sends them and
//! decoded as a client reads them. Throughput is in bytes of JSON.

use std::hint::black_box;
use std::time::Duration;

use chat_proto::{
    ClientFrame, ClientMsgId, DEFAULT_MAX_FRAME_BYTES, ErrorBody, ErrorCode, Event, Member, Message,
    MessageBody, MessageId, Password, RequestId, Response, Room, RoomId, RoomKind, RoomName, ServerFrame,
    ServerLimits, SessionInfo, SessionToken, UserId, UserInfo, Username, decode_client_frame,
    decode_server_frame,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn user(id: u64) -> UserInfo {
    UserInfo {
        id: UserId::new(id).expect("constant id"),
        username: Username::parse(&format!("user{id}")).expect("constant name"),
    }
}

fn room_id() -> RoomId {
    RoomId::new(42).expect("constant id")
}

fn message(seq: u64) -> Message {
    Message {
        id: MessageId::new(1000 + seq).expect("constant id"),
        room_id: room_id(),
        seq,
        sender: user(7),
        client_msg_id: ClientMsgId::random(),
        sent_at: 1_767_225_600_000,
        device_id: None,
        // A typical chat line: 100 bytes.
        content: chat_proto::Content::Text {
            body: MessageBody::parse(
                &"see you at the station at six, bring the tickets please ".repeat(2)[..100],
            )
            .expect("constant body"),
        },
    }
}

/// One client frame of every request type.
fn requests() -> Vec<(&'static str, ClientFrame)> {
    use chat_proto::Request as R;
    let token = SessionToken::parse("q8ZC3k2m9Jd1xYb7uVt0LpWnRe5sHg4fA6iKoM_-aBc").expect("constant token");
    let name = || Username::parse("alice").expect("constant name");
    let password = || Password::parse("correct horse battery").expect("constant password");
    let body = message(1).text().expect("a text message").clone();
    [
        (
            "register",
            R::Register {
                username: name(),
                password: password(),
            },
        ),
        (
            "login",
            R::Login {
                username: name(),
                password: password(),
            },
        ),
        ("resume_session", R::ResumeSession { token }),
        (
            "create_room",
            R::CreateRoom {
                name: RoomName::parse("general").expect("constant name"),
                visibility: chat_proto::Visibility::Private,
                topic: None,
                encrypted: None,
            },
        ),
        ("join_room", R::JoinRoom { room_id: room_id() }),
        ("list_rooms", R::ListRooms),
        ("list_members", R::ListMembers { room_id: room_id() }),
        ("open_direct", R::OpenDirect { username: name() }),
        (
            "send_message",
            R::SendMessage {
                room_id: room_id(),
                client_msg_id: ClientMsgId::random(),
                body,
            },
        ),
        (
            "history",
            R::History {
                room_id: room_id(),
                before_seq: Some(500),
                after_seq: None,
                limit: 50,
            },
        ),
        (
            "resume_room",
            R::ResumeRoom {
                room_id: room_id(),
                after_seq: 480,
            },
        ),
        (
            "mark_read",
            R::MarkRead {
                room_id: room_id(),
                seq: 500,
            },
        ),
        ("typing", R::Typing { room_id: room_id() }),
        ("ping", R::Ping),
    ]
    .into_iter()
    .map(|(name, request)| (name, ClientFrame::new(request)))
    .collect()
}

/// One server frame of each kind a client commonly receives.
fn server_frames() -> Vec<(&'static str, ServerFrame)> {
    let id = RequestId::random;
    let room = Room {
        id: room_id(),
        kind: RoomKind::Group,
        name: "general".into(),
        peer: None,
        visibility: chat_proto::Visibility::Public,
        encrypted: false,
        topic: None,
        member_count: 100,
        created_at: 1_767_225_600_000,
    };
    vec![
        (
            "event_message",
            ServerFrame::Event {
                event: Event::Message {
                    message: message(501),
                },
            },
        ),
        (
            "event_presence",
            ServerFrame::Event {
                event: Event::Presence {
                    user: user(3),
                    online: true,
                },
            },
        ),
        (
            "event_hello",
            ServerFrame::Event {
                event: Event::Hello {
                    protocol: 2,
                    server: "chat-server 0.1.0".into(),
                    limits: ServerLimits {
                        max_frame_bytes: 65536,
                        max_body_bytes: 16384,
                        max_page_size: 200,
                        requests_per_second: 50,
                        auth_timeout_secs: 10,
                        idle_timeout_secs: 60,
                    },
                },
            },
        ),
        (
            "response_message",
            ServerFrame::Response {
                id: id(),
                result: Response::Message {
                    message: message(501),
                },
            },
        ),
        (
            "response_session",
            ServerFrame::Response {
                id: id(),
                result: Response::Session(SessionInfo {
                    user: user(7),
                    token: SessionToken::parse("q8ZC3k2m9Jd1xYb7uVt0LpWnRe5sHg4fA6iKoM_-aBc")
                        .expect("constant"),
                    expires_at: 1_769_817_600_000,
                }),
            },
        ),
        (
            "response_room",
            ServerFrame::Response {
                id: id(),
                result: Response::Room { room },
            },
        ),
        (
            "response_history_50",
            ServerFrame::Response {
                id: id(),
                result: Response::Messages {
                    room_id: room_id(),
                    messages: (451..=500).map(message).collect(),
                    has_more: true,
                },
            },
        ),
        (
            "response_members_100",
            ServerFrame::Response {
                id: id(),
                result: Response::Members {
                    room_id: room_id(),
                    members: (1..=100)
                        .map(|i| Member {
                            user: user(i),
                            role: chat_proto::Role::Member,
                            online: i % 3 == 0,
                        })
                        .collect(),
                },
            },
        ),
        (
            "error",
            ServerFrame::Error {
                id: Some(id()),
                error: ErrorBody::new(ErrorCode::RateLimited, "too many requests on this connection")
                    .with_retry_after_ms(120),
            },
        ),
    ]
}

fn client_frames(c: &mut Criterion) {
    let mut decode = c.benchmark_group("decode_client_frame");
    for (name, frame) in requests() {
        let text = frame.to_json();
        decode.throughput(Throughput::Bytes(text.len() as u64));
        decode.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| decode_client_frame(black_box(text.as_bytes()), DEFAULT_MAX_FRAME_BYTES))
        });
    }
    decode.finish();
    let mut encode = c.benchmark_group("encode_client_frame");
    for (name, frame) in requests() {
        encode.throughput(Throughput::Bytes(frame.to_json().len() as u64));
        encode.bench_with_input(BenchmarkId::from_parameter(name), &frame, |b, frame| {
            b.iter(|| black_box(frame).to_json())
        });
    }
    encode.finish();
}

fn server_side(c: &mut Criterion) {
    let mut encode = c.benchmark_group("encode_server_frame");
    for (name, frame) in server_frames() {
        encode.throughput(Throughput::Bytes(frame.to_json().len() as u64));
        encode.bench_with_input(BenchmarkId::from_parameter(name), &frame, |b, frame| {
            b.iter(|| black_box(frame).to_json())
        });
    }
    encode.finish();
    let mut decode = c.benchmark_group("decode_server_frame");
    for (name, frame) in server_frames() {
        let text = frame.to_json();
        decode.throughput(Throughput::Bytes(text.len() as u64));
        decode.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| decode_server_frame(black_box(text)))
        });
    }
    decode.finish();
}

fn config() -> Criterion {
    // Short runs: the whole `cargo bench` should take minutes, not an hour.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = proto;
    config = config();
    targets = client_frames, server_side
}
criterion_main!(proto);
