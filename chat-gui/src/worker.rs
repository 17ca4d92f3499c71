//! The task that runs the client library for the UI: it turns [`Command`]s into client
//! calls (each on its own task, so a slow one never holds up the others) and forwards the
//! client's events and connection states as [`Update`]s.
//!
//! Messages are the exception: each goes into the client library's outbox right here, in the
//! order the commands arrive, before anything is awaited; the outbox stores them in that
//! order, across reconnects and restarts, and reports with events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chat_client_lib::{Client, ClientConfig, ClientError, ConnectionState, HistoryFrom};
use chat_proto::{RoomId, Seq};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::backend::{
    BackendConfig, Command, Connection, Op, Outcome, ServerAddress, Snapshot, Update, UpdateSink,
};
use crate::reasons::{connect, describe};

/// Messages loaded per page of history.
const PAGE: u32 = 50;

/// Runs until the UI drops its command sender.
pub(crate) async fn run(config: BackendConfig, mut commands: UnboundedReceiver<Command>, sink: UpdateSink) {
    // Forwarders of an earlier client stop reporting once a newer client exists.
    let generation = Arc::new(AtomicU64::new(0));
    let mut client: Option<Client> = None;
    while let Some(command) = commands.recv().await {
        let op = command.op();
        match command {
            Command::Login {
                server,
                username,
                password,
                register,
            } => match new_client(&config, &server) {
                Ok(fresh) => {
                    let this_generation = generation.fetch_add(1, Ordering::SeqCst) + 1;
                    forward(&fresh, &sink, &generation, this_generation);
                    client = Some(fresh.clone());
                    let sink = sink.clone();
                    tokio::spawn(async move {
                        let result = login(&fresh, username.as_str(), password.as_str(), register).await;
                        sink.push(Update::Done { op, result });
                    });
                }
                Err(reason) => sink.push(Update::Done {
                    op,
                    result: Err(reason),
                }),
            },
            Command::Send {
                room,
                client_msg_id,
                body,
            } => {
                let handle = match &client {
                    Some(client) => client.send_with_id(room, client_msg_id, body.as_str()),
                    None => {
                        chat_client_lib::SendHandle::from_error(room, client_msg_id, ClientError::NotLoggedIn)
                    }
                };
                if let chat_client_lib::SendState::Failed(e) = handle.state() {
                    sink.push(Update::Done {
                        op,
                        result: Err(describe(&e)),
                    });
                }
            }
            Command::Shutdown(done) => {
                if let Some(client) = client.take()
                    && let Err(e) = client.shutdown().await
                {
                    tracing::warn!(error = %e, "cannot save the offline cache at exit");
                }
                let _ = done.send(());
            }
            other => match &client {
                Some(client) => {
                    let (client, sink) = (client.clone(), sink.clone());
                    tokio::spawn(async move {
                        let result = call(&client, other).await.map_err(|e| describe(&e));
                        if op != Op::Background {
                            sink.push(Update::Done { op, result });
                        }
                    });
                }
                None if op != Op::Background => sink.push(Update::Done {
                    op,
                    result: Err("You are not logged in".to_owned()),
                }),
                None => {}
            },
        }
    }
}

/// A client for the server in the login form.
fn new_client(config: &BackendConfig, server: &ServerAddress) -> Result<Client, String> {
    let url = if server.url.contains("://") {
        server.url.clone()
    } else {
        format!("wss://{}", server.url)
    };
    let mut client_config = ClientConfig::new(url)
        .with_cache_dir(&config.cache_dir)
        .with_connect_timeout(config.connect_timeout)
        .with_request_timeout(config.request_timeout)
        .with_reconnect(config.reconnect.clone());
    let trust = server.fingerprint.trim();
    if std::path::Path::new(trust).is_file() {
        client_config = client_config.with_certificate_file(trust);
    } else if !trust.is_empty() {
        client_config = client_config
            .with_fingerprint(trust)
            .map_err(|e| format!("That certificate fingerprint cannot be used: {e}"))?;
    }
    Ok(Client::new(client_config))
}

