//! A lean wss client for load: TCP, TLS pinned to the server's certificate fingerprint, a
//! hand-written HTTP upgrade, and the split WebSocket halves. It skips everything a load
//! generator does not need (reconnect policy, request maps, hyper) so that thousands of
//! connections cost the client side little memory and CPU.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fastwebsockets::{Frame, OpCode, Role, WebSocket, WebSocketRead, WebSocketWrite};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;

use crate::error::LoadError;

/// The TLS stream under every load connection.
pub type Stream = TlsStream<TcpStream>;
/// The read half of an upgraded connection.
pub type WsRead = WebSocketRead<ReadHalf<Stream>>;
/// The write half of an upgraded connection.
pub type WsWrite = WebSocketWrite<WriteHalf<Stream>>;

/// Largest HTTP response head accepted during the upgrade.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// The SHA-256 of the server's leaf certificate (DER), which the client trusts instead of a
/// CA chain: the client library's fingerprint, so both trust a server the same way.
pub type Pin = chat_client_lib::Fingerprint;

/// Parses 64 hex digits, with or without colons, as the server prints them.
pub fn parse_pin(text: &str) -> Result<Pin, LoadError> {
    text.parse()
        .map_err(|e| LoadError::Config(format!("fingerprint {text:?}: {e}")))
}

/// A server to connect to: a loopback address, the WebSocket path and the TLS trust.
#[derive(Clone)]
pub struct Endpoint {
    /// The socket address of the listener.
    pub addr: SocketAddr,
    /// The WebSocket path, such as `/v2/ws`.
    pub path: String,
    connector: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wss://{}{}", self.addr, self.path)
    }
}

impl Endpoint {
    /// Parses `wss://<loopback ip>:<port>/<path>`. Anything but a loopback address is
    /// refused: load is only ever aimed at this machine.
    pub fn parse(url: &str, pin: Pin) -> Result<Self, LoadError> {
        let bad = |why: &str| LoadError::Config(format!("server URL {url:?}: {why}"));
        let rest = url
            .strip_prefix("wss://")
            .ok_or_else(|| bad("must start with wss://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, chat_proto::WEBSOCKET_PATH),
        };
        let addr: SocketAddr = authority
            .parse()
            .map_err(|_| bad("the host must be an IP address with a port"))?;
        if !addr.ip().is_loopback() {
            return Err(bad("load is only generated against loopback addresses"));
        }
        Ok(Self {
            addr,
            path: path.to_owned(),
            connector: TlsConnector::from(client_config(pin)?),
            timeout: Duration::from_secs(30),
        })
    }

    /// The same server with another bound for a whole connection attempt.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects, upgrades, and reads the server's `hello`. Returns the split halves and the
    /// hello text.
    pub async fn connect(&self) -> Result<(WsRead, WsWrite, String), LoadError> {
        tokio::time::timeout(self.timeout, self.connect_inner())
            .await
            .unwrap_or_else(|_| Err(LoadError::Timeout(format!("connecting to {self:?}"))))
    }

    async fn connect_inner(&self) -> Result<(WsRead, WsWrite, String), LoadError> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| LoadError::io(format!("connecting to {}", self.addr), e))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(self.addr.ip().into());
        let mut tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| LoadError::Tls(e.to_string()))?;
        upgrade(&mut tls, &self.addr.to_string(), &self.path).await?;
        let ws = WebSocket::after_handshake(tls, Role::Client);
        let (mut read, write) = ws.split(tokio::io::split);
        // Pings are answered by the connection's writer; a close is reported, not echoed here.
        read.set_auto_pong(false);
        read.set_auto_close(false);
        let hello = match read_frame(&mut read).await? {
            Incoming::Text(text) if text.contains("\"type\":\"hello\"") => text,
            other => return Err(LoadError::Protocol(format!("expected hello, got {other:?}"))),
        };
        Ok((read, write, hello))
    }
}

/// Sends the upgrade request and reads the response head byte by byte, so that no byte of
/// the WebSocket stream that follows it is consumed.
async fn upgrade(tls: &mut Stream, authority: &str, path: &str) -> Result<(), LoadError> {
    let key = STANDARD.encode(uuid::Uuid::new_v4().as_bytes());
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: chat-loadgen\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| LoadError::io("sending the upgrade request", e))?;
    tls.flush()
        .await
        .map_err(|e| LoadError::io("sending the upgrade request", e))?;
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err(LoadError::Handshake("response head too long".into()));
        }
        let byte = tls
            .read_u8()
            .await
            .map_err(|e| LoadError::io("reading the upgrade response", e))?;
        head.push(byte);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(LoadError::Handshake(format!("server answered {status:?}")));
    }
    Ok(())
}

/// A frame as the load client sees it.
#[derive(Debug)]
pub enum Incoming {
    /// A text message.
    Text(String),
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// The server's close frame, with its code when it had one.
    Close(Option<u16>),
    /// Anything else (pong, binary, continuation), ignored.
    Other,
}

/// Reads the next frame. The server never fragments its messages, so one frame is one
/// message.
pub async fn read_frame(read: &mut WsRead) -> Result<Incoming, LoadError> {
    let mut never = |_: Frame<'_>| async { Ok::<(), std::io::Error>(()) };
    let frame = read
        .read_frame(&mut never)
        .await
        .map_err(|e| LoadError::Protocol(format!("reading a frame: {e}")))?;
    Ok(match frame.opcode {
        OpCode::Text => match String::from_utf8(frame.payload.to_vec()) {
            Ok(text) => Incoming::Text(text),
            Err(_) => return Err(LoadError::Protocol("a text frame is not UTF-8".into())),
        },
        OpCode::Ping => Incoming::Ping(frame.payload.to_vec()),
        OpCode::Close => Incoming::Close(match &frame.payload[..] {
            [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        }),
        _ => Incoming::Other,
    })
}

/// The rustls configuration that trusts exactly the pinned certificate, as the client
/// library builds it (ring provider, handshake signatures still checked).
fn client_config(pin: Pin) -> Result<Arc<ClientConfig>, LoadError> {
    chat_client_lib::tls_client_config(&chat_client_lib::ServerTrust::Fingerprint(pin))
        .map_err(|e| LoadError::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_as_the_server_prints_them() {
        let pin = Pin::of_der(b"not really a certificate");
        assert_eq!(parse_pin(&pin.to_string()).unwrap(), pin);
        assert!(parse_pin("abcd").is_err());
    }

    #[test]
    fn only_loopback_wss_urls_are_accepted() {
        let pin = Pin::of_der(b"any");
        let ok = Endpoint::parse("wss://127.0.0.1:8443/v2/ws", pin).unwrap();
        assert_eq!(ok.addr.port(), 8443);
        assert_eq!(ok.path, "/v2/ws");
        assert_eq!(Endpoint::parse("wss://[::1]:9/", pin).unwrap().path, "/");
        assert_eq!(Endpoint::parse("wss://127.0.0.1:9", pin).unwrap().path, "/v2/ws");
        assert!(Endpoint::parse("wss://10.0.0.1:8443/v2/ws", pin).is_err());
        assert!(Endpoint::parse("ws://127.0.0.1:8443/v2/ws", pin).is_err());
        assert!(Endpoint::parse("wss://localhost:8443/v2/ws", pin).is_err());
    }
}
