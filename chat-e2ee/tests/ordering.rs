//! The server orders everything: racing commits (one wins, the other retries) and a
//! device that catches up across many epochs.

mod support;

use chat_e2ee::{E2eeError, Processed};
use support::{Device, Refused, Server, two_devices};

fn assert_same_group(room: chat_proto::RoomId, devices: &[&Device]) {
    let first = devices[0];
    for device in devices {
        assert_eq!(device.machine.epoch(room), first.machine.epoch(room));
        assert_eq!(
            device.machine.epoch_authenticator(room),
            first.machine.epoch_authenticator(room)
        );
        let keys = |d: &Device| {
            let mut keys: Vec<_> = d
                .machine
                .group_devices(room)
                .unwrap()
                .into_iter()
                .map(|g| g.signature_key)
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(device), keys(first));
    }
}

#[test]
fn two_members_commit_at_once_one_wins_the_other_plans_the_rest() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut carol = Device::new(&mut server, 3, 2);
    let mut dave = Device::new(&mut server, 4, 2);

    // Both commit for epoch 1: alice when carol joined, bob a moment later, when dave had
    // joined too. Alice's reaches the server first.
    server.add_member(room, carol.user());
    let alice_seq = alice.try_converge(&mut server, room).unwrap();
    assert!(alice_seq.is_some());
    server.add_member(room, dave.user());
    let refused = bob.try_converge(&mut server, room).unwrap_err();
    assert_eq!(
        refused,
        Refused::StaleEpoch {
            room_epoch: 2,
            item_epoch: 1
        }
    );
    assert!(bob.machine.pending_commit(room).is_some());

    // Bob processes what he missed: alice's commit replaces his. He plans again: only
    // dave is left to add.
    bob.sync_ok(&server, room);
    assert!(bob.machine.pending_commit(room).is_none());
    let plan = bob.machine.plan(room, &server.room_devices(room)).unwrap();
    assert_eq!(plan.add.len(), 1);
    assert_eq!(plan.add[0].user, dave.user());
    assert!(plan.remove.is_empty());
    bob.converge(&mut server, room).unwrap();
    carol.join(&mut server, room);
    dave.join(&mut server, room);
    for device in [&mut alice, &mut carol] {
        device.sync_ok(&server, room);
    }
    assert_same_group(room, &[&alice, &bob, &carol, &dave]);
    assert_eq!(alice.machine.epoch(room), Some(3));
    assert_eq!(alice.machine.group_devices(room).unwrap().len(), 4);

    // Nothing was lost: everyone reads the next message.
    dave.send(&mut server, room, "hello all");
    for device in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(device.sync_ok(&server, room), ["hello all"]);
    }
}

#[test]
fn a_losing_commit_is_superseded_by_the_winner_in_the_timeline() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    alice.try_converge(&mut server, room).unwrap().unwrap();
    // Bob's commit is made before he hears of alice's, and is refused.
    assert!(bob.try_converge(&mut server, room).is_err());

    // Bob reads the timeline before the refusal reaches him: the winner replaces his.
    let results = bob.sync(&server, room);
    let Ok(Processed::Commit(report)) = &results[0].1 else {
        panic!("{results:?}");
    };
    assert!(report.superseded_own_commit);
    assert!(!report.own);
    assert_eq!(report.added.len(), 1);
    assert!(bob.machine.pending_commit(room).is_none());
    // Discarding with nothing pending changes nothing.
    bob.machine.commit_refused(room).unwrap();
    assert!(
        bob.machine
            .plan(room, &server.room_devices(room))
            .unwrap()
            .is_empty()
    );
    carol.join(&mut server, room);
    alice.sync_ok(&server, room);
    assert_same_group(room, &[&alice, &bob, &carol]);
}

