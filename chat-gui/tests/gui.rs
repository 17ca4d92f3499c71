//! The app driven headless (egui_kittest) against a real server in this process: widgets
//! are found by their accessible labels, as a screen reader would find them.

mod support;

use std::time::Duration;

use chat_client_lib::ClientEvent;
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::kittest::{NodeT, Queryable};
use support::{Gui, PASSWORD, TestServer};

#[test]
fn log_in_open_a_room_send_a_message_and_receive_one() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(bob.create_room_with(chat_client_lib::NewRoom::public("general")))
        .unwrap();
    server
        .block_on(bob.send(room.id, "welcome to general").outcome())
        .unwrap();
    server.block_on(alice.join_room(room.id)).unwrap();
    server.block_on(alice.logout()).unwrap();
    let mut bob_sees = bob.room_events(room.id);

    let mut gui = Gui::for_server(&server);
    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("general");
    gui.harness.get_by_role_and_label(Role::Button, "general").click();
    gui.wait_for_label("welcome to general");

    // Shift+Enter starts a new line; Enter sends.
    let composer = gui.harness.get_by_label("Message");
    composer.focus();
    composer.type_text("hello from");
    gui.harness.key_press_modifiers(Modifiers::SHIFT, Key::Enter);
    gui.harness.get_by_label("Message").type_text("the desktop");
    gui.frames(4);
    assert_eq!(
        gui.harness.get_by_label("Message").value().as_deref(),
        Some("hello from\nthe desktop"),
        "Shift+Enter adds a line and sends nothing"
    );
    gui.harness.key_press(Key::Enter);
    gui.wait_for_label("hello from\nthe desktop");
    assert_eq!(gui.harness.get_by_label("Message").value().as_deref(), Some(""));

    // The other member really received it.
    let received = server.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match bob_sees.recv().await {
                    Some(ClientEvent::Message(m)) if m.sender.username.as_str() == "alice" => break m,
                    Some(_) => continue,
                    None => panic!("bob's event stream ended"),
                }
            }
        })
        .await
        .expect("bob receives alice's message")
    });
    assert_eq!(received.text().unwrap().as_str(), "hello from\nthe desktop");

    // The other member types, then writes: both show up without any action here.
    server.block_on(bob.typing(room.id)).unwrap();
    gui.wait_for_label("bob is typing…");
    server.block_on(bob.send(room.id, "hi alice").outcome()).unwrap();
    gui.wait_for_label("hi alice");
    assert!(!gui.shows("bob is typing…"), "a message ends the typing notice");
}

#[test]
fn wrong_password_and_taken_name_show_the_reason() {
    let server = TestServer::start();
    let _alice = server.user("alice");
    let mut gui = Gui::for_server(&server);

    gui.log_in("alice", "not the password");
    gui.wait_for_text("Invalid username or password");
    assert!(
        gui.harness
            .query_by_role_and_label(Role::Button, "Log in")
            .is_some(),
        "the button is back for another try"
    );
    gui.harness.get_by_label("Dismiss").click();
    gui.wait_for("the snackbar to go", |h| {
        h.query_by_label_contains("Invalid username").is_none()
    });

    gui.harness
        .get_by_role_and_label(Role::Button, "Create account")
        .click();
    gui.wait_for_text("That username is already taken");
}

#[test]
fn the_login_button_is_a_spinner_until_the_server_answers() {
    // A listener that accepts and never answers: the request stays in flight until the
    // connect timeout, long enough to look at the button.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let (socket, _) = silent.accept().unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(socket);
    });
    let url = format!("wss://{addr}/v2/ws");
    let mut gui = Gui::new(&url, &"ab".repeat(32), Duration::from_millis(1500));

    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("Logging in…");
    let harness = &gui.harness;
    assert!(harness.query_by_role_and_label(Role::Button, "Log in").is_none());
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Create account")
            .accesskit_node()
            .is_disabled(),
        "no second request while one is in flight"
    );

    gui.wait_for_text("timed out during the TLS handshake");
    assert!(gui.harness.query_by_label("Logging in…").is_none());
    assert!(
        gui.harness
            .query_by_role_and_label(Role::Button, "Log in")
            .is_some()
    );
    holder.join().unwrap();
}

