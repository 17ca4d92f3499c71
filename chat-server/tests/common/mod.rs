//! Test-only helpers: start a real server in a temp dir, and a small wss client
//! (tokio-rustls trusting the server's own certificate, fastwebsockets handshake) that speaks
//! the JSON protocol and exposes the raw frames too.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_server::{RunningServer, ServerConfig};
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::Request;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types};

/// How long a test waits for any one expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

/// A config for tests: loopback, port 0, bcrypt cost 4, a generous request rate.
pub fn config(dir: &std::path::Path) -> ServerConfig {
    let mut config = ServerConfig::local(dir);
    config.core.bcrypt_cost = 4;
    config.core.requests_per_second = 1000;
    config
}

/// A server with its temp data dir (kept alive as long as the server).
pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = config(dir.path());
        adjust(&mut cfg);
        let server = chat_server::start(cfg).await.expect("server starts");
        Self { server, dir }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.server).await
    }
}

/// A TLS connector trusting exactly `cert_der`.
pub fn connector(cert_der: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki_types::CertificateDer::from(cert_der.to_vec()))
        .expect("certificate is usable as a trust anchor");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A byte stream to the server: TLS when it has a certificate.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Opens TCP (and TLS when `cert` is given) to `addr`.
pub async fn open(addr: SocketAddr, cert: Option<&[u8]>) -> Box<dyn Io> {
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    over_tcp(tcp, addr, cert).await
}

/// Like [`open`], from the local address `source` (another loopback address such as
/// 127.0.0.2, for tests of what the server keeps per address).
pub async fn open_from(addr: SocketAddr, cert: Option<&[u8]>, source: std::net::IpAddr) -> Box<dyn Io> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    let tcp = socket.connect(addr).await.expect("tcp connect");
    over_tcp(tcp, addr, cert).await
}

async fn over_tcp(tcp: TcpStream, addr: SocketAddr, cert: Option<&[u8]>) -> Box<dyn Io> {
    match cert {
        Some(der) => {
            let name = pki_types::ServerName::IpAddress(addr.ip().into());
            Box::new(connector(der).connect(name, tcp).await.expect("tls handshake"))
        }
        None => Box::new(tcp),
    }
}

