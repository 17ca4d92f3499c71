//! Whatever bytes come in, `process` answers with a result, never a panic, and the group
//! keeps working: hundreds of mutations of a valid message and of a valid commit (bit
//! flips, cut ends, inserted and replaced bytes), each given as a new timeline item.

mod support;

use chat_e2ee::Processed;
use support::{Device, Server, two_devices};

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(5) {
            0 => {
                let at = rng.below(bytes.len());
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => bytes.truncate(rng.below(bytes.len())),
            2 => {
                let at = rng.below(bytes.len() + 1);
                bytes.insert(at, rng.next() as u8);
            }
            3 => {
                let at = rng.below(bytes.len());
                if let Some(b) = bytes.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            _ => {
                // A length field pushed to its largest value.
                let at = rng.below(bytes.len());
                if let Some(b) = bytes.get_mut(at) {
                    *b = 0xff;
                }
            }
        }
    }
    bytes
}

#[test]
fn mutated_messages_and_commits_are_refused_and_the_group_goes_on() {
    let mut server = Server::new();
    let (room, mut alice, mut bob) = two_devices(&mut server);
    bob.sync_ok(&server, room);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);

    let message = alice.machine.encrypt(room, "a message to mangle").unwrap();
    let mut carol = Device::new(&mut server, 3, 1);
    server.add_member(room, carol.user());
    let plan = alice.machine.plan(room, &server.room_devices(room)).unwrap();
    let add = chat_e2ee::DeviceToAdd {
        device: plan.add[0].clone(),
        key_package: server.claim(carol.id).unwrap(),
    };
    let commit = alice.machine.commit(room, vec![add], &[]).unwrap();

    let mut refused = 0;
    for original in [&message, &commit.commit] {
        for _ in 0..300 {
            let bytes = mutate(&mut rng, original);
            if bytes == *original {
                continue;
            }
            let seq = server.inject(room, bytes.clone());
            match bob.machine.process(room, seq, &bytes) {
                Err(_) => refused += 1,
                Ok(processed) => panic!("a mutation was accepted: {processed:?} from {bytes:?}"),
            }
        }
    }
    assert!(refused > 500, "{refused}");
    assert_eq!(bob.machine.epoch(room), Some(1));

    // The real message and commit still work, in the order the server gives them.
    let seq = server.submit(room, &message).unwrap();
    let Processed::Message(m) = bob.machine.process(room, seq, &message).unwrap() else {
        panic!("expected the message");
    };
    assert_eq!(m.text, "a message to mangle");
    let seq = server.submit_commit(&commit).unwrap();
    assert!(matches!(
        bob.machine.process(room, seq, &commit.commit),
        Ok(Processed::Commit(_))
    ));
    alice.sync(&server, room);
    carol.join(&mut server, room);
    alice.send(&mut server, room, "all fine");
    assert_eq!(bob.sync_ok(&server, room), ["all fine"]);
    assert_eq!(carol.sync_ok(&server, room), ["all fine"]);
}
