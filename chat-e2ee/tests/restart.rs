//! A device that restarts continues where it was: its state is all in its store.

mod support;

use chat_e2ee::{E2eeError, FileStore, Machine, MemoryStore, Processed};
use support::{Device, Server, room, two_devices, user};

fn reopen(device: Device<FileStore>, path: &std::path::Path) -> Device<FileStore> {
    let id = device.id;
    drop(device);
    Device {
        machine: Machine::load(FileStore::open(path).unwrap()).unwrap(),
        id,
    }
}

#[test]
fn a_restarted_device_decrypts_the_next_message_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.e2ee");
    let mut server = Server::new();
    let room = room(1);
    let mut alice = Device::new(&mut server, 1, 3);
    let mut machine = Machine::create(user(2), FileStore::open(&path).unwrap()).unwrap();
    let id = server.register(&mut machine, 3);
    let mut bob = Device { machine, id };
    let fingerprint = bob.machine.fingerprint();
    server.add_member(room, alice.user());
    server.add_member(room, bob.user());
    alice.machine.create_group(room).unwrap();
    alice.converge(&mut server, room);
    bob.join(&mut server, room);
    alice.send(&mut server, room, "before the restart");
    assert_eq!(bob.sync_ok(&server, room), ["before the restart"]);

    let mut bob = reopen(bob, &path);
    assert_eq!(bob.machine.fingerprint(), fingerprint);
    assert_eq!(bob.machine.device_id(), Some(id));
    assert_eq!(bob.machine.epoch(room), alice.machine.epoch(room));
    alice.send(&mut server, room, "after the restart");
    assert_eq!(bob.sync_ok(&server, room), ["after the restart"]);

    // The restarted device commits (adding carol), and everyone follows.
    let mut carol = Device::new(&mut server, 3, 1);
    server.add_member(room, carol.user());
    bob.converge(&mut server, room).unwrap();
    carol.join(&mut server, room);
    alice.sync_ok(&server, room);
    bob.send(&mut server, room, "carol is in");
    assert_eq!(alice.sync_ok(&server, room), ["carol is in"]);
    assert_eq!(carol.sync_ok(&server, room), ["carol is in"]);

    // Once more from the file, after all that: his own text, not yet seen back, is there.
    let mut bob = reopen(bob, &path);
    assert_eq!(bob.sync_ok(&server, room), ["carol is in"]);
    carol.send(&mut server, room, "still there?");
    assert_eq!(bob.sync_ok(&server, room), ["still there?"]);
}

#[test]
fn a_commit_and_a_text_in_flight_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.e2ee");
    let mut server = Server::new();
    let room = room(1);
    let mut machine = Machine::create(user(1), FileStore::open(&path).unwrap()).unwrap();
    let id = server.register(&mut machine, 1);
    let mut alice = Device { machine, id };
    let mut bob = Device::new(&mut server, 2, 1);
    server.add_member(room, alice.user());
    server.add_member(room, bob.user());
    alice.machine.create_group(room).unwrap();

    // The commit is made and reaches the server; the device stops before it comes back.
    assert!(alice.try_converge(&mut server, room).unwrap().is_some());
    let pending = alice.machine.pending_commit(room).unwrap();
    let mut alice = reopen(alice, &path);
    assert_eq!(alice.machine.pending_commit(room), Some(pending.clone()));
    let results = alice.sync(&server, room);
    let Ok(Processed::Commit(report)) = &results[0].1 else {
        panic!("{results:?}");
    };
    assert!(report.own);
    assert_eq!(report.epoch, 1);
    assert_eq!(report.added.len(), 1);
    assert!(alice.machine.pending_commit(room).is_none());
    bob.join(&mut server, room);

    // A text sent just before a restart comes back as the device's own text.
    alice.send(&mut server, room, "sent, then restarted");
    let mut alice = reopen(alice, &path);
    let results = alice.sync(&server, room);
    let Ok(Processed::Message(message)) = &results[0].1 else {
        panic!("{results:?}");
    };
    assert!(message.own);
    assert_eq!(message.text, "sent, then restarted");
    assert_eq!(bob.sync_ok(&server, room), ["sent, then restarted"]);
}

#[test]
fn a_memory_store_handle_restarts_a_device_too() {
    let mut server = Server::new();
    let (room, mut alice, bob) = two_devices(&mut server);
    let store = bob.machine.store().clone();
    let id = bob.id;
    drop(bob);
    let mut bob = Device {
        machine: Machine::load(store).unwrap(),
        id,
    };
    alice.send(&mut server, room, "hello again");
    assert_eq!(bob.sync_ok(&server, room), ["hello again"]);
}

#[test]
fn create_refuses_a_used_store_and_load_an_empty_one() {
    let store = MemoryStore::new();
    Machine::create(user(1), store.clone()).unwrap();
    let before = store.entries_for_test();
    assert!(matches!(
        Machine::create(user(1), store.clone()),
        Err(E2eeError::StoreNotEmpty)
    ));
    assert_eq!(store.entries_for_test(), before);
    assert!(matches!(
        Machine::load(MemoryStore::new()),
        Err(E2eeError::BadState { .. })
    ));
}

trait EntriesForTest {
    fn entries_for_test(&self) -> Vec<(Vec<u8>, Vec<u8>)>;
}

impl EntriesForTest for MemoryStore {
    fn entries_for_test(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        chat_e2ee::Store::entries(self).unwrap()
    }
}
