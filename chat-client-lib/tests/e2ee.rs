//! End-to-end encrypted rooms against a real server: devices, membership, sending and
//! reading, what the server stores, and what each device can and cannot read.

mod common;

use std::time::Duration;

use chat_client_lib::{
    Client, ClientError, ClientEvent, EventStream, HistoryFrom, StoreError, Undecryptable,
    UndecryptableReason,
};
use chat_proto::{Base64Bytes, ClientMsgId, Content, Message, Request, RoomId, UserId};
use common::*;

const WAIT: Duration = Duration::from_secs(20);

/// Logs as `RUST_LOG` says, for a failing run.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Waits until `done` holds, at most [`WAIT`].
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within {WAIT:?}"));
}

/// The user ids in the room's group as `client`'s device has it.
fn group_users(client: &Client, room: RoomId) -> Vec<UserId> {
    let mut users: Vec<UserId> = client
        .room_encryption(room)
        .map(|e| e.devices.iter().map(|d| d.user).collect())
        .unwrap_or_default();
    users.sort();
    users
}

fn id(client: &Client) -> UserId {
    client.user().unwrap().id
}

/// Waits for the next unreadable item in `room`.
async fn next_unreadable(events: &mut EventStream, room: RoomId) -> Undecryptable {
    wait_event(events, WAIT, |e| match e {
        ClientEvent::Undecryptable(u) if u.room_id == room => Some(u),
        _ => None,
    })
    .await
}

/// Where the encrypted sender data of a serialized MLS PrivateMessage starts (RFC 9420:
/// version, wire format, then group id, epoch, content type, authenticated data, each
/// vector with a variable-length size).
fn encrypted_sender_data_at(bytes: &[u8]) -> usize {
    fn vector_end(bytes: &[u8], at: usize) -> (usize, usize) {
        let first = bytes[at];
        let (len_bytes, mut len) = match first >> 6 {
            0 => (1, u64::from(first & 0x3f)),
            1 => (2, u64::from(first & 0x3f)),
            _ => (4, u64::from(first & 0x3f)),
        };
        for b in &bytes[at + 1..at + len_bytes] {
            len = (len << 8) | u64::from(*b);
        }
        let start = at + len_bytes;
        (start, start + len as usize)
    }
    let at = 4; // version and wire format
    let (_, group_end) = vector_end(bytes, at);
    let aad_at = group_end + 8 + 1; // epoch, content type
    let (_, aad_end) = vector_end(bytes, aad_at);
    let (sender_data, _) = vector_end(bytes, aad_end);
    sender_data + 2
}

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
    logs();
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
    assert_eq!(
        sent.text().map(|t| t.as_str().to_owned()),
        Some(format!("hello bob, {canary}"))
    );
    let got = next_text(&mut bob_events, room).await;
    assert_eq!(got.text().unwrap().as_str(), format!("hello bob, {canary}"));
    assert_eq!(got.sender.username.as_str(), a);
    assert!(
        got.device_id.is_some(),
        "encrypted messages name the sending device"
    );
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
        // The chat list previews the last message as text, as in a public room.
        let rooms = client.list_rooms().await.unwrap();
        let listed = rooms
            .iter()
            .find(|r| r.room.id == room)
            .expect("the room is listed");
        let last = listed.last_message.as_ref().expect("a last message");
        assert_eq!(last.text().map(|t| t.as_str()), Some("hi alice"));
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

