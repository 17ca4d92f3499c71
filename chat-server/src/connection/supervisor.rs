//! The connection's clock: sends pings and enforces the authentication and idle timeouts and
//! the shutdown. It sleeps until the nearest deadline instead of ticking, so an idle
//! connection costs a wake-up per ping interval.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chat_proto::close;
use tokio::sync::mpsc;

use super::{CloseMode, Control, SessionContext, Shared};

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) async fn supervise(control: mpsc::Sender<Control>, shared: &Shared, ctx: &SessionContext) {
    let t = &ctx.timeouts;
    let (auth, idle, ping) = (ms(t.auth), ms(t.idle), ms(t.ping_interval));
    let mut last_ping = 0u64;
    loop {
        let authenticated = shared.authenticated.load(Ordering::Relaxed);
        let auth_deadline = shared
            .unauthenticated_since
            .load(Ordering::Relaxed)
            .saturating_add(auth);
        let idle_deadline = shared.last_seen.load(Ordering::Relaxed).saturating_add(idle);
        let now = shared.now();
        if !authenticated && now >= auth_deadline {
            let reason = format!("not authenticated within {} s", t.auth.as_secs_f32());
            shared.request_close(close::AUTH_TIMEOUT, reason, CloseMode::Now);
            return;
        }
        if now >= idle_deadline {
            let reason = format!("no frames for {} s", t.idle.as_secs_f32());
            shared.request_close(close::IDLE_TIMEOUT, reason, CloseMode::Now);
            return;
        }
        if now >= last_ping.saturating_add(ping) {
            last_ping = now;
            let _ = control.try_send(Control::Ping);
        }
        let mut next = last_ping.saturating_add(ping).min(idle_deadline);
        if !authenticated {
            next = next.min(auth_deadline);
        }
        let wake = shared.started + Duration::from_millis(next);
        tokio::select! {
            () = ctx.shutdown.cancelled() => {
                shared.request_close(
                    close::GOING_AWAY,
                    "server shutting down; reconnect and resume",
                    CloseMode::Drain,
                );
                return;
            }
            () = tokio::time::sleep_until(wake.into()) => {}
            () = shared.auth_changed.notified() => {}
        }
        if shared.closing() {
            return;
        }
    }
}
