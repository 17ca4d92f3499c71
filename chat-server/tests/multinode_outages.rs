//! Outages of the shared services under real server processes: Redis stopped and restarted
//! (a Redis of the test's own), and PostgreSQL cut off behind a proxy. Service degrades,
//! nothing acknowledged is lost, and it comes back by itself: while Redis is down each node
//! reads what the other stored from the database, when Redis returns every node tells its
//! connections to `resync`, and a client-library user sees what was sent on the other node
//! without anything else happening in the room.

mod common;
mod multinode_support;

use std::net::SocketAddr;
use std::time::Duration;

use chat_client_lib::{Client as LibraryClient, ClientConfig, ClientEvent, EventStream, Fingerprint};
use chat_test_support::{OwnRedis, Prefix, TestDb, pg_admin_url, redis_url, with_database};
use common::Client;
use multinode_support::{Node, Proxy, seq};
use serde_json::{Value, json};

/// The next text message event, skipping notices of room changes.
async fn next_message(client: &mut Client) -> Value {
    loop {
        let message = client.event("message").await["message"].clone();
        if message["kind"] == "text" {
            return message;
        }
    }
}

/// The ids of the text messages of a page (notices left out).
fn ids(messages: &Value) -> Vec<Value> {
    messages
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["kind"] == "text")
        .map(|m| m["id"].clone())
        .collect()
}

/// Two healthy nodes on a test database and a `redis-server` the test can stop. The fields
/// are bound in this order so that the nodes go first and the database last.
struct OwnRedisPair {
    db: TestDb,
    redis: OwnRedis,
    dirs: [tempfile::TempDir; 2],
    a: Node,
    b: Node,
}

