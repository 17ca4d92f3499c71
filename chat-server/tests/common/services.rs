//! PostgreSQL and Redis for tests: a fresh database per test (dropped afterwards) and a
//! unique Redis key prefix. When a service is unreachable the test is skipped loudly, unless
//! `CHAT_TEST_REQUIRE_SERVICES=1` makes that a failure.

use chat_core::broker::redis::RedisOptions;

fn required() -> bool {
    std::env::var("CHAT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn skip_or_fail(what: &str, why: &dyn std::fmt::Display) {
    if required() {
        panic!("{what} is required (CHAT_TEST_REQUIRE_SERVICES=1): {why}");
    }
    eprintln!("SKIPPED: {what} is not reachable ({why})");
}

/// A database of its own, dropped when this value is.
pub struct Database {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl Database {
    pub async fn create() -> Option<Self> {
        let admin = std::env::var("CHAT_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let client = match connect(&admin).await {
            Ok(client) => client,
            Err(e) => {
                skip_or_fail(&format!("PostgreSQL at {admin}"), &e);
                return None;
            }
        };
        let name = format!("chat_server_test_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        // Replace the database part of the admin URL.
        let base = admin.split('?').next().unwrap_or(&admin);
        let host_end = base.find("://").map_or(0, |i| i + 3);
        let path_start = base[host_end..].find('/').map_or(base.len(), |i| host_end + i);
        let url = format!("{}/{name}", &base[..path_start]);
        Some(Self { admin, name, url })
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop is not async: a thread with its own runtime removes the database.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(client) = connect(&admin).await {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Redis options with a prefix no other test uses, or `None` when Redis is unreachable.
pub async fn redis() -> Option<RedisOptions> {
    let url = std::env::var("CHAT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let addr = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if let Err(e) = tokio::net::TcpStream::connect(&addr).await {
        skip_or_fail(&format!("Redis at {url}"), &e);
        return None;
    }
    let mut options = RedisOptions::new(url);
    options.prefix = format!("chat-server-test-{}", uuid::Uuid::new_v4().simple());
    Some(options)
}
