//! Faults: the server killed with requests pending, restarted under a running conversation,
//! and gone for longer than the reconnect policy allows.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chat_client_lib::{
    Client, ClientError, ClientEvent, ConnectError, ConnectionState, EventStream, HistoryFrom,
    ReconnectPolicy,
};
use common::*;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn pending_requests_fail_at_once_when_the_server_dies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let relay = Relay::start(server.local_addr()).await;
    let url = format!("wss://{}/v2/ws", relay.addr);
    let mut config = config_for_url(&url, &server.cert_fingerprint().unwrap());
    config.request_timeout = Duration::from_secs(60);
    let client = registered(config, &unique("alice")).await;
    let room = client
        .create_room_with(chat_client_lib::NewRoom::public("pending"))
        .await
        .unwrap();

    // Hold the client's bytes in the relay so that these requests stay unanswered.
    relay.hold(true);
    let mut pending = Vec::new();
    for _ in 0..20 {
        let client = client.clone();
        pending.push(tokio::spawn(async move {
            let result = client.history(room.id, HistoryFrom::Latest, 10).await;
            (result, Instant::now())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pending.iter().all(|p| !p.is_finished()),
        "held requests are pending"
    );

    let killed = Instant::now();
    server.kill();
    for task in pending {
        let (result, done) = tokio::time::timeout(WAIT, task).await.expect("no hang").unwrap();
        assert_eq!(result.unwrap_err(), ClientError::ConnectionLost);
        // Far below the 60 s request timeout: they failed because the connection dropped.
        assert!(done.duration_since(killed) < Duration::from_secs(10));
    }
}

/// The room's items before the test's messages: its `created` notice and bob's `joined`.
const NOTICES: u64 = 2;

/// Receives the messages `first..=last` (counted from the room's first message, after its
/// notices) from the stream; panics on a gap, a duplicate or a stall.
async fn collect_in_order_from(events: &mut EventStream, first: u64, last: u64) -> Vec<String> {
    let mut bodies = Vec::new();
    for expected in first..=last {
        let m = next_message(events, WAIT)
            .await
            .unwrap_or_else(|| panic!("stalled at message {expected}"));
        assert_eq!(m.seq, NOTICES + expected, "gap or duplicate");
        bodies.push(m.text().unwrap().to_string());
    }
    bodies
}

#[tokio::test]
async fn a_thousand_messages_across_a_kill_and_a_graceful_restart_arrive_once_each_in_order() {
    const TOTAL: u64 = 1000;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    let config = config_for(&server);
    let (a, b) = (unique("alice"), unique("bob"));
    let alice = registered(config.clone(), &a).await;
    let bob = registered(config.clone(), &b).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("numbers"))
        .await
        .unwrap();
    bob.join_room(room.id).await.unwrap();
    let mut received = bob.room_events(room.id);
    let mut own = alice.room_events(room.id);

    let acked = Arc::new(AtomicU64::new(0));
    let (sender, count) = (alice.clone(), acked.clone());
    let sending = tokio::spawn(async move {
        for i in 1..=TOTAL {
            sender
                .send(room.id, &i.to_string())
                .await
                .unwrap_or_else(|e| panic!("send {i}: {e}"));
            count.store(i, Ordering::SeqCst);
        }
    });

    let mut bodies = collect_in_order_from(&mut received, 1, 300).await;
    server.kill();
    let at_kill = acked.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server = start_server(dir.path(), port).await;
    bodies.extend(collect_in_order_from(&mut received, 301, 700).await);
    server.shutdown().await;
    let at_shutdown = acked.load(Ordering::SeqCst);
    assert!(
        at_kill < TOTAL && at_shutdown < TOTAL,
        "the sender was mid-way: {at_kill}, {at_shutdown}"
    );
    eprintln!("acked when killed: {at_kill}; when shut down: {at_shutdown}");
    let server = start_server(dir.path(), port).await;
    bodies.extend(collect_in_order_from(&mut received, 701, TOTAL).await);

    tokio::time::timeout(WAIT, sending)
        .await
        .expect("sender finished")
        .unwrap();
    let expected: Vec<String> = (1..=TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected);
    assert!(
        next_message(&mut received, Duration::from_millis(500))
            .await
            .is_none(),
        "nothing twice"
    );
    // The sender's own view is exactly once and in order too.
    let own_bodies = collect_in_order_from(&mut own, 1, TOTAL).await;
    assert_eq!(own_bodies, expected);
    assert!(next_message(&mut own, Duration::from_millis(200)).await.is_none());
    // Stored once each, despite retries with the same client message id.
    let last = bob.history(room.id, HistoryFrom::Latest, 1).await.unwrap();
    assert_eq!(last.messages[0].seq, NOTICES + TOTAL);
    assert_eq!(bob.current_state(), ConnectionState::Connected);
    drop(server);
}

#[tokio::test]
async fn a_receiver_cut_off_resumes_what_it_missed_page_by_page() {
    const TOTAL: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    // Small pages, so that the resume takes several `resume_room` rounds.
    let server = start_server_with(dir.path(), 0, |c| c.core.max_page_size = 20).await;
    let relay = Relay::start(server.local_addr()).await;
    let fingerprint = server.cert_fingerprint().unwrap();
    let alice = registered(config_for(&server), &unique("alice")).await;
    let bob = registered(
        config_for_url(&format!("wss://{}/v2/ws", relay.addr), &fingerprint),
        &unique("bob"),
    )
    .await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("outage"))
        .await
        .unwrap();
    bob.join_room(room.id).await.unwrap();
    let mut received = bob.room_events(room.id);

    let acked = Arc::new(AtomicU64::new(0));
    let (sender, count) = (alice.clone(), acked.clone());
    let sending = tokio::spawn(async move {
        for i in 1..=TOTAL {
            sender.send(room.id, &i.to_string()).await.unwrap();
            count.store(i, Ordering::SeqCst);
        }
    });
    let mut bodies = collect_in_order_from(&mut received, 1, 50).await;
    relay.cut_and_refuse();
    wait_state(&bob, WAIT, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    tokio::time::timeout(WAIT, sending)
        .await
        .expect("sender done")
        .unwrap();
    let missed = TOTAL - bodies.len() as u64;
    assert!(missed >= 100, "bob missed {missed} messages while cut off");
    relay.restore();
    bodies.extend(collect_in_order_from(&mut received, 51, TOTAL).await);
    let expected: Vec<String> = (1..=TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected);
    assert!(
        next_message(&mut received, Duration::from_millis(300))
            .await
            .is_none(),
        "nothing twice"
    );
}

#[tokio::test]
async fn reconnecting_stops_at_the_bound_and_a_user_action_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    let config = config_for(&server).with_reconnect(
        ReconnectPolicy::default()
            .with_max_attempts(Some(3))
            .with_base_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_millis(100))
            .with_jitter(0.0),
    );
    let alice = registered(config, &unique("alice")).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("later"))
        .await
        .unwrap();
    let mut states = alice.state();
    let mut events = alice.events();

    server.kill();
    let mut seen = Vec::new();
    let failed = tokio::time::timeout(WAIT, async {
        while let Some(state) = states.next_state().await {
            seen.push(state.clone());
            if let ConnectionState::Failed { reason, attempts } = state {
                return (reason, attempts);
            }
        }
        panic!("stream ended");
    })
    .await
    .expect("gave up in time");
    assert_eq!(failed.1, 3, "states seen: {seen:?}");
    assert!(matches!(failed.0, ConnectError::Refused { .. }), "{:?}", failed.0);
    assert!(
        seen.iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { .. }))
    );
    let (attempts, reason) = wait_event(&mut events, WAIT, |e| match e {
        ClientEvent::ReconnectGaveUp { attempts, reason } => Some((attempts, reason)),
        _ => None,
    })
    .await;
    assert_eq!(attempts, 3, "the event stream says the bounded policy ended");
    assert!(matches!(reason, ConnectError::Refused { .. }));

    // The server is back, but the client has given up and stays so until asked.
    let server = start_server(dir.path(), port).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(matches!(alice.current_state(), ConnectionState::Failed { .. }));

    // A user action: a send reconnects, re-authenticates and succeeds.
    tokio::time::timeout(WAIT, alice.send(room.id, "back"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.current_state(), ConnectionState::Connected);
    drop(server);
}

