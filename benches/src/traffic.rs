//! Traffic phases: clients in rooms, senders sending (at a rate or as fast as their window
//! allows), every member receiving. Measures deliveries per second, latency from send to
//! delivery and to acknowledgement, lost and duplicated deliveries, and the servers' CPU and
//! memory.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::conn::Conn;
use crate::encrypted::{self, Pool};
use crate::error::LoadError;
use crate::frames::{self, IdGen, Mark};
use crate::plan::Plan;
use crate::procfs::Sample;
use crate::profile::Profiler;
use crate::report::{Report, grouped};
use crate::setup;
use crate::track::{Totals, Tracker};

/// How long the run waits, after sending stops, for the last answers and deliveries.
const DRAIN: Duration = Duration::from_secs(15);

/// Samples of every node, then of the load generator itself.
pub(crate) fn sample_all(cluster: &Cluster) -> Result<(Vec<Sample>, Sample), LoadError> {
    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| Sample::read(n.pid))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((nodes, Sample::own()?))
}

/// One line of progress.
pub(crate) fn progress_line(
    elapsed: Duration,
    nodes: &[Sample],
    prev: &[Sample],
    own: &Sample,
    own_prev: &Sample,
) -> String {
    let mut line = format!("[{:>4.0}s]", elapsed.as_secs_f64());
    for (i, (n, p)) in nodes.iter().zip(prev).enumerate() {
        line.push_str(&format!(
            " node{i} CPU {:>3.0}% RSS {:.0} MiB |",
            n.cpu_share_since(p) * 100.0,
            n.rss_kib as f64 / 1024.0
        ));
    }
    line.push_str(&format!(
        " loadgen CPU {:>3.0}%",
        own.cpu_share_since(own_prev) * 100.0
    ));
    line
}

/// Runs one traffic phase against `cluster`.
pub async fn run(cluster: &Cluster, plan: &Plan) -> Result<Report, LoadError> {
    let tracker = Rc::new(Tracker::new());
    let endpoints = cluster.endpoints();
    let prefix = setup::run_prefix();
    let setup_started = Instant::now();
    let (rooms, clients, pools) = if plan.encrypted {
        encrypted::populate(&endpoints, &tracker, &prefix, plan).await?
    } else {
        let (rooms, clients) = setup::populate(&endpoints, &tracker, &prefix, plan).await?;
        (rooms, clients, Vec::new())
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let conns: Vec<Rc<Conn>> = clients.into_iter().map(|(c, _)| c).collect();
    let receiver_room: Vec<usize> = (0..plan.clients).map(|i| i % plan.rooms).collect();
    let sender_room: Vec<usize> = (0..plan.senders).map(|j| j % plan.rooms).collect();
    tracker.configure(receiver_room, &sender_room, plan.window);
    // Let the membership events of the setup drain before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let started = Instant::now();
    let measure_from = started + plan.warmup;
    let end = measure_from + plan.duration;
    let mut senders = Vec::new();
    for j in 0..plan.senders {
        let payload = match pools.get(j) {
            Some(pool) => Payload::Sealed(pool.clone()),
            None => Payload::Plain {
                body_bytes: plan.body_bytes,
            },
        };
        let job = Sender {
            conn: conns[j].clone(),
            index: j,
            room: rooms[sender_room[j]],
            tracker: tracker.clone(),
            rate: plan.rate,
            payload,
            end,
        };
        senders.push(tokio::task::spawn_local(job.run()));
    }

    let (mut prev_nodes, mut prev_own) = sample_all(cluster)?;
    let mut prev_totals = tracker.totals();
    let mut start_mark = None;
    let mut profiler = None;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(measure_from.into()), if start_mark.is_none() => {}
            () = tokio::time::sleep_until(end.into()) => break,
        }
        let now = Instant::now();
        if start_mark.is_none() && now >= measure_from {
            if let Some(out) = &plan.profile {
                profiler = Some(Profiler::start(cluster.nodes()[0].pid, out)?);
            }
            tracker.start_recording();
            start_mark = Some((
                now,
                tracker.totals(),
                sample_all(cluster)?,
                cluster.metrics().await,
            ));
            continue;
        }
        let (nodes, own) = sample_all(cluster)?;
        let t = tracker.totals();
        let secs = now.duration_since(prev_nodes[0].at).as_secs_f64().max(1e-3);
        eprintln!(
            "{} sent {} acked {} deliveries {} ({}/s)",
            progress_line(now - started, &nodes, &prev_nodes, &own, &prev_own),
            grouped(t.sent as f64),
            grouped(t.acked as f64),
            grouped(t.deliveries as f64),
            grouped((t.deliveries - prev_totals.deliveries) as f64 / secs),
        );
        (prev_nodes, prev_own, prev_totals) = (nodes, own, t);
    }
    let end_at = Instant::now();
    let end_totals = tracker.totals();
    let end_samples = sample_all(cluster)?;
    let end_metrics = cluster.metrics().await;
    tracker.stop_recording();
    if let Some(p) = profiler {
        p.stop().await;
    }
    for s in senders {
        let _ = s.await;
    }
    let lost = drain(&tracker).await;
    for conn in &conns {
        conn.close();
    }
    let (start_at, start_totals, start_samples, start_metrics) =
        start_mark.ok_or_else(|| LoadError::Config("the run ended before the warm-up did".into()))?;

    let mut report = Report::new(&plan.title);
    report.line(
        "setup",
        format!(
            "{} clients in {} room(s) on {} node(s), registered and joined in {setup_secs:.1} s",
            plan.clients,
            plan.rooms,
            endpoints.len()
        ),
    );
    report.line(
        "load",
        format!(
            "{} sender(s), {}, body {} bytes{}, {} in flight per sender at most; {:.0} s warm-up + {:.1} s measured",
            plan.senders,
            plan.rate.map_or("as fast as possible".to_owned(), |r| format!("{r} msg/s each")),
            plan.body_bytes,
            if plan.encrypted {
                " end-to-end encrypted (MLS, padded)"
            } else {
                ""
            },
            plan.window,
            plan.warmup.as_secs_f64(),
            end_at.duration_since(start_at).as_secs_f64()
        ),
    );
    let secs = end_at.duration_since(start_at).as_secs_f64();
    add_rates(&mut report, &start_totals, &end_totals, secs);
    report.latency("send -> delivery latency", "delivery_p99_ms", &tracker.latency());
    report.latency("send -> ack latency", "ack_p99_ms", &tracker.ack_latency());
    let totals = tracker.totals();
    report.figure(
        "lost",
        "lost deliveries",
        lost as f64,
        format!(
            "{lost} of {} owed for {} acknowledged messages (after a drain of at most {} s)",
            grouped(tracker.expected() as f64),
            grouped(totals.acked as f64),
            DRAIN.as_secs()
        ),
    );
    report.line(
        "duplicates / reordered",
        format!("{} / {}", totals.duplicates, totals.reordered),
    );
    report.line(
        "refused / unanswered",
        format!(
            "{} / {} {:?}",
            totals.refused,
            tracker.unanswered(),
            tracker.errors()
        ),
    );
    report.servers(&start_samples.0, &end_samples.0, plan.clients);
    report.line(
        "load generator",
        format!(
            "CPU {:.0}% of a core",
            end_samples.1.cpu_share_since(&start_samples.1) * 100.0
        ),
    );
    report.counters(&start_metrics, &end_metrics);
    let closed = conns.iter().filter(|c| c.closed_with().is_some()).count();
    report.line("connections closed by the server", closed);
    Ok(report)
}

