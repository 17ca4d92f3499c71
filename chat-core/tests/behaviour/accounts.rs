//! Accounts and sessions (S5, S6, S17).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use chat_core::{CoreConfig, KickReason};
use chat_proto::{ErrorCode, Request, Response, RoomId, SessionToken};

use super::{Client, Fixture, PASSWORD, config, name, node, password};

pub async fn register_login_logout_resume(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let first = Client::register(&svc, "alice").await;
    let registered = first.session.clone().unwrap();
    assert_eq!(registered.user.username.as_str(), "alice");
    assert!(first.conn.is_authenticated());

    // A second device logs in with the password and gets its own token.
    let mut second = Client::login(&svc, "alice").await;
    let second_session = second.session.clone().unwrap();
    assert_eq!(second_session.user, registered.user);
    assert_ne!(second_session.token, registered.token);

    // A reconnect resumes with the first token, without the password.
    let mut resumed = Client::connect(&svc);
    let token = registered.token.clone();
    match resumed.ok(Request::ResumeSession { token: token.clone() }).await {
        Response::Session(s) => {
            assert_eq!(s.user, registered.user);
            assert_eq!(s.token, token);
            assert!(s.expires_at >= registered.expires_at);
        }
        other => panic!("{other:?}"),
    }

    // Logging out on the second device revokes only its token.
    assert_eq!(second.ok(Request::Logout).await, Response::Ok);
    assert!(!second.conn.is_authenticated());
    assert_eq!(second.code(Request::ListRooms).await, ErrorCode::Unauthenticated);
    let mut retry = Client::connect(&svc);
    assert_eq!(
        retry
            .code(Request::ResumeSession {
                token: second_session.token.clone()
            })
            .await,
        ErrorCode::InvalidSession
    );
    assert!(resumed.request(Request::ListRooms).await.is_ok());

    // Logging out with the first token also closes the other connection that resumed it.
    let mut first = first;
    assert_eq!(first.ok(Request::Logout).await, Response::Ok);
    assert_eq!(resumed.conn.kicked(), Some(KickReason::SessionEnded));
    assert_eq!(resumed.code(Request::ListRooms).await, ErrorCode::Unauthenticated);
    assert_eq!(
        retry.code(Request::ResumeSession { token }).await,
        ErrorCode::InvalidSession
    );
    // After logout the same connection may log in again.
    assert!(matches!(
        first
            .ok(Request::Login {
                username: name("alice"),
                password: password(PASSWORD)
            })
            .await,
        Response::Session(_)
    ));
    // A well-formed token that was never issued.
    let forged = SessionToken::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    assert_eq!(
        retry.code(Request::ResumeSession { token: forged }).await,
        ErrorCode::InvalidSession
    );
}

pub async fn expired_tokens_are_refused(fx: &dyn Fixture) {
    // A zero lifetime: the token has expired by the time anyone presents it.
    let svc = node(
        fx,
        CoreConfig {
            session_ttl: Duration::ZERO,
            ..config()
        },
    )
    .await;
    let alice = Client::register(&svc, "alice").await;
    let token = alice.session.clone().unwrap().token;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut again = Client::connect(&svc);
    let err = again.err(Request::ResumeSession { token }).await;
    assert_eq!(err.code, ErrorCode::InvalidSession);
    assert!(!err.retryable);
    assert!(!again.conn.is_authenticated());
}

