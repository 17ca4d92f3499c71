//! The task that runs the client library for the UI: it turns [`Command`]s into client
//! calls (each on its own task, so a slow one never holds up the others) and forwards the
//! client's events and connection states as [`Update`]s.
//!
//! Messages are the exception: each goes into the client library's outbox right here, in the
//! order the commands arrive, before anything is awaited; the outbox stores them in that
//! order, across reconnects and restarts, and reports with events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chat_client_lib::{
    Client, ClientConfig, ClientError, ConnectError, ConnectionState, HistoryFrom, StoreKey,
};
use chat_proto::{Role, RoomId, Seq, Username};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::backend::{
    BackendConfig, Command, Connection, Moderation, Op, Outcome, ServerAddress, Snapshot, Update, UpdateSink,
};
use crate::reasons::{connect, describe};
use crate::secrets::{SavedSession, SecretStore, account};

/// Messages loaded per page of history.
const PAGE: u32 = 50;
/// Rooms per page of the directory.
const DIRECTORY_PAGE: u32 = 20;

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
                    let secrets = config.secrets.clone();
                    tokio::spawn(async move {
                        let (result, token) =
                            login(&fresh, username.as_str(), password.as_str(), register).await;
                        if let Some(token) = token {
                            remember_session(&fresh, token, &secrets, &server, &username).await;
                        }
                        sink.push(Update::Done { op, result });
                    });
                }
                Err(reason) => sink.push(Update::Done {
                    op,
                    result: Err(reason),
                }),
            },
            Command::Resume { server, username } => {
                let secrets = config.secrets.clone();
                let saved = load_session(&secrets, &server, &username).await;
                let Some(saved) = saved else {
                    sink.push(Update::Done {
                        op,
                        result: Err(String::new()),
                    });
                    continue;
                };
                match new_client(&config, &server) {
                    Ok(fresh) => {
                        let this_generation = generation.fetch_add(1, Ordering::SeqCst) + 1;
                        forward(&fresh, &sink, &generation, this_generation);
                        client = Some(fresh.clone());
                        let sink = sink.clone();
                        tokio::spawn(async move {
                            let result = resume(&fresh, &username, &saved).await;
                            if result.is_err() {
                                forget_session(&secrets, &server, &username).await;
                            }
                            sink.push(Update::Done { op, result });
                        });
                    }
                    Err(reason) => sink.push(Update::Done {
                        op,
                        result: Err(reason),
                    }),
                }
            }
            Command::Logout { server } => {
                if let Some(user) = client.as_ref().and_then(Client::user) {
                    forget_session(&config.secrets, &server, &user.username).await;
                }
                match &client {
                    Some(client) => {
                        let (client, sink) = (client.clone(), sink.clone());
                        tokio::spawn(async move {
                            let result = client.logout().await.map(|_| Outcome::LoggedOut);
                            sink.push(Update::Done {
                                op,
                                result: result.map_err(|e| describe(&e)),
                            });
                        });
                    }
                    None => sink.push(Update::Done {
                        op,
                        result: Ok(Outcome::LoggedOut),
                    }),
                }
            }
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
        .with_reconnect(config.reconnect.clone())
        // What the devices page and the people this user chats with see.
        .with_device_name("Desktop app");
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

/// Logs in or registers; with the session token when the server accepted the password.
/// When the server cannot be reached but the offline cache opened with the password, the
/// cached chats are shown read-only.
async fn login(
    client: &Client,
    username: &str,
    password: &str,
    register: bool,
) -> (Result<Outcome, String>, Option<String>) {
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
        Ok(session) => {
            let outcome = Outcome::LoggedIn {
                user: session.user,
                cached: snapshot(client),
                offline: false,
                queued: queued(client),
            };
            (Ok(outcome), Some(session.token.as_str().to_owned()))
        }
        Err(e) => match client.cached_snapshot() {
            Some(cached) if offline && !register => {
                let outcome = Outcome::LoggedIn {
                    user: cached.user.clone(),
                    cached: snapshot(client),
                    offline: true,
                    queued: Vec::new(),
                };
                (Ok(outcome), None)
            }
            _ => (Err(describe(&e)), None),
        },
    }
}

/// Picks up a saved session. When the server cannot be reached, the client keeps the
/// session and goes on reconnecting: the cached chats show, and writing works.
async fn resume(client: &Client, username: &Username, saved: &SavedSession) -> Result<Outcome, String> {
    let Some(key) = saved.key_bytes() else {
        return Err(String::new());
    };
    match client
        .resume_session(username.as_str(), &saved.token, StoreKey::from_bytes(key))
        .await
    {
        Ok(session) => Ok(Outcome::LoggedIn {
            user: session.user,
            cached: snapshot(client),
            offline: false,
            queued: queued(client),
        }),
        Err(ClientError::Connect(ConnectError::SessionRejected(_))) => {
            Err("Your saved session has ended; log in again".to_owned())
        }
        Err(e) => Err(format!("Cannot pick up your saved session: {}", describe(&e))),
    }
}

/// What the outbox still holds, oldest first.
fn queued(client: &Client) -> Vec<chat_client_lib::OutboxEntry> {
    client
        .outbox()
        .iter()
        .filter_map(|h| h.entry().cloned())
        .collect()
}

