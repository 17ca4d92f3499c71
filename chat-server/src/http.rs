//! HTTP on the listener: the WebSocket upgrade at the versioned path (with the Origin
//! allowlist), `/healthz`, `/metrics`, and 404 for the rest. The upgraded WebSocket is run in
//! the same task that served the HTTP request.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::upgrade::UpgradeFut;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::connection::{self, SessionContext};
use crate::listener::{Refusal, Slot};
use crate::metrics::{CloseKind, ServerMetrics};
use crate::state::ServerState;
use crate::wsio::{FrameWriter, MessageReader};

/// How the accept loop let a connection in.
pub(crate) enum Admission {
    /// Within the caps; the slot is held as long as the connection.
    Admitted(Slot),
    /// Over a cap: a WebSocket gets close 1013 with the reason, HTTP gets 503.
    Refused(Refusal, OwnedSemaphorePermit),
    /// The separate metrics listener: `/metrics` only.
    MetricsOnly,
}

type Body = Full<Bytes>;
type Pending = Arc<Mutex<Option<UpgradeFut>>>;

/// Serves HTTP on one connection; runs the WebSocket if the client upgrades. The first
/// request head must be in by `head_deadline`.
pub(crate) async fn serve<S>(
    io: S,
    peer: SocketAddr,
    state: Arc<ServerState>,
    admission: Admission,
    head_deadline: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let refusal = match &admission {
        Admission::Refused(r, _) => Some(*r),
        _ => None,
    };
    let metrics_only = matches!(admission, Admission::MetricsOnly);
    // The HTTP connection is gone (state and buffers freed) before the WebSocket starts:
    // a WebSocket lives long, and this task's memory is its memory.
    let upgrade = serve_http(io, peer, &state, refusal, metrics_only, head_deadline).await;
    if let Some(upgrade) = upgrade {
        match upgrade.await {
            Ok(ws) => websocket(ws.into_inner(), peer, &state, admission).await,
            Err(e) => tracing::debug!(%peer, "upgrade failed: {e}"),
        }
    }
}

/// Serves HTTP requests until the connection ends or upgrades; returns the pending upgrade.
async fn serve_http<S>(
    io: S,
    peer: SocketAddr,
    state: &Arc<ServerState>,
    refusal: Option<Refusal>,
    metrics_only: bool,
    head_deadline: Instant,
) -> Option<UpgradeFut>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let pending: Pending = Arc::new(Mutex::new(None));
    let service = {
        let (state, pending) = (Arc::clone(state), Arc::clone(&pending));
        service_fn(move |req| {
            let (state, pending) = (Arc::clone(&state), Arc::clone(&pending));
            async move {
                ServerMetrics::inc(&state.metrics.http_requests);
                Ok::<_, Infallible>(route(req, peer, &state, &pending, refusal, metrics_only).await)
            }
        })
    };
    // hyper times each request head from when it starts waiting for it; the first one has
    // what is left of the connection's deadline (the TLS handshake had the rest), later
    // ones on a kept-alive connection no more than that.
    let head_time = head_deadline.saturating_duration_since(Instant::now());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_time.max(Duration::from_millis(1)))
        .max_buf_size(64 * 1024);
    let mut conn = pin!(
        builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
    );
    // Plain HTTP connections (health checks, scrapers) are bounded like idle WebSockets.
    let idle = tokio::time::sleep(state.config.timeouts.idle);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, "HTTP connection error: {e}");
            }
        }
        () = state.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(state.config.timeouts.close_grace, conn.as_mut()).await;
        }
        () = idle => conn.as_mut().graceful_shutdown(),
    }
    pending.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Runs an upgraded connection: refused with 1013, or a full session.
