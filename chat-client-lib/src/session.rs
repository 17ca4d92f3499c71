//! Logging in and out, resuming a saved session, and the user's local store around them:
//! opened at login (while the server checks the password), kept current while logged in,
//! the snapshot written at logout and shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat_proto::{
    Member, Password, Request, Response, RoomId, RoomSummary, SessionInfo, SessionToken, TimestampMs,
    UserInfo, Username,
};

use crate::cache;
use crate::cache::snapshot::OfflineSnapshot;
use crate::client::{Client, expect, expect_ok};
use crate::error::{ClientError, ConnectError, StoreError};
use crate::events::{ClientEvent, lock};
use crate::shared::{Local, Shared};
use crate::state::ConnectionState;
use crate::store::key::KdfParams;
use crate::store::{LocalStore, Opened, ServerIdentity, StoreKey};
use crate::supervisor::Command;

/// Milliseconds since the Unix epoch, by the client's clock.
pub(crate) fn now_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as TimestampMs)
}

impl Client {
    /// Creates an account and logs in (see [`Client::login`]).
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client) -> Result<(), chat_client_lib::ClientError> {
    /// let session = client.register("alice", "correct horse battery").await?;
    /// println!("welcome, user {}", session.user.id);
    /// # Ok(()) }
    /// ```
    pub async fn register(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        let (username, password) = (Username::parse(username)?, Password::parse(password)?);
        let request = Request::Register {
            username: username.clone(),
            password: password.clone(),
        };
        authenticate(&self.shared, request, &username, &password).await
    }

    /// Logs in. The connection is made now if there is none. With a store directory
    /// configured, the user's local store is opened at the same time: its chat list is
    /// available from [`Client::cached_snapshot`] when this returns (even if the server
    /// could not be reached, for reading offline), and the messages its outbox still holds
    /// are sent. Then the chat list is refreshed from the server in the background.
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client) -> Result<(), chat_client_lib::ClientError> {
    /// let session = client.login("alice", "correct horse battery").await?;
    /// assert_eq!(client.user(), Some(session.user));
    /// # Ok(()) }
    /// ```
    pub async fn login(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        let (username, password) = (Username::parse(username)?, Password::parse(password)?);
        let request = Request::Login {
            username: username.clone(),
            password: password.clone(),
        };
        authenticate(&self.shared, request, &username, &password).await
    }

    /// Picks up a saved session without the password: opens the user's local store with the
    /// key [`Client::store_key`] gave at an earlier run and resumes the session with its
    /// token (both kept, say, in the operating system's keyring). The cached chats and the
    /// outbox are there at once.
    ///
    /// Returns when the server accepted the token, or, if the server cannot be reached
    /// within the request timeout, at once with the session kept locally: the client goes on
    /// reconnecting (see [`Client::state`]) and sends the outbox when it is back. A token the
    /// server refuses fails with [`ConnectError::SessionRejected`]: log in with the password.
    ///
    /// ```no_run
    /// # async fn demo(client: chat_client_lib::Client, saved_token: String, saved_key: [u8; 32]) -> Result<(), chat_client_lib::ClientError> {
    /// use chat_client_lib::StoreKey;
    /// let session = client
    ///     .resume_session("alice", &saved_token, StoreKey::from_bytes(saved_key))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn resume_session(
        &self,
        username: &str,
        token: &str,
        key: StoreKey,
    ) -> Result<SessionInfo, ClientError> {
        let (username, token) = (Username::parse(username)?, SessionToken::parse(token)?);
        let shared = &self.shared;
        let path = store_path(shared, &username)?;
        let keep = shared.config.cache.messages_per_room;
        let (store, user, snapshot) = blocking(move || {
            let store = LocalStore::open_with_key(&path, key)?;
            let user = cache::user(&store)?.ok_or(StoreError::Missing)?;
            let snapshot = cache::load(&store, keep)?;
            Ok::<_, StoreError>((store, user, snapshot))
        })
        .await?;
        if user.username.canonical() != username.canonical() {
            return Err(StoreError::WrongKey.into());
        }
        let info = SessionInfo {
            user: user.clone(),
            token,
            expires_at: 0,
        };
        *lock(&shared.session) = Some(info.clone());
        let worth_saving = snapshot.is_some();
        let snapshot = snapshot.unwrap_or_else(|| OfflineSnapshot::new(user.clone()));
        install(shared, Some(Arc::new(store)), snapshot, worth_saving, &user);
        crate::e2ee::load(shared).await;
        let mut status = shared.status.subscribe();
        shared.user_action();
        // In a block of its own: the state guard must not live across the awaits below.
        let rejected = {
            let settled = tokio::time::timeout(
                shared.config.request_timeout,
                status.wait_for(|s| {
                    matches!(
                        s.state,
                        ConnectionState::Connected
                            | ConnectionState::Failed {
                                reason: ConnectError::SessionRejected(_),
                                ..
                            }
                    )
                }),
            )
            .await;
            match settled {
                Ok(Ok(status)) => match &status.state {
                    ConnectionState::Failed { reason, .. } => Some(reason.clone()),
                    _ => None,
                },
                _ => None,
            }
        };
        if let Some(reason) = rejected {
            return Err(ClientError::Connect(reason));
        }
        if shared.live_conn().is_some_and(|c| !shared.e2ee.ready_on(&c)) {
            crate::e2ee::attach(shared).await;
        }
        after_login(shared);
        Ok(lock(&shared.session).clone().unwrap_or(info))
    }

    /// The key that opens the logged-in user's local store without the password, to keep
    /// with the session token for [`Client::resume_session`]. `None` without a store.
    pub fn store_key(&self) -> Option<StoreKey> {
        self.shared.store().map(|s| s.key())
    }

    /// Logs out: revokes the session token on the server if connected (otherwise it simply
    /// expires there), writes the offline snapshot, forgets the session and closes the
    /// connection. Messages still in the outbox stay in the local store and go out at the
    /// user's next login (without a store they fail with [`ClientError::NotLoggedIn`]).
    /// Local logout always happens; the error only says that the server could not be told.
    /// Event streams stay open. An end-to-end encryption device kept only in memory (no
    /// store directory) is removed from the account first: it cannot be used again, and an
    /// account holds at most 5 devices.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let shared = &self.shared;
        // The snapshot as it stands when the user logs out (a refresh finishing while the
        // encryption work winds down does not make a half-filled one worth keeping).
        let snapshot = to_save(shared);
        crate::e2ee::detach(shared).await;
        let revoked = match shared.live_conn() {
            Some(conn) if shared.has_session() => conn
                .request(Request::Logout, shared.config.request_timeout)
                .await
                .and_then(expect_ok),
            _ => Ok(()),
        };
        let saved = match snapshot {
            Some((store, snapshot)) => blocking(move || cache::save(&store, &snapshot)).await,
            None => Ok(()),
        };
        lock(&shared.session).take();
        lock(&shared.rooms).clear();
        forget_local(shared);
        if shared.commands.send(Command::Disconnect).is_ok() {
            // Return once the connection is closed, so the state reads Disconnected.
            let mut status = shared.status.subscribe();
            let closed = status.wait_for(|s| {
                !matches!(
                    s.state,
                    ConnectionState::Connected | ConnectionState::Reconnecting { .. }
                )
            });
            let _ = tokio::time::timeout(Duration::from_secs(2), closed).await;
        }
        revoked?;
        saved.map_err(ClientError::Store)
    }

    /// Clean shutdown: writes the offline snapshot, removes an end-to-end encryption device
    /// kept only in memory from the account (see [`crate::e2ee`]), closes the connection and
    /// stops all background work. Later requests fail with [`ClientError::Shutdown`]. The session stays
    /// valid on the server until it expires, and the outbox stays in the local store.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        let saved = save_snapshot(&self.shared).await;
        // A device kept only in memory cannot be used again: take it off the account.
        crate::e2ee::detach(&self.shared).await;
        self.shared.shutdown.cancel();
        self.shared.outbox.clear(None);
        saved.map_err(ClientError::Store)
    }

    /// Reads `username`'s offline snapshot without the network (for reading while the
    /// server is down) and makes it the [`Client::cached_snapshot`]. A damaged file is set
    /// aside ([`StoreError::Corrupt`]); another user's password gets
    /// [`StoreError::WrongPassword`] and leaves the file alone.
    pub async fn load_offline(&self, username: &str, password: &str) -> Result<OfflineSnapshot, ClientError> {
        let (username, password) = (Username::parse(username)?, Password::parse(password)?);
        let (store, _) = open_store(&self.shared, &username, &password, false).await?;
        let keep = self.shared.config.cache.messages_per_room;
        let snapshot = blocking(move || cache::load(&store, keep))
            .await?
            .ok_or(StoreError::Missing)?;
        lock(&self.shared.local).snapshot = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Refreshes the whole offline snapshot from the server: the chat list, every room's
    /// members and its newest messages. Login starts this in the background.
    pub async fn sync_cache(&self) -> Result<(), ClientError> {
        sync_cache(&self.shared).await?;
        // A full refresh: the snapshot is now worth keeping.
        lock(&self.shared.local).worth_saving = true;
        Ok(())
    }

    /// Writes the offline snapshot now (it is also written at logout and shutdown).
    pub async fn save_cache(&self) -> Result<(), ClientError> {
        save_snapshot(&self.shared).await.map_err(ClientError::Store)
    }
}

