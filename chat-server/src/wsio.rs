//! WebSocket framing for one connection: a reader that joins fragments under the size
//! limit and sorts out control frames, and a writer that gathers many frames into one
//! buffer so that a burst goes out as one write (one TLS record, one syscall where the
//! batch fits) instead of one per frame.

use fastwebsockets::{Frame, OpCode, Payload};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use frame_reader::{Opcode, read_frame};

mod frame_reader;

/// What the reader hands to the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// A complete text message; its bytes are not yet checked for UTF-8.
    Text(Vec<u8>),
    /// A ping with its payload, to be answered with a pong.
    Ping(Vec<u8>),
    /// A pong (only liveness).
    Pong,
    /// The client's close frame: its code, or `None` for a close frame without one.
    Close(Option<u16>),
}

/// Why reading stopped with a close code of ours.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A message larger than the limit: 1009.
    TooBig,
    /// A binary message: 1003.
    Binary,
    /// A text message that is not UTF-8: 1007.
    InvalidUtf8,
    /// A close frame whose reason is not UTF-8: 1007.
    InvalidCloseReason,
    /// A framing error: 1002.
    Protocol(&'static str),
}

impl Violation {
    /// The close code and reason to send.
    pub(crate) fn close(&self, max_bytes: usize) -> (u16, String) {
        use chat_proto::close;
        match self {
            Violation::TooBig => (close::TOO_BIG, format!("message larger than {max_bytes} bytes")),
            Violation::Binary => (
                close::UNSUPPORTED_DATA,
                "binary frames are not accepted; send JSON text".into(),
            ),
            Violation::InvalidUtf8 => (close::INVALID_PAYLOAD, "text frame is not valid UTF-8".into()),
            Violation::InvalidCloseReason => (
                close::INVALID_PAYLOAD,
                "close frame reason is not valid UTF-8".into(),
            ),
            Violation::Protocol(what) => (1002, format!("protocol error: {what}")),
        }
    }
}

/// Why reading ended.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The client broke a rule; close with the violation's code.
    Violation(Violation),
    /// The socket ended or failed; nothing can be sent.
    Gone,
}

/// Reads whole messages from the client side of a WebSocket.
pub(crate) struct MessageReader<R> {
    io: R,
    max_bytes: usize,
    /// A fragmented message being joined, and whether it is binary.
    partial: Option<(Vec<u8>, bool)>,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// Wraps the read half of an upgraded stream (server role).
    pub(crate) fn new(io: R, max_bytes: usize) -> Self {
        Self {
            io,
            max_bytes,
            partial: None,
        }
    }

    /// The next message or control frame. Control frames are handed over, not answered:
    /// the connection's writer owns the socket's write half.
    pub(crate) async fn next(&mut self) -> Result<Inbound, ReadError> {
        loop {
            // A fragment may only fill what the message has left; more is refused unread.
            let room = self.max_bytes - self.partial.as_ref().map_or(0, |(buf, _)| buf.len());
            let frame = read_frame(&mut self.io, room).await?;
            match frame.opcode {
                Opcode::Text | Opcode::Binary => {
                    if self.partial.is_some() {
                        return Err(protocol("new message inside a fragmented one"));
                    }
                    let binary = frame.opcode == Opcode::Binary;
                    if frame.fin {
                        return finish(frame.payload, binary);
                    }
                    self.partial = Some((frame.payload, binary));
                }
                Opcode::Continuation => {
                    let Some((mut buf, binary)) = self.partial.take() else {
                        return Err(protocol("continuation without a message"));
                    };
                    buf.extend_from_slice(&frame.payload);
                    if frame.fin {
                        return finish(buf, binary);
                    }
                    self.partial = Some((buf, binary));
                }
                Opcode::Ping => return Ok(Inbound::Ping(frame.payload)),
                Opcode::Pong => return Ok(Inbound::Pong),
                Opcode::Close => return parse_close(&frame.payload),
            }
        }
    }

