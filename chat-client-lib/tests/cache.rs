//! The encrypted offline cache against a real server: written at logout, read without the
//! server, damage detected and rebuilt, and one user's password useless on another's cache.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chat_client_lib::{CacheError, Client, ClientError, ClientEvent, ConnectError};
use common::*;

const WAIT: Duration = Duration::from_secs(10);

fn cache_file(dir: &Path, username: &str) -> PathBuf {
    let suffix = format!("-{}.cache", username.to_lowercase());
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&suffix))
        .unwrap_or_else(|| panic!("no cache file for {username}"))
}

#[tokio::test]
async fn written_at_logout_and_read_at_the_next_login_without_the_server() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = config_for(&server).with_cache_dir(cache_dir.path());
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
    alice.members(room.id).await.unwrap();
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

    let again = Client::new(config);
    assert_eq!(again.load_offline(&a, PASSWORD).await.unwrap(), snapshot);
}

#[tokio::test]
async fn a_flipped_byte_is_detected_set_aside_and_rebuilt_from_the_server() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = config_for(&server).with_cache_dir(cache_dir.path());
    let a = unique("alice");
    let alice = registered(config.clone(), &a).await;
    let room = alice
        .create_room_with(chat_client_lib::NewRoom::public("rebuilt"))
        .await
        .unwrap();
    for i in 1..=3 {
        alice.send(room.id, &format!("kept {i}")).await.unwrap();
    }
    alice.logout().await.unwrap();

    let path = cache_file(cache_dir.path(), &a);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();

    let client = Client::new(config.clone());
    let mut events = client.events();
    client
        .login(&a, PASSWORD)
        .await
        .expect("login works despite the damage");
    let aside = loop {
        match tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("event")
            .expect("open")
        {
            ClientEvent::CacheSetAside { path } => break path,
            _ => continue,
        }
    };
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        bytes,
        "the damaged file is kept aside"
    );
    assert!(!path.exists(), "and no longer in the way");
    let snapshot = client.cached_snapshot().expect("rebuilt");
    assert!(snapshot.room(room.id).is_some(), "chat list from the server");
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
async fn user_b_cannot_open_user_a_cache() {
    let data = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), 0).await;
    let config = config_for(&server).with_cache_dir(cache_dir.path());
    let (a, b) = (unique("alice"), unique("bob"));
    let bob_password = "bob's own password";
    let alice = registered(config.clone(), &a).await;
    let secret = alice
        .create_room_with(chat_client_lib::NewRoom::public("alice-secret-room"))
        .await
        .unwrap();
    alice.send(secret.id, "alice private words").await.unwrap();
    alice.logout().await.unwrap();
    let alice_file = cache_file(cache_dir.path(), &a);
    let raw = std::fs::read(&alice_file).unwrap();
    let visible = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !visible("alice-secret-room") && !visible("alice private words"),
        "encrypted at rest"
    );

    let bob = Client::new(config.clone());
    bob.register(&b, bob_password).await.unwrap();
    let err = bob.load_offline(&a, bob_password).await.unwrap_err();
    assert_eq!(err, ClientError::Cache(CacheError::WrongPassword));
    assert_eq!(std::fs::read(&alice_file).unwrap(), raw, "left alone");
    bob.logout().await.unwrap();

    // Even copied under bob's name, alice's file does not open with bob's password: at bob's
    // login it is set aside and bob gets his own chat list, not alice's.
    let bob_file = cache_file(cache_dir.path(), &b);
    std::fs::copy(&alice_file, &bob_file).unwrap();
    let bob = Client::new(config);
    let mut events = bob.events();
    bob.login(&b, bob_password).await.unwrap();
    let set_aside = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(ClientEvent::CacheSetAside { .. }) = events.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(set_aside.is_ok(), "the foreign file was set aside");
    assert!(bob.cached_snapshot().unwrap().room(secret.id).is_none());
}
