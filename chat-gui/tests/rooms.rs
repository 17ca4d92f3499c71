//! Rooms that people control, driven through the window against a real server: private or
//! public rooms, invitations by name and by link, the room info panel with roles and
//! moderation, bans, the directory, and rooms one is removed from.

mod support;

use std::time::Duration;

use chat_client_lib::{Client, ClientEvent, NewRoom};
use chat_proto::{Role, RoomId, Visibility};
use egui::accesskit::Role as A11y;
use egui_kittest::kittest::{NodeT, Queryable};
use support::{Gui, TestServer};

/// The role `user` has in `room`, as the server says.
fn role_of(server: &TestServer, client: &Client, room: RoomId, user: &str) -> Option<Role> {
    let members = server.block_on(client.members(room)).unwrap();
    members
        .into_iter()
        .find(|m| m.user.username.as_str() == user)
        .map(|m| m.role)
}

/// Waits until `check` holds on the server's side.
fn eventually(server: &TestServer, what: &str, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        server.block_on(tokio::time::sleep(Duration::from_millis(50)));
    }
}

#[test]
fn a_new_room_is_private_unless_made_public() {
    let server = TestServer::start();
    let _alice = server.user("alice");
    let bob = server.user("bob");
    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");

    gui.menu("New room");
    gui.wait_for_label("Room name");
    let private = gui.harness.get_by_role_and_label(A11y::RadioButton, "Private");
    assert_eq!(
        private.accesskit_node().toggled(),
        Some(egui::accesskit::Toggled::True),
        "private is the default"
    );
    gui.type_into("Room name", "secret plans");
    gui.click("Create");
    gui.wait_for_label("secret plans");
    gui.wait_for_label("Message");

    gui.menu("New room");
    gui.wait_for_label("Room name");
    gui.type_into("Room name", "town square");
    gui.harness
        .get_by_role_and_label(A11y::RadioButton, "Public")
        .click();
    gui.frames(2);
    gui.click("Create");
    gui.wait_for("the public room to open", |h| {
        h.query_by_label("Room name").is_none()
            && h.query_by_role_and_label(A11y::Button, "town square").is_some()
    });
    gui.click("Room info");
    gui.wait_for_text("Public room: listed in the directory");

    // The directory shows the public room and not the private one.
    let listed = server.block_on(bob.public_rooms(None, None, 50)).unwrap();
    let names: Vec<&str> = listed.rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["town square"]);
    assert!(listed.rooms.iter().all(|r| r.visibility == Visibility::Public));
}

#[test]
fn invitations_by_name_arrive_with_a_snackbar_and_are_accepted_or_declined() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let one = server.block_on(bob.create_room("book club")).unwrap();
    let two = server.block_on(bob.create_room("poker night")).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    server.block_on(bob.invite(one.id, "alice")).unwrap();
    gui.wait_for_text("bob invited you to \u{201c}book club\u{201d}");
    server.block_on(bob.invite(two.id, "alice")).unwrap();
    gui.wait_for_label("2 invitations");

    gui.click("2 invitations");
    gui.click("Accept the invitation to book club");
    gui.wait_for("the accepted room to open", |h| {
        h.query_by_role_and_label(A11y::Button, "book club").is_some()
            && h.query_by_label("Accept the invitation to book club").is_none()
    });
    // Its notices (created, invited, joined) sit under one day label.
    gui.wait_for_label("alice joined");
    assert_eq!(gui.harness.query_all_by_label("Today").count(), 1);
    gui.click("Decline the invitation to poker night");
    gui.wait_for("the invitations to go", |h| {
        h.query_by_label_contains("invitation").is_none()
    });
    let members = server.block_on(bob.members(one.id)).unwrap();
    assert!(members.iter().any(|m| m.user.username.as_str() == "alice"));
    let members = server.block_on(bob.members(two.id)).unwrap();
    assert!(members.iter().all(|m| m.user.username.as_str() != "alice"));
    let alice = server.login("alice");
    assert!(server.block_on(alice.invitations()).unwrap().is_empty());
}

