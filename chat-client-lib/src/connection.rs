//! One live WebSocket connection: a writer task, a reader task, the map of pending requests
//! and a keepalive.
//!
//! The reader is the only task that reads the socket. It completes pending requests with
//! their answers and hands events to the client's event sink in the order they arrived. When
//! the connection ends for any reason, every pending request fails at once with
//! [`ClientError::ConnectionLost`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_proto::{
    ClientFrame, Event, Request, RequestId, Response, ServerFrame, ServerLimits, decode_server_frame,
};
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;
use crate::events::lock;
use crate::transport::{WsRead, WsWrite};

/// Receives the events a connection reads, in order, on the reader task. Must not block.
pub(crate) type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// What the server said in `hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerHello {
    /// The protocol version the server speaks.
    pub protocol: u32,
    /// Server software and version.
    pub server: String,
    /// The limits in force on the connection.
    pub limits: ServerLimits,
}

/// A frame queued for the writer.
enum Outbound {
    Text(String),
    Control(OpCode, Vec<u8>),
    Close(u16, String),
}

type Answer = Result<Response, ClientError>;

#[derive(Default)]
struct Pending {
    /// Set once the connection is gone; no request is accepted after.
    closed: bool,
    waiting: HashMap<RequestId, oneshot::Sender<Answer>>,
}

/// Why a connection ended, when the server said so with a close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseInfo {
    pub code: u16,
    pub reason: String,
}

/// A live connection. Dropping the last handle does not close it: call [`Conn::close`].
pub(crate) struct Conn {
    out: mpsc::Sender<Outbound>,
    pending: Mutex<Pending>,
    done: CancellationToken,
    close_info: Mutex<Option<CloseInfo>>,
    hello: ServerHello,
    started: Instant,
    /// Milliseconds after `started` when the last frame arrived.
    last_frame_ms: AtomicU64,
}

impl Conn {
    /// Starts the reader and writer tasks of an upgraded connection whose `hello` was read.
    pub fn start(read: WsRead, write: WsWrite, hello: ServerHello, sink: EventSink) -> Arc<Conn> {
        let (out_tx, out_rx) = mpsc::channel(1024);
        let conn = Arc::new(Conn {
            out: out_tx,
            pending: Mutex::new(Pending::default()),
            done: CancellationToken::new(),
            close_info: Mutex::new(None),
            hello,
            started: Instant::now(),
            last_frame_ms: AtomicU64::new(0),
        });
        tokio::spawn(write_loop(write, out_rx, conn.done.clone()));
        tokio::spawn(read_loop(read, conn.clone(), sink));
        conn
    }

    /// The server's `hello`.
    pub fn hello(&self) -> &ServerHello {
        &self.hello
    }

    /// Sends a request and waits for its answer, at most `timeout`.
    pub async fn request(&self, request: Request, timeout: Duration) -> Answer {
        let deadline = Instant::now() + timeout;
        let frame = ClientFrame::new(request);
        let id = frame.id;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if pending.closed {
                return Err(ClientError::ConnectionLost);
            }
            pending.waiting.insert(id, tx);
        }
        // Forget the entry however this future ends (answered, timed out, or dropped).
        let _cleanup = RemoveOnDrop { conn: self, id };
        match tokio::time::timeout_at(deadline, self.out.send(Outbound::Text(frame.to_json()))).await {
            Err(_) => return Err(ClientError::Timeout(timeout)),
            Ok(Err(_)) => return Err(ClientError::ConnectionLost),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.done.is_cancelled()
    }

    /// Waits until the connection has ended.
    pub async fn closed(&self) {
        self.done.cancelled().await
    }

    /// The close frame the server sent, if it sent one.
    pub fn close_info(&self) -> Option<CloseInfo> {
        lock(&self.close_info).clone()
    }

    /// Sends a close frame (best effort) and ends the connection.
    pub async fn close(&self, code: u16, reason: &str) {
        let queued = self
            .out
            .try_send(Outbound::Close(code, reason.to_owned()))
            .is_ok();
        if queued {
            // Give the writer a moment to put the close frame on the wire.
            let _ = tokio::time::timeout(Duration::from_millis(500), self.closed()).await;
        }
        self.shut();
    }

    /// Ends the connection now: fails every pending request and stops both tasks.
    fn shut(&self) {
        let waiting = {
            let mut pending = lock(&self.pending);
            pending.closed = true;
            std::mem::take(&mut pending.waiting)
        };
        for (_, tx) in waiting {
            let _ = tx.send(Err(ClientError::ConnectionLost));
        }
        self.done.cancel();
    }

