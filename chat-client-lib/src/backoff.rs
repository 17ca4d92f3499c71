//! The reconnect policy: exponential backoff with jitter and a bound on attempts.

use std::time::Duration;

/// How a lost connection is re-established.
///
/// Before reconnect attempt `n` (1, 2, ...) the client waits
/// `min(max_delay, base_delay * 2^(n-1))`, shortened by a random part of up to `jitter` of
/// itself so that many clients of a restarted server do not come back in lockstep. After
/// `max_attempts` failed attempts the state becomes
/// [`Failed`](crate::ConnectionState::Failed) until the application makes a request (or calls
/// [`Client::reconnect`](crate::Client::reconnect)), which starts a fresh round.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// Attempts per round; `None` retries forever. Default: `Some(10)`.
    pub max_attempts: Option<u32>,
    /// Delay before the first attempt. Default: 500 ms.
    pub base_delay: Duration,
    /// Largest delay between attempts. Default: 30 s.
    pub max_delay: Duration,
    /// Fraction (0.0 to 1.0) of each delay that is randomized away. Default: 0.5, so a
    /// delay `d` becomes a uniform value in `[d/2, d]`.
    pub jitter: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            max_attempts: Some(10),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (counted from 1), with `unit` a random number in
    /// `[0, 1)` choosing the jitter. Deterministic, for tests and for [`Self::delay`].
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        full.mul_f64(1.0 - jitter)
    }

    /// The delay before attempt `attempt` (counted from 1), with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }

    /// Whether attempt number `attempt` (counted from 1) is still allowed.
    pub fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ReconnectPolicy {
        ReconnectPolicy {
            max_attempts: Some(4),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            jitter: 0.5,
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy();
        let without_jitter: Vec<u128> = (1..=7).map(|n| p.delay_with(n, 0.0).as_millis()).collect();
        assert_eq!(without_jitter, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(p.delay_with(u32::MAX, 0.0), Duration::from_secs(1), "no overflow");
    }

    #[test]
    fn jitter_shortens_by_at_most_its_fraction() {
        let p = policy();
        assert_eq!(p.delay_with(3, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay_with(3, 0.5), Duration::from_millis(300));
        for _ in 0..200 {
            let d = p.delay(3);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
        let exact = ReconnectPolicy { jitter: 0.0, ..p };
        assert_eq!(exact.delay(2), Duration::from_millis(200));
    }

    #[test]
    fn attempts_are_bounded_unless_unlimited() {
        let p = policy();
        assert!(p.allows(1) && p.allows(4));
        assert!(!p.allows(5));
        let forever = ReconnectPolicy {
            max_attempts: None,
            ..p
        };
        assert!(forever.allows(u32::MAX));
    }
}
