//! The connection supervisor: one task per client that makes connections when requests need
//! them, re-establishes lost ones with backoff, re-authenticates with the session token, and
//! resumes every room so that no message is missed or shown twice (all rooms in one
//! `resume_rooms` request, then `resume_room` for the few it leaves incomplete). A `resync`
//! event from the server (it may have failed to deliver events to this connection) resumes
//! every room the same way without reconnecting.

use std::sync::Arc;
use std::time::Duration;

use chat_proto::{ErrorCode, MAX_RESUME_ROOMS, Request, Response, ResumePoint, RoomId, Seq, close};
use tokio::sync::mpsc;

use crate::connection::Conn;
use crate::error::{ClientError, ConnectError, ConnectStage};
use crate::events::{ClientEvent, lock};
use crate::shared::Shared;
use crate::state::ConnectionState;
use crate::transport;

/// What the client asks of the supervisor.
#[derive(Debug)]
pub(crate) enum Command {
    /// A request needs the server: connect, or retry now with a fresh count of attempts.
    Connect,
    /// Logout: close the connection and stay disconnected.
    Disconnect,
}

/// How long a gap between live messages may last before the client asks the server to fill
/// it: an answer to our own send can overtake the event of a message sent just before it.
const GAP_GRACE: Duration = Duration::from_millis(300);

pub(crate) async fn run(shared: Arc<Shared>, mut commands: mpsc::UnboundedReceiver<Command>) {
    loop {
        let command = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            command = commands.recv() => command,
        };
        match command {
            None => break,
            Some(Command::Disconnect) => shared.set_state(ConnectionState::Disconnected),
            Some(Command::Connect) => {
                if !run_round(&shared, &mut commands).await {
                    break;
                }
            }
        }
    }
    shared.uninstall();
    shared.set_state(ConnectionState::Disconnected);
}

/// How a wait between attempts ended.
enum Wake {
    Elapsed,
    Connect,
    Disconnect,
    Shutdown,
}

