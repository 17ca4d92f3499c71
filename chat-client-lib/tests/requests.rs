//! Requests and events against a real server: rooms, messages, history, streams.

mod common;

use std::time::Duration;

use chat_client_lib::{Client, ClientError, ClientEvent, ConnectionState, HistoryFrom};
use chat_proto::{ClientMsgId, ErrorCode, RoomKind};
use common::*;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn rooms_messages_and_history_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let alice = registered(config_for(&server), &a).await;
    let bob = registered(config_for(&server), &b).await;

    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("  general "))
        .await
        .unwrap();
    assert_eq!((room.name.as_str(), room.kind), ("general", RoomKind::Group));
    let mut bob_room = bob.room_events(room.id);
    assert_eq!(bob.join_room(room.id).await.unwrap().id, room.id);
    let members = alice.members(room.id).await.unwrap();
    let mut names: Vec<_> = members.iter().map(|m| m.user.username.to_string()).collect();
    names.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(names, expected);
    assert!(members.iter().all(|m| m.online));

    for i in 1..=5 {
        alice.send(room.id, &format!("hello {i}")).await.unwrap();
    }
    for i in 1..=5 {
        let m = next_message(&mut bob_room, WAIT).await.expect("message event");
        // 1 and 2 are the room's notices (created, bob joined).
        assert_eq!(
            (m.seq, m.text().unwrap().as_str()),
            (i + 2, format!("hello {i}").as_str())
        );
        assert_eq!(m.sender.username.as_str(), a);
    }
    let page = bob.history(room.id, HistoryFrom::Before(7), 2).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 6]);
    assert!(page.has_more);
    let page = bob.history(room.id, HistoryFrom::After(5), 10).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [6, 7]);
    assert!(!page.has_more);

    bob.mark_read(room.id, 7).await.unwrap();
    let listed = bob.list_rooms().await.unwrap();
    let summary = listed.iter().find(|s| s.room.id == room.id).unwrap();
    assert_eq!((summary.unread, summary.last_read_seq), (0, 7));

    let direct = alice.open_direct(&b).await.unwrap();
    assert_eq!(direct.kind, RoomKind::Direct);
    assert_eq!(
        bob.open_direct(&a).await.unwrap().id,
        direct.id,
        "one direct room per pair"
    );

    bob.leave_room(room.id).await.unwrap();
    let err = bob.send(room.id, "still here?").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotMember));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_retried_client_message_id_stores_the_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let alice = registered(config_for(&server), &unique("alice")).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("idem"))
        .await
        .unwrap();
    let mut events = alice.room_events(room.id);
    let id = ClientMsgId::random();
    let first = alice.send_with_id(room.id, id, "once").await.unwrap();
    let again = alice.send_with_id(room.id, id, "once").await.unwrap();
    assert_eq!(first, again);
    assert_eq!(next_message(&mut events, WAIT).await.unwrap(), first);
    assert!(
        next_message(&mut events, Duration::from_millis(300))
            .await
            .is_none(),
        "shown once"
    );
    let page = alice.history(room.id, HistoryFrom::Latest, 10).await.unwrap();
    let texts = page.messages.iter().filter(|m| m.text().is_some()).count();
    assert_eq!(texts, 1, "stored once");
}

#[tokio::test]
async fn a_room_stream_sees_only_its_room_and_the_event_stream_survives_logout_and_login() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let a = unique("alice");
    let alice = Client::new(config_for(&server));
    let mut all = alice.events();
    alice.register(&a, PASSWORD).await.unwrap();
    let one = alice
        .create_room_with(chat_client_lib::NewRoom::public("one"))
        .await
        .unwrap();
    let two = alice
        .create_room_with(chat_client_lib::NewRoom::public("two"))
        .await
        .unwrap();
    let mut only_one = alice.room_events(one.id);
    alice.send(two.id, "in two").await.unwrap();
    alice.send(one.id, "in one").await.unwrap();
    assert_eq!(
        next_message(&mut only_one, WAIT)
            .await
            .unwrap()
            .text()
            .unwrap()
            .as_str(),
        "in one"
    );
    assert!(
        next_message(&mut only_one, Duration::from_millis(300))
            .await
            .is_none()
    );
    assert_eq!(
        next_message(&mut all, WAIT)
            .await
            .unwrap()
            .text()
            .unwrap()
            .as_str(),
        "in two"
    );
    assert_eq!(
        next_message(&mut all, WAIT)
            .await
            .unwrap()
            .text()
            .unwrap()
            .as_str(),
        "in one"
    );

    alice.logout().await.unwrap();
    assert_eq!(alice.current_state(), ConnectionState::Disconnected);
    assert_eq!(alice.list_rooms().await.unwrap_err(), ClientError::NotLoggedIn);
    // Open, and holding nothing but the outbox's reports of the two sends (and that this
    // user's devices changed: the session's device left at logout).
    while let Some(event) = all.try_recv() {
        assert!(
            matches!(
                event,
                ClientEvent::Sent { .. } | ClientEvent::DevicesChanged { .. }
            ),
            "{event:?}"
        );
    }

    alice.login(&a, PASSWORD).await.unwrap();
    alice.send(two.id, "after login").await.unwrap();
    assert_eq!(
        next_message(&mut all, WAIT)
            .await
            .unwrap()
            .text()
            .unwrap()
            .as_str(),
        "after login"
    );
}

#[tokio::test]
async fn server_errors_keep_their_codes_and_bad_input_never_leaves_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let a = unique("alice");
    registered(config_for(&server), &a).await;
    let client = Client::new(config_for(&server));
    let err = client.login(&a, "wrong password!").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidCredentials));
    let err = client.register(&a, PASSWORD).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UsernameTaken));
    // Refused locally, with the protocol's own code.
    let err = client.login(&a, &"p".repeat(73)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Invalid(ref v) if v.code == ErrorCode::PasswordTooLong),
        "{err:?}"
    );
    assert!(client.user().is_none());
    client.login(&a, PASSWORD).await.unwrap();
    assert_eq!(client.user().unwrap().username.as_str(), a);
}
