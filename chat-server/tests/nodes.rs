//! Two server nodes on one PostgreSQL database and one Redis: a message sent through one
//! node reaches a member connected to the other, and both see the same history.

mod common;
#[path = "common/services.rs"]
mod services;

use common::Client;
use serde_json::json;

const KEYS: &str = "1:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_on_one_node_reaches_a_member_on_the_other() {
    let (Some(db), Some((_prefix, redis))) = (chat_test_support::TestDb::create().await, services::redis())
    else {
        return;
    };
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let mut nodes = Vec::new();
    for dir in &dirs {
        let mut cfg = common::config(dir.path());
        cfg.database_url = Some(db.url.clone());
        let mut redis = redis.clone();
        // Each node has its own id (a cloned options value would share one).
        redis.node_id = uuid::Uuid::new_v4().simple().to_string();
        cfg.redis = Some(redis);
        cfg.core.at_rest_keys = Some(KEYS.to_owned());
        nodes.push(chat_server::start(cfg).await.expect("node starts"));
    }
    // A node reports its broker healthy once its Redis subscription is up.
    for node in &nodes {
        let der = node.cert_der();
        let mut last = (0, String::new());
        for _ in 0..50 {
            last = common::http_get(node.local_addr(), der.as_deref(), "/healthz", &[]).await;
            if last.0 == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(last.0, 200, "{}", last.1);
    }
    let mut alice = Client::connect(&nodes[0]).await;
    let mut bob = Client::connect(&nodes[1]).await;
    alice.register("alice").await;
    bob.register("bob").await;
    let room = alice.create_room("across").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;

    let sent = alice.send(&room, "hello from node A").await;
    let got = bob.text_message().await;
    assert_eq!(got, sent, "bob on node B got the message stored through node A");
    let reply = bob.send(&room, "hello back from node B").await;
    loop {
        let event = alice.event("message").await;
        if event["message"]["seq"] == reply["seq"] {
            assert_eq!(event["message"]["body"], "hello back from node B");
            break;
        }
    }
    let history = bob
        .ok(json!({"type": "history", "room_id": room, "limit": 10}))
        .await;
    let seqs: Vec<_> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].clone())
        .collect();
    // The room's notices (created, bob joined), then the two messages.
    assert_eq!(seqs, [json!(1), json!(2), json!(3), json!(4)]);
    for node in nodes {
        node.shutdown().await;
    }
}
