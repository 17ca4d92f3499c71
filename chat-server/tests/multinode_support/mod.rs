//! Real server processes on PostgreSQL and Redis, for the multi-node tests.
//!
//! - [`Node`]: a `chat-server` process (its own data directory and self-signed certificate,
//!   the shared database and Redis), stopped with SIGKILL when dropped or killed.
//! - [`Proxy`]: a TCP proxy the test can cut, so that the database goes away for real.
//!
//! Databases, Redis key prefixes and a test's own `redis-server` come from
//! `chat-test-support`. When a service is missing the test is skipped loudly, unless
//! `CHAT_TEST_REQUIRE_SERVICES=1` (set in CI) makes that a failure.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::common;

/// The at-rest keys every node of a test shares.
pub const KEYS: &str = "1:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Presence expiry of the nodes in tests, in seconds.
pub const PRESENCE_TTL_SECS: u64 = 3;

/// A `chat-server` process.
pub struct Node {
    child: Child,
    /// Kept open: the server may still write to its stdout.
    _stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    /// The node's self-signed certificate (DER), which its clients trust.
    pub cert: Vec<u8>,
    pub log: PathBuf,
}

impl Node {
    /// Starts a node on `database_url` and `redis_url` with its data in `dir`, and waits
    /// until it is listening.
    pub async fn start(dir: &Path, database_url: &str, redis_url: &str, prefix: &str) -> Self {
        Self::start_with(dir, database_url, redis_url, prefix, &[]).await
    }

    /// [`Node::start`] with extra flags.
    pub async fn start_with(
        dir: &Path,
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        extra: &[&str],
    ) -> Self {
        let log = dir.join("node.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let ttl = PRESENCE_TTL_SECS.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--bcrypt-cost",
                "4",
                "--requests-per-second",
                "1000",
            ])
            .args(["--log", "info,chat_core=debug"])
            .arg("--data-dir")
            .arg(dir)
            .args(["--database-url", database_url, "--redis-url", redis_url])
            .args(["--redis-prefix", prefix, "--presence-ttl-secs", &ttl])
            .args(extra)
            .env("CHAT_AT_REST_KEYS", KEYS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start chat-server");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let started = tokio::task::spawn_blocking(move || read_announcement(stdout));
        let (stdout, url, cert_path) = match tokio::time::timeout(Duration::from_secs(60), started).await {
            Ok(Ok(Ok(found))) => found,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the node did not start ({other:?}); its log:\n{text}");
            }
        };
        let addr = url
            .trim_start_matches("wss://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the address in {url}"));
        let cert = CertificateDer::from_pem_file(&cert_path)
            .expect("read the node's certificate")
            .to_vec();
        Self {
            child,
            _stdout: stdout,
            addr,
            cert,
            log,
        }
    }

    /// A new client connection to this node.
    pub async fn client(&self) -> common::Client {
        let io = common::open(self.addr, Some(&self.cert)).await;
        let ws = common::handshake(io, self.addr, chat_proto::WEBSOCKET_PATH, &[])
            .await
            .expect("upgrade");
        common::Client::after_upgrade(ws).await
    }

    /// `/healthz`: status code and body.
    pub async fn health(&self) -> (u16, String) {
        common::http_get(self.addr, Some(&self.cert), "/healthz", &[]).await
    }

    /// Waits until `/healthz` says the storage and the broker are up.
    pub async fn wait_healthy(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (code, body) = self.health().await;
            if code == 200 {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "node not healthy within {within:?}: {code} {body}\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, as if the machine died.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the start-up lines on stdout: the WebSocket URL and the certificate file.
fn read_announcement(
    mut stdout: BufReader<ChildStdout>,
) -> Result<(BufReader<ChildStdout>, String, PathBuf), String> {
    let (mut url, mut cert) = (None, None);
    let mut line = String::new();
    while url.is_none() || cert.is_none() {
        line.clear();
        if stdout.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("stdout closed before the announcement".into());
        }
        let text = line.trim();
        if let Some(rest) = text.strip_prefix("url:") {
            url = Some(rest.trim().to_owned());
        } else if let Some(rest) = text.strip_prefix("certificate:") {
            let path = rest.trim().trim_end_matches("(generated now)").trim();
            cert = Some(PathBuf::from(path));
        }
    }
    Ok((stdout, url.unwrap_or_default(), cert.unwrap_or_default()))
}

/// A TCP proxy in front of a server that the test can cut (every connection closed, new
/// ones closed at once) and restore.
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<Mutex<bool>>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let up = Arc::new(Mutex::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*up2.lock().unwrap() {
                    drop(client);
                    continue;
                }
                let link = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                links2.lock().unwrap().push(link.abort_handle());
            }
        })
        .abort_handle();
        Self {
            addr,
            up,
            links,
            accept,
        }
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        *self.up.lock().unwrap() = false;
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        *self.up.lock().unwrap() = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The `seq` of a message value.
pub fn seq(message: &serde_json::Value) -> u64 {
    message["seq"].as_u64().expect("seq")
}
