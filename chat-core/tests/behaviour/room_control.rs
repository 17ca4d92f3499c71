//! Rooms that people control (S19): private rooms nobody can find, invitations, invite
//! links, roles, removals and bans, the directory, and notices in the timeline.

use std::collections::HashSet;

use chat_proto::{
    ClientMsgId, ErrorBody, ErrorCode, Event, InviteLinkId, Notice, Request, Response, Role, RoomId,
    RoomName, RoomTopic, UserId, Visibility,
};

use super::{Client, Fixture, body, config, name, node, settle};

fn invite(room_id: RoomId, who: &str) -> Request {
    Request::Invite {
        room_id,
        username: name(who),
    }
}

fn remove(room_id: RoomId, user_id: UserId) -> Request {
    Request::RemoveMember { room_id, user_id }
}

fn ban(room_id: RoomId, user_id: UserId) -> Request {
    Request::Ban { room_id, user_id }
}

fn set_role(room_id: RoomId, user_id: UserId, role: Role) -> Request {
    Request::SetRole {
        room_id,
        user_id,
        role,
    }
}

/// Every request about one room that someone outside it might try.
fn probes(room_id: RoomId, someone: UserId) -> Vec<Request> {
    vec![
        Request::JoinRoom { room_id },
        Request::LeaveRoom { room_id },
        Request::ListMembers { room_id },
        Request::SendMessage {
            room_id,
            client_msg_id: ClientMsgId::random(),
            body: body("let me in"),
        },
        Request::History {
            room_id,
            before_seq: None,
            after_seq: None,
            limit: 10,
        },
        Request::ResumeRoom {
            room_id,
            after_seq: 0,
        },
        Request::MarkRead { room_id, seq: 1 },
        Request::Typing { room_id },
        Request::UpdateRoom {
            room_id,
            name: Some(RoomName::parse("mine now").unwrap()),
            topic: None,
        },
        invite(room_id, "mallory"),
        Request::DeclineInvitation { room_id },
        Request::CreateInviteLink {
            room_id,
            expires_in_secs: None,
            max_uses: None,
        },
        Request::ListInviteLinks { room_id },
        Request::RevokeInviteLink {
            room_id,
            link_id: InviteLinkId::new(1).unwrap(),
        },
        remove(room_id, someone),
        ban(room_id, someone),
        Request::Unban {
            room_id,
            user_id: someone,
        },
        Request::ListBans { room_id },
        Request::RoomDevices { room_id },
        Request::ClaimKeyPackages {
            room_id,
            device_ids: vec![chat_proto::DeviceId::new(1).unwrap()],
        },
        set_role(room_id, someone, Role::Admin),
        Request::TransferOwnership {
            room_id,
            user_id: someone,
        },
    ]
}

/// The answers of every probe.
async fn answers(client: &mut Client, room_id: RoomId, someone: UserId) -> Vec<(String, ErrorBody)> {
    let mut answers = Vec::new();
    for request in probes(room_id, someone) {
        let what = request.type_name().to_owned();
        answers.push((what, client.err(request).await));
    }
    answers
}

async fn link(client: &mut Client, room_id: RoomId, expires: Option<u64>, uses: Option<u32>) -> String {
    match client
        .ok(Request::CreateInviteLink {
            room_id,
            expires_in_secs: expires,
            max_uses: uses,
        })
        .await
    {
        Response::InviteLink { link } => {
            assert_eq!(link.room_id, room_id);
            link.token
                .expect("a new link carries its token")
                .as_str()
                .to_owned()
        }
        other => panic!("{other:?}"),
    }
}

fn join_by_link(token: &str) -> Request {
    Request::JoinByLink {
        token: chat_proto::InviteToken::parse(token).unwrap(),
    }
}

async fn members(client: &mut Client, room_id: RoomId) -> Vec<(String, Role)> {
    match client.ok(Request::ListMembers { room_id }).await {
        Response::Members { members, .. } => members
            .into_iter()
            .map(|m| (m.user.username.to_string(), m.role))
            .collect(),
        other => panic!("{other:?}"),
    }
}

