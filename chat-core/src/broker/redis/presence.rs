//! Presence across nodes, with expiry.
//!
//! Keys (under the broker's prefix `p`):
//! - `p:nodes`: sorted set, node id -> the time (ms, Redis clock) its heartbeat expires.
//! - `p:presence:{node}`: hash, user id -> that node's connection count of the user.
//!
//! A user is online when some node whose heartbeat has not expired counts them. Every
//! change is one Lua script, so two nodes changing the same user at once see each other's
//! effect: exactly one of them reports "came online" or "went offline". Times come from
//! Redis' own clock, so the nodes' clocks do not matter.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chat_proto::{Event, ServerFrame, UserId};
use redis::Script;
use tokio::sync::watch;

use super::Shared;
use crate::broker::{BrokerError, BrokerEvent};

/// Helpers every script starts with.
const PRELUDE: &str = r#"
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_nodes(p, now)
    return redis.call('ZRANGEBYSCORE', p .. ':nodes', '(' .. now, '+inf')
end
local function counted_elsewhere(p, live, me, uid)
    for _, n in ipairs(live) do
        if n ~= me and redis.call('HEXISTS', p .. ':presence:' .. n, uid) == 1 then
            return true
        end
    end
    return false
end
"#;

/// ARGV: prefix, node, user. 1 when the user just came online everywhere.
const OPENED: &str = r#"
local p, node, uid = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HINCRBY', p .. ':presence:' .. node, uid, 1) > 1 then return 0 end
if counted_elsewhere(p, live_nodes(p, now_ms()), node, uid) then return 0 end
return 1
"#;

/// ARGV: prefix, node, user. 1 when the user just went offline everywhere.
const CLOSED: &str = r#"
local p, node, uid = ARGV[1], ARGV[2], ARGV[3]
local hash = p .. ':presence:' .. node
if redis.call('HINCRBY', hash, uid, -1) > 0 then return 0 end
redis.call('HDEL', hash, uid)
if counted_elsewhere(p, live_nodes(p, now_ms()), node, uid) then return 0 end
return 1
"#;

/// ARGV: prefix, users... One 0/1 per user.
const ONLINE: &str = r#"
local p = ARGV[1]
local live = live_nodes(p, now_ms())
local out = {}
for i = 2, #ARGV do
    out[#out + 1] = counted_elsewhere(p, live, '', ARGV[i]) and 1 or 0
end
return out
"#;

/// ARGV: prefix, node, ttl ms, hash ttl ms. Extends this node's registration; 0 (and no
/// change) when it was not registered or had expired, so the node must rewrite its hash.
const HEARTBEAT: &str = r#"
local p, node = ARGV[1], ARGV[2]
local now = now_ms()
local score = redis.call('ZSCORE', p .. ':nodes', node)
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', p .. ':nodes', now + tonumber(ARGV[3]), node)
redis.call('PEXPIRE', p .. ':presence:' .. node, ARGV[4])
return 1
"#;

/// ARGV: prefix, node, ttl ms, hash ttl ms, then user, count pairs. Replaces this node's
/// hash and registers it; returns the users no other live node counts.
const REWRITE: &str = r#"
local p, node = ARGV[1], ARGV[2]
local now = now_ms()
local hash = p .. ':presence:' .. node
local live = live_nodes(p, now)
redis.call('DEL', hash)
local alone = {}
for i = 5, #ARGV, 2 do
    redis.call('HSET', hash, ARGV[i], ARGV[i + 1])
    if not counted_elsewhere(p, live, node, ARGV[i]) then alone[#alone + 1] = ARGV[i] end
end
redis.call('ZADD', p .. ':nodes', now + tonumber(ARGV[3]), node)
redis.call('PEXPIRE', hash, ARGV[4])
return alone
"#;

/// ARGV: prefix. Claims every expired node (one sweeper wins each), drops its hash, and
/// returns its users that no live node counts.
const SWEEP: &str = r#"
local p = ARGV[1]
local now = now_ms()
local live = live_nodes(p, now)
local gone, seen = {}, {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', p .. ':nodes', '-inf', now)) do
    if redis.call('ZREM', p .. ':nodes', dead) == 1 then
        local hash = p .. ':presence:' .. dead
        for _, uid in ipairs(redis.call('HKEYS', hash)) do
            if not seen[uid] and not counted_elsewhere(p, live, dead, uid) then
                seen[uid] = true
                gone[#gone + 1] = uid
            end
        end
        redis.call('DEL', hash)
    end
end
return gone
"#;

/// The scripts, hashed once (`EVALSHA`, with `EVAL` when Redis lost its script cache).
struct Scripts {
    opened: Script,
    closed: Script,
    online: Script,
    heartbeat: Script,
    rewrite: Script,
    sweep: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
    Scripts {
        opened: script(OPENED),
        closed: script(CLOSED),
        online: script(ONLINE),
        heartbeat: script(HEARTBEAT),
        rewrite: script(REWRITE),
        sweep: script(SWEEP),
    }
});

/// How long a node's hash outlives its last heartbeat when no node sweeps it (the whole
/// deployment stopped): keys do not stay in Redis forever.
fn hash_ttl(shared: &Shared) -> u64 {
    ttl_ms(shared).saturating_mul(20)
}

/// Shortest presence expiry honoured: heartbeats need some room.
const MIN_TTL: Duration = Duration::from_secs(1);

fn ttl(shared: &Shared) -> Duration {
    shared.options.presence_ttl.max(MIN_TTL)
}

fn ttl_ms(shared: &Shared) -> u64 {
    ttl(shared).as_millis() as u64
}

/// Runs one presence script with the prefix first, then `args`.
async fn invoke<T: redis::FromRedisValue + Send + 'static>(
    shared: &Shared,
    script: &'static Script,
    args: Vec<String>,
) -> Result<T, BrokerError> {
    let prefix = shared.options.prefix.clone();
    shared
        .run(|mut c| async move {
            let mut call = script.prepare_invoke();
            call.arg(prefix);
            for arg in args {
                call.arg(arg);
            }
            call.invoke_async(&mut *c).await
        })
        .await
}

/// Counts a connection of `user` on this node; whether they just came online everywhere.
pub(super) async fn opened(shared: &Shared, user: UserId) -> Result<bool, BrokerError> {
    *shared.local().entry(user).or_insert(0) += 1;
    let args = vec![shared.options.node_id.clone(), user.to_string()];
    let result = invoke::<i64>(shared, &SCRIPTS.opened, args).await;
    settle(shared, result).map(|n| n == 1)
}

/// Counts a connection of `user` on this node closed; whether they just went offline
/// everywhere.
pub(super) async fn closed(shared: &Shared, user: UserId) -> Result<bool, BrokerError> {
    {
        let mut local = shared.local();
        match local.get_mut(&user) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                local.remove(&user);
            }
            // Never counted here: nothing to undo.
            None => return Ok(false),
        }
    }
    let args = vec![shared.options.node_id.clone(), user.to_string()];
    let result = invoke::<i64>(shared, &SCRIPTS.closed, args).await;
    settle(shared, result).map(|n| n == 1)
}

