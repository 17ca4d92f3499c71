//! Redis for tests: a key prefix of its own on the shared server named by
//! `CHAT_TEST_REDIS_URL` (its keys deleted afterwards), or a `redis-server` of the test's own
//! to stop and restart.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The server tests use unless `CHAT_TEST_REDIS_URL` names another.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn redis_url() -> String {
    std::env::var("CHAT_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

fn required() -> bool {
    std::env::var("CHAT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn missing<T>(what: &str, why: &dyn std::fmt::Display) -> Option<T> {
    if required() {
        panic!("{what} is required (CHAT_TEST_REQUIRE_SERVICES=1): {why}");
    }
    eprintln!("SKIPPED: {what} is not available ({why})");
    None
}

fn ping(url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    redis::cmd("PING").query::<String>(&mut conn).map(drop)
}

/// A key prefix of its own on a Redis server; its keys are deleted when it is dropped.
pub struct Prefix {
    pub url: String,
    pub name: String,
}

impl Prefix {
    /// A fresh prefix on the shared test Redis, if it answers.
    pub fn shared() -> Option<Self> {
        Self::on(&redis_url())
    }

    pub fn on(url: &str) -> Option<Self> {
        if let Err(e) = ping(url) {
            return missing(&format!("Redis at {url}"), &e);
        }
        Some(Self {
            url: url.to_owned(),
            name: format!("chat_test_{}", uuid::Uuid::new_v4().simple()),
        })
    }

    /// The keys under this prefix, sorted.
    pub fn keys(&self) -> Vec<String> {
        let scan = || -> redis::RedisResult<Vec<String>> {
            let mut conn = redis::Client::open(self.url.as_str())?.get_connection()?;
            let mut keys = conn
                .scan_match::<_, String>(format!("{}:*", self.name))?
                .collect::<Result<Vec<_>, _>>()?;
            keys.sort();
            Ok(keys)
        };
        scan().unwrap_or_default()
    }
}

use redis::Commands;

impl Drop for Prefix {
    fn drop(&mut self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        let deleted = redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut conn| conn.del::<_, i64>(keys));
        if let Err(e) = deleted {
            eprintln!("could not delete the keys of {}: {e}", self.name);
        }
    }
}

/// A `redis-server` owned by one test on a free port, keeping nothing on disk.
pub struct OwnRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> Option<Self> {
        if let Err(e) = Command::new("redis-server").arg("--version").output() {
            return missing("redis-server", &e);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().expect("dir"),
            child: None,
        };
        redis.restart().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..100 {
            if ping(&self.url()).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {port} did not start");
    }

    /// Kills the server by its PID (SIGKILL): everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