#[tokio::test]
async fn the_default_policy_keeps_trying_past_the_old_limit_and_never_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    // The default policy (no bound), only with short delays so that the test goes past
    // the ten attempts of the old default in seconds rather than minutes.
    let policy = ReconnectPolicy::default()
        .with_base_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(60));
    assert_eq!(policy.max_attempts, ReconnectPolicy::default().max_attempts);
    let alice = registered(config_for(&server).with_reconnect(policy), &unique("alice")).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("patience"))
        .await
        .unwrap();
    let mut states = alice.state();
    let mut events = alice.events();

    server.kill();
    let attempts = tokio::time::timeout(WAIT, async {
        let mut highest = 0;
        while let Some(state) = states.next_state().await {
            match state {
                ConnectionState::Reconnecting { attempt } => highest = highest.max(attempt),
                ConnectionState::Failed { .. } => panic!("gave up after {highest} attempts"),
                _ => {}
            }
            if highest >= 30 {
                return highest;
            }
        }
        panic!("stream ended");
    })
    .await
    .expect("kept trying");
    assert!(attempts >= 30, "three times the old limit");

    let server = start_server(dir.path(), port).await;
    wait_state(&alice, WAIT, |s| *s == ConnectionState::Connected).await;
    tokio::time::timeout(WAIT, alice.send(room.id, "still here"))
        .await
        .unwrap()
        .unwrap();
    while let Some(event) = events.try_recv() {
        assert!(
            !matches!(event, ClientEvent::ReconnectGaveUp { .. }),
            "never gave up"
        );
    }
    drop(server);
}

