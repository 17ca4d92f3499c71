//! One WebSocket connection, run inside the connection's single task as four cooperating
//! futures: the reader (frames in, decoding), the processor (requests handed to the core one
//! at a time, so responses keep the order of requests), the writer (responses, events and
//! control frames out, batched) and the supervisor (authentication and idle timeouts, pings,
//! shutdown). Generic over the socket halves so any stream can carry it.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use chat_core::{Begun, ChatService, Connection, KickReason, Outbound};
use chat_proto::{ErrorCode, ServerFrame, close, decode_client_frame};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Limits, Timeouts};
use crate::metrics::{CloseKind, ServerMetrics};
use crate::wsio::{FrameWriter, Inbound, MessageReader, ReadError};

mod supervisor;
mod writer;

/// What a connection needs from the server.
#[derive(Clone)]
pub(crate) struct SessionContext {
    pub(crate) core: ChatService,
    pub(crate) hello: Arc<str>,
    pub(crate) peer: SocketAddr,
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    pub(crate) shutdown: CancellationToken,
    pub(crate) metrics: Arc<ServerMetrics>,
}

/// A request for the writer to end the connection.
#[derive(Clone, Debug)]
struct CloseRequest {
    code: u16,
    reason: String,
    mode: CloseMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseMode {
    /// Send the close frame after what is already gathered.
    Now,
    /// Answer every request already read, then close (graceful shutdown).
    Drain,
    /// The client closed first: echo its close.
    Echo,
    /// The socket is gone: send nothing.
    Abort,
}

/// An item the reader passes to the processor, in arrival order.
///
/// Both variants are boxed: the queue allocates its slots in blocks, and small slots keep an
/// idle connection's memory down.
enum Work {
    Request(Box<chat_proto::ClientFrame>),
    /// A frame that did not decode: its error answer keeps its place in the order, and it
    /// counts toward the rate limit like a request.
    Invalid(Box<chat_proto::DecodeError>),
}

/// Control frames for the writer.
enum Control {
    Ping,
    Pong(Vec<u8>),
}

/// State the four futures share. Times are milliseconds since `started`.
struct Shared {
    started: Instant,
    last_seen: AtomicU64,
    authenticated: AtomicBool,
    unauthenticated_since: AtomicU64,
    /// Wakes the supervisor when the authentication deadline moves (after a logout).
    auth_changed: Notify,
    close: watch::Sender<Option<CloseRequest>>,
}

impl Shared {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_seen: AtomicU64::new(0),
            authenticated: AtomicBool::new(false),
            unauthenticated_since: AtomicU64::new(0),
            auth_changed: Notify::new(),
            close: watch::Sender::new(None),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_seen.store(self.now(), Ordering::Relaxed);
    }

    fn set_authenticated(&self, yes: bool) {
        let was = self.authenticated.swap(yes, Ordering::Relaxed);
        if was && !yes {
            // After a logout the connection gets a fresh authentication deadline.
            self.unauthenticated_since.store(self.now(), Ordering::Relaxed);
        }
        if was != yes {
            self.auth_changed.notify_one();
        }
    }

    /// Asks the writer to close; the first request wins.
    fn request_close(&self, code: u16, reason: impl Into<String>, mode: CloseMode) {
        let request = CloseRequest {
            code,
            reason: reason.into(),
            mode,
        };
        self.close.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(request);
            true
        });
    }

    fn closing(&self) -> bool {
        self.close.borrow().is_some()
    }
}

/// Runs one WebSocket connection to its end.
pub(crate) async fn run<R, W>(reader: MessageReader<R>, writer: FrameWriter<W>, ctx: SessionContext)
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let (conn, events) = ctx.core.open_connection(ctx.peer.ip());
    let conn = Mutex::new(conn);
    let shared = Shared::new();
    let (work_tx, work_rx) = mpsc::channel(ctx.limits.max_pipelined_requests);
    let (out_tx, out_rx) = mpsc::channel(ctx.limits.max_pipelined_requests);
    let (control_tx, control_rx) = mpsc::channel(16);

    let hello = Arc::clone(&ctx.hello);
    let write = writer::Writer {
        frames: writer,
        responses: out_rx,
        events,
        control: control_rx,
        close: shared.close.subscribe(),
        shared: &shared,
        conn: &conn,
        ctx: &ctx,
    };
    let mut write = pin!(write.run(hello));
    let mut read = pin!(read_loop(reader, work_tx, control_tx.clone(), &shared, &ctx));
    let mut process = pin!(process_loop(work_rx, out_tx, &conn, &shared, &ctx));
    let mut supervise = pin!(supervisor::supervise(control_tx, &shared, &ctx));
    let (mut read_done, mut process_done, mut supervise_done) = (false, false, false);

    let ended = loop {
        tokio::select! {
            ended = &mut write => break ended,
            () = &mut read, if !read_done => read_done = true,
            () = &mut process, if !process_done => process_done = true,
            () = &mut supervise, if !supervise_done => supervise_done = true,
        }
    };

    // Our close frame is out (or the socket is gone). Give the client a moment to answer
    // it and an in-flight request a moment to finish, then drop everything.
    let grace = tokio::time::sleep(ctx.timeouts.close_grace);
    let mut grace = pin!(grace);
    while !(read_done && process_done) {
        tokio::select! {
            () = &mut read, if !read_done => read_done = true,
            () = &mut process, if !process_done => process_done = true,
            () = &mut grace => break,
        }
    }
    tracing::debug!(peer = %ctx.peer, ?ended, "connection ended");
}

