//! Redis for tests: a key prefix of its own on the shared server named by
//! `CHAT_TEST_REDIS_URL` (its keys deleted afterwards), or a `redis-server` of the test's own
//! to stop and restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::Commands;

use crate::env::{free_port, missing, redis_url};

fn ping(url: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    redis::cmd("PING").query::<String>(&mut conn).map(drop)
}

/// A key prefix of its own on a Redis server; its keys are deleted when it is dropped.
pub struct Prefix {
    /// The Redis server.
    pub url: String,
    /// The prefix, to put before every key.
    pub name: String,
}

impl Prefix {
    /// A fresh prefix on the shared test Redis, if it answers.
    pub fn shared() -> Option<Self> {
        Self::on(&redis_url())
    }

    /// A fresh prefix on the Redis at `url`, if it answers.
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
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one on a free port (skips or fails when `redis-server` is not installed).
    pub async fn start() -> Option<Self> {
        if let Err(e) = Command::new("redis-server").arg("--version").output() {
            return missing("redis-server", &e);
        }
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("dir"),
            child: None,
        };
        redis.restart().await;
        Some(redis)
    }

    /// Its URL.
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