#[test]
fn with_the_server_gone_messages_stay_readable_and_one_written_offline_is_delivered_once() {
    let mut server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(alice.create_room_with(chat_client_lib::NewRoom::public("ops")))
        .unwrap();
    server.block_on(bob.join_room(room.id)).unwrap();
    server
        .block_on(alice.send(room.id, "before the outage").outcome())
        .unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("ops");
    gui.harness.get_by_role_and_label(Role::Button, "ops").click();
    gui.wait_for_label("before the outage");
    // An own stored message has its check.
    gui.wait_for_label("Sent: before the outage");

    server.kill();
    gui.wait_for_text("Reconnecting");
    assert!(gui.shows("before the outage"), "the loaded chat stays readable");
    assert!(gui.harness.query_by_role_and_label(Role::Button, "ops").is_some());
    let composer = gui.harness.get_by_label("Message");
    assert!(!composer.accesskit_node().is_disabled(), "writing works offline");
    composer.focus();
    composer.type_text("written offline");
    gui.frames(2);
    gui.harness.key_press(Key::Enter);
    gui.wait_for_label("written offline");
    gui.frames(10);
    assert!(
        gui.shows("Sending: written offline"),
        "a clock while the server is away"
    );

    server.restart();
    gui.wait_for("the banner to go", |h| {
        h.query_all_by_label_contains("Reconnecting").next().is_none()
    });
    gui.wait_for_label("Sent: written offline");
    assert!(!gui.shows("Sending: written offline"));
    let stored = server.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = bob
                .history(room.id, chat_client_lib::HistoryFrom::Latest, 10)
                .await
                .unwrap();
            let bodies: Vec<String> = page
                .messages
                .iter()
                .filter_map(|m| m.text().map(ToString::to_string))
                .collect();
            if bodies.len() >= 2 || tokio::time::Instant::now() > deadline {
                break bodies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(stored, ["before the outage", "written offline"], "delivered once");
    assert_eq!(
        gui.harness.query_all_by_label("written offline").count(),
        1,
        "shown once"
    );
}

#[test]
fn offline_the_saved_chats_open_read_only() {
    let mut server = TestServer::start();
    let alice = server.user("alice");
    let room = server
        .block_on(alice.create_room_with(chat_client_lib::NewRoom::public("notes")))
        .unwrap();
    server
        .block_on(alice.send(room.id, "kept on this computer").outcome())
        .unwrap();
    server.block_on(alice.logout()).unwrap();
    let cache = tempfile::tempdir().unwrap();

    let mut gui = Gui::with_cache(
        &server.url,
        &server.fingerprint,
        Duration::from_secs(3),
        cache.path(),
    );
    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("notes");
    gui.harness.get_by_role_and_label(Role::Button, "notes").click();
    gui.wait_for_label("kept on this computer");
    // Closing the window saves the cache.
    gui.harness.state_mut().close();
    drop(gui);

    server.kill();
    let mut gui = Gui::with_cache(
        &server.url,
        &server.fingerprint,
        Duration::from_secs(3),
        cache.path(),
    );
    gui.log_in("alice", PASSWORD);
    gui.wait_for_text("Saved chats are shown read-only");
    gui.harness.get_by_role_and_label(Role::Button, "notes").click();
    gui.wait_for_label("kept on this computer");
    assert!(gui.harness.get_by_label("Message").accesskit_node().is_disabled());
}

#[test]
fn scrolling_up_loads_older_pages() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let room = server
        .block_on(alice.create_room_with(chat_client_lib::NewRoom::public("history")))
        .unwrap();
    server.block_on(async {
        for i in 1..=80 {
            alice.send(room.id, &format!("message {i}")).await.unwrap();
        }
        alice.logout().await.unwrap();
    });

    let mut gui = Gui::for_server(&server);
    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("history");
    gui.harness.get_by_role_and_label(Role::Button, "history").click();
    gui.wait_for_label("message 80");

    // Only the newest page is loaded; the first message needs a second page.
    let start = std::time::Instant::now();
    while !gui.shows("message 1") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "older messages never loaded"
        );
        gui.harness.hover_at(egui::pos2(650.0, 300.0));
        gui.harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 300.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: Modifiers::NONE,
        });
        gui.frames(3);
    }
    assert!(gui.shows("This is the beginning of the chat"));
}