/// The most bytes read and dropped after a violation while the close frame goes out: the
/// rest of a message a few times over the default size limit.
const DISCARD_AFTER_VIOLATION_BYTES: usize = 1024 * 1024;

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: MessageReader<R>,
    work: mpsc::Sender<Work>,
    control: mpsc::Sender<Control>,
    shared: &Shared,
    ctx: &SessionContext,
) {
    loop {
        let item = reader.next().await;
        shared.touch();
        match item {
            Ok(Inbound::Text(bytes)) => {
                ServerMetrics::inc(&ctx.metrics.frames_in);
                ServerMetrics::add(&ctx.metrics.bytes_in, bytes.len());
                // Once the close is decided, requests are no longer taken. (During a graceful
                // shutdown the processor answers what reaches it with `shutting_down`.)
                if shared.closing() {
                    continue;
                }
                let item = match decode_client_frame(&bytes, ctx.limits.max_frame_bytes) {
                    Ok(frame) => Work::Request(Box::new(frame)),
                    Err(e) => {
                        ServerMetrics::inc(&ctx.metrics.decode_errors);
                        Work::Invalid(Box::new(e))
                    }
                };
                if work.send(item).await.is_err() {
                    // The processor stopped (shutdown); keep reading for the close frame.
                    continue;
                }
            }
            Ok(Inbound::Ping(payload)) => {
                // A client flooding pings may miss some pongs; RFC 6455 allows answering
                // only the latest.
                let _ = control.try_send(Control::Pong(payload));
            }
            Ok(Inbound::Pong) => {}
            Ok(Inbound::Close(code)) => {
                let (code, reason) = match code {
                    Some(code) => (code, ""),
                    None => (close::NORMAL, ""),
                };
                shared.request_close(code, reason, CloseMode::Echo);
                return;
            }
            Err(ReadError::Violation(v)) => {
                let (code, reason) = v.close(ctx.limits.max_frame_bytes);
                tracing::debug!(peer = %ctx.peer, code, reason, "closing on a client violation");
                shared.request_close(code, reason, CloseMode::Now);
                // Bounded in bytes here and in time by the close grace (in `run` too).
                let _ = tokio::time::timeout(
                    ctx.timeouts.close_grace,
                    reader.discard(DISCARD_AFTER_VIOLATION_BYTES),
                )
                .await;
                return;
            }
            Err(ReadError::Gone) => {
                shared.request_close(0, "", CloseMode::Abort);
                return;
            }
        }
    }
}

/// A request's answer, ready or still being stored; answered in request order.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = ServerFrame> + Send>>;