/// Sends `request` as is and returns the whole response (head and body) as text.
pub async fn raw_http(addr: SocketAddr, cert: Option<&[u8]>, request: &str) -> String {
    let mut io = open(addr, cert).await;
    io.write_all(request.as_bytes()).await.expect("send request");
    let mut raw = Vec::new();
    // Read until the server closes or nothing more comes: enough for one response.
    loop {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_millis(500), io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}

/// The status code of a raw HTTP response.
pub fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

/// The value of a header of a raw HTTP response (name matched ignoring case).
pub fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// One plain HTTP/1.1 request; returns the status code and the body.
pub async fn http_get(
    addr: SocketAddr,
    cert: Option<&[u8]>,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut io = open(addr, cert).await;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    io.write_all(request.as_bytes()).await.expect("send request");
    let mut raw = Vec::new();
    // A TLS peer may end without close_notify after `Connection: close`; what arrived counts.
    let _ = tokio::time::timeout(WAIT, io.read_to_end(&mut raw))
        .await
        .expect("response in time");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

/// The WebSocket handshake on `io`; `Err` carries the HTTP status of a refused upgrade.
pub async fn handshake(
    io: Box<dyn Io>,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<WebSocket<TokioIo<Upgraded>>, String> {
    let mut builder = Request::builder()
        .method("GET")
        .uri(path)
        .header("Host", addr.to_string())
        .header("Upgrade", "websocket")
        .header("Connection", "upgrade")
        .header("Sec-WebSocket-Key", fastwebsockets::handshake::generate_key())
        .header("Sec-WebSocket-Version", "13");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Empty::<Bytes>::new()).expect("request");
    match fastwebsockets::handshake::client(&SpawnExecutor, request, io).await {
        Ok((ws, _)) => Ok(ws),
        Err(e) => Err(e.to_string()),
    }
}

/// What a client saw come in.
#[derive(Debug)]
pub enum Incoming {
    /// A JSON text frame.
    Json(Value),
    /// The server's close frame.
    Close(u16, String),
    /// The stream ended or failed without a close frame.
    Ended(String),
}

/// A protocol client for tests.
pub struct Client {
    pub ws: WebSocket<TokioIo<Upgraded>>,
    /// Frames read while waiting for something else (events, mostly).
    pub backlog: VecDeque<Value>,
    pub hello: Value,
}

impl Client {
    /// Connects to the server's URL and reads `hello`.
    pub async fn connect(server: &RunningServer) -> Self {
        let io = open(server.local_addr(), server.cert_der().as_deref()).await;
        let ws = handshake(io, server.local_addr(), chat_proto::WEBSOCKET_PATH, &[])
            .await
            .expect("upgrade");
        Self::after_upgrade(ws).await
    }

    pub async fn after_upgrade(ws: WebSocket<TokioIo<Upgraded>>) -> Self {
        let mut client = Self {
            ws,
            backlog: VecDeque::new(),
            hello: Value::Null,
        };
        match client.next().await {
            Incoming::Json(hello) => {
                assert_eq!(hello["event"]["type"], "hello", "first frame is hello: {hello}");
                client.hello = hello;
            }
            other => panic!("expected hello, got {other:?}"),
        }
        client
    }

    /// Sends one text frame as is (it may be anything, even invalid UTF-8).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.ws
            .write_frame(Frame::text(Payload::Owned(bytes.to_vec())))
            .await
            .expect("send frame");
    }

    /// Sends one frame of any opcode.
    pub async fn send_frame(&mut self, opcode: OpCode, bytes: &[u8]) {
        let frame = Frame::new(true, opcode, None, Payload::Owned(bytes.to_vec()));
        self.ws.write_frame(frame).await.expect("send frame");
    }

    /// The next frame from the server, within [`WAIT`].
    pub async fn next(&mut self) -> Incoming {
        if let Some(v) = self.backlog.pop_front() {
            return Incoming::Json(v);
        }
        self.read().await
    }

    async fn read(&mut self) -> Incoming {
        let frame = match tokio::time::timeout(WAIT, self.ws.read_frame()).await {
            Err(_) => panic!("no frame from the server within {WAIT:?}"),
            Ok(Err(e)) => return Incoming::Ended(e.to_string()),
            Ok(Ok(frame)) => frame,
        };
        match frame.opcode {
            OpCode::Text => {
                let value = serde_json::from_slice(&frame.payload).expect("server sends JSON");
                Incoming::Json(value)
            }
            OpCode::Close => {
                let code = frame
                    .payload
                    .get(..2)
                    .map_or(1005, |b| u16::from_be_bytes([b[0], b[1]]));
                let reason = String::from_utf8_lossy(frame.payload.get(2..).unwrap_or_default()).into_owned();
                Incoming::Close(code, reason)
            }
            other => panic!("unexpected {other:?} frame from the server"),
        }
    }

    /// Sends a request with a fresh id and returns the frame answering it (response or
    /// error); events that arrive meanwhile go to the backlog.
    pub async fn request(&mut self, mut body: Value) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        body["id"] = json!(id);
        self.send_raw(body.to_string().as_bytes()).await;
        self.answer_to(&id).await
    }

    /// Waits for the response or error with this id.
    pub async fn answer_to(&mut self, id: &str) -> Value {
        loop {
            match self.read().await {
                Incoming::Json(v) if v["id"] == id => return v,
                Incoming::Json(v) if v["kind"] == "event" => self.backlog.push_back(v),
                other => panic!("waiting for the answer to {id}, got {other:?}"),
            }
        }
    }

    /// The next frame that is not an event: the answer to a raw frame without a readable id.
    pub async fn next_answer(&mut self) -> Value {
        loop {
            match self.read().await {
                Incoming::Json(v) if v["kind"] == "event" => self.backlog.push_back(v),
                Incoming::Json(v) => return v,
                other => panic!("waiting for an answer, got {other:?}"),
            }
        }
    }

    /// A request that must succeed; returns its `result`.
    pub async fn ok(&mut self, body: Value) -> Value {
        let answer = self.request(body.clone()).await;
        assert_eq!(answer["kind"], "response", "request {body} failed: {answer}");
        answer["result"].clone()
    }

    /// A request that must fail; returns its error `code`.
    pub async fn err(&mut self, body: Value) -> String {
        let answer = self.request(body.clone()).await;
        assert_eq!(answer["kind"], "error", "request {body} should fail: {answer}");
        answer["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// Registers `name` with a fixed password; returns the session result.
    pub async fn register(&mut self, name: &str) -> Value {
        self.ok(json!({"type": "register", "username": name, "password": "correct horse battery"}))
            .await
    }

    /// Creates a group room; returns its id.
    pub async fn create_room(&mut self, name: &str) -> String {
        // Public, so that others in a test can join it by id.
        let result = self
            .ok(json!({"type": "create_room", "name": name, "visibility": "public"}))
            .await;
        result["room"]["id"].as_str().expect("room id").to_owned()
    }

    /// Sends a message; returns the stored message.
    pub async fn send(&mut self, room: &str, body: &str) -> Value {
        let cmid = uuid::Uuid::new_v4().to_string();
        let result = self
            .ok(json!({"type": "send_message", "room_id": room, "client_msg_id": cmid, "body": body}))
            .await;
        result["message"].clone()
    }

    /// The next event of `kind` (skipping others), within [`WAIT`].
    pub async fn event(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Incoming::Json(v) if v["kind"] == "event" && v["event"]["type"] == kind => {
                    return v["event"].clone();
                }
                Incoming::Json(_) => {}
                other => panic!("waiting for a {kind} event, got {other:?}"),
            }
        }
    }

    /// The next text message event (notices of room changes skipped); its `message`.
    pub async fn text_message(&mut self) -> Value {
        loop {
            let event = self.event("message").await;
            if event["message"]["kind"] == "text" {
                return event["message"].clone();
            }
        }
    }

    /// Reads until the server's close frame; returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.next().await {
                Incoming::Json(_) => {}
                Incoming::Close(code, reason) => return (code, reason),
                Incoming::Ended(why) => panic!("connection ended without a close frame: {why}"),
            }
        }
    }
}
