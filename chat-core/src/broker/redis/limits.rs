//! Failure counters shared by every node: one key per counter, `{prefix}:fail:{key}`, that
//! counts with `INCR` and expires with the window that the first failure started.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::Shared;
use crate::broker::{BrokerError, FailureCount};

/// KEYS: counter; ARGV: window ms. Returns {count, ms left in the window}.
static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    left = tonumber(ARGV[1])
end
return {n, left}
"#,
    )
});

/// KEYS: counter. Returns {count, ms left in the window}, {0, 0} when none.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = redis.call('GET', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if not n or left < 0 then return {0, 0} end
return {tonumber(n), left}
"#,
    )
});

fn counter_key(shared: &Shared, key: &str) -> String {
    shared.key(&format!("fail:{key}"))
}

fn to_count((count, left): (i64, i64)) -> FailureCount {
    FailureCount {
        count: u32::try_from(count.max(0)).unwrap_or(u32::MAX),
        retry_after: Duration::from_millis(left.max(0) as u64),
    }
}

pub(super) async fn count_failure(
    shared: &Shared,
    key: &str,
    window: Duration,
) -> Result<FailureCount, BrokerError> {
    let key = counter_key(shared, key);
    let window_ms = window.as_millis().max(1) as u64;
    shared
        .run(|mut c| async move { COUNT.key(key).arg(window_ms).invoke_async(&mut *c).await })
        .await
        .map(to_count)
}

pub(super) async fn failure_count(shared: &Shared, key: &str) -> Result<FailureCount, BrokerError> {
    let key = counter_key(shared, key);
    shared
        .run(|mut c| async move { READ.key(key).invoke_async(&mut *c).await })
        .await
        .map(to_count)
}

pub(super) async fn clear_failures(shared: &Shared, key: &str) -> Result<(), BrokerError> {
    let key = counter_key(shared, key);
    shared
        .run(|mut c| async move { redis::cmd("DEL").arg(key).query_async::<i64>(&mut *c).await })
        .await
        .map(drop)
}
