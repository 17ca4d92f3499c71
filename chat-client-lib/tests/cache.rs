//! The encrypted local store against a real server: the snapshot written at logout and read
//! without the server, a damaged file set aside and rebuilt, a tampered row reported and
//! rebuilt, one user's password useless on another's store, and no nearly empty snapshot
//! from a logout right after login.

mod common;

use std::time::Duration;

use chat_client_lib::{Client, ClientError, ClientEvent, ConnectError, StoreError};
use common::*;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn written_at_logout_and_read_at_the_next_login_without_the_server() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = with_store(config_for(&server), cache_dir.path());
    let (a, b) = (unique("alice"), unique("bob"));
    let alice = registered(config.clone(), &a).await;
    let bob = registered(config_for(&server), &b).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("cached"))
        .await
        .unwrap();
    bob.join_room(room.id).await.unwrap();
    let mut seen = alice.room_events(room.id);
    for i in 1..=25 {
        alice.send(room.id, &format!("note {i}")).await.unwrap();
    }
    bob.send(room.id, "from bob").await.unwrap();
    for _ in 0..26 {
        next_message(&mut seen, WAIT).await.expect("event");
    }
    alice.sync_cache().await.unwrap();
    alice.logout().await.unwrap();
    assert!(alice.cached_snapshot().is_none(), "forgotten at logout");
    server.kill();

    let offline = Client::new(config.clone());
    let err = offline.login(&a, PASSWORD).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Connect(ConnectError::Refused { .. })),
        "{err:?}"
    );
    let snapshot = offline.cached_snapshot().expect("read-only offline view");
    assert_eq!(snapshot.user.username.as_str(), a);
    let cached = snapshot.room(room.id).expect("room cached");
    assert_eq!(cached.summary.room.name, "cached");
    let seqs: Vec<_> = cached.messages.iter().map(|m| m.seq).collect();
    // 1 created, 2 bob joined, 3..=27 alice's notes, 28 bob's message.
    assert_eq!(seqs, (9..=28).collect::<Vec<_>>(), "the newest 20, in order");
    assert_eq!(
        cached.messages.last().unwrap().text().unwrap().as_str(),
        "from bob"
    );
    assert_eq!(cached.summary.last_message.as_ref().unwrap().seq, 28);
    assert_eq!(cached.members.len(), 2);

    let again = Client::new(config.clone());
    assert_eq!(again.load_offline(&a, PASSWORD).await.unwrap(), snapshot);
    assert_eq!(
        again.load_offline(&a, "not the password").await.unwrap_err(),
        ClientError::Store(StoreError::WrongPassword),
        "a wrong password opens nothing"
    );

    // The store's name and contents reveal neither the user nor the chat.
    let file = store_file(&config, &a);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!name.contains(&a) && !name.contains("127.0.0.1"), "{name}");
    let raw = std::fs::read(&file).unwrap();
    let visible = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!visible("note 25") && !visible("cached") && !visible(&a));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cache_dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the directory is private");
    }
}

#[tokio::test]
async fn another_spelling_of_the_server_url_finds_the_same_store() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let fingerprint = server.cert_fingerprint().unwrap();
    let port = server.local_addr().port();
    let typed = config_for_url(&format!("wss://127.0.0.1:{port}/v2/ws"), &fingerprint);
    let a = unique("alice");
    let alice = registered(with_store(typed, cache_dir.path()), &a).await;
    alice
        .create_room_with(chat_client_lib::NewRoom::public("spelled"))
        .await
        .unwrap();
    alice.sync_cache().await.unwrap();
    alice.logout().await.unwrap();

    let respelled = config_for_url(&format!(" WSS://127.0.0.1:{port}/ "), &fingerprint.to_lowercase());
    let again = Client::new(with_store(respelled, cache_dir.path()));
    let snapshot = again.load_offline(&a.to_uppercase(), PASSWORD).await.unwrap();
    assert_eq!(snapshot.rooms.len(), 1);
    assert_eq!(std::fs::read_dir(cache_dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn a_logout_right_after_login_keeps_the_full_snapshot() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = with_store(config_for(&server), cache_dir.path());
    let a = unique("alice");
    let alice = registered(config.clone(), &a).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("kept"))
        .await
        .unwrap();
    for i in 1..=5 {
        alice.send(room.id, &format!("kept {i}")).await.unwrap();
    }
    alice.sync_cache().await.unwrap();
    alice.members(room.id).await.unwrap();
    alice.logout().await.unwrap();

    // In and straight out again, before any refresh could finish.
    let quick = Client::new(config.clone());
    quick.login(&a, PASSWORD).await.unwrap();
    quick.logout().await.unwrap();

    let snapshot = Client::new(config).load_offline(&a, PASSWORD).await.unwrap();
    let cached = snapshot.room(room.id).unwrap();
    assert_eq!(
        cached.messages.len(),
        6,
        "messages kept (and the room's `created` notice)"
    );
    assert_eq!(cached.members.len(), 1, "members kept");

    // A user with no snapshot yet who logs straight out saves nothing half-made.
    let b = unique("bob");
    let bob = Client::new(with_store(config_for(&server), cache_dir.path()));
    bob.register(&b, PASSWORD).await.unwrap();
    bob.logout().await.unwrap();
    // Either nothing was saved, or (when the first refresh beat the logout) the whole of
    // what bob has: no rooms.
    match Client::new(with_store(config_for(&server), cache_dir.path()))
        .load_offline(&b, PASSWORD)
        .await
    {
        Err(err) => assert_eq!(err, ClientError::Store(StoreError::Missing)),
        Ok(snapshot) => {
            assert_eq!(snapshot.user.username.as_str(), b);
            assert!(snapshot.rooms.is_empty(), "{snapshot:?}");
        }
    }
}

