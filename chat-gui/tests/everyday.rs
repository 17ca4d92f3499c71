//! Everyday use, driven through the window against a real server: the composer, narrow
//! windows, scrolling and unread messages, every script, selection, keyboard, staying
//! logged in, notifications, confirmations, screen readers and an idle window that paints
//! nothing.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_client_lib::{HistoryFrom, NewRoom};
use egui::accesskit::Role;
use egui::{Key, Modifiers, Rect, ViewportId, vec2};
use egui_kittest::kittest::{NodeT, Queryable};
use support::{Gui, Options, PASSWORD, TestServer};

/// The part of the window where messages show: between the header and the composer.
fn message_area(gui: &Gui) -> Rect {
    let top = gui.harness.get_by_label("Room info").rect().bottom();
    let bottom = gui.harness.get_by_label("Message").rect().top();
    Rect::from_x_y_ranges(0.0..=10_000.0, top..=bottom)
}

/// Whether the message (or any node) labelled `label` is at least partly in view.
fn in_view(gui: &Gui, label: &str) -> bool {
    gui.harness
        .query_all_by_label(label)
        .any(|n| message_area(gui).intersects(n.rect()))
}

/// Scrolls the messages up by `points`.
fn scroll_up(gui: &mut Gui, points: f32) {
    let area = message_area(gui);
    let composer = gui.rect_of("Message");
    gui.harness
        .hover_at(egui::pos2(composer.center().x, area.center().y));
    gui.frames(1);
    for _ in 0..5 {
        gui.harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: vec2(0.0, points / 5.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: Modifiers::NONE,
        });
        gui.frames(3);
    }
    gui.frames(15);
}

/// Sends `count` messages `"{prefix} {i}"` from `client` and returns the last seq.
fn fill(
    server: &TestServer,
    client: &chat_client_lib::Client,
    room: chat_proto::RoomId,
    prefix: &str,
    count: usize,
) -> u64 {
    server.block_on(async {
        let mut last = 0;
        for i in 1..=count {
            let message = client.send(room, &format!("{prefix} {i}")).await.unwrap();
            last = message.seq;
        }
        last
    })
}

#[test]
fn a_long_paste_grows_the_composer_to_eight_lines_and_no_further() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let room = server
        .block_on(alice.create_room_with(NewRoom::public("pasting")))
        .unwrap();
    server
        .block_on(alice.send(room.id, "the conversation stays in view").outcome())
        .unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("pasting");
    gui.wait_for_label("the conversation stays in view");
    gui.harness.get_by_label("Message").focus();
    gui.frames(2);
    let paste: String = (1..=250).map(|i| format!("line {i} of a long paste\n")).collect();
    assert!(paste.len() > 5_000);
    gui.harness.event(egui::Event::Paste(paste));
    gui.frames(10);

    let send = gui.harness.get_by_label("Send").rect();
    let window = Rect::from_min_size(egui::Pos2::ZERO, vec2(1000.0, 680.0));
    assert!(
        window.contains_rect(send),
        "the send button stays in the window: {send:?}"
    );
    assert!(
        send.top() > 680.0 - 260.0,
        "the composer is at most about eight lines tall: send button at {send:?}"
    );
    assert!(
        in_view(&gui, "the conversation stays in view"),
        "the conversation is not covered"
    );
    let text = gui.harness.get_by_label("Message").value().unwrap();
    assert!(
        text.contains("line 250 of a long paste"),
        "nothing pasted is lost"
    );
}

