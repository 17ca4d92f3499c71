//! Two `chat-server` processes on one PostgreSQL database and one Redis, as behind a load
//! balancer: clients on either node see one chat system.

mod common;
mod multinode_support;

use std::time::Duration;

use chat_test_support::{Prefix, TestDb, redis_url};
use common::Client;
use multinode_support::{Node, PRESENCE_TTL_SECS, seq};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Two nodes on a fresh database and Redis prefix; `None` when a service is missing.
struct Cluster {
    // Dropped in this order: nodes first, then their data, database and keys.
    a: Node,
    b: Node,
    _dirs: [TempDir; 2],
    _prefix: Prefix,
    _db: TestDb,
}

impl Cluster {
    async fn start(extra: &[&str]) -> Option<Self> {
        let db = TestDb::create().await?;
        let redis = redis_url();
        let prefix = Prefix::on(&redis)?;
        let dirs = [
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        ];
        let a = Node::start_with(dirs[0].path(), &db.url, &redis, &prefix.name, extra).await;
        let b = Node::start_with(dirs[1].path(), &db.url, &redis, &prefix.name, extra).await;
        a.wait_healthy(Duration::from_secs(20)).await;
        b.wait_healthy(Duration::from_secs(20)).await;
        Some(Self {
            a,
            b,
            _dirs: dirs,
            _prefix: prefix,
            _db: db,
        })
    }
}

async fn login(node: &Node, name: &str) -> Client {
    let mut client = node.client().await;
    client
        .ok(json!({"type": "login", "username": name, "password": "correct horse battery"}))
        .await;
    client
}

/// The next `message` event's message.
/// The next text message event, skipping notices of room changes.
async fn next_message(client: &mut Client) -> Value {
    loop {
        let message = client.event("message").await["message"].clone();
        if message["kind"] == "text" {
            return message;
        }
    }
}

/// Waits for a `presence` event saying `name` is `online` (or not).
async fn wait_presence(client: &mut Client, name: &str, online: bool) {
    loop {
        let event = client.event("presence").await;
        if event["user"]["username"] == name && event["online"] == online {
            return;
        }
    }
}