pub async fn a_private_room_answers_outsiders_as_a_missing_one(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut mallory = Client::register(&svc, "mallory").await;
    let secret = alice.create_private_room("secret").await;
    assert_eq!(secret.visibility, Visibility::Private);
    alice.send(secret.id, "for invited eyes").await;
    let others: Vec<RoomId> = [
        alice.create_private_room("another").await.id,
        alice.create_room("public").await.id,
    ]
    .into();

    // Every request about the private room answers exactly as for a room that does not
    // exist: same code, same message.
    let missing = RoomId::new(secret.id.get() ^ 0x5555).unwrap();
    let alice_id = alice.user_id();
    let about_secret = answers(&mut mallory, secret.id, alice_id).await;
    let about_missing = answers(&mut mallory, missing, alice_id).await;
    assert_eq!(about_secret, about_missing);
    assert!(about_secret.iter().all(|(_, e)| e.code == ErrorCode::NotFound));
    // An encrypted private room too: plain text sent to it by an outsider does not learn
    // that it is encrypted (only a member is told `room_encrypted`).
    let sealed = alice.create_encrypted_room("sealed").await;
    let mut eve = Client::register(&svc, "eve").await; // a connection with requests to spare
    assert_eq!(answers(&mut eve, sealed.id, alice_id).await, about_missing);
    assert_eq!(
        alice
            .code(Request::SendMessage {
                room_id: sealed.id,
                client_msg_id: ClientMsgId::random(),
                body: body("plain"),
            })
            .await,
        ErrorCode::RoomEncrypted
    );

    // Ids say nothing about other rooms: walking around one finds nothing.
    let ids: HashSet<u64> = others.iter().map(|r| r.get()).chain([secret.id.get()]).collect();
    for step in 1..=20u64 {
        for id in [
            secret.id.get().wrapping_add(step),
            secret.id.get().wrapping_sub(step),
        ] {
            let Ok(id) = RoomId::new(id) else { continue };
            assert!(!ids.contains(&id.get()), "room ids are not sequential");
            assert_eq!(
                mallory.code(Request::JoinRoom { room_id: id }).await,
                ErrorCode::NotFound
            );
        }
    }
    assert!(mallory.drain().await.is_empty(), "an outsider hears nothing");
    match mallory.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => assert!(rooms.is_empty()),
        other => panic!("{other:?}"),
    }
    // The room's own items are untouched by all of this.
    assert_eq!(
        alice.history(secret.id, None, None, 50).await,
        (vec![1, 2], false)
    );
}

pub async fn invitations_let_people_in_or_are_declined(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let mut carol = Client::register(&svc, "carol").await;
    let room = alice.create_private_room("team").await;
    alice.drain().await;

    assert_eq!(alice.ok(invite(room.id, "BOB")).await, Response::Ok);
    // Inviting again changes nothing.
    assert_eq!(alice.ok(invite(room.id, "bob")).await, Response::Ok);
    let (item, notice) = alice.next_notice().await;
    assert_eq!(
        (item.sender.id, notice),
        (alice.user_id(), Notice::Invited { user: bob.me() })
    );
    assert!(alice.drain().await.is_empty(), "one invitation notice");
    match bob.event().await {
        Event::Invited { invitation } => {
            assert_eq!(invitation.room.id, room.id);
            assert_eq!(invitation.room.name, "team");
            assert_eq!(invitation.inviter, alice.me());
        }
        other => panic!("{other:?}"),
    }
    match bob.ok(Request::ListInvitations).await {
        Response::Invitations { invitations } => {
            assert_eq!(invitations.len(), 1);
            assert_eq!(invitations[0].room.id, room.id);
        }
        other => panic!("{other:?}"),
    }
    // Before accepting, the room is still closed to bob.
    assert_eq!(
        bob.code(Request::ListMembers { room_id: room.id }).await,
        ErrorCode::NotFound
    );
    // Accepting is joining.
    assert_eq!(bob.join(room.id).await.member_count, 2);
    let (_, notice) = alice.next_notice().await;
    assert_eq!(notice, Notice::Joined { user: bob.me() });
    match bob.ok(Request::ListInvitations).await {
        Response::Invitations { invitations } => assert!(invitations.is_empty()),
        other => panic!("{other:?}"),
    }
    bob.send(room.id, "thanks for having me").await;

    // Carol declines; the room hears about it, and she stays out.
    alice.ok(invite(room.id, "carol")).await;
    assert_eq!(
        carol.ok(Request::DeclineInvitation { room_id: room.id }).await,
        Response::Ok
    );
    assert_eq!(
        carol.code(Request::DeclineInvitation { room_id: room.id }).await,
        ErrorCode::NotFound,
        "no invitation left to decline"
    );
    assert_eq!(
        carol.code(Request::JoinRoom { room_id: room.id }).await,
        ErrorCode::NotFound
    );
    let declined = loop {
        let (_, notice) = alice.next_notice().await;
        if let Notice::Declined { user } = notice {
            break user;
        }
    };
    assert_eq!(declined, carol.me());
    // Inviting someone who does not exist says so.
    assert_eq!(alice.code(invite(room.id, "nobody")).await, ErrorCode::NotFound);
}

