//! The behavioural suite on the SQLite store, and what only a file-backed store can show:
//! no plaintext on disk, a locked database, a data directory that cannot be used.

mod behaviour;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use behaviour::{Client, Fixture, config, node};
use chat_core::store::Store;
use chat_core::store::sqlite::{SqliteOptions, SqliteStore};
use chat_core::{ChatService, CoreConfig};
use chat_proto::{ClientMsgId, ErrorCode, Request};

/// A fresh SQLite database in its own temporary directory.
struct SqliteFixture {
    dir: tempfile::TempDir,
    options: SqliteOptions,
}

impl SqliteFixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            options: SqliteOptions::default(),
        }
    }

    fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("chat.db")
    }
}

#[async_trait]
impl Fixture for SqliteFixture {
    async fn open_store(&self) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::open(&self.db_path(), self.options.clone())
                .await
                .unwrap(),
        )
    }
}

behaviour_suite!(Some(SqliteFixture::new()));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_bodies_never_reach_the_disk_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let canary = format!("canary-{}", ClientMsgId::random());
    {
        let svc = ChatService::embedded(dir.path(), config()).await.unwrap();
        let mut alice = Client::register(&svc, "plaintext_finder").await;
        let room = alice.create_room("secrets").await;
        for _ in 0..3 {
            alice.send(room.id, &format!("the secret is {canary}")).await;
        }
        // Read the files while the node is still running (the WAL still holds the pages).
        let on_disk = read_db_files(dir.path());
        assert!(
            contains(&on_disk, b"plaintext_finder"),
            "the search must see stored text (the username)"
        );
        assert!(
            !contains(&on_disk, canary.as_bytes()),
            "a body is on disk in plaintext"
        );
    }
    let on_disk = read_db_files(dir.path());
    assert!(!contains(&on_disk, canary.as_bytes()));
    assert!(!contains(&on_disk, b"correct horse"), "a password is on disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_encrypted_texts_never_reach_the_disk_in_any_form_the_server_can_read() {
    use behaviour::e2ee::Device;
    let dir = tempfile::tempdir().unwrap();
    let canary = format!("e2ee-canary-{}", ClientMsgId::random());
    let svc = ChatService::embedded(dir.path(), config()).await.unwrap();
    let mut alice = Device::register(&svc, "alice").await;
    let mut bob = Device::register(&svc, "bob").await;
    let room = alice.client.create_encrypted_room("whispers").await;
    alice
        .client
        .ok(chat_proto::Request::Invite {
            room_id: room.id,
            username: behaviour::name("bob"),
        })
        .await;
    bob.client.join(room.id).await;
    alice
        .client
        .ok(chat_proto::Request::CreateGroup { room_id: room.id })
        .await;
    alice.machine.create_group(room.id).unwrap();
    let commit = alice.reconcile(room.id).await.unwrap();
    alice.process(&commit);
    bob.join_from_welcome(room.id).await;
    for _ in 0..3 {
        alice
            .say(room.id, &format!("the secret is {canary}"))
            .await
            .unwrap();
    }
    let got = bob.next_mls(room.id).await;
    assert!(matches!(bob.process(&got), chat_e2ee::Processed::Message(m) if m.text.contains(&canary)));
    // Neither the text nor the at-rest key can reveal it: it is MLS ciphertext on disk.
    let on_disk = read_db_files(dir.path());
    assert!(
        contains(&on_disk, b"whispers"),
        "the search must see stored text (the room name)"
    );
    assert!(
        !contains(&on_disk, canary.as_bytes()),
        "an encrypted text is on disk in plaintext"
    );
}