impl OwnRedisPair {
    async fn start() -> Option<Self> {
        let db = TestDb::create().await?;
        let redis = OwnRedis::start().await?;
        let prefix = format!("chat_test_{}", uuid::Uuid::new_v4().simple());
        let dirs = [
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        ];
        let a = Node::start(dirs[0].path(), &db.url, &redis.url(), &prefix).await;
        let b = Node::start(dirs[1].path(), &db.url, &redis.url(), &prefix).await;
        a.wait_healthy(Duration::from_secs(20)).await;
        b.wait_healthy(Duration::from_secs(20)).await;
        Some(Self {
            db,
            redis,
            dirs,
            a,
            b,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_sends_are_stored_and_fan_out_comes_back_by_itself() {
    let Some(OwnRedisPair {
        db: _db,
        mut redis,
        dirs: _dirs,
        a,
        b,
    }) = OwnRedisPair::start().await
    else {
        return;
    };

    let mut alice = a.client().await;
    alice.register("alice").await;
    let mut bob = b.client().await;
    bob.register("bob").await;
    let room = alice.create_room("weather").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;
    let first = alice.send(&room, "before").await;
    assert_eq!(next_message(&mut bob).await["id"], first["id"]);

    redis.kill();
    // Sends on both nodes are still stored and acknowledged, in order.
    let missed = alice.send(&room, "during the outage, from A").await;
    let own = bob.send(&room, "during the outage, from B").await;
    assert_eq!(seq(&missed), seq(&first) + 1);
    assert_eq!(seq(&own), seq(&first) + 2);
    let (code, body) = b.health().await;
    assert_eq!(code, 503, "health reports the broker down: {body}");
    assert!(body.contains("\"broker\":\"down\""), "{body}");

    // Node B reads Alice's message from the database even while Redis is down, and
    // delivers Bob's own after it: in seq order.
    assert_eq!(next_message(&mut bob).await["id"], missed["id"]);
    assert_eq!(next_message(&mut bob).await["id"], own["id"]);

    redis.restart().await;
    a.wait_healthy(Duration::from_secs(20)).await;
    b.wait_healthy(Duration::from_secs(20)).await;
    // Bob stayed connected to node B throughout: once its subscription is back, the node
    // tells him he may have missed events (presence, for one).
    assert_eq!(bob.event("resync").await, json!({"type": "resync"}));

    // Live fan-out across the nodes is back without anyone doing anything, and nothing
    // comes twice.
    let after = alice.send(&room, "after").await;
    assert_eq!(next_message(&mut bob).await["id"], after["id"]);
    // Resuming gives the same: everything after what he saw before the outage, once.
    let resumed = bob
        .ok(json!({"type": "resume_room", "room_id": room, "after_seq": seq(&first)}))
        .await;
    assert_eq!(
        ids(&resumed["messages"]),
        vec![missed["id"].clone(), own["id"].clone(), after["id"].clone()]
    );

    // Presence is rebuilt in the new Redis: node A sees Bob online again.
    let mut seen = false;
    for _ in 0..50 {
        let members = alice.ok(json!({"type": "list_members", "room_id": room})).await;
        seen = members["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["user"]["username"] == "bob" && m["online"] == true);
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen, "bob shows online again after Redis came back");
}

/// A client-library configuration for a node, trusting its certificate.
fn library_config(node: &Node) -> ClientConfig {
    let url = format!("wss://{}{}", node.addr, chat_proto::WEBSOCKET_PATH);
    ClientConfig::new(url)
        .with_fingerprint(&Fingerprint::of_der(&node.cert).to_string())
        .expect("valid fingerprint")
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_secs(10))
}

/// The next message the application sees, within `within`.
async fn next_library_message(events: &mut EventStream, within: Duration) -> Option<chat_proto::Message> {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await? {
                ClientEvent::Message(m) => return Some(m),
                _ => continue,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_during_a_redis_outage_reaches_a_quiet_room_on_the_other_node() {
    let Some(OwnRedisPair {
        db: _db,
        mut redis,
        dirs: _dirs,
        a,
        b,
    }) = OwnRedisPair::start().await
    else {
        return;
    };

    let alice = LibraryClient::new(library_config(&a));
    alice
        .register("alice", "correct horse battery")
        .await
        .expect("register alice");
    let bob = LibraryClient::new(library_config(&b));
    bob.register("bob", "correct horse battery")
        .await
        .expect("register bob");
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("quiet"))
        .await
        .expect("create room")
        .id;
    bob.join_room(room).await.expect("join");
    let mut seen = bob.room_events(room);
    let first = alice.send(room, "before").await.expect("send");
    let got = next_library_message(&mut seen, Duration::from_secs(10)).await;
    assert_eq!(
        got.map(|m| m.id),
        Some(first.id),
        "live across nodes before the outage"
    );

    // Were bob's connection to drop, reconnecting would resume the room: that must not be
    // what brings the message here.
    let mut states = bob.state();
    let bob_dropped = tokio::spawn(async move {
        while let Some(state) = states.next_state().await {
            if !state.is_connected() {
                return Some(state);
            }
        }
        None
    });
    redis.kill();
    let missed = alice
        .send(room, "during the outage")
        .await
        .expect("stored while Redis is down");
    // Nobody sends anything more: node B reads the message from the database, while
    // Redis is still down.
    let got = next_library_message(&mut seen, Duration::from_secs(10))
        .await
        .expect("the message sent during the outage reaches bob");
    assert_eq!((got.id, got.seq), (missed.id, missed.seq));
    assert_eq!(got.text().unwrap().to_string(), "during the outage");

    redis.restart().await;
    assert!(
        !bob_dropped.is_finished(),
        "bob's connection stayed up: {:?}",
        bob_dropped.await
    );
    bob_dropped.abort();
    // And only once: the next message is the next one sent.
    b.wait_healthy(Duration::from_secs(20)).await;
    a.wait_healthy(Duration::from_secs(20)).await;
    let after = alice.send(room, "after").await.expect("send");
    let got = next_library_message(&mut seen, Duration::from_secs(10)).await;
    assert_eq!(got.map(|m| m.id), Some(after.id));
}

/// The host and port of a PostgreSQL URL.
async fn pg_address(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(host_port.as_str())
        .await
        .expect("resolve the database host")
        .next()
        .expect("an address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_unreachable_sends_fail_retryably_and_nothing_is_lost() {
    let Some(db) = TestDb::create().await else { return };
    let redis = redis_url();
    let Some(prefix) = Prefix::on(&redis) else { return };
    let admin = pg_admin_url();
    let proxy = Proxy::start(pg_address(&admin).await).await;
    // The node reaches the database only through the proxy.
    let through_proxy = with_database(
        &admin.replacen(&pg_address_text(&admin), &proxy.addr.to_string(), 1),
        &db.name,
    );
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), &through_proxy, &redis, &prefix.name).await;
    node.wait_healthy(Duration::from_secs(20)).await;

    let mut alice = node.client().await;
    alice.register("alice").await;
    let mut bob = node.client().await;
    bob.register("bob").await;
    let room = alice.create_room("durable").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;
    let first = alice.send(&room, "acknowledged before the outage").await;

    proxy.cut();
    let retry_id = uuid::Uuid::new_v4().to_string();
    let send = json!({"type": "send_message", "room_id": room, "client_msg_id": retry_id, "body": "during"});
    let refused = alice.request(send.clone()).await;
    assert_eq!(refused["kind"], "error", "{refused}");
    assert_eq!(refused["error"]["code"], "unavailable", "{refused}");
    assert_eq!(refused["error"]["retryable"], true, "{refused}");
    let (code, body) = node.health().await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"storage\":\"down\""), "{body}");

    proxy.restore();
    node.wait_healthy(Duration::from_secs(20)).await;
    // The client's retry with the same id is stored now, once.
    let stored = alice.ok(send.clone()).await["message"].clone();
    assert_eq!(seq(&stored), seq(&first) + 1);
    let again = alice.ok(send).await["message"].clone();
    assert_eq!(again["id"], stored["id"]);
    let history = bob
        .ok(json!({"type": "history", "room_id": room, "limit": 50}))
        .await;
    assert_eq!(
        ids(&history["messages"]),
        vec![first["id"].clone(), stored["id"].clone()]
    );
}

/// The `host:port` text of a URL, as written in it.
fn pg_address_text(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port.rsplit('@').next().unwrap_or(host_port).to_owned()
}
