//! Messages, history and resume (S8, S9, S10).

use chat_core::{Begun, CoreConfig};
use chat_proto::{ClientFrame, ClientMsgId, ErrorCode, Request, Response, ServerFrame};

use super::{Client, Fixture, body, config, node};

const EACH: usize = 15;

async fn send_many(client: &mut Client, room_id: chat_proto::RoomId, who: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    for i in 0..EACH {
        seqs.push(client.send(room_id, &format!("{who} {i}")).await.seq);
    }
    seqs
}

pub async fn sequence_numbers_are_gap_free_under_concurrent_senders(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("race").await;
    bob.join(room.id).await;
    let (a, b) = tokio::join!(
        send_many(&mut alice, room.id, "alice"),
        send_many(&mut bob, room.id, "bob")
    );
    // Each sender sees its own messages in increasing order...
    assert!(a.windows(2).all(|w| w[0] < w[1]) && b.windows(2).all(|w| w[0] < w[1]));
    // ...and together they are exactly the numbers after the room's two notices (created,
    // bob joined).
    let mut all: Vec<u64> = a.into_iter().chain(b).collect();
    all.sort_unstable();
    assert_eq!(all, (3..=2 * EACH as u64 + 2).collect::<Vec<_>>());
    let (seqs, has_more) = alice.history(room.id, None, None, 200).await;
    assert_eq!(seqs, [vec![1, 2], all].concat());
    assert!(!has_more);
    let message = alice.send(room.id, "last").await;
    assert_eq!(message.seq, 2 * EACH as u64 + 3);
    assert_eq!(message.sender.id, alice.user_id());
    assert!(message.sent_at > 0);
}

pub async fn sending_is_idempotent_by_client_message_id(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("retry").await;
    bob.join(room.id).await;
    bob.drain().await;
    let cid = ClientMsgId::random();
    let first = alice.send_with_id(room.id, cid, "exactly once").await;
    // A retry (even one whose body changed) gets the stored message back.
    let retry = alice.send_with_id(room.id, cid, "exactly once, edited").await;
    assert_eq!(retry, first);
    assert_eq!(retry.text().unwrap().as_str(), "exactly once");
    let (seqs, _) = alice.history(room.id, None, None, 50).await;
    assert_eq!(
        seqs,
        vec![1, 2, first.seq],
        "created, bob joined, the message once"
    );
    // Bob was told once.
    assert_eq!(bob.next_message().await, first);
    assert!(bob.drain().await.is_empty());
    // The next message takes the next number: the retry consumed none.
    assert_eq!(alice.send(room.id, "next").await.seq, first.seq + 1);
    // The same id from another sender is another message.
    let bobs = bob.send_with_id(room.id, cid, "same id, other sender").await;
    assert_ne!(bobs.id, first.id);
    // The same id in another room is refused rather than silently answered.
    let other = alice.create_room("other").await;
    let err = alice
        .err(Request::SendMessage {
            room_id: other.id,
            client_msg_id: cid,
            body: body("elsewhere"),
        })
        .await;
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    let (seqs, _) = alice.history(other.id, None, None, 50).await;
    assert_eq!(seqs, [1], "only the room's `created` notice");
}

