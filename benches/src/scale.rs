//! The scale phase: millions of stored messages in thousands of rooms. Accounts, rooms and
//! memberships are made through the protocol; the messages are written by the bulk loader
//! ([`crate::dataset`]) with the server stopped. Then, on the release server doing all its
//! work: how long the server takes to start on the full store, the bytes on disk per
//! stored message, `history` pages at random depths (latency of one request at a time), and
//! one user in 1,000 rooms who reconnects and resumes all of them, with one `resume_rooms`
//! and, for comparison, with one `resume_room` per room.

use std::rc::Rc;
use std::time::{Duration, Instant};

use chat_core::keyring::{KEY_FILE_NAME, KeyRing};
use chat_proto::{ClientFrame, Request, Response, ResumePoint, RoomId, RoomName, ServerFrame};

use crate::cluster::Cluster;
use crate::conn::Conn;
use crate::error::LoadError;
use crate::plan::{Plan, Servers};
use crate::report::{Report, grouped};
use crate::setup;
use crate::track::Tracker;
use crate::traffic::sample_all;
use crate::wire::Endpoint;

/// Rooms of the user who resumes (and whose rooms `history` reads).
pub const READER_ROOMS: usize = 1000;
/// Accounts that own the rooms (and send their messages).
const OWNERS: usize = 10;
/// Messages each of the reader's rooms got since the reader's position.
const MISSED: u64 = 10;
/// `history` requests measured, after a warm-up of a tenth as many.
const HISTORY_REQUESTS: usize = 2000;
/// Items per history page.
const PAGE: u32 = 50;
/// Reconnects with `resume_rooms` measured.
const RESUMES: usize = 5;

fn frame(request: Request) -> String {
    ClientFrame::new(request).to_json()
}

fn unexpected(what: &str, frame: &ServerFrame) -> LoadError {
    LoadError::Protocol(format!("unexpected answer to {what}: {frame:?}"))
}

fn room_id(id: u64) -> Result<RoomId, LoadError> {
    RoomId::new(id).map_err(|e| LoadError::Config(e.to_string()))
}

/// A small, seeded generator: the same run picks the same rooms and depths.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Owners make the rooms (in parallel); returns every room id.
async fn make_rooms(
    endpoint: &Endpoint,
    tracker: &Rc<Tracker>,
    prefix: &str,
    rooms: usize,
) -> Result<Vec<u64>, LoadError> {
    let per_owner = rooms.div_ceil(OWNERS);
    let made = setup::bounded("owners create rooms", OWNERS, OWNERS, |j| {
        let (endpoint, tracker) = (endpoint.clone(), tracker.clone());
        let prefix = prefix.to_owned();
        let count = per_owner.min(rooms - (j * per_owner).min(rooms));
        async move {
            let conn = Conn::open(&endpoint, usize::MAX - j, tracker).await?;
            setup::register(&conn, &format!("{prefix}o{j}")).await?;
            let mut ids = Vec::with_capacity(count);
            for i in 0..count {
                let name = RoomName::parse(&format!("{prefix}-s{j}-{i}"))
                    .map_err(|e| LoadError::Config(e.to_string()))?;
                let request = Request::CreateRoom {
                    name,
                    visibility: chat_proto::Visibility::Public,
                    topic: None,
                    encrypted: None,
                };
                match conn.request("create_room", frame(request)).await? {
                    ServerFrame::Response {
                        result: Response::Room { room },
                        ..
                    } => ids.push(room.id.get()),
                    other => return Err(unexpected("create_room", &other)),
                }
            }
            conn.close();
            Ok(ids)
        }
    })
    .await?;
    Ok(made.into_iter().flatten().collect())
}

