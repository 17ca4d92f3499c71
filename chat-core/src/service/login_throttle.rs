//! The login throttle on the broker's shared counters (so it holds across nodes).
//!
//! Two scopes per attempt: the (username, address) pair and the address alone (see
//! [`crate::ratelimit`] for the rules). Each scope has a failure counter that lives for the
//! window, and a wait key that exists while the scope must wait: a failure past the
//! allowance sets it for the scope's growing delay, and an attempt while it exists is
//! refused with `login_throttled` before the password is looked at. A successful login
//! clears its pair, not its address (else one account of one's own would reset a spray).
//!
//! Counters that cannot be read or written let the login go ahead: throttling is a
//! defence, not a dependency.

use std::net::IpAddr;
use std::time::Duration;

use chat_proto::{ErrorBody, ErrorCode, Username};

use super::CoreConfig;
use super::connection::Connection;
use super::reply::{millis_ceil, refuse};
use crate::ratelimit::{LoginDelays, throttle_address};

/// One scope of the throttle: its broker keys and its delays.
pub(super) struct Scope {
    counter: String,
    wait: String,
    delays: LoginDelays,
    /// Cleared by a successful login.
    cleared_on_success: bool,
}

/// The scopes of a login attempt for `username` from `peer`.
pub(super) fn scopes(config: &CoreConfig, username: &Username, peer: IpAddr) -> [Scope; 2] {
    let address = throttle_address(peer);
    let delays = |allowed| LoginDelays {
        allowed,
        first: config.login_first_delay,
        max: config.login_window,
    };
    let pair = format!("pair:{address}|{}", username.canonical());
    let addr = format!("addr:{address}");
    [
        Scope {
            counter: format!("login:{pair}"),
            wait: format!("login:wait:{pair}"),
            delays: delays(config.login_failures_allowed),
            cleared_on_success: true,
        },
        Scope {
            counter: format!("login:{addr}"),
            wait: format!("login:wait:{addr}"),
            delays: delays(config.login_address_failures_allowed),
            cleared_on_success: false,
        },
    ]
}

impl Connection {
    /// Refuses with `login_throttled` while a scope must wait, saying how long.
    pub(super) async fn check_login_throttle(&self, scopes: &[Scope]) -> Result<(), ErrorBody> {
        let mut wait = Duration::ZERO;
        for scope in scopes {
            match self.inner.broker.failure_count(&scope.wait).await {
                Ok(f) if f.count > 0 => wait = wait.max(f.retry_after),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "login throttle unavailable"),
            }
        }
        if wait.is_zero() {
            return Ok(());
        }
        Err(refuse(
            ErrorCode::LoginThrottled,
            "too many failed logins; wait before trying again",
        )
        .with_retry_after_ms(millis_ceil(wait)))
    }

    /// Counts a failed login in every scope and starts the wait of those past their
    /// allowance.
    pub(super) async fn count_login_failure(&self, scopes: &[Scope]) {
        self.inner
            .metrics
            .login_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let broker = &self.inner.broker;
        for scope in scopes {
            let counted = broker
                .count_failure(&scope.counter, self.inner.config.login_window)
                .await;
            let delay = match counted {
                Ok(count) => scope.delays.after(count.count),
                Err(e) => {
                    tracing::warn!(error = %e, "login throttle unavailable");
                    continue;
                }
            };
            // The wait key lives exactly as long as the wait: a counter whose window is
            // the delay. (Its count is not used: it exists or it does not.)
            if let Some(delay) = delay
                && let Err(e) = broker.count_failure(&scope.wait, delay).await
            {
                tracing::warn!(error = %e, "login throttle unavailable");
            }
        }
    }

    /// Forgets the failures of the scopes a successful login clears.
    pub(super) async fn clear_login_failures(&self, scopes: &[Scope]) {
        for scope in scopes.iter().filter(|s| s.cleared_on_success) {
            for key in [&scope.counter, &scope.wait] {
                if let Err(e) = self.inner.broker.clear_failures(key).await {
                    tracing::warn!(error = %e, "cannot reset the login throttle");
                }
            }
        }
    }
}
