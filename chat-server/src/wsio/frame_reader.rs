//! Reading single WebSocket frames from a client (RFC 6455 section 5.2), with no buffer of
//! its own beyond a few bytes: an idle connection should cost as little memory as possible,
//! and a fixed read buffer per connection (8 KiB in the library used for the handshake)
//! would be most of it. The header is read into a stack array and the payload into a vector
//! of exactly its length, which the caller keeps.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{ReadError, Violation, protocol};

/// Frame opcodes a client may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn parse(bits: u8) -> Result<Self, ReadError> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return Err(protocol("unknown opcode")),
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One frame, unmasked.
pub(super) struct RawFrame {
    pub(super) fin: bool,
    pub(super) opcode: Opcode,
    pub(super) payload: Vec<u8>,
}

/// The largest payload a control frame may have.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Reads the next frame. A data frame's payload longer than `max_payload` is refused before
/// it is read.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    io: &mut R,
    max_payload: usize,
) -> Result<RawFrame, ReadError> {
    let mut head = [0u8; 2];
    read_exact(io, &mut head).await?;
    let fin = head[0] & 0x80 != 0;
    if head[0] & 0x70 != 0 {
        return Err(protocol("reserved bits set"));
    }
    let opcode = Opcode::parse(head[0] & 0x0F)?;
    if head[1] & 0x80 == 0 {
        // Section 5.1: a server must close the connection on an unmasked client frame.
        return Err(protocol("unmasked client frame"));
    }
    let len = match head[1] & 0x7F {
        126 => {
            let mut ext = [0u8; 2];
            read_exact(io, &mut ext).await?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            read_exact(io, &mut ext).await?;
            let len = u64::from_be_bytes(ext);
            if len >> 63 != 0 {
                return Err(protocol("payload length with the top bit set"));
            }
            len
        }
        short => u64::from(short),
    };
    if opcode.is_control() {
        if !fin {
            return Err(protocol("fragmented control frame"));
        }
        if len > MAX_CONTROL_PAYLOAD {
            return Err(protocol("control frame payload over 125 bytes"));
        }
    }
    // Control frames are bounded above and do not count toward a message's size.
    let len = match usize::try_from(len) {
        Ok(len) if len <= max_payload || opcode.is_control() => len,
        _ => return Err(ReadError::Violation(Violation::TooBig)),
    };
    let mut mask = [0u8; 4];
    read_exact(io, &mut mask).await?;
    let mut payload = vec![0u8; len];
    read_exact(io, &mut payload).await?;
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
    Ok(RawFrame { fin, opcode, payload })
}

/// Fills `buf`; the socket ending or failing on the way means the client is gone.
async fn read_exact<R: AsyncRead + Unpin>(io: &mut R, buf: &mut [u8]) -> Result<(), ReadError> {
    io.read_exact(buf).await.map(|_| ()).map_err(|_| ReadError::Gone)
}
