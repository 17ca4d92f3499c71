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
