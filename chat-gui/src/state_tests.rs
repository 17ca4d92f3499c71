use chat_proto::{MessageId, Username};

use super::*;
use chat_client_lib::ClientEvent as Event;

fn user(id: u64, name: &str) -> UserInfo {
    UserInfo {
        id: UserId::new(id).unwrap(),
        username: Username::parse(name).unwrap(),
    }
}

fn room(id: u64, kind: RoomKind, peer: Option<UserInfo>) -> Room {
    Room {
        id: RoomId::new(id).unwrap(),
        kind,
        name: peer
            .as_ref()
            .map_or(format!("room{id}"), |p| p.username.to_string()),
        peer,
        visibility: chat_proto::Visibility::Private,
        encrypted: false,
        topic: None,
        member_count: 2,
        created_at: 1_000,
    }
}

fn message(room: u64, seq: Seq, sender: &UserInfo, body: &str) -> Message {
    Message {
        id: MessageId::new(room * 1000 + seq).unwrap(),
        room_id: RoomId::new(room).unwrap(),
        seq,
        sender: sender.clone(),
        client_msg_id: ClientMsgId::random(),
        sent_at: 1_000 + seq as i64 * 1000,
        device_id: None,
        content: chat_proto::Content::Text {
            body: MessageBody::parse(body).unwrap(),
        },
    }
}

fn notice(room: u64, seq: Seq, sender: &UserInfo, notice: chat_proto::Notice) -> Message {
    Message {
        content: chat_proto::Content::Notice { notice },
        ..message(room, seq, sender, "unused")
    }
}

fn summary(room: Room) -> RoomSummary {
    RoomSummary {
        peer_online: (room.kind == RoomKind::Direct).then_some(false),
        room,
        last_message: None,
        unread: 0,
        last_read_seq: 0,
        role: chat_proto::Role::Member,
    }
}

fn chats_with_two_rooms() -> (Chats, UserInfo, UserInfo) {
    let me = user(1, "alice");
    let bob = user(2, "bob");
    let mut chats = Chats::new(me.clone(), Snapshot::default());
    chats.set_rooms(vec![
        summary(room(10, RoomKind::Group, None)),
        summary(room(11, RoomKind::Direct, Some(bob.clone()))),
    ]);
    (chats, me, bob)
}

#[test]
fn messages_from_others_count_as_unread_until_the_chat_is_open() {
    let (mut chats, me, bob) = chats_with_two_rooms();
    let r10 = RoomId::new(10).unwrap();
    assert!(!chats.add_message(message(10, 1, &bob, "hi")));
    assert!(!chats.add_message(message(10, 2, &me, "hello")));
    // The same message again (an event after the acknowledgement) counts once.
    chats.add_message(message(10, 1, &bob, "hi"));
    assert_eq!(chats.summary(r10).unwrap().unread, 1);
    chats.select(r10);
    assert_eq!(
        chats.summary(r10).unwrap().unread,
        1,
        "opening a chat does not read it: seeing the messages does"
    );
    chats.mark_read(r10, 2);
    assert_eq!(chats.summary(r10).unwrap().unread, 0);
    chats.add_message(message(10, 3, &bob, "still here"));
    assert_eq!(chats.summary(r10).unwrap().unread, 1, "not seen yet");
    chats.mark_read(r10, 3);
    assert_eq!(chats.summary(r10).unwrap().unread, 0);
    assert_eq!(chats.list[0].room.id, r10, "the newest activity comes first");
    assert_eq!(chats.summary(r10).unwrap().last_message.as_ref().unwrap().seq, 3);
}

#[test]
fn a_message_in_an_unknown_room_asks_for_the_list() {
    let (mut chats, _, bob) = chats_with_two_rooms();
    assert!(chats.add_message(message(99, 1, &bob, "new chat")));
}