/// An open connection is use: its session outlives the lifetime counted from login, and a
/// session deleted behind the node's back closes the connections that use it.
pub async fn sessions_in_use_are_renewed_and_end_when_deleted(fx: &dyn Fixture) {
    let ttl = Duration::from_millis(600);
    let svc = node(
        fx,
        CoreConfig {
            session_ttl: ttl,
            ..config()
        },
    )
    .await;
    let mut alice = Client::register(&svc, "alice").await;
    let token = alice.session.clone().unwrap().token;
    tokio::time::sleep(ttl * 3).await;
    assert!(matches!(
        alice.ok(Request::ListRooms).await,
        Response::Rooms { .. }
    ));
    let mut other_device = Client::connect(&svc);
    let resumed = other_device
        .ok(Request::ResumeSession { token: token.clone() })
        .await;
    assert!(matches!(resumed, Response::Session(_)), "{resumed:?}");

    // An operator (or another node's clean-up) deletes every session in the database.
    let store = fx.open_store().await;
    let deleted = store.delete_expired_sessions(i64::MAX).await.unwrap();
    assert_eq!(deleted, 1);
    for client in [&mut alice, &mut other_device] {
        let ended = tokio::time::timeout(ttl * 4, async { while client.rx.recv().await.is_some() {} }).await;
        assert!(ended.is_ok(), "the connection was not closed");
        assert_eq!(client.conn.kicked(), Some(KickReason::SessionEnded));
    }
    let mut late = Client::connect(&svc);
    assert_eq!(
        late.code(Request::ResumeSession { token }).await,
        ErrorCode::InvalidSession
    );
}

pub async fn usernames_are_unique_ignoring_case(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let alice = Client::register(&svc, "Alice").await;
    let mut other = Client::connect(&svc);
    let err = other
        .err(Request::Register {
            username: name("aLICE"),
            password: password("another password"),
        })
        .await;
    assert_eq!(err.code, ErrorCode::UsernameTaken);
    // Login in any case finds the account, shown as registered.
    let login = Client::login(&svc, "ALICE").await;
    let user = login.session.unwrap().user;
    assert_eq!(user.id, alice.user_id());
    assert_eq!(user.username.as_str(), "Alice");
}

pub async fn wrong_password_and_unknown_user_look_the_same(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let _alice = Client::register(&svc, "alice").await;
    let mut c = Client::connect(&svc);
    let wrong_password = c
        .err(Request::Login {
            username: name("alice"),
            password: password("not the password"),
        })
        .await;
    let unknown_user = c
        .err(Request::Login {
            username: name("nobody"),
            password: password("not the password"),
        })
        .await;
    assert_eq!(wrong_password.code, ErrorCode::InvalidCredentials);
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password.message, "invalid username or password");
}

/// OWASP: failures count per (username, address) pair and per address, with growing
/// delays; never per username alone, so nobody locks an account out from every address;
/// a device resuming its session is never throttled.
pub async fn failed_logins_are_throttled_per_username_and_address(fx: &dyn Fixture) {
    let first_delay = Duration::from_millis(300);
    let svc = node(
        fx,
        CoreConfig {
            login_failures_allowed: 3,
            login_address_failures_allowed: 5,
            login_first_delay: first_delay,
            login_window: Duration::from_secs(300),
            ..config()
        },
    )
    .await;
    let alice = Client::register(&svc, "alice").await;
    let _bob = Client::register(&svc, "bob").await;
    let addr = |last| IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
    let login = |user: &str, pw: &str| Request::Login {
        username: name(user),
        password: password(pw),
    };
    let attacker = addr(1);

    // Three wrong passwords for alice from one address use up the pair's allowance.
    for _ in 0..3 {
        let mut c = Client::connect_from(&svc, attacker);
        assert_eq!(
            c.code(login("alice", "wrong password")).await,
            ErrorCode::InvalidCredentials
        );
    }
    // That address now waits, even with the right password...
    let mut c = Client::connect_from(&svc, attacker);
    let err = c.err(login("ALICE", PASSWORD)).await;
    assert_eq!(err.code, ErrorCode::LoginThrottled);
    assert!(err.retryable);
    let wait = err.retry_after_ms.expect("retry_after_ms");
    assert!(wait > 0 && wait <= first_delay.as_millis() as u64, "{wait}");
    // ...but alice logs in from her own address at once: no lock of her account.
    let mut own = Client::connect_from(&svc, addr(2));
    assert!(own.request(login("alice", PASSWORD)).await.is_ok());
    // Her device with a session resumes from the throttled address too.
    let token = alice.session.clone().unwrap().token;
    let mut device = Client::connect_from(&svc, attacker);
    assert!(matches!(
        device.ok(Request::ResumeSession { token }).await,
        Response::Session(_)
    ));

    // The wait grows with each further failure: doubled after the fourth.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut c = Client::connect_from(&svc, attacker);
    assert_eq!(
        c.code(login("alice", "wrong again")).await,
        ErrorCode::InvalidCredentials
    );
    let err = c.err(login("alice", PASSWORD)).await;
    assert_eq!(err.code, ErrorCode::LoginThrottled);
    let longer = err.retry_after_ms.expect("retry_after_ms");
    assert!(
        longer > first_delay.as_millis() as u64 && longer <= 2 * first_delay.as_millis() as u64,
        "{longer} after {wait}"
    );
    // Once the wait is over the right password works from that address as well: a delay,
    // not a lock for the rest of the window.
    tokio::time::sleep(Duration::from_millis(longer)).await;
    let mut c = Client::connect_from(&svc, attacker);
    assert!(c.request(login("alice", PASSWORD)).await.is_ok());

    // One address spraying usernames is slowed down after its own allowance of 5...
    let sprayer = addr(9);
    for user in ["carol", "dave", "erin", "frank", "grace"] {
        let mut c = Client::connect_from(&svc, sprayer);
        assert_eq!(
            c.code(login(user, "Summer2024!")).await,
            ErrorCode::InvalidCredentials
        );
    }
    let mut c = Client::connect_from(&svc, sprayer);
    assert_eq!(
        c.code(login("heidi", "Summer2024!")).await,
        ErrorCode::LoginThrottled
    );
    assert_eq!(c.code(login("bob", PASSWORD)).await, ErrorCode::LoginThrottled);
    // ...and only that address.
    let mut c = Client::connect_from(&svc, addr(10));
    assert!(c.request(login("bob", PASSWORD)).await.is_ok());
}

