//! What the servers of a deployment hold of an end-to-end encrypted conversation: two nodes on
//! one PostgreSQL database and one Redis, alice on one, bob on the other, texts carrying a
//! canary. Nothing the operator can read (every table, every Redis key and every message
//! Redis carried between the nodes, every log line at `trace`) holds the canary in any form
//! (text, hex, base64), while the same searches do find what the server is meant to know.
//!
//! Alone in its test binary: it installs a global log subscriber.

mod behaviour;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use behaviour::distributed::DistributedFixture;
use behaviour::e2ee::Device;
use behaviour::{config, node};
use chat_e2ee::Processed;
use chat_proto::{ClientMsgId, Request};
use chat_test_support::{Prefix, TestDb};

/// Every log line of the process, as written.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every message published on the deployment's Redis channels while it runs.
struct RedisTap {
    carried: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl RedisTap {
    fn start(prefix: &Prefix) -> Self {
        let carried = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut conn = redis::Client::open(prefix.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let pattern = format!("{}*", prefix.name);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (carried, stop) = (carried.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut pubsub = conn.as_pubsub();
                pubsub.psubscribe(&pattern).unwrap();
                ready_tx.send(()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(message) = pubsub.get_message() {
                        carried
                            .lock()
                            .unwrap()
                            .extend_from_slice(message.get_payload_bytes());
                    }
                }
            })
        };
        ready_rx.recv().unwrap();
        Self {
            carried,
            stop,
            thread,
        }
    }

    fn finish(self) -> Vec<u8> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        std::mem::take(&mut *self.carried.lock().unwrap())
    }
}

/// Every row of every table, as PostgreSQL prints it (bytea as hex).
async fn dump_database(url: &str) -> Vec<u8> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let tables = client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            &[],
        )
        .await
        .unwrap();
    assert!(tables.len() >= 8, "the dump must see the schema");
    let mut dump = Vec::new();
    for table in tables {
        let name: String = table.get(0);
        for row in client
            .query(&format!("SELECT t::text FROM \"{name}\" t"), &[])
            .await
            .unwrap()
        {
            let text: String = row.get(0);
            dump.extend_from_slice(text.as_bytes());
            dump.push(b'\n');
        }
    }
    dump
}

/// The values of every Redis key of the deployment, serialized.
fn dump_redis(prefix: &Prefix) -> Vec<u8> {
    let mut conn = redis::Client::open(prefix.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut dump = Vec::new();
    for key in prefix.keys() {
        let value: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut conn).unwrap_or_default();
        dump.extend_from_slice(key.as_bytes());
        dump.extend_from_slice(&value);
    }
    dump
}

/// The forms in which a text could be found: as is, hex (bytea) and base64 (JSON bytes).
fn forms(text: &str) -> Vec<Vec<u8>> {
    vec![
        text.as_bytes().to_vec(),
        hex::encode(text).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(text)
            .into_bytes(),
    ]
}

fn holds(haystack: &[u8], text: &str) -> bool {
    forms(text)
        .iter()
        .any(|needle| haystack.windows(needle.len()).any(|w| w == needle.as_slice()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_holds_an_encrypted_text_in_any_form_it_can_read() {
    let Some(db) = TestDb::create().await else { return };
    let Some(prefix) = Prefix::shared() else { return };
    let logs = LogBuffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let deployment = DistributedFixture { db, prefix };
    let tap = RedisTap::start(&deployment.prefix);
    let node_a = node(&deployment, config()).await;
    let node_b = node(&deployment, config()).await;

    let secret = format!("e2ee-canary-{}", ClientMsgId::random());
    let public = format!("public-canary-{}", ClientMsgId::random());
    let mut alice = Device::register(&node_a, "privacy_alice").await;
    let mut bob = Device::register(&node_b, "privacy_bob").await;
    let room = alice.client.create_encrypted_room("private talk").await;
    alice
        .client
        .ok(Request::Invite {
            room_id: room.id,
            username: behaviour::name("privacy_bob"),
        })
        .await;
    bob.client.join(room.id).await;
    alice.machine.create_group(room.id).unwrap();
    alice.client.ok(Request::CreateGroup { room_id: room.id }).await;
    let commit = alice.reconcile(room.id).await.unwrap();
    alice.process(&commit);
    bob.join_from_welcome(room.id).await;
    for i in 0..3 {
        let sent = alice.say(room.id, &format!("{secret} #{i}")).await.unwrap();
        let got = bob.next_mls(room.id).await;
        assert_eq!(got.id, sent.id, "bob, on the other node, gets it through Redis");
        match bob.process(&got) {
            Processed::Message(m) => assert_eq!(m.text, format!("{secret} #{i}")),
            other => panic!("{other:?}"),
        }
    }
    // The control: a public room's text, which the server may read, sent the same way.
    let open = alice.client.create_room("open talk").await;
    bob.client.join(open.id).await;
    alice.client.send(open.id, &public).await;
    behaviour::settle().await;

    let carried = tap.finish();
    let database = dump_database(&deployment.db.url).await;
    let keys = dump_redis(&deployment.prefix);
    let logged = logs.0.lock().unwrap().clone();

    assert!(
        holds(&database, "privacy_alice"),
        "the dump must see what is stored in clear"
    );
    assert!(holds(&carried, &public), "the tap must see what Redis carries");
    assert!(
        holds(&logged, "privacy_alice"),
        "the logs are captured, at trace level"
    );
    for (what, bytes) in [
        ("PostgreSQL", &database),
        ("Redis traffic", &carried),
        ("Redis keys", &keys),
        ("logs", &logged),
    ] {
        assert!(
            !holds(bytes, &secret),
            "{what} holds an encrypted text in a readable form"
        );
    }
    assert!(
        !holds(&database, &public),
        "bodies of public rooms are sealed at rest too"
    );
}