pub async fn roles_decide_who_may_do_what(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut owner = Client::register(&svc, "owner").await;
    let mut admin = Client::register(&svc, "admin").await;
    let mut admin2 = Client::register(&svc, "admin2").await;
    let mut member = Client::register(&svc, "member").await;
    let mut member2 = Client::register(&svc, "member2").await;
    let room = owner.create_private_room("ranks").await;
    for (who, client) in [
        ("admin", &mut admin),
        ("admin2", &mut admin2),
        ("member", &mut member),
        ("member2", &mut member2),
    ] {
        owner.ok(invite(room.id, who)).await;
        client.join(room.id).await;
    }
    let (admin_id, admin2_id, member_id, member2_id, owner_id) = (
        admin.user_id(),
        admin2.user_id(),
        member.user_id(),
        member2.user_id(),
        owner.user_id(),
    );
    owner.ok(set_role(room.id, admin_id, Role::Admin)).await;
    owner.ok(set_role(room.id, admin2_id, Role::Admin)).await;

    // A member manages nothing.
    for request in [
        invite(room.id, "nobody-new"),
        remove(room.id, member2_id),
        ban(room.id, member2_id),
        set_role(room.id, member2_id, Role::Admin),
        Request::UpdateRoom {
            room_id: room.id,
            name: Some(RoomName::parse("mine").unwrap()),
            topic: None,
        },
        Request::CreateInviteLink {
            room_id: room.id,
            expires_in_secs: None,
            max_uses: None,
        },
        Request::ListBans { room_id: room.id },
    ] {
        let what = request.type_name();
        assert_eq!(member.code(request).await, ErrorCode::Forbidden, "member {what}");
    }
    // An admin acts on members only, and cannot change roles.
    assert_eq!(admin.code(remove(room.id, owner_id)).await, ErrorCode::Forbidden);
    assert_eq!(admin.code(ban(room.id, owner_id)).await, ErrorCode::Forbidden);
    assert_eq!(admin.code(remove(room.id, admin2_id)).await, ErrorCode::Forbidden);
    assert_eq!(
        admin.code(set_role(room.id, owner_id, Role::Member)).await,
        ErrorCode::Forbidden,
        "an admin cannot demote the owner"
    );
    assert_eq!(
        admin.code(set_role(room.id, member_id, Role::Admin)).await,
        ErrorCode::Forbidden
    );
    assert_eq!(admin.ok(remove(room.id, member2_id)).await, Response::Ok);
    // Nobody acts on themselves this way.
    assert_eq!(
        owner.code(remove(room.id, owner_id)).await,
        ErrorCode::InvalidRequest
    );
    // Settings: an admin renames and sets the topic; the change is a notice.
    match admin
        .ok(Request::UpdateRoom {
            room_id: room.id,
            name: Some(RoomName::parse("ranked").unwrap()),
            topic: Some(RoomTopic::parse("who does what").unwrap()),
        })
        .await
    {
        Response::Room { room } => {
            assert_eq!(room.name, "ranked");
            assert_eq!(room.topic.unwrap().as_str(), "who does what");
        }
        other => panic!("{other:?}"),
    }
    // The owner demotes an admin, who then manages nothing.
    owner.ok(set_role(room.id, admin2_id, Role::Member)).await;
    assert_eq!(
        admin2.code(remove(room.id, member_id)).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        members(&mut owner, room.id).await,
        [
            ("admin".to_owned(), Role::Admin),
            ("admin2".to_owned(), Role::Member),
            ("member".to_owned(), Role::Member),
            ("owner".to_owned(), Role::Owner),
        ]
    );
    // Handing ownership over: the old owner becomes an admin.
    owner
        .ok(Request::TransferOwnership {
            room_id: room.id,
            user_id: member_id,
        })
        .await;
    assert_eq!(
        owner.code(set_role(room.id, admin_id, Role::Member)).await,
        ErrorCode::Forbidden
    );
    assert_eq!(
        members(&mut member, room.id).await,
        [
            ("admin".to_owned(), Role::Admin),
            ("admin2".to_owned(), Role::Member),
            ("member".to_owned(), Role::Owner),
            ("owner".to_owned(), Role::Admin),
        ]
    );
    // The last owner leaving hands the room to the longest-standing admin: the former
    // owner, an admin since the hand-over, who has been there since the start.
    member.ok(Request::LeaveRoom { room_id: room.id }).await;
    let roles = members(&mut admin, room.id).await;
    assert!(roles.contains(&("owner".to_owned(), Role::Owner)), "{roles:?}");
    assert!(roles.contains(&("admin".to_owned(), Role::Admin)), "{roles:?}");
    // The whole story is in the timeline, in order, for anyone who resumes.
    match admin
        .ok(Request::ResumeRoom {
            room_id: room.id,
            after_seq: 0,
        })
        .await
    {
        Response::Resumed { messages, .. } => {
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gap-free");
            let last = messages.last().unwrap().notice().unwrap();
            assert_eq!(
                last,
                &Notice::RoleChanged {
                    user: owner.me(),
                    role: Role::Owner
                }
            );
            assert!(
                messages
                    .iter()
                    .any(|m| m.notice() == Some(&Notice::Removed { user: member2.me() }))
            );
        }
        other => panic!("{other:?}"),
    }

    // With no admin, the longest-standing member takes over.
    let plain = owner.create_private_room("plain").await;
    for (who, client) in [("member2", &mut member2), ("admin2", &mut admin2)] {
        owner.ok(invite(plain.id, who)).await;
        client.join(plain.id).await;
    }
    owner.ok(Request::LeaveRoom { room_id: plain.id }).await;
    assert_eq!(
        members(&mut admin2, plain.id).await,
        [
            ("admin2".to_owned(), Role::Member),
            ("member2".to_owned(), Role::Owner)
        ]
    );
}

