//! A database the first version of the server left behind, opened by this one: every
//! account, room, membership, read marker and message is kept, and the rooms behave as they
//! did (group rooms stay open to everyone, owned by their creator or their longest member).
//!
//! Each store's test writes the first version's rows with its own SQL ([`FirstVersion`]);
//! the checks are the same for both.

use async_trait::async_trait;
use chat_core::ChatService;
use chat_core::keyring::{KeyRing, Sealed};
use chat_proto::{
    ClientMsgId, Event, Message, MessageBody, Request, Response, Role, RoomId, RoomKind, RoomSummary, UserId,
    Visibility,
};

use super::{Client, PASSWORD, TEST_KEYS, room_name};

/// Writes rows in the first version's schema (no roles, visibility or notices).
#[async_trait]
pub trait FirstVersion: Send {
    /// Inserts a user; returns the id the database gave it.
    async fn user(&mut self, username: &str, password_hash: &str, at: i64) -> i64;
    /// Inserts a room (`direct` holds the pair, lower id first); returns its id.
    async fn room(&mut self, kind: &str, name: &str, created_by: i64, direct: Option<(i64, i64)>) -> i64;
    /// Inserts a membership.
    async fn member(&mut self, room: i64, user: i64, joined_at: i64, last_read_seq: i64);
    /// Inserts a message sealed at rest and moves the room's `last_seq` to it.
    async fn message(&mut self, room: i64, seq: i64, sender: i64, client_msg_id: ClientMsgId, sealed: Sealed);
}

/// What [`seed`] wrote, to check against.
pub struct Seeded {
    general: RoomId,
    team: RoomId,
    direct: RoomId,
}

/// The first version's data: three users; `general`, made by alice who has since left (bob
/// joined first of those who stayed), with three messages, bob having read the first;
/// `team` made by carol; a direct chat between alice and bob with one message.
pub async fn seed(db: &mut dyn FirstVersion) -> Seeded {
    let keys = KeyRing::parse(TEST_KEYS).unwrap();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let alice = db.user("alice", &hash, 1_000).await;
    let bob = db.user("bob", &hash, 1_001).await;
    let carol = db.user("carol", &hash, 1_002).await;

    let general = db.room("group", "general", alice, None).await;
    db.member(general, bob, 2_001, 1).await;
    db.member(general, carol, 2_002, 0).await;
    let team = db.room("group", "team", carol, None).await;
    db.member(team, carol, 2_000, 0).await;
    db.member(team, bob, 2_005, 0).await;
    let direct = db.room("direct", "", alice, Some((alice, bob))).await;
    db.member(direct, alice, 2_000, 1).await;
    db.member(direct, bob, 2_000, 0).await;

    let mut write = async |room: i64, seq: i64, sender: i64, text: &str| {
        let id = ClientMsgId::random();
        let sealed = keys.seal(
            RoomId::new(room as u64).unwrap(),
            UserId::new(sender as u64).unwrap(),
            &id,
            text.as_bytes(),
        );
        db.message(room, seq, sender, id, sealed).await;
    };
    write(general, 1, alice, "first words").await;
    write(general, 2, bob, "second, from bob").await;
    write(general, 3, carol, "third, from carol").await;
    write(direct, 1, alice, "just between us").await;
    let id = |room: i64| RoomId::new(room as u64).unwrap();
    Seeded {
        general: id(general),
        team: id(team),
        direct: id(direct),
    }
}

/// Checks, through the service as its users would, that the upgrade kept everything.
pub async fn check(svc: &ChatService, seeded: &Seeded) {
    // Passwords still work; the room list is as it was, with roles and visibility added.
    let mut bob = Client::login(svc, "bob").await;
    let rooms = list(&mut bob).await;
    assert_eq!(rooms.len(), 3);
    let general = find(&rooms, seeded.general);
    assert_eq!(general.room.name, "general");
    assert_eq!(
        general.room.visibility,
        Visibility::Public,
        "group rooms stay open to all"
    );
    assert_eq!(general.room.member_count, 2);
    assert_eq!(
        general.role,
        Role::Owner,
        "the creator left: the longest member owns it"
    );
    assert_eq!((general.unread, general.last_read_seq), (2, 1));
    assert_eq!(general.last_message.as_ref().unwrap().seq, 3);
    let team = find(&rooms, seeded.team);
    assert_eq!(
        (team.room.visibility, team.role),
        (Visibility::Public, Role::Member)
    );
    let direct = find(&rooms, seeded.direct);
    assert_eq!(direct.room.kind, RoomKind::Direct);
    assert_eq!(direct.room.visibility, Visibility::Private);
    assert_eq!(direct.unread, 1);
    assert!(
        !general.room.encrypted && !direct.room.encrypted,
        "old rooms stay readable"
    );

    // Every message reads back as written, from its sender, in its place.
    let said = texts(&mut bob, seeded.general).await;
    assert_eq!(
        said,
        vec![
            (1, "alice".to_owned(), "first words".to_owned()),
            (2, "bob".to_owned(), "second, from bob".to_owned()),
            (3, "carol".to_owned(), "third, from carol".to_owned()),
        ]
    );
    let mut alice = Client::login(svc, "alice").await;
    assert_eq!(
        texts(&mut alice, seeded.direct).await,
        vec![(1, "alice".to_owned(), "just between us".to_owned())]
    );

    // Life goes on: new messages follow the old ones, new accounts and rooms take fresh ids,
    // and a newcomer joins the old public room.
    let mut carol = Client::login(svc, "carol").await;
    let next = carol.send(seeded.general, "after the upgrade").await;
    assert_eq!(next.seq, 4);
    let mut dave = Client::register(svc, "dave").await;
    let fresh = dave.create_room("fresh").await;
    assert!(![seeded.general, seeded.team, seeded.direct].contains(&fresh.id));
    dave.join(seeded.general).await;
    let (seqs, _) = bob.history(seeded.general, None, None, 50).await;
    assert_eq!(seqs, vec![1, 2, 3, 4, 5], "dave's joining is the fifth item");
    let renamed = bob
        .ok(Request::UpdateRoom {
            room_id: seeded.general,
            name: Some(room_name("general chat")),
            topic: None,
        })
        .await;
    assert!(
        matches!(renamed, Response::Room { .. }),
        "the owner manages the old room"
    );
    let heard = bob.drain().await.into_iter().any(|e| match e {
        Event::Message { message } => message.text().map(MessageBody::as_str) == Some("after the upgrade"),
        _ => false,
    });
    assert!(heard, "members of an old room hear new messages");
}

async fn list(client: &mut Client) -> Vec<RoomSummary> {
    match client.ok(Request::ListRooms).await {
        Response::Rooms { rooms } => rooms,
        other => panic!("{other:?}"),
    }
}

fn find(rooms: &[RoomSummary], id: RoomId) -> &RoomSummary {
    rooms
        .iter()
        .find(|r| r.room.id == id)
        .expect("the room is listed")
}

/// (seq, sender, text) of a room's text messages.
async fn texts(client: &mut Client, room_id: RoomId) -> Vec<(u64, String, String)> {
    let messages: Vec<Message> = match client
        .ok(Request::History {
            room_id,
            before_seq: None,
            after_seq: None,
            limit: 50,
        })
        .await
    {
        Response::Messages { messages, .. } => messages,
        other => panic!("{other:?}"),
    };
    messages
        .iter()
        .filter_map(|m| {
            let text = m.text()?;
            Some((
                m.seq,
                m.sender.username.as_str().to_owned(),
                text.as_str().to_owned(),
            ))
        })
        .collect()
}