    /// Reads and drops what the client still sends, until the stream ends or `max_bytes`
    /// went by. Used after a violation, while our close frame goes out: a client still
    /// sending (the rest of an oversized message, say) would otherwise meet a socket closed
    /// with unread data, whose TCP reset destroys the close frame before the client reads
    /// it, and never learn why the connection ended.
    pub(crate) async fn discard(&mut self, max_bytes: usize) {
        // On the heap: this runs once per connection at most, and a buffer inside the
        // future would be part of every connection task's size.
        let mut buf = vec![0u8; 16 * 1024];
        let mut left = max_bytes;
        while left > 0 {
            let want = left.min(buf.len());
            match self.io.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left -= n,
            }
        }
    }
}

fn finish(payload: Vec<u8>, binary: bool) -> Result<Inbound, ReadError> {
    if binary {
        Err(ReadError::Violation(Violation::Binary))
    } else if std::str::from_utf8(&payload).is_err() {
        Err(ReadError::Violation(Violation::InvalidUtf8))
    } else {
        Ok(Inbound::Text(payload))
    }
}

fn protocol(what: &'static str) -> ReadError {
    ReadError::Violation(Violation::Protocol(what))
}

/// Reads a client's close frame (RFC 6455 section 5.5.1): empty, or a code and a UTF-8
/// reason. A code that may not appear in a close frame is a protocol error (section 7.4),
/// answered with 1002 rather than echoed.
fn parse_close(payload: &[u8]) -> Result<Inbound, ReadError> {
    match payload {
        [] => Ok(Inbound::Close(None)),
        [_] => Err(protocol("close frame with a one-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !sendable_close_code(code) {
                return Err(protocol("close code not allowed in a close frame"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(ReadError::Violation(Violation::InvalidCloseReason));
            }
            Ok(Inbound::Close(Some(code)))
        }
    }
}

/// Whether a close code may appear in a close frame (RFC 6455 section 7.4): the defined
/// codes other than 1004 (reserved), 1005 and 1006 (never sent), and 1015 (TLS, never
/// sent); the codes registered since (1012 to 1014); and 3000 to 4999 for libraries and
/// applications. Everything else, 0 to 999 and 1016 to 2999 and 5000 up included, is not.
pub(crate) fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Collects frames in one buffer and writes them together.
pub(crate) struct FrameWriter<W> {
    io: W,
    buf: Vec<u8>,
    frames: usize,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Wraps the write half of an upgraded stream.
    pub(crate) fn new(io: W) -> Self {
        Self {
            io,
            // Small to start: most connections are idle most of the time.
            buf: Vec::with_capacity(1024),
            frames: 0,
        }
    }

    /// Appends a text frame.
    pub(crate) fn push_text(&mut self, text: &str) {
        self.push(OpCode::Text, text.as_bytes());
    }

    /// Appends a ping.
    pub(crate) fn push_ping(&mut self, payload: &[u8]) {
        self.push(OpCode::Ping, payload);
    }

    /// Appends a pong answering a ping with `payload`.
    pub(crate) fn push_pong(&mut self, payload: &[u8]) {
        self.push(OpCode::Pong, payload);
    }

    /// Appends a close frame. The reason is cut to the 123 bytes a close frame can carry.
    pub(crate) fn push_close(&mut self, code: u16, reason: &str) {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        self.push(OpCode::Close, &payload);
    }

    fn push(&mut self, opcode: OpCode, payload: &[u8]) {
        let mut head = [0u8; 16];
        let len = Frame::new(true, opcode, None, Payload::Borrowed(payload)).fmt_head(&mut head);
        self.buf.extend_from_slice(&head[..len]);
        self.buf.extend_from_slice(payload);
        self.frames += 1;
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Writes everything gathered in one `write_all` and flushes. Returns the frame and byte
    /// counts written.
    pub(crate) async fn flush(&mut self) -> std::io::Result<(usize, usize)> {
        if self.buf.is_empty() {
            return Ok((0, 0));
        }
        self.io.write_all(&self.buf).await?;
        self.io.flush().await?;
        let written = (self.frames, self.buf.len());
        self.buf.clear();
        self.frames = 0;
        // Do not keep a large buffer around after a burst.
        if self.buf.capacity() > 64 * 1024 {
            self.buf.shrink_to(16 * 1024);
        }
        Ok(written)
    }

    /// Ends the write direction (TLS close_notify, then TCP FIN).
    pub(crate) async fn shutdown(&mut self) -> std::io::Result<()> {
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests;
