//! Making one connection: resolve, TCP, TLS, WebSocket upgrade, and the server's `hello`,
//! all within the connect timeout, with each failure sorted into a [`ConnectError`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_proto::{Event, PROTOCOL_VERSION, ServerFrame, WEBSOCKET_PATH, decode_server_frame};
use fastwebsockets::{
    FragmentCollectorRead, OpCode, WebSocket, WebSocketError, WebSocketRead, WebSocketWrite,
};
use http_body_util::Empty;
use hyper::Uri;
use hyper::header::{CONNECTION, HOST, UPGRADE, USER_AGENT};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::config::ClientConfig;
use crate::connection::{Conn, EventSink, ServerHello, parse_close};
use crate::error::{ConnectError, ConnectStage};
use crate::tls;

type Stream = TokioIo<Upgraded>;
/// The read half of an upgraded connection, reassembling fragmented messages.
pub(crate) type WsRead = FragmentCollectorRead<ReadHalf<Stream>>;
/// The write half of an upgraded connection.
pub(crate) type WsWrite = WebSocketWrite<WriteHalf<Stream>>;

/// Where to connect, from the server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub tls: bool,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Path and query of the WebSocket endpoint.
    pub path: String,
    /// The Host header: `host:port` as written in the URL.
    pub authority: String,
}

/// Parses `wss://host:port/path` (or `ws://`). A missing or bare `/` path becomes the
/// protocol's path; a missing port is 443 for wss and 80 for ws.
pub(crate) fn parse_url(url: &str) -> Result<Target, ConnectError> {
    let bad = |why: &str| ConnectError::Config(format!("server URL {url:?}: {why}"));
    let uri: Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
    let tls = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(bad("the scheme must be wss:// or ws://")),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") | Some("/") => WEBSOCKET_PATH.to_owned(),
        Some(p) => p.to_owned(),
    };
    if url.contains('@') {
        return Err(bad("credentials do not belong in the URL"));
    }
    Ok(Target {
        tls,
        host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        port,
        path,
        authority: format!("{host}:{port}"),
    })
}

/// Runs `fut` until the attempt's deadline, naming the stage on timeout.
async fn stage<T>(
    deadline: Instant,
    budget: Duration,
    stage: ConnectStage,
    fut: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .unwrap_or(Err(ConnectError::Timeout { stage, after: budget }))
}

/// Opens a connection to the configured server and starts its tasks once `hello` arrived.
pub(crate) async fn connect(config: &ClientConfig, sink: EventSink) -> Result<Arc<Conn>, ConnectError> {
    let target = parse_url(&config.server_url)?;
    let tls_config = match (&target.tls, &config.trust) {
        (false, _) => None,
        (true, Some(trust)) => Some(tls::client_config(trust)?),
        (true, None) => {
            return Err(ConnectError::Config(
                "a wss:// server needs a pinned fingerprint or a certificate file".into(),
            ));
        }
    };
    let budget = config.connect_timeout;
    let deadline = Instant::now() + budget;
    let tcp = stage(deadline, budget, ConnectStage::Tcp, open_tcp(&target)).await?;
    let ws = match tls_config {
        None => stage(deadline, budget, ConnectStage::Upgrade, upgrade(&target, tcp)).await?,
        Some(tls_config) => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| ConnectError::Config(format!("{:?} is not a valid server name", target.host)))?;
            let tls_stream = stage(deadline, budget, ConnectStage::Tls, async {
                TlsConnector::from(tls_config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| tls::classify(&e))
            })
            .await?;
            stage(
                deadline,
                budget,
                ConnectStage::Upgrade,
                upgrade(&target, tls_stream),
            )
            .await?
        }
    };
    let (read, write) = ws.split(tokio::io::split);
    let mut read: WebSocketRead<_> = read;
    read.set_max_message_size(config.max_incoming_frame_bytes);
    let mut read = FragmentCollectorRead::new(read);
    let hello = stage(deadline, budget, ConnectStage::Hello, read_hello(&mut read)).await?;
    Ok(Conn::start(read, write, hello, sink))
}

async fn open_tcp(target: &Target) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<_> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| ConnectError::Resolve {
            host: target.host.clone(),
            message: e.to_string(),
        })?
        .collect();
    let mut last = ConnectError::Resolve {
        host: target.host.clone(),
        message: "no addresses".into(),
    };
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = ConnectError::Refused {
                    addr: addr.to_string(),
                };
            }
            Err(e) => last = ConnectError::Network(format!("{addr}: {e}")),
        }
    }
    Err(last)
}

