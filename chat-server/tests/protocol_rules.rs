//! Rules of docs/PROTOCOL.md that are easy to get wrong from the outside, checked through a
//! real server: what a client in another language, written from the document alone, relies
//! on.

mod common;

use common::{Client, TestServer};
use serde_json::{Value, json};

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

async fn send(c: &mut Client, room: &str, cmid: &str, body: &str) -> Value {
    c.request(json!({"type": "send_message", "room_id": room, "client_msg_id": cmid, "body": body}))
        .await
}

#[tokio::test]
async fn send_message_needs_a_client_msg_id_that_belongs_to_one_room() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    alice.register("alice").await;
    let first = alice.create_room("first").await;
    let second = alice.create_room("second").await;

    let answer = alice
        .request(json!({"type": "send_message", "room_id": first, "body": "no key"}))
        .await;
    assert_eq!(
        code(&answer),
        "invalid_request",
        "a missing client_msg_id: {answer}"
    );

    let cmid = uuid::Uuid::new_v4().to_string();
    let stored = send(&mut alice, &first, &cmid, "hello").await;
    assert_eq!(stored["kind"], "response", "{stored}");
    let elsewhere = send(&mut alice, &second, &cmid, "hello").await;
    assert_eq!(code(&elsewhere), "invalid_request", "{elsewhere}");
    let page = alice
        .ok(json!({"type": "history", "room_id": second, "limit": 10}))
        .await;
    let kinds: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["notice"],
        "nothing stored in the other room after its `created` notice"
    );

    // Another sender's key space is its own.
    let mut bob = t.client().await;
    bob.register("bob").await;
    bob.ok(json!({"type": "join_room", "room_id": first})).await;
    let theirs = send(&mut bob, &first, &cmid, "same key, other sender").await;
    assert_eq!(theirs["kind"], "response", "{theirs}");
    assert_ne!(
        theirs["result"]["message"]["id"],
        stored["result"]["message"]["id"]
    );
}

#[tokio::test]
async fn open_direct_announces_the_new_chat_with_joined_notices_and_a_chat_with_oneself_is_allowed() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    alice.register("alice").await;
    let mut bob = t.client().await;
    let bob_id = bob.register("bob").await["user"]["id"].clone();

    let room = alice.ok(json!({"type": "open_direct", "username": "BOB"})).await["room"].clone();
    assert_eq!(room["kind"], "direct");
    assert_eq!(room["name"], "bob");
    // The chat starts with a `joined` notice for each of its two users (seq 1 for the
    // caller, 2 for the other). The caller's connections hear both; the other user's hear
    // their own, which is how they learn of the new chat.
    let mut named = Vec::new();
    for expected_seq in [1, 2] {
        let message = alice.event("message").await["message"].clone();
        assert_eq!(message["room_id"], room["id"]);
        assert_eq!(message["seq"], expected_seq);
        assert_eq!(message["notice"]["type"], "joined");
        named.push(
            message["notice"]["user"]["username"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(named, ["alice", "bob"]);
    let theirs = bob.event("message").await["message"].clone();
    assert_eq!(
        (theirs["room_id"].clone(), theirs["seq"].clone()),
        (room["id"].clone(), json!(2))
    );
    assert_eq!(theirs["notice"]["user"]["id"], bob_id);
    // Opening it again creates nothing and announces nothing.
    let again = alice.ok(json!({"type": "open_direct", "username": "bob"})).await["room"].clone();
    assert_eq!(again["id"], room["id"]);

    let notes = alice
        .ok(json!({"type": "open_direct", "username": "alice"}))
        .await["room"]
        .clone();
    assert_eq!(notes["kind"], "direct");
    assert_eq!(notes["name"], "alice");
    assert_eq!(notes["peer"]["username"], "alice");
    assert_ne!(notes["id"], room["id"]);
    let members = alice
        .ok(json!({"type": "list_members", "room_id": notes["id"]}))
        .await;
    assert_eq!(members["members"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn mark_read_past_the_end_is_clamped_and_leaving_a_room_one_is_not_in_is_not_member() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    alice.register("alice").await;
    let mut bob = t.client().await;
    bob.register("bob").await;
    let room = alice.create_room("lobby").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;
    for body in ["one", "two"] {
        alice.send(&room, body).await;
    }
    bob.ok(json!({"type": "mark_read", "room_id": room, "seq": 1000}))
        .await;
    // 1 created, 2 bob joined, 3 and 4 the messages.
    let rooms = bob.ok(json!({"type": "list_rooms"})).await;
    let summary = &rooms["rooms"][0];
    assert_eq!(summary["last_read_seq"], 4, "clamped to the last seq: {summary}");
    assert_eq!(summary["unread"], 0);
    // The marker is not ahead of the room: the next message is unread.
    alice.send(&room, "three").await;
    let rooms = bob.ok(json!({"type": "list_rooms"})).await;
    assert_eq!(rooms["rooms"][0]["unread"], 1);

    let other = alice.create_room("elsewhere").await;
    let answer = bob.request(json!({"type": "leave_room", "room_id": other})).await;
    assert_eq!(code(&answer), "not_member", "{answer}");
}

#[tokio::test]
async fn the_history_limit_is_bounded_by_the_smaller_of_200_and_max_page_size() {
    let t = TestServer::start_with(|c| c.core.max_page_size = 50).await;
    let mut alice = t.client().await;
    assert_eq!(alice.hello["event"]["limits"]["max_page_size"], 50);
    alice.register("alice").await;
    let room = alice.create_room("lobby").await;
    let page = |limit: u64| json!({"type": "history", "room_id": room, "limit": limit});
    alice.ok(page(50)).await;
    let answer = alice.request(page(51)).await;
    assert_eq!(code(&answer), "invalid_request", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("50")),
        "{answer}"
    );

    let big = TestServer::start_with(|c| c.core.max_page_size = 500).await;
    let mut bob = big.client().await;
    bob.register("bob").await;
    let room = bob.create_room("lobby").await;
    bob.ok(json!({"type": "history", "room_id": room, "limit": 200}))
        .await;
    let answer = bob
        .request(json!({"type": "history", "room_id": room, "limit": 201}))
        .await;
    assert_eq!(
        code(&answer),
        "invalid_request",
        "the protocol's 200 still holds: {answer}"
    );
}
