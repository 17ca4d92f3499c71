//! A client that stops reading is disconnected as a slow consumer (4003) while the others
//! keep receiving; a client whose socket stays blocked is dropped after the write timeout.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use chat_proto::close;
use common::{Client, Incoming, TestServer, handshake};
use serde_json::json;
use tokio::net::TcpSocket;

/// A wss client with a tiny receive buffer, so that a client that stops reading backs up
/// into the server quickly.
async fn small_window_client(addr: SocketAddr, der: &[u8]) -> Client {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket.connect(addr).await.expect("connect");
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = common::connector(der).connect(name, tcp).await.expect("tls");
    let ws = handshake(Box::new(tls), addr, "/v2/ws", &[])
        .await
        .expect("upgrade");
    Client::after_upgrade(ws).await
}

async fn core_kicks(t: &TestServer) -> u64 {
    let (_, body) = common::http_get(
        t.server.local_addr(),
        t.server.cert_der().as_deref(),
        "/metrics",
        &[],
    )
    .await;
    body.lines()
        .find_map(|l| l.strip_prefix("chat_slow_consumer_kicks_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("core metrics list slow consumer kicks")
}

/// Sends 15 kB messages in batches until the core has kicked someone (at most 1500).
async fn flood_until_kicked(t: &TestServer, sender: &mut Client, room: &str) -> usize {
    let body = "y".repeat(15_000);
    let mut sent = 0;
    while core_kicks(t).await == 0 {
        assert!(sent < 1500, "no slow consumer kicked after {sent} messages");
        for _ in 0..25 {
            sender.send(room, &body).await;
            sent += 1;
        }
        // The sender reads its own message events too; keep its backlog small.
        sender.backlog.clear();
    }
    sent
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_slow_while_others_keep_receiving() {
    let t = TestServer::start_with(|c| {
        c.core.outbound_queue = 8;
        c.timeouts.write = Duration::from_secs(60);
    })
    .await;
    let der = t.server.cert_der().expect("der");
    let mut sender = t.client().await;
    sender.register("sender").await;
    let room = sender.create_room("firehose").await;

    let mut slow = small_window_client(t.server.local_addr(), &der).await;
    slow.register("slow").await;
    slow.ok(json!({"type": "join_room", "room_id": room})).await;
    let mut reader = t.client().await;
    reader.register("reader").await;
    reader.ok(json!({"type": "join_room", "room_id": room})).await;
    // The reader keeps reading on its own task and counts message events.
    let (count_tx, count_rx) = tokio::sync::watch::channel(0u64);
    let reading = tokio::spawn(async move {
        let mut last_seq = 0;
        loop {
            let event = reader.event("message").await;
            let seq = event["message"]["seq"].as_u64().expect("seq");
            assert!(seq > last_seq, "reader got seq {seq} after {last_seq}");
            last_seq = seq;
            let _ = count_tx.send(seq);
        }
    });

    let sent = flood_until_kicked(&t, &mut sender, &room).await as u64;
    // The reader received every message (after the room's three notices: created and the
    // two joins).
    let mut count_rx = count_rx;
    tokio::time::timeout(common::WAIT, count_rx.wait_for(|n| *n == sent + 3))
        .await
        .expect("reader caught up in time")
        .expect("reader alive");
    reading.abort();

    // The slow client reads again: what was buffered, then the close frame.
    let mut received = 0;
    let (code, reason) = loop {
        match slow.next().await {
            Incoming::Json(v) if v["event"]["type"] == "message" => received += 1,
            Incoming::Json(_) => {}
            Incoming::Close(code, reason) => break (code, reason),
            Incoming::Ended(why) => panic!("ended without close frame: {why}"),
        }
    };
    eprintln!("slow consumer: kicked after {sent} messages of 15 kB; it had {received} before the close");
    assert_eq!(code, close::SLOW_CONSUMER, "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    assert!(
        received < sent,
        "the slow client missed messages ({received} of {sent})"
    );
    assert_eq!(t.server.closed_with(close::SLOW_CONSUMER), 1);

    // It recovers by resuming on a new connection.
    let mut again = t.client().await;
    again
        .ok(json!({"type": "login", "username": "slow", "password": "correct horse battery"}))
        .await;
    let resumed = again
        .ok(json!({"type": "resume_room", "room_id": room, "after_seq": received}))
        .await;
    assert_eq!(resumed["messages"][0]["seq"], received + 1);
    // The sender was served throughout.
    assert_eq!(sender.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn a_client_that_never_reads_again_is_dropped_after_the_write_timeout() {
    let t = TestServer::start_with(|c| {
        c.core.outbound_queue = 8;
        c.timeouts.write = Duration::from_millis(500);
    })
    .await;
    let der = t.server.cert_der().expect("der");
    let mut sender = t.client().await;
    sender.register("sender").await;
    let room = sender.create_room("firehose").await;
    let mut stuck = small_window_client(t.server.local_addr(), &der).await;
    stuck.register("stuck").await;
    stuck.ok(json!({"type": "join_room", "room_id": room})).await;

    flood_until_kicked(&t, &mut sender, &room).await;
    // The server gives up on the blocked socket and forgets the connection.
    let mut gone = false;
    for _ in 0..100 {
        let (_, body) = common::http_get(t.server.local_addr(), Some(&der), "/metrics", &[]).await;
        if body.contains("chat_server_websockets_open 1\n") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "only the sender's connection is left");
    assert_eq!(t.server.closed_with(close::SLOW_CONSUMER), 1);
    drop(stuck);
}
