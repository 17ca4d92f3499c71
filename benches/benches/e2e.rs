//! End to end through a real server on loopback over wss: the server (TLS, SQLite store on
//! disk with `synchronous = FULL`, at-rest encryption, in-process hub) runs in this process
//! on its own runtime; clients are the load generator's lean wss connections.
//!
//! - `e2e_send_to_delivery/<n>`: one `send_message` at a time, timed until the sender has its
//!   answer and each of `n` other members has the event.
//! - `e2e_burst_100/<n>`: 100 sends pipelined on one connection, timed until all are answered
//!   and delivered to `n` members; throughput in deliveries.
//!
//! A summary afterwards gives the per-message time at each room size as a ratio of the time
//! with one receiver.

use std::time::{Duration, Instant};

use chat_benches::frames::{self, IdGen, Mark, Sorted};
use chat_benches::wire::{self, Endpoint, Incoming, Pin, WsRead, WsWrite};
use chat_proto::{ClientFrame, Password, Request, Response, RoomName, ServerFrame, Username};
use criterion::{BenchmarkId, Criterion, Throughput};
use fastwebsockets::{Frame, Payload};

const SIZES: [usize; 3] = [1, 10, 100];

struct Client {
    read: WsRead,
    write: WsWrite,
    /// Message events read past while waiting for an answer (their order is not fixed).
    early_messages: u64,
    /// Answers read past while waiting for a message event.
    early_answers: u64,
}

impl Client {
    async fn send(&mut self, text: String) {
        self.write
            .write_frame(Frame::text(Payload::Owned(text.into_bytes())))
            .await
            .expect("the loopback server takes frames");
        self.write
            .flush()
            .await
            .expect("the loopback server takes frames");
    }

    /// The next text frame (pings are answered by nobody here: runs are far shorter than the
    /// server's idle timeout).
    async fn next_text(&mut self) -> String {
        loop {
            match wire::read_frame(&mut self.read)
                .await
                .expect("the loopback server stays up")
            {
                Incoming::Text(text) => return text,
                Incoming::Close(code) => panic!("the server closed the connection: {code:?}"),
                _ => {}
            }
        }
    }

    /// Sends a request and returns its answer, skipping events.
    async fn request(&mut self, request: Request) -> ServerFrame {
        self.send(ClientFrame::new(request).to_json()).await;
        loop {
            let text = self.next_text().await;
            if matches!(frames::sort(&text), Sorted::Response | Sorted::Error) {
                return chat_proto::decode_server_frame(&text).expect("a valid frame");
            }
        }
    }

    /// Waits for the next message event.
    async fn next_message(&mut self) {
        if self.early_messages > 0 {
            self.early_messages -= 1;
            return;
        }
        loop {
            match frames::sort(&self.next_text().await) {
                Sorted::Message(_) => return,
                Sorted::Response => self.early_answers += 1,
                _ => {}
            }
        }
    }

    /// Waits for the next answer.
    async fn next_answer(&mut self) {
        if self.early_answers > 0 {
            self.early_answers -= 1;
            return;
        }
        loop {
            match frames::sort(&self.next_text().await) {
                Sorted::Response => return,
                Sorted::Message(_) => self.early_messages += 1,
                _ => {}
            }
        }
    }
}

async fn client(endpoint: &Endpoint, name: &str) -> Client {
    let (read, write, _hello) = endpoint.connect().await.expect("the loopback server accepts");
    let mut c = Client {
        read,
        write,
        early_messages: 0,
        early_answers: 0,
    };
    let answer = c
        .request(Request::Register {
            username: Username::parse(name).expect("valid name"),
            password: Password::parse("bench-password").expect("valid password"),
        })
        .await;
    assert!(matches!(answer, ServerFrame::Response { .. }), "{answer:?}");
    c
}

/// A sender and `size` receivers in one fresh room.
struct Room {
    sender: Client,
    receivers: Vec<Client>,
    room: u64,
    ids: IdGen,
    n: u64,
}

