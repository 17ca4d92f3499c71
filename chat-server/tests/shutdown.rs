//! Graceful shutdown (in process and by SIGTERM to the binary) and the abrupt kill.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chat_proto::close;
use common::{Client, Incoming, handshake, open};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_in_flight_sends_and_closes_clients_with_1001() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = common::config(dir.path());
    cfg.timeouts.shutdown = Duration::from_secs(5);
    let server = chat_server::start(cfg.clone()).await.expect("start");
    let mut alice = Client::connect(&server).await;
    let mut bob = Client::connect(&server).await;
    alice.register("alice").await;
    bob.register("bob").await;
    let room = alice.create_room("last-words").await;
    bob.ok(json!({"type": "join_room", "room_id": room})).await;

    // Alice pipelines sends without waiting for answers; the server stops meanwhile.
    let mut ids = Vec::new();
    for i in 0..30 {
        let id = uuid::Uuid::new_v4().to_string();
        let cmid = uuid::Uuid::new_v4().to_string();
        let frame = json!({"id": id, "type": "send_message", "room_id": room, "client_msg_id": cmid, "body": format!("m{i}")});
        alice.send_raw(frame.to_string().as_bytes()).await;
        ids.push(id);
    }
    // Every request read gets exactly one answer: stored, or refused as shutting_down.
    let mut acked = Vec::new();
    let mut refused = 0;
    // Stop the server once the first answer is in, with the rest in flight.
    let first = alice.next_answer().await;
    assert_eq!(first["kind"], "response", "{first}");
    acked.push(
        first["result"]["message"]["body"]
            .as_str()
            .expect("body")
            .to_owned(),
    );
    let started = Instant::now();
    let stopping = tokio::spawn(server.shutdown());
    let (code, reason) = loop {
        match alice.next().await {
            Incoming::Json(v) if v["kind"] == "response" => {
                assert!(ids.contains(&v["id"].as_str().unwrap_or_default().to_owned()));
                acked.push(v["result"]["message"]["body"].as_str().expect("body").to_owned());
            }
            Incoming::Json(v) if v["kind"] == "error" => {
                assert_eq!(v["error"]["code"], "shutting_down", "{v}");
                assert_eq!(v["error"]["retryable"], true);
                refused += 1;
            }
            Incoming::Json(_) => {}
            Incoming::Close(code, reason) => break (code, reason),
            Incoming::Ended(why) => panic!("no close frame: {why}"),
        }
    };
    assert_eq!(code, close::GOING_AWAY);
    assert!(reason.contains("shutting down"), "{reason}");
    assert!(acked.len() + refused <= 30);
    let (code, _) = bob.closed().await;
    assert_eq!(code, close::GOING_AWAY);
    stopping.await.expect("shutdown finished");
    assert!(
        started.elapsed() < Duration::from_secs(5) + Duration::from_secs(2),
        "bounded shutdown"
    );

    // What was acknowledged is stored, and only that.
    let server = chat_server::start(cfg).await.expect("restart");
    let mut carol = Client::connect(&server).await;
    carol
        .ok(json!({"type": "login", "username": "bob", "password": "correct horse battery"}))
        .await;
    let page = carol
        .ok(json!({"type": "history", "room_id": room, "limit": 200}))
        .await;
    let stored: Vec<String> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str().map(str::to_owned))
        .collect();
    eprintln!(
        "shutdown: {} acknowledged, {refused} refused, {} stored",
        acked.len(),
        stored.len()
    );
    // Requests run in order and the one in flight is finished and answered: exactly the
    // acknowledged messages are stored, a prefix of what was sent; refused ones are not.
    assert_eq!(stored, acked, "stored and acknowledged messages differ");
    let expected_prefix: Vec<String> = (0..stored.len()).map(|i| format!("m{i}")).collect();
    assert_eq!(stored, expected_prefix);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_bounded_even_when_a_client_never_answers_the_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = common::config(dir.path());
    cfg.timeouts.shutdown = Duration::from_secs(3);
    let server = chat_server::start(cfg).await.expect("start");
    let addr = server.local_addr();
    // A raw TLS client that completes the upgrade and then never reads or writes.
    let io = open(addr, server.cert_der().as_deref()).await;
    let _silent = handshake(io, addr, "/v2/ws", &[]).await.expect("upgrade");
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3) + Duration::from_secs(2));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn kill_drops_connections_without_a_close_frame() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = chat_server::start(common::config(dir.path()))
        .await
        .expect("start");
    let mut c = Client::connect(&server).await;
    c.register("victim").await;
    server.kill();
    match c.next().await {
        Incoming::Ended(_) => {}
        other => panic!("expected the socket to end without a close frame, got {other:?}"),
    }
}