async fn websocket<S>(io: S, peer: SocketAddr, state: &ServerState, admission: Admission)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    let mut writer = FrameWriter::new(write);
    match admission {
        Admission::Admitted(_slot) => {
            let reader = MessageReader::new(read, state.config.limits.max_frame_bytes);
            let ctx = SessionContext {
                core: state.core.clone(),
                hello: Arc::clone(&state.hello),
                peer,
                limits: state.config.limits.clone(),
                timeouts: state.config.timeouts.clone(),
                shutdown: state.shutdown.clone(),
                metrics: Arc::clone(&state.metrics),
            };
            state
                .metrics
                .websockets_open
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            connection::run(reader, writer, ctx).await;
            state
                .metrics
                .websockets_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        Admission::Refused(refusal, _permit) => {
            if let Some(line) = state.refusals.note(&refusal.reason(), peer.ip(), Instant::now()) {
                line.emit();
            }
            writer.push_close(chat_proto::close::TRY_AGAIN_LATER, &refusal.reason());
            let sent = tokio::time::timeout(state.config.timeouts.close_grace, async {
                writer.flush().await?;
                writer.shutdown().await
            })
            .await;
            if matches!(sent, Ok(Ok(()))) {
                state
                    .metrics
                    .closed(CloseKind::Server(chat_proto::close::TRY_AGAIN_LATER));
            }
        }
        Admission::MetricsOnly => {}
    }
}

async fn route(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    state: &ServerState,
    pending: &Pending,
    refusal: Option<Refusal>,
    metrics_only: bool,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if metrics_only {
        return match path.as_str() {
            "/metrics" => metrics(&req, state),
            _ => text(StatusCode::NOT_FOUND, "not found; this listener serves /metrics"),
        };
    }
    match path.as_str() {
        chat_proto::WEBSOCKET_PATH => upgrade(&mut req, state, pending),
        _ if refusal.is_some() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &refusal.map(Refusal::reason).unwrap_or_default(),
        ),
        "/healthz" => health(&req, state).await,
        "/metrics" if state.config.metrics_listen.is_none() => {
            if metrics_allowed(state.config.metrics_public, peer.ip(), req.headers()) {
                metrics(&req, state)
            } else {
                text(
                    StatusCode::FORBIDDEN,
                    "metrics are served to clients on this host only; the operator may serve them \
                     to everyone (--metrics-public) or on a separate listener (--metrics-listen)",
                )
            }
        }
        p if p.starts_with("/v") && p.ends_with("/ws") => text(
            StatusCode::NOT_FOUND,
            &format!(
                "unknown protocol version; this server speaks version {} at {}",
                chat_proto::PROTOCOL_VERSION,
                chat_proto::WEBSOCKET_PATH
            ),
        ),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The WebSocket version this server speaks (RFC 6455).
const WEBSOCKET_VERSION: &str = "13";

fn upgrade(req: &mut Request<Incoming>, state: &ServerState, pending: &Pending) -> Response<Body> {
    if req.method() != Method::GET {
        return method_not_allowed("GET", "use GET with a WebSocket upgrade");
    }
    if !fastwebsockets::upgrade::is_upgrade_request(req) {
        return upgrade_required("this path takes a WebSocket upgrade");
    }
    // RFC 9110 section 7.8: `Upgrade` in an HTTP/1.0 request is ignored, and RFC 6455
    // section 4.1 asks for HTTP/1.1 or later.
    if req.version() < Version::HTTP_11 {
        return upgrade_required("WebSocket upgrades need HTTP/1.1");
    }
    // RFC 6455 section 4.4: another version gets 426 naming the versions we speak.
    let version = req.headers().get(header::SEC_WEBSOCKET_VERSION);
    if version.is_none_or(|v| v.as_bytes() != WEBSOCKET_VERSION.as_bytes()) {
        let (status, reason) = match version {
            None => (
                StatusCode::BAD_REQUEST,
                "missing Sec-WebSocket-Version; this server speaks 13",
            ),
            Some(_) => (
                StatusCode::UPGRADE_REQUIRED,
                "unsupported WebSocket version; this server speaks 13",
            ),
        };
        let mut response = text(status, reason);
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(WEBSOCKET_VERSION),
        );
        return response;
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_allowed(&state.config.allowed_origins, origin)
    {
        ServerMetrics::inc(&state.metrics.origin_refused);
        return text(StatusCode::FORBIDDEN, "origin not allowed");
    }
    if state.shutdown.is_cancelled() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
    }
    match fastwebsockets::upgrade::upgrade(&mut *req) {
        Ok((response, fut)) => {
            *pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(fut);
            response.map(|_| Full::new(Bytes::new()))
        }
        Err(e) => text(StatusCode::BAD_REQUEST, &format!("bad WebSocket handshake: {e}")),
    }
}

