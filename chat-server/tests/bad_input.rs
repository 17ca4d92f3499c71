//! Bad input over a real connection: each gets its documented error code (and the same
//! connection keeps being served) or its close code; nothing is stored; another client is
//! served throughout.

mod common;

use chat_proto::close;
use common::{Client, Incoming, TestServer};
use fastwebsockets::{Frame, OpCode, Payload};
use serde_json::{Value, json};

const ID: &str = "0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11";

/// A bystander in a room with one message; checks it is still served and nothing was added.
struct Bystander {
    client: Client,
    room: String,
}

impl Bystander {
    async fn new(t: &TestServer) -> Self {
        let mut client = t.client().await;
        client.register("bystander").await;
        let room = client.create_room("lobby").await;
        client.send(&room, "the only message").await;
        Self { client, room }
    }

    async fn still_served_and_nothing_stored(&mut self) {
        let page = self
            .client
            .ok(json!({"type": "history", "room_id": self.room, "limit": 200}))
            .await;
        // The room's `created` notice and the one message, nothing else.
        let kinds: Vec<&str> = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["kind"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(kinds, ["notice", "text"]);
        let rooms = self.client.ok(json!({"type": "list_rooms"})).await;
        assert_eq!(rooms["rooms"].as_array().map(Vec::len), Some(1));
    }
}

/// Sends `raw` and returns the error answer; then checks the connection still works.
async fn error_for(c: &mut Client, raw: &[u8]) -> Value {
    c.send_raw(raw).await;
    let answer = c.next_answer().await;
    assert_eq!(answer["kind"], "error", "{answer}");
    assert_eq!(
        c.ok(json!({"type": "ping"})).await["type"],
        "pong",
        "still served after {answer}"
    );
    answer
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn malformed_frames_get_error_answers_and_the_connection_keeps_working() {
    let t = TestServer::start().await;
    let mut by = Bystander::new(&t).await;
    let mut c = t.client().await;

    let cases: &[(&str, &str, bool)] = &[
        ("hello there", "malformed_frame", false),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"ping""#,
            "malformed_frame",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"ping","x":"\ud83d"}"#,
            "malformed_frame",
            true,
        ),
        (
            r#"{"type":"ping","x":"\udc00","id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11"}"#,
            "malformed_frame",
            true,
        ),
        ("[1,2,3]", "malformed_frame", false),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"fly"}"#,
            "unknown_type",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11"}"#,
            "unknown_type",
            true,
        ),
        (r#"{"type":"ping"}"#, "invalid_id", false),
        (r#"{"id":"not-a-uuid","type":"ping"}"#, "invalid_id", false),
        (r#"{"id":42,"type":"ping"}"#, "invalid_id", false),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"create_room","name":5}"#,
            "invalid_request",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"create_room"}"#,
            "invalid_request",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"history","room_id":"1","limit":-1}"#,
            "invalid_request",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"history","room_id":"1","limit":1000000000000}"#,
            "invalid_request",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"history","room_id":"1","limit":0}"#,
            "invalid_request",
            true,
        ),
        (
            r#"{"id":"0f8c2f5e-4d7b-4a39-b1d6-6c1d2f0a9e11","type":"history","room_id":"-5","limit":5}"#,
            "invalid_request",
            true,
        ),
    ];
    for (raw, expected, has_id) in cases {
        let answer = error_for(&mut c, raw.as_bytes()).await;
        assert_eq!(code(&answer), *expected, "for {raw}: {answer}");
        assert_eq!(
            answer.get("id").is_some(),
            *has_id,
            "id echoed for {raw}: {answer}"
        );
        if *has_id {
            assert_eq!(answer["id"], ID);
        }
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let deep = format!(
        r#"{{"id":"{ID}","type":"ping","x":{}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let answer = error_for(&mut c, deep.as_bytes()).await;
    assert_eq!(code(&answer), "too_deep");
    assert_eq!(answer["id"], ID, "the readable id is kept: {answer}");
    by.still_served_and_nothing_stored().await;
}

#[tokio::test]
async fn request_ids_come_back_exactly_as_sent() {
    let t = TestServer::start().await;
    let mut c = t.client().await;
    let upper = ID.to_uppercase();
    let mixed = "0f8c2f5e-4D7B-4a39-B1D6-6c1d2f0a9e11";
    for id in [upper.as_str(), mixed] {
        c.send_raw(format!(r#"{{"id":"{id}","type":"ping"}}"#).as_bytes())
            .await;
        let answer = c.answer_to(id).await;
        assert_eq!(answer["result"]["type"], "pong", "{answer}");
        c.send_raw(format!(r#"{{"id":"{id}","type":"fly"}}"#).as_bytes())
            .await;
        assert_eq!(code(&c.answer_to(id).await), "unknown_type");
    }
}

#[tokio::test]
async fn a_send_with_a_lone_surrogate_is_answered_with_its_id_and_stores_nothing() {
    let t = TestServer::start().await;
    let mut by = Bystander::new(&t).await;
    let cmid = uuid::Uuid::new_v4();
    // Half an emoji, as a JavaScript client sends after cutting a string in the middle.
    let raw = format!(
        r#"{{"id":"{ID}","type":"send_message","room_id":"{}","client_msg_id":"{cmid}","body":"cut \ud83d"}}"#,
        by.room
    );
    by.client.send_raw(raw.as_bytes()).await;
    let answer = by.client.answer_to(ID).await;
    assert_eq!(code(&answer), "malformed_frame", "{answer}");
    by.still_served_and_nothing_stored().await;
}

#[tokio::test]
async fn an_uppercase_client_message_id_is_refused_and_nothing_is_stored() {
    let t = TestServer::start().await;
    let mut by = Bystander::new(&t).await;
    let cmid = uuid::Uuid::new_v4().to_string().to_uppercase();
    let send = json!({"type": "send_message", "room_id": by.room, "client_msg_id": cmid, "body": "hi"});
    let answer = by.client.request(send).await;
    assert_eq!(code(&answer), "invalid_id", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("lowercase")),
        "{answer}"
    );
    by.still_served_and_nothing_stored().await;
}

#[tokio::test]
async fn invalid_names_and_passwords_are_refused_and_nothing_is_stored() {
    let t = TestServer::start().await;
    let mut by = Bystander::new(&t).await;
    let mut c = t.client().await;
    let long_password = "p".repeat(73);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"type": "register", "username": "bad\u{7}name", "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"type": "register", "username": "nul\u{0}x", "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"type": "register", "username": "mallory", "password": long_password}),
            "password_too_long",
        ),
        (
            json!({"type": "register", "username": "mallory", "password": "short"}),
            "invalid_password",
        ),
    ];
    for (request, expected) in cases {
        let answer = c.request(request.clone()).await;
        assert_eq!(code(&answer), expected, "for {request}: {answer}");
    }
    // The refused registration stored nothing: the name is still free.
    c.register("mallory").await;
    for name in ["bell\u{7}room", "line\nbreak", "   ", ""] {
        let answer = c.request(json!({"type": "create_room", "name": name})).await;
        assert_eq!(code(&answer), "invalid_room_name", "for {name:?}: {answer}");
    }
    let rooms = c.ok(json!({"type": "list_rooms"})).await;
    assert_eq!(rooms["rooms"], json!([]), "no room was created");
    let cmid = uuid::Uuid::new_v4().to_string();
    let bad_body =
        json!({"type": "send_message", "room_id": by.room, "client_msg_id": cmid, "body": "bell\u{7}"});
    by.client.request(bad_body).await["error"]["code"]
        .as_str()
        .filter(|c| *c == "invalid_body")
        .expect("control character in a body is refused");
    by.still_served_and_nothing_stored().await;
}

