//! One load connection: a reader task and a writer task on the load generator's single
//! thread, a FIFO of pending requests (the server answers one connection's requests in
//! order, so no id map is needed), and the last `seq` seen per room for resuming.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use chat_proto::{ServerFrame, decode_server_frame};
use fastwebsockets::{Frame, Payload};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::LoadError;
use crate::frames::{self, Sorted};
use crate::track::Tracker;
use crate::wire::{self, Endpoint, Incoming, WsRead, WsWrite};

/// How long a setup request may wait for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the writer task sends.
enum Out {
    Text(String),
    Pong(Vec<u8>),
    Close,
}

/// A request waiting for its answer.
enum Pending {
    /// A setup request: the answer's text goes back to the caller.
    Waiter(oneshot::Sender<Result<String, LoadError>>),
    /// A tracked `send_message`: the answer goes to the tracker.
    Send { sender: usize, n: u64, sent_us: u64 },
}

/// One connection to the server.
pub struct Conn {
    /// The connection's index in the run (its receiver index).
    pub index: usize,
    out: mpsc::UnboundedSender<Out>,
    pending: RefCell<VecDeque<Pending>>,
    seqs: RefCell<Vec<(u64, u64)>>,
    closed_with: Cell<Option<u16>>,
    gone: Cell<bool>,
    tasks: RefCell<Vec<JoinHandle<()>>>,
    tracker: Rc<Tracker>,
}

impl Conn {
    /// Connects to `endpoint` and starts the connection's tasks (on the current `LocalSet`).
    pub async fn open(
        endpoint: &Endpoint,
        index: usize,
        tracker: Rc<Tracker>,
    ) -> Result<Rc<Self>, LoadError> {
        let (read, write, _hello) = endpoint.connect().await?;
        let (out, rx) = mpsc::unbounded_channel();
        let conn = Rc::new(Self {
            index,
            out,
            pending: RefCell::new(VecDeque::new()),
            seqs: RefCell::new(Vec::new()),
            closed_with: Cell::new(None),
            gone: Cell::new(false),
            tasks: RefCell::new(Vec::new()),
            tracker,
        });
        let reader = tokio::task::spawn_local(read_loop(conn.clone(), read));
        let writer = tokio::task::spawn_local(write_loop(write, rx));
        conn.tasks.borrow_mut().extend([reader, writer]);
        Ok(conn)
    }

    /// Sends a setup request and waits for its answer; an error answer becomes
    /// [`LoadError::Refused`].
    pub async fn request(&self, what: &'static str, text: String) -> Result<ServerFrame, LoadError> {
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().push_back(Pending::Waiter(tx));
        if self.out.send(Out::Text(text)).is_err() {
            return Err(LoadError::Protocol(format!("{what}: the connection is closed")));
        }
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, rx)
            .await
            .map_err(|_| LoadError::Timeout(format!("waiting for the answer to {what}")))?
            .map_err(|_| LoadError::Protocol(format!("{what}: the connection closed")))??;
        let frame = decode_server_frame(&answer).map_err(|e| LoadError::Protocol(e.to_string()))?;
        match frame {
            ServerFrame::Error { error, .. } => Err(LoadError::Refused {
                request: what,
                code: error.code.to_string(),
                message: error.message,
            }),
            frame => Ok(frame),
        }
    }

    /// Sends a tracked `send_message` without waiting; the answer goes to the tracker.
    /// `false` when the connection is closed.
    pub fn send_tracked(&self, text: String, sender: usize, n: u64, sent_us: u64) -> bool {
        self.pending
            .borrow_mut()
            .push_back(Pending::Send { sender, n, sent_us });
        self.out.send(Out::Text(text)).is_ok()
    }

    /// Sends a close frame (a clean goodbye); the tasks end when the server answers.
    pub fn close(&self) {
        let _ = self.out.send(Out::Close);
    }

    /// Drops the connection at once, without a close frame, as a lost network would.
    pub fn drop_now(&self) {
        for task in self.tasks.borrow_mut().drain(..) {
            task.abort();
        }
        self.gone.set(true);
    }

    /// Whether the connection has ended.
    pub fn is_gone(&self) -> bool {
        self.gone.get()
    }

    /// The close code the server sent, if it closed the connection.
    pub fn closed_with(&self) -> Option<u16> {
        self.closed_with.get()
    }

    /// The highest `seq` seen in `room` (0 for none).
    pub fn last_seq(&self, room: u64) -> u64 {
        self.seqs
            .borrow()
            .iter()
            .find(|(r, _)| *r == room)
            .map_or(0, |(_, s)| *s)
    }

    /// Notes that `seq` of `room` was seen.
    pub fn note_seq(&self, room: u64, seq: u64) {
        let mut seqs = self.seqs.borrow_mut();
        match seqs.iter_mut().find(|(r, _)| *r == room) {
            Some((_, s)) => *s = (*s).max(seq),
            None => seqs.push((room, seq)),
        }
    }

    fn on_text(&self, text: String) {
        match frames::sort(&text) {
            Sorted::Message(seen) => {
                self.note_seq(seen.room, seen.seq);
                self.tracker.message(self.index, &seen);
            }
            Sorted::Response | Sorted::Error => {
                let ok = !text.starts_with(frames::ERROR_PREFIX);
                let pending = self.pending.borrow_mut().pop_front();
                match pending {
                    Some(Pending::Waiter(tx)) => {
                        let _ = tx.send(Ok(text));
                    }
                    Some(Pending::Send { sender, n, sent_us }) => {
                        if !ok {
                            self.tracker.error_code(&error_code(&text));
                        }
                        self.tracker.answered(sender, n, sent_us, ok);
                    }
                    None => self.tracker.error_code("answer_without_request"),
                }
            }
            Sorted::OtherEvent => self.tracker.other_event(),
        }
    }

    fn ended(&self) {
        self.gone.set(true);
        for pending in self.pending.borrow_mut().drain(..) {
            if let Pending::Waiter(tx) = pending {
                let _ = tx.send(Err(LoadError::Protocol("the connection closed".into())));
            }
        }
    }
}

/// The code of an error answer.
fn error_code(text: &str) -> String {
    match decode_server_frame(text) {
        Ok(ServerFrame::Error { error, .. }) => error.code.to_string(),
        _ => "undecodable_error".to_owned(),
    }
}

async fn read_loop(conn: Rc<Conn>, mut read: WsRead) {
    loop {
        match wire::read_frame(&mut read).await {
            Ok(Incoming::Text(text)) => conn.on_text(text),
            Ok(Incoming::Ping(payload)) => {
                let _ = conn.out.send(Out::Pong(payload));
            }
            Ok(Incoming::Close(code)) => {
                conn.closed_with.set(Some(code.unwrap_or(1005)));
                // Answer the close so the server can finish cleanly.
                let _ = conn.out.send(Out::Close);
                break;
            }
            Ok(Incoming::Other) => {}
            Err(_) => break,
        }
    }
    conn.ended();
}

async fn write_loop(mut write: WsWrite, mut rx: mpsc::UnboundedReceiver<Out>) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut closing = false;
        // Everything already queued goes out before one flush.
        while let Some(item) = next {
            let frame = match item {
                Out::Text(text) => Frame::text(Payload::Owned(text.into_bytes())),
                Out::Pong(payload) => Frame::pong(Payload::Owned(payload)),
                Out::Close => {
                    closing = true;
                    Frame::close(1000, b"")
                }
            };
            if write.write_frame(frame).await.is_err() {
                return;
            }
            if closing {
                break;
            }
            next = rx.try_recv().ok();
        }
        if write.flush().await.is_err() || closing {
            return;
        }
    }
}