/// A presence change that failed to reach Redis leaves the hash behind this node's counts:
/// the next heartbeat rewrites it.
fn settle<T>(shared: &Shared, result: Result<T, BrokerError>) -> Result<T, BrokerError> {
    if result.is_err() {
        shared.dirty.store(true, Ordering::Release);
    }
    result
}

/// Whether each user is online on some node. When Redis cannot be asked, this node's own
/// counts answer (users on other nodes then look offline).
pub(super) async fn online(shared: &Shared, users: &[UserId]) -> Result<Vec<bool>, BrokerError> {
    let args = users.iter().map(UserId::to_string).collect();
    let remote = invoke::<Vec<i64>>(shared, &SCRIPTS.online, args).await;
    let local = shared.local();
    Ok(match remote {
        Ok(states) if states.len() == users.len() => users
            .iter()
            .zip(states)
            .map(|(u, s)| s == 1 || local.contains_key(u))
            .collect(),
        other => {
            if let Err(e) = other {
                tracing::warn!(error = %e, "presence from Redis unavailable; answering from this node");
            }
            users.iter().map(|u| local.contains_key(u)).collect()
        }
    })
}

/// Extends this node's registration, or rewrites its hash when Redis lost it (or a change
/// did not reach it). Users who come back into view this way are announced online.
pub(super) async fn heartbeat(shared: &Shared) -> Result<(), BrokerError> {
    let args = vec![
        shared.options.node_id.clone(),
        ttl_ms(shared).to_string(),
        hash_ttl(shared).to_string(),
    ];
    let alive = invoke::<i64>(shared, &SCRIPTS.heartbeat, args).await? == 1;
    let dirty = shared.dirty.swap(false, Ordering::AcqRel);
    if alive && !dirty {
        return Ok(());
    }
    let mut args = vec![
        shared.options.node_id.clone(),
        ttl_ms(shared).to_string(),
        hash_ttl(shared).to_string(),
    ];
    for (user, count) in shared.local().iter() {
        args.push(user.to_string());
        args.push(count.to_string());
    }
    let alone = match invoke::<Vec<String>>(shared, &SCRIPTS.rewrite, args).await {
        Ok(alone) => alone,
        Err(e) => {
            shared.dirty.store(true, Ordering::Release);
            return Err(e);
        }
    };
    if !alive {
        tracing::info!(users = alone.len(), "presence registration restored");
        announce(shared, &alone, true).await;
    }
    Ok(())
}

/// Claims nodes whose heartbeat expired and announces their users offline.
pub(super) async fn sweep(shared: &Shared) -> Result<(), BrokerError> {
    let gone = invoke::<Vec<String>>(shared, &SCRIPTS.sweep, Vec::new()).await?;
    if !gone.is_empty() {
        tracing::info!(users = gone.len(), "presence of a dead node expired");
        announce(shared, &gone, false).await;
    }
    Ok(())
}

/// Heartbeats and sweeps three times per expiry until the broker is dropped.
pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(ttl(&shared) / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = heartbeat(&shared).await {
            tracing::warn!(error = %e, "presence heartbeat failed");
            continue;
        }
        if let Err(e) = sweep(&shared).await {
            tracing::warn!(error = %e, "presence sweep failed");
        }
    }
}

/// Tells the co-members of each user (ids as stored in Redis) that they came online or went
/// offline, as the service does for changes on its own connections.
async fn announce(shared: &Shared, users: &[String], online: bool) {
    for id in users {
        let Some(user_id) = id.parse::<u64>().ok().and_then(|n| UserId::new(n).ok()) else {
            tracing::warn!(id, "ignoring a malformed user id in presence");
            continue;
        };
        let (user, recipients) = match (
            shared.store.get_user(user_id).await,
            shared.store.co_member_ids(user_id).await,
        ) {
            (Ok(Some(user)), Ok(recipients)) => (user, recipients),
            (Ok(None), _) => continue,
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot announce presence");
                continue;
            }
        };
        if recipients.is_empty() {
            continue;
        }
        let payload = ServerFrame::Event {
            event: Event::Presence { user, online },
        }
        .to_json();
        let event = BrokerEvent::Users {
            user_ids: recipients.into(),
            payload: payload.into(),
        };
        if let Err(e) = shared.publish(event).await {
            tracing::warn!(error = %e, "cannot announce presence");
        }
    }
}
