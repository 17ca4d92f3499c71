//! What only a shared database shows: two nodes (two pools) writing to one room at once.
//! Sequence numbers stay gap-free and ordered, and a retry racing its original on another
//! node is stored once.

use std::sync::Arc;

use chat_core::store::postgres::{PostgresOptions, PostgresStore};
use chat_core::store::{
    InsertOutcome, MemberOp, NewGroupRoom, NewMessage, NewNotice, PageFrom, RoomChange, SealedBody, Store,
};
use chat_proto::{ClientMsgId, Notice, Role, RoomId, RoomName, UserId, Username, Visibility};
use chat_test_support::TestDb;

async fn two_nodes(db: &TestDb) -> [Arc<PostgresStore>; 2] {
    let open = || async {
        let options = PostgresOptions {
            pool_size: 4,
            ..PostgresOptions::default()
        };
        Arc::new(PostgresStore::connect(&db.url, options).await.unwrap())
    };
    // Both apply the migrations at once: the advisory lock lets one do it.
    let (a, b) = tokio::join!(open(), open());
    [a, b]
}

fn message(room_id: RoomId, sender_id: UserId, client_msg_id: ClientMsgId) -> NewMessage {
    NewMessage {
        room_id,
        sender_id,
        client_msg_id,
        body: SealedBody {
            key_id: 1,
            nonce: vec![0; 24],
            ciphertext: vec![1, 2, 3],
        },
        sent_at: 1,
    }
}

