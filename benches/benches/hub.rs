//! Fan-out through the in-process hub: one pre-serialized message event delivered to every
//! connection subscribed to a room of 1, 10, 100 and 1,000 subscribers (what happens inside
//! `send_message` after the store, on one node). Throughput is in deliveries, so criterion's
//! "elements/s" is deliveries per second. The queues are drained outside the timed part, as
//! each connection's writer would.
//!
//! After criterion, a summary measured the same way gives the cost per delivery at each size
//! as a ratio of the cost with one subscriber.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_core::hub::{LocalHub, Subscriber};
use chat_proto::{Event, RoomId, ServerFrame, UserId};
use criterion::{BenchmarkId, Criterion, Throughput};
use tokio::sync::mpsc;

const SIZES: [usize; 4] = [1, 10, 100, 1000];
/// Deliveries per subscriber between drains: well under the default queue of 1024 frames.
const BATCH: u64 = 256;

struct Room {
    hub: LocalHub,
    room: RoomId,
    payload: Arc<str>,
    subscribers: Vec<(Subscriber, mpsc::Receiver<Arc<str>>)>,
}

impl Room {
    fn new(size: usize) -> Self {
        let hub = LocalHub::new();
        let room = RoomId::new(1).expect("constant id");
        let subscribers = (0..size)
            .map(|i| {
                let (tx, rx) = mpsc::channel(1024);
                let sub = hub.subscriber(tx);
                let user = UserId::new(i as u64 + 1).expect("positive id");
                hub.attach(&sub, user, None, &[(room, 0)]);
                (sub, rx)
            })
            .collect();
        Self {
            hub,
            room,
            payload: payload(),
            subscribers,
        }
    }

    fn drain(&mut self) {
        for (_, rx) in &mut self.subscribers {
            while rx.try_recv().is_ok() {}
        }
    }

    /// Times `iters` deliveries to the room, draining every `BATCH` outside the timing.
    fn timed(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(BATCH);
            let start = Instant::now();
            for _ in 0..n {
                black_box(self.hub.deliver_room(self.room, &self.payload, None));
            }
            total += start.elapsed();
            self.drain();
            left -= n;
        }
        total
    }
}

/// A message event of about 330 bytes, as `send_message` publishes it.
fn payload() -> Arc<str> {
    let text = r#"{"id":"1001","room_id":"1","seq":1,"sender":{"id":"7","username":"user7"},"client_msg_id":"4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b","body":"see you at the station at six, bring the tickets please see you at the station at six, bring the tick","sent_at":1767225600000}"#;
    let message = serde_json::from_str(text).expect("constant message");
    Arc::from(
        ServerFrame::Event {
            event: Event::Message { message },
        }
        .to_json(),
    )
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub_fanout");
    for size in SIZES {
        let mut room = Room::new(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|iters| room.timed(iters))
        });
        assert_eq!(
            room.hub.slow_consumer_kicks(),
            0,
            "the bench must never overflow a queue"
        );
    }
    group.finish();
}

/// Nanoseconds per delivery at each size, measured for about half a second each.
fn summary() {
    let mut per_delivery = Vec::new();
    for size in SIZES {
        let mut room = Room::new(size);
        room.timed(BATCH * 4);
        let iters = (200_000 / size as u64).max(BATCH);
        let took = room.timed(iters);
        per_delivery.push(took.as_nanos() as f64 / (iters * size as u64) as f64);
    }
    println!("hub fan-out summary (ns per delivery; ratio to 1 subscriber):");
    for (size, ns) in SIZES.iter().zip(&per_delivery) {
        println!(
            "  {size:>5} subscribers: {ns:8.1} ns/delivery, {:6.3} x the 1-subscriber cost, {:.1} M deliveries/s",
            ns / per_delivery[0],
            1e3 / ns
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    fanout(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        summary();
    }
}
