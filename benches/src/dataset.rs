//! The bulk loader of the scale scenario: millions of stored messages in a store that the
//! server already set up (accounts, rooms and memberships made through the protocol), written
//! straight into the database in exactly the form the server stores them, much faster than
//! sending them one by one.
//!
//! What "exactly" means: each message is a `text` item sealed with the server's own at-rest
//! key ring ([`KeyRing::seal`], XChaCha20-Poly1305 with the row's associated data, a random
//! nonce), sent by the room's owner under a fresh client message id (a UUID v4), with the
//! room's next sequence number and message count (`counted`); afterwards each room's
//! `last_seq` and `message_count` and the owner's read marker (`last_read_seq`,
//! `read_count`) are moved as the server's send moves them. Messages are written round-robin
//! over the rooms (message 1 of every room, then message 2, ...), as many rooms sending at
//! once would interleave them, so that one room's history is spread over the table rather
//! than packed together. The server reads them back with its usual code (history pages are
//! opened and decrypted for every measured request).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use chat_core::keyring::KeyRing;
use chat_proto::{ClientMsgId, RoomId, UserId};

use crate::error::LoadError;

/// One room to fill: its id, its owner (the sender), and its counters before the load.
#[derive(Clone, Copy, Debug)]
struct Room {
    id: i64,
    owner: i64,
    last_seq: i64,
    message_count: i64,
}

/// A message body of `bytes` bytes that says where it belongs.
fn body(room: usize, k: u64, bytes: usize) -> Vec<u8> {
    let mut text = format!("stored message {k} of room {room} ");
    while text.len() < bytes {
        text.push('.');
    }
    text.truncate(bytes);
    text.into_bytes()
}

/// One message's sealed row: (client message id, key id, nonce, ciphertext).
fn seal(
    keys: &KeyRing,
    room: &Room,
    index: usize,
    k: u64,
    body_bytes: usize,
) -> (ClientMsgId, u32, Vec<u8>, Vec<u8>) {
    let cid = ClientMsgId::random();
    let (room_id, sender) = (
        RoomId::new(room.id as u64).unwrap_or_else(|_| unreachable!("rooms ids are positive")),
        UserId::new(room.owner as u64).unwrap_or_else(|_| unreachable!("user ids are positive")),
    );
    let sealed = keys.seal(room_id, sender, &cid, &body(index, k, body_bytes));
    (cid, sealed.key_id, sealed.nonce, sealed.ciphertext)
}

/// The wall clock in milliseconds since the Unix epoch, as the server stamps `sent_at`.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How the load went.
#[derive(Clone, Copy, Debug)]
pub struct Loaded {
    /// Messages written.
    pub messages: u64,
    /// Seconds it took.
    pub secs: f64,
}

fn progress(done: u64, total: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "  bulk load: {done}/{total} messages in {secs:.0} s ({:.0}/s)",
        done as f64 / secs.max(1e-9)
    );
}

const ROOMS_SQL: &str = "SELECT id, created_by, last_seq, message_count FROM rooms ORDER BY id";
const COUNTERS_SQL: &str = "UPDATE rooms SET last_seq = last_seq + $1, message_count = message_count + $1";
const MARKERS_SQL: &str = "UPDATE members SET last_read_seq = r.last_seq, read_count = r.message_count
     FROM rooms r WHERE members.room_id = r.id AND members.user_id = r.created_by";