#[tokio::test]
async fn a_removed_member_reads_nothing_after_and_a_new_member_nothing_before() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b, c) = (unique("alice"), unique("bob"), unique("carol"));
    let alice = registered(config_for(&server), &a).await;
    let bob = registered(config_for(&server), &b).await;
    let carol = registered(config_for(&server), &c).await;
    let room = encrypted_pair(&alice, &bob, &b).await;
    let mut bob_events = bob.room_events(room);

    let early = say(&alice, room, "before carol").await;
    next_text(&mut bob_events, room).await;

    // Carol joins later: what came before is not hers to read.
    alice.invite(room, &c).await.unwrap();
    carol.join_room(room).await.unwrap();
    wait_joined(&carol, room).await;
    until("carol in alice's group", || {
        group_users(&alice, room).contains(&id(&carol))
    })
    .await;
    let mut carol_events = carol.room_events(room);
    say(&alice, room, "welcome carol").await;
    assert_eq!(
        next_text(&mut carol_events, room).await.text().unwrap().as_str(),
        "welcome carol"
    );
    let page = carol.history(room, HistoryFrom::Latest, 50).await.unwrap();
    let before = page
        .undecryptable
        .iter()
        .find(|u| u.seq == early.seq)
        .expect("the earlier message is listed as unreadable");
    assert_eq!(before.reason, UndecryptableReason::BeforeJoined);
    assert!(
        page.messages
            .iter()
            .all(|m| m.text().map(|t| t.as_str()) != Some("before carol"))
    );
    next_text(&mut bob_events, room).await;

    // Carol is removed: her device leaves the group, and what follows is not hers.
    alice.remove_member(room, id(&carol)).await.unwrap();
    until("carol out of alice's group", || {
        !group_users(&alice, room).contains(&id(&carol))
    })
    .await;
    until("carol's device forgot the group", || {
        carol.room_encryption(room).is_none()
    })
    .await;
    let secret = say(&alice, room, "after carol left").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "after carol left"
    );

    // Invited back, she reads from her return on; the message of her absence stays closed.
    alice.invite(room, &c).await.unwrap();
    carol.join_room(room).await.unwrap();
    until("carol back in the group", || {
        carol.room_encryption(room).is_some()
    })
    .await;
    until("carol back in alice's group", || {
        group_users(&alice, room).contains(&id(&carol))
    })
    .await;
    say(&alice, room, "welcome back").await;
    assert_eq!(
        next_text(&mut carol_events, room).await.text().unwrap().as_str(),
        "welcome back"
    );
    let page = carol.history(room, HistoryFrom::Latest, 50).await.unwrap();
    let absent = page
        .undecryptable
        .iter()
        .find(|u| u.seq == secret.seq)
        .expect("the message of her absence is unreadable");
    assert_eq!(absent.reason, UndecryptableReason::BeforeJoined);
    let texts: Vec<&str> = page
        .messages
        .iter()
        .filter_map(|m| m.text().map(|t| t.as_str()))
        .collect();
    assert!(!texts.contains(&"after carol left"), "{texts:?}");
    assert!(texts.contains(&"welcome back"));
}

#[tokio::test]
async fn tampered_and_replayed_ciphertext_becomes_a_typed_event_never_a_message() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let alice = registered(config_for(&server), &a).await;
    let bob = registered(config_for(&server), &b).await;
    let room = encrypted_pair(&alice, &bob, &b).await;
    let mut bob_events = bob.room_events(room);

    let original = say(&alice, room, "the real one").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "the real one"
    );
    let page = alice.server_history(room, HistoryFrom::Latest, 10).await.unwrap();
    let stored = page.messages.iter().find(|m| m.seq == original.seq).unwrap();
    let Content::Mls { mls } = &stored.content else {
        panic!("an encrypted message is stored as mls: {stored:?}")
    };
    assert!(
        !mls.as_bytes().windows(12).any(|w| w == b"the real one"),
        "the server holds ciphertext"
    );

    // The same bytes again, under a new id (the server takes them: same epoch).
    let replay = Request::SendMls {
        room_id: room,
        client_msg_id: ClientMsgId::random(),
        mls: mls.clone(),
        welcome: None,
    };
    alice.send_request(replay).await.unwrap();
    let replayed = next_unreadable(&mut bob_events, room).await;
    assert_eq!(replayed.reason, UndecryptableReason::Replayed);

    // One byte of the encrypted sender data changed (the framing the server reads, group,
    // epoch and content type, stays intact).
    let mut bytes = mls.as_bytes().to_vec();
    let at = encrypted_sender_data_at(&bytes);
    bytes[at] ^= 0x01;
    let tampered = Request::SendMls {
        room_id: room,
        client_msg_id: ClientMsgId::random(),
        mls: Base64Bytes::new(bytes).unwrap(),
        welcome: None,
    };
    alice.send_request(tampered).await.unwrap();
    let damaged = next_unreadable(&mut bob_events, room).await;
    assert_eq!(damaged.reason, UndecryptableReason::Tampered);

    // Neither became a message; the conversation goes on.
    say(&alice, room, "still here").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "still here"
    );
    let page = bob.history(room, HistoryFrom::Latest, 50).await.unwrap();
    let texts: Vec<&str> = page
        .messages
        .iter()
        .filter_map(|m| m.text().map(|t| t.as_str()))
        .collect();
    assert_eq!(texts, ["the real one", "still here"]);
    let reasons: Vec<_> = page.undecryptable.iter().map(|u| u.reason).collect();
    assert_eq!(
        reasons,
        [UndecryptableReason::Replayed, UndecryptableReason::Tampered]
    );
}