fn add_rates(report: &mut Report, start: &Totals, end: &Totals, secs: f64) {
    let per_sec = |a: u64, b: u64| (b - a) as f64 / secs.max(1e-9);
    let deliveries = per_sec(start.deliveries, end.deliveries);
    let stored = per_sec(start.acked, end.acked);
    report.figure(
        "deliveries_per_sec",
        "deliveries/s",
        deliveries,
        grouped(deliveries),
    );
    report.figure(
        "messages_per_sec",
        "messages stored/s (acked)",
        stored,
        grouped(stored),
    );
}

/// Waits until every send is answered and every owed delivery arrived, or until nothing
/// moves for two seconds, at most [`DRAIN`]. Returns the deliveries still missing.
async fn drain(tracker: &Tracker) -> u64 {
    let deadline = Instant::now() + DRAIN;
    let mut last = (tracker.totals(), Instant::now());
    loop {
        let lost = tracker.lost();
        if (lost == 0 && tracker.unanswered() == 0) || Instant::now() >= deadline {
            return lost;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = tracker.totals();
        if t != last.0 {
            last = (t, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            return tracker.lost();
        }
    }
}

/// What a sender sends.
enum Payload {
    /// `send_message` with a body of this many bytes.
    Plain {
        /// The body's length.
        body_bytes: usize,
    },
    /// `send_mls` with the ciphertexts of this pool, in turn.
    Sealed(Pool),
}

impl Payload {
    /// The frame for message `mark`.
    fn frame(&self, ids: &mut IdGen, room: u64, mark: Mark) -> String {
        match self {
            Payload::Plain { body_bytes } => frames::send_message(ids, room, mark, *body_bytes),
            Payload::Sealed(pool) => {
                let mls = &pool[(mark.n % pool.len() as u64) as usize];
                frames::send_mls(ids, room, mark, mls)
            }
        }
    }
}

/// One sender's loop.
struct Sender {
    conn: Rc<Conn>,
    index: usize,
    room: u64,
    tracker: Rc<Tracker>,
    rate: Option<f64>,
    payload: Payload,
    end: Instant,
}

impl Sender {
    async fn run(self) {
        let window = self.tracker.window(self.index);
        let mut ids = IdGen::new(self.index as u64 + 1);
        let start_us = self.tracker.now_us();
        let end = tokio::time::Instant::from(self.end);
        let mut n = 0u64;
        loop {
            let permit = tokio::select! {
                permit = window.acquire() => permit,
                () = tokio::time::sleep_until(end) => break,
            };
            match permit {
                Ok(p) => p.forget(),
                Err(_) => break,
            }
            let t_us = match self.rate {
                Some(rate) => {
                    // Open loop: message n is due at n / rate, and its latency counts from
                    // then, so a stall is not hidden by sending later (coordinated omission).
                    let due = start_us + (n as f64 * 1e6 / rate) as u64;
                    let at = tokio::time::Instant::from(self.tracker.instant_at(due));
                    if at >= end {
                        break;
                    }
                    tokio::time::sleep_until(at).await;
                    due
                }
                None => self.tracker.now_us(),
            };
            if tokio::time::Instant::now() >= end {
                break;
            }
            let mark = Mark {
                sender: self.index as u32,
                n,
                t_us,
            };
            let text = self.payload.frame(&mut ids, self.room, mark);
            self.tracker.sent(self.index, n);
            if !self.conn.send_tracked(text, self.index, n, t_us) {
                break;
            }
            n += 1;
            if n.is_multiple_of(16) {
                // A sender with a free window must not starve the readers.
                tokio::task::yield_now().await;
            }
        }
    }
}
