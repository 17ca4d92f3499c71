//! Fan-out, presence, typing, slow consumers, metrics (S8, S11, S12, S16).

use std::sync::Arc;

use chat_core::broker::memory::MemoryBroker;
use chat_core::keyring::KeyRing;
use chat_core::{ChatService, CoreConfig, KickReason};
use chat_proto::{Event, Request, Response};

use super::{Client, Fixture, TEST_KEYS, config, node, settle};

/// Two nodes on one store whose brokers never reach each other, as if every event between
/// them were lost: each node still delivers what the other stored, read from the store,
/// once and in `seq` order, notices included.
pub async fn a_node_that_hears_nothing_from_the_others_delivers_what_they_stored(fx: &dyn Fixture) {
    let one = node(fx, config()).await;
    let two = ChatService::new(
        fx.open_store().await,
        Arc::new(MemoryBroker::default()),
        KeyRing::parse(TEST_KEYS).unwrap(),
        config(),
    )
    .await
    .unwrap();
    let mut alice = Client::register(&one, "alice").await;
    let mut bob = Client::register(&two, "bob").await;
    let room = alice.create_room("no fan-out").await;
    bob.join(room.id).await;
    // Bob's joining, stored by node two, reaches Alice after her own room's creation.
    let (_, created) = alice.next_notice().await;
    assert!(
        matches!(created, chat_proto::Notice::Created { .. }),
        "{created:?}"
    );
    let (_, joined) = alice.next_notice().await;
    assert_eq!(joined, chat_proto::Notice::Joined { user: bob.me() });
    let sent = [alice.send(room.id, "one").await, alice.send(room.id, "two").await];
    for message in &sent {
        assert_eq!(bob.next_message().await, *message);
    }
    let reply = bob.send(room.id, "back").await;
    assert_eq!(bob.next_message().await, reply, "his own, live");
    assert_eq!(alice.next_message().await, sent[0], "her own, live");
    assert_eq!(alice.next_message().await, sent[1]);
    assert_eq!(alice.next_message().await, reply, "from the store");
    // Nothing comes twice, however many checks pass.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for client in [&mut alice, &mut bob] {
        let again: Vec<Event> = client
            .drain()
            .await
            .into_iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .collect();
        assert!(again.is_empty(), "delivered again: {again:?}");
    }
}