/// Reads the binary's start-up lines up to the health and metrics line; returns (url, cert
/// path, lines).
fn read_banner(stdout: std::process::ChildStdout) -> (String, String, Vec<String>) {
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let (mut url, mut cert) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.expect("stdout line");
        if let Some(v) = line.trim().strip_prefix("url:") {
            url = v.trim().to_owned();
        }
        if let Some(v) = line.trim().strip_prefix("certificate:") {
            cert = v.trim().split(' ').next().unwrap_or_default().to_owned();
        }
        let done = line.trim().starts_with("health:");
        seen.push(line);
        if done {
            break;
        }
    }
    (url, cert, seen)
}

#[tokio::test]
async fn the_binary_prints_how_to_connect_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One setting from each source: the file, the environment and a flag (which wins over
    // the file's listen address).
    let file = dir.path().join("chat.toml");
    let toml = "bcrypt_cost = 4\nlog_format = \"json\"\nlisten = \"127.0.0.1:1\"\n";
    std::fs::write(&file, toml).expect("toml");
    let data_dir = dir.path().join("from-env");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&file)
        .env("CHAT_DATA_DIR", &data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (url, cert_path, banner) = tokio::task::spawn_blocking(move || read_banner(stdout))
        .await
        .expect("banner");
    let text = banner.join("\n");
    assert!(
        url.starts_with("wss://127.0.0.1:") && url.ends_with("/v2/ws"),
        "{text}"
    );
    assert!(text.contains("SHA-256:"), "{text}");
    assert!(text.contains("(generated now)"), "{text}");
    assert!(
        text.contains("metrics: /metrics on the main listener, for clients on this host only"),
        "the banner says where metrics are and who may read them: {text}"
    );
    let data_dir = std::fs::canonicalize(&data_dir).expect("data dir from the environment exists");
    assert!(
        text.contains(&format!("data dir:     {}", data_dir.display())),
        "{text}"
    );
    let pem = std::fs::read(&cert_path).expect("printed certificate path exists");
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|c: rustls_pki_types::CertificateDer| c.to_vec());
    let der = der.expect("certificate PEM");
    let fingerprint = chat_server::tls::fingerprint(&der);
    assert!(
        text.contains(&fingerprint),
        "printed fingerprint matches the file: {text}"
    );

    let addr: std::net::SocketAddr = url
        .trim_start_matches("wss://")
        .trim_end_matches("/v2/ws")
        .parse()
        .expect("address in url");
    let io = open(addr, Some(&der)).await;
    let ws = handshake(io, addr, "/v2/ws", &[]).await.expect("upgrade");
    let mut c = Client::after_upgrade(ws).await;
    c.register("sigterm").await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let (code, reason) = c.closed().await;
    assert_eq!(code, close::GOING_AWAY, "{reason}");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exit.success(), "exit status {exit:?}");
}

/// A server whose stdout and stderr go away (closed pipes, a closed terminal) keeps serving
/// and still shuts down cleanly: the banner and the logs are lost, not the server.
#[tokio::test]
async fn the_binary_keeps_serving_when_its_stdout_is_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // The reading end is closed long before the server has generated its certificate.
    drop(child.stdout.take());
    let stderr = child.stderr.take().expect("stderr");
    let log = tokio::task::spawn_blocking(move || {
        let mut addr = None;
        for line in BufReader::new(stderr).lines() {
            let line: serde_json::Value =
                serde_json::from_str(&line.expect("stderr line")).expect("JSON log line");
            if line["fields"]["message"] == "listening" {
                addr = line["fields"]["local_addr"].as_str().map(str::to_owned);
            }
            let message = line["fields"]["message"].as_str().unwrap_or_default();
            if message.starts_with("cannot print the banner") {
                return (addr, message.to_owned());
            }
        }
        panic!("the server never reported the lost banner");
    });
    let (addr, warning) = tokio::time::timeout(Duration::from_secs(30), log)
        .await
        .expect("log lines in time")
        .expect("join");
    assert!(warning.contains("Broken pipe"), "{warning}");
    // From here on stderr is closed too: the reader above has ended.
    let addr: std::net::SocketAddr = addr.expect("listening address logged").parse().expect("address");

    let pem = std::fs::read(data_dir.join("tls/cert.pem")).expect("certificate");
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|c: rustls_pki_types::CertificateDer| c.to_vec())
        .expect("certificate PEM");
    let (status, body) = common::http_get(addr, Some(&der), "/healthz", &[]).await;
    assert_eq!(status, 200, "{body}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exit.success(), "exit status {exit:?}");
}
