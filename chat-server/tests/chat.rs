//! Chat flows end to end through a real server: register, rooms, messages, history,
//! idempotent send, restart and resume, membership rules.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Client, TestServer};
use serde_json::{Value, json};

/// Reads text message events (skipping notices of room changes) until `n` arrived; returns
/// body by seq, and fails on a duplicate.
async fn collect_messages(c: &mut Client, n: usize) -> BTreeMap<u64, String> {
    let mut seen = BTreeMap::new();
    while seen.len() < n {
        let event = c.event("message").await;
        if event["message"]["kind"] != "text" {
            continue;
        }
        let seq = event["message"]["seq"].as_u64().expect("seq");
        let body = event["message"]["body"].as_str().expect("body").to_owned();
        assert!(
            seen.insert(seq, body).is_none(),
            "message seq {seq} delivered twice"
        );
    }
    seen
}

/// Waits a moment and returns any text message events that still arrive.
async fn late_messages(c: &mut Client) -> Vec<Value> {
    let is_text = |v: &Value| v["event"]["type"] == "message" && v["event"]["message"]["kind"] == "text";
    let mut late: Vec<Value> = c.backlog.drain(..).filter(|v| is_text(v)).collect();
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), c.ws.read_frame()).await {
        let frame = frame.expect("frame");
        let v: Value = serde_json::from_slice(&frame.payload).expect("json");
        if is_text(&v) {
            late.push(v);
        }
    }
    late
}

fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn two_users_chat_and_every_message_arrives_once_in_a_gap_free_sequence() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    let mut bob = t.client().await;
    let a = alice.register("alice").await;
    assert_eq!(a["user"]["username"], "alice");
    assert!(a["token"].as_str().is_some_and(|t| t.len() >= 16));
    bob.register("Bob").await;
    let room = alice.create_room("general").await;
    let joined = bob.ok(json!({"type": "join_room", "room_id": room})).await;
    assert_eq!(joined["room"]["name"], "general");

    for i in 0..5 {
        alice.send(&room, &format!("from alice {i}")).await;
        bob.send(&room, &format!("from bob {i}")).await;
    }
    let at_alice = collect_messages(&mut alice, 10).await;
    let at_bob = collect_messages(&mut bob, 10).await;
    // 1 and 2 are the room's notices (created, bob joined).
    assert_eq!(
        at_alice.keys().copied().collect::<Vec<_>>(),
        (3..=12).collect::<Vec<_>>()
    );
    assert_eq!(at_alice, at_bob, "both saw the same messages");
    assert_eq!(at_alice[&3], "from alice 0");
    assert_eq!(at_alice[&12], "from bob 4");
    assert!(
        late_messages(&mut alice).await.is_empty(),
        "no duplicates for alice"
    );
    assert!(late_messages(&mut bob).await.is_empty(), "no duplicates for bob");

    // History backwards from the newest page, and forwards from a cursor.
    let newest = bob
        .ok(json!({"type": "history", "room_id": room, "limit": 4}))
        .await;
    assert_eq!(seqs(&newest), [9, 10, 11, 12]);
    assert_eq!(newest["has_more"], true);
    let older = bob
        .ok(json!({"type": "history", "room_id": room, "before_seq": 9, "limit": 4}))
        .await;
    assert_eq!(seqs(&older), [5, 6, 7, 8]);
    let oldest = bob
        .ok(json!({"type": "history", "room_id": room, "before_seq": 5, "limit": 4}))
        .await;
    assert_eq!(
        (seqs(&oldest), oldest["has_more"].clone()),
        (vec![1, 2, 3, 4], json!(false))
    );
    assert_eq!(oldest["messages"][1]["notice"]["type"], "joined");
    let forward = alice
        .ok(json!({"type": "history", "room_id": room, "after_seq": 10, "limit": 4}))
        .await;
    assert_eq!(
        (seqs(&forward), forward["has_more"].clone()),
        (vec![11, 12], json!(false))
    );
    assert_eq!(forward["messages"][1]["body"], "from bob 4");
    assert_eq!(forward["messages"][1]["sender"]["username"], "Bob");

    let rooms = bob.ok(json!({"type": "list_rooms"})).await;
    assert_eq!(rooms["rooms"][0]["room"]["id"], room.as_str());
    assert_eq!(rooms["rooms"][0]["last_message"]["seq"], 12);
}