async fn setup(node: &PostgresStore) -> (RoomId, UserId, UserId) {
    let alice = node
        .create_user(&Username::parse("alice").unwrap(), "x", 0)
        .await
        .unwrap();
    let bob = node
        .create_user(&Username::parse("bob").unwrap(), "x", 0)
        .await
        .unwrap();
    // A public group room (not end-to-end encrypted): its first two items are the `created`
    // notice and bob's `joined`.
    let (room, _) = node
        .create_group_room(&NewGroupRoom {
            name: RoomName::parse("race").unwrap(),
            topic: None,
            visibility: Visibility::Public,
            encrypted: false,
            creator: alice.user.id,
            notice_id: ClientMsgId::random(),
            now: 0,
        })
        .await
        .unwrap();
    let joined = node
        .change_room(&RoomChange {
            room_id: room.id,
            expected_version: room.state_version,
            ops: vec![MemberOp::Add {
                user: bob.user.id,
                role: Role::Member,
            }],
            notices: vec![NewNotice {
                sender: bob.user.id,
                client_msg_id: ClientMsgId::random(),
                notice: Notice::Joined {
                    user: bob.user.clone(),
                },
            }],
            now: 0,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(1 + joined.len() as u64, BASE);
    (room.id, alice.user.id, bob.user.id)
}

/// Items in the room before a test's messages (the two `joined` notices).
const BASE: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_nodes_get_gap_free_sequence_numbers() {
    let Some(db) = TestDb::create().await else { return };
    let [a, b] = two_nodes(&db).await;
    let (room, alice, bob) = setup(&a).await;
    const EACH: usize = 40;
    let write = |node: Arc<PostgresStore>, sender: UserId| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            for _ in 0..EACH {
                match node
                    .insert_message(&message(room, sender, ClientMsgId::random()))
                    .await
                    .unwrap()
                {
                    InsertOutcome::Inserted(m) => seqs.push(m.seq),
                    other => panic!("{other:?}"),
                }
            }
            seqs
        })
    };
    let (from_a, from_b) = tokio::join!(write(a.clone(), alice), write(b.clone(), bob));
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    // Each writer saw its own numbers increase; together they cover the 2*EACH numbers
    // after the room's notices once.
    assert!(from_a.windows(2).all(|w| w[0] < w[1]));
    assert!(from_b.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<u64> = from_a.into_iter().chain(from_b).collect();
    all.sort_unstable();
    assert_eq!(all, (BASE + 1..=BASE + (2 * EACH) as u64).collect::<Vec<_>>());
    let page = b.messages_page(room, PageFrom::After(BASE), 200).await.unwrap();
    let stored: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(stored, all);
    match b.room_access(room, bob).await.unwrap() {
        chat_core::store::RoomAccess::Member { room, .. } => {
            assert_eq!(room.last_seq, BASE + 2 * EACH as u64)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_racing_its_original_on_another_node_is_stored_once() {
    let Some(db) = TestDb::create().await else { return };
    let [a, b] = two_nodes(&db).await;
    let (room, alice, _) = setup(&a).await;
    for round in 0..20u64 {
        let new = message(room, alice, ClientMsgId::random());
        let (first, second) = tokio::join!(a.insert_message(&new), b.insert_message(&new));
        let (first, second) = (first.unwrap(), second.unwrap());
        let stored = |o: &InsertOutcome| match o {
            InsertOutcome::Inserted(m) | InsertOutcome::Existing(m) => m.clone(),
            InsertOutcome::NotMember(_) | InsertOutcome::RoomEncrypted => {
                panic!("a member's message refused")
            }
        };
        assert_eq!(
            stored(&first),
            stored(&second),
            "both answers name the same message"
        );
        let inserted = [&first, &second]
            .iter()
            .filter(|o| matches!(o, InsertOutcome::Inserted(_)))
            .count();
        assert_eq!(inserted, 1, "stored exactly once");
        // No sequence number was used up by the loser.
        assert_eq!(stored(&first).seq, BASE + round + 1);
    }
}

/// Many sends into one room at once are stored in shared transactions (group commit): every
/// message still gets its own outcome, retries in the same batch or of an earlier batch get
/// the stored message, and a message raced by another node is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_room_is_stored_in_batches_with_every_outcome_right() {
    let Some(db) = TestDb::create().await else { return };
    let [a, b] = two_nodes(&db).await;
    let (room, alice, bob) = setup(&a).await;
    let earlier = message(room, alice, ClientMsgId::random());
    let earlier_seq = match a.insert_message(&earlier).await.unwrap() {
        InsertOutcome::Inserted(m) => m.seq,
        other => panic!("{other:?}"),
    };
    let raced = message(room, bob, ClientMsgId::random());
    let retried_in_batch = message(room, alice, ClientMsgId::random());

    let mut sends = Vec::new();
    for i in 0..60 {
        let new = match i {
            10 | 40 => retried_in_batch.clone(),
            20 => earlier.clone(),
            30 => raced.clone(),
            _ => message(room, if i % 2 == 0 { alice } else { bob }, ClientMsgId::random()),
        };
        let node = a.clone();
        sends.push(tokio::spawn(async move {
            let outcome = node.insert_message(&new).await.unwrap();
            (new.client_msg_id, outcome)
        }));
    }
    let other_node = {
        let (b, raced) = (b.clone(), raced.clone());
        tokio::spawn(async move { b.insert_message(&raced).await.unwrap() })
    };
    // Someone who is not a member sends in the same batch: refused, nothing stored for them.
    let carol = a
        .create_user(&Username::parse("carol").unwrap(), "x", 0)
        .await
        .unwrap()
        .user
        .id;
    let intruder = {
        let a = a.clone();
        tokio::spawn(async move {
            a.insert_message(&message(room, carol, ClientMsgId::random()))
                .await
        })
    };
    let mut outcomes = Vec::new();
    for send in sends {
        outcomes.push(send.await.unwrap());
    }
    assert!(matches!(
        intruder.await.unwrap().unwrap(),
        InsertOutcome::NotMember(_)
    ));
    outcomes.push((raced.client_msg_id, other_node.await.unwrap()));

    let stored = |o: &InsertOutcome| match o {
        InsertOutcome::Inserted(m) | InsertOutcome::Existing(m) => m.clone(),
        InsertOutcome::NotMember(_) | InsertOutcome::RoomEncrypted => panic!("a member's message refused"),
    };
    // 58 distinct new messages (60 sends, one repeated, one already stored) plus the race.
    let inserted: Vec<u64> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            InsertOutcome::Inserted(m) => Some(m.seq),
            InsertOutcome::Existing(_) | InsertOutcome::NotMember(_) | InsertOutcome::RoomEncrypted => None,
        })
        .collect();
    let mut seqs = inserted.clone();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (BASE + 2..=BASE + 59).collect::<Vec<u64>>(),
        "gap-free after the earlier message"
    );
    for (id, outcome) in &outcomes {
        let m = stored(outcome);
        assert_eq!(m.client_msg_id, *id);
        if *id == earlier.client_msg_id {
            assert!(matches!(outcome, InsertOutcome::Existing(_)));
            assert_eq!(m.seq, earlier_seq);
        }
    }
    let same = |id: ClientMsgId| {
        outcomes
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, o)| stored(o).seq)
            .collect::<Vec<_>>()
    };
    let retried = same(retried_in_batch.client_msg_id);
    assert_eq!(retried.len(), 2);
    assert_eq!(retried[0], retried[1], "a retry names the same message");
    let raced_seqs = same(raced.client_msg_id);
    assert_eq!(raced_seqs.len(), 2);
    assert_eq!(raced_seqs[0], raced_seqs[1], "stored once across nodes");

    let page = b.messages_page(room, PageFrom::After(0), 200).await.unwrap();
    let all: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(all, (1..=BASE + 59).collect::<Vec<u64>>());
    // Each sender has read up to their own newest message.
    for user in [alice, bob] {
        let newest = page
            .messages
            .iter()
            .filter(|m| m.sender.id == user)
            .map(|m| m.seq)
            .max()
            .unwrap();
        match a.room_access(room, user).await.unwrap() {
            chat_core::store::RoomAccess::Member { last_read_seq, .. } => assert_eq!(last_read_seq, newest),
            other => panic!("{other:?}"),
        }
    }
}
