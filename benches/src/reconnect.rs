//! Reconnect phases: connected clients in rooms lose their connections all at once (dropped
//! sockets, or a server restart), messages arrive while they are away, and then every client
//! reconnects at the same moment, authenticates with its token and resumes its room from the
//! last `seq` it saw. Measures the time until every client has resumed, per-client times,
//! retries, and checks that each got exactly the messages it missed, in order.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chat_proto::{ClientFrame, ClientMsgId, MessageBody, Request, Response, RoomId, ServerFrame};

use crate::cluster::Cluster;
use crate::conn::Conn;
use crate::error::LoadError;
use crate::plan::Plan;
use crate::report::{Report, grouped};
use crate::setup::{self, Account};
use crate::track::Tracker;
use crate::traffic::sample_all;
use crate::wire::Endpoint;

/// How long the storm may take before the clients still out are counted as failed.
const STORM_BOUND: Duration = Duration::from_secs(60);

/// What one client's resume found.
#[derive(Clone, Copy, Debug, Default)]
struct Resumed {
    finished_us: u64,
    attempts: u32,
    messages: u64,
    expected: u64,
    gaps: u64,
    out_of_order: u64,
}

/// Sends `count` messages to `room` on `conn`, one after the other; returns the last `seq`.
async fn send_plain(conn: &Conn, room: u64, count: u32) -> Result<u64, LoadError> {
    let room_id = RoomId::new(room).map_err(|e| LoadError::Config(e.to_string()))?;
    let mut last = 0;
    for k in 0..count {
        let body = MessageBody::parse(&format!("missed while away #{k}"))
            .map_err(|e| LoadError::Config(e.to_string()))?;
        let request = Request::SendMessage {
            room_id,
            client_msg_id: ClientMsgId::random(),
            body,
        };
        match conn
            .request("send_message", ClientFrame::new(request).to_json())
            .await?
        {
            ServerFrame::Response {
                result: Response::Message { message },
                ..
            } => last = message.seq,
            other => return Err(LoadError::Protocol(format!("send_message answered {other:?}"))),
        }
    }
    Ok(last)
}

/// One reconnect attempt: connect, resume the session, resume the room until complete.
async fn attempt(
    endpoint: &Endpoint,
    tracker: &Rc<Tracker>,
    index: usize,
    account: &Account,
    after: u64,
    newest: u64,
) -> Result<(Rc<Conn>, Resumed), LoadError> {
    let conn = Conn::open(endpoint, index, tracker.clone()).await?;
    setup::resume_session(&conn, &account.token).await?;
    let room_id = RoomId::new(account.room).map_err(|e| LoadError::Config(e.to_string()))?;
    let mut next = after + 1;
    let mut found = Resumed::default();
    loop {
        let request = Request::ResumeRoom {
            room_id,
            after_seq: next - 1,
        };
        let (messages, complete) = match conn
            .request("resume_room", ClientFrame::new(request).to_json())
            .await?
        {
            ServerFrame::Response {
                result: Response::Resumed {
                    messages, complete, ..
                },
                ..
            } => (messages, complete),
            other => return Err(LoadError::Protocol(format!("resume_room answered {other:?}"))),
        };
        for m in &messages {
            if m.seq != next {
                found.out_of_order += 1;
            }
            next = next.max(m.seq + 1);
            found.messages += 1;
        }
        if complete || messages.is_empty() {
            break;
        }
    }
    found.expected = newest.saturating_sub(after);
    found.gaps = newest.saturating_sub(next - 1);
    Ok((conn, found))
}

