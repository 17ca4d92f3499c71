//! Key packages: one-time packages open one Welcome, the last-resort one any number, and
//! the unused count says when to top up.

mod support;

use chat_e2ee::{DeviceToAdd, E2eeError, Machine, MemoryStore};
use chat_proto::RoomId;
use support::{Device, Server, room, user};

/// Alice's group in `room` with bob added from `key_package`; returns the commit's seq and
/// the Welcome.
fn add_bob(
    server: &mut Server,
    alice: &mut Device,
    bob: &Device,
    room: RoomId,
    key_package: Vec<u8>,
) -> (u64, Vec<u8>) {
    server.add_member(room, alice.user());
    server.add_member(room, bob.user());
    alice.machine.create_group(room).unwrap();
    let add = DeviceToAdd {
        device: bob.machine.device().unwrap(),
        key_package,
    };
    let pending = alice.machine.commit(room, vec![add], &[]).unwrap();
    let seq = server.submit_commit(&pending).unwrap();
    alice.sync_ok(server, room);
    (seq, pending.welcome.unwrap())
}

#[test]
fn a_one_time_package_opens_one_welcome_and_the_count_goes_down() {
    let mut server = Server::new();
    let mut alice = Device::new(&mut server, 1, 0);
    let mut bob = Device::new(&mut server, 2, 3);
    assert_eq!(bob.machine.unused_key_packages(), 3);

    let key_package = server.claim(bob.id).unwrap();
    let (seq, welcome) = add_bob(&mut server, &mut alice, &bob, room(1), key_package);
    bob.machine.join_from_welcome(room(1), seq, &welcome).unwrap();
    assert_eq!(bob.machine.unused_key_packages(), 2);

    // The same Welcome again (for another room id too): its key package is gone.
    for room_id in [room(1), room(2)] {
        let err = bob.machine.join_from_welcome(room_id, seq, &welcome).unwrap_err();
        assert!(
            matches!(
                err,
                E2eeError::NoMatchingKeyPackage | E2eeError::WrongGroup { .. }
            ),
            "{err}"
        );
    }
    assert_eq!(bob.machine.unused_key_packages(), 2);
    assert!(!bob.machine.has_group(room(2)));
    // The failed attempts changed nothing: bob still reads room 1.
    alice.send(&mut server, room(1), "hi");
    assert_eq!(bob.sync_ok(&server, room(1)), ["hi"]);

    bob.machine.key_packages(4).unwrap();
    assert_eq!(bob.machine.unused_key_packages(), 6);
}

#[test]
fn the_last_resort_package_still_works_when_the_pool_is_empty() {
    let mut server = Server::new();
    let mut alice = Device::new(&mut server, 1, 0);
    let mut bob = Device::new(&mut server, 2, 1);
    for (n, room_id) in [room(1), room(2), room(3)].into_iter().enumerate() {
        let key_package = server.claim(bob.id).unwrap();
        let expected_one_time = n == 0;
        assert_eq!(
            key_package != bob.machine.last_resort_key_package(),
            expected_one_time
        );
        let (seq, welcome) = add_bob(&mut server, &mut alice, &bob, room_id, key_package);
        bob.machine.join_from_welcome(room_id, seq, &welcome).unwrap();
        assert_eq!(bob.machine.unused_key_packages(), 0);
    }
    for room_id in [room(1), room(2), room(3)] {
        alice.send(&mut server, room_id, "hello");
        assert_eq!(bob.sync_ok(&server, room_id), ["hello"]);
    }
}

#[test]
fn a_renewed_last_resort_package_keeps_the_one_before_working() {
    let mut server = Server::new();
    let mut alice = Device::new(&mut server, 1, 0);
    let mut bob = Device::new(&mut server, 2, 0);
    let first = bob.machine.last_resort_key_package();
    let second = bob.machine.renew_last_resort_key_package().unwrap();
    assert_ne!(first, second);
    assert_eq!(bob.machine.last_resort_key_package(), second);

    let (seq, welcome) = add_bob(&mut server, &mut alice, &bob, room(1), first.clone());
    bob.machine.join_from_welcome(room(1), seq, &welcome).unwrap();

    bob.machine.renew_last_resort_key_package().unwrap();
    let (seq, welcome) = add_bob(&mut server, &mut alice, &bob, room(2), first);
    let err = bob.machine.join_from_welcome(room(2), seq, &welcome).unwrap_err();
    assert!(matches!(err, E2eeError::NoMatchingKeyPackage), "{err}");
    let (seq, welcome) = add_bob(&mut server, &mut alice, &bob, room(3), second);
    bob.machine.join_from_welcome(room(3), seq, &welcome).unwrap();
}

#[test]
fn a_welcome_for_another_device_opens_nothing() {
    let mut server = Server::new();
    let mut alice = Device::new(&mut server, 1, 0);
    let bob = Device::new(&mut server, 2, 1);
    let mut eve = Machine::create(user(5), MemoryStore::new()).unwrap();
    let key_package = server.claim(bob.id).unwrap();
    let (seq, welcome) = add_bob(&mut server, &mut alice, &bob, room(1), key_package);
    let err = eve.join_from_welcome(room(1), seq, &welcome).unwrap_err();
    assert!(matches!(err, E2eeError::NoMatchingKeyPackage), "{err}");
    let err = eve.join_from_welcome(room(1), seq, b"not a welcome").unwrap_err();
    assert!(matches!(err, E2eeError::Malformed { .. }), "{err}");
    assert!(!eve.has_group(room(1)));
}