/// Sends begun one after the other on a connection (pipelined) are stored and delivered in
/// that order, whichever of their answers is awaited first.
pub async fn pipelined_sends_are_delivered_in_send_order(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("pipeline").await;
    bob.join(room.id).await;
    bob.drain().await;
    let mut begun = Vec::new();
    for text in ["first", "second", "third"] {
        let frame = ClientFrame::new(Request::SendMessage {
            room_id: room.id,
            client_msg_id: ClientMsgId::random(),
            body: body(text),
        });
        match alice.conn.begin(frame).await {
            Begun::Sending(answer) => begun.push(answer),
            Begun::Answered(frame) => panic!("answered at once: {frame:?}"),
        }
    }
    // The last answer is awaited first: its message is stored, but it may not overtake the
    // ones before it.
    let third = tokio::spawn(begun.pop().unwrap());
    let second = tokio::spawn(begun.pop().unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(bob.drain().await.is_empty(), "nothing delivered before the first");
    let first = begun.pop().unwrap().await;
    let answers = [first, second.await.unwrap(), third.await.unwrap()];
    let seqs: Vec<u64> = answers
        .iter()
        .map(|frame| match frame {
            ServerFrame::Response {
                result: Response::Message { message },
                ..
            } => message.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    // 1 and 2 are the room's notices (created, bob joined).
    assert_eq!(seqs, [3, 4, 5], "stored in send order");
    let mut delivered = Vec::new();
    for _ in 0..3 {
        delivered.push(bob.next_message().await.text().unwrap().to_string());
    }
    assert_eq!(delivered, ["first", "second", "third"]);
}

pub async fn history_pages_both_ways_within_bounds(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let room = alice.create_room("history").await;
    // Seq 1 is the room's `created` notice; message i is seq i + 1.
    assert_eq!(alice.history(room.id, None, None, 10).await, (vec![1], false));
    for i in 1..=25 {
        alice.send(room.id, &format!("message {i}")).await;
    }
    let range = |a: u64, b: u64| (a..=b).collect::<Vec<_>>();
    // Backwards from the newest.
    assert_eq!(
        alice.history(room.id, None, None, 10).await,
        (range(17, 26), true)
    );
    assert_eq!(
        alice.history(room.id, Some(17), None, 10).await,
        (range(7, 16), true)
    );
    assert_eq!(
        alice.history(room.id, Some(7), None, 10).await,
        (range(1, 6), false)
    );
    assert_eq!(alice.history(room.id, Some(1), None, 10).await, (vec![], false));
    // Forwards from a point.
    assert_eq!(
        alice.history(room.id, None, Some(0), 10).await,
        (range(1, 10), true)
    );
    assert_eq!(
        alice.history(room.id, None, Some(20), 10).await,
        (range(21, 26), false)
    );
    assert_eq!(
        alice.history(room.id, None, Some(16), 10).await,
        (range(17, 26), false)
    );
    assert_eq!(alice.history(room.id, None, Some(99), 10).await, (vec![], false));
    assert_eq!(
        alice.history(room.id, None, None, 200).await,
        (range(1, 26), false)
    );
    // Bodies come back decrypted, in order.
    match alice
        .ok(Request::History {
            room_id: room.id,
            before_seq: Some(4),
            after_seq: None,
            limit: 2,
        })
        .await
    {
        Response::Messages { messages, .. } => {
            let bodies: Vec<_> = messages.iter().map(|m| m.text().unwrap().as_str()).collect();
            assert_eq!(bodies, ["message 1", "message 2"]);
        }
        other => panic!("{other:?}"),
    }
    // Page sizes outside 1..=max and both directions at once are refused.
    for (before, after, limit) in [(None, None, 0), (None, None, 201), (Some(5), Some(1), 10)] {
        let request = Request::History {
            room_id: room.id,
            before_seq: before,
            after_seq: after,
            limit,
        };
        assert_eq!(alice.code(request).await, ErrorCode::InvalidRequest);
    }
}

pub async fn resume_returns_everything_after_with_a_complete_flag(fx: &dyn Fixture) {
    let svc = node(
        fx,
        CoreConfig {
            max_page_size: 10,
            ..config()
        },
    )
    .await;
    let mut alice = Client::register(&svc, "alice").await;
    let room = alice.create_room("resume").await;
    for i in 1..=25 {
        alice.send(room.id, &format!("m{i}")).await;
    }
    let mut bob = Client::register(&svc, "bob").await;
    bob.join(room.id).await;
    // A client that had seen up to 0 pages through everything, in order, with no gap.
    let mut seen = Vec::new();
    let mut after = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        match bob
            .ok(Request::ResumeRoom {
                room_id: room.id,
                after_seq: after,
            })
            .await
        {
            Response::Resumed {
                room_id,
                messages,
                complete,
            } => {
                assert_eq!(room_id, room.id);
                assert!(messages.len() <= 10);
                seen.extend(messages.iter().map(|m| m.seq));
                if let Some(last) = messages.last() {
                    after = last.seq;
                }
                if complete {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    // 1 created, 2..=26 the messages, 27 bob joined.
    assert_eq!(rounds, 3);
    assert_eq!(seen, (1..=27).collect::<Vec<_>>());
    match bob
        .ok(Request::ResumeRoom {
            room_id: room.id,
            after_seq: 27,
        })
        .await
    {
        Response::Resumed {
            messages, complete, ..
        } => assert!(messages.is_empty() && complete),
        other => panic!("{other:?}"),
    }
    // Exactly one page left is complete at once.
    match bob
        .ok(Request::ResumeRoom {
            room_id: room.id,
            after_seq: 17,
        })
        .await
    {
        Response::Resumed {
            messages, complete, ..
        } => assert!(messages.len() == 10 && complete),
        other => panic!("{other:?}"),
    }
}

pub async fn history_survives_reopening_the_store(fx: &dyn Fixture) {
    let (room, sent) = {
        let svc = node(fx, config()).await;
        let mut alice = Client::register(&svc, "alice").await;
        let room = alice.create_room("durable").await;
        let mut sent = Vec::new();
        for i in 1..=5 {
            sent.push(alice.send(room.id, &format!("durable {i}")).await);
        }
        (room, sent)
    };
    super::settle().await;
    // A new node on the same database: same accounts, rooms, messages, numbering.
    let svc = node(fx, config()).await;
    let mut alice = Client::login(&svc, "alice").await;
    match alice
        .ok(Request::History {
            room_id: room.id,
            before_seq: None,
            after_seq: None,
            limit: 50,
        })
        .await
    {
        Response::Messages { messages, .. } => {
            assert!(messages[0].notice().is_some(), "the room's `created` notice");
            assert_eq!(messages[1..], sent);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(alice.send(room.id, "after restart").await.seq, 7);
}
