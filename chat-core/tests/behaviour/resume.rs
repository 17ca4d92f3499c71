//! Resuming many rooms with one request (`resume_rooms`).

use chat_core::CoreConfig;
use chat_proto::{ErrorCode, MAX_RESUME_ROOMS, Message, Request, Response, ResumePoint, ResumedRoom, RoomId};

use super::e2ee::Device;
use super::{Client, Fixture, config, name, node};

fn point(room_id: RoomId, after_seq: u64) -> ResumePoint {
    ResumePoint { room_id, after_seq }
}

async fn resume_rooms(
    client: &mut Client,
    rooms: Vec<ResumePoint>,
    limit: Option<u32>,
) -> (Vec<ResumedRoom>, Vec<RoomId>) {
    match client.ok(Request::ResumeRooms { rooms, limit }).await {
        Response::ResumedRooms { rooms, unreadable } => (rooms, unreadable),
        other => panic!("resume_rooms gave {other:?}"),
    }
}

async fn resume_room(client: &mut Client, room_id: RoomId, after_seq: u64) -> (Vec<Message>, bool) {
    match client.ok(Request::ResumeRoom { room_id, after_seq }).await {
        Response::Resumed {
            messages, complete, ..
        } => (messages, complete),
        other => panic!("resume_room gave {other:?}"),
    }
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

pub async fn resume_rooms_answers_every_room_in_one_request(fx: &dyn Fixture) {
    let svc = node(
        fx,
        CoreConfig {
            max_page_size: 10,
            ..config()
        },
    )
    .await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let busy = alice.create_room("busy").await;
    let quiet = alice.create_room("quiet").await;
    let left = alice.create_room("left").await;
    let private = alice.create_private_room("private").await;
    let outside = alice.create_room("outside").await;
    for room in [busy.id, quiet.id, left.id] {
        bob.join(room).await;
    }
    for i in 0..15 {
        alice.send(busy.id, &format!("busy {i}")).await;
    }
    alice.send(quiet.id, "one").await;
    alice.send(private.id, "not for bob").await;
    bob.ok(Request::LeaveRoom { room_id: left.id }).await;
    let missing = RoomId::new(private.id.get() ^ 1).unwrap();

    let asked = vec![
        point(busy.id, 2),
        point(missing, 0),
        point(quiet.id, 2),
        point(private.id, 0),
        point(left.id, 0),
        point(outside.id, 0),
    ];
    let (rooms, unreadable) = resume_rooms(&mut bob, asked, Some(10)).await;
    // Readable rooms come in the order asked; the rest are listed alike, whatever the
    // reason (no such room, a private room, a room left, a public room never joined).
    assert_eq!(
        rooms.iter().map(|r| r.room_id).collect::<Vec<_>>(),
        vec![busy.id, quiet.id]
    );
    assert_eq!(unreadable, vec![missing, private.id, left.id, outside.id]);
    // The busy room: 15 messages after bob's join (seq 2), cut at the limit of 10.
    assert_eq!(seqs(&rooms[0].messages), (3..=12).collect::<Vec<_>>());
    assert!(!rooms[0].complete);
    // What it gives is exactly what resume_room gives, and resume_room continues it.
    let (page, _) = resume_room(&mut bob, busy.id, 2).await;
    assert_eq!(page, rooms[0].messages);
    let (rest, complete) = resume_room(&mut bob, busy.id, 12).await;
    assert_eq!(seqs(&rest), vec![13, 14, 15, 16, 17]);
    assert!(complete);
    // The quiet room: created (1), bob joined (2), then alice's one message.
    assert!(rooms[1].complete);
    assert_eq!(rooms[1].messages.len(), 1);
    assert_eq!(rooms[1].messages[0].text().unwrap().as_str(), "one");

    // A room with nothing new is complete and empty; a position past the end is too.
    let (rooms, unreadable) =
        resume_rooms(&mut bob, vec![point(quiet.id, 3), point(busy.id, 1_000)], None).await;
    assert!(unreadable.is_empty());
    assert!(rooms.iter().all(|r| r.complete && r.messages.is_empty()));

    // Only readable rooms named: unreadable is empty. Only unreadable ones: rooms is.
    let (rooms, unreadable) = resume_rooms(&mut bob, vec![point(private.id, 0)], None).await;
    assert!(rooms.is_empty());
    assert_eq!(unreadable, vec![private.id]);
}

pub async fn resume_rooms_refuses_bad_requests(fx: &dyn Fixture) {
    let svc = node(
        fx,
        CoreConfig {
            max_page_size: 10,
            ..config()
        },
    )
    .await;
    let mut alice = Client::register(&svc, "alice").await;
    let room = alice.create_room("room").await;
    let refused = |rooms: Vec<ResumePoint>, limit: Option<u32>| Request::ResumeRooms { rooms, limit };
    assert_eq!(
        alice.code(refused(vec![], None)).await,
        ErrorCode::InvalidRequest,
        "no rooms"
    );
    let too_many: Vec<ResumePoint> = (1..=MAX_RESUME_ROOMS as u64 + 1)
        .map(|n| point(RoomId::new(n).unwrap(), 0))
        .collect();
    assert_eq!(
        alice.code(refused(too_many, None)).await,
        ErrorCode::InvalidRequest,
        "too many rooms"
    );
    assert_eq!(
        alice
            .code(refused(vec![point(room.id, 0), point(room.id, 1)], None))
            .await,
        ErrorCode::InvalidRequest,
        "a room named twice"
    );
    for limit in [0, 11] {
        assert_eq!(
            alice.code(refused(vec![point(room.id, 0)], Some(limit))).await,
            ErrorCode::InvalidRequest,
            "limit {limit}"
        );
    }
    // The most rooms allowed, all but one unknown, is fine.
    let most: Vec<ResumePoint> = std::iter::once(point(room.id, 0))
        .chain(
            (1..MAX_RESUME_ROOMS as u64)
                .map(|n| point(RoomId::new(n).unwrap(), 0))
                .filter(|p| p.room_id != room.id)
                .take(MAX_RESUME_ROOMS - 1),
        )
        .collect();
    let (rooms, unreadable) = resume_rooms(&mut alice, most, Some(10)).await;
    assert_eq!(rooms.len(), 1);
    assert_eq!(unreadable.len(), MAX_RESUME_ROOMS - 1);
    // Not before logging in.
    let mut anonymous = Client::connect(&svc);
    assert_eq!(
        anonymous.code(refused(vec![point(room.id, 0)], None)).await,
        ErrorCode::Unauthenticated
    );
}

pub async fn resume_rooms_carries_mls_items_unchanged(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Device::register(&svc, "alice").await;
    let mut bob = Device::register(&svc, "bob").await;
    let room = alice.client.create_encrypted_room("secrets").await;
    alice
        .client
        .ok(Request::Invite {
            room_id: room.id,
            username: name("bob"),
        })
        .await;
    bob.client.join(room.id).await;
    alice.client.ok(Request::CreateGroup { room_id: room.id }).await;
    alice.machine.create_group(room.id).unwrap();
    let commit = alice.reconcile(room.id).await.unwrap();
    alice.process(&commit);
    let first = alice.say(room.id, "first secret").await.unwrap();
    let second = alice.say(room.id, "second secret").await.unwrap();

    let (rooms, _) = resume_rooms(&mut bob.client, vec![point(room.id, 0)], None).await;
    let items = &rooms[0].messages;
    assert!(rooms[0].complete);
    let (page, _) = resume_room(&mut bob.client, room.id, 0).await;
    assert_eq!(items, &page, "the same items as resume_room");
    let by_seq = |seq| items.iter().find(|m| m.seq == seq).unwrap();
    assert_eq!(by_seq(commit.seq), &commit, "the commit as stored");
    assert!(matches!(
        by_seq(commit.seq).content,
        chat_proto::Content::MlsCommit { .. }
    ));
    assert_eq!(by_seq(first.seq), &first);
    assert_eq!(by_seq(second.seq), &second);
    let json = serde_json::to_string(items).unwrap();
    assert!(!json.contains("first secret"), "only ciphertext");
}
