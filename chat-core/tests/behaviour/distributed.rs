//! The fixture of a deployment on PostgreSQL with the Redis broker: every node of a case is
//! a node of one deployment (one database, one Redis key prefix).

use std::sync::Arc;

use async_trait::async_trait;
use chat_core::broker::Broker;
use chat_core::broker::redis::{RedisBroker, RedisOptions};
use chat_core::store::Store;
use chat_core::store::postgres::{PostgresOptions, PostgresStore};
use chat_test_support::{Prefix, TestDb};

use super::Fixture;

/// One database and one Redis key prefix, shared by every node a case starts.
pub struct DistributedFixture {
    /// The database.
    pub db: TestDb,
    /// The Redis key prefix.
    pub prefix: Prefix,
}

impl DistributedFixture {
    /// A fresh database and prefix; `None` (the test skips) when a service is missing.
    pub async fn new() -> Option<Self> {
        let db = TestDb::create().await?;
        let prefix = Prefix::shared()?;
        Some(Self { db, prefix })
    }
}

#[async_trait]
impl Fixture for DistributedFixture {
    async fn open_store(&self) -> Arc<dyn Store> {
        let options = PostgresOptions {
            pool_size: 4,
            ..PostgresOptions::default()
        };
        Arc::new(PostgresStore::connect(&self.db.url, options).await.unwrap())
    }

    async fn open_broker(&self, store: Arc<dyn Store>) -> Arc<dyn Broker> {
        let mut options = RedisOptions::new(self.prefix.url.clone());
        options.prefix = self.prefix.name.clone();
        Arc::new(RedisBroker::connect(options, store).await.unwrap())
    }
}