#[tokio::test]
async fn a_damaged_file_is_set_aside_and_rebuilt_from_the_server() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = with_store(config_for(&server), cache_dir.path());
    let a = unique("alice");
    let alice = registered(config.clone(), &a).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("rebuilt"))
        .await
        .unwrap();
    for i in 1..=3 {
        alice.send(room.id, &format!("kept {i}")).await.unwrap();
    }
    alice.sync_cache().await.unwrap();
    alice.logout().await.unwrap();

    let path = store_file(&config, &a);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"not a database!!");
    std::fs::write(&path, &bytes).unwrap();

    let client = Client::new(config.clone());
    let mut events = client.events();
    client
        .login(&a, PASSWORD)
        .await
        .expect("login works despite the damage");
    let aside = wait_event(&mut events, WAIT, |e| match e {
        ClientEvent::CacheSetAside { path } => Some(path),
        _ => None,
    })
    .await;
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        bytes,
        "the damaged file is kept aside"
    );
    client.sync_cache().await.unwrap();
    let cached = client.cached_snapshot().unwrap();
    let bodies: Vec<_> = cached
        .room(room.id)
        .unwrap()
        .messages
        .iter()
        .filter_map(|m| m.text().map(ToString::to_string))
        .collect();
    assert_eq!(bodies, ["kept 1", "kept 2", "kept 3"]);
    client.logout().await.unwrap();

    // The three messages and the room's `created` notice.
    let reopened = Client::new(config).load_offline(&a, PASSWORD).await.unwrap();
    assert_eq!(reopened.room(room.id).unwrap().messages.len(), 4);
}

#[tokio::test]
async fn a_tampered_row_is_reported_never_shown_and_rebuilt() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = with_store(config_for(&server), cache_dir.path());
    let a = unique("alice");
    let alice = registered(config.clone(), &a).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("genuine"))
        .await
        .unwrap();
    alice.send(room.id, "genuine words").await.unwrap();
    alice.sync_cache().await.unwrap();
    alice.logout().await.unwrap();

    // Change one byte inside every stored value (the file stays a valid database).
    let path = store_file(&config, &a);
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        let rows: Vec<(i64, Vec<u8>)> = db
            .prepare("SELECT rowid, sealed FROM kv")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (rowid, mut sealed) in rows {
            let last = sealed.len() - 1;
            sealed[last] ^= 1;
            db.execute(
                "UPDATE kv SET sealed = ?1 WHERE rowid = ?2",
                rusqlite::params![sealed, rowid],
            )
            .unwrap();
        }
    }
    let offline = Client::new(config.clone());
    let err = offline.load_offline(&a, PASSWORD).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::Tampered { .. })),
        "{err:?}"
    );
    assert!(offline.cached_snapshot().is_none(), "nothing shown");

    let client = Client::new(config.clone());
    let mut events = client.events();
    client.login(&a, PASSWORD).await.unwrap();
    let error = wait_event(&mut events, WAIT, |e| match e {
        ClientEvent::StoreDamaged { error } => Some(error),
        _ => None,
    })
    .await;
    assert!(matches!(error, StoreError::Tampered { .. }), "{error:?}");
    client.sync_cache().await.unwrap();
    client.logout().await.unwrap();
    let rebuilt = Client::new(config).load_offline(&a, PASSWORD).await.unwrap();
    assert_eq!(
        rebuilt
            .room(room.id)
            .unwrap()
            .messages
            .iter()
            .find_map(|m| m.text())
            .unwrap()
            .as_str(),
        "genuine words"
    );
}

#[tokio::test]
async fn user_b_cannot_open_user_a_store() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = with_store(config_for(&server), cache_dir.path());
    let (a, b) = (unique("alice"), unique("bob"));
    let bob_password = "bob's own password";
    let alice = registered(config.clone(), &a).await;
    let secret = alice
        .create_room_with(chat_client_lib::NewRoom::public("alice-secret-room"))
        .await
        .unwrap();
    alice.send(secret.id, "alice private words").await.unwrap();
    alice.sync_cache().await.unwrap();
    alice.logout().await.unwrap();
    let alice_file = store_file(&config, &a);
    let raw = std::fs::read(&alice_file).unwrap();

    let bob = Client::new(config.clone());
    bob.register(&b, bob_password).await.unwrap();
    let err = bob.load_offline(&a, bob_password).await.unwrap_err();
    assert_eq!(err, ClientError::Store(StoreError::WrongPassword));
    assert_eq!(std::fs::read(&alice_file).unwrap(), raw, "left alone");
    bob.logout().await.unwrap();

    // Even copied under bob's name, alice's file does not open with bob's password: at
    // bob's login it is set aside and bob gets his own chat list, not alice's.
    let bob_file = store_file(&config, &b);
    let _ = std::fs::remove_file(
        bob_file.with_file_name(format!("{}-wal", bob_file.file_name().unwrap().to_string_lossy())),
    );
    std::fs::copy(&alice_file, &bob_file).unwrap();
    let bob = Client::new(config);
    let mut events = bob.events();
    bob.login(&b, bob_password).await.unwrap();
    wait_event(&mut events, WAIT, |e| {
        matches!(e, ClientEvent::CacheSetAside { .. }).then_some(())
    })
    .await;
    assert!(bob.cached_snapshot().unwrap().room(secret.id).is_none());
}