#[test]
fn narrow_windows_show_one_column_and_the_info_panel_over_the_chat() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let name = "weekly planning for the whole team";
    let room = server
        .block_on(alice.create_room_with(NewRoom::public(name)))
        .unwrap();
    server.block_on(bob.join_room(room.id)).unwrap();
    server
        .block_on(alice.send(room.id, "short note").outcome())
        .unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::with_options(Options {
        size: vec2(640.0, 600.0),
        ..Options::for_server(&server)
    });
    gui.log_in_and_wait("alice");
    gui.wait_for_label(name);
    assert!(
        !gui.shows("Select a chat to start messaging"),
        "the list fills the window"
    );
    gui.open_chat(name);
    assert!(
        gui.harness.query_by_role_and_label(Role::Button, name).is_none(),
        "the list gives way to the chat"
    );
    assert!(gui.shows("Back to chats"));
    let composer = gui.rect_of("Message").width();
    assert!(composer > 480.0, "the chat has the width: composer {composer}");

    gui.click("Room info");
    gui.wait_for_text("alice, owner");
    let composer = gui.rect_of("Message").width();
    assert!(
        composer > 480.0,
        "the info panel lies over the chat instead of squeezing it: composer {composer}"
    );
    // Esc closes the panel, then the chat.
    gui.harness.key_press(Key::Escape);
    gui.frames(3);
    assert!(gui.harness.query_by_label_contains("alice, owner").is_none());
    gui.harness.key_press(Key::Escape);
    gui.wait_for("the list to come back", |h| {
        h.query_by_role_and_label(Role::Button, name).is_some()
    });

    // At 500 points the header's buttons and the title never overlap.
    gui.harness.set_size(vec2(500.0, 600.0));
    gui.frames(3);
    gui.open_chat(name);
    gui.frames(3);
    let title = gui.harness.get_by_role_and_label(Role::Label, name).rect();
    for button in ["Room info", "Search messages", "Back to chats"] {
        let rect = gui.rect_of(button);
        assert!(
            !title.intersects(rect),
            "{button} {rect:?} overlaps the title {title:?}"
        );
    }
    assert!(title.right() <= 500.0);
}

#[test]
fn sending_while_scrolled_up_jumps_to_the_newest_message() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(alice.create_room_with(NewRoom::public("busy")))
        .unwrap();
    server.block_on(bob.join_room(room.id)).unwrap();
    let last = fill(&server, &bob, room.id, "message", 40);
    server.block_on(alice.mark_read(room.id, last)).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("busy");
    gui.wait_for_label("message 40");
    gui.frames(5);
    assert!(in_view(&gui, "message 40"), "a read chat opens at the bottom");
    assert!(!gui.shows("Jump to the newest message"));

    scroll_up(&mut gui, 1500.0);
    assert!(!in_view(&gui, "message 40"));
    gui.wait_for_label("Jump to the newest message");

    let composer = gui.harness.get_by_label("Message");
    composer.focus();
    composer.type_text("sent while scrolled up");
    gui.frames(2);
    gui.harness.key_press(Key::Enter);
    gui.wait_for_label("sent while scrolled up");
    gui.frames(5);
    assert!(
        in_view(&gui, "sent while scrolled up"),
        "sending shows the newest messages"
    );
    assert!(!gui.shows("Jump to the newest message"));

    scroll_up(&mut gui, 1500.0);
    gui.click("Jump to the newest message");
    gui.frames(5);
    assert!(in_view(&gui, "sent while scrolled up"));
}

