//! End-to-end encryption as people see it in the window, against a real server with other
//! users and devices driven through the client library: the lock and the globe, the
//! placeholder of a message this device cannot read, the safety number (the same digits
//! the library gives the other side and the command-line client), marking a contact
//! verified and the warning when their devices change, and removing a device from the
//! devices page.

mod support;

use std::time::Duration;

use chat_client_lib::{Client, ClientConfig, HistoryFrom, NewRoom};
use chat_gui::protection::{ENCRYPTED_LABEL, PUBLIC_LABEL};
use chat_gui::safety::{MARK_VERIFIED, NUMBER_LABEL, QR_LABEL, WARNING_START};
use egui::accesskit::Role as A11y;
use egui_kittest::kittest::{NodeT, Queryable};
use support::{Gui, PASSWORD, TestServer};

/// Waits until `check` holds on the library's side.
fn eventually(_server: &TestServer, what: &str, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client of `name` whose device is called `device`, registering the account first when
/// `register`.
fn device(server: &TestServer, name: &str, device: &str, register: bool) -> Client {
    let config = ClientConfig::new(server.url.clone())
        .with_fingerprint(&server.fingerprint)
        .expect("fingerprint")
        .with_device_name(device);
    let _guard = server.runtime.enter();
    let client = Client::new(config);
    let result = if register {
        server.block_on(client.register(name, PASSWORD)).map(|_| ())
    } else {
        server.block_on(client.login(name, PASSWORD)).map(|_| ())
    };
    result.expect("logged in");
    client
}

/// The text of the first node whose label starts with `start`.
fn label_starting(gui: &Gui, start: &str) -> String {
    gui.harness
        .query_all_by_label_contains(start)
        .flat_map(|n| {
            let node = n.accesskit_node();
            [node.label(), node.value()]
        })
        .flatten()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("a node starting with {start:?}"))
}

/// The safety number the window shows, as the library writes it (groups separated by one
/// space).
fn shown_number(gui: &Gui) -> String {
    let shown = label_starting(gui, NUMBER_LABEL);
    let digits = shown.trim_start_matches(NUMBER_LABEL).to_owned();
    let groups: Vec<&str> = digits.split(' ').collect();
    assert_eq!(groups.len(), 12, "{digits}");
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
    );
    digits
}

#[test]
fn encrypted_chats_show_a_lock_public_rooms_a_globe_and_unreadable_messages_a_placeholder() {
    let server = TestServer::start();
    let _alice_phone = device(&server, "alice", "phone", true);
    let bob = server.user("bob");
    // Sent before the window's device exists: that device can never read it.
    let direct = server.block_on(bob.open_direct("alice")).unwrap();
    assert!(direct.encrypted, "direct chats are end-to-end encrypted");
    server
        .block_on(bob.send(direct.id, "sent before your laptop").outcome())
        .unwrap();

    let mut gui = Gui::for_server(&server);
    // The login screen says what a forgotten password costs.
    gui.wait_for_text("If you forget it, that history is gone");
    gui.log_in_and_wait("alice");
    gui.wait_for_label("bob");
    gui.wait_for_label(ENCRYPTED_LABEL);
    gui.open_chat("bob");
    assert!(
        gui.harness.query_all_by_label(ENCRYPTED_LABEL).count() >= 2,
        "a lock in the chat list and one in the header"
    );

    // Once a device of the chat adds this one, what is sent next is read; what came
    // before stays a placeholder that says why.
    let alice = direct.peer.clone().expect("a direct chat has a peer").id;
    eventually(&server, "the window's device to join the chat's group", || {
        bob.room_encryption(direct.id)
            .is_some_and(|e| e.devices.iter().filter(|d| d.user == alice).count() == 2)
    });
    server
        .block_on(bob.send(direct.id, "now you can read this").outcome())
        .unwrap();
    gui.wait_for_label("now you can read this");
    gui.wait_for_text("This message cannot be read: sent before this device joined");
    assert!(!gui.shows("sent before your laptop"));

    // The new room dialog says which the room will be; a public room shows a globe.
    gui.menu("New room");
    gui.wait_for_label("Room name");
    gui.wait_for_text("This room will be end-to-end encrypted");
    gui.type_into("Room name", "town square");
    gui.harness
        .get_by_role_and_label(A11y::RadioButton, "Public")
        .click();
    gui.frames(2);
    gui.wait_for_text("Public rooms are not end-to-end encrypted: the server can read them");
    gui.click("Create");
    gui.wait_for("the public room to open", |h| {
        h.query_by_label("Room name").is_none()
            && h.query_by_role_and_label(A11y::Button, "town square").is_some()
    });
    gui.wait_for_label(PUBLIC_LABEL);

    // A private room made by someone else is encrypted too.
    let room = server
        .block_on(bob.create_room_with(NewRoom::private("plans")))
        .unwrap();
    assert!(room.encrypted);
    server.block_on(bob.invite(room.id, "alice")).unwrap();
    gui.wait_for_text("invited you");
}