async fn sleep_or_command(
    shared: &Shared,
    delay: Duration,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Wake {
    tokio::select! {
        _ = shared.shutdown.cancelled() => Wake::Shutdown,
        _ = tokio::time::sleep(delay) => Wake::Elapsed,
        command = commands.recv() => match command {
            Some(Command::Connect) => Wake::Connect,
            Some(Command::Disconnect) => Wake::Disconnect,
            None => Wake::Shutdown,
        },
    }
}

/// Connects, serves, and reconnects until the client is idle again (disconnected or failed).
/// Returns false when the client shuts down.
async fn run_round(shared: &Arc<Shared>, commands: &mut mpsc::UnboundedReceiver<Command>) -> bool {
    let policy = shared.config.reconnect.clone();
    // With a session, connecting is re-connecting: bounded attempts with backoff. Without
    // one (login, register), one attempt whose failure goes straight back to the caller.
    let mut reconnecting = shared.has_session();
    let mut attempt: u32 = 0;
    let mut delay = false;
    if reconnecting {
        shared.new_round(ConnectionState::Reconnecting { attempt: 1 });
    } else {
        shared.new_round(ConnectionState::Connecting);
    }
    loop {
        if reconnecting {
            attempt += 1;
            shared.set_state(ConnectionState::Reconnecting { attempt });
            if delay {
                match sleep_or_command(shared, policy.delay(attempt), commands).await {
                    Wake::Elapsed => {}
                    Wake::Shutdown => return false,
                    Wake::Disconnect => {
                        shared.set_state(ConnectionState::Disconnected);
                        return true;
                    }
                    Wake::Connect => {
                        // A user action: start counting again and try right away.
                        attempt = 1;
                        shared.new_round(ConnectionState::Reconnecting { attempt });
                    }
                }
            }
        }
        let result = tokio::select! {
            _ = shared.shutdown.cancelled() => return false,
            result = establish(shared) => result,
        };
        match result {
            Ok(conn) => {
                if reconnecting && !shared.has_session() {
                    // Logged out while the attempt ran.
                    conn.close(close::NORMAL, "logged out").await;
                    shared.set_state(ConnectionState::Disconnected);
                    return true;
                }
                shared.install(conn.clone());
                let end = serve(shared, &conn, commands).await;
                shared.uninstall();
                match end {
                    ServeEnd::Shutdown => {
                        conn.close(close::NORMAL, "client shutting down").await;
                        return false;
                    }
                    ServeEnd::Disconnect => {
                        conn.close(close::NORMAL, "logged out").await;
                        shared.set_state(ConnectionState::Disconnected);
                        return true;
                    }
                    ServeEnd::Lost => {}
                }
                if let Some(info) = conn.close_info().filter(|i| i.code == close::SESSION_ENDED) {
                    shared.session_ended(info.reason);
                    return true;
                }
                if !shared.has_session() {
                    shared.set_state(ConnectionState::Disconnected);
                    return true;
                }
                tracing::info!(close = ?conn.close_info(), "connection lost; reconnecting");
                reconnecting = true;
                attempt = 0;
                delay = true;
                shared.new_round(ConnectionState::Reconnecting { attempt: 1 });
            }
            Err(ConnectError::SessionRejected(reason)) => {
                shared.session_ended(reason);
                return true;
            }
            Err(reason) => {
                tracing::debug!(%reason, attempt, "connection attempt failed");
                let attempts = attempt.max(1);
                if !reconnecting || !policy.allows(attempt + 1) {
                    shared.set_state(ConnectionState::Failed {
                        reason: reason.clone(),
                        attempts,
                    });
                    if reconnecting {
                        tracing::warn!(%reason, attempts, "reconnect policy exhausted; waiting for the application");
                        shared
                            .hub
                            .publish(ClientEvent::ReconnectGaveUp { attempts, reason });
                    }
                    return true;
                }
                delay = true;
            }
        }
    }
}

/// Opens a connection and, when there is a session, re-authenticates it with the token.
async fn establish(shared: &Arc<Shared>) -> Result<Arc<Conn>, ConnectError> {
    let config = &shared.config;
    let conn = transport::connect(config, shared.event_sink()).await?;
    conn.spawn_keepalive(config.keepalive_interval, config.request_timeout);
    let token = lock(&shared.session).as_ref().map(|s| s.token.clone());
    let Some(token) = token else { return Ok(conn) };
    let failure = match conn
        .request(Request::ResumeSession { token }, config.connect_timeout)
        .await
    {
        Ok(Response::Session(info)) => {
            if let Some(session) = lock(&shared.session).as_mut() {
                session.expires_at = info.expires_at;
            }
            // The end-to-end encryption device is named on every connection, before the
            // outbox may send on it.
            match crate::e2ee::use_device_on(shared, &conn).await {
                Ok(()) => shared.e2ee.push(crate::e2ee::Input::Connected),
                Err(error) => tracing::warn!(%error, "cannot use the encryption device on this connection"),
            }
            return Ok(conn);
        }
        Ok(_) => ConnectError::Protocol("unexpected answer to resume_session".into()),
        Err(ClientError::Server(body)) if body.code == ErrorCode::InvalidSession => {
            ConnectError::SessionRejected(body.message)
        }
        Err(ClientError::Server(body)) => ConnectError::Server(body),
        Err(ClientError::Timeout(_)) => ConnectError::Timeout {
            stage: ConnectStage::Resume,
            after: config.connect_timeout,
        },
        Err(e) => ConnectError::Network(format!("while resuming the session: {e}")),
    };
    conn.close(close::NORMAL, "").await;
    Err(failure)
}

enum ServeEnd {
    Lost,
    Disconnect,
    Shutdown,
}

/// Runs while the connection lives: resumes every room, then fills gaps as they appear and
/// resumes every room again whenever the server asks for a resync.
async fn serve(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> ServeEnd {
    let filler = async {
        resume_all(shared, conn).await;
        loop {
            let resync = tokio::select! {
                _ = shared.gap.notified() => false,
                _ = shared.resync.notified() => true,
            };
            if resync {
                tracing::info!("server asked for a resync; resuming every room");
                resume_all(shared, conn).await;
                continue;
            }
            tokio::time::sleep(GAP_GRACE).await;
            let gaps: Vec<RoomId> = lock(&shared.rooms).gaps().into_iter().map(|(r, _)| r).collect();
            let _ = fill_rooms(shared, conn, gaps).await;
        }
    };
    tokio::pin!(filler);
    loop {
        tokio::select! {
            _ = conn.closed() => return ServeEnd::Lost,
            _ = shared.shutdown.cancelled() => return ServeEnd::Shutdown,
            command = commands.recv() => match command {
                Some(Command::Connect) => {}
                Some(Command::Disconnect) => return ServeEnd::Disconnect,
                None => return ServeEnd::Shutdown,
            },
            _ = &mut filler => {}
        }
    }
}

/// Resumes every tracked room from its last delivered seq: `resume_rooms` for up to
/// [`MAX_RESUME_ROOMS`] rooms at a time, then `resume_room` for each room it left
/// incomplete. A server without `resume_rooms` gets a `resume_room` per room.
async fn resume_all(shared: &Shared, conn: &Conn) {
    let points = lock(&shared.rooms).resume_points();
    for chunk in points.chunks(MAX_RESUME_ROOMS) {
        let rest = match resume_many(shared, conn, chunk).await {
            Ok(rest) => rest,
            Err(ClientError::Server(e)) if e.code == ErrorCode::UnknownType => {
                chunk.iter().map(|(room, _)| *room).collect()
            }
            Err(e) => {
                tracing::debug!(error = %e, "resume_rooms failed");
                return;
            }
        };
        if !fill_rooms(shared, conn, rest).await {
            return;
        }
    }
}

/// One `resume_rooms` for `points`: delivers what came, stops tracking the rooms the
/// server says are not ours, and returns the rooms to continue with `resume_room` (cut
/// short, or with a gap left behind).
async fn resume_many(
    shared: &Shared,
    conn: &Conn,
    points: &[(RoomId, Seq)],
) -> Result<Vec<RoomId>, ClientError> {
    let request = Request::ResumeRooms {
        rooms: points
            .iter()
            .map(|&(room_id, after_seq)| ResumePoint { room_id, after_seq })
            .collect(),
        limit: None,
    };
    let Response::ResumedRooms { rooms, unreadable } =
        conn.request(request, shared.config.request_timeout).await?
    else {
        return Err(ClientError::UnexpectedResponse {
            expected: "resumed_rooms",
        });
    };
    for room in unreadable {
        // Left (or lost) the room while away.
        lock(&shared.rooms).untrack(room);
        shared.with_snapshot(|s| s.remove_room(room));
    }
    let mut rest = Vec::new();
    for resumed in rooms {
        let (room, complete) = (resumed.room_id, resumed.complete);
        shared.offer(resumed.messages);
        let gap_left = lock(&shared.rooms).gaps().iter().any(|(r, _)| *r == room);
        if !complete || gap_left {
            rest.push(room);
        }
    }
    Ok(rest)
}

/// Fills the given rooms one after the other, stopping at the first failure (the connection
/// is probably going; the next one resumes everything). Whether all went well.
async fn fill_rooms(shared: &Shared, conn: &Conn, rooms: Vec<RoomId>) -> bool {
    for room in rooms {
        if fill_room(shared, conn, room).await.is_err() {
            return false;
        }
    }
    true
}

/// Asks for everything after the room's position, page by page, until the server says the
/// room is complete. A gap that a complete answer leaves twice in a row does not exist on the
/// server, and what waits behind it is delivered.
async fn fill_room(shared: &Shared, conn: &Conn, room: RoomId) -> Result<(), ClientError> {
    let mut empty_complete = 0;
    loop {
        let Some(after_seq) = lock(&shared.rooms).position(room) else {
            return Ok(());
        };
        let request = Request::ResumeRoom {
            room_id: room,
            after_seq,
        };
        match conn.request(request, shared.config.request_timeout).await {
            Ok(Response::Resumed {
                messages, complete, ..
            }) => {
                let progressed = !messages.is_empty();
                shared.offer(messages);
                if !complete && progressed {
                    continue;
                }
                let gap_left = lock(&shared.rooms).gaps().iter().any(|(r, _)| *r == room);
                if !gap_left {
                    return Ok(());
                }
                empty_complete += 1;
                if empty_complete >= 2 {
                    tracing::warn!(%room, after_seq, "server has no messages for a gap; skipping it");
                    shared.close_gap(room);
                    return Ok(());
                }
            }
            Ok(_) => return Err(ClientError::UnexpectedResponse { expected: "resumed" }),
            Err(ClientError::Server(e)) if matches!(e.code, ErrorCode::NotMember | ErrorCode::NotFound) => {
                // Left (or lost) the room while away.
                lock(&shared.rooms).untrack(room);
                shared.with_snapshot(|s| s.remove_room(room));
                return Ok(());
            }
            Err(e) => {
                tracing::debug!(%room, error = %e, "resume failed");
                return Err(e);
            }
        }
    }
}
