//! Helpers for tests against a real server on 127.0.0.1: start (and restart on the same port),
//! clients pinned to its certificate, a TCP relay that can hold traffic, and waiting helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chat_client_lib::{
    CacheConfig, Client, ClientConfig, ClientEvent, ConnectionState, EventStream, ReconnectPolicy,
    ServerIdentity,
};
use chat_server::{RunningServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PASSWORD: &str = "correct horse battery";

/// Starts a server on `data_dir`, on `port` (0 for any).
pub async fn start_server(data_dir: &Path, port: u16) -> RunningServer {
    start_server_with(data_dir, port, |_| {}).await
}

/// Starts a server with test settings changed by `adjust`.
pub async fn start_server_with(
    data_dir: &Path,
    port: u16,
    adjust: impl Fn(&mut ServerConfig),
) -> RunningServer {
    let mut config = ServerConfig::local(data_dir);
    config.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.core.bcrypt_cost = 4;
    // Tests send hundreds of messages quickly; the rate limit is tested elsewhere.
    config.core.requests_per_second = 100_000;
    config.timeouts.shutdown = Duration::from_secs(3);
    adjust(&mut config);
    // The port of a killed server can take a moment to be free again.
    for _ in 0..50 {
        match chat_server::start(config.clone()).await {
            Ok(server) => return server,
            Err(e) if port != 0 => {
                eprintln!("restart on port {port} not yet possible: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("server start failed: {e}"),
        }
    }
    panic!("could not restart the server on port {port}");
}

/// A client configuration for `server`, trusting its pinned fingerprint, with short
/// timeouts and a quick reconnect policy.
pub fn config_for(server: &RunningServer) -> ClientConfig {
    let fingerprint = server.cert_fingerprint().expect("tls server");
    config_for_url(&server.ws_url(), &fingerprint)
}

pub fn config_for_url(url: &str, fingerprint: &str) -> ClientConfig {
    ClientConfig::new(url)
        .with_fingerprint(fingerprint)
        .expect("valid fingerprint")
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_secs(10))
        .with_reconnect(
            ReconnectPolicy::default()
                .with_base_delay(Duration::from_millis(50))
                .with_max_delay(Duration::from_millis(400)),
        )
}

/// A unique username for this test run.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

/// A configuration with a local store in `dir`, with cheap key derivation (the costs are
/// the same code path; the defaults are tested in the unit tests).
pub fn with_store(config: ClientConfig, dir: &Path) -> ClientConfig {
    config.with_cache(CacheConfig::default().with_dir(dir).with_kdf(256, 1))
}

/// The store file of `username` for `config`.
pub fn store_file(config: &ClientConfig, username: &str) -> std::path::PathBuf {
    let dir = config.cache.dir.as_deref().expect("a store directory");
    ServerIdentity::of(config)
        .unwrap()
        .store_file(dir, &chat_proto::Username::parse(username).unwrap())
}

/// Waits for the first event `pick` accepts, at most `within`.
pub async fn wait_event<T>(
    events: &mut EventStream,
    within: Duration,
    mut pick: impl FnMut(ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(within, async {
        loop {
            let event = events.recv().await.expect("event stream open");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event came in time")
}

/// A registered, logged-in client.
pub async fn registered(config: ClientConfig, username: &str) -> Client {
    let client = Client::new(config);
    client.register(username, PASSWORD).await.expect("register");
    client
}

/// Waits until the client's state satisfies `pred`, at most `within`.
pub async fn wait_state(
    client: &Client,
    within: Duration,
    pred: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    let mut states = client.state();
    let waited = tokio::time::timeout(within, async {
        while let Some(state) = states.next_state().await {
            if pred(&state) {
                return state;
            }
        }
        panic!("state stream ended");
    })
    .await;
    waited.unwrap_or_else(|_| {
        panic!(
            "state not reached within {within:?}; now {:?}",
            client.current_state()
        )
    })
}

/// Waits for the next text message event (skipping notices of room changes), at most
/// `within`.
pub async fn next_message(events: &mut EventStream, within: Duration) -> Option<chat_proto::Message> {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await {
                Some(ClientEvent::Message(m)) if m.text().is_some() => return Some(m),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// A TCP relay from a local port to `upstream`. While held, bytes from clients are not
/// forwarded, so requests stay unanswered; when the upstream side closes, the client side is
/// closed too. It can also cut every relayed connection and refuse new ones for a while, like
/// a network outage between one client and the server.
pub struct Relay {
    pub addr: SocketAddr,
    hold: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = Arc::new(AtomicBool::new(false));
        let down = Arc::new(AtomicBool::new(false));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (held, is_down, cuts) = (hold.clone(), down.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(pump(client, server, held.clone(), cuts.subscribe()));
            }
        });
        Relay {
            addr,
            hold,
            down,
            cut,
        }
    }

    pub fn hold(&self, on: bool) {
        self.hold.store(on, Ordering::SeqCst);
    }

    /// Cuts every relayed connection and refuses new ones until `restore`.
    pub fn cut_and_refuse(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

async fn pump(
    client: TcpStream,
    server: TcpStream,
    hold: Arc<AtomicBool>,
    mut cut: tokio::sync::watch::Receiver<u64>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upward = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            while hold.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downward = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    // Whichever side ends first, or a cut, ends the relayed connection (dropping both sockets).
    tokio::select! {
        _ = upward => {}
        _ = downward => {}
        _ = cut.changed() => {}
    }
}
