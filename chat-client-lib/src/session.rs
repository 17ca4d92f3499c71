//! Logging in and out, and the offline cache's life around them: read at login (while the
//! server checks the password), kept current while logged in, written at logout and shutdown.

use std::sync::Arc;

use chat_proto::{Member, Password, Request, Response, RoomId, RoomSummary, SessionInfo, Username};

use crate::cache::crypto::KdfParams;
use crate::cache::snapshot::OfflineSnapshot;
use crate::cache::{self, Loaded};
use crate::client::{Client, expect, expect_ok};
use crate::error::{CacheError, ClientError};
use crate::events::{ClientEvent, lock};
use crate::shared::{CacheState, Shared};
use crate::state::ConnectionState;
use crate::supervisor::Command;

impl Client {
    /// Creates an account and logs in.
    pub async fn register(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        let (username, password) = (Username::parse(username)?, Password::parse(password)?);
        let request = Request::Register {
            username: username.clone(),
            password: password.clone(),
        };
        authenticate(&self.shared, request, &username, &password).await
    }

    /// Logs in. The connection is made now if there is none. With the offline cache enabled,
    /// the cached chat list is read at the same time and is available from
    /// [`Client::cached_snapshot`] when this returns, even if the server could not be
    /// reached; then the chat list is refreshed from the server in the background.
    pub async fn login(&self, username: &str, password: &str) -> Result<SessionInfo, ClientError> {
        let (username, password) = (Username::parse(username)?, Password::parse(password)?);
        let request = Request::Login {
            username: username.clone(),
            password: password.clone(),
        };
        authenticate(&self.shared, request, &username, &password).await
    }

    /// Logs out: revokes the session token on the server if connected (otherwise it simply
    /// expires there), writes the offline cache, forgets the session and closes the
    /// connection. Local logout always happens; the error only says that the server could not
    /// be told. Event streams stay open.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let shared = &self.shared;
        let revoked = match shared.live_conn() {
            Some(conn) if shared.has_session() => conn
                .request(Request::Logout, shared.config.request_timeout)
                .await
                .and_then(expect_ok),
            _ => Ok(()),
        };
        let saved = save_cache(shared).await;
        lock(&shared.session).take();
        lock(&shared.rooms).clear();
        *lock(&shared.cache) = CacheState::default();
        if shared.commands.send(Command::Disconnect).is_ok() {
            // Return once the connection is closed, so the state reads Disconnected.
            let mut status = shared.status.subscribe();
            let closed = status.wait_for(|s| {
                !matches!(
                    s.state,
                    ConnectionState::Connected | ConnectionState::Reconnecting { .. }
                )
            });
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closed).await;
        }
        revoked?;
        saved.map_err(ClientError::Cache)
    }

    /// Clean shutdown: writes the offline cache, closes the connection and stops all
    /// background work. Later requests fail with [`ClientError::Shutdown`]. The session stays
    /// valid on the server until it expires.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        let saved = save_cache(&self.shared).await;
        self.shared.shutdown.cancel();
        saved.map_err(ClientError::Cache)
    }

    /// Reads `username`'s offline cache without the network (for read-only offline use) and
    /// makes it the [`Client::cached_snapshot`]. A damaged file is set aside
    /// ([`CacheError::Corrupt`]); another user's password gets [`CacheError::WrongPassword`]
    /// and leaves the file alone.
    pub async fn load_offline(&self, username: &str, password: &str) -> Result<OfflineSnapshot, ClientError> {
        let (username, password) = (Username::parse(username)?, Password::parse(password)?);
        let snapshot = match read_cache(&self.shared, &username, &password).await? {
            Loaded::Opened { snapshot, .. } => snapshot,
            Loaded::Missing { .. } => return Err(CacheError::Missing.into()),
            Loaded::WrongPassword => return Err(CacheError::WrongPassword.into()),
            Loaded::SetAside { path, .. } => {
                return Err(CacheError::Corrupt {
                    set_aside: Some(path),
                }
                .into());
            }
        };
        lock(&self.shared.cache).snapshot = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Refreshes the whole offline cache from the server: the chat list, every room's
    /// members and its newest messages. Login starts this in the background.
    pub async fn sync_cache(&self) -> Result<(), ClientError> {
        sync_cache(&self.shared).await
    }

    /// Writes the offline cache now (it is also written at logout and shutdown).
    pub async fn save_cache(&self) -> Result<(), ClientError> {
        save_cache(&self.shared).await.map_err(ClientError::Cache)
    }
}

fn kdf_params(shared: &Shared) -> KdfParams {
    KdfParams {
        memory_kib: shared.config.cache.kdf_memory_kib,
        iterations: shared.config.cache.kdf_iterations,
    }
}

/// Opens the user's cache file off the runtime's worker threads (Argon2id is slow on purpose).
async fn read_cache(
    shared: &Arc<Shared>,
    username: &Username,
    password: &Password,
) -> Result<Loaded, CacheError> {
    let dir = shared.config.cache.dir.clone().ok_or(CacheError::Disabled)?;
    let path = cache::file_path(&dir, &shared.config.server_url, username);
    let (username, password) = (username.clone(), password.clone());
    let (params, keep) = (kdf_params(shared), shared.config.cache.messages_per_room);
    tokio::task::spawn_blocking(move || {
        cache::load(&path, &username, password.as_str().as_bytes(), params, keep)
    })
    .await
    .map_err(|e| CacheError::Io(format!("cache task failed: {e}")))?
}

