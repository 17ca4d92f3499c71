//! The behavioural suite on the PostgreSQL store (the same cases as on SQLite), each case on
//! a database of its own, plus what only a shared server shows: two nodes writing to one
//! room at once keep its sequence numbers gap-free.

mod behaviour;

use std::sync::Arc;

use async_trait::async_trait;
use behaviour::Fixture;
use chat_core::store::Store;
use chat_core::store::postgres::{PostgresOptions, PostgresStore};
use chat_test_support::TestDb;

/// A fresh PostgreSQL database; each `open_store` is a new pool on it, as a new node.
struct PostgresFixture {
    db: TestDb,
}

impl PostgresFixture {
    async fn new() -> Option<Self> {
        TestDb::create().await.map(|db| Self { db })
    }
}

#[async_trait]
impl Fixture for PostgresFixture {
    async fn open_store(&self) -> Arc<dyn Store> {
        let options = PostgresOptions {
            pool_size: 4,
            ..PostgresOptions::default()
        };
        Arc::new(PostgresStore::connect(&self.db.url, options).await.unwrap())
    }
}

behaviour_suite!(PostgresFixture::new().await);

/// The first version's rows, written with SQL into a database migrated only that far.
struct FirstVersionPostgres(tokio_postgres::Client);

#[async_trait]
impl behaviour::upgrade::FirstVersion for FirstVersionPostgres {
    async fn user(&mut self, username: &str, password_hash: &str, at: i64) -> i64 {
        self.0
            .query_one(
                "INSERT INTO users (username, username_canonical, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&username, &username.to_lowercase(), &password_hash, &at],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn room(&mut self, kind: &str, name: &str, created_by: i64, direct: Option<(i64, i64)>) -> i64 {
        self.0
            .query_one(
                "INSERT INTO rooms (kind, name, created_by, created_at, direct_user_low, direct_user_high) \
                 VALUES ($1, $2, $3, 1500, $4, $5) RETURNING id",
                &[
                    &kind,
                    &name,
                    &created_by,
                    &direct.map(|d| d.0),
                    &direct.map(|d| d.1),
                ],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn member(&mut self, room: i64, user: i64, joined_at: i64, last_read_seq: i64) {
        self.0
            .execute(
                "INSERT INTO members (room_id, user_id, joined_at, last_read_seq) VALUES ($1, $2, $3, $4)",
                &[&room, &user, &joined_at, &last_read_seq],
            )
            .await
            .unwrap();
    }

    async fn message(
        &mut self,
        room: i64,
        seq: i64,
        sender: i64,
        client_msg_id: chat_proto::ClientMsgId,
        sealed: chat_core::keyring::Sealed,
    ) {
        self.0
            .execute(
                "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at) \
                 VALUES ($1, $2, $3, $4::text::uuid, $5, $6, $7, 3000)",
                &[
                    &room,
                    &seq,
                    &sender,
                    &client_msg_id.to_string(),
                    &i64::from(sealed.key_id),
                    &sealed.nonce,
                    &sealed.ciphertext,
                ],
            )
            .await
            .unwrap();
        self.0
            .execute("UPDATE rooms SET last_seq = $2 WHERE id = $1", &[&room, &seq])
            .await
            .unwrap();
    }
}

mod first_version {
    refinery::embed_migrations!("../migrations/postgres");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_first_version_opens_with_everything_kept() {
    let Some(fixture) = PostgresFixture::new().await else {
        return;
    };
    let (mut client, connection) = tokio_postgres::connect(&fixture.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    first_version::migrations::runner()
        .set_target(refinery::Target::Version(1))
        .run_async(&mut client)
        .await
        .unwrap();
    let mut old = FirstVersionPostgres(client);
    let seeded = behaviour::upgrade::seed(&mut old).await;
    drop(old);
    let _ = driver.await;
    let svc = behaviour::node(&fixture, behaviour::config()).await;
    behaviour::upgrade::check(&svc, &seeded).await;
}