async fn closed_with(t: &TestServer, opcode: OpCode, payload: &[u8]) -> (u16, String) {
    let mut c = t.client().await;
    c.send_frame(opcode, payload).await;
    c.closed().await
}

#[tokio::test]
async fn oversized_binary_and_invalid_utf8_frames_close_the_connection_with_their_codes() {
    let t = TestServer::start_with(|c| c.limits.max_frame_bytes = 4096).await;
    let mut by = Bystander::new(&t).await;

    // Oversized: close 1009 (the frame is not read, so no error answer can carry its id).
    let big = format!(r#"{{"id":"{ID}","type":"ping","pad":"{}"}}"#, "x".repeat(5000));
    let (code, reason) = closed_with(&t, OpCode::Text, big.as_bytes()).await;
    assert_eq!(code, close::TOO_BIG, "{reason}");
    assert!(reason.contains("4096"), "{reason}");

    let (code, _) = closed_with(&t, OpCode::Binary, b"\x00\x01\x02").await;
    assert_eq!(code, close::UNSUPPORTED_DATA);

    let (code, _) = closed_with(&t, OpCode::Text, b"{\"id\":\"\xff\xfe\"}").await;
    assert_eq!(code, close::INVALID_PAYLOAD);

    // A frame exactly at the limit is still served.
    let mut c = t.client().await;
    let filler = 4096 - format!(r#"{{"id":"{ID}","type":"ping","pad":""}}"#).len();
    let exact = format!(r#"{{"id":"{ID}","type":"ping","pad":"{}"}}"#, "x".repeat(filler));
    assert_eq!(exact.len(), 4096);
    c.send_raw(exact.as_bytes()).await;
    assert_eq!(c.answer_to(ID).await["result"]["type"], "pong");
    by.still_served_and_nothing_stored().await;
}

#[tokio::test]
async fn a_client_that_keeps_exceeding_the_rate_limit_is_closed_with_4004() {
    let t = TestServer::start_with(|c| {
        c.core.requests_per_second = 2;
        c.limits.rate_limit_strikes = 5;
    })
    .await;
    let mut c = t.client().await;
    let mut limited = 0;
    // Twice the burst of 2 x 2 per second.
    for _ in 0..8 {
        c.send_raw(format!(r#"{{"id":"{}","type":"ping"}}"#, uuid::Uuid::new_v4()).as_bytes())
            .await;
    }
    // The burst passes, then errors with retry_after_ms, then the close.
    let (code, reason) = loop {
        match c.next().await {
            common::Incoming::Json(v) if v["kind"] == "error" => {
                assert_eq!(v["error"]["code"], "rate_limited", "{v}");
                assert!(v["error"]["retry_after_ms"].as_u64().is_some(), "{v}");
                limited += 1;
                c.send_raw(format!(r#"{{"id":"{}","type":"ping"}}"#, uuid::Uuid::new_v4()).as_bytes())
                    .await;
            }
            common::Incoming::Json(_) => {}
            common::Incoming::Close(code, reason) => break (code, reason),
            common::Incoming::Ended(why) => panic!("no close frame: {why}"),
        }
    };
    assert_eq!(code, close::RATE_LIMITED, "{reason}");
    assert_eq!(limited, 5);
    // Other connections have their own budget.
    assert_eq!(t.client().await.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn passwords_of_71_and_72_bytes_are_accepted_and_73_refused() {
    let t = TestServer::start().await;
    let mut c = t.client().await;
    let register =
        |name: &str, password: &str| json!({"type": "register", "username": name, "password": password});
    let login = |name: &str, password: &str| json!({"type": "login", "username": name, "password": password});
    // Multi-byte characters: the limit counts bytes. 35 x "é" is 70 bytes.
    let base = "é".repeat(35);
    let pw71 = format!("{base}x");
    let pw72 = format!("{base}xy");
    let pw73 = format!("{base}xyz");
    assert_eq!((pw71.len(), pw72.len(), pw73.len()), (71, 72, 73));

    let answer = c.request(register("seventy3", &pw73)).await;
    assert_eq!(code(&answer), "password_too_long", "{answer}");
    for (name, password) in [("seventy1", &pw71), ("seventy2", &pw72)] {
        let mut c = t.client().await;
        let answer = c.request(register(name, password)).await;
        assert_eq!(answer["kind"], "response", "{} bytes: {answer}", password.len());
        let mut again = t.client().await;
        again.ok(login(name, password)).await;
    }
    // Every one of the 72 bytes counts: a different last byte is a different password.
    let mut wrong = t.client().await;
    let answer = wrong.request(login("seventy2", &format!("{base}xz"))).await;
    assert_eq!(code(&answer), "invalid_credentials", "{answer}");
    let answer = wrong.request(login("seventy2", &pw73)).await;
    assert_eq!(code(&answer), "password_too_long", "{answer}");
}

#[tokio::test]
async fn close_frames_with_codes_not_allowed_on_the_wire_are_answered_with_1002() {
    let t = TestServer::start().await;
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let (got, reason) = closed_with(&t, OpCode::Close, &code.to_be_bytes()).await;
        assert_eq!(got, 1002, "client close {code} answered with {got} ({reason})");
    }
    // Valid codes are echoed.
    for code in [1000u16, 1001, 3000, 4999] {
        let (got, _) = closed_with(&t, OpCode::Close, &code.to_be_bytes()).await;
        assert_eq!(got, code);
    }
}

#[tokio::test]
async fn a_close_reason_that_is_not_utf8_is_answered_with_1007_saying_so() {
    let t = TestServer::start().await;
    let (code, reason) = closed_with(&t, OpCode::Close, &[0x03, 0xe8, b'b', 0xff, 0xfe]).await;
    assert_eq!(code, close::INVALID_PAYLOAD, "{reason}");
    assert!(reason.contains("close frame reason"), "{reason}");
}

/// Sends a ~300 KB text message as 16 KiB fragments, as a browser does, and returns what
/// the client saw: the server's close frame, or why it could not finish sending and reading.
async fn send_fragmented_then_read(
    c: &mut Client,
    pause: std::time::Duration,
) -> Result<(u16, String), String> {
    const FRAGMENT: usize = 16 * 1024;
    const COUNT: usize = 19;
    for i in 0..COUNT {
        let opcode = if i == 0 {
            OpCode::Text
        } else {
            OpCode::Continuation
        };
        let frame = Frame::new(i == COUNT - 1, opcode, None, Payload::Owned(vec![b' '; FRAGMENT]));
        c.ws.write_frame(frame)
            .await
            .map_err(|e| format!("fragment {i} of {COUNT} could not be sent: {e}"))?;
        tokio::time::sleep(pause).await;
    }
    match c.next().await {
        Incoming::Close(code, reason) => Ok((code, reason)),
        other => Err(format!("no close frame: {other:?}")),
    }
}

#[tokio::test]
async fn an_oversized_fragmented_message_gets_1009_even_while_the_client_is_still_sending() {
    let t = TestServer::start_with(|c| c.limits.max_frame_bytes = 65536).await;
    let mut by = Bystander::new(&t).await;
    for pause in [std::time::Duration::ZERO, std::time::Duration::from_millis(5)] {
        let mut c = t.client().await;
        let (code, reason) = send_fragmented_then_read(&mut c, pause)
            .await
            .expect("the client learns why");
        assert_eq!(code, close::TOO_BIG, "{reason}");
        assert!(reason.contains("65536"), "{reason}");
    }
    by.still_served_and_nothing_stored().await;
}

#[tokio::test]
async fn malformed_frames_count_toward_the_rate_limit_and_the_strikes() {
    let t = TestServer::start_with(|c| {
        c.core.requests_per_second = 2;
        c.limits.rate_limit_strikes = 5;
    })
    .await;
    let mut c = t.client().await;
    // Frames with no id, frames that are not JSON, frames with an unknown type: none of them
    // is a request the core would see, and each still costs a token.
    let junk = [
        r#"{"type":"ping"}"#.to_owned(),
        "not json".to_owned(),
        format!(r#"{{"id":"{ID}","type":"fly"}}"#),
    ];
    let mut codes = Vec::new();
    let mut sent = 0;
    let (code, reason) = loop {
        // Keep a few frames in flight, as a flooding client does.
        while sent < codes.len() + 4 && sent < 1000 {
            c.send_raw(junk[sent % junk.len()].as_bytes()).await;
            sent += 1;
        }
        match c.next().await {
            Incoming::Json(v) => codes.push(code(&v).to_owned()),
            Incoming::Close(code, reason) => break (code, reason),
            Incoming::Ended(why) => panic!("no close frame: {why}"),
        }
    };
    assert_eq!(code, close::RATE_LIMITED, "{reason}");
    // The burst of 4 is answered as usual, then 5 strikes close the connection.
    let limited = codes.iter().filter(|c| *c == "rate_limited").count();
    assert_eq!(limited, 5, "{codes:?}");
    assert!(codes[..4].iter().all(|c| c != "rate_limited"), "{codes:?}");
}