async fn process_loop(
    mut work: mpsc::Receiver<Work>,
    out: mpsc::Sender<String>,
    conn: &Mutex<Connection>,
    shared: &Shared,
    ctx: &SessionContext,
) {
    let mut answers = Answers {
        out,
        strikes: 0,
        shared,
        ctx,
    };
    // Consecutive sends overlap: each is queued for storing (in order) as soon as it is
    // read, so the messages of one connection share group commits; everything else waits
    // until the sends before it are answered, so it sees their effects.
    let mut sending: FuturesOrdered<Answer> = FuturesOrdered::new();
    let limit = ctx.limits.max_pipelined_requests;
    loop {
        let item = tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => break,
            Some(frame) = sending.next(), if !sending.is_empty() => {
                if answers.give(frame).await.is_err() {
                    return answers.finish(&mut sending).await;
                }
                continue;
            }
            item = work.recv(), if sending.len() < limit => match item {
                Some(item) => item,
                None => return answers.finish(&mut sending).await,
            },
        };
        if shared.closing() {
            return answers.finish(&mut sending).await;
        }
        let begun = match item {
            Work::Invalid(error) => Begun::Answered(conn.lock().await.answer_undecodable(*error)),
            Work::Request(request) => {
                if !matches!(request.request, chat_proto::Request::SendMessage { .. })
                    && answers.all(&mut sending).await.is_err()
                {
                    return answers.finish(&mut sending).await;
                }
                let mut conn = conn.lock().await;
                // Boxed: the largest handler's state would otherwise be part of every
                // connection task's size, idle or not.
                let begun = Box::pin(conn.begin(*request)).await;
                shared.set_authenticated(conn.is_authenticated());
                begun
            }
        };
        let answered = match begun {
            Begun::Answered(frame) if sending.is_empty() => answers.give(frame).await,
            Begun::Answered(frame) => {
                sending.push_back(Box::pin(std::future::ready(frame)));
                Ok(())
            }
            Begun::Sending(answer) => {
                sending.push_back(answer);
                Ok(())
            }
        };
        if answered.is_err() {
            return answers.finish(&mut sending).await;
        }
    }
    // Shutting down: sends already queued for storing are finished and answered; what was
    // read but not started is answered `shutting_down` (retryable, nothing done), so the
    // client can send it again elsewhere.
    if answers.all(&mut sending).await.is_err() {
        return answers.finish(&mut sending).await;
    }
    work.close();
    while let Ok(item) = work.try_recv() {
        let id = match item {
            Work::Request(request) => Some(request.id),
            Work::Invalid(error) => error.id,
        };
        let frame = ServerFrame::Error {
            id,
            error: chat_proto::ValidationError::new(ErrorCode::ShuttingDown, "the server is shutting down")
                .into(),
        };
        if answers.out.send(frame.to_json()).await.is_err() {
            return;
        }
    }
}

/// Hands answers to the writer and counts rate-limit strikes.
struct Answers<'a> {
    out: mpsc::Sender<String>,
    strikes: u32,
    shared: &'a Shared,
    ctx: &'a SessionContext,
}

/// The processor stops: the writer is gone or the connection is closing.
struct Stop;

impl Answers<'_> {
    async fn give(&mut self, frame: ServerFrame) -> Result<(), Stop> {
        self.shared.touch();
        self.strikes = match &frame {
            ServerFrame::Error { error, .. } if error.code == ErrorCode::RateLimited => self.strikes + 1,
            _ => 0,
        };
        self.out.send(frame.to_json()).await.map_err(|_| Stop)?;
        if self.strikes >= self.ctx.limits.rate_limit_strikes {
            let reason = format!("{} requests in a row over the rate limit", self.strikes);
            self.shared
                .request_close(close::RATE_LIMITED, reason, CloseMode::Now);
            return Err(Stop);
        }
        Ok(())
    }

    /// Answers every send in flight, in order.
    async fn all(&mut self, sending: &mut FuturesOrdered<Answer>) -> Result<(), Stop> {
        while let Some(frame) = sending.next().await {
            self.give(frame).await?;
        }
        Ok(())
    }

    /// Lets the sends in flight finish (their messages are stored and published either
    /// way); their answers go out if the writer still takes them.
    async fn finish(&mut self, sending: &mut FuturesOrdered<Answer>) {
        while let Some(frame) = sending.next().await {
            let _ = self.out.send(frame.to_json()).await;
        }
    }
}

/// The close code for a connection the core kicked.
fn kick_close(reason: Option<KickReason>) -> (u16, &'static str) {
    match reason {
        Some(KickReason::SessionEnded) => (close::SESSION_ENDED, "session revoked or expired; log in again"),
        // A queue that ended without a reason can only have been dropped for falling
        // behind.
        Some(KickReason::SlowConsumer) | None => (
            close::SLOW_CONSUMER,
            "slow consumer: events not read in time; reconnect and resume",
        ),
    }
}

/// Whether a [`CloseKind`] for a close we sent.
fn close_kind(request: &CloseRequest) -> CloseKind {
    match request.mode {
        CloseMode::Echo => CloseKind::Client,
        CloseMode::Abort => CloseKind::Dropped,
        CloseMode::Now | CloseMode::Drain => CloseKind::Server(request.code),
    }
}

/// Type of the core's outbound queue, named for the writer.
type Events = mpsc::Receiver<Outbound>;

#[cfg(test)]
mod tests;
