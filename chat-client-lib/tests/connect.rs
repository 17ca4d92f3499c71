//! Connecting: typed failures within the timeout, trust by fingerprint or file, and
//! "connected" only once the server really answers.

mod common;

use std::time::{Duration, Instant};

use chat_client_lib::{
    Client, ClientConfig, ClientError, ConnectError, ConnectStage, ConnectionState, ServerTrust,
};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(1);
/// Generous room for scheduling on a loaded machine; the point is "no hang", not speed.
const SLACK: Duration = Duration::from_secs(5);

fn pinned(url: &str) -> ClientConfig {
    ClientConfig::new(url)
        .with_fingerprint(&"AB".repeat(32))
        .unwrap()
        .with_connect_timeout(TIMEOUT)
}

#[tokio::test]
async fn a_closed_port_is_refused_at_once_and_the_state_says_failed() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::new(pinned(&format!("wss://127.0.0.1:{port}/v2/ws")));
    assert_eq!(
        client.current_state(),
        ConnectionState::Disconnected,
        "lazy: nothing yet"
    );
    let started = Instant::now();
    let err = client.login("alice", PASSWORD).await.unwrap_err();
    assert!(started.elapsed() < TIMEOUT + SLACK);
    assert!(
        matches!(err, ClientError::Connect(ConnectError::Refused { .. })),
        "{err:?}"
    );
    assert!(matches!(
        client.current_state(),
        ConnectionState::Failed {
            reason: ConnectError::Refused { .. },
            attempts: 1
        }
    ));
}

/// A port that accepts TCP and then says nothing.
async fn silent_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

#[tokio::test]
async fn a_silent_server_times_out_in_the_tls_or_upgrade_stage_without_hanging() {
    let port = silent_port().await;
    for (url, stage) in [
        (format!("wss://127.0.0.1:{port}/v2/ws"), ConnectStage::Tls),
        (format!("ws://127.0.0.1:{port}/v2/ws"), ConnectStage::Upgrade),
    ] {
        let client = Client::new(pinned(&url));
        let mut states = client.state();
        let watcher = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(state) = states.next_state().await {
                let done = matches!(state, ConnectionState::Failed { .. });
                seen.push(state);
                if done {
                    break;
                }
            }
            seen
        });
        let started = Instant::now();
        let err = client.login("alice", PASSWORD).await.unwrap_err();
        let elapsed = started.elapsed();
        let seen = watcher.await.unwrap();
        assert!(
            !seen.contains(&ConnectionState::Connected),
            "never optimistic: {seen:?}"
        );
        assert!(seen.contains(&ConnectionState::Connecting), "{seen:?}");
        assert!(elapsed >= TIMEOUT && elapsed < TIMEOUT + SLACK, "{elapsed:?}");
        match err {
            ClientError::Connect(ConnectError::Timeout { stage: s, after }) => {
                assert_eq!((s, after), (stage, TIMEOUT), "{url}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_http_refusal_is_a_rejected_handshake_with_its_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    let client = Client::new(pinned(&format!("ws://127.0.0.1:{port}/v2/ws")));
    let err = client.login("alice", PASSWORD).await.unwrap_err();
    assert_eq!(
        err,
        ClientError::Connect(ConnectError::HandshakeRejected { status: 403 })
    );
}

#[tokio::test]
async fn a_wrong_fingerprint_is_a_certificate_error_and_the_right_one_in_any_spelling_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let client = Client::new(pinned(&server.ws_url()));
    let err = client.login("alice", PASSWORD).await.unwrap_err();
    match &err {
        ClientError::Connect(ConnectError::Certificate(why)) => {
            assert!(
                why.contains(&server.cert_fingerprint().unwrap()),
                "names the presented cert: {why}"
            )
        }
        other => panic!("{other:?}"),
    }

    let spelled = server.cert_fingerprint().unwrap().replace(':', "").to_lowercase();
    let config = ClientConfig::new(server.ws_url())
        .with_fingerprint(&spelled)
        .unwrap();
    let client = Client::new(config);
    let mut states = client.state();
    assert_eq!(states.next_state().await, Some(ConnectionState::Disconnected));
    client.register(&unique("fp"), PASSWORD).await.unwrap();
    assert_eq!(client.current_state(), ConnectionState::Connected);
    assert_eq!(
        client.server_hello().unwrap().protocol,
        chat_proto::PROTOCOL_VERSION
    );
}

#[tokio::test]
async fn the_certificate_file_from_the_data_directory_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), 0).await;
    let config = ClientConfig::new(server.ws_url()).with_certificate_file(server.cert_path().unwrap());
    let client = Client::new(config);
    client.register(&unique("file"), PASSWORD).await.unwrap();
    client.ping().await.unwrap();

    let mut der = ClientConfig::new(server.ws_url());
    der.trust = Some(ServerTrust::Certificates(vec![server.cert_der().unwrap()]));
    Client::new(der).ping().await.unwrap();

    // Another server's certificate file is not trusted.
    let other_dir = tempfile::tempdir().unwrap();
    let other = start_server(other_dir.path(), 0).await;
    let config = ClientConfig::new(server.ws_url()).with_certificate_file(other.cert_path().unwrap());
    let err = Client::new(config).ping().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Connect(ConnectError::Certificate(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn wss_without_trust_settings_is_a_configuration_error() {
    let client = Client::new(ClientConfig::new("wss://127.0.0.1:1/v2/ws"));
    let err = client.ping().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Connect(ConnectError::Config(_))),
        "{err:?}"
    );
}
