//! Rate limits: the per-connection request limit (a token bucket) and the rules of the
//! login throttle (growing delays, and the address a failure counts against).
//!
//! The bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request
//! takes one. Time is passed in, so the rule is tested without a clock.
//!
//! The login throttle follows the OWASP authentication guidance: failures are counted per
//! (username, address) pair and per address, and past an allowance each failure makes the
//! next attempt wait, twice as long as the one before ([`LoginDelays`]). Nothing counts per
//! username alone, so nobody can lock an account out from every address by failing on
//! purpose; and a device resuming a valid session never logs in, so it is never throttled.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// The growing delays of one scope of the login throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginDelays {
    /// Failures within the window that cost nothing.
    pub allowed: u32,
    /// The wait after the failure that uses up the allowance; each further failure
    /// doubles it.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl LoginDelays {
    /// How long the next attempt must wait after the `failures`-th failure in the window;
    /// `None` while the allowance lasts.
    pub fn after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.allowed.max(1))?;
        let factor = 2u32.checked_pow(over.min(31)).unwrap_or(u32::MAX);
        Some(self.first.saturating_mul(factor).min(self.max))
    }
}

/// The address a login failure counts against: an IPv4 address itself, an IPv6 address by
/// its /64 prefix (one subscriber's share, which a client can rotate through at will). An
/// IPv4 address mapped into IPv6 counts as the IPv4 address.
pub fn throttle_address(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// A token bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling `rate` tokens per second, holding at most `burst`.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_delays_start_after_the_allowance_and_double_up_to_the_cap() {
        let delays = LoginDelays {
            allowed: 3,
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let waits: Vec<_> = (0..=10).map(|n| delays.after(n)).collect();
        let s = |secs| Some(Duration::from_secs(secs));
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                s(1),
                s(2),
                s(4),
                s(8),
                s(16),
                s(32),
                s(60),
                s(60)
            ]
        );
        assert_eq!(delays.after(u32::MAX), s(60), "no overflow");
        let none_free = LoginDelays { allowed: 0, ..delays };
        assert_eq!((none_free.after(0), none_free.after(1)), (None, s(1)));
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| throttle_address(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }

    #[test]
    fn allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 20, start);
        for _ in 0..20 {
            bucket.take(start).unwrap();
        }
        let wait = bucket.take(start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // After 100 ms one token is back, and only one.
        let later = start + Duration::from_millis(100);
        bucket.take(later).unwrap();
        assert!(bucket.take(later).is_err());
        // A long pause refills to the burst, not beyond.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..20 {
            bucket.take(much_later).unwrap();
        }
        assert!(bucket.take(much_later).is_err());
    }
}