#[tokio::test]
async fn sending_again_with_the_same_client_msg_id_stores_nothing_twice() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    let mut bob = t.client().await;
    alice.register("alice").await;
    bob.register("bob").await;
    let room = alice.create_room("idem").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;
    let cmid = uuid::Uuid::new_v4().to_string();
    let send = json!({"type": "send_message", "room_id": room, "client_msg_id": cmid, "body": "once"});
    let first = alice.ok(send.clone()).await;
    let retry = alice.ok(send).await;
    assert_eq!(
        first, retry,
        "the retry returns the message stored the first time"
    );
    let history = bob
        .ok(json!({"type": "history", "room_id": room, "limit": 10}))
        .await;
    assert_eq!(seqs(&history), [1, 2, 3], "created, bob joined, the message once");
    collect_messages(&mut bob, 1).await;
    assert!(
        late_messages(&mut bob).await.is_empty(),
        "the retry is not delivered again"
    );
}

#[tokio::test]
async fn after_a_restart_history_is_intact_and_resume_gets_exactly_the_missed_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = chat_server::start(common::config(dir.path()))
        .await
        .expect("start");
    let mut alice = Client::connect(&server).await;
    let mut bob = Client::connect(&server).await;
    alice.register("alice").await;
    let token = bob.register("bob").await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let room = alice.create_room("durable").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;
    for i in 1..=3 {
        alice.send(&room, &format!("before {i}")).await;
    }
    let seen = collect_messages(&mut bob, 3).await;
    let last_seen = *seen.keys().last().expect("bob saw messages");
    drop(bob);
    for i in 4..=7 {
        alice.send(&room, &format!("missed {i}")).await;
    }
    server.shutdown().await;

    let server = chat_server::start(common::config(dir.path()))
        .await
        .expect("restart");
    let mut bob = Client::connect(&server).await;
    let session = bob.ok(json!({"type": "resume_session", "token": token})).await;
    assert_eq!(session["user"]["username"], "bob");
    let resumed = bob
        .ok(json!({"type": "resume_room", "room_id": room, "after_seq": last_seen}))
        .await;
    assert_eq!(seqs(&resumed), [6, 7, 8, 9]);
    assert_eq!(resumed["complete"], true);
    assert_eq!(resumed["messages"][0]["body"], "missed 4");
    let all = bob
        .ok(json!({"type": "history", "room_id": room, "limit": 200}))
        .await;
    assert_eq!(seqs(&all), (1..=9).collect::<Vec<_>>());
    assert_eq!(all["messages"][4]["body"], "before 3");
    server.shutdown().await;
}

#[tokio::test]
async fn non_members_and_unauthenticated_connections_can_neither_read_nor_post() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    alice.register("alice").await;
    let room = alice.create_room("private-ish").await;
    alice.send(&room, "members only").await;

    let mut carol = t.client().await;
    carol.register("carol").await;
    let history = json!({"type": "history", "room_id": room, "limit": 10});
    let cmid = uuid::Uuid::new_v4().to_string();
    let post = json!({"type": "send_message", "room_id": room, "client_msg_id": cmid, "body": "intruder"});
    assert_eq!(carol.err(history.clone()).await, "not_member");
    assert_eq!(carol.err(post.clone()).await, "not_member");
    let resume = json!({"type": "resume_room", "room_id": room, "after_seq": 0});
    assert_eq!(carol.err(resume).await, "not_member");

    let mut anonymous = t.client().await;
    assert_eq!(anonymous.err(history).await, "unauthenticated");
    assert_eq!(anonymous.err(post).await, "unauthenticated");
    assert_eq!(
        anonymous.err(json!({"type": "create_room", "name": "x"})).await,
        "unauthenticated"
    );

    let page = alice
        .ok(json!({"type": "history", "room_id": room, "limit": 10}))
        .await;
    assert_eq!(seqs(&page), [1, 2], "nothing was stored by the refused posts");
    match late_messages(&mut alice).await.as_slice() {
        [only] => assert_eq!(only["event"]["message"]["body"], "members only"),
        other => panic!("alice should only see her own message: {other:?}"),
    }
}