/// Keeps the session token and store key of a fresh login in the keyring.
async fn remember_session(
    client: &Client,
    token: String,
    secrets: &Arc<dyn SecretStore>,
    server: &ServerAddress,
    username: &Username,
) {
    let Some(key) = client.store_key() else {
        return;
    };
    let saved = SavedSession {
        token,
        store_key: hex::encode(key.to_bytes()),
    };
    let (secrets, account) = (secrets.clone(), account(&server.url, username.as_str()));
    let stored = tokio::task::spawn_blocking(move || secrets.save(&account, &saved.to_secret())).await;
    if let Ok(Err(e)) = stored {
        tracing::warn!(error = %e, "cannot keep the session in the keyring; the next start asks for the password");
    }
}

async fn load_session(
    secrets: &Arc<dyn SecretStore>,
    server: &ServerAddress,
    username: &Username,
) -> Option<SavedSession> {
    let (secrets, account) = (secrets.clone(), account(&server.url, username.as_str()));
    match tokio::task::spawn_blocking(move || secrets.load(&account)).await {
        Ok(Ok(Some(secret))) => SavedSession::from_secret(&secret),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the keyring");
            None
        }
        _ => None,
    }
}

async fn forget_session(secrets: &Arc<dyn SecretStore>, server: &ServerAddress, username: &Username) {
    let (secrets, account) = (secrets.clone(), account(&server.url, username.as_str()));
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || secrets.delete(&account)).await {
        tracing::warn!(error = %e, "cannot remove the session from the keyring");
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
        Command::CreateRoom { name, visibility } => {
            let new = match visibility {
                chat_proto::Visibility::Public => chat_client_lib::NewRoom::public(name.as_str()),
                _ => chat_client_lib::NewRoom::private(name.as_str()),
            };
            Outcome::Room(client.create_room_with(new).await?)
        }
        Command::JoinRoom(room) | Command::AcceptInvitation(room) => {
            Outcome::Room(client.join_room(room).await?)
        }
        Command::JoinByLink(link) => Outcome::Room(client.join_by_link(&link).await?),
        Command::DeclineInvitation(room) => {
            client.decline_invitation(room).await?;
            Outcome::Ok
        }
        Command::ListInvitations => Outcome::Invitations(client.invitations().await?),
        Command::Invite { room, username } => {
            client.invite(room, username.as_str()).await?;
            Outcome::Ok
        }
        Command::CreateInviteLink {
            room,
            expires_in,
            max_uses,
        } => {
            let link = client.create_invite_link(room, expires_in, max_uses).await?;
            let token = link.token.map(|t| t.as_str().to_owned()).unwrap_or_default();
            Outcome::InviteLink(format!("{}{token}", chat_client_lib::INVITE_LINK_PREFIX))
        }
        Command::ListInviteLinks(room) => Outcome::InviteLinks(room, client.invite_links(room).await?),
        Command::RevokeInviteLink { room, link } => {
            client.revoke_invite_link(room, link).await?;
            Outcome::Ok
        }
        Command::LoadMembers(room) => Outcome::Members(room, client.members(room).await?),
        Command::Moderate { room, user, action } => {
            match action {
                Moderation::Remove => client.remove_member(room, user.id).await?,
                Moderation::Ban => client.ban(room, user.id).await?,
                Moderation::Unban => client.unban(room, user.id).await?,
                Moderation::MakeAdmin => client.set_role(room, user.id, Role::Admin).await?,
                Moderation::MakeMember => client.set_role(room, user.id, Role::Member).await?,
                Moderation::TransferOwnership => client.transfer_ownership(room, user.id).await?,
            }
            Outcome::Ok
        }
        Command::ListBans(room) => Outcome::Bans(room, client.bans(room).await?),
        Command::UpdateRoom { room, name, topic } => Outcome::Room(
            client
                .update_room(room, name.as_deref(), topic.as_deref())
                .await?,
        ),
        Command::Directory { query, after } => {
            let page = client
                .public_rooms(query.as_deref(), after.as_deref(), DIRECTORY_PAGE)
                .await?;
            Outcome::Directory {
                rooms: page.rooms,
                next: page.next,
                more: after.is_some(),
            }
        }
        Command::OpenDirect(user) => Outcome::Room(client.open_direct(user.as_str()).await?),
        Command::LeaveRoom(room) => {
            client.leave_room(room).await?;
            Outcome::Ok
        }
        Command::SafetyNumber(user) => {
            let (number, devices) = tokio::join!(client.safety_number(user.id), client.devices(user.id));
            Outcome::Safety {
                user,
                number: number?,
                devices: devices?,
            }
        }
        Command::ContactDevices(user) => {
            let devices = client.devices(user.id).await?;
            Outcome::ContactDevices(user, devices)
        }
        Command::Devices => {
            let me = client.user().ok_or(ClientError::NotLoggedIn)?;
            Outcome::Devices {
                devices: client.devices(me.id).await?,
                this_device: client.device().and_then(|(id, _)| id),
            }
        }
        Command::RemoveDevice(device_id) => {
            match client
                .send_request(chat_proto::Request::RemoveDevice { device_id })
                .await?
            {
                chat_proto::Response::Ok => Outcome::Ok,
                _ => return Err(ClientError::UnexpectedResponse { expected: "ok" }),
            }
        }
        // Handled by the loop.
        Command::Login { .. }
        | Command::Resume { .. }
        | Command::Logout { .. }
        | Command::Send { .. }
        | Command::Shutdown(_) => Outcome::Ok,
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
        unreadable: page.undecryptable,
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
        unreadable: page.undecryptable,
        has_more: page.has_more,
        members: None,
    })
}