#[test]
fn an_unread_chat_opens_at_the_first_unread_message_and_reads_as_they_show() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(alice.create_room_with(NewRoom::public("news")))
        .unwrap();
    server.block_on(bob.join_room(room.id)).unwrap();
    let read = fill(&server, &bob, room.id, "old", 5);
    server.block_on(alice.mark_read(room.id, read)).unwrap();
    server.block_on(alice.logout()).unwrap();
    let newest = fill(&server, &bob, room.id, "new", 40);

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.wait_for("the unread count in the title", |h| {
        h.state().window_title() == "Chat (40)"
    });
    gui.open_chat("news");
    gui.wait_for_label("Unread messages");
    gui.frames(10);
    assert!(in_view(&gui, "Unread messages"), "the chat opens at the divider");
    assert!(in_view(&gui, "new 1"), "the first unread message is in view");
    assert!(!in_view(&gui, "new 40"), "not the bottom");

    // Only what was seen is read.
    let other = server.login("alice");
    let marker = || {
        let rooms = server.block_on(other.list_rooms()).unwrap();
        rooms.iter().find(|s| s.room.id == room.id).unwrap().last_read_seq
    };
    gui.frames(10);
    assert!(marker() < newest, "unseen messages stay unread on the server");
    assert_ne!(gui.harness.state().window_title(), "Chat");

    gui.click("Jump to the newest message");
    gui.wait_for("all to be read", |h| h.state().window_title() == "Chat");
    let start = Instant::now();
    while marker() < newest {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the read marker never moved"
        );
        gui.frames(5);
    }
}

#[test]
fn after_an_offline_login_nobody_shows_online_and_logging_out_clears_the_password() {
    let mut server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    server.block_on(alice.open_direct("bob")).unwrap();
    server.block_on(alice.logout()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let options = Options {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Options::for_server(&server)
    };

    let mut gui = Gui::with_options(options.clone());
    gui.log_in_and_wait("alice");
    gui.open_chat("bob");
    gui.wait_for_label("online");
    gui.harness.state_mut().close();
    drop(gui);
    drop(bob);

    server.kill();
    let mut gui = Gui::with_options(options);
    gui.log_in("alice", PASSWORD);
    gui.wait_for_text("Saved chats are shown read-only");
    gui.open_chat("bob");
    gui.wait_for_label("offline");
    assert!(!gui.shows("online"), "no stale presence from the saved chats");

    gui.menu("Log out");
    gui.wait_for_label("Log out?");
    gui.click("Log out");
    gui.wait_for_label("Password");
    assert_eq!(
        gui.harness
            .get_by_label("Password")
            .value()
            .as_deref()
            .unwrap_or(""),
        "",
        "the password does not stay in the form"
    );
}

#[test]
fn a_snackbar_shows_above_an_open_dialog_and_can_be_dismissed() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server.block_on(bob.create_room("surprise")).unwrap();
    server.block_on(alice.logout()).unwrap();
    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");

    // A snackbar first, then a dialog opened over the window.
    server.block_on(bob.invite(room.id, "alice")).unwrap();
    gui.wait_for_text("bob invited you");
    gui.menu("New room");
    gui.wait_for_label("Room name");
    gui.click("Dismiss");
    gui.frames(3);
    assert!(!gui.shows("Dismiss"), "the snackbar went");
    assert!(gui.shows("Room name"), "and the dialog stayed open");

    // And one that appears while the dialog is open.
    gui.click("Create");
    gui.wait_for_label("Dismiss");
    gui.click("Dismiss");
    gui.frames(3);
    assert!(!gui.shows("Dismiss"));
    assert!(gui.shows("Room name"));
}

