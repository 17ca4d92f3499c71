//! Setting a run up through the protocol itself: accounts, rooms, memberships, and opening
//! many connections with a bounded number of attempts at once, with a progress line every
//! second.

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chat_proto::{
    ClientFrame, InviteToken, Password, Request, Response, RoomId, RoomName, ServerFrame, SessionToken,
    UserId, Username,
};
use tokio::task::JoinSet;

use crate::conn::Conn;
use crate::error::LoadError;
use crate::plan::Plan;
use crate::track::Tracker;
use crate::wire::Endpoint;

/// An account made for the run.
#[derive(Clone, Debug)]
pub struct Account {
    /// Its username.
    pub username: String,
    /// Its session token, for `resume_session`.
    pub token: String,
    /// Its user id.
    pub user: UserId,
    /// The room it joined (its id).
    pub room: u64,
}

/// A prefix that makes this run's usernames unique even on a shared database.
pub fn run_prefix() -> String {
    let salt = std::process::id() as u64 ^ crate::frames::IdGen::new(0).uuid().as_u64_pair().0;
    format!("lg{:05x}", salt & 0xfffff)
}

fn frame(request: Request) -> String {
    ClientFrame::new(request).to_json()
}

fn unexpected(what: &str, frame: &ServerFrame) -> LoadError {
    LoadError::Protocol(format!("unexpected answer to {what}: {frame:?}"))
}

fn invalid(what: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::Config(format!("{what}: {e}"))
}

/// Registers `username` on `conn`; returns the session token.
pub async fn register(conn: &Conn, username: &str) -> Result<String, LoadError> {
    Ok(register_user(conn, username).await?.0)
}

/// Registers `username` on `conn`; returns the session token and the new user's id.
pub async fn register_user(conn: &Conn, username: &str) -> Result<(String, UserId), LoadError> {
    let request = Request::Register {
        username: Username::parse(username).map_err(|e| invalid("username", e))?,
        password: Password::parse(&format!("pw-{username}-load")).map_err(|e| invalid("password", e))?,
    };
    match conn.request("register", frame(request)).await? {
        ServerFrame::Response {
            result: Response::Session(info),
            ..
        } => Ok((info.token.as_str().to_owned(), info.user.id)),
        other => Err(unexpected("register", &other)),
    }
}

/// Authenticates `conn` with a token from an earlier session.
pub async fn resume_session(conn: &Conn, token: &str) -> Result<(), LoadError> {
    let token = SessionToken::parse(token).map_err(|e| invalid("token", e))?;
    match conn
        .request("resume_session", frame(Request::ResumeSession { token }))
        .await?
    {
        ServerFrame::Response {
            result: Response::Session(_),
            ..
        } => Ok(()),
        other => Err(unexpected("resume_session", &other)),
    }
}

/// How clients come into their rooms.
#[derive(Clone, Copy, Debug)]
pub enum Joining<'a> {
    /// `join_room`: the rooms are public.
    Public,
    /// `join_by_link` with the token of room `i`'s link at index `i`: the rooms are private.
    Links(&'a [String]),
}

/// Joins a room by an invite link's token.
pub async fn join_by_link(conn: &Conn, token: &str) -> Result<(), LoadError> {
    let token = InviteToken::parse(token).map_err(|e| invalid("invite token", e))?;
    match conn
        .request("join_by_link", frame(Request::JoinByLink { token }))
        .await?
    {
        ServerFrame::Response {
            result: Response::Room { .. },
            ..
        } => Ok(()),
        other => Err(unexpected("join_by_link", &other)),
    }
}

/// Joins room `room`.
pub async fn join(conn: &Conn, room: u64) -> Result<(), LoadError> {
    let room_id = RoomId::new(room).map_err(|e| invalid("room id", e))?;
    match conn
        .request("join_room", frame(Request::JoinRoom { room_id }))
        .await?
    {
        ServerFrame::Response {
            result: Response::Room { .. },
            ..
        } => Ok(()),
        other => Err(unexpected("join_room", &other)),
    }
}

/// Registers an owner account and creates `count` rooms with it; returns their ids. The
/// owner's connection is closed afterwards, so it receives nothing during the run.
pub async fn create_rooms(
    endpoint: &Endpoint,
    tracker: &Rc<Tracker>,
    prefix: &str,
    count: usize,
) -> Result<Vec<u64>, LoadError> {
    let conn = Conn::open(endpoint, usize::MAX, tracker.clone()).await?;
    register(&conn, &format!("{prefix}owner")).await?;
    let mut rooms = Vec::with_capacity(count);
    for i in 0..count {
        let name = RoomName::parse(&format!("{prefix}-room-{i}")).map_err(|e| invalid("room name", e))?;
        match conn
            .request(
                "create_room",
                frame(Request::CreateRoom {
                    name,
                    visibility: chat_proto::Visibility::Public,
                    topic: None,
                    encrypted: None,
                }),
            )
            .await?
        {
            ServerFrame::Response {
                result: Response::Room { room },
                ..
            } => rooms.push(room.id.get()),
            other => return Err(unexpected("create_room", &other)),
        }
    }
    conn.close();
    Ok(rooms)
}

