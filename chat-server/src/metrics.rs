//! The transport's own counters, rendered in the Prometheus text format next to the core's.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chat_proto::close;

/// Close codes the server sends, in the order they are rendered.
const CLOSE_CODES: [u16; 14] = [
    close::NORMAL,
    close::GOING_AWAY,
    1002,
    close::UNSUPPORTED_DATA,
    close::INVALID_PAYLOAD,
    close::POLICY,
    close::TOO_BIG,
    close::INTERNAL,
    close::TRY_AGAIN_LATER,
    close::AUTH_TIMEOUT,
    close::IDLE_TIMEOUT,
    close::SLOW_CONSUMER,
    close::RATE_LIMITED,
    close::SESSION_ENDED,
];

/// How a WebSocket connection ended, for the `chat_server_ws_closed_total` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// The server sent a close frame with this code.
    Server(u16),
    /// The client closed first.
    Client,
    /// The socket failed or ended without a close handshake.
    Dropped,
}

/// Counters and gauges of the transport. All relaxed atomics: they are statistics.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    /// TCP connections held now.
    pub connections_open: AtomicI64,
    /// WebSocket sessions open now.
    pub websockets_open: AtomicI64,
    /// TCP connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections refused because of the total cap.
    pub refused_total_cap: AtomicU64,
    /// Connections refused because of the per-address cap.
    pub refused_per_ip_cap: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: AtomicU64,
    /// HTTP requests answered (upgrades included).
    pub http_requests: AtomicU64,
    /// Upgrades refused because of the Origin allowlist.
    pub origin_refused: AtomicU64,
    /// Text messages received.
    pub frames_in: AtomicU64,
    /// Frames sent.
    pub frames_out: AtomicU64,
    /// Payload bytes received in text messages.
    pub bytes_in: AtomicU64,
    /// Bytes handed to the socket (frame heads included).
    pub bytes_out: AtomicU64,
    /// Writes to sockets; `frames_out / write_batches` is the mean batch size.
    pub write_batches: AtomicU64,
    /// Client frames that failed to decode.
    pub decode_errors: AtomicU64,
    closed_by_server: [AtomicU64; CLOSE_CODES.len()],
    closed_by_client: AtomicU64,
    dropped: AtomicU64,
}

impl ServerMetrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts one ended WebSocket connection.
    pub fn closed(&self, kind: CloseKind) {
        let counter = match kind {
            CloseKind::Server(code) => match CLOSE_CODES.iter().position(|c| *c == code) {
                Some(i) => &self.closed_by_server[i],
                None => &self.dropped,
            },
            CloseKind::Client => &self.closed_by_client,
            CloseKind::Dropped => &self.dropped,
        };
        Self::inc(counter);
    }

    /// How many connections the server closed with `code`.
    pub fn closed_with(&self, code: u16) -> u64 {
        CLOSE_CODES
            .iter()
            .position(|c| *c == code)
            .map_or(0, |i| self.closed_by_server[i].load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition of these metrics.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "chat_server_connections_open",
            "TCP connections held now.",
            self.connections_open.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "chat_server_websockets_open",
            "WebSocket sessions open now.",
            self.websockets_open.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "chat_server_connections_accepted_total",
            "TCP connections accepted.",
            get(&self.connections_accepted),
        );
        out.push_str(
            "# HELP chat_server_connections_refused_total Connections refused by a connection cap.\n",
        );
        out.push_str("# TYPE chat_server_connections_refused_total counter\n");
        let _ = writeln!(
            out,
            "chat_server_connections_refused_total{{cap=\"total\"}} {}",
            get(&self.refused_total_cap)
        );
        let _ = writeln!(
            out,
            "chat_server_connections_refused_total{{cap=\"per_ip\"}} {}",
            get(&self.refused_per_ip_cap)
        );
        counter(
            &mut out,
            "chat_server_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out.",
            get(&self.tls_failures),
        );
        counter(
            &mut out,
            "chat_server_http_requests_total",
            "HTTP requests answered, upgrades included.",
            get(&self.http_requests),
        );
        counter(
            &mut out,
            "chat_server_origin_refused_total",
            "Upgrades refused by the Origin allowlist.",
            get(&self.origin_refused),
        );
        counter(
            &mut out,
            "chat_server_frames_received_total",
            "Text messages received.",
            get(&self.frames_in),
        );
        counter(
            &mut out,
            "chat_server_frames_sent_total",
            "WebSocket frames sent.",
            get(&self.frames_out),
        );
        counter(
            &mut out,
            "chat_server_received_bytes_total",
            "Payload bytes of received text messages.",
            get(&self.bytes_in),
        );
        counter(
            &mut out,
            "chat_server_sent_bytes_total",
            "Bytes written to sockets.",
            get(&self.bytes_out),
        );
        counter(
            &mut out,
            "chat_server_write_batches_total",
            "Socket writes; frames_sent / write_batches is the mean batch.",
            get(&self.write_batches),
        );
        counter(
            &mut out,
            "chat_server_decode_errors_total",
            "Client frames that failed to decode.",
            get(&self.decode_errors),
        );
        out.push_str(
            "# HELP chat_server_ws_closed_total WebSocket connections ended, by who closed and code.\n",
        );
        out.push_str("# TYPE chat_server_ws_closed_total counter\n");
        for (code, n) in CLOSE_CODES.iter().zip(&self.closed_by_server) {
            let _ = writeln!(
                out,
                "chat_server_ws_closed_total{{by=\"server\",code=\"{code}\"}} {}",
                get(n)
            );
        }
        let _ = writeln!(
            out,
            "chat_server_ws_closed_total{{by=\"client\",code=\"\"}} {}",
            get(&self.closed_by_client)
        );
        let _ = writeln!(
            out,
            "chat_server_ws_closed_total{{by=\"none\",code=\"\"}} {}",
            get(&self.dropped)
        );
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_type_lines() {
        let m = ServerMetrics::default();
        ServerMetrics::inc(&m.frames_in);
        m.closed(CloseKind::Server(close::SLOW_CONSUMER));
        m.closed(CloseKind::Client);
        let text = m.render();
        assert!(text.contains("chat_server_frames_received_total 1\n"), "{text}");
        assert!(text.contains("chat_server_ws_closed_total{by=\"server\",code=\"4003\"} 1\n"));
        assert!(text.contains("chat_server_ws_closed_total{by=\"client\",code=\"\"} 1\n"));
        assert_eq!(m.closed_with(close::SLOW_CONSUMER), 1);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(text.contains(&format!("# TYPE {name} ")), "no TYPE for {name}");
        }
    }
}