#[test]
fn an_idle_window_paints_no_frames_even_reconnecting_with_the_composer_focused() {
    let mut server = TestServer::start();
    let alice = server.user("alice");
    server
        .block_on(alice.create_room_with(NewRoom::public("quiet")))
        .unwrap();
    server.block_on(alice.logout()).unwrap();

    // Retries far apart, so that the only repaints left are the app's own.
    let mut gui = Gui::with_options(Options {
        max_reconnect_delay: Duration::from_secs(60),
        ..Options::for_server(&server)
    });
    gui.log_in_and_wait("alice");
    gui.open_chat("quiet");
    gui.harness.get_by_label("Message").focus();
    gui.frames(3);
    server.kill();
    gui.wait_for_text("Reconnecting");
    // Let the quick first retries pass.
    gui.frames(150);

    // Paint as eframe does: when a repaint is due, and only then. Requests from other
    // threads (the network) arrive through the callback, as they wake eframe's loop.
    let woken: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let wake = woken.clone();
    gui.harness.ctx.set_request_repaint_callback(move |info| {
        let at = Instant::now() + info.delay.min(Duration::from_secs(3600));
        let mut woken = wake.lock().unwrap();
        *woken = Some(woken.map_or(at, |w| w.min(at)));
    });
    let window = Duration::from_secs(3);
    let start = Instant::now();
    let mut frames = 0;
    let mut due = Instant::now();
    while start.elapsed() < window {
        let requested = woken.lock().unwrap().is_some_and(|at| Instant::now() >= at);
        if Instant::now() >= due || requested {
            *woken.lock().unwrap() = None;
            gui.harness.step();
            frames += 1;
            let delay = gui
                .harness
                .output()
                .viewport_output
                .get(&ViewportId::ROOT)
                .map_or(Duration::MAX, |v| v.repaint_delay);
            due = Instant::now().checked_add(delay).unwrap_or(start + window * 2);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("idle: {frames} frames painted in {} s", window.as_secs());
    assert!(
        gui.harness.get_by_label("Message").is_focused(),
        "the composer kept the focus"
    );
    assert!(frames <= 4, "an idle window painted {frames} frames in 3 s");
}

#[test]
fn text_in_a_bubble_can_be_selected_with_the_mouse_and_copied() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(bob.create_room_with(NewRoom::public("quotes")))
        .unwrap();
    server.block_on(alice.join_room(room.id)).unwrap();
    server
        .block_on(bob.send(room.id, "select me please").outcome())
        .unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("quotes");
    gui.wait_for_label("select me please");
    gui.frames(3);
    let bubble = gui.rect_of("select me please");
    let y = bubble.bottom() - 16.0;
    let from = egui::pos2(bubble.left() + 16.0, y);
    let to = egui::pos2(bubble.left() + 400.0, y);
    let press = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    };
    gui.harness.event(egui::Event::PointerMoved(from));
    gui.frames(1);
    gui.harness.event(press(from, true));
    gui.frames(1);
    for step in 1..=5 {
        let x = from.x + (to.x - from.x) * step as f32 / 5.0;
        gui.harness.event(egui::Event::PointerMoved(egui::pos2(x, y)));
        gui.frames(1);
    }
    gui.harness.event(press(to, false));
    gui.frames(1);
    gui.harness.event(egui::Event::Copy);
    gui.harness.step();
    let copied: Vec<String> = gui
        .harness
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        copied.iter().any(|t| t.contains("me please")),
        "the selection was copied: {copied:?}"
    );
}