/// Bytes the store takes on disk: (whole database, messages with their indexes if known).
async fn disk_bytes(cluster: &Cluster) -> Result<(u64, Option<u64>), LoadError> {
    if let Some(url) = cluster.node_arg("--database-url") {
        let err = |e: tokio_postgres::Error| LoadError::Server(format!("measuring the database: {e}"));
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(err)?;
        let driver = tokio::task::spawn_local(connection);
        let row = client
            .query_one(
                "SELECT pg_database_size(current_database()), pg_total_relation_size('messages')",
                &[],
            )
            .await
            .map_err(err)?;
        let sizes: (i64, i64) = (row.get(0), row.get(1));
        drop(client);
        let _ = driver.await;
        return Ok((sizes.0 as u64, Some(sizes.1 as u64)));
    }
    let dir = cluster
        .data_dir()
        .ok_or_else(|| LoadError::Config("no data directory".into()))?;
    let mut total = 0;
    for name in ["chat.db", "chat.db-wal", "chat.db-shm"] {
        total += std::fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
    }
    Ok((total, None))
}

/// Writes the messages with the bulk loader, the server stopped.
async fn bulk_load(
    cluster: &Cluster,
    per_room: u64,
    body_bytes: usize,
) -> Result<crate::dataset::Loaded, LoadError> {
    let keys_err = |e: chat_core::keyring::KeyError| LoadError::Config(format!("at-rest keys: {e}"));
    if let Some(url) = cluster.node_arg("--database-url") {
        let text = cluster
            .node_arg("--at-rest-keys")
            .ok_or_else(|| LoadError::Config("the nodes share no at-rest keys".into()))?;
        let keys = KeyRing::parse(&text).map_err(keys_err)?;
        return crate::dataset::load_postgres(&url, &keys, per_room, body_bytes).await;
    }
    let dir = cluster
        .data_dir()
        .ok_or_else(|| LoadError::Config("no data directory".into()))?;
    let keys = KeyRing::load_or_generate(&dir.join(KEY_FILE_NAME)).map_err(keys_err)?;
    let db = dir.join(chat_core::service::DATABASE_FILE_NAME);
    tokio::task::spawn_blocking(move || crate::dataset::load_sqlite(&db, &keys, per_room, body_bytes))
        .await
        .map_err(|e| LoadError::Server(format!("bulk load: {e}")))?
}

/// Reconnects as the reader and resumes every room from `points`: with one `resume_rooms`
/// (then `resume_room` for rooms it left incomplete), or with one `resume_room` per room.
/// The time from the connect to the last item, and the items received.
async fn reconnect_and_resume(
    endpoint: &Endpoint,
    tracker: &Rc<Tracker>,
    token: &str,
    points: &[ResumePoint],
    batched: bool,
) -> Result<(Duration, u64), LoadError> {
    let started = Instant::now();
    let conn = Conn::open(endpoint, 0, tracker.clone()).await?;
    setup::resume_session(&conn, token).await?;
    let mut items = 0u64;
    let mut rest: Vec<ResumePoint> = points.to_vec();
    if batched {
        let request = Request::ResumeRooms {
            rooms: points.to_vec(),
            limit: None,
        };
        let ServerFrame::Response {
            result: Response::ResumedRooms { rooms, unreadable },
            ..
        } = conn.request("resume_rooms", frame(request)).await?
        else {
            return Err(LoadError::Protocol("resume_rooms answered something else".into()));
        };
        if !unreadable.is_empty() {
            return Err(LoadError::Protocol(format!(
                "{} rooms unreadable",
                unreadable.len()
            )));
        }
        rest.clear();
        for (room, point) in rooms.iter().zip(points) {
            check_run(&room.messages, point.after_seq)?;
            items += room.messages.len() as u64;
            if !room.complete {
                let last = room.messages.last().map_or(point.after_seq, |m| m.seq);
                rest.push(ResumePoint {
                    room_id: point.room_id,
                    after_seq: last,
                });
            }
        }
    }
    for point in rest {
        let mut after = point.after_seq;
        loop {
            let request = Request::ResumeRoom {
                room_id: point.room_id,
                after_seq: after,
            };
            let ServerFrame::Response {
                result: Response::Resumed {
                    messages, complete, ..
                },
                ..
            } = conn.request("resume_room", frame(request)).await?
            else {
                return Err(LoadError::Protocol("resume_room answered something else".into()));
            };
            check_run(&messages, after)?;
            items += messages.len() as u64;
            after = messages.last().map_or(after, |m| m.seq);
            if complete || messages.is_empty() {
                break;
            }
        }
    }
    let took = started.elapsed();
    conn.close();
    Ok((took, items))
}