#[test]
fn the_owner_invites_by_name_and_by_a_copied_link_that_others_join_with() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let carol = server.user("carol");
    let room = server.block_on(alice.create_room("design")).unwrap();
    server.block_on(alice.logout()).unwrap();
    let mut bob_events = bob.events();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("design");
    gui.click("Room info");
    gui.click("Invite people");
    gui.type_into("Invite by username", "bob");
    gui.click("Invite");
    gui.wait_for_text("Invited bob");
    let invited = server.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(ClientEvent::Invited(invitation)) = bob_events.recv().await {
                    break invitation;
                }
            }
        })
        .await
        .expect("bob is invited")
    });
    assert_eq!(invited.room.id, room.id);

    // A link for one person: copied, and shown to copy again.
    gui.type_into("Use limit", "1");
    gui.click("Copy invite link");
    gui.wait_for_text("chat-invite:");
    let link = {
        let node = gui.harness.get_by_label_contains("chat-invite:");
        let node = node.accesskit_node();
        node.label().or(node.value()).unwrap().to_string()
    };
    let joined = server.block_on(carol.join_by_link(&link)).unwrap();
    assert_eq!(joined.id, room.id);
    let dave = server.user("dave");
    let refused = server.block_on(dave.join_by_link(&link));
    assert!(refused.is_err(), "the use limit holds");

    // A second link, for anyone, listed and revoked from the dialog.
    let limit = gui.harness.get_by_label("Use limit");
    limit.focus();
    gui.harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    gui.harness.key_press(egui::Key::Backspace);
    gui.frames(2);
    gui.click("Copy invite link");
    gui.wait_for("the second link", |h| {
        h.query_by_label_contains("chat-invite:").is_some_and(|n| {
            n.accesskit_node()
                .label()
                .or(n.accesskit_node().value())
                .as_deref()
                != Some(link.as_str())
        })
    });
    let second = {
        let node = gui.harness.get_by_label_contains("chat-invite:");
        let node = node.accesskit_node();
        node.label().or(node.value()).unwrap().to_string()
    };
    gui.wait_for_label("Revoke link 1");
    assert!(
        gui.harness.query_by_label("Revoke link 2").is_none(),
        "the used-up link is not listed"
    );
    gui.click("Revoke link 1");
    gui.wait_for_text("Invite link revoked");
    let refused = server.block_on(dave.join_by_link(&second));
    assert!(refused.is_err(), "a revoked link no longer works");
}

#[test]
fn joining_by_pasting_an_invite_link() {
    let server = TestServer::start();
    let _alice = server.user("alice");
    let bob = server.user("bob");
    let room = server.block_on(bob.create_room("hidden den")).unwrap();
    let link = server
        .block_on(bob.create_invite_link(room.id, Some(Duration::from_secs(3600)), None))
        .unwrap();
    let text = format!(
        "{}{}",
        chat_client_lib::INVITE_LINK_PREFIX,
        link.token.unwrap().as_str()
    );

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.menu("Join room");
    gui.type_into("Invite link or room id", &text);
    gui.click("Join");
    gui.wait_for("the room to open", |h| {
        h.query_by_role_and_label(A11y::Button, "hidden den").is_some()
            && h.query_by_label("Invite link or room id").is_none()
    });
    gui.wait_for_label("Message");
}

