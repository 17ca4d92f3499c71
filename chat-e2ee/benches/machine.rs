//! What one device's operations cost, each including the write of its changes to an
//! in-memory store: encrypting and decrypting one message, and a commit that adds or
//! removes one member in groups of 2, 100 and 1,000 members (making it, and processing it
//! on another member). Each group is built once per size, before measuring.
//!
//! `cargo bench -p chat-e2ee`; a quick look: `cargo bench -p chat-e2ee -- --quick`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chat_e2ee::{DeviceToAdd, GroupDevice, Machine, MemoryStore, Processed};
use chat_proto::{DeviceId, RoomId, UserId};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};

const TEXT: &str = "a short chat message, as most are";

fn device(id: u64) -> Machine<MemoryStore> {
    let mut machine = Machine::create(UserId::new(id).unwrap(), MemoryStore::new()).unwrap();
    machine.set_device_id(DeviceId::new(id).unwrap()).unwrap();
    machine
}

/// A room's group of `size` members: the committer, a receiver, and others that were only
/// added (their machines are not needed after).
struct Group {
    room: RoomId,
    committer: Machine<MemoryStore>,
    receiver: Machine<MemoryStore>,
    /// A device not in the group, with a reusable (last-resort) key package.
    outsider: DeviceToAdd,
    /// A member to remove.
    victim: GroupDevice,
    next_seq: u64,
}