#[tokio::test]
async fn logout_keeps_the_connection_and_ends_the_session_on_another_connection_with_4005() {
    let t = TestServer::start().await;
    let mut first = t.client().await;
    let token = first.register("dana").await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut second = t.client().await;
    second.ok(json!({"type": "resume_session", "token": token})).await;
    let mut other_device = t.client().await;
    other_device
        .ok(json!({"type": "login", "username": "dana", "password": "correct horse battery"}))
        .await;

    assert_eq!(first.ok(json!({"type": "logout"})).await["type"], "ok");
    // The connection that logged out stays open, unauthenticated.
    assert_eq!(first.ok(json!({"type": "ping"})).await["type"], "pong");
    assert_eq!(first.err(json!({"type": "list_rooms"})).await, "unauthenticated");
    // Another connection on the same (now revoked) session is closed with 4005.
    let (code, reason) = second.closed().await;
    assert_eq!(code, chat_proto::close::SESSION_ENDED, "{reason}");
    // Another device with its own session is not affected.
    assert_eq!(
        other_device.ok(json!({"type": "list_rooms"})).await["type"],
        "rooms"
    );
}

/// A client that pipelines sends (without waiting for each answer) gets every answer in
/// request order, its messages stored in that order, a retry in the middle answered with
/// the original, a bad frame answered in its place, and a request after the sends sees
/// them all.
#[tokio::test]
async fn pipelined_sends_keep_their_order_and_later_requests_see_them() {
    let t = TestServer::start().await;
    let mut alice = t.client().await;
    alice.register("alice").await;
    let room = alice.create_room("pipeline").await;

    // (request id, body) of each frame; frame 15 retries message 5 while it may still be in
    // the same commit, frame 20 does not decode (no client message id).
    let mut sent = Vec::new();
    let mut message_5 = String::new();
    for i in 0..30 {
        let id = uuid::Uuid::new_v4().to_string();
        let cmid = uuid::Uuid::new_v4().to_string();
        let frame = match i {
            15 => json!({"id": id, "type": "send_message", "room_id": room,
                         "client_msg_id": message_5, "body": "m5"}),
            20 => json!({"id": id, "type": "send_message", "room_id": room, "body": "m20"}),
            _ => json!({"id": id, "type": "send_message", "room_id": room,
                        "client_msg_id": cmid, "body": format!("m{i}")}),
        };
        if i == 5 {
            message_5 = cmid;
        }
        alice.send_raw(frame.to_string().as_bytes()).await;
        sent.push((id, format!("m{i}")));
    }
    let history_id = uuid::Uuid::new_v4().to_string();
    let history = json!({"id": history_id, "type": "history", "room_id": room, "limit": 50});
    alice.send_raw(history.to_string().as_bytes()).await;

    let mut seq_of_body = BTreeMap::new();
    let mut last_seq = 0;
    for (i, (id, body)) in sent.iter().enumerate() {
        let answer = alice.next_answer().await;
        assert_eq!(answer["id"], id.as_str(), "answers in request order: {answer}");
        match i {
            15 => {
                assert_eq!(answer["kind"], "response", "{answer}");
                assert_eq!(
                    answer["result"]["message"]["body"], "m5",
                    "the retry names the original"
                );
                assert_eq!(answer["result"]["message"]["seq"], seq_of_body["m5"]);
            }
            20 => {
                assert_eq!(answer["kind"], "error", "{answer}");
                assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
            }
            _ => {
                assert_eq!(answer["result"]["message"]["body"], body.as_str());
                let seq = answer["result"]["message"]["seq"].as_u64().expect("seq");
                assert!(seq > last_seq, "stored in request order: {seq} after {last_seq}");
                last_seq = seq;
                seq_of_body.insert(body.clone(), json!(seq));
            }
        }
    }
    let page = alice.answer_to(&history_id).await;
    assert_eq!(page["kind"], "response", "{page}");
    let bodies: Vec<&str> = page["result"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    let stored: Vec<String> = (0..30)
        .filter(|i| *i != 15 && *i != 20)
        .map(|i| format!("m{i}"))
        .collect();
    assert_eq!(
        bodies, stored,
        "history after the sends holds all of them, in order"
    );
    // The room's `created` notice, then the 28 messages.
    assert_eq!(seqs(&page["result"]), (1..=29).collect::<Vec<u64>>());
    // The events of the messages (the sender receives its own) come in the same order.
    let mut arrival = Vec::new();
    while arrival.len() < stored.len() {
        let event = alice.event("message").await;
        if let Some(body) = event["message"]["body"].as_str() {
            arrival.push(body.to_owned());
        }
    }
    assert_eq!(arrival, stored, "events in send order");
}