#[test]
fn acknowledged_messages_replace_their_pending_bubble() {
    let (mut chats, me, _) = chats_with_two_rooms();
    let r10 = RoomId::new(10).unwrap();
    let stored = message(10, 1, &me, "on my way");
    chats.add_pending(
        r10,
        PendingMessage {
            client_msg_id: stored.client_msg_id,
            body: stored.text().unwrap().clone(),
            written_at: 0,
        },
    );
    assert_eq!(chats.conversations[&r10].pending.len(), 1);
    chats.add_message(stored);
    let conversation = &chats.conversations[&r10];
    assert!(conversation.pending.is_empty());
    assert_eq!(conversation.messages.len(), 1);
}

#[test]
fn a_failed_send_gives_its_text_back() {
    let (mut chats, _, _) = chats_with_two_rooms();
    let id = ClientMsgId::random();
    chats.add_pending(
        RoomId::new(10).unwrap(),
        PendingMessage {
            client_msg_id: id,
            body: MessageBody::parse("lost?").unwrap(),
            written_at: 0,
        },
    );
    assert_eq!(chats.drop_pending(id).unwrap().as_str(), "lost?");
    assert!(chats.drop_pending(id).is_none());
}

#[test]
fn older_pages_prepend_and_set_has_more() {
    let (mut chats, _, bob) = chats_with_two_rooms();
    let r10 = RoomId::new(10).unwrap();
    let newest: Vec<_> = (51..=100).map(|s| message(10, s, &bob, "m")).collect();
    chats.add_page(r10, newest, Vec::new(), true, true);
    assert!(chats.conversations[&r10].has_more);
    let older: Vec<_> = (1..=50).map(|s| message(10, s, &bob, "m")).collect();
    chats.add_page(r10, older, Vec::new(), false, false);
    let conversation = &chats.conversations[&r10];
    assert_eq!(conversation.messages.len(), 100);
    assert!(!conversation.has_more);
    assert_eq!(conversation.oldest_seq(), Some(1));
    assert_eq!(
        chats.summary(r10).unwrap().last_message.as_ref().unwrap().seq,
        100,
        "an older page does not change the preview"
    );
}

#[test]
fn presence_moves_the_online_dot_and_member_state() {
    let (mut chats, _, bob) = chats_with_two_rooms();
    let r11 = RoomId::new(11).unwrap();
    chats.conversations.entry(r11).or_default().members = vec![Member {
        user: bob.clone(),
        role: chat_proto::Role::Member,
        online: false,
    }];
    chats.apply_event(
        Event::Presence {
            user: bob.clone(),
            online: true,
        },
        0.0,
    );
    assert_eq!(chats.summary(r11).unwrap().peer_online, Some(true));
    assert!(chats.conversations[&r11].members[0].online);
}

#[test]
fn a_lost_connection_forgets_presence_and_keeps_messages() {
    let (mut chats, me, bob) = chats_with_two_rooms();
    let r11 = RoomId::new(11).unwrap();
    chats.conversations.entry(r11).or_default().members = vec![
        Member {
            user: me.clone(),
            role: chat_proto::Role::Member,
            online: true,
        },
        Member {
            user: bob.clone(),
            role: chat_proto::Role::Member,
            online: true,
        },
    ];
    chats.conversations.get_mut(&r11).unwrap().loaded = true;
    chats.apply_event(
        Event::Presence {
            user: bob,
            online: true,
        },
        0.0,
    );
    assert_eq!(chats.summary(r11).unwrap().peer_online, Some(true));
    let messages_before: usize = chats.conversations.values().map(|c| c.messages.len()).sum();

    chats.connection_lost();
    let conversation = &chats.conversations[&r11];
    assert_eq!(
        chats.summary(r11).unwrap().peer_online,
        Some(false),
        "no stale dot"
    );
    assert!(conversation.members[0].online, "this user is still themselves");
    assert!(!conversation.members[1].online);
    assert!(
        !conversation.loaded,
        "reloaded with its members when opened again"
    );
    let messages_after: usize = chats.conversations.values().map(|c| c.messages.len()).sum();
    assert_eq!(messages_after, messages_before);
}