#[tokio::test]
async fn two_admins_commit_at_once_and_every_device_ends_in_the_same_epoch() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b, c) = (unique("alice"), unique("bob"), unique("carol"));
    let alice = registered(config_for(&server), &a).await;
    let bob = registered(config_for(&server), &b).await;
    let carol = registered(config_for(&server), &c).await;
    let room = encrypted_pair(&alice, &bob, &b).await;
    bob.room_events(room);
    alice
        .set_role(room, id(&bob), chat_proto::Role::Admin)
        .await
        .unwrap();

    // Carol joins: both admins' devices see it and commit her addition at the same moment;
    // the server takes one, the other processes it and finds nothing left to do. Both
    // write meanwhile.
    alice.invite(room, &c).await.unwrap();
    let mut carol_events = carol.room_events(room);
    carol.join_room(room).await.unwrap();
    let sends: Vec<_> = (0..3)
        .flat_map(|i| {
            [
                alice.send(room, &format!("alice {i}")),
                bob.send(room, &format!("bob {i}")),
            ]
        })
        .collect();
    for handle in sends {
        tokio::time::timeout(WAIT, handle).await.unwrap().unwrap();
    }
    wait_joined(&carol, room).await;
    let everyone = {
        let mut v = vec![id(&alice), id(&bob), id(&carol)];
        v.sort();
        v
    };
    until("one epoch, one group on every device", || {
        let epochs: Vec<_> = [&alice, &bob, &carol]
            .iter()
            .map(|c| c.room_encryption(room).map(|e| e.epoch))
            .collect();
        epochs.iter().all(|e| e.is_some() && *e == epochs[0])
            && [&alice, &bob, &carol]
                .iter()
                .all(|c| group_users(c, room) == everyone)
    })
    .await;

    // Nothing lost: everything said reaches everyone in the group then, carol included
    // from her join on, in order.
    say(&bob, room, "all of us").await;
    let mut carol_saw = Vec::new();
    while carol_saw.last().map(String::as_str) != Some("all of us") {
        carol_saw.push(
            next_text(&mut carol_events, room)
                .await
                .text()
                .unwrap()
                .to_string(),
        );
    }
    let carol_page = carol.history(room, HistoryFrom::Latest, 100).await.unwrap();
    let carol_texts: Vec<String> = carol_page
        .messages
        .iter()
        .filter_map(|m| m.text().map(|t| t.to_string()))
        .collect();
    assert_eq!(carol_texts, carol_saw, "history and live agree");
    for client in [&alice, &bob] {
        let page = client.history(room, HistoryFrom::Latest, 100).await.unwrap();
        let texts: Vec<&str> = page
            .messages
            .iter()
            .filter_map(|m| m.text().map(|t| t.as_str()))
            .collect();
        for expected in [
            "alice 0",
            "alice 1",
            "alice 2",
            "bob 0",
            "bob 1",
            "bob 2",
            "all of us",
        ] {
            assert!(texts.contains(&expected), "{expected} missing from {texts:?}");
        }
        assert!(page.undecryptable.is_empty(), "{:?}", page.undecryptable);
    }
}