/// Items must follow `after` without a gap.
fn check_run(messages: &[chat_proto::Message], after: u64) -> Result<(), LoadError> {
    for (i, m) in messages.iter().enumerate() {
        if m.seq != after + 1 + i as u64 {
            return Err(LoadError::Protocol(format!(
                "room {}: seq {} where {} was due",
                m.room_id,
                m.seq,
                after + 1 + i as u64
            )));
        }
    }
    Ok(())
}

/// Runs one scale phase.
pub async fn run(cluster: &mut Cluster, plan: &Plan) -> Result<Report, LoadError> {
    let tracker = Rc::new(Tracker::new());
    let prefix = setup::run_prefix();
    let endpoint = cluster.endpoints()[0].clone();
    let rooms = make_rooms(&endpoint, &tracker, &prefix, plan.rooms).await?;
    let per_room = plan.stored_messages / rooms.len() as u64;
    // The reader joins every (rooms / 1,000)th room.
    let step = rooms.len() / READER_ROOMS;
    let reader_rooms: Vec<u64> = rooms
        .iter()
        .step_by(step.max(1))
        .take(READER_ROOMS)
        .copied()
        .collect();
    let reader = Conn::open(&endpoint, 0, tracker.clone()).await?;
    let token = setup::register(&reader, &format!("{prefix}reader")).await?;
    let joined = Instant::now();
    for room in &reader_rooms {
        setup::join(&reader, *room).await?;
    }
    eprintln!(
        "  reader joined {} rooms in {:.1} s",
        reader_rooms.len(),
        joined.elapsed().as_secs_f64()
    );
    reader.close();
    let (empty_bytes, _) = disk_bytes(cluster).await?;

    cluster.halt().await?;
    eprintln!(
        "bulk loading {} messages ({per_room} in each of {} rooms)",
        grouped((per_room * rooms.len() as u64) as f64),
        rooms.len()
    );
    let loaded = bulk_load(cluster, per_room, plan.body_bytes).await?;
    let first_start = cluster.start_again().await?[0];
    cluster.halt().await?;
    let start = cluster.start_again().await?[0];
    let endpoint = cluster.endpoints()[0].clone();
    let (full_bytes, messages_bytes) = disk_bytes(cluster).await?;

    let mut report = Report::new(&plan.title);
    report.line(
        "setup",
        format!(
            "{} rooms owned by {OWNERS} accounts (through the protocol); {} messages of {} bytes by the bulk loader in {:.0} s ({:.0}/s); a reader in {} rooms",
            grouped(rooms.len() as f64),
            grouped(loaded.messages as f64),
            plan.body_bytes,
            loaded.secs,
            loaded.messages as f64 / loaded.secs.max(1e-9),
            reader_rooms.len()
        ),
    );
    report.figure(
        "start_secs",
        "server start on the full store",
        start.as_secs_f64(),
        format!(
            "{:.2} s (the first start after the load: {:.2} s)",
            start.as_secs_f64(),
            first_start.as_secs_f64()
        ),
    );
    let per_message = full_bytes.saturating_sub(empty_bytes) as f64 / loaded.messages.max(1) as f64;
    report.figure(
        "bytes_per_message",
        "bytes on disk per stored message",
        per_message,
        format!(
            "{per_message:.0} (database {:.2} GiB{})",
            full_bytes as f64 / (1u64 << 30) as f64,
            messages_bytes.map_or(String::new(), |b| format!(
                ", of which the messages table with its indexes {:.2} GiB",
                b as f64 / (1u64 << 30) as f64
            ))
        ),
    );

    // History pages at random depths, one request at a time.
    let last_seq = 2 + per_room;
    let reader = Conn::open(&endpoint, 0, tracker.clone()).await?;
    setup::resume_session(&reader, &token).await?;
    let mut random = Lcg(0x5eed ^ rooms.len() as u64);
    let mut latency = crate::track::histogram(60_000_000);
    let before = sample_all(cluster)?;
    for i in 0..HISTORY_REQUESTS + HISTORY_REQUESTS / 10 {
        let room = reader_rooms[random.below(reader_rooms.len() as u64) as usize];
        let before_seq = 1 + random.below(last_seq) + 1;
        let request = Request::History {
            room_id: room_id(room)?,
            before_seq: Some(before_seq),
            after_seq: None,
            limit: PAGE,
        };
        let sent = Instant::now();
        let answer = reader.request("history", frame(request)).await?;
        let took = sent.elapsed();
        let ServerFrame::Response {
            result: Response::Messages { messages, .. },
            ..
        } = answer
        else {
            return Err(unexpected("history", &answer));
        };
        let want = (before_seq - 1).min(u64::from(PAGE));
        if messages.len() as u64 != want || messages.last().is_some_and(|m| m.seq != before_seq - 1) {
            return Err(LoadError::Protocol(format!(
                "history before {before_seq} gave {} items",
                messages.len()
            )));
        }
        if i >= HISTORY_REQUESTS / 10 {
            let _ = latency.record(took.as_micros().max(1) as u64);
        }
    }
    let after = sample_all(cluster)?;
    reader.close();
    report.latency(
        &format!("history page of {PAGE} at a random depth, one at a time"),
        "history_p99_ms",
        &latency,
    );
    report.line(
        "server during the history requests",
        format!(
            "CPU {:.0}% of a core",
            after.0[0].cpu_share_since(&before.0[0]) * 100.0
        ),
    );

    // The reader comes back having missed the last MISSED messages of each room.
    let points: Vec<ResumePoint> = reader_rooms
        .iter()
        .map(|r| {
            Ok(ResumePoint {
                room_id: room_id(*r)?,
                after_seq: last_seq - MISSED.min(per_room),
            })
        })
        .collect::<Result<_, LoadError>>()?;
    let expected = points.len() as u64 * MISSED.min(per_room);
    let mut times = Vec::new();
    for _ in 0..RESUMES {
        let (took, items) = reconnect_and_resume(&endpoint, &tracker, &token, &points, true).await?;
        if items != expected {
            return Err(LoadError::Protocol(format!(
                "resumed {items} items of {expected}"
            )));
        }
        times.push(took);
    }
    times.sort();
    let (one_by_one, items) = reconnect_and_resume(&endpoint, &tracker, &token, &points, false).await?;
    if items != expected {
        return Err(LoadError::Protocol(format!(
            "resumed {items} items of {expected}"
        )));
    }
    let median = times[times.len() / 2];
    report.figure(
        "resume_rooms_secs",
        &format!(
            "reconnect + resume {} rooms ({} items) with resume_rooms",
            points.len(),
            grouped(expected as f64)
        ),
        median.as_secs_f64(),
        format!(
            "median {:.3} s, max {:.3} s of {RESUMES}",
            median.as_secs_f64(),
            times[times.len() - 1].as_secs_f64()
        ),
    );
    report.figure(
        "resume_room_each_secs",
        "the same with one resume_room per room",
        one_by_one.as_secs_f64(),
        format!(
            "{:.3} s ({:.1}x; at the default 50 requests/s per connection it could not take less than {:.0} s)",
            one_by_one.as_secs_f64(),
            one_by_one.as_secs_f64() / median.as_secs_f64().max(1e-9),
            (points.len().saturating_sub(100)) as f64 / 50.0
        ),
    );
    if plan.servers != Servers::Embedded {
        report.line("store", "PostgreSQL (one node; Redis for fan-out)");
    }
    Ok(report)
}
