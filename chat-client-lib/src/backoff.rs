//! The reconnect policy: exponential backoff with jitter, capped, for as long as the client
//! lives unless a bound on attempts is set.

use std::time::Duration;

/// How a lost connection is re-established.
///
/// Before reconnect attempt `n` (1, 2, ...) the client waits
/// `min(max_delay, base_delay * 2^(n-1))`, shortened by a random part of up to `jitter` of
/// itself so that many clients of a restarted server do not come back in lockstep.
///
/// By default the client never gives up: an unattended program (a bot) rides out an outage
/// of any length and carries on, with at most [`max_delay`](Self::max_delay) between
/// attempts. With a bound, after `max_attempts` failed attempts the state becomes
/// [`Failed`](crate::ConnectionState::Failed), the event stream gets
/// [`ClientEvent::ReconnectGaveUp`](crate::ClientEvent::ReconnectGaveUp), and the client
/// waits until the application makes a request (or calls
/// [`Client::reconnect`](crate::Client::reconnect)), which starts a fresh round.
///
/// ```
/// use std::time::Duration;
/// use chat_client_lib::ReconnectPolicy;
///
/// let forever = ReconnectPolicy::default();
/// assert_eq!(forever.max_attempts, None);
/// let bounded = ReconnectPolicy::default()
///     .with_max_attempts(Some(5))
///     .with_max_delay(Duration::from_secs(10));
/// assert!(bounded.allows(5) && !bounded.allows(6));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Attempts per round; `None` retries forever. Default: `None`.
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
            max_attempts: None,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
        }
    }
}

impl ReconnectPolicy {
    /// Sets the bound on attempts per round (`None`: forever).
    pub fn with_max_attempts(mut self, max_attempts: Option<u32>) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the delay before the first attempt.
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets the largest delay between attempts.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the fraction of each delay that is randomized away (clamped to 0.0..=1.0).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

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
    fn the_default_never_gives_up_and_waits_at_most_thirty_seconds() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.max_attempts, None);
        // Far beyond the ten attempts (about two and a half minutes) of the old default.
        for attempt in [1, 10, 11, 1_000, u32::MAX] {
            assert!(p.allows(attempt), "attempt {attempt}");
        }
        let mut total = Duration::ZERO;
        for attempt in 1..=20 {
            let d = p.delay_with(attempt, 0.0);
            assert!(d <= Duration::from_secs(30));
            total += d;
        }
        assert!(
            total > Duration::from_secs(180),
            "twenty attempts span a 3-minute outage"
        );
        assert_eq!(p.delay_with(1, 0.0), Duration::from_millis(500));
        assert_eq!(
            p.delay_with(50, 1.0),
            Duration::from_secs(15),
            "jitter at most half"
        );
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
