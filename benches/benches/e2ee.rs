//! Deliveries per second in an end-to-end encrypted room next to a public room of the same
//! size, in one run, through the real client library on both sides (so the encrypted run
//! pays for MLS where a user does: encrypting on the sender, decrypting on every receiver,
//! padded ciphertext on the wire and in the store).
//!
//! A server with test settings runs in this process on loopback over wss. For each room
//! size, `n` clients join a room (public, then a private encrypted one), one of them sends
//! `MESSAGES` texts through its outbox, and the clock runs until every other member has
//! received every text as a message event (decrypted, in the encrypted room). Prints
//! deliveries per second for both and the ratio.
//!
//! `cargo bench -p chat-benches --bench e2ee`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chat_client_lib::{Client, ClientConfig, ClientEvent, NewRoom};
use chat_proto::RoomId;

/// Room sizes (members, the sender included).
const SIZES: [usize; 2] = [10, 30];
/// Texts the sender sends per run.
const MESSAGES: usize = 200;
const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(120);

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = chat_server::ServerConfig::local(dir.path());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.core.bcrypt_cost = 4;
    config.core.requests_per_second = 1_000_000;
    let server = chat_server::start(config).await.expect("the server starts");
    let client_config = ClientConfig::new(server.ws_url())
        .with_fingerprint(&server.cert_fingerprint().expect("tls"))
        .expect("a fingerprint")
        .with_request_timeout(Duration::from_secs(30));

    println!(
        "== deliveries per second: encrypted room next to a public room, {MESSAGES} texts from one sender"
    );
    println!(
        "{:>8} {:>16} {:>16} {:>8}",
        "members", "public /s", "encrypted /s", "ratio"
    );
    for (round, size) in SIZES.into_iter().enumerate() {
        let mut clients = Vec::with_capacity(size);
        for i in 0..size {
            let client = Client::new(client_config.clone());
            client
                .register(&format!("b{round}u{i}x{:06x}", rand_bits()), PASSWORD)
                .await
                .expect("register");
            clients.push(client);
        }
        let public = deliveries_per_second(&clients, false).await;
        let encrypted = deliveries_per_second(&clients, true).await;
        println!(
            "{size:>8} {public:>16.0} {encrypted:>16.0} {:>8.2}",
            encrypted / public
        );
        for client in clients {
            let _ = client.shutdown().await;
        }
    }
    drop(server);
}

/// One run: a room of all `clients`, the first sends, the clock runs until the others
/// have every text.
async fn deliveries_per_second(clients: &[Client], encrypted: bool) -> f64 {
    let owner = &clients[0];
    let new = if encrypted {
        NewRoom::private("bench encrypted")
    } else {
        NewRoom::public("bench public")
    };
    let room = owner.create_room_with(new).await.expect("a room");
    for member in &clients[1..] {
        if encrypted {
            owner
                .invite(room.id, member.user().expect("logged in").username.as_str())
                .await
                .expect("invite");
        }
        member.join_room(room.id).await.expect("join");
    }
    if encrypted {
        // Every member's device in the group before the clock starts.
        wait_until(|| {
            clients.iter().all(|c| {
                c.room_encryption(room.id)
                    .is_some_and(|e| e.devices.len() == clients.len())
            })
        })
        .await;
    }
    let receivers: Vec<_> = clients[1..]
        .iter()
        .map(|c| {
            let events = c.room_events(room.id);
            tokio::spawn(count_texts(events, room.id, MESSAGES))
        })
        .collect();
    let start = Instant::now();
    let handles: Vec<_> = (0..MESSAGES)
        .map(|i| owner.send(room.id, &format!("bench message {i}")))
        .collect();
    for handle in handles {
        tokio::time::timeout(WAIT, handle)
            .await
            .expect("sent in time")
            .expect("stored");
    }
    for receiver in receivers {
        receiver.await.expect("a receiver");
    }
    let elapsed = start.elapsed();
    ((clients.len() - 1) * MESSAGES) as f64 / elapsed.as_secs_f64()
}

async fn count_texts(mut events: chat_client_lib::EventStream, room: RoomId, n: usize) {
    let mut seen = 0;
    tokio::time::timeout(WAIT, async {
        while seen < n {
            match events.recv().await {
                Some(ClientEvent::Message(m)) if m.room_id == room && m.text().is_some() => seen += 1,
                Some(_) => {}
                None => panic!("the client stopped"),
            }
        }
    })
    .await
    .expect("every text arrived in time");
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the room's group formed in time");
}

fn rand_bits() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}