/// Headers a reverse proxy adds to a request it forwards.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether `/metrics` on the main listener may be served: to everyone when the operator made
/// it public, otherwise to a client on this host only. A request a proxy forwarded comes
/// from the proxy's loopback address on behalf of anyone, so it does not count as local.
fn metrics_allowed(public: bool, peer: IpAddr, headers: &HeaderMap) -> bool {
    public
        || (peer.to_canonical().is_loopback() && !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h)))
}

/// Exact, case-insensitive match against the allowlist; an empty list allows any origin.
fn origin_allowed(allowed: &[String], origin: &HeaderValue) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

async fn health(req: &Request<Incoming>, state: &ServerState) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD", "use GET");
    }
    let report = tokio::time::timeout(state.config.timeouts.handshake, state.core.health()).await;
    let (storage, broker) = match &report {
        Ok(r) => (ok_or_down(r.storage_ok), ok_or_down(r.broker_ok)),
        Err(_) => ("timeout", "timeout"),
    };
    let healthy = storage == "ok" && broker == "ok";
    let status = if state.shutdown.is_cancelled() {
        "shutting_down"
    } else if healthy {
        "ok"
    } else {
        "unavailable"
    };
    let body = serde_json::json!({ "status": status, "storage": storage, "broker": broker });
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    respond(code, "application/json", body.to_string())
}

fn ok_or_down(ok: bool) -> &'static str {
    if ok { "ok" } else { "down" }
}

fn metrics(req: &Request<Incoming>, state: &ServerState) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD", "use GET");
    }
    let mut body = state.core.render_metrics();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&state.metrics.render());
    respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", body)
}

/// 405 with the `Allow` header that RFC 9110 section 15.5.6 requires.
fn method_not_allowed(allow: &'static str, body: &str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, body);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// 426 with the `Upgrade` header that RFC 9110 section 15.5.22 requires.
fn upgrade_required(body: &str) -> Response<Body> {
    let mut response = text(StatusCode::UPGRADE_REQUIRED, body);
    response
        .headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", format!("{body}\n"))
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_for_local_unforwarded_clients_unless_public() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|_| unreachable!());
        let none = HeaderMap::new();
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        for local in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(metrics_allowed(false, ip(local), &none), "{local}");
            assert!(
                !metrics_allowed(false, ip(local), &forwarded),
                "{local} forwarded"
            );
        }
        for remote in [
            "10.0.0.1",
            "192.168.1.20",
            "203.0.113.7",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!metrics_allowed(false, ip(remote), &none), "{remote}");
            assert!(metrics_allowed(true, ip(remote), &none), "{remote} when public");
        }
    }

    #[test]
    fn origin_allowlist_matches_exactly_ignoring_case_and_trailing_slash() {
        let allowed = vec!["https://chat.example.com".to_owned()];
        let check = |o: &'static str| origin_allowed(&allowed, &HeaderValue::from_static(o));
        assert!(check("https://chat.example.com"));
        assert!(check("HTTPS://Chat.Example.com/"));
        assert!(!check("https://evil.example.com"));
        assert!(!check("http://chat.example.com"));
        assert!(!check("null"));
        assert!(origin_allowed(
            &[],
            &HeaderValue::from_static("https://any.where")
        ));
    }
}