/// The `online` flag of `name` in a room's member list.
async fn online_in(client: &mut Client, room: &str, name: &str) -> bool {
    let result = client.ok(json!({"type": "list_members", "room_id": room})).await;
    let members = result["members"].as_array().expect("members").clone();
    let member = members
        .iter()
        .find(|m| m["user"]["username"] == name)
        .unwrap_or_else(|| panic!("{name} is not in {result}"));
    member["online"].as_bool().expect("online flag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_on_one_node_reaches_members_on_the_other_once() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut alice = cluster.a.client().await;
    alice.register("alice").await;
    let mut bob = cluster.b.client().await;
    bob.register("bob").await;
    // Bob's second device, on the same node.
    let mut bob_phone = login(&cluster.b, "bob").await;
    let room = alice.create_room("across").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;

    // Node B knows that Alice, connected to node A only, is online.
    assert!(online_in(&mut bob, &room, "alice").await);
    assert!(online_in(&mut alice, &room, "bob").await);

    let sent = alice.send(&room, "hello from node A").await;
    let marker = alice.send(&room, "second").await;
    for device in [&mut bob, &mut bob_phone] {
        let got = next_message(device).await;
        assert_eq!(got["id"], sent["id"]);
        assert_eq!(got["body"], "hello from node A");
        // The next message is the following one, not the first again.
        assert_eq!(next_message(device).await["id"], marker["id"]);
    }
    // And the sender's own connection had each once.
    assert_eq!(next_message(&mut alice).await["id"], sent["id"]);
    assert_eq!(next_message(&mut alice).await["id"], marker["id"]);

    // A reply from node B reaches node A.
    let reply = bob.send(&room, "hello from node B").await;
    assert_eq!(next_message(&mut alice).await["id"], reply["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_writing_to_one_room_at_once_keep_sequence_numbers_gap_free() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut alice = cluster.a.client().await;
    alice.register("alice").await;
    let mut bob = cluster.b.client().await;
    bob.register("bob").await;
    let room = alice.create_room("race").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;

    const EACH: usize = 25;
    let (room_a, room_b) = (room.clone(), room.clone());
    let send_all = |mut client: Client, room: String, who: &'static str| async move {
        let mut ids = Vec::new();
        for i in 0..EACH {
            ids.push(client.send(&room, &format!("{who} {i}")).await["id"].clone());
        }
        (client, ids)
    };
    // Both run at once, each through its own node.
    let task_a = tokio::spawn(send_all(alice, room_a, "alice"));
    let task_b = tokio::spawn(send_all(bob, room_b, "bob"));
    let (mut alice, from_a) = task_a.await.expect("alice's task");
    let (_bob, from_b) = task_b.await.expect("bob's task");

    let history = alice
        .ok(json!({"type": "history", "room_id": room, "limit": 200}))
        .await;
    let messages = history["messages"].as_array().expect("messages").clone();
    let seqs: Vec<u64> = messages.iter().map(seq).collect();
    // The room's two notices (created, bob joined), then the messages.
    assert_eq!(
        seqs,
        (1..=(2 * EACH) as u64 + 2).collect::<Vec<_>>(),
        "gap-free and ordered"
    );
    let stored: Vec<&Value> = messages.iter().map(|m| &m["id"]).collect();
    for id in from_a.iter().chain(&from_b) {
        assert_eq!(stored.iter().filter(|s| **s == id).count(), 1, "{id} stored once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_users_go_offline_and_resume_on_the_other_node() {
    let Some(mut cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut alice = cluster.a.client().await;
    alice.register("alice").await;
    let mut bob = cluster.b.client().await;
    let session = bob.register("bob").await;
    let token = session["token"].as_str().expect("token").to_owned();
    let room = alice.create_room("failover").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;
    let first = alice.send(&room, "before the crash").await;
    assert_eq!(next_message(&mut bob).await["id"], first["id"]);
    let last_seen = seq(&first);
    assert!(online_in(&mut alice, &room, "bob").await);

    // Node B dies without a word; Bob's socket is gone with it.
    cluster.b.kill();
    let during = [
        alice.send(&room, "while bob is away 1").await,
        alice.send(&room, "while bob is away 2").await,
    ];

    // Bob shows offline on node A within the presence expiry (plus one sweep).
    let started = tokio::time::Instant::now();
    wait_presence(&mut alice, "bob", false).await;
    // Expiry plus a sweep interval, with room for a busy machine.
    assert!(started.elapsed() < Duration::from_secs(3 * PRESENCE_TTL_SECS));
    assert!(!online_in(&mut alice, &room, "bob").await);

    // Bob's client reconnects to node A with its token and resumes after what it saw.
    let mut bob = cluster.a.client().await;
    bob.ok(json!({"type": "resume_session", "token": token})).await;
    let resumed = bob
        .ok(json!({"type": "resume_room", "room_id": room, "after_seq": last_seen}))
        .await;
    assert_eq!(resumed["complete"], true);
    let got: Vec<&Value> = resumed["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["id"])
        .collect();
    let want: Vec<&Value> = during.iter().map(|m| &m["id"]).collect();
    assert_eq!(got, want, "nothing lost, nothing twice");
    let seqs: Vec<u64> = resumed["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(seq)
        .collect();
    assert_eq!(seqs, vec![last_seen + 1, last_seen + 2]);

    // Alice sees him come back, and he receives live again.
    wait_presence(&mut alice, "bob", true).await;
    let after = alice.send(&room, "welcome back").await;
    assert_eq!(next_message(&mut bob).await["id"], after["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_counts_failures_on_every_node() {
    let Some(cluster) = Cluster::start(&["--login-failures-allowed", "3"]).await else {
        return;
    };
    let mut carol = cluster.a.client().await;
    carol.register("carol").await;
    let wrong = json!({"type": "login", "username": "carol", "password": "not her password"});
    for _ in 0..3 {
        let mut attempt = cluster.a.client().await;
        assert_eq!(attempt.err(wrong.clone()).await, "invalid_credentials");
    }
    // The right password on the other node is refused too: the counter is shared.
    let mut other = cluster.b.client().await;
    let right = json!({"type": "login", "username": "carol", "password": "correct horse battery"});
    let answer = other.request(right).await;
    assert_eq!(answer["error"]["code"], "login_throttled", "{answer}");
    assert!(
        answer["error"]["retry_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_on_one_node_stops_receiving_on_the_other() {
    let Some(cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut alice = cluster.a.client().await;
    alice.register("alice").await;
    let mut bob = cluster.b.client().await;
    let session = bob.register("bob").await;
    let bob_id = session["user"]["id"].clone();
    let room = alice.create_room("moderated").await;
    let other = alice.create_room("elsewhere").await;
    for r in [&room, &other] {
        bob.ok(json!({"type": "join_room", "room_id": r})).await;
    }
    let first = alice.send(&room, "before").await;
    assert_eq!(next_message(&mut bob).await["id"], first["id"]);

    // Alice, the owner, on node A removes Bob, who is connected to node B.
    alice
        .ok(json!({"type": "remove_member", "room_id": room, "user_id": bob_id}))
        .await;
    // Bob sees his removal, then nothing more from the room.
    let notice = bob.event("message").await["message"].clone();
    assert_eq!(notice["room_id"], room.as_str(), "{notice}");
    assert_eq!(notice["notice"]["type"], "removed", "{notice}");
    assert_eq!(notice["notice"]["user"]["id"], bob_id, "{notice}");
    alice.send(&room, "after the removal").await;
    // Published after it by the same node, so it arrives after it if at all.
    let marker = alice.send(&other, "in the other room").await;
    let got = next_message(&mut bob).await;
    assert_eq!(got["id"], marker["id"], "bob still got {got}");
    // His requests about the room are refused as a non-member's.
    let refused = bob
        .err(json!({"type": "history", "room_id": room, "limit": 10}))
        .await;
    assert_eq!(refused, "not_member");
}