/// Fills every room of the SQLite database at `path` (the server stopped) with
/// `per_room` messages.
pub fn load_sqlite(
    path: &Path,
    keys: &KeyRing,
    per_room: u64,
    body_bytes: usize,
) -> Result<Loaded, LoadError> {
    let err = |e: rusqlite::Error| LoadError::Server(format!("bulk load (SQLite): {e}"));
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    // The server's file, written by one process while the server is stopped; durability of
    // the load itself does not matter (it is synced once at the end by the checkpoint).
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000;")
        .map_err(err)?;
    let rooms: Vec<Room> = {
        let mut stmt = conn.prepare(ROOMS_SQL).map_err(err)?;
        stmt.query_map([], |r| {
            Ok(Room {
                id: r.get(0)?,
                owner: r.get(1)?,
                last_seq: r.get(2)?,
                message_count: r.get(3)?,
            })
        })
        .and_then(|it| it.collect())
        .map_err(err)?
    };
    let total = per_room * rooms.len() as u64;
    let now = now_ms();
    let mut done = 0u64;
    for k in 1..=per_room {
        let tx = conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext,
                         sent_at, kind, notice, counted, device_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'text', NULL, ?9, NULL)",
                )
                .map_err(err)?;
            for (index, room) in rooms.iter().enumerate() {
                let (cid, key_id, nonce, ciphertext) = seal(keys, room, index, k, body_bytes);
                let sent_at = now - (per_room - k) as i64 * 1000;
                insert
                    .execute(rusqlite::params![
                        room.id,
                        room.last_seq + k as i64,
                        room.owner,
                        cid.to_string(),
                        key_id,
                        nonce,
                        ciphertext,
                        sent_at,
                        room.message_count + k as i64,
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        done += rooms.len() as u64;
        if k % 50 == 0 {
            progress(done, total, started);
        }
    }
    let tx = conn.transaction().map_err(err)?;
    tx.execute(&COUNTERS_SQL.replace("$1", "?1"), [per_room as i64])
        .map_err(err)?;
    tx.execute(MARKERS_SQL, []).map_err(err)?;
    tx.commit().map_err(err)?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(err)?;
    progress(done, total, started);
    Ok(Loaded {
        messages: done,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Fills every room of the PostgreSQL database at `url` with `per_room` messages, with
/// `COPY` (text format).
pub async fn load_postgres(
    url: &str,
    keys: &KeyRing,
    per_room: u64,
    body_bytes: usize,
) -> Result<Loaded, LoadError> {
    use futures::SinkExt;
    let err = |e: tokio_postgres::Error| LoadError::Server(format!("bulk load (PostgreSQL): {e}"));
    let started = Instant::now();
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(err)?;
    let driver = tokio::task::spawn_local(connection);
    let rooms: Vec<Room> = client
        .query(ROOMS_SQL, &[])
        .await
        .map_err(err)?
        .iter()
        .map(|r| Room {
            id: r.get(0),
            owner: r.get(1),
            last_seq: r.get(2),
            message_count: r.get(3),
        })
        .collect();
    let total = per_room * rooms.len() as u64;
    let now = now_ms();
    let tx = client.transaction().await.map_err(err)?;
    let sink = tx
        .copy_in(
            "COPY messages (room_id, seq, sender_id, client_msg_id, key_id, nonce, ciphertext, sent_at, kind,
                 notice, counted, device_id) FROM STDIN",
        )
        .await
        .map_err(err)?;
    let mut sink = std::pin::pin!(sink);
    let mut done = 0u64;
    let mut chunk = String::with_capacity(1 << 21);
    for k in 1..=per_room {
        for (index, room) in rooms.iter().enumerate() {
            let (cid, key_id, nonce, ciphertext) = seal(keys, room, index, k, body_bytes);
            let sent_at = now - (per_room - k) as i64 * 1000;
            let _ = writeln!(
                chunk,
                "{}\t{}\t{}\t{cid}\t{key_id}\t\\\\x{}\t\\\\x{}\t{sent_at}\ttext\t\\N\t{}\t\\N",
                room.id,
                room.last_seq + k as i64,
                room.owner,
                hex::encode(nonce),
                hex::encode(ciphertext),
                room.message_count + k as i64,
            );
            if chunk.len() >= 1 << 20 {
                sink.send(bytes::Bytes::from(std::mem::take(&mut chunk)))
                    .await
                    .map_err(err)?;
                chunk.reserve(1 << 21);
            }
        }
        done += rooms.len() as u64;
        if k % 50 == 0 {
            progress(done, total, started);
        }
    }
    if !chunk.is_empty() {
        sink.send(bytes::Bytes::from(chunk)).await.map_err(err)?;
    }
    sink.as_mut().finish().await.map_err(err)?;
    tx.execute(COUNTERS_SQL, &[&(per_room as i64)])
        .await
        .map_err(err)?;
    tx.execute(MARKERS_SQL, &[]).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    client
        .batch_execute("VACUUM ANALYZE messages")
        .await
        .map_err(err)?;
    drop(client);
    let _ = driver.await;
    progress(done, total, started);
    Ok(Loaded {
        messages: done,
        secs: started.elapsed().as_secs_f64(),
    })
}