#[test]
fn a_commit_sent_again_after_a_reconnect_is_settled_by_the_timeline() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    // The commit reaches the server, but the connection drops before the answer.
    alice.try_converge(&mut server, room).unwrap().unwrap();
    // After reconnecting, alice sends the same commit again: refused as stale.
    let pending = alice.machine.pending_commit(room).unwrap();
    assert!(matches!(
        server.submit_commit(&pending),
        Err(Refused::StaleEpoch { .. })
    ));
    // The timeline has it: it is merged, not lost.
    let results = alice.sync(&server, room);
    let Ok(Processed::Commit(report)) = &results[0].1 else {
        panic!("{results:?}");
    };
    assert!(report.own);
    assert!(alice.machine.pending_commit(room).is_none());
    carol.join(&mut server, room);
    bob.sync_ok(&server, room);
    assert_same_group(room, &[&alice, &bob, &carol]);
}

#[test]
fn a_commit_refused_for_good_is_discarded_on_request() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    let plan = alice.machine.plan(room, &server.room_devices(room)).unwrap();
    let add = chat_e2ee::DeviceToAdd {
        device: plan.add[0].clone(),
        key_package: server.claim(carol.id).unwrap(),
    };
    alice.machine.commit(room, vec![add], &[]).unwrap();
    // Say the server refuses it as not allowed: alice discards it and the group is as
    // before; she can send and commit again.
    alice.machine.commit_refused(room).unwrap();
    assert!(alice.machine.pending_commit(room).is_none());
    assert_eq!(alice.machine.epoch(room), Some(1));
    alice.send(&mut server, room, "still at epoch 1");
    assert_eq!(bob.sync_ok(&server, room), ["still at epoch 1"]);
    alice.converge(&mut server, room).unwrap();
}

#[test]
fn only_one_commit_at_a_time() {
    let mut server = Server::new();
    let (room, mut alice, _bob) = two_devices(&mut server);
    let carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    let plan = alice.machine.plan(room, &server.room_devices(room)).unwrap();
    let adds = vec![chat_e2ee::DeviceToAdd {
        device: plan.add[0].clone(),
        key_package: server.claim(carol.id).unwrap(),
    }];
    alice.machine.commit(room, adds.clone(), &[]).unwrap();
    let err = alice.machine.commit(room, adds, &[]).unwrap_err();
    assert!(matches!(err, E2eeError::CommitPending { .. }), "{err}");
    // Messages may still be sent meanwhile, at the current epoch.
    assert!(alice.machine.encrypt(room, "while pending").is_ok());
}

#[test]
fn a_device_offline_across_fifty_epochs_catches_up_and_reads_every_message_once() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    let mut carol = Device::new(&mut server, 3, 2);
    server.add_member(room, carol.user());
    alice.converge(&mut server, room);
    carol.join(&mut server, room);
    bob.sync_ok(&server, room);
    let start = carol.machine.epoch(room).unwrap();
    let dave = Device::new(&mut server, 4, 3);

    // Carol goes offline. Fifty epochs pass: dave is added and removed in turn, by alice
    // and bob in turn, with messages in between.
    let mut sent = Vec::new();
    for round in 0..50 {
        if round % 2 == 0 {
            server.add_member(room, dave.user());
        } else {
            server.remove_member(room, dave.user());
        }
        let (committer, other) = if round % 2 == 0 {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        committer.sync_ok(&server, room);
        committer.converge(&mut server, room).unwrap();
        let text = format!("message {round}");
        committer.send(&mut server, room, &text);
        sent.push(text);
        other.sync_ok(&server, room);
    }
    assert_eq!(alice.machine.epoch(room), Some(start + 50));

    // Carol comes back and processes everything in order, each item once.
    let mut read = Vec::new();
    let mut commits = 0;
    for (seq, result) in carol.sync(&server, room) {
        match result {
            Ok(Processed::Message(m)) => read.push(m.text),
            Ok(Processed::Commit(_)) => commits += 1,
            Ok(other) => panic!("seq {seq}: {other:?}"),
            Err(e) => panic!("seq {seq}: {e}"),
        }
    }
    assert_eq!(commits, 50);
    assert_eq!(read, sent);
    assert!(carol.sync(&server, room).is_empty());
    bob.sync_ok(&server, room);
    assert_same_group(room, &[&alice, &bob, &carol]);
}
