//! Redis options for an in-process node: a key prefix no other test uses, whose keys are
//! deleted when the returned [`Prefix`] is dropped. Databases come from `chat-test-support`.

use chat_core::broker::redis::RedisOptions;
use chat_test_support::Prefix;

/// Redis options on the shared test Redis with a prefix of their own, or `None` (skipped
/// loudly, or a failure when services are required) when Redis is unreachable.
pub fn redis() -> Option<(Prefix, RedisOptions)> {
    let prefix = Prefix::shared()?;
    let mut options = RedisOptions::new(prefix.url.clone());
    options.prefix = prefix.name.clone();
    Some((prefix, options))
}
