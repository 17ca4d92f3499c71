//! Rooms, members and direct chats (S7, S13).

use chat_proto::{
    ClientMsgId, ErrorCode, Event, Notice, Request, Response, Role, RoomId, RoomKind, Visibility,
};

use super::{Client, Fixture, body, config, name, node};

pub async fn rooms_can_be_created_joined_and_left(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("  general  ").await;
    assert_eq!(room.name, "general");
    assert_eq!(room.kind, RoomKind::Group);
    assert_eq!(room.visibility, Visibility::Public);
    assert_eq!(room.member_count, 1);
    // The room's first item says who created it.
    let (created, notice) = alice.next_notice().await;
    assert_eq!((created.seq, created.sender.id), (1, alice.user_id()));
    assert_eq!(
        notice,
        Notice::Created {
            name: chat_proto::RoomName::parse("general").unwrap(),
            visibility: Visibility::Public
        }
    );

    let joined = bob.join(room.id).await;
    assert_eq!((joined.id, joined.member_count), (room.id, 2));
    // Joining twice is not an error and announces nothing new.
    assert_eq!(bob.join(room.id).await.member_count, 2);
    let (item, notice) = alice.next_notice().await;
    assert_eq!(item.seq, 2);
    assert_eq!(notice, Notice::Joined { user: bob.me() });
    assert!(alice.drain().await.is_empty(), "one joined notice only");

    match alice.ok(Request::ListMembers { room_id: room.id }).await {
        Response::Members { room_id, members } => {
            assert_eq!(room_id, room.id);
            let names: Vec<_> = members
                .iter()
                .map(|m| (m.user.username.as_str(), m.role))
                .collect();
            assert_eq!(names, [("alice", Role::Owner), ("bob", Role::Member)]);
            assert!(members.iter().all(|m| m.online));
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(
        bob.ok(Request::LeaveRoom { room_id: room.id }).await,
        Response::Ok
    );
    let (item, notice) = alice.next_notice().await;
    assert_eq!((item.seq, notice), (3, Notice::Left { user: bob.me() }));
    // Bob saw his own leaving, then no longer receives the room's messages nor reads it.
    let seen: Vec<_> = bob.drain().await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Message { message } if message.seq == 3)),
        "the leaver sees the notice: {seen:?}"
    );
    alice.send(room.id, "after bob left").await;
    assert!(bob.drain().await.is_empty());
    assert_eq!(
        bob.code(Request::LeaveRoom { room_id: room.id }).await,
        ErrorCode::NotMember
    );
    let missing = RoomId::new(999_999).unwrap();
    assert_eq!(
        bob.code(Request::JoinRoom { room_id: missing }).await,
        ErrorCode::NotFound
    );
    assert_eq!(
        bob.code(Request::LeaveRoom { room_id: missing }).await,
        ErrorCode::NotFound
    );
}

pub async fn only_members_read_or_post(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut mallory = Client::register(&svc, "mallory").await;
    let room = alice.create_room("public").await;
    alice.send(room.id, "members only").await;
    let private = alice.create_private_room("private").await;
    alice.send(private.id, "invited only").await;
    let missing = RoomId::new(999_999).unwrap();
    for room_id in [room.id, private.id, missing] {
        // A public room says "not a member"; a private one answers exactly as a missing one.
        let expected = if room_id == room.id {
            ErrorCode::NotMember
        } else {
            ErrorCode::NotFound
        };
        let requests = [
            Request::SendMessage {
                room_id,
                client_msg_id: ClientMsgId::random(),
                body: body("let me in"),
            },
            Request::History {
                room_id,
                before_seq: None,
                after_seq: None,
                limit: 50,
            },
            Request::ResumeRoom {
                room_id,
                after_seq: 0,
            },
            Request::ListMembers { room_id },
            Request::MarkRead { room_id, seq: 1 },
            Request::Typing { room_id },
        ];
        for request in requests {
            let what = request.type_name();
            assert_eq!(mallory.code(request).await, expected, "{what} on {room_id}");
        }
    }
    assert!(mallory.drain().await.is_empty(), "a non-member hears nothing");
    // The refused sends used up no sequence number (1 is the room's `created` notice).
    assert_eq!(alice.send(room.id, "still gap-free").await.seq, 3);
    assert_eq!(alice.send(private.id, "still gap-free").await.seq, 3);
    match alice.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => assert_eq!(rooms.len(), 2),
        other => panic!("{other:?}"),
    }
    match mallory.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => assert!(rooms.is_empty()),
        other => panic!("{other:?}"),
    }
}

