//! The connection driven over in-memory pipes with a real core: batching of queued frames.

use std::sync::atomic::Ordering;

use chat_core::CoreConfig;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use serde_json::{Value, json};
use tokio::io::{DuplexStream, duplex};

use super::*;
use crate::config::{Limits, Timeouts};

struct Peer {
    ws: WebSocket<DuplexStream>,
    metrics: Arc<ServerMetrics>,
}

/// Opens a session on `core` over a pipe holding at most `pipe` bytes in flight.
fn open(core: &ChatService, pipe: usize) -> Peer {
    let (server, client) = duplex(pipe);
    let (read, write) = tokio::io::split(server);
    let metrics = Arc::new(ServerMetrics::default());
    let ctx = SessionContext {
        core: core.clone(),
        hello: Arc::from(core.hello().to_json()),
        peer: "127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!()),
        limits: Limits::default(),
        timeouts: Timeouts::default(),
        shutdown: CancellationToken::new(),
        metrics: Arc::clone(&metrics),
    };
    tokio::spawn(run(MessageReader::new(read, 65536), FrameWriter::new(write), ctx));
    Peer {
        ws: WebSocket::after_handshake(client, Role::Client),
        metrics,
    }
}

impl Peer {
    async fn read_json(&mut self) -> Value {
        let frame = self.ws.read_frame().await.expect("frame");
        assert_eq!(frame.opcode, OpCode::Text);
        serde_json::from_slice(&frame.payload).expect("json")
    }

    /// Sends a request and returns its answer, skipping events.
    async fn call(&mut self, mut request: Value) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        request["id"] = json!(id);
        let text = request.to_string().into_bytes();
        self.ws
            .write_frame(Frame::text(Payload::Owned(text)))
            .await
            .expect("send");
        loop {
            let v = self.read_json().await;
            if v["id"] == id.as_str() {
                assert_eq!(v["kind"], "response", "{v}");
                return v["result"].clone();
            }
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.metrics.frames_out.load(Ordering::Relaxed),
            self.metrics.write_batches.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test]
async fn frames_queued_while_the_socket_is_blocked_go_out_in_one_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig {
        bcrypt_cost: 4,
        requests_per_second: 1000,
        ..CoreConfig::default()
    };
    let core = ChatService::embedded(dir.path(), config).await.expect("core");
    // A pipe smaller than one message event: the first event blocks the writer.
    let mut slow = open(&core, 256);
    let mut sender = open(&core, 1 << 20);
    assert_eq!(slow.read_json().await["event"]["type"], "hello");
    assert_eq!(sender.read_json().await["event"]["type"], "hello");
    let auth = |name: &str| json!({"type": "register", "username": name, "password": "long enough pw"});
    slow.call(auth("slowpoke")).await;
    sender.call(auth("sender")).await;
    let room = slow
        .call(json!({"type": "create_room", "name": "r", "visibility": "public"}))
        .await["room"]["id"]
        .clone();
    sender.call(json!({"type": "join_room", "room_id": room})).await;
    let before = slow.counts();

    for i in 0..20 {
        let cmid = uuid::Uuid::new_v4().to_string();
        let send = json!({"type": "send_message", "room_id": room, "client_msg_id": cmid, "body": format!("event {i}")});
        sender.call(send).await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 20 {
        let v = slow.read_json().await;
        if v["event"]["type"] == "message" && v["event"]["message"]["kind"] == "text" {
            seqs.push(v["event"]["message"]["seq"].as_u64().expect("seq"));
        }
    }
    // 1 and 2 are the room's notices (created, sender joined).
    assert_eq!(seqs, (3..=22).collect::<Vec<_>>());
    let after = slow.counts();
    let (frames, batches) = (after.0 - before.0, after.1 - before.1);
    assert!(frames >= 20, "{frames} frames");
    // One write blocked on the first event while the other events queued up; they left
    // together once the client read.
    assert!(batches <= 4, "{frames} frames took {batches} writes");
}
