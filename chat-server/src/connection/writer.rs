//! The connection's writer: waits for the first frame to send, takes everything else that is
//! already queued (responses, events, control frames) up to the batch bound, and writes it
//! all at once. It also sends the close frame and so decides when the connection ends.

use tokio::io::AsyncWrite;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Mutex, mpsc, watch};

use super::{CloseMode, CloseRequest, Control, Events, SessionContext, Shared, close_kind, kick_close};
use crate::metrics::{CloseKind, ServerMetrics};
use crate::wsio::FrameWriter;
use chat_core::Connection;
use chat_proto::close;

pub(super) struct Writer<'a, W> {
    pub(super) frames: FrameWriter<W>,
    pub(super) responses: mpsc::Receiver<String>,
    pub(super) events: Events,
    pub(super) control: mpsc::Receiver<Control>,
    pub(super) close: watch::Receiver<Option<CloseRequest>>,
    pub(super) shared: &'a Shared,
    pub(super) conn: &'a Mutex<Connection>,
    pub(super) ctx: &'a SessionContext,
}

/// Which queues are still open.
struct Open {
    responses: bool,
    events: bool,
    control: bool,
}

impl<W: AsyncWrite + Unpin> Writer<'_, W> {
    /// Writes `hello`, then serves the queues until the connection closes; returns how it
    /// ended (already counted in the metrics).
    pub(super) async fn run(mut self, hello: std::sync::Arc<str>) -> CloseKind {
        self.frames.push_text(&hello);
        if let Err(ended) = self.write().await {
            return self.ended(ended);
        }
        let mut open = Open {
            responses: true,
            events: true,
            control: true,
        };
        let mut close_seen = false;
        loop {
            tokio::select! {
                biased;
                changed = self.close.changed(), if !close_seen => close_seen = changed.is_err() || self.close.borrow().is_some(),
                item = self.control.recv(), if open.control => match item {
                    Some(c) => self.push_control(c),
                    None => open.control = false,
                },
                item = self.responses.recv(), if open.responses => match item {
                    Some(text) => self.frames.push_text(&text),
                    None => open.responses = false,
                },
                item = self.events.recv(), if open.events => match item {
                    Some(text) => self.frames.push_text(&text),
                    None => self.kicked(&mut open).await,
                },
                // Unreachable while `Shared` lives (a close request enables `responses` or
                // returns below), but a writer with nothing left to wait for must end, not
                // panic.
                else => return self.ended(CloseKind::Dropped),
            }
            self.gather(&mut open).await;
            let request = self.close.borrow().clone();
            if let Some(request) = request {
                match request.mode {
                    CloseMode::Abort => return self.ended(CloseKind::Dropped),
                    // Wait until every request read before the shutdown is answered.
                    CloseMode::Drain if open.responses => {}
                    _ => return self.finish(&request).await,
                }
            }
            if let Err(ended) = self.write().await {
                return self.ended(ended);
            }
        }
    }

    /// Counts how the connection ended, once.
    fn ended(&self, kind: CloseKind) -> CloseKind {
        self.ctx.metrics.closed(kind);
        kind
    }

    /// Takes what is already queued, without waiting, up to the batch bound.
    async fn gather(&mut self, open: &mut Open) {
        while self.frames.pending_bytes() < self.ctx.limits.max_write_batch_bytes {
            if open.control {
                match self.control.try_recv() {
                    Ok(c) => {
                        self.push_control(c);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => open.control = false,
                    Err(TryRecvError::Empty) => {}
                }
            }
            if open.responses {
                match self.responses.try_recv() {
                    Ok(text) => {
                        self.frames.push_text(&text);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => open.responses = false,
                    Err(TryRecvError::Empty) => {}
                }
            }
            if open.events {
                match self.events.try_recv() {
                    Ok(text) => {
                        self.frames.push_text(&text);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => {
                        self.kicked(open).await;
                        continue;
                    }
                    Err(TryRecvError::Empty) => {}
                }
            }
            break;
        }
    }

    /// The core dropped this connection's queue: close with its reason. Waits for an
    /// in-flight request, whose answer still goes out before the close.
    async fn kicked(&mut self, open: &mut Open) {
        open.events = false;
        let reason = self.conn.lock().await.kicked();
        let (code, text) = kick_close(reason);
        tracing::info!(peer = %self.ctx.peer, code, "core dropped the connection: {text}");
        self.shared.request_close(code, text, CloseMode::Now);
    }

    fn push_control(&mut self, control: Control) {
        match control {
            Control::Ping => self.frames.push_ping(b""),
            Control::Pong(payload) => self.frames.push_pong(&payload),
        }
    }

    /// Writes the close frame after what is gathered, ends the write direction, and says
    /// how the connection ended.
    async fn finish(&mut self, request: &CloseRequest) -> CloseKind {
        let code = if request.mode == CloseMode::Echo || crate::wsio::sendable_close_code(request.code) {
            request.code
        } else {
            close::INTERNAL
        };
        self.frames.push_close(code, &request.reason);
        // Counted before the frame leaves, so that a client that saw it also sees the count.
        let kind = self.ended(close_kind(request));
        if self.write().await.is_err() {
            return kind;
        }
        let _ = tokio::time::timeout(self.ctx.timeouts.close_grace, self.frames.shutdown()).await;
        kind
    }

    /// Writes the gathered frames within the write timeout. Fails when the connection is
    /// unusable: the socket failed, or the client stopped reading for so long that it is
    /// dropped as a slow consumer (without a close frame: there is no room for one).
    async fn write(&mut self) -> Result<(), CloseKind> {
        let metrics = &self.ctx.metrics;
        match tokio::time::timeout(self.ctx.timeouts.write, self.frames.flush()).await {
            Ok(Ok((0, _))) => Ok(()),
            Ok(Ok((frames, bytes))) => {
                ServerMetrics::inc(&metrics.write_batches);
                ServerMetrics::add(&metrics.frames_out, frames);
                ServerMetrics::add(&metrics.bytes_out, bytes);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.ctx.peer, "write failed: {e}");
                Err(CloseKind::Dropped)
            }
            Err(_) => {
                tracing::info!(peer = %self.ctx.peer, "write blocked past the write timeout; dropping slow consumer");
                Err(CloseKind::Server(close::SLOW_CONSUMER))
            }
        }
    }
}
