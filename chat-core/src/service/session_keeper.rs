//! Sessions in use stay alive: an open, authenticated connection counts as use, so its
//! session is renewed before it expires, as a resume would. A session that can no longer be
//! renewed (deleted or expired behind the node's back) closes its connections with
//! [`KickReason::SessionEnded`](super::KickReason::SessionEnded).
//!
//! Without this, a session's expiry would be counted from the last login or resume, and a
//! connection open for longer (a bot, a desktop left running) would either outlive its own
//! session or lose it while in use.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use chat_proto::UserId;

use super::{Inner, now_ms};
use crate::store::{Millis, TokenHash};

/// The open sessions of this node's connections.
#[derive(Default)]
pub(crate) struct OpenSessions {
    sessions: Mutex<HashMap<TokenHash, OpenSession>>,
}

struct OpenSession {
    user: UserId,
    expires_at: Millis,
    connections: usize,
}

impl OpenSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenHash, OpenSession>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection signed in with this session.
    pub(crate) fn opened(&self, user: UserId, token_hash: TokenHash, expires_at: Millis) {
        let mut sessions = self.lock();
        let open = sessions.entry(token_hash).or_insert(OpenSession {
            user,
            expires_at,
            connections: 0,
        });
        open.connections += 1;
        open.expires_at = open.expires_at.max(expires_at);
    }

    /// A connection signed in with this session signed out or closed.
    pub(crate) fn closed(&self, token_hash: &TokenHash) {
        let mut sessions = self.lock();
        if let Some(open) = sessions.get_mut(token_hash) {
            open.connections = open.connections.saturating_sub(1);
            if open.connections == 0 {
                sessions.remove(token_hash);
            }
        }
    }

    /// Sessions whose remaining lifetime is at most `margin` at `now`.
    fn due(&self, now: Millis, margin: Millis) -> Vec<(UserId, TokenHash)> {
        self.lock()
            .iter()
            .filter(|(_, open)| open.expires_at.saturating_sub(now) <= margin)
            .map(|(hash, open)| (open.user, *hash))
            .collect()
    }

    fn renewed(&self, token_hash: &TokenHash, expires_at: Millis) {
        if let Some(open) = self.lock().get_mut(token_hash) {
            open.expires_at = open.expires_at.max(expires_at);
        }
    }
}

/// How often the keeper looks for sessions to renew: a quarter of the lifetime, so a
/// session is renewed when half of it is left, with checks to spare; at most once a
/// minute for long lifetimes.
fn check_every(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

/// Renews the sessions of open connections, for as long as the service lives.
pub(super) fn spawn(inner: Weak<Inner>, ttl: Duration) {
    let every = check_every(ttl);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(inner) = inner.upgrade() else { break };
            renew_due(&inner).await;
        }
    });
}

/// One pass: renews what is due, closes the connections of sessions that are gone.
async fn renew_due(inner: &Inner) {
    let ttl = Millis::try_from(inner.config.session_ttl.as_millis()).unwrap_or(Millis::MAX);
    let now = now_ms();
    for (user, token_hash) in inner.open_sessions.due(now, ttl / 2) {
        let expires_at = now.saturating_add(ttl);
        match inner.store.resume_session(&token_hash, now, expires_at).await {
            Ok(Some(session)) => inner.open_sessions.renewed(&token_hash, session.expires_at),
            Ok(None) => {
                tracing::info!(
                    user = user.get(),
                    "session ended while in use; closing its connections"
                );
                inner.hub.end_session(user, &token_hash);
            }
            // The store is down: the session is still valid for a while, try again next pass.
            Err(e) => tracing::warn!(error = %e, "cannot renew a session in use"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_due_when_half_their_life_is_left() {
        let open = OpenSessions::default();
        let alice = UserId::new(1).unwrap();
        open.opened(alice, [1; 32], 1_000);
        open.opened(alice, [2; 32], 2_000);
        assert_eq!(open.due(500, 500), vec![(alice, [1; 32])]);
        open.renewed(&[1; 32], 3_000);
        assert!(open.due(500, 500).is_empty());
    }

    #[test]
    fn a_session_is_forgotten_with_its_last_connection() {
        let open = OpenSessions::default();
        let alice = UserId::new(1).unwrap();
        open.opened(alice, [1; 32], 1_000);
        open.opened(alice, [1; 32], 1_000);
        open.closed(&[1; 32]);
        assert_eq!(open.due(1_000, 0).len(), 1, "one connection still uses it");
        open.closed(&[1; 32]);
        assert!(open.due(1_000, 0).is_empty());
    }

    #[test]
    fn checks_are_frequent_for_short_lifetimes_and_bounded_for_long_ones() {
        assert_eq!(check_every(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(check_every(Duration::ZERO), Duration::from_millis(50));
        assert_eq!(
            check_every(Duration::from_secs(30 * 24 * 3600)),
            Duration::from_secs(60)
        );
    }
}