    fn complete(&self, id: RequestId, answer: Answer) {
        let waiter = lock(&self.pending).waiting.remove(&id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(answer);
            }
            // The request timed out and was given up; its late answer has nobody to go to.
            None => tracing::debug!(%id, "answer for a request nobody waits for"),
        }
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_frame_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_frame_ms.store(now, Ordering::Relaxed);
    }

    /// Pings the server whenever nothing arrived for `interval`; a ping without an answer
    /// within `timeout` ends the connection, so a silently dead network is noticed.
    pub fn spawn_keepalive(self: &Arc<Self>, interval: Duration, timeout: Duration) {
        let conn = Arc::downgrade(self);
        let done = self.done.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = done.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                let Some(conn) = conn.upgrade() else { return };
                if conn.idle_for() < interval {
                    continue;
                }
                if let Err(ClientError::Timeout(_)) = conn.request(Request::Ping, timeout).await {
                    tracing::warn!("no answer to a keepalive ping; dropping the connection");
                    conn.shut();
                    return;
                }
            }
        });
    }
}

struct RemoveOnDrop<'a> {
    conn: &'a Conn,
    id: RequestId,
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        lock(&self.conn.pending).waiting.remove(&self.id);
    }
}

async fn write_loop(mut write: WsWrite, mut rx: mpsc::Receiver<Outbound>, done: CancellationToken) {
    loop {
        let next = tokio::select! {
            // Queued frames first: a close frame or a pong the reader queued goes out before
            // the task notices the end.
            biased;
            next = rx.recv() => next,
            _ = done.cancelled() => None,
        };
        let Some(out) = next else { break };
        let (frame, last) = match out {
            Outbound::Text(text) => (Frame::text(Payload::Owned(text.into_bytes())), false),
            Outbound::Control(opcode, payload) => {
                (Frame::new(true, opcode, None, Payload::Owned(payload)), false)
            }
            Outbound::Close(code, reason) => (Frame::close(code, reason.as_bytes()), true),
        };
        if let Err(e) = write.write_frame(frame).await {
            tracing::debug!(error = %e, "write failed");
            break;
        }
        if last {
            break;
        }
    }
    done.cancel();
}

async fn read_loop(mut read: WsRead, conn: Arc<Conn>, sink: EventSink) {
    let out = conn.out.clone();
    // Pongs and close replies that the protocol obliges us to send go through the writer.
    let mut obligated = move |frame: Frame<'_>| {
        let out = out.clone();
        let item = Outbound::Control(frame.opcode, frame.payload.to_vec());
        async move { out.send(item).await.map_err(|_| WebSocketError::ConnectionClosed) }
    };
    loop {
        let frame = tokio::select! {
            frame = read.read_frame(&mut obligated) => frame,
            _ = conn.done.cancelled() => break,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(error = %e, "connection read ended");
                break;
            }
        };
        conn.touch();
        match frame.opcode {
            OpCode::Text => dispatch(&conn, &sink, &frame.payload),
            OpCode::Close => {
                *lock(&conn.close_info) = Some(parse_close(&frame.payload));
                break;
            }
            _ => {}
        }
    }
    conn.shut();
}

fn dispatch(conn: &Conn, sink: &EventSink, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        tracing::warn!("server sent a text frame that is not UTF-8");
        return;
    };
    match decode_server_frame(text) {
        Ok(ServerFrame::Response { id, result }) => conn.complete(id, Ok(result)),
        Ok(ServerFrame::Error { id: Some(id), error }) => conn.complete(id, Err(ClientError::Server(error))),
        Ok(ServerFrame::Error { id: None, error }) => {
            tracing::warn!(%error, "server error without a request id")
        }
        Ok(ServerFrame::Event { event }) => sink(event),
        // A newer server may send event types this version does not know: skip them.
        Err(e) => tracing::debug!(error = %e, "ignoring a frame this client does not understand"),
    }
}

pub(crate) fn parse_close(payload: &[u8]) -> CloseInfo {
    match payload {
        [hi, lo, rest @ ..] => CloseInfo {
            code: u16::from_be_bytes([*hi, *lo]),
            reason: String::from_utf8_lossy(rest).into_owned(),
        },
        _ => CloseInfo {
            code: chat_proto::close::NORMAL,
            reason: String::new(),
        },
    }
}
