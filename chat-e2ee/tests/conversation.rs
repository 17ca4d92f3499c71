//! Conversations between devices through the test server: who reads what, and who cannot.

mod support;

use chat_e2ee::{E2eeError, Processed};
use support::{Device, Server, two_devices, user};

#[test]
fn two_devices_talk_both_ways_in_order() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    assert_eq!(alice.machine.epoch(room), Some(1));
    assert_eq!(bob.machine.epoch(room), Some(1));
    assert_eq!(
        alice.machine.epoch_authenticator(room),
        bob.machine.epoch_authenticator(room)
    );
    assert_eq!(
        alice.machine.group_devices(room).unwrap(),
        bob.machine.group_devices(room).unwrap()
    );

    alice.send(&mut server, room, "hi bob");
    bob.send(&mut server, room, "hi alice");
    alice.send(&mut server, room, "how are you?");
    bob.send(&mut server, room, "fine, thanks");

    let expected = ["hi bob", "hi alice", "how are you?", "fine, thanks"];
    for device in [&mut alice, &mut bob] {
        let mut seen = Vec::new();
        for (_, result) in device.sync(&server, room) {
            let Processed::Message(message) = result.unwrap() else {
                panic!("expected messages only");
            };
            // Each device reads its own texts back too, marked as its own.
            assert_eq!(message.own, message.sender.user == device.user());
            seen.push((message.sender.user, message.sender.device, message.text));
        }
        let senders = [(user(1), alice_id(&server)), (user(2), bob_id(&server))];
        let want: Vec<_> = expected
            .iter()
            .enumerate()
            .map(|(i, t)| (senders[i % 2].0, Some(senders[i % 2].1), t.to_string()))
            .collect();
        assert_eq!(seen, want);
    }
}

fn alice_id(server: &Server) -> chat_proto::DeviceId {
    server.room_devices(support::room(1))[0].device
}

fn bob_id(server: &Server) -> chat_proto::DeviceId {
    server.room_devices(support::room(1))[1].device
}

#[test]
fn a_device_added_later_cannot_read_what_came_before_it_joined() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let before = alice.send(&mut server, room, "before carol");
    bob.sync_ok(&server, room);

    // Carol joins the room; bob logs in on a second device: one commit adds both.
    let mut carol = Device::new(&mut server, 3, 2);
    let mut bob_laptop = Device::new(&mut server, 2, 2);
    server.add_member(room, carol.user());
    alice.sync_ok(&server, room);
    let commit_seq = alice.converge(&mut server, room).unwrap();
    carol.join(&mut server, room);
    bob_laptop.join(&mut server, room);
    bob.sync_ok(&server, room);
    assert_eq!(alice.machine.group_devices(room).unwrap().len(), 4);

    // The old ciphertext, handed to the new devices as if the server sent it again.
    let old = server.item(room, before);
    let replay_seq = server.inject(room, old);
    for device in [&mut carol, &mut bob_laptop] {
        let err = device
            .machine
            .process(room, replay_seq, &server.item(room, replay_seq));
        assert!(matches!(err, Err(E2eeError::NotDecryptable { .. })), "{err:?}");
        // Items up to the commit that added them count as already seen.
        assert!(matches!(
            device
                .machine
                .process(room, commit_seq, &server.item(room, commit_seq)),
            Err(E2eeError::Replayed)
        ));
    }
    for device in [&mut alice, &mut bob] {
        device.sync(&server, room); // the injected copy fails for them too
    }

    alice.send(&mut server, room, "welcome carol");
    for device in [&mut carol, &mut bob_laptop, &mut bob] {
        assert_eq!(device.sync_ok(&server, room), ["welcome carol"]);
    }
}

#[test]
fn a_removed_device_cannot_read_what_comes_after() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    alice.converge(&mut server, room);
    carol.join(&mut server, room);
    bob.sync_ok(&server, room);
    // Bob's state just before his removal, as if he had copied it away.
    let bob_before = bob.machine.store().snapshot();

    server.remove_member(room, bob.user());
    carol.converge(&mut server, room).unwrap();
    let after = alice.send(&mut server, room, "bob is gone");
    assert_eq!(alice.sync_ok(&server, room), ["bob is gone"]);
    assert_eq!(carol.sync_ok(&server, room), ["bob is gone"]);

    // Bob processes his removal: the group is gone from his device.
    let results = bob.sync(&server, room);
    let Ok(Processed::Commit(commit)) = &results[0].1 else {
        panic!("expected the removal commit: {results:?}");
    };
    assert!(commit.removed_self);
    assert_eq!(commit.removed.len(), 1);
    assert!(
        matches!(results[1].1, Err(E2eeError::Removed { .. })),
        "{results:?}"
    );
    assert!(!bob.machine.has_group(room));
    assert!(matches!(
        bob.machine.encrypt(room, "still here?"),
        Err(E2eeError::Removed { .. })
    ));

    // The copy from before the removal skips the commit and tries the message directly.
    let mut copy = chat_e2ee::Machine::load(bob_before).unwrap();
    let err = copy.process(room, after, &server.item(room, after)).unwrap_err();
    assert!(matches!(err, E2eeError::NotDecryptable { .. }), "{err}");
}

#[test]
fn a_user_who_leaves_loses_all_their_devices_in_one_commit() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut bob_phone = Device::new(&mut server, 2, 2);
    alice.converge(&mut server, room);
    bob_phone.join(&mut server, room);
    bob.sync_ok(&server, room);
    assert_eq!(alice.machine.group_devices(room).unwrap().len(), 3);

    server.remove_member(room, user(2));
    let plan = alice.machine.plan(room, &server.room_devices(room)).unwrap();
    assert!(plan.add.is_empty());
    assert_eq!(plan.remove.len(), 2);
    assert!(plan.remove.iter().all(|d| d.user == user(2)));
    alice.converge(&mut server, room);
    let left = alice.machine.group_devices(room).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].user, user(1));
}

#[test]
fn sizes_on_the_wire_show_only_the_bucket() {
    let mut server = Server::new();
    let (room, mut alice, _bob) = two_devices(&mut server);
    let len = |alice: &mut Device, text: &str| alice.machine.encrypt(room, text).unwrap().len();
    let short = len(&mut alice, "a");
    assert_eq!(short, len(&mut alice, &"b".repeat(64)));
    let next = len(&mut alice, &"c".repeat(65));
    assert!(next > short);
    assert_eq!(next, len(&mut alice, &"d".repeat(128)));
    let err = alice
        .machine
        .encrypt(room, &"e".repeat(chat_e2ee::MAX_TEXT_BYTES + 1));
    assert!(matches!(err, Err(E2eeError::TextTooLong { .. })));
}
