//! The login throttle over real connections from two loopback addresses: one address
//! failing against a username slows that address down, never the account's owner
//! elsewhere.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{Client, TestServer, handshake, open_from};
use serde_json::json;

async fn client_from(t: &TestServer, source: IpAddr) -> Client {
    let addr = t.server.local_addr();
    let io = open_from(addr, t.server.cert_der().as_deref(), source).await;
    let ws = handshake(io, addr, "/v2/ws", &[]).await.expect("upgrade");
    Client::after_upgrade(ws).await
}

#[tokio::test]
async fn an_address_guessing_a_password_is_slowed_while_the_owner_logs_in_from_elsewhere() {
    let t = TestServer::start_with(|c| {
        c.core.login_failures_allowed = 3;
        c.core.login_first_delay = Duration::from_secs(2);
    })
    .await;
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let owner = IpAddr::V4(Ipv4Addr::LOCALHOST);
    client_from(&t, owner).await.register("carol").await;
    let wrong = json!({"type": "login", "username": "carol", "password": "not her password"});
    let right = json!({"type": "login", "username": "carol", "password": "correct horse battery"});

    let mut guesser = client_from(&t, attacker).await;
    for _ in 0..3 {
        assert_eq!(guesser.err(wrong.clone()).await, "invalid_credentials");
    }
    let answer = guesser.request(right.clone()).await;
    assert_eq!(answer["error"]["code"], "login_throttled", "{answer}");
    let wait = answer["error"]["retry_after_ms"]
        .as_u64()
        .expect("retry_after_ms");
    assert!(wait > 0 && wait <= 2000, "{wait}");

    let mut own = client_from(&t, owner).await;
    let answer = own.request(right).await;
    assert_eq!(
        answer["kind"], "response",
        "the owner is not locked out: {answer}"
    );
}