fn kdf_params(shared: &Shared) -> KdfParams {
    KdfParams {
        memory_kib: shared.config.cache.kdf_memory_kib,
        iterations: shared.config.cache.kdf_iterations,
    }
}

/// Runs blocking store work off the runtime's worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            path: PathBuf::new(),
            source: crate::error::Cause::new(std::io::Error::other(e.to_string())),
        })
    })
}

/// The user's store file on the configured server.
fn store_path(shared: &Shared, username: &Username) -> Result<PathBuf, StoreError> {
    let dir = shared.config.cache.dir.as_deref().ok_or(StoreError::Disabled)?;
    Ok(ServerIdentity::of(&shared.config)?.store_file(dir, username))
}

/// Opens the user's store with the password, off the runtime's worker threads (Argon2id is
/// slow on purpose).
async fn open_store(
    shared: &Shared,
    username: &Username,
    password: &Password,
    create: bool,
) -> Result<(LocalStore, Opened), StoreError> {
    let path = store_path(shared, username)?;
    let (password, params) = (password.clone(), kdf_params(shared));
    blocking(move || LocalStore::open_with_password(&path, password.as_str().as_bytes(), params, create))
        .await
}

async fn authenticate(
    shared: &Arc<Shared>,
    request: Request,
    username: &Username,
    password: &Password,
) -> Result<SessionInfo, ClientError> {
    let store_wanted = shared.config.cache.dir.is_some();
    let (answer, opened) = tokio::join!(shared.call(request), async {
        if store_wanted {
            Some(open_store(shared, username, password, false).await)
        } else {
            None
        }
    });
    let answer = answer.and_then(|r| {
        expect(r, "session", |r| match r {
            Response::Session(info) => Some(info),
            _ => None,
        })
    });
    let info = match answer {
        Ok(info) => info,
        Err(e) => {
            // Offline: the snapshot opened with this password is the read-only view. A
            // refused password shows nothing.
            let offline = matches!(
                e,
                ClientError::Connect(_) | ClientError::Timeout(_) | ClientError::ConnectionLost
            );
            if let (true, Some(Ok((store, _)))) = (offline, opened) {
                let keep = shared.config.cache.messages_per_room;
                if let Ok(Some(snapshot)) = blocking(move || cache::load(&store, keep)).await {
                    lock(&shared.local).snapshot = Some(snapshot);
                }
            }
            return Err(e);
        }
    };
    *lock(&shared.session) = Some(info.clone());
    if let Some(opened) = opened {
        adopt_store(shared, password, &info, opened).await;
    } else {
        install(
            shared,
            None,
            OfflineSnapshot::new(info.user.clone()),
            false,
            &info.user,
        );
    }
    // The device first: the rooms' starting positions depend on its groups.
    crate::e2ee::load(shared).await;
    if let Err(e) = refresh_rooms(shared).await {
        tracing::warn!(error = %e, "cannot list rooms after login");
    }
    crate::e2ee::attach(shared).await;
    after_login(shared);
    Ok(info)
}