#[test]
fn a_verified_contact_who_adds_a_device_shows_a_warning_until_compared_again() {
    let server = TestServer::start();
    let _alice_phone = device(&server, "alice", "phone", true);
    let bob = device(&server, "bob", "bob's laptop", true);
    let direct = server.block_on(bob.open_direct("alice")).unwrap();
    server.block_on(bob.send(direct.id, "hello").outcome()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("bob");
    let alice = direct.peer.clone().expect("a direct chat has a peer").id;
    eventually(&server, "the window's device to join the chat's group", || {
        bob.room_encryption(direct.id)
            .is_some_and(|e| e.devices.iter().filter(|d| d.user == alice).count() == 2)
    });
    gui.click("Safety number");
    gui.wait_for_label(QR_LABEL);
    let shown = shown_number(&gui);
    // The same digits bob's side computes (and the command-line client's /safety prints).
    let alice_id = alice;
    let bobs_view = server.block_on(bob.safety_number(alice_id)).unwrap();
    assert_eq!(shown, bobs_view, "both screens show the same number");
    gui.click(MARK_VERIFIED);
    gui.wait_for_text("You verified bob");
    gui.click("Close");
    gui.wait_for_label("Verified");
    assert!(
        gui.harness
            .query_all_by_label_contains(WARNING_START)
            .next()
            .is_none()
    );

    // Bob logs in on a new device: the chat warns at once, without blocking.
    let bob_phone = device(&server, "bob", "bob's phone", false);
    gui.wait_for_text(WARNING_START);
    // And a message from the new device reads as usual.
    eventually(&server, "bob's phone to join the chat's group", || {
        bob.room_encryption(direct.id).is_some_and(|e| {
            e.devices
                .iter()
                .filter(|d| d.user == bob.user().unwrap().id)
                .count()
                == 2
        })
    });
    server
        .block_on(bob_phone.send(direct.id, "new phone, who dis").outcome())
        .unwrap();
    gui.wait_for_label("new phone, who dis");
    gui.wait_for_text(WARNING_START);
    let warning = label_starting(&gui, "\u{26a0} ");
    assert!(warning.contains("bob"), "{warning}");
    assert!(!gui.shows("Verified"), "no check mark while the devices differ");
    // Not blocking: writing still works.
    assert!(gui.harness.query_by_label("Message").is_some());

    // Compared again: a new number, verified again, and the warning goes.
    gui.click("Compare safety number");
    gui.wait_for_label(QR_LABEL);
    let again = shown_number(&gui);
    assert_ne!(again, shown, "a new device changes the number");
    assert_eq!(again, server.block_on(bob_phone.safety_number(alice_id)).unwrap());
    gui.click(MARK_VERIFIED);
    gui.click("Close");
    gui.wait_for("the warning to go", |h| {
        h.query_all_by_label_contains(WARNING_START).next().is_none()
    });
    gui.wait_for_label("Verified");
}

#[test]
fn a_device_removed_on_the_devices_page_cannot_read_the_next_message() {
    let server = TestServer::start();
    let old_laptop = device(&server, "alice", "old laptop", true);
    let bob = server.user("bob");
    let room = server
        .block_on(bob.create_room_with(NewRoom::private("plans")))
        .unwrap();
    server.block_on(bob.invite(room.id, "alice")).unwrap();
    server.block_on(old_laptop.join_room(room.id)).unwrap();
    server
        .block_on(bob.send(room.id, "first plan").outcome())
        .unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.menu("Devices");
    gui.wait_for_label("old laptop");
    gui.wait_for_label("this device");
    let old_key = {
        let (id, _) = old_laptop.device().expect("a device");
        let mine = server
            .block_on(old_laptop.devices(old_laptop.user().unwrap().id))
            .unwrap();
        mine.into_iter()
            .find(|d| Some(d.id) == id)
            .expect("the old laptop is listed")
    };
    gui.wait_for_label(&old_key.fingerprint);
    // A new login elsewhere shows up while the page is open.
    let _tablet = device(&server, "alice", "new tablet", false);
    gui.wait_for_label("new tablet");
    gui.click("Remove old laptop");
    gui.wait_for_text("Remove the device");
    gui.click("Remove device");
    gui.wait_for_text("Device removed");
    gui.wait_for("the list without the old laptop", |h| {
        h.query_by_label("this device").is_some() && h.query_by_label("old laptop").is_none()
    });

    // The room's group drops the device, and what is sent next is not for it.
    eventually(&server, "the old laptop to leave the group", || {
        bob.room_encryption(room.id).is_some_and(|e| {
            !e.devices
                .iter()
                .any(|d| d.signature_key == old_key.signature_key.as_bytes())
        })
    });
    let sent = server
        .block_on(bob.send(room.id, "second plan").outcome())
        .unwrap();
    let page = server.block_on(old_laptop.history(room.id, HistoryFrom::Latest, 50));
    if let Ok(page) = page {
        assert!(
            page.messages
                .iter()
                .all(|m| m.text().is_none_or(|t| t.as_str() != "second plan")),
            "the removed device cannot read the next message"
        );
        assert!(page.messages.iter().all(|m| m.seq != sent.seq));
    }
}
