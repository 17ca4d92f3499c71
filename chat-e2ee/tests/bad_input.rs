//! Bad input gets a typed error, and the group goes on: the next good item still works.

mod support;

use chat_e2ee::{DeviceToAdd, E2eeError, Machine, MemoryStore, Processed};
use support::{Device, Server, room, two_devices};

fn text_of(result: Result<Processed, E2eeError>) -> String {
    match result {
        Ok(Processed::Message(m)) => m.text,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn tampered_bytes_are_refused_and_the_next_message_still_decrypts() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    bob.sync_ok(&server, room);
    let good = alice.machine.encrypt(room, "the real text").unwrap();
    // Flip one bit at a time in the sender data, the ciphertext and the tag.
    for at in [good.len() / 3, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let seq = server.inject(room, bad);
        let err = bob
            .machine
            .process(room, seq, &server.item(room, seq))
            .unwrap_err();
        assert!(matches!(err, E2eeError::Tampered { .. }), "bit at {at}: {err}");
    }
    let seq = server.submit(room, &good).unwrap();
    assert_eq!(text_of(bob.machine.process(room, seq, &good)), "the real text");
    alice.send(&mut server, room, "and the next");
    assert_eq!(bob.sync_ok(&server, room), ["and the next"]);
}

#[test]
fn replayed_items_are_refused_and_the_next_message_still_decrypts() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    bob.sync_ok(&server, room);
    let seq = alice.send(&mut server, room, "once");
    let bytes = server.item(room, seq);
    assert_eq!(text_of(bob.machine.process(room, seq, &bytes)), "once");

    // The same seq again, and the same bytes under a new seq (the server replaying).
    assert!(matches!(
        bob.machine.process(room, seq, &bytes),
        Err(E2eeError::Replayed)
    ));
    let again = server.inject(room, bytes.clone());
    assert!(matches!(
        bob.machine.process(room, again, &bytes),
        Err(E2eeError::Replayed)
    ));
    // The sender's own message comes back once as its text, then as a replay.
    assert_eq!(text_of(alice.machine.process(room, seq, &bytes)), "once");
    assert!(matches!(
        alice.machine.process(room, again, &bytes),
        Err(E2eeError::Replayed)
    ));

    alice.send(&mut server, room, "twice");
    assert_eq!(bob.sync_ok(&server, room), ["twice"]);
}

#[test]
fn garbage_and_items_of_another_group_are_refused() {
    let mut server = Server::new();
    let (room_one, mut alice, mut bob) = two_devices(&mut server);
    // A second room with the same two devices.
    let room_two = room(2);
    server.add_member(room_two, alice.user());
    server.add_member(room_two, bob.user());
    alice.machine.create_group(room_two).unwrap();
    alice.converge(&mut server, room_two);
    bob.join(&mut server, room_two);

    let for_two = alice.machine.encrypt(room_two, "room two only").unwrap();
    let seq = server.inject(room_one, for_two.clone());
    let err = bob.machine.process(room_one, seq, &for_two).unwrap_err();
    assert!(matches!(err, E2eeError::WrongGroup { .. }), "{err}");

    let welcome_bytes = {
        let mut carol = Machine::create(support::user(3), MemoryStore::new()).unwrap();
        carol.key_packages(1).unwrap().remove(0)
    };
    for garbage in [
        vec![],
        vec![0u8; 3],
        b"{\"type\":\"text\"}".to_vec(),
        welcome_bytes,
    ] {
        let seq = server.inject(room_one, garbage.clone());
        let err = bob.machine.process(room_one, seq, &garbage).unwrap_err();
        assert!(matches!(err, E2eeError::Malformed { .. }), "{garbage:?}: {err}");
    }
    assert!(matches!(
        bob.machine.process(room(9), 1, b"anything"),
        Err(E2eeError::UnknownGroup { .. })
    ));
    alice.send(&mut server, room_one, "still fine");
    assert_eq!(bob.sync_ok(&server, room_one), ["still fine"]);
}

#[test]
fn a_stale_commit_is_skipped_without_harm() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    let seq = alice.converge(&mut server, room).unwrap();
    let old_commit = server.item(room, seq);
    bob.sync_ok(&server, room);
    carol.join(&mut server, room);
    let replayed = server.inject(room, old_commit.clone());
    let err = bob.machine.process(room, replayed, &old_commit).unwrap_err();
    assert!(
        matches!(
            err,
            E2eeError::StaleEpoch {
                message_epoch: 1,
                group_epoch: 2
            }
        ),
        "{err}"
    );
    let err = carol.machine.process(room, replayed, &old_commit).unwrap_err();
    assert!(matches!(err, E2eeError::StaleEpoch { .. }), "{err}");
    alice.send(&mut server, room, "after the copy");
    assert_eq!(bob.sync_ok(&server, room), ["after the copy"]);
    assert_eq!(carol.sync_ok(&server, room), ["after the copy"]);
}

#[test]
fn a_key_package_for_another_device_or_user_is_refused() {
    let mut server = Server::new();
    let (room, mut alice, _bob) = two_devices(&mut server);
    let carol = Device::new(&mut server, 3, 2);
    let dave = Device::new(&mut server, 4, 2);
    server.add_member(room, carol.user());
    let carol_device = carol.machine.device().unwrap();
    // The server hands out dave's key package for carol's device.
    let swapped = DeviceToAdd {
        device: carol_device.clone(),
        key_package: server.claim(dave.id).unwrap(),
    };
    let err = alice.machine.commit(room, vec![swapped], &[]).unwrap_err();
    assert!(matches!(err, E2eeError::InvalidKeyPackage { .. }), "{err}");
    let mut broken = server.claim(carol.id).unwrap();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    let err = alice
        .machine
        .commit(
            room,
            vec![DeviceToAdd {
                device: carol_device,
                key_package: broken,
            }],
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, E2eeError::InvalidKeyPackage { .. }), "{err}");
    // Nothing is pending; a good commit still goes through.
    assert!(alice.machine.pending_commit(room).is_none());
    alice.converge(&mut server, room).unwrap();
}

#[test]
fn a_failing_store_undoes_the_operation_which_can_then_be_retried() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    alice.send(&mut server, room, "first");
    bob.sync_ok(&server, room);
    let seq = alice.send(&mut server, room, "second");
    let bytes = server.item(room, seq);

    let store: MemoryStore = bob.machine.store().clone();
    store.set_fail_writes(true);
    let err = bob.machine.process(room, seq, &bytes).unwrap_err();
    assert!(matches!(err, E2eeError::Storage(_)), "{err}");
    assert!(matches!(
        bob.machine.encrypt(room, "x"),
        Err(E2eeError::Storage(_))
    ));
    store.set_fail_writes(false);
    // Not counted as processed: the same item works now.
    assert_eq!(text_of(bob.machine.process(room, seq, &bytes)), "second");
    // And what the store holds is what memory holds.
    let reloaded = Machine::load(store.snapshot()).unwrap();
    assert_eq!(reloaded.last_seq(room), Some(seq));
    alice.send(&mut server, room, "third");
    let mut reloaded = Device {
        machine: reloaded,
        id: bob.id,
    };
    assert_eq!(reloaded.sync_ok(&server, room), ["third"]);
}