#[test]
fn keyboard_switches_chats_and_ctrl_f_finds_messages() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let mut rooms = Vec::new();
    for name in ["first", "second", "third"] {
        let room = server
            .block_on(alice.create_room_with(NewRoom::public(name)))
            .unwrap();
        rooms.push(room);
    }
    // Newest activity first: third, second, first.
    for (room, text) in rooms.iter().zip(["a needle in the first", "hay", "more hay"]) {
        server.block_on(alice.send(room.id, text).outcome()).unwrap();
    }
    server
        .block_on(alice.send(rooms[0].id, "just hay here").outcome())
        .unwrap();
    server.block_on(alice.logout()).unwrap();
    let selected = |gui: &Gui| {
        gui.harness
            .query_all_by_role(Role::Button)
            .find(|n| n.accesskit_node().toggled() == Some(egui::accesskit::Toggled::True))
            .and_then(|n| n.accesskit_node().label())
    };

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.wait_for_label("third");
    gui.harness.key_press_modifiers(Modifiers::ALT, Key::ArrowDown);
    gui.frames(3);
    assert_eq!(selected(&gui).as_deref(), Some("first"), "the top chat");
    gui.harness.key_press_modifiers(Modifiers::ALT, Key::ArrowDown);
    gui.frames(3);
    assert_eq!(selected(&gui).as_deref(), Some("third"));
    gui.harness.key_press_modifiers(Modifiers::CTRL, Key::Tab);
    gui.frames(3);
    assert_eq!(selected(&gui).as_deref(), Some("second"));
    gui.harness.key_press_modifiers(Modifiers::ALT, Key::ArrowUp);
    gui.frames(3);
    assert_eq!(selected(&gui).as_deref(), Some("third"));
    gui.harness.key_press_modifiers(Modifiers::ALT, Key::ArrowUp);
    gui.frames(3);
    assert_eq!(selected(&gui).as_deref(), Some("first"));
    gui.wait_for_label("just hay here");

    gui.harness.key_press_modifiers(Modifiers::COMMAND, Key::F);
    gui.wait_for_label("Search messages");
    gui.frames(2);
    gui.harness
        .get_by_role_and_label(Role::TextInput, "Search messages")
        .type_text("NEEDLE");
    gui.frames(3);
    assert!(gui.shows("a needle in the first"));
    assert!(!gui.shows("just hay here"), "only what matches");
    gui.harness
        .get_by_role_and_label(Role::TextInput, "Search messages")
        .type_text("x");
    gui.frames(3);
    assert!(gui.shows("No messages found"));
    gui.harness.key_press(Key::Escape);
    gui.frames(3);
    assert!(gui.shows("just hay here"), "Esc ends the search");

    // Tab reaches the chats (each drawn with a focus ring), and Enter opens the one in focus.
    let focused_chat = |gui: &Gui| {
        ["first", "second", "third"]
            .into_iter()
            .find(|name| gui.harness.get_by_role_and_label(Role::Button, name).is_focused())
    };
    let mut presses = 0;
    while focused_chat(&gui) != Some("second") {
        presses += 1;
        assert!(presses < 40, "Tab never reached the chat list");
        gui.harness.key_press(Key::Tab);
        gui.frames(1);
    }
    gui.harness.key_press(Key::Enter);
    gui.frames(3);
    assert_eq!(selected(&gui).as_deref(), Some("second"));
}

#[test]
fn the_session_and_the_theme_survive_a_restart_without_the_password() {
    let server = TestServer::start();
    let alice = server.user("alice");
    server
        .block_on(alice.create_room_with(NewRoom::public("kept")))
        .unwrap();
    server.block_on(alice.logout()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        cache_dir: Some(dir.path().join("cache")),
        remember: Some(dir.path().join("login.txt")),
        prefs: Some(dir.path().join("theme.txt")),
        theme: None,
        ..Options::for_server(&server)
    };

    let mut gui = Gui::with_options(options.clone());
    gui.harness.ctx.set_theme(egui::Theme::Light);
    gui.log_in_and_wait("alice");
    gui.menu("Dark mode");
    gui.harness.state_mut().close();
    drop(gui);

    let saved = options.secrets.entries();
    assert_eq!(saved.len(), 1, "one session kept");
    let (account, secret) = &saved[0];
    assert!(account.starts_with("alice@"));
    assert!(!secret.contains(PASSWORD), "never the password");
    let remembered = std::fs::read_to_string(dir.path().join("login.txt")).unwrap();
    assert!(!remembered.contains(PASSWORD));
    let token: serde_json::Value = serde_json::from_str(secret).unwrap();
    let token = token["token"].as_str().unwrap();
    assert!(!remembered.contains(token), "the token is only in the keyring");

    // The next start: straight to the chats, in the chosen theme.
    let mut gui = Gui::with_options(options.clone());
    gui.wait_for_label("kept");
    assert!(!gui.shows("Password"));
    assert_eq!(gui.harness.ctx.theme(), egui::Theme::Dark);
    gui.open_chat("kept");
    let composer = gui.harness.get_by_label("Message");
    composer.focus();
    composer.type_text("after a restart");
    gui.frames(2);
    gui.harness.key_press(Key::Enter);
    gui.wait_for_label("Sent: after a restart");

    gui.menu("Log out");
    gui.click("Log out");
    gui.wait_for_label("Password");
    assert!(
        options.secrets.entries().is_empty(),
        "logging out forgets the session"
    );
    drop(gui);
    let mut gui = Gui::with_options(options);
    gui.frames(20);
    assert!(gui.shows("Password"), "no session to pick up");

    let other = server.login("alice");
    let stored = server
        .block_on(other.history(
            server.block_on(other.list_rooms()).unwrap()[0].room.id,
            HistoryFrom::Latest,
            5,
        ))
        .unwrap();
    assert!(
        stored
            .messages
            .iter()
            .any(|m| m.text().is_some_and(|t| t.as_str() == "after a restart"))
    );
}