pub async fn a_removed_member_stops_receiving_at_once(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let mut bob_phone = Client::login(&svc, "bob").await;
    let room = alice.create_private_room("cut").await;
    alice.ok(invite(room.id, "bob")).await;
    bob.join(room.id).await;
    alice.send(room.id, "before").await;
    assert_eq!(bob.next_message().await.text().unwrap().as_str(), "before");
    bob_phone.drain().await;
    bob.drain().await;

    alice.ok(remove(room.id, bob.user_id())).await;
    alice.send(room.id, "after").await;
    // Both of bob's connections get the removal as the room's last item, then nothing.
    let bob_user = bob.me();
    for device in [&mut bob, &mut bob_phone] {
        let events = device.drain().await;
        let items: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Message { message } => Some(message),
                _ => None,
            })
            .collect();
        assert_eq!(items.len(), 1, "only the removal: {events:?}");
        assert_eq!(
            items[0].notice(),
            Some(&Notice::Removed {
                user: bob_user.clone()
            })
        );
    }
    // History, posting and the room list are closed from then on, as for a missing room.
    for request in [
        Request::History {
            room_id: room.id,
            before_seq: None,
            after_seq: None,
            limit: 10,
        },
        Request::SendMessage {
            room_id: room.id,
            client_msg_id: ClientMsgId::random(),
            body: body("still here?"),
        },
        Request::JoinRoom { room_id: room.id },
    ] {
        assert_eq!(bob.code(request).await, ErrorCode::NotFound);
    }
    match bob.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => assert!(rooms.iter().all(|r| r.room.id != room.id)),
        other => panic!("{other:?}"),
    }
}