impl Room {
    async fn new(endpoint: &Endpoint, size: usize) -> Self {
        let tag = IdGen::new(size as u64).uuid().simple().to_string();
        let mut sender = client(endpoint, &format!("s{}", &tag[..12])).await;
        let name = RoomName::parse(&format!("bench-{size}")).expect("valid room name");
        let room = match sender
            .request(Request::CreateRoom {
                name,
                visibility: chat_proto::Visibility::Public,
                topic: None,
                encrypted: None,
            })
            .await
        {
            ServerFrame::Response {
                result: Response::Room { room },
                ..
            } => room.id,
            other => panic!("create_room: {other:?}"),
        };
        let mut receivers = Vec::new();
        for i in 0..size {
            let mut r = client(endpoint, &format!("r{}x{i}", &tag[..12])).await;
            let joined = r.request(Request::JoinRoom { room_id: room }).await;
            assert!(matches!(joined, ServerFrame::Response { .. }), "{joined:?}");
            receivers.push(r);
        }
        Self {
            sender,
            receivers,
            room: room.get(),
            ids: IdGen::new(7),
            n: 0,
        }
    }

    async fn send(&mut self) {
        let mark = Mark {
            sender: 0,
            n: self.n,
            t_us: 0,
        };
        self.n += 1;
        let text = frames::send_message(&mut self.ids, self.room, mark, 100);
        self.sender.send(text).await;
    }

    /// Sends `count` messages back to back, then waits for every answer and delivery.
    async fn round(&mut self, count: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..count {
            self.send().await;
        }
        for _ in 0..count {
            self.sender.next_answer().await;
        }
        for r in &mut self.receivers {
            for _ in 0..count {
                r.next_message().await;
            }
        }
        let took = start.elapsed();
        // The sender's own copies of the events, read outside the timing.
        for _ in 0..count {
            self.sender.next_message().await;
        }
        took
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut config = chat_server::ServerConfig::local(dir.path());
    config.core.bcrypt_cost = 4;
    config.core.requests_per_second = 1_000_000;
    // Receivers of one room sit unread while another room is measured: keep-alive is not
    // what this bench measures.
    config.timeouts.idle = Duration::from_secs(3600);
    config.timeouts.ping_interval = Duration::from_secs(1800);
    let server = server_rt
        .block_on(chat_server::start(config))
        .expect("the server starts");
    let pin = Pin::of_der(&server.cert_der().expect("TLS is on"));
    let endpoint = Endpoint::parse(&server.ws_url(), pin).expect("a loopback URL");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let mut rooms: Vec<Room> = SIZES
        .iter()
        .map(|&n| rt.block_on(Room::new(&endpoint, n)))
        .collect();

    let mut one = c.benchmark_group("e2e_send_to_delivery");
    for room in &mut rooms {
        let n = room.receivers.len();
        one.throughput(Throughput::Elements(n as u64));
        one.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| rt.block_on(async { timed(room, iters, 1).await }))
        });
    }
    one.finish();
    let mut burst = c.benchmark_group("e2e_burst_100");
    for room in &mut rooms {
        let n = room.receivers.len();
        burst.throughput(Throughput::Elements(100 * n as u64));
        burst.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| rt.block_on(async { timed(room, iters, 100).await }))
        });
    }
    burst.finish();
    c.final_summary();
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        rt.block_on(summary(&mut rooms));
    }
    drop(rooms);
    server_rt.block_on(server.shutdown());
}

async fn timed(room: &mut Room, iters: u64, count: usize) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += room.round(count).await;
    }
    total
}

/// Time per message (one at a time and in bursts of 100) at each size, and its ratio to the
/// one-receiver room.
async fn summary(rooms: &mut [Room]) {
    let mut rows = Vec::new();
    for room in rooms.iter_mut() {
        let single = timed(room, 50, 1).await.as_secs_f64() / 50.0;
        let burst = timed(room, 5, 100).await.as_secs_f64() / 500.0;
        rows.push((room.receivers.len(), single, burst));
    }
    println!("end-to-end summary (per message; ratio to the 1-receiver room):");
    let (_, single0, burst0) = rows[0];
    for (n, single, burst) in rows {
        println!(
            "  {n:>4} receivers: one at a time {:7.3} ms ({:5.2} x), in bursts {:7.3} ms ({:5.2} x) = {:.0} deliveries/s",
            single * 1e3,
            single / single0,
            burst * 1e3,
            burst / burst0,
            n as f64 / burst
        );
    }
}