#[tokio::test]
async fn a_device_offline_across_fifty_epochs_catches_up_in_order_and_restarts_with_its_state() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b, d) = (unique("alice"), unique("bob"), unique("dave"));
    let alice = registered(config_for(&server), &a).await;
    let bob_config = with_store(config_for(&server), cache.path());
    let bob = registered(bob_config.clone(), &b).await;
    let dave = registered(config_for(&server), &d).await;
    let room = encrypted_pair(&alice, &bob, &b).await;
    let mut bob_events = bob.room_events(room);
    say(&alice, room, "before the break").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "before the break"
    );
    let epoch_before = bob.room_encryption(room).unwrap().epoch;
    bob.shutdown().await.unwrap();
    drop(bob);

    // 25 times: dave joins (a commit), alice writes, dave leaves (a commit).
    let mut said = Vec::new();
    for i in 0..25 {
        alice.invite(room, &d).await.unwrap();
        dave.join_room(room).await.unwrap();
        until("dave in the group", || {
            group_users(&alice, room).contains(&id(&dave))
        })
        .await;
        let text = format!("while away {i}");
        say(&alice, room, &text).await;
        said.push(text);
        dave.leave_room(room).await.unwrap();
        until("dave out of the group", || {
            !group_users(&alice, room).contains(&id(&dave))
        })
        .await;
    }
    let epoch_now = alice.room_encryption(room).unwrap().epoch;
    assert!(epoch_now >= epoch_before + 50, "{epoch_before} -> {epoch_now}");

    // Bob comes back with the same store: his device continues where it was, processes
    // fifty commits and every message once, in order.
    let bob = Client::new(bob_config.clone());
    let mut bob_events = bob.room_events(room);
    bob.login(&b, PASSWORD).await.unwrap();
    let mut got = Vec::new();
    while got.len() < said.len() {
        let m = next_text(&mut bob_events, room).await;
        got.push(m.text().unwrap().to_string());
    }
    assert_eq!(got, said);
    until("bob at alice's epoch", || {
        bob.room_encryption(room).map(|e| e.epoch) == Some(epoch_now)
    })
    .await;
    say(&alice, room, "welcome back").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "welcome back"
    );
    bob.shutdown().await.unwrap();
    drop(bob);

    // Restarted again: the history of old epochs comes from the local store, decrypted,
    // and nothing is shown twice as new.
    let bob = Client::new(bob_config.clone());
    let mut bob_events = bob.room_events(room);
    bob.login(&b, PASSWORD).await.unwrap();
    let page = bob.history(room, HistoryFrom::Latest, 200).await.unwrap();
    let texts: Vec<String> = page
        .messages
        .iter()
        .filter_map(|m| m.text().map(|t| t.to_string()))
        .collect();
    let mut expected = vec!["before the break".to_owned()];
    expected.extend(said.iter().cloned());
    expected.push("welcome back".into());
    assert_eq!(texts, expected);
    say(&alice, room, "one more").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "one more"
    );
    bob.shutdown().await.unwrap();
    drop(bob);

    // The store is sealed: no text in the file, and a wrong password opens nothing.
    let file = store_file(&bob_config, &b);
    let raw = std::fs::read(&file).unwrap();
    assert!(!raw.windows(16).any(|w| w == b"before the break"));
    let stranger = Client::new(bob_config);
    let refused = stranger
        .load_offline(&b, "not the password at all")
        .await
        .unwrap_err();
    assert_eq!(refused, ClientError::Store(StoreError::WrongPassword));
}

#[tokio::test]
async fn a_second_device_joins_the_users_rooms_by_itself_and_reads_from_then_on() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let alice = registered(config_for(&server), &a).await;
    let bob = registered(config_for(&server), &b).await;
    let room = encrypted_pair(&alice, &bob, &b).await;
    let early = say(&alice, room, "for bob's first device").await;

    let phone = Client::new(config_for(&server).with_device_name("phone"));
    let mut phone_events = phone.room_events(room);
    phone.login(&b, PASSWORD).await.unwrap();
    until("the phone joined the room's group", || {
        phone.room_encryption(room).is_some()
    })
    .await;
    assert_eq!(
        phone.room_encryption(room).unwrap().devices.len(),
        3,
        "alice's device and bob's two"
    );
    until("alice's group has bob's two devices", || {
        alice.room_encryption(room).is_some_and(|e| e.devices.len() == 3)
    })
    .await;
    say(&alice, room, "for both of bob's devices").await;
    assert_eq!(
        next_text(&mut phone_events, room).await.text().unwrap().as_str(),
        "for both of bob's devices"
    );
    let page = phone.history(room, HistoryFrom::Latest, 50).await.unwrap();
    assert!(
        page.undecryptable
            .iter()
            .any(|u| u.seq == early.seq && u.reason == UndecryptableReason::BeforeJoined)
    );

    // Logging out removes a device kept only in memory; the others remove it from the group.
    phone.logout().await.unwrap();
    until("alice's group back to two devices", || {
        alice.room_encryption(room).is_some_and(|e| e.devices.len() == 2)
    })
    .await;
    let mut bob_events = bob.room_events(room);
    say(&alice, room, "phone gone").await;
    assert_eq!(
        next_text(&mut bob_events, room).await.text().unwrap().as_str(),
        "phone gone"
    );
}