#[test]
fn background_chats_notify_and_the_title_counts_unread_messages() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let open = server
        .block_on(alice.create_room_with(NewRoom::public("open here")))
        .unwrap();
    let away = server
        .block_on(alice.create_room_with(NewRoom::public("elsewhere")))
        .unwrap();
    server.block_on(bob.join_room(open.id)).unwrap();
    server.block_on(bob.join_room(away.id)).unwrap();
    server.block_on(alice.logout()).unwrap();
    let notifier = Arc::new(chat_gui::RecordingNotifier::default());

    let mut gui = Gui::with_options(Options {
        notifier: notifier.clone(),
        ..Options::for_server(&server)
    });
    gui.log_in_and_wait("alice");
    gui.open_chat("open here");
    gui.frames(5);
    server
        .block_on(bob.send(away.id, "ping from elsewhere").outcome())
        .unwrap();
    gui.wait_for("the title to count it", |h| {
        h.state().window_title() == "Chat (1)"
    });
    assert_eq!(
        notifier.shown(),
        [("bob in elsewhere".to_owned(), "ping from elsewhere".to_owned())]
    );
    server
        .block_on(bob.send(open.id, "in the open chat").outcome())
        .unwrap();
    gui.wait_for_label("in the open chat");
    gui.frames(5);
    assert_eq!(
        notifier.shown().len(),
        1,
        "no notification for the chat being read"
    );
    assert_eq!(gui.harness.state().window_title(), "Chat (1)");
}

#[test]
fn every_script_renders_and_right_to_left_text_is_aligned_right() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(bob.create_room_with(NewRoom::public("world")))
        .unwrap();
    server.block_on(alice.join_room(room.id)).unwrap();
    let lines = [
        "שלום, מה שלומך?",
        "مرحبا، كيف حالك؟",
        "你好，我们明天见。",
        "こんにちは、元気ですか？",
        "안녕하세요, 반갑습니다",
        "Party time 🎉👍😀",
    ];
    for line in lines {
        server.block_on(bob.send(room.id, line).outcome()).unwrap();
    }
    server.block_on(alice.logout()).unwrap();

    // The harness panics on any character no font can draw.
    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("world");
    for line in lines {
        gui.wait_for_label(line);
    }
    gui.frames(3);
}

#[test]
fn every_control_has_a_name_for_screen_readers() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(alice.create_room_with(NewRoom::public("named")))
        .unwrap();
    server.block_on(bob.join_room(room.id)).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("named");
    gui.click("Room info");
    gui.wait_for_label("Actions for bob");
    let mut unnamed = Vec::new();
    for role in [
        Role::Button,
        Role::TextInput,
        Role::MultilineTextInput,
        Role::CheckBox,
        Role::RadioButton,
        Role::ComboBox,
    ] {
        for node in gui.harness.query_all_by_role(role) {
            let label = node.accesskit_node().label().unwrap_or_default();
            if label.trim().is_empty() {
                unnamed.push(format!("{role:?} at {:?}", node.rect()));
            }
        }
    }
    assert!(unnamed.is_empty(), "controls without a name: {unnamed:?}");
}