/// Runs one reconnect phase; may restart the cluster.
pub async fn run(cluster: &mut Cluster, plan: &Plan) -> Result<Report, LoadError> {
    let tracker = Rc::new(Tracker::new());
    let prefix = setup::run_prefix();
    let endpoints = cluster.endpoints();
    let (rooms, made) = setup::populate(&endpoints, &tracker, &prefix, plan).await?;
    let writer_prefix = format!("{prefix}w");
    let writers = setup::register_clients(
        &endpoints,
        &tracker,
        &writer_prefix,
        plan.rooms,
        &rooms,
        setup::Joining::Public,
        plan.concurrency,
    )
    .await?;

    // Messages everyone sees live, so each client has a last seq to resume from.
    let mut newest = vec![0u64; rooms.len()];
    for (r, (conn, _)) in writers.iter().enumerate() {
        newest[r] = send_plain(conn, rooms[r], plan.before).await?;
    }
    let seen_all = |made: &[(Rc<Conn>, Account)], newest: &[u64]| {
        made.iter()
            .enumerate()
            .all(|(i, (c, a))| c.last_seq(a.room) >= newest[i % newest.len()])
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen_all(&made, &newest) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last_seen: Vec<u64> = made.iter().map(|(c, a)| c.last_seq(a.room)).collect();
    let accounts: Vec<Account> = made.iter().map(|(_, a)| a.clone()).collect();

    // Everyone loses the connection at once.
    let writer_conns: Vec<Rc<Conn>> = if plan.restart {
        eprintln!("restarting the server under {} connections", plan.clients);
        cluster.restart().await?;
        let writer_accounts: Vec<Account> = writers.iter().map(|(_, a)| a.clone()).collect();
        setup::resume_clients(&cluster.endpoints(), &tracker, &writer_accounts, plan.concurrency).await?
    } else {
        eprintln!("dropping {} connections at once", plan.clients);
        for (conn, _) in &made {
            conn.drop_now();
        }
        writers.iter().map(|(c, _)| c.clone()).collect()
    };
    drop(made);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (r, conn) in writer_conns.iter().enumerate() {
        newest[r] = send_plain(conn, rooms[r], plan.during).await?;
    }

    let before = sample_all(cluster)?;
    let tcp_before = crate::procfs::tcp_storm_counters();
    let profiler = match &plan.profile {
        Some(out) => Some(crate::profile::Profiler::start(cluster.nodes()[0].pid, out)?),
        None => None,
    };
    let endpoints = cluster.endpoints();
    let storm_started = Instant::now();
    let done: Rc<RefCell<Vec<Option<Resumed>>>> = Rc::new(RefCell::new(vec![None; plan.clients]));
    let failures = Rc::new(RefCell::new(Vec::<String>::new()));
    let kept = Rc::new(RefCell::new(Vec::new()));
    eprintln!("{} clients reconnect now", plan.clients);
    for (i, account) in accounts.iter().enumerate() {
        let endpoint = endpoints[i % endpoints.len()].clone();
        let (tracker, account, done, failures, kept) = (
            tracker.clone(),
            account.clone(),
            done.clone(),
            failures.clone(),
            kept.clone(),
        );
        let (after, newest) = (last_seen[i], newest[i % rooms.len()]);
        tokio::task::spawn_local(async move {
            let mut attempts = 0u32;
            loop {
                attempts += 1;
                match attempt(&endpoint, &tracker, i, &account, after, newest).await {
                    Ok((conn, mut found)) => {
                        found.finished_us = storm_started.elapsed().as_micros() as u64;
                        found.attempts = attempts;
                        done.borrow_mut()[i] = Some(found);
                        kept.borrow_mut().push(conn);
                        return;
                    }
                    Err(e) if storm_started.elapsed() < STORM_BOUND => {
                        // Spread retries as a client's backoff with jitter would.
                        let jitter = 100 + (i as u64 * 7919 + u64::from(attempts) * 104_729) % 400;
                        tokio::time::sleep(Duration::from_millis(jitter)).await;
                        if attempts == 1 {
                            failures.borrow_mut().push(e.to_string());
                        }
                    }
                    Err(e) => {
                        failures.borrow_mut().push(format!("gave up: {e}"));
                        return;
                    }
                }
            }
        });
    }
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut last_samples = before.clone();
    loop {
        let finished = done.borrow().iter().filter(|d| d.is_some()).count();
        let gave_up = failures
            .borrow()
            .iter()
            .filter(|f| f.starts_with("gave up"))
            .count();
        if finished + gave_up >= plan.clients
            || storm_started.elapsed() > STORM_BOUND + Duration::from_secs(35)
        {
            break;
        }
        tick.tick().await;
        let now = sample_all(cluster)?;
        eprintln!(
            "{} resumed {finished}/{}",
            crate::traffic::progress_line(
                storm_started.elapsed(),
                &now.0,
                &last_samples.0,
                &now.1,
                &last_samples.1
            ),
            plan.clients
        );
        last_samples = now;
    }
    let after = sample_all(cluster)?;
    if let Some(p) = profiler {
        p.stop().await;
    }
    let results: Vec<Resumed> = done.borrow().iter().flatten().copied().collect();
    for conn in kept.borrow().iter().chain(writer_conns.iter()) {
        conn.close();
    }
    let mut report = summarize(plan, &results, &failures.borrow(), &before, &after);
    let tcp = crate::procfs::counter_deltas(&tcp_before, &crate::procfs::tcp_storm_counters());
    report.line("kernel TCP counters during the storm", tcp);
    Ok(report)
}

fn summarize(
    plan: &Plan,
    results: &[Resumed],
    failures: &[String],
    before: &(Vec<crate::procfs::Sample>, crate::procfs::Sample),
    after: &(Vec<crate::procfs::Sample>, crate::procfs::Sample),
) -> Report {
    let mut times = crate::track::histogram(600_000_000);
    for r in results {
        let _ = times.record(r.finished_us.max(1));
    }
    let mut report = Report::new(&plan.title);
    report.line(
        "setup",
        format!(
            "{} clients in {} rooms, {} messages per room seen live, {} more sent while away; trigger: {}",
            plan.clients,
            plan.rooms,
            plan.before,
            plan.during,
            if plan.restart {
                "server restart"
            } else {
                "every connection dropped"
            }
        ),
    );
    let all = times.max() as f64 / 1e6;
    report.figure(
        "all_resumed_secs",
        "time until all resumed",
        all,
        format!("{all:.2} s ({} of {} resumed)", results.len(), plan.clients),
    );
    report.latency("per-client reconnect+resume time", "resume_p99_ms", &times);
    let retried = results.iter().filter(|r| r.attempts > 1).count();
    let attempts: u64 = results.iter().map(|r| u64::from(r.attempts)).sum();
    report.line(
        "attempts",
        format!(
            "{attempts} for {} clients ({retried} needed more than one)",
            results.len()
        ),
    );
    let mut reasons: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for f in failures {
        *reasons.entry(f.split(':').next().unwrap_or("")).or_default() += 1;
    }
    report.line("failed attempts by cause", format!("{reasons:?}"));
    let messages: u64 = results.iter().map(|r| r.messages).sum();
    let expected: u64 = results.iter().map(|r| r.expected).sum();
    let gaps: u64 = results.iter().map(|r| r.gaps).sum();
    let disorder: u64 = results.iter().map(|r| r.out_of_order).sum();
    report.figures.insert("resumed_clients", results.len() as f64);
    report.figures.insert("resume_missing", gaps as f64);
    report.figures.insert("resume_disorder", disorder as f64);
    report.line(
        "messages resumed",
        format!(
            "{} (expected {}); missing {gaps}, out of order or duplicated {disorder}",
            grouped(messages as f64),
            grouped(expected as f64)
        ),
    );
    report.servers(&before.0, &after.0, plan.clients);
    report.line(
        "load generator",
        format!(
            "CPU {:.0}% of a core during the storm",
            after.1.cpu_share_since(&before.1) * 100.0
        ),
    );
    report
}