/// What every way of logging in does last: resume the rooms whose position the
/// application set, send the outbox, and refresh the snapshot in the background.
fn after_login(shared: &Arc<Shared>) {
    shared.ensure_supervisor();
    shared.resync.notify_one();
    shared.outbox.wake.notify_one();
    let background = shared.clone();
    tokio::spawn(async move {
        match sync_cache(&background).await {
            Ok(()) => lock(&background.local).worth_saving = true,
            Err(e) => tracing::debug!(error = %e, "background refresh of the snapshot stopped"),
        }
    });
}

/// Makes the store opened at login the user's, now that the server accepted the password.
async fn adopt_store(
    shared: &Arc<Shared>,
    password: &Password,
    info: &SessionInfo,
    opened: Result<(LocalStore, Opened), StoreError>,
) {
    let username = &info.user.username;
    let replaced = |aside: PathBuf| shared.hub.publish(ClientEvent::CacheSetAside { path: aside });
    let opened = match opened {
        Ok(opened) => Ok(opened),
        Err(StoreError::Missing) => open_store(shared, username, password, true).await,
        Err(StoreError::Corrupt {
            set_aside: Some(aside),
        }) => {
            replaced(aside);
            open_store(shared, username, password, true).await
        }
        Err(StoreError::WrongPassword) => {
            // The server accepted this password, so the file's key material is damaged.
            match store_path(shared, username) {
                Ok(path) => {
                    let (p, params) = (password.clone(), kdf_params(shared));
                    blocking(move || LocalStore::replace(&path, p.as_str().as_bytes(), params))
                        .await
                        .map(|(store, aside)| (store, Opened::Replaced(aside)))
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let fresh = || OfflineSnapshot::new(info.user.clone());
    let (store, snapshot, worth_saving) = match opened {
        Ok((store, how)) => {
            if let Opened::Replaced(aside) = how {
                replaced(aside);
            }
            let keep = shared.config.cache.messages_per_room;
            let store = Arc::new(store);
            let reader = store.clone();
            match blocking(move || cache::load(&reader, keep)).await {
                Ok(Some(s)) if s.user.id == info.user.id => (Some(store), s, true),
                Ok(_) => (Some(store), fresh(), false),
                Err(error) => {
                    shared.hub.publish(ClientEvent::StoreDamaged { error });
                    (Some(store), fresh(), false)
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, "local store unavailable; the outbox stays in memory");
            shared.hub.publish(ClientEvent::StoreDamaged { error });
            (None, fresh(), false)
        }
    };
    install(shared, store, snapshot, worth_saving, &info.user);
}

/// Makes `store` and `snapshot` the logged-in user's and loads the store's outbox.
fn install(
    shared: &Shared,
    store: Option<Arc<LocalStore>>,
    snapshot: OfflineSnapshot,
    worth_saving: bool,
    user: &UserInfo,
) {
    let other_user = ClientError::NotLoggedIn;
    match &store {
        Some(store) => {
            if let Err(error) = cache::set_user(store, user) {
                tracing::warn!(%error, "cannot record the store's user");
            }
            match store.outbox_entries() {
                Ok((entries, tampered)) => {
                    if tampered > 0 {
                        shared.hub.publish(ClientEvent::StoreDamaged {
                            error: StoreError::Tampered { area: "outbox" },
                        });
                    }
                    shared.outbox.load(entries, other_user);
                }
                Err(error) => shared.hub.publish(ClientEvent::StoreDamaged { error }),
            }
        }
        // Without a store, what is queued in memory belongs to whoever queued it: it is
        // kept for the same user (after a session ended), never sent as another.
        None => {
            let same = lock(&shared.local).snapshot.as_ref().map(|s| s.user.id) == Some(user.id);
            if !same {
                shared.outbox.load(Vec::new(), other_user);
            }
        }
    }
    *lock(&shared.local) = Local {
        store,
        snapshot: Some(snapshot),
        worth_saving,
    };
}

/// Forgets the user's local state at logout.
fn forget_local(shared: &Shared) {
    let had_store = lock(&shared.local).store.is_some();
    shared
        .outbox
        .clear((!had_store).then_some(ClientError::NotLoggedIn));
    *lock(&shared.local) = Local::default();
}

/// Lists the rooms, starts tracking them and updates the cached chat list.
pub(crate) async fn refresh_rooms(shared: &Arc<Shared>) -> Result<Vec<RoomSummary>, ClientError> {
    let mut rooms = expect(shared.call(Request::ListRooms).await?, "rooms", |r| match r {
        Response::Rooms { rooms } => Some(rooms),
        _ => None,
    })?;
    for summary in rooms.iter_mut().filter(|s| s.room.encrypted) {
        crate::e2ee::readable_last_message(shared, summary);
    }
    {
        let mut tracked = lock(&shared.rooms);
        for summary in &rooms {
            let mut head = summary.last_message.as_ref().map_or(0, |m| m.seq);
            if summary.room.encrypted {
                shared.e2ee.mark_encrypted(summary.room.id);
                head = shared.e2ee.start_position(summary.room.id, head);
            }
            tracked.track(summary.room.id, head);
        }
    }
    let keep = shared.config.cache.messages_per_room;
    shared.with_snapshot(|s| s.set_rooms(rooms.clone(), keep));
    Ok(rooms)
}

/// Lists a room's members and updates the cache.
pub(crate) async fn refresh_members(shared: &Arc<Shared>, room: RoomId) -> Result<Vec<Member>, ClientError> {
    let members = expect(
        shared.call(Request::ListMembers { room_id: room }).await?,
        "members",
        |r| match r {
            Response::Members { members, .. } => Some(members),
            _ => None,
        },
    )?;
    shared.with_snapshot(|s| s.set_members(room, members.clone()));
    Ok(members)
}

async fn sync_cache(shared: &Arc<Shared>) -> Result<(), ClientError> {
    let rooms = refresh_rooms(shared).await?;
    let keep = shared.config.cache.messages_per_room;
    let limit = u32::try_from(keep)
        .unwrap_or(u32::MAX)
        .clamp(1, chat_proto::MAX_PAGE_SIZE);
    for summary in rooms {
        let room = summary.room.id;
        refresh_members(shared, room).await?;
        let request = Request::History {
            room_id: room,
            before_seq: None,
            after_seq: None,
            limit,
        };
        let messages = expect(shared.call(request).await?, "messages", |r| match r {
            Response::Messages { messages, .. } => Some(messages),
            _ => None,
        })?;
        // An encrypted room's items are ciphertext here: its snapshot takes the decrypted
        // messages as they are read instead.
        if !shared.e2ee.is_encrypted(room) {
            shared.with_snapshot(|s| s.record_messages(room, &messages, keep));
        }
    }
    Ok(())
}

/// Writes the snapshot into the store off the runtime's worker threads.
async fn save_snapshot(shared: &Arc<Shared>) -> Result<(), StoreError> {
    let Some((store, snapshot)) = to_save(shared) else {
        return Ok(());
    };
    blocking(move || cache::save(&store, &snapshot)).await
}

/// Writes the snapshot on the calling thread (when the last client handle is dropped).
pub(crate) fn save_cache_now(shared: &Shared) {
    if let Some((store, snapshot)) = to_save(shared)
        && let Err(e) = cache::save(&store, &snapshot)
    {
        tracing::warn!(error = %e, "cannot write the offline snapshot");
    }
}

/// The store and the snapshot to write, if the snapshot is worth keeping.
fn to_save(shared: &Shared) -> Option<(Arc<LocalStore>, OfflineSnapshot)> {
    let local = lock(&shared.local);
    if !local.worth_saving {
        return None;
    }
    let (store, mut snapshot) = (local.store.clone()?, local.snapshot.clone()?);
    snapshot.saved_at = now_ms();
    Some((store, snapshot))
}