#[tokio::test]
async fn a_reconnect_in_the_middle_of_a_membership_change_loses_nothing() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let relay = Relay::start(server.local_addr()).await;
    let fingerprint = server.cert_fingerprint().unwrap();
    let (a, c) = (unique("alice"), unique("carol"));
    let alice = registered(
        config_for_url(&format!("wss://{}/v2/ws", relay.addr), &fingerprint),
        &a,
    )
    .await;
    let carol = registered(config_for(&server), &c).await;
    let room = alice.create_room("through a relay").await.unwrap().id;
    alice.invite(room, &c).await.unwrap();
    until("alice's group exists", || alice.room_encryption(room).is_some()).await;
    let mut alice_events = alice.room_events(room);
    let mut carol_events = carol.room_events(room);

    // Alice's requests stop getting through just before carol joins: her device sees the
    // join but cannot bring the group in step. She writes meanwhile; then the connection
    // drops and comes back.
    relay.hold(true);
    carol.join_room(room).await.unwrap();
    wait_event(&mut alice_events, WAIT, |e| match e {
        ClientEvent::Message(m) if m.notice().is_some() && m.sender.username.as_str() == c => Some(()),
        _ => None,
    })
    .await;
    let during = alice.send(room, "written during the outage");
    relay.cut_and_refuse();
    tokio::time::sleep(Duration::from_millis(200)).await;
    relay.hold(false);
    relay.restore();

    let stored = tokio::time::timeout(WAIT, during).await.unwrap().unwrap();
    let got = next_text(&mut carol_events, room).await;
    assert_eq!(
        (got.seq, got.text().unwrap().as_str()),
        (stored.seq, "written during the outage")
    );
    assert_eq!(
        next_text(&mut alice_events, room).await.seq,
        stored.seq,
        "once for alice too"
    );
    let mut both = vec![id(&alice), id(&carol)];
    both.sort();
    until("one group of both devices on both sides", || {
        group_users(&alice, room) == both
            && group_users(&carol, room) == both
            && alice.room_encryption(room).map(|e| e.epoch) == carol.room_encryption(room).map(|e| e.epoch)
    })
    .await;
}

#[tokio::test]
async fn a_leave_while_every_other_device_is_offline_is_committed_by_the_next_to_come_online() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b, c) = (unique("alice"), unique("bob"), unique("carol"));
    let alice_config = with_store(config_for(&server), cache.path());
    let bob_config = with_store(config_for(&server), cache.path());
    let alice = registered(alice_config.clone(), &a).await;
    let bob = registered(bob_config.clone(), &b).await;
    let carol = registered(config_for(&server), &c).await;
    let room = encrypted_pair(&alice, &bob, &b).await;
    alice.invite(room, &c).await.unwrap();
    carol.join_room(room).await.unwrap();
    wait_joined(&carol, room).await;
    until("carol in bob's group", || {
        group_users(&bob, room).contains(&id(&carol))
    })
    .await;
    let carol_id = id(&carol);
    alice.shutdown().await.unwrap();
    bob.shutdown().await.unwrap();
    drop((alice, bob));

    // Carol leaves while nobody else is online: nobody commits her removal yet.
    carol.leave_room(room).await.unwrap();

    // Bob comes back first: his device commits it, then his messages are not for her.
    let bob = Client::new(bob_config);
    bob.login(&b, PASSWORD).await.unwrap();
    until("carol out of bob's group", || {
        bob.room_encryption(room)
            .is_some_and(|e| !e.devices.iter().any(|d| d.user == carol_id))
    })
    .await;
    let after = say(&bob, room, "only for alice now").await;

    // Alice comes back later and follows: same epoch, and she reads bob's message.
    let alice = Client::new(alice_config);
    alice.login(&a, PASSWORD).await.unwrap();
    until("alice at bob's epoch", || {
        alice.room_encryption(room).map(|e| e.epoch) == bob.room_encryption(room).map(|e| e.epoch)
    })
    .await;
    let page = alice.history(room, HistoryFrom::Latest, 50).await.unwrap();
    assert!(
        page.messages
            .iter()
            .any(|m| m.seq == after.seq && m.text().map(|t| t.as_str()) == Some("only for alice now")),
        "{:?}",
        page.messages
    );
    assert!(!group_users(&alice, room).contains(&carol_id));
}

#[tokio::test]
async fn a_message_for_a_room_this_device_cannot_write_in_yet_fails_and_holds_nothing_up() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let (a, b) = (unique("alice"), unique("bob"));
    let quick = |c: chat_client_lib::ClientConfig| c.with_request_timeout(Duration::from_secs(2));
    let alice = registered(quick(config_for(&server)), &a).await;
    let bob = registered(quick(config_for(&server)), &b).await;
    let secret = alice.create_room("nobody home").await.unwrap().id;
    alice.invite(secret, &b).await.unwrap();
    let open = alice
        .create_room_with(chat_client_lib::NewRoom::public("open"))
        .await
        .unwrap()
        .id;
    bob.join_room(open).await.unwrap();
    // Alice's device goes; bob joins the encrypted room with nobody online to add him.
    alice.shutdown().await.unwrap();
    drop(alice);
    bob.join_room(secret).await.unwrap();

    let stuck = bob.send(secret, "nobody can read this yet");
    let behind = bob.send(open, "this goes out anyway");
    let failed = tokio::time::timeout(WAIT, stuck).await.unwrap().unwrap_err();
    assert!(matches!(failed, ClientError::Encryption(_)), "{failed:?}");
    tokio::time::timeout(WAIT, behind).await.unwrap().unwrap();
}