pub async fn a_ban_outlives_invitations_and_links_until_lifted(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_private_room("banned").await;
    let token = link(&mut alice, room.id, None, None).await;
    assert_eq!(bob.join_with(&token).await, room.id);
    let bob_id = bob.user_id();

    alice.ok(ban(room.id, bob_id)).await;
    // Banning twice changes nothing.
    alice.ok(ban(room.id, bob_id)).await;
    assert_eq!(bob.code(join_by_link(&token)).await, ErrorCode::Banned);
    assert_eq!(
        alice.code(invite(room.id, "bob")).await,
        ErrorCode::InvalidRequest,
        "a banned user cannot be invited"
    );
    assert_eq!(
        bob.code(Request::JoinRoom { room_id: room.id }).await,
        ErrorCode::NotFound
    );
    match alice.ok(Request::ListBans { room_id: room.id }).await {
        Response::Bans { bans, .. } => {
            assert_eq!(bans.len(), 1);
            assert_eq!((bans[0].user.id, bans[0].banned_by.id), (bob_id, alice.user_id()));
        }
        other => panic!("{other:?}"),
    }
    // A public room says so openly.
    let public = alice.create_room("open").await;
    bob.join(public.id).await;
    alice.ok(ban(public.id, bob_id)).await;
    assert_eq!(
        bob.code(Request::JoinRoom { room_id: public.id }).await,
        ErrorCode::Banned
    );

    alice
        .ok(Request::Unban {
            room_id: room.id,
            user_id: bob_id,
        })
        .await;
    assert_eq!(bob.join_with(&token).await, room.id, "the old link works again");
}

