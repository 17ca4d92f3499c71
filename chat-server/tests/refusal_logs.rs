//! Refused connections are logged in aggregate: a flood of them is a handful of lines, not
//! one line each. (In its own test binary: it captures the log of the server it starts.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use common::{TestServer, handshake, open};

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn a_flood_of_refused_connections_is_logged_in_a_few_lines_with_a_count() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // The test's runtime is single-threaded: every task of the server logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let t = TestServer::start_with(|c| c.limits.max_connections_per_ip = 1).await;
    let held = t.client().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    const REFUSED: usize = 256;
    for _ in 0..REFUSED {
        let ws = handshake(open(addr, der.as_deref()).await, addr, "/v2/ws", &[])
            .await
            .expect("upgrade");
        let mut refused = common::Client {
            ws,
            backlog: Default::default(),
            hello: serde_json::Value::Null,
        };
        assert!(matches!(refused.next().await, common::Incoming::Close(1013, _)));
    }
    let during = captured.lines_with("refus");
    assert!(
        during.len() <= 2,
        "{} lines for {REFUSED} refusals:\n{}",
        during.len(),
        during.join("\n")
    );
    // What was held back is counted, not lost: it comes out at the latest on shutdown.
    drop(held);
    t.server.shutdown().await;
    let lines = captured.lines_with("refus");
    assert!(lines.len() <= 3, "{}", lines.join("\n"));
    let counted: u64 = lines
        .iter()
        .map(|l| {
            l.split("count=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum();
    assert_eq!(counted, REFUSED as u64, "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .all(|l| l.contains("too many connections from your address")),
        "{}",
        lines.join("\n")
    );
}
