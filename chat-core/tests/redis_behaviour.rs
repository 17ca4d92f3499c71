//! The behavioural suite on PostgreSQL with the Redis broker: every node of a case is a
//! node of one deployment (one database, one Redis key prefix), and clients cannot tell it
//! from the embedded default.

mod behaviour;

use std::sync::Arc;

use async_trait::async_trait;
use behaviour::Fixture;
use chat_core::broker::Broker;
use chat_core::broker::redis::{RedisBroker, RedisOptions};
use chat_core::store::Store;
use chat_core::store::postgres::{PostgresOptions, PostgresStore};
use chat_test_support::Prefix;
use chat_test_support::TestDb;

struct DistributedFixture {
    db: TestDb,
    prefix: Prefix,
}

impl DistributedFixture {
    async fn new() -> Option<Self> {
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

behaviour_suite!(DistributedFixture::new().await);