async fn authenticate(
    shared: &Arc<Shared>,
    request: Request,
    username: &Username,
    password: &Password,
) -> Result<SessionInfo, ClientError> {
    let cache_enabled = shared.config.cache.dir.is_some();
    let (answer, cached) = tokio::join!(shared.call(request), async {
        if cache_enabled {
            Some(read_cache(shared, username, password).await)
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
            // Offline: the cache opened with this password is the read-only view. A refused
            // password shows nothing.
            let offline = matches!(
                e,
                ClientError::Connect(_) | ClientError::Timeout(_) | ClientError::ConnectionLost
            );
            if let (true, Some(Ok(Loaded::Opened { snapshot, .. }))) = (offline, cached) {
                lock(&shared.cache).snapshot = Some(snapshot);
            }
            return Err(e);
        }
    };
    *lock(&shared.session) = Some(info.clone());
    if let Some(cached) = cached {
        adopt_cache(shared, username, password, &info, cached).await;
    }
    if let Err(e) = refresh_rooms(shared).await {
        tracing::warn!(error = %e, "cannot list rooms after login");
    }
    let background = shared.clone();
    tokio::spawn(async move {
        if let Err(e) = sync_cache(&background).await {
            tracing::debug!(error = %e, "background cache refresh stopped");
        }
    });
    Ok(info)
}

/// Installs the cache read at login, now that the server has accepted the password.
async fn adopt_cache(
    shared: &Arc<Shared>,
    username: &Username,
    password: &Password,
    info: &SessionInfo,
    cached: Result<Loaded, CacheError>,
) {
    let Some(dir) = shared.config.cache.dir.clone() else {
        return;
    };
    let path = cache::file_path(&dir, &shared.config.server_url, username);
    let fresh = || OfflineSnapshot::new(info.user.clone());
    let (snapshot, key) = match cached {
        Ok(Loaded::Opened { snapshot, key }) if snapshot.user.id == info.user.id => (snapshot, Some(key)),
        Ok(Loaded::Opened { key, .. }) | Ok(Loaded::Missing { key }) => (fresh(), Some(key)),
        Ok(Loaded::SetAside { path: aside, key }) => {
            shared.hub.publish(ClientEvent::CacheSetAside { path: aside });
            (fresh(), Some(key))
        }
        Ok(Loaded::WrongPassword) => {
            // The server accepted this password, so the file's key material is damaged.
            let (p, params) = (password.clone(), kdf_params(shared));
            let file = path.clone();
            let result = tokio::task::spawn_blocking(move || {
                let aside = cache::set_aside(&file)?;
                Ok::<_, CacheError>((aside, cache::new_key(p.as_str().as_bytes(), params)?))
            })
            .await;
            match result {
                Ok(Ok((aside, key))) => {
                    shared.hub.publish(ClientEvent::CacheSetAside { path: aside });
                    (fresh(), Some(key))
                }
                _ => (fresh(), None),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "offline cache unavailable");
            (fresh(), None)
        }
    };
    *lock(&shared.cache) = CacheState {
        path: Some(path),
        key,
        snapshot: Some(snapshot),
    };
}

/// Lists the rooms, starts tracking them and updates the cached chat list.
pub(crate) async fn refresh_rooms(shared: &Arc<Shared>) -> Result<Vec<RoomSummary>, ClientError> {
    let rooms = expect(shared.call(Request::ListRooms).await?, "rooms", |r| match r {
        Response::Rooms { rooms } => Some(rooms),
        _ => None,
    })?;
    {
        let mut tracked = lock(&shared.rooms);
        for summary in &rooms {
            let head = summary.last_message.as_ref().map_or(0, |m| m.seq);
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
        shared.with_snapshot(|s| s.record_messages(room, &messages, keep));
    }
    Ok(())
}

/// Encrypts and writes the cache off the runtime's worker threads.
async fn save_cache(shared: &Arc<Shared>) -> Result<(), CacheError> {
    let Some((path, key, snapshot)) = to_save(shared) else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || cache::write(&path, &key, &snapshot))
        .await
        .map_err(|e| CacheError::Io(format!("cache task failed: {e}")))?
}

/// Writes the cache on the calling thread (when the last client handle is dropped).
pub(crate) fn save_cache_now(shared: &Shared) {
    if let Some((path, key, snapshot)) = to_save(shared)
        && let Err(e) = cache::write(&path, &key, &snapshot)
    {
        tracing::warn!(error = %e, "cannot write the offline cache");
    }
}

fn to_save(
    shared: &Shared,
) -> Option<(
    std::path::PathBuf,
    crate::cache::crypto::CacheKey,
    OfflineSnapshot,
)> {
    let state = lock(&shared.cache);
    let (path, key, snapshot) = (state.path.clone()?, state.key.clone()?, state.snapshot.clone()?);
    let mut snapshot = snapshot;
    snapshot.saved_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Some((path, key, snapshot))
}
