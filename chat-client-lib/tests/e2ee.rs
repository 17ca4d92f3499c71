//! End-to-end encrypted rooms against a real server: devices, membership, sending and
//! reading, what the server stores, and what each device can and cannot read.

mod common;

use std::time::Duration;

use chat_client_lib::{Client, ClientEvent, EventStream, HistoryFrom, UndecryptableReason};
use chat_proto::{Content, Message, RoomId};
use common::*;

const WAIT: Duration = Duration::from_secs(20);

/// Waits for the next decrypted text in `room` (skipping notices and other events).
async fn next_text(events: &mut EventStream, room: RoomId) -> Message {
    wait_event(events, WAIT, |e| match e {
        ClientEvent::Message(m) if m.room_id == room && m.text().is_some() => Some(m),
        _ => None,
    })
    .await
}

/// Sends `text` and waits until it is stored.
async fn say(client: &Client, room: RoomId, text: &str) -> Message {
    tokio::time::timeout(WAIT, client.send(room, text))
        .await
        .expect("sent in time")
        .expect("stored")
}

/// Alice creates a private (encrypted) room and invites bob, who joins; returns the room.
async fn encrypted_pair(alice: &Client, bob: &Client, bob_name: &str) -> RoomId {
    let room = alice.create_room("secrets").await.unwrap();
    assert!(room.encrypted, "private rooms are encrypted by default");
    alice.invite(room.id, bob_name).await.unwrap();
    bob.join_room(room.id).await.unwrap();
    wait_joined(bob, room.id).await;
    room.id
}

/// Waits until the client's device is in the room's group (its Welcome came).
async fn wait_joined(client: &Client, room: RoomId) {
    tokio::time::timeout(WAIT, async {
        while client.room_encryption(room).is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the device joined the room's group in time");
}

#[tokio::test]
async fn two_users_converse_and_the_server_stores_only_ciphertext() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let alice = registered(config_for(&server), &a).await;
    let bob = registered(config_for(&server), &b).await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    let room = encrypted_pair(&alice, &bob, &b).await;

    let canary = format!("canary-{:016x}", rand::random::<u64>());
    let sent = say(&alice, room, &format!("hello bob, {canary}")).await;
    assert_eq!(sent.text().map(|t| t.as_str().to_owned()), Some(format!("hello bob, {canary}")));
    let got = next_text(&mut bob_events, room).await;
    assert_eq!(got.text().unwrap().as_str(), format!("hello bob, {canary}"));
    assert_eq!(got.sender.username.as_str(), a);
    assert!(got.device_id.is_some(), "encrypted messages name the sending device");
    assert_eq!(got.seq, sent.seq);
    let own = next_text(&mut alice_events, room).await;
    assert_eq!(own.seq, sent.seq, "the sender sees its own message once");

    say(&bob, room, "hi alice").await;
    let reply = next_text(&mut alice_events, room).await;
    assert_eq!(reply.text().unwrap().as_str(), "hi alice");

    // History: decrypted for both, no commits, nothing unreadable.
    for client in [&alice, &bob] {
        let page = client.history(room, HistoryFrom::Latest, 50).await.unwrap();
        let texts: Vec<&str> = page
            .messages
            .iter()
            .filter_map(|m| m.text().map(|t| t.as_str()))
            .collect();
        assert_eq!(texts, [format!("hello bob, {canary}").as_str(), "hi alice"]);
        assert!(page.undecryptable.is_empty(), "{:?}", page.undecryptable);
        assert!(page.messages.iter().all(|m| m.mls().is_none()));
    }

    // The server stored ciphertext only: not in its database file.
    let mut found = false;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            found |= bytes.windows(canary.len()).any(|w| w == canary.as_bytes());
        }
    }
    assert!(!found, "the canary is in the server's files");
}