/// Lets hyper run the HTTP connection future that carries the upgrade on the tokio runtime.
struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::spawn(fut);
    }
}

async fn upgrade<S>(target: &Target, socket: S) -> Result<WebSocket<Stream>, ConnectError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let request = hyper::Request::builder()
        .method("GET")
        .uri(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", fastwebsockets::handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .header(USER_AGENT, concat!("chat-client-lib/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|e| ConnectError::Config(format!("cannot build the upgrade request: {e}")))?;
    match fastwebsockets::handshake::client(&SpawnExecutor, request, socket).await {
        Ok((ws, _response)) => Ok(ws),
        Err(WebSocketError::InvalidStatusCode(status)) => Err(ConnectError::HandshakeRejected { status }),
        Err(e) => Err(ConnectError::Handshake(e.to_string())),
    }
}

async fn read_hello(read: &mut WsRead) -> Result<ServerHello, ConnectError> {
    // Nothing is owed to the server before hello; a ping this early can go unanswered.
    let mut ignore = |_frame| async { Ok::<(), WebSocketError>(()) };
    loop {
        let frame = read
            .read_frame(&mut ignore)
            .await
            .map_err(|e| ConnectError::Network(format!("before hello: {e}")))?;
        match frame.opcode {
            OpCode::Close => {
                let info = parse_close(&frame.payload);
                return Err(ConnectError::Closed {
                    code: info.code,
                    reason: info.reason,
                });
            }
            OpCode::Text => return parse_hello(&frame.payload),
            _ => continue,
        }
    }
}

fn parse_hello(payload: &[u8]) -> Result<ServerHello, ConnectError> {
    let text =
        std::str::from_utf8(payload).map_err(|_| ConnectError::Protocol("hello is not UTF-8".into()))?;
    match decode_server_frame(text) {
        Ok(ServerFrame::Event {
            event:
                Event::Hello {
                    protocol,
                    server,
                    limits,
                },
        }) => {
            if protocol != PROTOCOL_VERSION {
                return Err(ConnectError::Protocol(format!(
                    "the server speaks protocol {protocol}, this client {PROTOCOL_VERSION}"
                )));
            }
            Ok(ServerHello {
                protocol,
                server,
                limits,
            })
        }
        Ok(_) => Err(ConnectError::Protocol("the first frame was not hello".into())),
        Err(e) => Err(ConnectError::Protocol(format!("unreadable hello: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_default_ports_and_the_protocol_path() {
        let t = parse_url("wss://example.org").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (true, 443, WEBSOCKET_PATH));
        let t = parse_url("ws://127.0.0.1:8080/").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (false, 8080, WEBSOCKET_PATH));
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = parse_url("wss://[::1]:9443/v2/ws").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9443, "/v2/ws")
        );
        assert_eq!(t.authority, "[::1]:9443");
    }

    #[test]
    fn bad_urls_are_configuration_errors() {
        for bad in ["", "http://h:1/v2/ws", "h:1", "wss://", "wss://user:pw@h:1/v2/ws"] {
            assert!(matches!(parse_url(bad), Err(ConnectError::Config(_))), "{bad:?}");
        }
    }

    #[test]
    fn hello_must_come_first_and_speak_this_version() {
        let hello = r#"{"kind":"event","event":{"type":"hello","protocol":2,"server":"s","limits":{"max_frame_bytes":1048576,"max_body_bytes":16384,"max_page_size":200,"requests_per_second":50,"auth_timeout_secs":10,"idle_timeout_secs":60}}}"#;
        assert_eq!(parse_hello(hello.as_bytes()).unwrap().limits.max_page_size, 200);
        for other_version in ["1", "3"] {
            let other = hello.replace("\"protocol\":2", &format!("\"protocol\":{other_version}"));
            assert!(matches!(
                parse_hello(other.as_bytes()),
                Err(ConnectError::Protocol(_))
            ));
        }
        let other =
            r#"{"kind":"event","event":{"type":"typing","room_id":"1","user":{"id":"1","username":"bob"}}}"#;
        assert!(matches!(
            parse_hello(other.as_bytes()),
            Err(ConnectError::Protocol(_))
        ));
        assert!(matches!(parse_hello(b"{"), Err(ConnectError::Protocol(_))));
    }
}