#[test]
fn the_owner_promotes_renames_removes_bans_unbans_and_hands_ownership_over() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let carol = server.user("carol");
    let dave = server.user("dave");
    let room = server
        .block_on(alice.create_room_with(NewRoom::public("team")))
        .unwrap();
    for member in [&bob, &carol, &dave] {
        server.block_on(member.join_room(room.id)).unwrap();
    }
    let mut carol_sees = carol.room_events(room.id);
    server.block_on(alice.logout()).unwrap();
    let watcher = server.user("watcher");
    server.block_on(watcher.join_room(room.id)).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("team");
    gui.click("Room info");
    gui.wait_for_text("bob, ");

    // Promote bob: asked first, then done.
    gui.click("Actions for bob");
    gui.click("Make admin");
    gui.wait_for_label("Make bob an admin?");
    gui.click("Cancel");
    assert_eq!(role_of(&server, &watcher, room.id, "bob"), Some(Role::Member));
    gui.click("Actions for bob");
    gui.click("Make admin");
    gui.click("Make admin");
    eventually(&server, "bob to be an admin", || {
        role_of(&server, &watcher, room.id, "bob") == Some(Role::Admin)
    });
    gui.wait_for_text("bob, admin");

    // Remove carol: her open connection hears it.
    gui.click("Actions for carol");
    gui.click("Remove from room");
    gui.wait_for_text("Remove carol from");
    gui.click("Remove");
    let removed = server.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(ClientEvent::Message(m)) = carol_sees.recv().await
                    && matches!(m.notice(), Some(chat_proto::Notice::Removed { .. }))
                {
                    break;
                }
            }
        })
        .await
    });
    assert!(removed.is_ok(), "carol was removed");
    gui.wait_for("carol to leave the list", |h| {
        h.query_all_by_label_contains("carol, ").next().is_none()
    });

    // Ban dave, see him in the bans, lift it.
    gui.click("Actions for dave");
    gui.click("Ban");
    gui.wait_for_text("Ban dave from");
    gui.click("Ban");
    gui.wait_for_label("Unban dave");
    let refused = server.block_on(dave.join_room(room.id));
    assert!(refused.is_err(), "a banned user cannot come back");
    gui.click("Unban dave");
    gui.wait_for_label("Nobody is banned");
    server.block_on(dave.join_room(room.id)).unwrap();

    // Rename and set the topic.
    let name = gui.harness.get_by_role_and_label(A11y::TextInput, "Name");
    name.focus();
    gui.harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    gui.harness
        .get_by_role_and_label(A11y::TextInput, "Name")
        .type_text("dream team");
    gui.type_into("Topic", "ship it");
    gui.click("Save");
    gui.wait_for_text("Room settings saved");
    let rooms = server.block_on(watcher.list_rooms()).unwrap();
    let renamed = rooms.iter().find(|s| s.room.id == room.id).unwrap();
    assert_eq!(renamed.room.name, "dream team");
    assert_eq!(renamed.room.topic.as_ref().map(|t| t.as_str()), Some("ship it"));

    // Hand ownership to bob: alice becomes an admin and loses the owner's menu items.
    gui.click("Actions for bob");
    gui.click("Make owner");
    gui.wait_for_text("Make bob the owner");
    gui.click("Make owner");
    eventually(&server, "bob to own the room", || {
        role_of(&server, &watcher, room.id, "bob") == Some(Role::Owner)
    });
    gui.wait_for("alice's menu for bob to go", |h| {
        h.query_by_label("Actions for bob").is_none()
    });
    assert_eq!(role_of(&server, &watcher, room.id, "alice"), Some(Role::Admin));
}

#[test]
fn a_member_sees_no_moderation_and_no_settings() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let room = server
        .block_on(bob.create_room_with(NewRoom::public("lobby")))
        .unwrap();
    server.block_on(alice.join_room(room.id)).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("lobby");
    gui.click("Room info");
    gui.wait_for_text("bob, owner");
    assert!(gui.harness.query_by_label("Actions for bob").is_none());
    assert!(gui.harness.query_by_label("Invite people").is_none());
    assert!(gui.harness.query_by_label("Name").is_none());
    assert!(gui.harness.query_by_label("Banned").is_none());
    assert!(gui.shows("Leave room"));
}