/// Runs `make(i)` for every `i` in `0..count`, at most `concurrency` at once, printing
/// progress every second; stops at the first error. Results come back in index order.
pub async fn bounded<T, F, Fut>(
    label: &str,
    count: usize,
    concurrency: usize,
    make: F,
) -> Result<Vec<T>, LoadError>
where
    T: 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, LoadError>> + 'static,
{
    let started = Instant::now();
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut set = JoinSet::new();
    let mut next = 0;
    let mut done = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while done < count {
        while next < count && set.len() < concurrency.max(1) {
            let fut = make(next);
            let i = next;
            set.spawn_local(async move { (i, fut.await) });
            next += 1;
        }
        tokio::select! {
            joined = set.join_next() => match joined {
                Some(Ok((i, Ok(value)))) => {
                    results[i] = Some(value);
                    done += 1;
                }
                Some(Ok((i, Err(e)))) => {
                    return Err(LoadError::Protocol(format!("{label}: #{i}: {e}")));
                }
                Some(Err(e)) => return Err(LoadError::Protocol(format!("{label}: task failed: {e}"))),
                None => break,
            },
            _ = tick.tick() => {
                let secs = started.elapsed().as_secs_f64();
                eprintln!("  {label}: {done}/{count} in {secs:.0} s ({:.0}/s)", done as f64 / secs);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "  {label}: {done}/{count} in {secs:.1} s ({:.0}/s)",
        done as f64 / secs.max(1e-9)
    );
    Ok(results.into_iter().flatten().collect())
}

/// Opens `count` connections (connection `i` on endpoint `i % endpoints.len()`), registers
/// one account on each, and joins it to room `rooms[i % rooms.len()]`.
pub async fn register_clients(
    endpoints: &[Endpoint],
    tracker: &Rc<Tracker>,
    prefix: &str,
    count: usize,
    rooms: &[u64],
    joining: Joining<'_>,
    concurrency: usize,
) -> Result<Vec<(Rc<Conn>, Account)>, LoadError> {
    let make = |i: usize| {
        let endpoint = endpoints[i % endpoints.len()].clone();
        let tracker = tracker.clone();
        let username = format!("{prefix}u{i}");
        let room = rooms[i % rooms.len()];
        let link = match joining {
            Joining::Public => None,
            Joining::Links(tokens) => Some(tokens[i % tokens.len()].clone()),
        };
        async move {
            let conn = Conn::open(&endpoint, i, tracker).await?;
            let (token, user) = register_user(&conn, &username).await?;
            match link {
                Some(link) => join_by_link(&conn, &link).await?,
                None => join(&conn, room).await?,
            }
            Ok((
                conn,
                Account {
                    username,
                    token,
                    user,
                    room,
                },
            ))
        }
    };
    bounded("register and join", count, concurrency, make).await
}

/// Opens one connection per account (connection `i` on endpoint `i % endpoints.len()`) and
/// authenticates it with the account's token.
pub async fn resume_clients(
    endpoints: &[Endpoint],
    tracker: &Rc<Tracker>,
    accounts: &[Account],
    concurrency: usize,
) -> Result<Vec<Rc<Conn>>, LoadError> {
    let make = |i: usize| {
        let endpoint = endpoints[i % endpoints.len()].clone();
        let tracker = tracker.clone();
        let token = accounts[i].token.clone();
        async move {
            let conn = Conn::open(&endpoint, i, tracker).await?;
            resume_session(&conn, &token).await?;
            Ok(conn)
        }
    };
    bounded("connect and resume_session", accounts.len(), concurrency, make).await
}

/// The usual start of a phase: the plan's rooms, then its clients connected and spread over
/// the rooms and the endpoints.
pub async fn populate(
    endpoints: &[Endpoint],
    tracker: &Rc<Tracker>,
    prefix: &str,
    plan: &Plan,
) -> Result<(Vec<u64>, Vec<(Rc<Conn>, Account)>), LoadError> {
    let rooms = create_rooms(&endpoints[0], tracker, prefix, plan.rooms).await?;
    let made = register_clients(
        endpoints,
        tracker,
        prefix,
        plan.clients,
        &rooms,
        Joining::Public,
        plan.concurrency,
    )
    .await?;
    Ok((rooms, made))
}
