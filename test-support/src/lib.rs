//! Fixtures for the tests of the chat crates that need real services. Each test gets a
//! PostgreSQL database of its own (dropped afterwards), a Redis key prefix of its own (its keys
//! deleted afterwards), or a `redis-server` of its own to stop and restart. When a service is
//! unreachable the test is skipped loudly, unless `CHAT_TEST_REQUIRE_SERVICES=1` (set in CI)
//! makes that a failure.
//!
//! # Layout
//! - [`env`]: the service URLs, the skip-or-fail rule, free ports.
//! - [`postgres`]: the [`TestDb`] fixture.
//! - [`redis`]: [`Prefix`] and [`OwnRedis`].

#![warn(missing_docs)]

pub mod env;
pub mod postgres;
pub mod redis;

pub use env::{free_port, missing, pg_admin_url, redis_url, services_required, with_database};
pub use postgres::TestDb;
pub use redis::{OwnRedis, Prefix};