#[test]
fn typing_notices_expire_and_end_with_a_message() {
    let (mut chats, me, bob) = chats_with_two_rooms();
    let r10 = RoomId::new(10).unwrap();
    let typing = |user: &UserInfo| Event::Typing {
        room_id: r10,
        user: user.clone(),
    };
    chats.apply_event(typing(&bob), 100.0);
    chats.apply_event(typing(&me), 100.0);
    assert_eq!(chats.conversations[&r10].typing_names(101.0), vec!["bob"]);
    assert!(
        chats.conversations[&r10]
            .typing_names(100.0 + TYPING_SECONDS + 0.1)
            .is_empty()
    );
    chats.add_message(message(10, 1, &bob, "done typing"));
    assert!(chats.conversations[&r10].typing_names(101.0).is_empty());
}

#[test]
fn leaving_removes_the_chat() {
    let (mut chats, me, _) = chats_with_two_rooms();
    let r10 = RoomId::new(10).unwrap();
    chats.select(r10);
    chats.apply_event(
        Event::Message(notice(10, 1, &me, chat_proto::Notice::Left { user: me.clone() })),
        0.0,
    );
    assert!(chats.summary(r10).is_none());
    assert_eq!(chats.selected, None);
}

#[test]
fn notices_update_members_and_do_not_count_as_unread() {
    let (mut chats, me, bob) = chats_with_two_rooms();
    let r10 = RoomId::new(10).unwrap();
    let carol = user(3, "carol");
    chats.apply_event(
        Event::Message(notice(
            10,
            1,
            &bob,
            chat_proto::Notice::Joined { user: carol.clone() },
        )),
        0.0,
    );
    assert_eq!(chats.conversations[&r10].members.len(), 1, "carol is listed");
    assert_eq!(
        chats.summary(r10).unwrap().unread,
        0,
        "a notice is not an unread message"
    );
    chats.apply_event(
        Event::Message(notice(
            10,
            2,
            &bob,
            chat_proto::Notice::RoleChanged {
                user: me.clone(),
                role: chat_proto::Role::Admin,
            },
        )),
        0.0,
    );
    assert_eq!(chats.summary(r10).unwrap().role, chat_proto::Role::Admin);
    chats.apply_event(
        Event::Message(notice(10, 3, &bob, chat_proto::Notice::Removed { user: me })),
        0.0,
    );
    assert!(
        chats.summary(r10).is_none(),
        "a room this user was removed from leaves the list"
    );
}

#[test]
fn ciphertext_never_shows_and_the_list_previews_what_was_decrypted() {
    let (mut chats, _me, bob) = chats_with_two_rooms();
    let r11 = RoomId::new(11).unwrap();
    let cipher = |seq| Message {
        content: chat_proto::Content::Mls {
            mls: chat_proto::Base64Bytes::new(vec![7; 40]).unwrap(),
        },
        ..message(11, seq, &bob, "unused")
    };
    // The window read seq 3 (decrypted by the library); the server lists it as ciphertext.
    chats.add_message(message(11, 3, &bob, "secret"));
    let mut listed = summary(room(11, RoomKind::Direct, Some(bob.clone())));
    listed.last_message = Some(cipher(3));
    let mut other = summary(room(10, RoomKind::Group, None));
    other.last_message = Some(cipher(4));
    chats.set_rooms(vec![listed, other]);
    let preview = chats.summary(r11).unwrap().last_message.as_ref().unwrap();
    assert_eq!(preview.text().map(|t| t.as_str()), Some("secret"));
    // A chat never opened keeps the ciphertext as its last item, and no bubble holds it.
    let r10 = RoomId::new(10).unwrap();
    assert!(
        chats
            .conversations
            .get(&r10)
            .is_none_or(|c| c.messages.is_empty())
    );
    assert_eq!(
        crate::chat_list::preview_text(chats.summary(r10).unwrap(), UserId::new(1).unwrap()),
        "\u{1f512} Encrypted message"
    );
}
