//! The core's counters and gauges, rendered in the Prometheus text format.
//!
//! Plain atomics: cheap enough for the hot path, and no metrics library to configure.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chat_proto::ErrorCode;

use crate::hub::LocalHub;

/// The core's metrics.
pub(crate) struct Metrics {
    pub connections: AtomicI64,
    pub authenticated: AtomicI64,
    pub requests: AtomicU64,
    pub messages_stored: AtomicU64,
    pub ephemeral_dropped: AtomicU64,
    pub login_failures: AtomicU64,
    /// Timeline items read back from the store by the gap filler.
    pub gap_fill_items: AtomicU64,
    errors: Vec<AtomicU64>,
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            connections: AtomicI64::new(0),
            authenticated: AtomicI64::new(0),
            requests: AtomicU64::new(0),
            messages_stored: AtomicU64::new(0),
            ephemeral_dropped: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            gap_fill_items: AtomicU64::new(0),
            errors: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn count_error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition, including the hub's delivery counters.
    pub fn render(&self, hub: &LocalHub) -> String {
        let mut out = String::with_capacity(2048);
        let gauge = |out: &mut String, name: &str, help: &str, value: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "chat_connections",
            "Open connections.",
            self.connections.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "chat_authenticated_connections",
            "Authenticated connections.",
            self.authenticated.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "chat_requests_total",
            "Requests handled.",
            load(&self.requests),
        );
        counter(
            &mut out,
            "chat_messages_stored_total",
            "Messages stored.",
            load(&self.messages_stored),
        );
        counter(
            &mut out,
            "chat_events_delivered_total",
            "Events put on connection queues.",
            hub.delivered(),
        );
        counter(
            &mut out,
            "chat_slow_consumer_kicks_total",
            "Connections dropped because their outbound queue was full.",
            hub.slow_consumer_kicks(),
        );
        counter(
            &mut out,
            "chat_gap_fill_items_total",
            "Timeline items read back from the store because this node had not delivered them a round after they were stored.",
            load(&self.gap_fill_items),
        );
        counter(
            &mut out,
            "chat_repeated_items_dropped_total",
            "Timeline items not delivered again: already delivered live, from the store or by a retried send.",
            hub.repeats_dropped(),
        );
        counter(
            &mut out,
            "chat_ephemeral_dropped_total",
            "Ephemeral events (typing) dropped because the queue was full.",
            load(&self.ephemeral_dropped),
        );
        counter(
            &mut out,
            "chat_login_failures_total",
            "Failed logins.",
            load(&self.login_failures),
        );
        let _ = writeln!(
            out,
            "# HELP chat_errors_total Error responses by code.\n# TYPE chat_errors_total counter"
        );
        for (code, n) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(out, "chat_errors_total{{code=\"{code}\"}} {}", load(n));
        }
        out
    }
}