/// Sends the client's events and connection states to the UI while `generation_no` is current.
fn forward(client: &Client, sink: &UpdateSink, current: &Arc<AtomicU64>, generation_no: u64) {
    let mut events = client.events();
    let (events_sink, events_current) = (sink.clone(), current.clone());
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if events_current.load(Ordering::SeqCst) != generation_no {
                break;
            }
            events_sink.push(Update::Event(event));
        }
    });
    let mut states = client.state();
    let (state_sink, state_current) = (sink.clone(), current.clone());
    tokio::spawn(async move {
        while let Some(state) = states.next_state().await {
            if state_current.load(Ordering::SeqCst) != generation_no {
                break;
            }
            state_sink.push(Update::Connection(connection(&state)));
        }
    });
}

/// The banner's view of a connection state.
fn connection(state: &ConnectionState) -> Connection {
    match state {
        ConnectionState::Connecting => Connection::Connecting,
        ConnectionState::Connected => Connection::Online,
        ConnectionState::Reconnecting { attempt } => Connection::Reconnecting { attempt: *attempt },
        ConnectionState::Failed { reason, .. } => Connection::Offline {
            reason: connect(reason),
        },
        _ => Connection::Idle,
    }
}

/// Logs in or registers. When the server cannot be reached but the offline cache opened
/// with the password, the cached chats are shown read-only.
async fn login(client: &Client, username: &str, password: &str, register: bool) -> Result<Outcome, String> {
    let result = if register {
        client.register(username, password).await
    } else {
        client.login(username, password).await
    };
    let offline = matches!(
        result,
        Err(ClientError::Connect(_) | ClientError::Timeout(_) | ClientError::ConnectionLost)
    );
    match result {
        Ok(session) => Ok(Outcome::LoggedIn {
            user: session.user,
            cached: snapshot(client),
            offline: false,
            queued: client
                .outbox()
                .iter()
                .filter_map(|h| h.entry().cloned())
                .collect(),
        }),
        Err(e) => match client.cached_snapshot() {
            Some(cached) if offline && !register => Ok(Outcome::LoggedIn {
                user: cached.user.clone(),
                cached: snapshot(client),
                offline: true,
                queued: Vec::new(),
            }),
            _ => Err(describe(&e)),
        },
    }
}

/// The client's cached chats in the UI's terms.
fn snapshot(client: &Client) -> Snapshot {
    let Some(cached) = client.cached_snapshot() else {
        return Snapshot::default();
    };
    let mut snapshot = Snapshot::default();
    for room in cached.rooms {
        let id = room.summary.room.id;
        snapshot.rooms.push(room.summary);
        snapshot.messages.push((id, room.messages));
        snapshot.members.push((id, room.members));
    }
    snapshot
}

/// Makes one call of the client library.
async fn call(client: &Client, command: Command) -> Result<Outcome, ClientError> {
    Ok(match command {
        Command::Logout => {
            client.logout().await?;
            Outcome::LoggedOut
        }
        Command::ListRooms => Outcome::Rooms(client.list_rooms().await?),
        Command::OpenRoom(room) => open_room(client, room).await?,
        Command::LoadOlder(room, before) => page(client, room, before).await?,
        Command::MarkRead(room, seq) => {
            client.mark_read(room, seq).await?;
            Outcome::Ok
        }
        Command::Typing(room) => {
            client.typing(room).await?;
            Outcome::Ok
        }
        Command::CreateRoom(name) => Outcome::Room(client.create_room(name.as_str()).await?),
        Command::JoinRoom(room) => Outcome::Room(client.join_room(room).await?),
        Command::OpenDirect(user) => Outcome::Room(client.open_direct(user.as_str()).await?),
        Command::LeaveRoom(room) => {
            client.leave_room(room).await?;
            Outcome::Ok
        }
        // Handled by the loop.
        Command::Login { .. } | Command::Send { .. } | Command::Shutdown(_) => Outcome::Ok,
    })
}

/// The newest page of a room together with its members.
async fn open_room(client: &Client, room: RoomId) -> Result<Outcome, ClientError> {
    let (page, members) = tokio::join!(
        client.history(room, HistoryFrom::Latest, PAGE),
        client.members(room)
    );
    let page = page?;
    Ok(Outcome::History {
        room,
        messages: page.messages,
        has_more: page.has_more,
        members: members.ok(),
    })
}

/// The page before `before`.
async fn page(client: &Client, room: RoomId, before: Seq) -> Result<Outcome, ClientError> {
    let page = client.history(room, HistoryFrom::Before(before), PAGE).await?;
    Ok(Outcome::History {
        room,
        messages: page.messages,
        has_more: page.has_more,
        members: None,
    })
}
