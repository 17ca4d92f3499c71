//! Refused connections, logged in aggregate.
//!
//! A refusal is something a client causes, so a flood of connections must not become a
//! flood of log lines: the first refusal of a kind is logged at once, the next ones within
//! [`REFUSAL_LOG_INTERVAL`] are only counted, and the count comes out as one line per kind
//! per interval (from the server's flush task, and at shutdown). The rule takes the time as
//! an argument, so it is tested without a clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// At most one line per kind of refusal in this interval.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What a line reports: `count` refusals of one kind, the last one from `last_peer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefusalLine {
    pub(crate) reason: String,
    pub(crate) count: u64,
    pub(crate) last_peer: IpAddr,
    /// The time the count covers; `None` for a refusal logged as it happened.
    pub(crate) over: Option<Duration>,
}

impl RefusalLine {
    /// Writes the line to the log.
    pub(crate) fn emit(&self) {
        let RefusalLine {
            reason,
            count,
            last_peer,
            over,
        } = self;
        match over {
            None => tracing::info!(peer = %last_peer, count, "refusing connection: {reason}"),
            Some(over) => tracing::info!(
                last_peer = %last_peer,
                count,
                "refused {count} more connections in the last {:.0} s: {reason}",
                over.as_secs_f64()
            ),
        }
    }
}

/// One kind's window: when its last line went out and what was counted since.
struct Window {
    opened: Instant,
    held: u64,
    last_peer: IpAddr,
}

/// Counts refusals by reason and says when to log them.
pub(crate) struct RefusalLog {
    interval: Duration,
    windows: Mutex<HashMap<String, Window>>,
}

impl RefusalLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one refusal; returns the line to log now, if one is due.
    pub(crate) fn note(&self, reason: &str, peer: IpAddr, now: Instant) -> Option<RefusalLine> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        match windows.get_mut(reason) {
            Some(window) if now.saturating_duration_since(window.opened) < self.interval => {
                window.held += 1;
                window.last_peer = peer;
                None
            }
            Some(window) => {
                // A line is due anyway: this refusal goes in it with those held back.
                let line = RefusalLine {
                    reason: reason.to_owned(),
                    count: window.held + 1,
                    last_peer: peer,
                    over: Some(now.saturating_duration_since(window.opened)),
                };
                *window = Window {
                    opened: now,
                    held: 0,
                    last_peer: peer,
                };
                Some(line)
            }
            None => {
                windows.insert(
                    reason.to_owned(),
                    Window {
                        opened: now,
                        held: 0,
                        last_peer: peer,
                    },
                );
                Some(RefusalLine {
                    reason: reason.to_owned(),
                    count: 1,
                    last_peer: peer,
                    over: None,
                })
            }
        }
    }

    /// The lines of the windows that ended by `now` (all of them when `all`), one per kind
    /// with refusals held back. A window that ended with nothing held is forgotten, so the
    /// next refusal of its kind is logged at once.
    pub(crate) fn flush(&self, now: Instant, all: bool) -> Vec<RefusalLine> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lines = Vec::new();
        windows.retain(|reason, window| {
            let age = now.saturating_duration_since(window.opened);
            if age < self.interval && !all {
                return true;
            }
            if window.held == 0 {
                return false;
            }
            lines.push(RefusalLine {
                reason: reason.clone(),
                count: window.held,
                last_peer: window.last_peer,
                over: Some(age),
            });
            window.opened = now;
            window.held = 0;
            true
        });
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REASON: &str = "too many connections from your address (limit 1); try again later";

    fn peer(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_flood_is_one_line_at_once_and_one_line_per_interval_with_the_count() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let start = Instant::now();
        let first = log
            .note(REASON, peer(1), start)
            .expect("the first is logged at once");
        assert_eq!((first.count, first.over), (1, None));
        // 255 more within one second: nothing logged.
        for i in 0..255u32 {
            let at = start + Duration::from_millis(u64::from(i) * 4);
            assert_eq!(log.note(REASON, peer(2), at), None);
        }
        assert!(
            log.flush(start + Duration::from_secs(5), false).is_empty(),
            "not due yet"
        );
        let lines = log.flush(start + Duration::from_secs(10), false);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].count, 255);
        assert_eq!(lines[0].last_peer, peer(2));
        assert_eq!(lines[0].over, Some(Duration::from_secs(10)));
        // A quiet interval closes the window: the next refusal is logged at once again.
        assert!(log.flush(start + Duration::from_secs(20), false).is_empty());
        let again = log.note(REASON, peer(3), start + Duration::from_secs(21));
        assert_eq!(again.map(|l| (l.count, l.over)), Some((1, None)));
    }

    #[test]
    fn a_refusal_after_the_interval_carries_the_held_count_and_kinds_are_apart() {
        let log = RefusalLog::new(Duration::from_secs(10));
        let start = Instant::now();
        log.note(REASON, peer(1), start);
        log.note(REASON, peer(1), start + Duration::from_secs(1));
        assert!(log.note("server full", peer(1), start).is_some(), "another kind");
        let late = log
            .note(REASON, peer(4), start + Duration::from_secs(12))
            .expect("due");
        assert_eq!(late.count, 2, "the held one and this one");
        // At shutdown everything held comes out, due or not.
        log.note(REASON, peer(5), start + Duration::from_secs(13));
        let last = log.flush(start + Duration::from_secs(14), true);
        assert_eq!(last.len(), 1);
        assert_eq!((last[0].count, last[0].last_peer), (1, peer(5)));
    }
}