impl Group {
    fn build(size: u64) -> Group {
        let room = RoomId::new(1).unwrap();
        let mut committer = device(1);
        committer.create_group(room).unwrap();
        let mut receiver = device(2);
        let mut adds = vec![DeviceToAdd {
            device: receiver.device().unwrap(),
            key_package: receiver.key_packages(1).unwrap().remove(0),
        }];
        for id in 3..=size {
            let other = device(id);
            adds.push(DeviceToAdd {
                device: other.device().unwrap(),
                key_package: other.last_resort_key_package(),
            });
        }
        let pending = committer.commit(room, adds, &[]).unwrap();
        eprintln!(
            "group of {size}: the commit adding {} devices is {} bytes, its Welcome {} bytes",
            size - 1,
            pending.commit.len(),
            pending.welcome.as_ref().map_or(0, Vec::len)
        );
        committer.process(room, 1, &pending.commit).unwrap();
        receiver
            .join_from_welcome(room, 1, pending.welcome.as_deref().unwrap())
            .unwrap();
        let outsider = device(size + 1);
        let outsider = DeviceToAdd {
            device: outsider.device().unwrap(),
            key_package: outsider.last_resort_key_package(),
        };
        let victim = committer.group_devices(room).unwrap().pop().unwrap();
        assert_eq!(committer.group_devices(room).unwrap().len() as u64, size);
        Group {
            room,
            committer,
            receiver,
            outsider,
            victim,
            next_seq: 2,
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

fn messages(c: &mut Criterion) {
    let mut group = Group::build(2);
    let room = group.room;
    for len in [1, 64, 65, 1000, chat_e2ee::MAX_TEXT_BYTES] {
        let bytes = group.committer.encrypt(room, &"x".repeat(len)).unwrap();
        let seq = group.seq();
        group.committer.process(room, seq, &bytes).unwrap();
        group.receiver.process(room, seq, &bytes).unwrap();
        eprintln!("a {len}-byte text is {} bytes on the wire", bytes.len());
    }

    let mut bench = c.benchmark_group("message");
    // Each send is followed (unmeasured) by its echo on the sender and its delivery to
    // the receiver, as in a conversation, so no state piles up between iterations.
    bench.bench_function("encrypt", |b| {
        b.iter_custom(|iters| {
            let mut measured = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let bytes = black_box(group.committer.encrypt(room, TEXT).unwrap());
                measured += start.elapsed();
                let seq = group.seq();
                group.committer.process(room, seq, &bytes).unwrap();
                group.receiver.process(room, seq, &bytes).unwrap();
            }
            measured
        })
    });
    bench.bench_function("decrypt", |b| {
        b.iter_custom(|iters| {
            let mut measured = Duration::ZERO;
            for _ in 0..iters {
                let bytes = group.committer.encrypt(room, TEXT).unwrap();
                let seq = group.seq();
                group.committer.process(room, seq, &bytes).unwrap();
                let start = Instant::now();
                let processed = black_box(group.receiver.process(room, seq, &bytes).unwrap());
                measured += start.elapsed();
                assert!(matches!(processed, Processed::Message(_)));
            }
            measured
        })
    });
    bench.finish();
}

fn commits(c: &mut Criterion) {
    for size in [2u64, 100, 1000] {
        let started = Instant::now();
        let mut group = Group::build(size);
        eprintln!("built a group of {size} in {:.1?}", started.elapsed());
        let room = group.room;

        let mut bench = c.benchmark_group(format!("commit/{size} members"));
        if size >= 100 {
            bench.sample_size(20);
        }
        // The commits another member processes below, made first: every commit made and
        // discarded uses up a generation of the committer's handshake keys, and a receiver
        // accepts at most 1,000 skipped generations.
        let add = group
            .committer
            .commit(room, vec![group.outsider.clone()], &[])
            .unwrap();
        group.committer.commit_refused(room).unwrap();
        let remove = group
            .committer
            .commit(room, vec![], std::slice::from_ref(&group.victim))
            .unwrap();
        group.committer.commit_refused(room).unwrap();
        // Making a commit, then (unmeasured) discarding it as if the server refused it,
        // so every iteration starts from the same group.
        bench.bench_function(BenchmarkId::new("make", "add one"), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let pending = group
                        .committer
                        .commit(room, vec![group.outsider.clone()], &[])
                        .unwrap();
                    measured += start.elapsed();
                    black_box(pending);
                    group.committer.commit_refused(room).unwrap();
                }
                measured
            })
        });
        bench.bench_function(BenchmarkId::new("make", "remove one"), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let pending = group
                        .committer
                        .commit(room, vec![], std::slice::from_ref(&group.victim))
                        .unwrap();
                    measured += start.elapsed();
                    black_box(pending);
                    group.committer.commit_refused(room).unwrap();
                }
                measured
            })
        });

        // Processing a commit on another member, from the same saved state each time.
        eprintln!(
            "group of {size}: adding one is a {}-byte commit and a {}-byte Welcome; removing one a {}-byte commit",
            add.commit.len(),
            add.welcome.as_ref().map_or(0, Vec::len),
            remove.commit.len()
        );
        let saved = group.receiver.store().snapshot();
        for (name, commit) in [("add one", &add.commit), ("remove one", &remove.commit)] {
            bench.bench_function(BenchmarkId::new("process", name), |b| {
                b.iter_batched(
                    || Machine::load(saved.snapshot()).unwrap(),
                    |mut receiver| {
                        let processed = receiver.process(room, 1000, commit).unwrap();
                        assert!(matches!(processed, Processed::Commit(_)));
                        receiver
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        bench.finish();
    }
}

/// The same two operations with openmls alone (its own provider, no padding, no records,
/// nothing written to a store): the baseline the machine's figures compare with.
fn openmls_alone(c: &mut Criterion) {
    use openmls::prelude::tls_codec::Deserialize as _;
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    let suite = chat_e2ee::CIPHERSUITE;
    let member = |name: &str| {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(suite.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        (provider, signer, credential)
    };
    let (alice_provider, alice_signer, alice_credential) = member("alice");
    let (bob_provider, bob_signer, bob_credential) = member("bob");
    let bob_key_package = KeyPackage::builder()
        .build(suite, &bob_provider, &bob_signer, bob_credential)
        .unwrap();
    let mut alice = MlsGroup::builder()
        .ciphersuite(suite)
        .use_ratchet_tree_extension(true)
        .build(&alice_provider, &alice_signer, alice_credential)
        .unwrap();
    let (_, welcome, _) = alice
        .add_members(
            &alice_provider,
            &alice_signer,
            &[bob_key_package.key_package().clone()],
        )
        .unwrap();
    alice.merge_pending_commit(&alice_provider).unwrap();
    let MlsMessageBodyIn::Welcome(welcome) = MlsMessageIn::from(welcome).extract() else {
        panic!("not a welcome");
    };
    let mut bob =
        StagedWelcome::new_from_welcome(&bob_provider, &MlsGroupJoinConfig::default(), welcome, None)
            .unwrap()
            .into_group(&bob_provider)
            .unwrap();

    let mut bench = c.benchmark_group("message/openmls alone");
    bench.bench_function("encrypt", |b| {
        b.iter_custom(|iters| {
            let mut measured = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let out = alice
                    .create_message(&alice_provider, &alice_signer, TEXT.as_bytes())
                    .unwrap();
                let bytes = black_box(out.to_bytes().unwrap());
                measured += start.elapsed();
                let message = MlsMessageIn::tls_deserialize_exact(&bytes).unwrap();
                let message = message.try_into_protocol_message().unwrap();
                bob.process_message(&bob_provider, message).unwrap();
            }
            measured
        })
    });
    bench.bench_function("decrypt", |b| {
        b.iter_custom(|iters| {
            let mut measured = Duration::ZERO;
            for _ in 0..iters {
                let out = alice
                    .create_message(&alice_provider, &alice_signer, TEXT.as_bytes())
                    .unwrap();
                let bytes = out.to_bytes().unwrap();
                let start = Instant::now();
                let message = MlsMessageIn::tls_deserialize_exact(&bytes).unwrap();
                let message = message.try_into_protocol_message().unwrap();
                black_box(bob.process_message(&bob_provider, message).unwrap());
                measured += start.elapsed();
            }
            measured
        })
    });
    bench.finish();
}

criterion_group!(benches, openmls_alone, messages, commits);
criterion_main!(benches);