pub async fn every_connection_of_every_member_gets_a_message_once(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut alice_phone = Client::login(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let mut carol = Client::register(&svc, "carol").await;
    let room = alice.create_room("fan-out").await;
    bob.join(room.id).await;
    for c in [&mut alice, &mut alice_phone, &mut bob, &mut carol] {
        c.drain().await;
    }
    let sent = alice.send(room.id, "to everyone").await;
    // The sender's connections included: a client recognises its own by client_msg_id.
    for c in [&mut alice, &mut alice_phone, &mut bob] {
        let events = c.drain().await;
        assert_eq!(
            events,
            vec![Event::Message {
                message: sent.clone()
            }]
        );
    }
    assert!(carol.drain().await.is_empty(), "not a member");
    // A device that logs in later is subscribed to the user's rooms.
    let mut bob_laptop = Client::login(&svc, "bob").await;
    let second = bob.send(room.id, "hello laptop").await;
    assert_eq!(bob_laptop.next_message().await, second);
    assert_eq!(alice_phone.next_message().await, second);
}

pub async fn presence_follows_the_last_connection(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("presence").await;
    bob.join(room.id).await;
    bob.drain().await;
    drop(alice);
    settle().await;
    let offline = bob.event().await;
    let alice_info = match &offline {
        Event::Presence { user, online: false } => user.clone(),
        other => panic!("expected alice offline, got {other:?}"),
    };
    assert_eq!(alice_info.username.as_str(), "alice");

    // Two devices: online with the first, offline only after the last.
    let phone = Client::login(&svc, "alice").await;
    assert_eq!(
        bob.event().await,
        Event::Presence {
            user: alice_info.clone(),
            online: true
        }
    );
    let laptop = Client::login(&svc, "alice").await;
    let members_online = |r: Response| match r {
        Response::Members { members, .. } => members
            .into_iter()
            .map(|m| (m.user.username.to_string(), m.online))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    drop(phone);
    settle().await;
    assert!(bob.drain().await.is_empty(), "still online on the laptop");
    assert_eq!(
        members_online(bob.ok(Request::ListMembers { room_id: room.id }).await),
        [("alice".to_string(), true), ("bob".to_string(), true)]
    );
    drop(laptop);
    assert_eq!(
        bob.event().await,
        Event::Presence {
            user: alice_info,
            online: false
        }
    );
    assert_eq!(
        members_online(bob.ok(Request::ListMembers { room_id: room.id }).await),
        [("alice".to_string(), false), ("bob".to_string(), true)]
    );
    // Logging out counts like closing.
    let mut again = Client::login(&svc, "alice").await;
    assert!(matches!(bob.event().await, Event::Presence { online: true, .. }));
    again.ok(Request::Logout).await;
    assert!(matches!(bob.event().await, Event::Presence { online: false, .. }));
}

/// A client that drops and resumes at once, again and again (a flaky network), must end up
/// shown online: the "offline" of a dropped connection may not overtake the "online" of
/// the one that replaced it.
pub async fn presence_ends_online_after_rapid_reconnects(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("flaky network").await;
    bob.join(room.id).await;
    bob.drain().await;
    let token = alice.session.clone().unwrap().token;
    let mut last_seen = None;
    for round in 0..20 {
        drop(alice);
        alice = Client::connect(&svc);
        let resumed = alice.ok(Request::ResumeSession { token: token.clone() }).await;
        assert!(matches!(resumed, Response::Session(_)), "{resumed:?}");
        // Blips may be left out, but once things settle the last word is "online".
        for event in bob.drain().await {
            if let Event::Presence { user, online } = event
                && user.username.as_str() == "alice"
            {
                last_seen = Some(online);
            }
        }
        assert_ne!(last_seen, Some(false), "alice shown offline after round {round}");
    }
    match bob.ok(Request::ListMembers { room_id: room.id }).await {
        Response::Members { members, .. } => {
            let alice_online = members
                .iter()
                .find(|m| m.user.username.as_str() == "alice")
                .map(|m| m.online);
            assert_eq!(alice_online, Some(true));
        }
        other => panic!("{other:?}"),
    }
}

pub async fn typing_reaches_others_and_is_not_stored(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("typing").await;
    bob.join(room.id).await;
    alice.drain().await;
    bob.drain().await;
    assert_eq!(alice.ok(Request::Typing { room_id: room.id }).await, Response::Ok);
    assert_eq!(
        bob.event().await,
        Event::Typing {
            room_id: room.id,
            user: alice.session.clone().unwrap().user
        }
    );
    settle().await;
    assert!(alice.drain().await.is_empty(), "the typist is not told");
    // Only the room's two notices (created, bob joined): no typing was stored.
    assert_eq!(alice.history(room.id, None, None, 10).await, (vec![1, 2], false));
    match bob.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => {
            assert!(rooms[0].last_message.as_ref().is_some_and(|m| m.text().is_none()));
            assert_eq!(rooms[0].unread, 0);
        }
        other => panic!("{other:?}"),
    }
}

pub async fn a_slow_consumer_is_kicked_while_others_keep_receiving(fx: &dyn Fixture) {
    let svc = node(
        fx,
        CoreConfig {
            outbound_queue: 4,
            ..config()
        },
    )
    .await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut reader = Client::register(&svc, "reader").await;
    let mut sleeper = Client::register(&svc, "sleeper").await;
    let room = alice.create_room("firehose").await;
    reader.join(room.id).await;
    sleeper.join(room.id).await;
    reader.drain().await;
    alice.drain().await;
    // The sleeper never reads; its queue holds 4 frames.
    // A reading member gets everything, in order.
    for i in 0..12 {
        let sent = alice.send(room.id, &format!("burst {i}")).await;
        assert_eq!(reader.next_message().await, sent);
        assert_eq!(alice.next_message().await, sent);
    }
    assert_eq!(sleeper.conn.kicked(), Some(KickReason::SlowConsumer));
    assert_eq!(reader.conn.kicked(), None);
    // The sleeper's queue gives what it held, then ends: the server closes the socket.
    let mut held = 0;
    while let Some(_frame) = sleeper.rx.recv().await {
        held += 1;
    }
    assert_eq!(held, 4);
    assert!(svc.render_metrics().contains("chat_slow_consumer_kicks_total 1"));
    // The sender was never held up, and the room goes on.
    // 1 created, 2 and 3 the joins, 4..=15 the burst.
    let after = alice.send(room.id, "after the kick").await;
    assert_eq!(after.seq, 16);
    assert_eq!(reader.next_message().await, after);
}

pub async fn metrics_and_health_report_the_node(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let health = svc.health().await;
    assert!(health.storage_ok && health.broker_ok);
    let mut alice = Client::register(&svc, "alice").await;
    let _anon = Client::connect(&svc);
    let room = alice.create_room("metrics").await;
    alice.send(room.id, "counted").await;
    let _ = alice
        .err(Request::JoinRoom {
            room_id: chat_proto::RoomId::new(424_242).unwrap(),
        })
        .await;
    let text = svc.render_metrics();
    for line in [
        "chat_connections 2",
        "chat_authenticated_connections 1",
        "chat_messages_stored_total 1",
        "chat_errors_total{code=\"not_found\"} 1",
        "# TYPE chat_events_delivered_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
    }
    drop(alice);
    settle().await;
    let text = svc.render_metrics();
    assert!(
        text.lines().any(|l| l == "chat_authenticated_connections 0"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "chat_connections 1"), "{text}");
}
