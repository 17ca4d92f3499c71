//! The outbox against a real server: a cancelled or dropped send is stored exactly once, a
//! message written while the server is down goes out once when it is back, the outbox
//! survives a restart of the client, and a message refused for good does not hold up the
//! others.

mod common;

use std::time::Duration;

use chat_client_lib::{Client, ClientError, ClientEvent, ConnectionState, ErrorCode, HistoryFrom, SendState};
use common::*;

const WAIT: Duration = Duration::from_secs(20);

/// The bodies of a room's stored messages, oldest first.
async fn stored(client: &Client, room: chat_client_lib::RoomId) -> Vec<String> {
    let page = client.history(room, HistoryFrom::Latest, 100).await.unwrap();
    page.messages
        .iter()
        .filter_map(|m| m.text().map(ToString::to_string))
        .collect()
}

#[tokio::test]
async fn a_cancelled_send_is_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let relay = Relay::start(server.local_addr()).await;
    let url = format!("wss://{}/v2/ws", relay.addr);
    let alice = registered(
        config_for_url(&url, &server.cert_fingerprint().unwrap()),
        &unique("alice"),
    )
    .await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("cancel"))
        .await
        .unwrap();
    let mut seen = alice.room_events(room.id);

    // Nothing the client sends reaches the server, so no send can finish in time.
    relay.hold(true);
    let timed_out = tokio::time::timeout(Duration::from_millis(200), alice.send(room.id, "by timeout")).await;
    assert!(timed_out.is_err(), "the wait was cancelled");
    tokio::select! {
        _ = alice.send(room.id, "by select") => panic!("cannot finish while held"),
        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
    drop(alice.send(room.id, "by drop"));
    let followed = alice.send(room.id, "followed");
    assert_eq!(followed.state(), SendState::Queued);
    assert_eq!(alice.outbox().len(), 4, "all four are queued");

    relay.hold(false);
    let message = tokio::time::timeout(WAIT, followed).await.unwrap().unwrap();
    // Seq 1 is the room's `created` notice.
    assert_eq!(message.seq, 5, "after the other three, in order");
    let mut bodies = Vec::new();
    for _ in 0..4 {
        bodies.push(
            next_message(&mut seen, WAIT)
                .await
                .unwrap()
                .text()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(bodies, ["by timeout", "by select", "by drop", "followed"]);
    assert!(
        next_message(&mut seen, Duration::from_millis(500))
            .await
            .is_none(),
        "shown once"
    );
    assert_eq!(stored(&alice, room.id).await, bodies, "stored once each");
    assert!(alice.outbox().is_empty());
}

#[tokio::test]
async fn a_message_written_while_the_server_is_down_is_delivered_once_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    let config = config_for(&server);
    let (alice, bob) = (
        registered(config.clone(), &unique("alice")).await,
        registered(config.clone(), &unique("bob")).await,
    );
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("outage"))
        .await
        .unwrap();
    bob.join_room(room.id).await.unwrap();
    let mut bob_sees = bob.room_events(room.id);
    let mut alice_events = alice.events();

    server.kill();
    wait_state(&alice, WAIT, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let handle = alice.send(room.id, "written offline");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(handle.state(), SendState::Queued, "waits for the server");

    let server = start_server(dir.path(), port).await;
    let message = tokio::time::timeout(WAIT, handle.clone()).await.unwrap().unwrap();
    assert_eq!(handle.state(), SendState::Sent(message.clone()));
    let sent = wait_event(&mut alice_events, WAIT, |e| match e {
        ClientEvent::Sent {
            client_msg_id,
            message,
        } => Some((client_msg_id, message)),
        _ => None,
    })
    .await;
    assert_eq!(sent, (handle.client_msg_id(), message.clone()));
    assert_eq!(
        next_message(&mut bob_sees, WAIT)
            .await
            .unwrap()
            .text()
            .unwrap()
            .as_str(),
        "written offline"
    );
    assert!(
        next_message(&mut bob_sees, Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(stored(&bob, room.id).await, ["written offline"]);
    drop(server);
}

#[tokio::test]
async fn the_outbox_survives_a_restart_of_the_client() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let relay = Relay::start(server.local_addr()).await;
    let url = format!("wss://{}/v2/ws", relay.addr);
    let config = with_store(
        config_for_url(&url, &server.cert_fingerprint().unwrap()),
        cache.path(),
    );
    let a = unique("alice");
    let alice = registered(config.clone(), &a).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("later"))
        .await
        .unwrap();
    let session = alice.user().unwrap();

    relay.cut_and_refuse();
    wait_state(&alice, WAIT, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let handles: Vec<_> = ["one", "two", "three"]
        .iter()
        .map(|body| alice.send(room.id, body))
        .collect();
    alice.shutdown().await.unwrap();
    for handle in handles {
        assert_eq!(
            handle.await.unwrap_err(),
            ClientError::StillQueued,
            "kept for the next run"
        );
    }
    drop(alice);

    // The next run: the server is reachable again; logging in sends what was left, once.
    relay.restore();
    let again = Client::new(config.clone());
    let mut seen = again.room_events(room.id);
    again.login(&a, PASSWORD).await.unwrap();
    assert_eq!(again.user().unwrap().id, session.id);
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(
            next_message(&mut seen, WAIT)
                .await
                .unwrap()
                .text()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(bodies, ["one", "two", "three"]);
    assert_eq!(stored(&again, room.id).await, bodies, "stored once each");
    tokio::time::timeout(WAIT, async {
        while !again.outbox().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the outbox empties");
}

#[tokio::test]
async fn a_session_resumed_with_token_and_key_sends_what_the_last_run_left() {
    let data = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let port = server.local_addr().port();
    let config = with_store(config_for(&server), cache.path());
    let a = unique("alice");
    let alice = Client::new(config.clone());
    let session = alice.register(&a, PASSWORD).await.unwrap();
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("resumed"))
        .await
        .unwrap();
    alice.sync_cache().await.unwrap();
    let key = alice.store_key().expect("a store");

    server.kill();
    wait_state(&alice, WAIT, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let _ = alice.send(room.id, "left by the first run");
    alice.shutdown().await.unwrap();
    drop(alice);

    // Without the password: the token and the key from the first run.
    let wrong = Client::new(config.clone())
        .resume_session(
            &a,
            session.token.as_str(),
            chat_client_lib::StoreKey::from_bytes([7; 32]),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong, ClientError::Store(chat_client_lib::StoreError::WrongKey));

    let server = start_server(data.path(), port).await;
    let again = Client::new(config);
    let mut seen = again.room_events(room.id);
    let resumed = again
        .resume_session(&a, session.token.as_str(), key)
        .await
        .unwrap();
    assert_eq!(resumed.user, session.user);
    assert!(
        again.cached_snapshot().unwrap().room(room.id).is_some(),
        "chats at once"
    );
    let message = next_message(&mut seen, WAIT).await.unwrap();
    assert_eq!(message.text().unwrap().as_str(), "left by the first run");
    assert_eq!(stored(&again, room.id).await, ["left by the first run"]);
    drop(server);
}

#[tokio::test]
async fn a_message_refused_for_good_fails_without_holding_up_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let alice = registered(config_for(&server), &unique("alice")).await;
    let left = alice
        .create_room_with(chat_client_lib::NewRoom::public("left"))
        .await
        .unwrap();
    let kept = alice
        .create_room_with(chat_client_lib::NewRoom::public("kept"))
        .await
        .unwrap();
    alice.leave_room(left.id).await.unwrap();
    let mut events = alice.events();

    let refused = alice.send(left.id, "nobody hears this");
    let after = alice.send(kept.id, "this goes through");
    let err = tokio::time::timeout(WAIT, refused.clone())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotMember));
    assert!(matches!(refused.state(), SendState::Failed(_)));
    let failed = wait_event(&mut events, WAIT, |e| match e {
        ClientEvent::SendFailed { entry, error } => Some((entry, error)),
        _ => None,
    })
    .await;
    assert_eq!(failed.0.body.as_str(), "nobody hears this");
    assert_eq!(failed.1.code(), Some(ErrorCode::NotMember));
    assert_eq!(after.await.unwrap().text().unwrap().as_str(), "this goes through");

    // Invalid input never enters the outbox.
    let empty = alice.send(kept.id, "   ").await.unwrap_err();
    assert!(matches!(empty, ClientError::Invalid(_)), "{empty:?}");
    assert!(alice.outbox().is_empty());
    alice.logout().await.unwrap();
    assert_eq!(
        alice.send(kept.id, "after logout").await.unwrap_err(),
        ClientError::NotLoggedIn
    );
}