#[test]
fn dialogs_create_a_room_and_start_a_direct_chat() {
    let server = TestServer::start();
    let _alice = server.user("alice");
    let _bob = server.user("bob");
    let mut gui = Gui::for_server(&server);
    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("No chats yet");

    gui.harness.get_by_role_and_label(Role::Button, "Menu").click();
    gui.wait_for_label("New room");
    gui.harness.get_by_label("New room").click();
    gui.wait_for_label("Room name");
    gui.type_into("Room name", "plans");
    gui.harness.get_by_role_and_label(Role::Button, "Create").click();
    gui.wait_for("the new room to open", |h| {
        h.query_by_role_and_label(Role::Button, "plans").is_some() && h.query_by_label("Room name").is_none()
    });

    gui.harness.get_by_role_and_label(Role::Button, "Menu").click();
    gui.wait_for_label("New direct chat");
    gui.harness.get_by_label("New direct chat").click();
    gui.wait_for_label("Username");
    gui.type_into("Username", "nobody");
    gui.harness
        .get_by_role_and_label(Role::Button, "Start chat")
        .click();
    gui.wait_for_text("Not found");
    assert!(gui.shows("Username"), "the dialog stays open to correct the name");

    gui.harness.get_by_label("Username").focus();
    gui.harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    gui.harness.get_by_label("Username").type_text("bob");
    gui.frames(3);
    gui.harness
        .get_by_role_and_label(Role::Button, "Start chat")
        .click();
    gui.wait_for("the direct chat to open", |h| {
        h.query_by_role_and_label(Role::Button, "bob").is_some() && h.query_by_label("Username").is_none()
    });
    // bob is connected through the client library: the direct chat says so.
    gui.wait_for_label("online");
}

#[test]
fn messages_typed_fast_are_never_merged_dropped_or_reordered() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(bob.create_room_with(chat_client_lib::NewRoom::public("quick")))
        .unwrap();
    server.block_on(alice.join_room(room.id)).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in("alice", PASSWORD);
    gui.wait_for_label("quick");
    gui.harness.get_by_role_and_label(Role::Button, "quick").click();
    gui.frames(3);

    // A fast typist (or a slow frame): three lines and three Enters reach the app within
    // one frame, before anything was sent.
    gui.harness.get_by_label("Message").focus();
    gui.harness.step();
    for text in ["fast-A", "fast-B", "fast-C"] {
        let events = &mut gui.harness.input_mut().events;
        events.push(egui::Event::Text(text.to_owned()));
        for pressed in [true, false] {
            events.push(egui::Event::Key {
                key: Key::Enter,
                physical_key: None,
                pressed,
                repeat: false,
                modifiers: Modifiers::NONE,
            });
        }
    }
    gui.harness.step();
    gui.frames(4);
    assert_eq!(
        gui.harness.get_by_label("Message").value().as_deref(),
        Some(""),
        "every Enter took its text out of the composer"
    );
    gui.wait_for_label("fast-C");

    let stored = server.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page = bob
                .history(room.id, chat_client_lib::HistoryFrom::Latest, 10)
                .await
                .unwrap();
            let bodies: Vec<String> = page
                .messages
                .iter()
                .filter(|m| m.sender.username.as_str() == "alice")
                .filter_map(|m| m.text().map(|b| b.as_str().to_owned()))
                .collect();
            if bodies.len() >= 3 || tokio::time::Instant::now() > deadline {
                break bodies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(
        stored,
        ["fast-A", "fast-B", "fast-C"],
        "three messages, as typed, in order"
    );
}