fn read_db_files(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    assert!(!all.is_empty());
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_node_prepares_its_data_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested").join("data");
    let svc = ChatService::embedded(&dir, config()).await.unwrap();
    assert!(dir.join("chat.db").is_file());
    let keys = std::fs::read_to_string(dir.join("at-rest.keys")).unwrap();
    assert!(keys.lines().any(|l| l.starts_with("1:") && l.len() == 66));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("at-rest.keys"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(matches!(svc.hello(), chat_proto::ServerFrame::Event { .. }));
    let health = svc.health().await;
    assert!(health.storage_ok && health.broker_ok);

    // A data directory that is a file cannot be used: a clear error, no panic.
    let file = parent.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    assert!(ChatService::embedded(&file, config()).await.is_err());
    // Keys from configuration replace the file; bad key text is refused at start.
    let bad = CoreConfig {
        at_rest_keys: Some("1:nothex".into()),
        ..config()
    };
    assert!(
        ChatService::embedded(&parent.path().join("other"), bad)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_answers_unavailable_and_loses_nothing() {
    let mut fixture = SqliteFixture::new();
    fixture.options.busy_timeout = Duration::from_millis(200);
    let svc = node(&fixture, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let room = alice.create_room("outage").await;
    for i in 1..=3 {
        alice.send(room.id, &format!("before {i}")).await;
    }

    // Another process takes the write lock and holds it.
    let blocker = rusqlite::Connection::open(fixture.db_path()).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let cid = ClientMsgId::random();
    let request = Request::SendMessage {
        room_id: room.id,
        client_msg_id: cid,
        body: behaviour::body("during the outage"),
    };
    let err = alice.err(request.clone()).await;
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.retryable);
    assert!(!svc.health().await.storage_ok);
    // Reads still work (WAL), and show the acknowledged messages (after the room's
    // `created` notice).
    assert_eq!(
        alice.history(room.id, None, None, 50).await,
        (vec![1, 2, 3, 4], false)
    );

    // The lock goes away: the retry with the same client id is stored once, with no gap.
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    let stored = match alice.ok(request.clone()).await {
        chat_proto::Response::Message { message } => message,
        other => panic!("{other:?}"),
    };
    assert_eq!(stored.seq, 5);
    assert!(alice.request(request).await.is_ok());
    assert_eq!(
        alice.history(room.id, None, None, 50).await,
        (vec![1, 2, 3, 4, 5], false)
    );
    assert!(svc.health().await.storage_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_threads_are_gone_answers_unavailable() {
    // A database path inside a directory that does not exist cannot be opened.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such").join("chat.db");
    let err = SqliteStore::open(&missing, SqliteOptions::default())
        .await
        .err()
        .unwrap();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_at_rest_key_keeps_old_rows_readable() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = format!("1:{}", "a1".repeat(32));
    let k2 = format!("2:{}", "b2".repeat(32));
    let with_keys = |keys: String| CoreConfig {
        at_rest_keys: Some(keys),
        ..config()
    };
    let room = {
        let svc = ChatService::embedded(dir.path(), with_keys(k1.clone()))
            .await
            .unwrap();
        let mut alice = Client::register(&svc, "alice").await;
        let room = alice.create_room("rotation").await;
        alice.send(room.id, "sealed with key one").await;
        room
    };
    behaviour::settle().await;
    let svc = ChatService::embedded(dir.path(), with_keys(format!("{k1},{k2}")))
        .await
        .unwrap();
    let mut alice = Client::login(&svc, "alice").await;
    alice.send(room.id, "sealed with key two").await;
    match alice
        .ok(Request::History {
            room_id: room.id,
            before_seq: None,
            after_seq: None,
            limit: 10,
        })
        .await
    {
        chat_proto::Response::Messages { messages, .. } => {
            let bodies: Vec<_> = messages
                .iter()
                .filter_map(|m| m.text().map(|b| b.as_str()))
                .collect();
            assert_eq!(bodies, ["sealed with key one", "sealed with key two"]);
        }
        other => panic!("{other:?}"),
    }
    // Each row names its key.
    let db = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
    let key_ids: Vec<i64> = db
        .prepare("SELECT key_id FROM messages WHERE kind = 'text' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(key_ids, [1, 2]);
    // Without the old key its rows cannot be read: a clear error, not garbage.
    drop(alice);
    let svc = ChatService::embedded(dir.path(), with_keys(k2)).await.unwrap();
    let mut alice = Client::login(&svc, "alice").await;
    let err = alice
        .err(Request::History {
            room_id: room.id,
            before_seq: None,
            after_seq: None,
            limit: 10,
        })
        .await;
    assert_eq!(err.code, ErrorCode::Internal);
}

/// The first version's rows, written with SQL into a database migrated only that far.
struct FirstVersionSqlite(rusqlite::Connection);

#[async_trait]
impl behaviour::upgrade::FirstVersion for FirstVersionSqlite {
    async fn user(&mut self, username: &str, password_hash: &str, at: i64) -> i64 {
        self.0
            .execute(
                "INSERT INTO users (username, username_canonical, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![username, username.to_lowercase(), password_hash, at],
            )
            .unwrap();
        self.0.last_insert_rowid()
    }

    async fn room(&mut self, kind: &str, name: &str, created_by: i64, direct: Option<(i64, i64)>) -> i64 {
        self.0
            .execute(
                "INSERT INTO rooms (kind, name, created_by, created_at, direct_user_low, direct_user_high) \
                 VALUES (?1, ?2, ?3, 1500, ?4, ?5)",
                rusqlite::params![kind, name, created_by, direct.map(|d| d.0), direct.map(|d| d.1)],
            )
            .unwrap();
        self.0.last_insert_rowid()
    }

    async fn member(&mut self, room: i64, user: i64, joined_at: i64, last_read_seq: i64) {
        self.0
            .execute(
                "INSERT INTO members (room_id, user_id, joined_at, last_read_seq) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![room, user, joined_at, last_read_seq],
            )
            .unwrap();
    }

    async fn message(
        &mut self,
        room: i64,
        seq: i64,
        sender: i64,
        client_msg_id: ClientMsgId,
        sealed: chat_core::keyring::Sealed,
    ) {
        self.0
            .execute(
                "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 3000)",
                rusqlite::params![
                    room,
                    seq,
                    sender,
                    client_msg_id.to_string(),
                    sealed.key_id,
                    sealed.nonce,
                    sealed.ciphertext
                ],
            )
            .unwrap();
        self.0
            .execute(
                "UPDATE rooms SET last_seq = ?2 WHERE id = ?1",
                rusqlite::params![room, seq],
            )
            .unwrap();
    }
}

mod first_version {
    refinery::embed_migrations!("../migrations/sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_first_version_opens_with_everything_kept() {
    let fixture = SqliteFixture::new();
    let mut conn = rusqlite::Connection::open(fixture.db_path()).unwrap();
    first_version::migrations::runner()
        .set_target(refinery::Target::Version(1))
        .run(&mut conn)
        .unwrap();
    let mut old = FirstVersionSqlite(conn);
    let seeded = behaviour::upgrade::seed(&mut old).await;
    drop(old);
    let svc = node(&fixture, config()).await;
    behaviour::upgrade::check(&svc, &seeded).await;
}
