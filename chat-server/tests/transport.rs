//! Transport: TLS and the certificate, HTTP endpoints, the upgrade, plain ws, caps, the
//! Origin allowlist, timeouts and pings.

mod common;

use std::time::Duration;

use chat_proto::close;
use common::{Client, Incoming, TestServer, handshake, http_get, open};
use fastwebsockets::OpCode;
use serde_json::{Value, json};

#[tokio::test]
async fn wss_connection_starts_with_hello_stating_the_configured_limits() {
    let t = TestServer::start_with(|c| {
        c.limits.max_frame_bytes = 32 * 1024;
        c.timeouts.auth = Duration::from_secs(7);
    })
    .await;
    assert!(t.server.ws_url().starts_with("wss://127.0.0.1:"));
    assert!(t.server.ws_url().ends_with("/v2/ws"));
    let mut c = t.client().await;
    let hello = &c.hello["event"];
    assert_eq!(hello["protocol"], 2);
    assert_eq!(hello["limits"]["max_frame_bytes"], 32 * 1024);
    assert_eq!(hello["limits"]["auth_timeout_secs"], 7);
    assert_eq!(c.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn certificate_is_generated_once_and_reused_with_the_same_fingerprint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = chat_server::start(common::config(dir.path()))
        .await
        .expect("first start");
    assert!(first.cert_generated());
    let fingerprint = first.cert_fingerprint().expect("fingerprint");
    let der = first.cert_der().expect("der");
    let path = first.cert_path().expect("cert path");
    assert!(path.starts_with(dir.path()), "{path:?} is in the data dir");
    assert_eq!(fingerprint, chat_server::tls::fingerprint(&der));
    assert_eq!(fingerprint.len(), 95, "32 hex pairs with colons: {fingerprint}");
    assert!(
        fingerprint
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
    first.shutdown().await;

    let second = chat_server::start(common::config(dir.path()))
        .await
        .expect("restart");
    assert!(!second.cert_generated());
    assert_eq!(second.cert_fingerprint(), Some(fingerprint));
    // A client that trusts the first start's certificate connects to the second.
    let io = open(second.local_addr(), Some(&der)).await;
    let ws = handshake(io, second.local_addr(), "/v2/ws", &[])
        .await
        .expect("upgrade");
    Client::after_upgrade(ws).await;
    second.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails_the_handshake() {
    let t = TestServer::start().await;
    let other = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(t.server.local_addr())
        .await
        .expect("tcp");
    let foreign = other.server.cert_der().expect("der");
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(t.server.local_addr().ip().into());
    let result = common::connector(&foreign).connect(name, tcp).await;
    assert!(result.is_err(), "a different certificate must not be accepted");
}

#[tokio::test]
async fn healthz_and_metrics_answer_over_https() {
    let t = TestServer::start().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let (status, body) = http_get(addr, der.as_deref(), "/healthz", &[]).await;
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(body.trim()).expect("JSON health");
    assert_eq!(health, json!({"status": "ok", "storage": "ok", "broker": "ok"}));

    let mut c = t.client().await;
    c.ok(json!({"type": "ping"})).await;
    let (status, body) = http_get(addr, der.as_deref(), "/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE chat_server_websockets_open gauge"),
        "{body}"
    );
    assert!(body.contains("chat_server_websockets_open 1\n"), "{body}");
    assert!(body.contains("chat_server_frames_received_total 1\n"), "{body}");

    let (status, _) = http_get(addr, der.as_deref(), "/nope", &[]).await;
    assert_eq!(status, 404);
    // The previous version's path is gone; the answer names the current one.
    let (status, body) = http_get(addr, der.as_deref(), "/v1/ws", &[]).await;
    assert_eq!(status, 404);
    assert!(body.contains("/v2/ws"), "{body}");
    let (status, _) = http_get(addr, der.as_deref(), "/v2/ws", &[]).await;
    assert_eq!(
        status, 426,
        "a plain GET on the WebSocket path asks for an upgrade"
    );
}

#[tokio::test]
async fn metrics_can_move_to_a_loopback_listener() {
    let t = TestServer::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"))).await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let (status, _) = http_get(addr, der.as_deref(), "/metrics", &[]).await;
    assert_eq!(status, 404, "no longer on the main listener");
    let metrics_addr = t.server.metrics_addr().expect("metrics listener");
    let (status, body) = http_get(metrics_addr, None, "/metrics", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("chat_server_connections_accepted_total"), "{body}");
    let (status, _) = http_get(metrics_addr, None, "/healthz", &[]).await;
    assert_eq!(status, 404);

    let dir = tempfile::tempdir().expect("temp dir");
    let mut public = common::config(dir.path());
    public.metrics_listen = Some("0.0.0.0:0".parse().expect("addr"));
    assert!(
        chat_server::start(public).await.is_err(),
        "a public metrics listener is refused"
    );
}

#[tokio::test]
async fn plain_ws_only_when_asked_for() {
    // Default: TLS. A plain WebSocket handshake gets no HTTP answer.
    let t = TestServer::start().await;
    let io = open(t.server.local_addr(), None).await;
    assert!(handshake(io, t.server.local_addr(), "/v2/ws", &[]).await.is_err());

    let plain = TestServer::start_with(|c| c.tls = chat_server::TlsMode::Plain).await;
    assert!(plain.server.ws_url().starts_with("ws://"));
    assert_eq!(plain.server.cert_fingerprint(), None);
    assert!(
        !plain.dir.path().join("tls").exists(),
        "no certificate generated in plain mode"
    );
    let io = open(plain.server.local_addr(), None).await;
    let ws = handshake(io, plain.server.local_addr(), "/v2/ws", &[])
        .await
        .expect("plain upgrade");
    let mut c = Client::after_upgrade(ws).await;
    assert_eq!(c.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn origin_allowlist_refuses_other_browser_origins_with_403() {
    let t = TestServer::start_with(|c| c.allowed_origins = vec!["https://chat.example.com".into()]).await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let io = open(addr, der.as_deref()).await;
    let refused = handshake(io, addr, "/v2/ws", &[("Origin", "https://evil.example.com")]).await;
    let err = refused.err().expect("foreign origin refused");
    assert!(err.contains("403"), "{err}");
    let io = open(addr, der.as_deref()).await;
    let ws = handshake(io, addr, "/v2/ws", &[("Origin", "https://chat.example.com")]).await;
    Client::after_upgrade(ws.expect("listed origin upgrades")).await;
    // Non-browser clients send no Origin and are let in.
    t.client().await;
}

#[tokio::test]
async fn connection_caps_refuse_with_1013_and_a_reason_and_free_slots_on_close() {
    let t = TestServer::start_with(|c| c.limits.max_connections_per_ip = 2).await;
    let a = t.client().await;
    let _b = t.client().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let ws = handshake(open(addr, der.as_deref()).await, addr, "/v2/ws", &[])
        .await
        .expect("upgrade");
    let mut refused = Client {
        ws,
        backlog: Default::default(),
        hello: Value::Null,
    };
    match refused.next().await {
        Incoming::Close(code, reason) => {
            assert_eq!(code, close::TRY_AGAIN_LATER);
            assert!(
                reason.contains("too many connections from your address"),
                "{reason}"
            );
        }
        other => panic!("expected close 1013, got {other:?}"),
    }
    drop(a);
    // The slot frees once the server notices the closed socket.
    let mut admitted = false;
    for _ in 0..50 {
        let ws = handshake(open(addr, der.as_deref()).await, addr, "/v2/ws", &[])
            .await
            .expect("upgrade");
        let mut c = Client {
            ws,
            backlog: Default::default(),
            hello: Value::Null,
        };
        if let Incoming::Json(v) = c.next().await {
            assert_eq!(v["event"]["type"], "hello");
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a freed slot admits a new connection");

    let total = TestServer::start_with(|c| c.limits.max_connections = 1).await;
    let _only = total.client().await;
    let (addr, der) = (total.server.local_addr(), total.server.cert_der());
    let (status, body) = http_get(addr, der.as_deref(), "/healthz", &[]).await;
    assert_eq!(status, 503, "plain HTTP over the cap gets 503: {body}");
    assert!(body.contains("limit of 1 connections"), "{body}");
}

#[tokio::test]
async fn unauthenticated_connection_is_closed_after_the_auth_timeout() {
    let t = TestServer::start_with(|c| c.timeouts.auth = Duration::from_millis(600)).await;
    let mut idle = t.client().await;
    let mut authed = t.client().await;
    authed.register("carol").await;
    let (code, reason) = idle.closed().await;
    assert_eq!(code, close::AUTH_TIMEOUT, "{reason}");
    assert!(reason.contains("not authenticated"), "{reason}");
    // The authenticated one is still served.
    assert_eq!(authed.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn silent_connection_is_pinged_and_closed_after_the_idle_timeout() {
    let t = TestServer::start_with(|c| {
        c.timeouts.idle = Duration::from_millis(900);
        c.timeouts.ping_interval = Duration::from_millis(200);
    })
    .await;
    let mut c = t.client().await;
    c.register("dave").await;
    // Reading with auto-pong off: the server pings, nobody answers, the server gives up.
    c.ws.set_auto_pong(false);
    let mut pings = 0;
    let started = std::time::Instant::now();
    let code = loop {
        let frame = tokio::time::timeout(common::WAIT, c.ws.read_frame())
            .await
            .expect("frame in time")
            .expect("frame");
        match frame.opcode {
            OpCode::Ping => pings += 1,
            OpCode::Close => break u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
            _ => {}
        }
    };
    assert_eq!(code, close::IDLE_TIMEOUT);
    assert!(pings >= 2, "server pinged before giving up ({pings})");
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn a_client_answering_pings_stays_connected_past_the_idle_timeout() {
    let t = TestServer::start_with(|c| {
        c.timeouts.idle = Duration::from_millis(800);
        c.timeouts.ping_interval = Duration::from_millis(200);
    })
    .await;
    let mut c = t.client().await;
    c.register("erin").await;
    // fastwebsockets answers pings while a read is pending; keep one pending for 2 s.
    let quiet = tokio::time::timeout(Duration::from_secs(2), c.ws.read_frame()).await;
    assert!(quiet.is_err(), "nothing but pings for 2 s, got a frame");
    assert_eq!(c.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[tokio::test]
async fn the_server_answers_client_pings() {
    let t = TestServer::start().await;
    let mut c = t.client().await;
    c.ws.set_auto_pong(false);
    c.send_frame(OpCode::Ping, b"are you there").await;
    let frame = tokio::time::timeout(common::WAIT, c.ws.read_frame())
        .await
        .expect("pong in time")
        .expect("frame");
    assert_eq!(frame.opcode, OpCode::Pong);
    assert_eq!(&frame.payload[..], b"are you there");
}

#[tokio::test]
async fn after_logout_the_connection_has_the_auth_timeout_again() {
    let t = TestServer::start_with(|c| c.timeouts.auth = Duration::from_millis(600)).await;
    let mut c = t.client().await;
    c.register("frank").await;
    // Authenticated: outlives the auth timeout.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(c.ok(json!({"type": "logout"})).await["type"], "ok");
    let (code, reason) = c.closed().await;
    assert_eq!(code, close::AUTH_TIMEOUT, "{reason}");
}

#[tokio::test]
async fn a_connection_that_never_finishes_the_tls_handshake_is_dropped() {
    let t = TestServer::start_with(|c| c.timeouts.handshake = Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(t.server.local_addr())
        .await
        .expect("tcp");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(common::WAIT, tokio::io::AsyncReadExt::read(&mut tcp, &mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server closed the socket: {read:?}"
    );
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let (_, body) = http_get(addr, der.as_deref(), "/metrics", &[]).await;
    assert!(
        body.contains("chat_server_tls_handshake_failures_total 1\n"),
        "{body}"
    );
}

#[tokio::test]
async fn an_operator_certificate_from_files_is_served() {
    // A certificate made elsewhere (here by the same generator, in another directory).
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let listen = "127.0.0.1:0".parse().expect("addr");
    let made = chat_server::tls::self_signed(elsewhere.path(), listen, &[]).expect("certificate");
    let key = elsewhere.path().join("tls").join(chat_server::tls::KEY_FILE);
    let t = TestServer::start_with(|c| {
        c.tls = chat_server::TlsMode::Files {
            cert: made.cert_path.clone(),
            key,
        }
    })
    .await;
    assert_eq!(t.server.cert_fingerprint(), Some(made.fingerprint.clone()));
    assert!(
        !t.dir.path().join("tls").exists(),
        "nothing generated when files are given"
    );
    let mut c = t.client().await;
    assert_eq!(c.ok(json!({"type": "ping"})).await["type"], "pong");
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_data_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temp dir");
    let data_dir = parent.path().join("fresh").join("data");
    let server = chat_server::start(common::config(&data_dir))
        .await
        .expect("start");
    let mode = std::fs::metadata(&data_dir)
        .expect("data dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "data dir mode {mode:o}");
    server.shutdown().await;
}

#[tokio::test]
async fn one_deadline_covers_the_tls_handshake_and_the_http_request_head() {
    let handshake = Duration::from_millis(1000);
    let t = TestServer::start_with(|c| c.timeouts.handshake = handshake).await;
    let addr = t.server.local_addr();
    let der = t.server.cert_der().expect("certificate");
    let started = std::time::Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    // Most of the time goes by before the TLS handshake, the rest on an unfinished head.
    tokio::time::sleep(handshake * 4 / 5).await;
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = common::connector(&der)
        .connect(name, tcp)
        .await
        .expect("the handshake finishes within the deadline");
    tokio::io::AsyncWriteExt::write_all(&mut tls, b"GET /v2/ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("part of a head");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(common::WAIT, tokio::io::AsyncReadExt::read(&mut tls, &mut buf)).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the server closed the connection: {read:?}"
    );
    // The head had what was left of the one deadline, not a deadline of its own.
    assert!(
        elapsed < handshake * 3 / 2,
        "closed after {elapsed:?}, with a deadline of {handshake:?}"
    );
    assert!(elapsed >= handshake * 4 / 5, "closed after {elapsed:?}");
}

/// An upgrade request to `/v2/ws` with the given request line version and extra headers.
fn upgrade_request(version: &str, extra: &str) -> String {
    format!(
        "GET /v2/ws {version}\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn an_upgrade_for_another_websocket_version_gets_426_naming_version_13() {
    let t = TestServer::start().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let response = common::raw_http(
        addr,
        der.as_deref(),
        &upgrade_request("HTTP/1.1", "Sec-WebSocket-Version: 8\r\n"),
    )
    .await;
    assert_eq!(common::status_of(&response), 426, "{response}");
    assert_eq!(
        common::header_of(&response, "Sec-WebSocket-Version"),
        Some("13"),
        "{response}"
    );
    // Version 13 is upgraded.
    let response = common::raw_http(
        addr,
        der.as_deref(),
        &upgrade_request("HTTP/1.1", "Sec-WebSocket-Version: 13\r\n"),
    )
    .await;
    assert_eq!(common::status_of(&response), 101, "{response}");
}

#[tokio::test]
async fn an_http_1_0_upgrade_is_refused() {
    let t = TestServer::start().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let response = common::raw_http(
        addr,
        der.as_deref(),
        &upgrade_request("HTTP/1.0", "Sec-WebSocket-Version: 13\r\n"),
    )
    .await;
    assert_ne!(common::status_of(&response), 101, "{response}");
    assert_eq!(common::status_of(&response), 426, "{response}");
    assert!(
        response.contains("HTTP/1.1"),
        "the answer says what is needed: {response}"
    );
}

#[tokio::test]
async fn method_not_allowed_names_the_allowed_methods() {
    let t = TestServer::start().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    for (path, allowed) in [
        ("/v2/ws", "GET"),
        ("/healthz", "GET, HEAD"),
        ("/metrics", "GET, HEAD"),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let response = common::raw_http(addr, der.as_deref(), &request).await;
        assert_eq!(common::status_of(&response), 405, "{path}: {response}");
        assert_eq!(
            common::header_of(&response, "Allow"),
            Some(allowed),
            "{path}: {response}"
        );
    }
}

#[tokio::test]
async fn metrics_on_the_main_listener_are_for_loopback_clients_unless_made_public() {
    let t = TestServer::start().await;
    let (addr, der) = (t.server.local_addr(), t.server.cert_der());
    let (status, body) = http_get(addr, der.as_deref(), "/metrics", &[]).await;
    assert_eq!(status, 200, "a loopback client reads them: {body}");
    // A request a proxy forwarded comes from whoever the proxy serves, not from this host.
    for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
        let (status, body) = http_get(addr, der.as_deref(), "/metrics", &[(header, "for=203.0.113.7")]).await;
        assert_eq!(status, 403, "{header}: {body}");
        assert!(
            body.contains("--metrics-public"),
            "the refusal says how to open them: {body}"
        );
        assert!(!body.contains("chat_server_"), "{body}");
    }
    // Health stays open to everyone.
    let (status, _) = http_get(
        addr,
        der.as_deref(),
        "/healthz",
        &[("X-Forwarded-For", "203.0.113.7")],
    )
    .await;
    assert_eq!(status, 200);

    let public = TestServer::start_with(|c| c.metrics_public = true).await;
    let (addr, der) = (public.server.local_addr(), public.server.cert_der());
    let (status, _) = http_get(
        addr,
        der.as_deref(),
        "/metrics",
        &[("X-Forwarded-For", "203.0.113.7")],
    )
    .await;
    assert_eq!(status, 200, "public metrics are served to anyone");
}