pub async fn authenticated_connections_cannot_authenticate_again(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let token = alice.session.clone().unwrap().token;
    let requests = [
        Request::Register {
            username: name("other"),
            password: password(PASSWORD),
        },
        Request::Login {
            username: name("alice"),
            password: password(PASSWORD),
        },
        Request::ResumeSession { token },
    ];
    for request in requests {
        assert_eq!(alice.code(request).await, ErrorCode::AlreadyAuthenticated);
    }
}

pub async fn requests_need_authentication(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut c = Client::connect(&svc);
    let room_id = RoomId::new(1).unwrap();
    let requests = [
        Request::Logout,
        Request::CreateRoom {
            name: super::room_name("x"),
            visibility: chat_proto::Visibility::Private,
            topic: None,
            encrypted: None,
        },
        Request::ListRooms,
        Request::JoinRoom { room_id },
        Request::LeaveRoom { room_id },
        Request::ListMembers { room_id },
        Request::OpenDirect {
            username: name("alice"),
        },
        Request::SendMessage {
            room_id,
            client_msg_id: chat_proto::ClientMsgId::random(),
            body: super::body("hi"),
        },
        Request::History {
            room_id,
            before_seq: None,
            after_seq: None,
            limit: 10,
        },
        Request::ResumeRoom {
            room_id,
            after_seq: 0,
        },
        Request::MarkRead { room_id, seq: 1 },
        Request::Typing { room_id },
    ];
    for request in requests {
        let what = request.type_name();
        assert_eq!(c.code(request).await, ErrorCode::Unauthenticated, "{what}");
    }
    assert_eq!(c.ok(Request::Ping).await, Response::Pong);
}

pub async fn requests_are_rate_limited(fx: &dyn Fixture) {
    let svc = node(
        fx,
        CoreConfig {
            requests_per_second: 5,
            ..config()
        },
    )
    .await;
    let mut c = Client::connect(&svc);
    // The burst is twice the rate.
    for _ in 0..10 {
        assert_eq!(c.ok(Request::Ping).await, Response::Pong);
    }
    let err = c.err(Request::Ping).await;
    assert_eq!(err.code, ErrorCode::RateLimited);
    let wait = err.retry_after_ms.expect("retry_after_ms");
    assert!(wait > 0 && wait <= 200, "{wait}");
    // Another connection has its own bucket.
    let mut other = Client::connect(&svc);
    assert_eq!(other.ok(Request::Ping).await, Response::Pong);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(c.ok(Request::Ping).await, Response::Pong);
}