pub async fn direct_chats_are_one_per_pair_and_closed_to_others(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "Bob").await;
    let mut carol = Client::register(&svc, "carol").await;
    let open = |username: &str| Request::OpenDirect {
        username: name(username),
    };
    let dm = match alice.ok(open("BOB")).await {
        Response::Room { room } => room,
        other => panic!("{other:?}"),
    };
    assert_eq!(dm.kind, RoomKind::Direct);
    assert_eq!(dm.name, "Bob");
    assert_eq!(dm.peer.as_ref().unwrap().id, bob.user_id());
    assert!(dm.encrypted, "a new direct chat is end-to-end encrypted");
    // Bob's connection was subscribed when the chat was created: he gets his `joined`.
    let (item, notice) = bob.next_notice().await;
    assert_eq!((item.room_id, notice), (dm.id, Notice::Joined { user: bob.me() }));
    // Plain text is refused there, and nothing is stored.
    let plain = Request::SendMessage {
        room_id: dm.id,
        client_msg_id: ClientMsgId::random(),
        body: body("in the clear?"),
    };
    assert_eq!(alice.code(plain).await, ErrorCode::RoomEncrypted);
    assert_eq!(alice.history(dm.id, None, None, 10).await, (vec![1, 2], false));

    // Get-or-create, from either side.
    match alice.ok(open("bob")).await {
        Response::Room { room } => assert_eq!(room.id, dm.id),
        other => panic!("{other:?}"),
    }
    match bob.ok(open("alice")).await {
        Response::Room { room } => {
            assert_eq!(room.id, dm.id);
            assert_eq!(room.name, "alice");
        }
        other => panic!("{other:?}"),
    }

    // Nobody else gets in, or even learns that the chat exists.
    assert_eq!(
        carol.code(Request::JoinRoom { room_id: dm.id }).await,
        ErrorCode::NotFound
    );
    assert_eq!(
        carol
            .code(Request::History {
                room_id: dm.id,
                before_seq: None,
                after_seq: None,
                limit: 10
            })
            .await,
        ErrorCode::NotFound
    );
    // A member "joining" gets the room back; leaving a direct chat is refused.
    assert_eq!(alice.join(dm.id).await.id, dm.id);
    assert_eq!(
        alice.code(Request::LeaveRoom { room_id: dm.id }).await,
        ErrorCode::InvalidRequest
    );
    assert_eq!(alice.code(open("nobody")).await, ErrorCode::NotFound);

    // A chat with oneself is allowed ("saved messages") and distinct from the pair's.
    let saved = match alice.ok(open("alice")).await {
        Response::Room { room } => room,
        other => panic!("{other:?}"),
    };
    assert_ne!(saved.id, dm.id);
    assert_eq!(saved.peer.as_ref().unwrap().id, alice.user_id());
    match alice.ok(Request::ListMembers { room_id: saved.id }).await {
        Response::Members { members, .. } => assert_eq!(members.len(), 1),
        other => panic!("{other:?}"),
    }
}

pub async fn room_list_has_last_message_and_unread_counts(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let old = alice.create_room("older").await;
    let room = alice.create_room("busy").await;
    alice.send(room.id, "before bob").await;
    bob.join(room.id).await;
    bob.join(old.id).await;
    for text in ["one", "two", "three"] {
        alice.send(room.id, text).await;
    }
    let list = |rooms: &[chat_proto::RoomSummary], id: RoomId| {
        rooms
            .iter()
            .find(|r| r.room.id == id)
            .cloned()
            .expect("room listed")
    };
    let rooms = match bob.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => rooms,
        other => panic!("{other:?}"),
    };
    // busy: 1 created, 2 "before bob", 3 bob joined, 4 "one", 5 "two", 6 "three".
    // Newest activity first; a new member does not inherit earlier messages as unread, and
    // notices are not unread messages.
    assert_eq!(rooms[0].room.id, room.id);
    let busy = list(&rooms, room.id);
    assert_eq!(busy.unread, 3);
    assert_eq!(busy.last_read_seq, 2);
    assert_eq!(busy.role, Role::Member);
    let last = busy.last_message.unwrap();
    assert_eq!((last.seq, last.text().unwrap().as_str()), (6, "three"));
    assert_eq!(list(&rooms, old.id).unread, 0);
    assert_eq!(
        list(&rooms, old.id).last_message.unwrap().notice(),
        Some(&Notice::Joined { user: bob.me() }),
        "the newest item of a quiet room is the notice of bob joining"
    );

    let mark = |seq| Request::MarkRead {
        room_id: room.id,
        seq,
    };
    bob.ok(mark(5)).await;
    let unread = |rooms: Response| match rooms {
        Response::Rooms { rooms } => list(&rooms, room.id).unread,
        other => panic!("{other:?}"),
    };
    assert_eq!(unread(bob.ok(Request::ListRooms).await), 1);
    // The marker never moves back, and never past the last message.
    bob.ok(mark(2)).await;
    assert_eq!(unread(bob.ok(Request::ListRooms).await), 1);
    bob.ok(mark(1_000)).await;
    assert_eq!(unread(bob.ok(Request::ListRooms).await), 0);
    alice.send(room.id, "four").await;
    assert_eq!(unread(bob.ok(Request::ListRooms).await), 1);
    // The sender has read their own messages.
    assert_eq!(unread(alice.ok(Request::ListRooms).await), 0);

    // A direct chat shows the peer and whether they are online.
    let dm = match alice
        .ok(Request::OpenDirect {
            username: name("bob"),
        })
        .await
    {
        Response::Room { room } => room,
        other => panic!("{other:?}"),
    };
    match alice.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => {
            let summary = list(&rooms, dm.id);
            assert_eq!(summary.room.name, "bob");
            assert_eq!(summary.peer_online, Some(true));
            assert_eq!(list(&rooms, room.id).peer_online, None);
        }
        other => panic!("{other:?}"),
    }
    drop(bob);
    super::settle().await;
    match alice.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => assert_eq!(list(&rooms, dm.id).peer_online, Some(false)),
        other => panic!("{other:?}"),
    }
}