#[test]
fn the_directory_pages_searches_and_joins() {
    let server = TestServer::start();
    let _alice = server.user("alice");
    let bob = server.user("bob");
    server.block_on(async {
        for i in 1..=24 {
            bob.create_room_with(NewRoom::public(format!("room {i:02}")))
                .await
                .unwrap();
        }
        bob.create_room_with(NewRoom::public("rustaceans").with_topic("all things Rust"))
            .await
            .unwrap();
        bob.create_room("private rust").await.unwrap();
    });

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.menu("Public rooms");
    gui.wait_for_text("Join room ");
    let first_page = gui.harness.query_all_by_label_contains("Join ").count();
    assert_eq!(first_page, 20, "one page at a time");
    gui.click("Show more");
    gui.wait_for("the second page", |h| {
        h.query_all_by_label_contains("Join ").count() == 25
    });

    gui.type_into("Search rooms", "rust");
    gui.click("Search");
    gui.wait_for("the search results", |h| {
        h.query_all_by_label_contains("Join ").count() == 1
    });
    assert!(gui.harness.query_by_label_contains("all things Rust").is_some());
    assert!(
        gui.harness.query_by_label("Join private rust").is_none(),
        "private rooms are not listed"
    );
    gui.click("Join rustaceans");
    gui.wait_for("the room to open", |h| {
        h.query_by_role_and_label(A11y::Button, "rustaceans").is_some()
            && h.query_by_label("Message").is_some()
    });
}

#[test]
fn a_room_one_is_removed_or_banned_from_leaves_the_list_with_a_snackbar() {
    let server = TestServer::start();
    let alice = server.user("alice");
    let bob = server.user("bob");
    let first = server
        .block_on(bob.create_room_with(NewRoom::public("first")))
        .unwrap();
    let second = server
        .block_on(bob.create_room_with(NewRoom::public("second")))
        .unwrap();
    server.block_on(alice.join_room(first.id)).unwrap();
    server.block_on(alice.join_room(second.id)).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.wait_for_label("second");
    gui.open_chat("first");
    let members = server.block_on(bob.members(first.id)).unwrap();
    let alice_user = members
        .iter()
        .find(|m| m.user.username.as_str() == "alice")
        .unwrap()
        .user
        .id;

    server.block_on(bob.remove_member(first.id, alice_user)).unwrap();
    gui.wait_for_text("You were removed from \u{201c}first\u{201d}");
    gui.wait_for("the room to leave the list", |h| {
        h.query_by_role_and_label(A11y::Button, "first").is_none()
    });
    assert!(gui.shows("Select a chat to start messaging"));

    server.block_on(bob.ban(second.id, alice_user)).unwrap();
    gui.wait_for_text("You were banned from \u{201c}second\u{201d}");
    gui.wait_for("the room to leave the list", |h| {
        h.query_by_role_and_label(A11y::Button, "second").is_none()
    });
}

#[test]
fn leaving_a_room_asks_first() {
    let server = TestServer::start();
    let alice = server.user("alice");
    server.block_on(alice.create_room("goodbyes")).unwrap();
    server.block_on(alice.logout()).unwrap();

    let mut gui = Gui::for_server(&server);
    gui.log_in_and_wait("alice");
    gui.open_chat("goodbyes");
    gui.click("Room info");
    gui.click("Leave room");
    gui.wait_for_label("Leave \u{201c}goodbyes\u{201d}?");
    gui.click("Cancel");
    assert!(
        gui.harness
            .query_by_role_and_label(A11y::Button, "goodbyes")
            .is_some()
    );
    gui.click("Leave room");
    gui.click("Leave");
    gui.wait_for("the room to leave the list", |h| {
        h.query_by_role_and_label(A11y::Button, "goodbyes").is_none()
    });
    let alice = server.login("alice");
    assert!(
        server.block_on(alice.list_rooms()).unwrap().is_empty(),
        "alice left"
    );
}