#[tokio::test]
async fn requests_made_while_reconnecting_wait_for_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    let alice = registered(config_for(&server), &unique("alice")).await;
    alice
        .create_room_with(chat_client_lib::NewRoom::public("wait"))
        .await
        .unwrap();
    server.kill();
    wait_state(&alice, WAIT, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let restart = tokio::spawn({
        let dir = dir.path().to_owned();
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            start_server(&dir, port).await
        }
    });
    let rooms = alice.list_rooms().await.expect("waited for the reconnect");
    assert_eq!(rooms.len(), 1);
    drop(restart.await.unwrap());
}

#[tokio::test]
async fn a_client_without_session_does_not_reconnect_and_connects_lazily_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    let client = Client::new(config_for(&server));
    client.ping().await.unwrap();
    server.kill();
    wait_state(&client, WAIT, |s| *s == ConnectionState::Disconnected).await;
    let server = start_server(dir.path(), port).await;
    client.ping().await.unwrap();
    drop(server);
}

#[tokio::test]
async fn a_silent_network_is_noticed_by_the_keepalive_and_the_client_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let relay = Relay::start(server.local_addr()).await;
    let mut config = config_for_url(
        &format!("wss://{}/v2/ws", relay.addr),
        &server.cert_fingerprint().unwrap(),
    );
    config.keepalive_interval = Duration::from_millis(300);
    config.request_timeout = Duration::from_secs(1);
    config.connect_timeout = Duration::from_secs(1);
    let alice = registered(config, &unique("alice")).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("quiet"))
        .await
        .unwrap();

    // Nothing the client sends arrives any more, and nothing tells it so.
    relay.hold(true);
    wait_state(&alice, WAIT, |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    relay.hold(false);
    wait_state(&alice, WAIT, |s| *s == ConnectionState::Connected).await;
    alice.send(room.id, "still here").await.unwrap();
}

#[tokio::test]
async fn a_session_the_server_no_longer_knows_ends_with_an_event_and_a_failed_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let port = server.local_addr().port();
    let alice = registered(config_for(&server), &unique("alice")).await;
    let mut events = alice.events();
    server.kill();

    // A new server on the same port and certificate, but without the old sessions.
    let fresh = tempfile::tempdir().unwrap();
    let tls = fresh.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    for entry in std::fs::read_dir(dir.path().join("tls")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tls.join(entry.file_name())).unwrap();
    }
    let server = start_server(fresh.path(), port).await;
    let state = wait_state(&alice, WAIT, |s| matches!(s, ConnectionState::Failed { .. })).await;
    assert!(
        matches!(
            state,
            ConnectionState::Failed {
                reason: ConnectError::SessionRejected(_),
                ..
            }
        ),
        "{state:?}"
    );
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(chat_client_lib::ClientEvent::SessionEnded { .. }) = events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the application is told to log in again");
    assert_eq!(alice.list_rooms().await.unwrap_err(), ClientError::NotLoggedIn);
    drop(server);
}

#[tokio::test]
async fn a_member_of_many_rooms_catches_up_on_all_of_them_after_a_cut() {
    const ROOMS: usize = 12;
    // More than a `resume_rooms` answer holds for one room (50), so that room continues
    // with `resume_room`.
    const BUSY: u64 = 70;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server_with(dir.path(), 0, |c| c.core.requests_per_second = 1000).await;
    let relay = Relay::start(server.local_addr()).await;
    let fingerprint = server.cert_fingerprint().unwrap();
    let alice = registered(config_for(&server), &unique("alice")).await;
    let bob = registered(
        config_for_url(&format!("wss://{}/v2/ws", relay.addr), &fingerprint),
        &unique("bob"),
    )
    .await;
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let room = alice
            .create_room_with(chat_client_lib::NewRoom::public(format!("room {i}")))
            .await
            .unwrap();
        bob.join_room(room.id).await.unwrap();
        rooms.push(room.id);
    }
    let mut streams: Vec<EventStream> = rooms.iter().map(|r| bob.room_events(*r)).collect();
    // One message each while connected, so every room has a position to resume from.
    for room in &rooms {
        alice.send(*room, "1").await.unwrap();
    }
    for stream in &mut streams {
        assert_eq!(collect_in_order_from(stream, 1, 1).await, ["1"]);
    }

    relay.cut_and_refuse();
    wait_state(&bob, WAIT, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    for (i, room) in rooms.iter().enumerate() {
        // The first room gets many, every third none, the others a few.
        let count = match i {
            0 => BUSY,
            i if i % 3 == 0 => 0,
            _ => 3,
        };
        for k in 2..=count + 1 {
            alice.send(*room, &k.to_string()).await.unwrap();
        }
    }
    relay.restore();
    for (i, stream) in streams.iter_mut().enumerate() {
        let count = match i {
            0 => BUSY,
            i if i % 3 == 0 => 0,
            _ => 3,
        };
        let got = collect_in_order_from(stream, 2, count + 1).await;
        let expected: Vec<String> = (2..=count + 1).map(|k| k.to_string()).collect();
        assert_eq!(got, expected, "room {i}");
        assert!(
            next_message(stream, Duration::from_millis(100)).await.is_none(),
            "nothing twice in room {i}"
        );
    }
    assert_eq!(bob.current_state(), ConnectionState::Connected);
}