pub async fn invite_links_expire_are_revoked_and_run_out_under_concurrent_joins(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let room = alice.create_private_room("limited").await;
    let token = link(&mut alice, room.id, None, Some(3)).await;
    let mut joiners = Vec::new();
    for i in 0..8 {
        joiners.push(Client::register(&svc, &format!("joiner{i}")).await);
    }
    let results = futures::future::join_all(
        joiners
            .iter_mut()
            .map(|c| async { c.request(join_by_link(&token)).await }),
    )
    .await;
    let joined = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(joined, 3, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code, ErrorCode::InviteLinkInvalid);
    }
    match alice.ok(Request::ListInviteLinks { room_id: room.id }).await {
        Response::InviteLinks { links, .. } => {
            assert_eq!(links.len(), 1);
            assert_eq!((links[0].uses, links[0].max_uses), (3, Some(3)));
            assert!(links[0].token.is_none(), "tokens are shown once");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(members(&mut alice, room.id).await.len(), 4);

    // Revoked.
    let revoked = link(&mut alice, room.id, None, None).await;
    let link_id = match alice.ok(Request::ListInviteLinks { room_id: room.id }).await {
        Response::InviteLinks { links, .. } => links[0].id,
        other => panic!("{other:?}"),
    };
    alice
        .ok(Request::RevokeInviteLink {
            room_id: room.id,
            link_id,
        })
        .await;
    let mut late = Client::register(&svc, "late").await;
    assert_eq!(
        late.code(join_by_link(&revoked)).await,
        ErrorCode::InviteLinkInvalid
    );
    // Expired.
    let short = link(&mut alice, room.id, Some(1), None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        late.code(join_by_link(&short)).await,
        ErrorCode::InviteLinkInvalid
    );
    // Unknown, and malformed, tokens.
    assert_eq!(
        late.code(join_by_link("abcdefghijklmnopqrstuvwxyz012345")).await,
        ErrorCode::InviteLinkInvalid
    );
    assert_eq!(members(&mut alice, room.id).await.len(), 4);
}

pub async fn many_people_joining_a_room_at_once_all_get_in(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let room = alice.create_room("popular").await;
    let mut joiners = Vec::new();
    for i in 0..48 {
        joiners.push(Client::register(&svc, &format!("crowd{i}")).await);
    }
    // Every join decides on the room's state and loses the race to the others: without
    // turns, some ran out of attempts and were told the room was changing too fast.
    let results = futures::future::join_all(
        joiners
            .iter_mut()
            .map(|c| async { c.request(Request::JoinRoom { room_id: room.id }).await }),
    )
    .await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(members(&mut alice, room.id).await.len(), 49);
}

pub async fn the_directory_lists_public_rooms_by_size_and_name(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let mut carol = Client::register(&svc, "carol").await;
    let big = alice.create_room("Rust lovers").await;
    let middle = alice.create_room("rustaceans anonymous").await;
    let small = alice.create_room("gardening").await;
    let hidden = alice.create_private_room("rust secrets").await;
    for room in [big.id, middle.id] {
        bob.join(room).await;
    }
    carol.join(big.id).await;

    let page = |query: Option<&str>, after: Option<String>, limit| Request::ListPublicRooms {
        query: query.map(str::to_owned),
        after,
        limit,
    };
    let list = |response: Response| match response {
        Response::PublicRooms { rooms, next } => (
            rooms.iter().map(|r| (r.id, r.member_count)).collect::<Vec<_>>(),
            next,
        ),
        other => panic!("{other:?}"),
    };
    let (rooms, next) = list(carol.ok(page(None, None, 10)).await);
    assert_eq!(rooms, [(big.id, 3), (middle.id, 2), (small.id, 1)]);
    assert!(next.is_none());
    assert!(
        rooms.iter().all(|(id, _)| *id != hidden.id),
        "private rooms are never listed"
    );
    // Paging.
    let (first, next) = list(carol.ok(page(None, None, 2)).await);
    assert_eq!(first, [(big.id, 3), (middle.id, 2)]);
    let (second, next) = list(carol.ok(page(None, next, 2)).await);
    assert_eq!((second, next), (vec![(small.id, 1)], None));
    // Searching ignores case.
    let (found, _) = list(carol.ok(page(Some("RUST"), None, 10)).await);
    assert_eq!(found, [(big.id, 3), (middle.id, 2)]);
    // A cursor the server did not give, or a page size out of range, is refused.
    assert_eq!(
        carol.code(page(None, Some("nonsense".into()), 10)).await,
        ErrorCode::InvalidRequest
    );
    assert_eq!(carol.code(page(None, None, 0)).await, ErrorCode::InvalidRequest);
}

pub async fn resume_replays_membership_and_messages_in_order(fx: &dyn Fixture) {
    let svc = node(fx, config()).await;
    let mut alice = Client::register(&svc, "alice").await;
    let mut bob = Client::register(&svc, "bob").await;
    let room = alice.create_room("story").await;
    bob.join(room.id).await;
    let bob_id = bob.user_id();
    drop(bob);
    settle().await;
    // While bob is away: a message, carol joins, bob is made admin, another message.
    alice.send(room.id, "while you were out").await;
    let mut carol = Client::register(&svc, "carol").await;
    carol.join(room.id).await;
    alice.ok(set_role(room.id, bob_id, Role::Admin)).await;
    alice.send(room.id, "welcome carol").await;

    let mut bob = Client::login(&svc, "bob").await;
    match bob
        .ok(Request::ResumeRoom {
            room_id: room.id,
            after_seq: 2,
        })
        .await
    {
        Response::Resumed {
            messages, complete, ..
        } => {
            assert!(complete);
            let story: Vec<String> = messages
                .iter()
                .map(|m| match (m.text(), m.notice()) {
                    (Some(text), _) => text.to_string(),
                    (_, Some(Notice::Joined { user })) => format!("{} joined", user.username),
                    (_, Some(Notice::RoleChanged { user, role })) => {
                        format!("{} is {}", user.username, role.as_str())
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                story,
                [
                    "while you were out",
                    "carol joined",
                    "bob is admin",
                    "welcome carol"
                ]
            );
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, [3, 4, 5, 6]);
        }
        other => panic!("{other:?}"),
    }
}

impl Client {
    /// Joins through an invite link; the room's id.
    pub async fn join_with(&mut self, token: &str) -> RoomId {
        match self.ok(join_by_link(token)).await {
            Response::Room { room } => room.id,
            other => panic!("join_by_link gave {other:?}"),
        }
    }
}
