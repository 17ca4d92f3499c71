//! What the offline cache holds, and how the client keeps it current as events arrive.

use chat_proto::{Member, Message, Room, RoomId, RoomSummary, Seq, TimestampMs, UserInfo};
use serde::{Deserialize, Serialize};

/// The chat list as last seen from the server: what a client shows before (or without) a
/// connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineSnapshot {
    /// The user the cache belongs to.
    pub user: UserInfo,
    /// The rooms, most recent activity first.
    pub rooms: Vec<CachedRoom>,
    /// When the snapshot was last written, in milliseconds since the Unix epoch (client clock).
    pub saved_at: TimestampMs,
}

/// One room of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedRoom {
    /// The room with its last message, unread count and read marker.
    pub summary: RoomSummary,
    /// Its members, as last listed (empty if never listed).
    pub members: Vec<Member>,
    /// Its newest messages, ascending by `seq`, at most the configured number.
    pub messages: Vec<Message>,
}

impl OfflineSnapshot {
    /// An empty snapshot for `user`.
    pub fn new(user: UserInfo) -> Self {
        Self {
            user,
            rooms: Vec::new(),
            saved_at: 0,
        }
    }

    /// A room of the snapshot.
    pub fn room(&self, id: RoomId) -> Option<&CachedRoom> {
        self.rooms.iter().find(|r| r.summary.room.id == id)
    }

    fn room_mut(&mut self, id: RoomId) -> Option<&mut CachedRoom> {
        self.rooms.iter_mut().find(|r| r.summary.room.id == id)
    }

    /// Replaces the chat list with the server's, keeping members and messages of rooms that
    /// stay.
    pub(crate) fn set_rooms(&mut self, summaries: Vec<RoomSummary>, keep: usize) {
        let mut old = std::mem::take(&mut self.rooms);
        for summary in summaries {
            let id = summary.room.id;
            let (members, mut messages) = match old.iter().position(|r| r.summary.room.id == id) {
                Some(i) => {
                    let r = old.swap_remove(i);
                    (r.members, r.messages)
                }
                None => (Vec::new(), Vec::new()),
            };
            if let Some(last) = &summary.last_message {
                merge(&mut messages, std::slice::from_ref(last), keep);
            }
            self.rooms.push(CachedRoom {
                summary,
                members,
                messages,
            });
        }
    }

    /// Adds a room the user created, joined or opened (no-op if present).
    pub(crate) fn add_room(&mut self, room: Room) {
        if self.room(room.id).is_none() {
            self.rooms.insert(
                0,
                CachedRoom {
                    summary: RoomSummary {
                        room,
                        last_message: None,
                        unread: 0,
                        last_read_seq: 0,
                        peer_online: None,
                        role: chat_proto::Role::Member,
                    },
                    members: Vec::new(),
                    messages: Vec::new(),
                },
            );
        }
    }

    /// Drops a room the user left.
    pub(crate) fn remove_room(&mut self, id: RoomId) {
        self.rooms.retain(|r| r.summary.room.id != id);
    }

    /// Records messages of one room (from events, sends or history), keeping the newest
    /// `keep`; a newer last message moves the room to the top of the list.
    pub(crate) fn record_messages(&mut self, room_id: RoomId, messages: &[Message], keep: usize) {
        let me = self.user.id;
        let Some(index) = self.rooms.iter().position(|r| r.summary.room.id == room_id) else {
            return;
        };
        let room = &mut self.rooms[index];
        let before = room.summary.last_message.as_ref().map_or(0, |m| m.seq);
        merge(&mut room.messages, messages, keep);
        let Some(newest) = messages.iter().max_by_key(|m| m.seq) else {
            return;
        };
        if newest.seq > before {
            let fresh = messages
                .iter()
                .filter(|m| {
                    m.seq > before.max(room.summary.last_read_seq) && m.sender.id != me && m.text().is_some()
                })
                .count() as u64;
            room.summary.unread += fresh;
            room.summary.last_message = Some(newest.clone());
            let moved = self.rooms.remove(index);
            self.rooms.insert(0, moved);
        }
    }

    /// Replaces a room's member list.
    pub(crate) fn set_members(&mut self, room_id: RoomId, members: Vec<Member>) {
        if let Some(room) = self.room_mut(room_id) {
            room.members = members;
        }
    }

    /// Adds or removes one member.
    pub(crate) fn member_changed(
        &mut self,
        room_id: RoomId,
        user: &UserInfo,
        role: Option<chat_proto::Role>,
    ) {
        let me = self.user.id;
        if let Some(room) = self.room_mut(room_id) {
            let online = room
                .members
                .iter()
                .find(|m| m.user.id == user.id)
                .is_none_or(|m| m.online);
            room.members.retain(|m| m.user.id != user.id);
            if let Some(role) = role {
                room.members.push(Member {
                    user: user.clone(),
                    role,
                    online,
                });
                if user.id == me {
                    room.summary.role = role;
                }
            }
        }
    }

    /// Applies a renaming or a new topic.
    pub(crate) fn room_updated(
        &mut self,
        room_id: RoomId,
        name: Option<&chat_proto::RoomName>,
        topic: Option<&chat_proto::RoomTopic>,
    ) {
        if let Some(room) = self.room_mut(room_id) {
            if let Some(name) = name {
                room.summary.room.name = name.to_string();
            }
            if let Some(topic) = topic {
                room.summary.room.topic = Some(topic.clone()).filter(|t| !t.is_empty());
            }
        }
    }

    /// Updates a user's online state everywhere.
    pub(crate) fn presence(&mut self, user: &UserInfo, online: bool) {
        for room in &mut self.rooms {
            for member in room.members.iter_mut().filter(|m| m.user.id == user.id) {
                member.online = online;
            }
            if room.summary.room.peer.as_ref().is_some_and(|p| p.id == user.id) {
                room.summary.peer_online = Some(online);
            }
        }
    }

    /// Moves a room's read marker forward.
    pub(crate) fn mark_read(&mut self, room_id: RoomId, seq: Seq) {
        if let Some(room) = self.room_mut(room_id) {
            let summary = &mut room.summary;
            summary.last_read_seq = summary.last_read_seq.max(seq);
            let last = summary.last_message.as_ref().map_or(0, |m| m.seq);
            summary.unread = summary.unread.min(last.saturating_sub(summary.last_read_seq));
        }
    }

    /// Enforces the per-room message bound (after reading a file written with a larger one).
    pub(crate) fn trim(&mut self, keep: usize) {
        for room in &mut self.rooms {
            merge(&mut room.messages, &[], keep);
        }
    }
}

/// Merges `new` into `messages` by seq (no duplicates, ascending) and keeps the newest `keep`.
fn merge(messages: &mut Vec<Message>, new: &[Message], keep: usize) {
    messages.extend_from_slice(new);
    messages.sort_by_key(|m| m.seq);
    messages.dedup_by_key(|m| m.seq);
    let excess = messages.len().saturating_sub(keep);
    messages.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::{ClientMsgId, MessageBody, MessageId, RoomKind, UserId, Username};

    fn user(id: u64, name: &str) -> UserInfo {
        UserInfo {
            id: UserId::new(id).unwrap(),
            username: Username::parse(name).unwrap(),
        }
    }

    fn room(id: u64) -> Room {
        Room {
            id: RoomId::new(id).unwrap(),
            kind: RoomKind::Group,
            name: format!("room{id}"),
            peer: None,
            visibility: chat_proto::Visibility::Private,
            encrypted: false,
            topic: None,
            member_count: 2,
            created_at: 0,
        }
    }

    fn msg(room: u64, seq: Seq, from: u64) -> Message {
        Message {
            id: MessageId::new(room * 1000 + seq).unwrap(),
            room_id: RoomId::new(room).unwrap(),
            seq,
            sender: user(from, if from == 1 { "alice" } else { "bob" }),
            client_msg_id: ClientMsgId::random(),
            sent_at: 0,
            device_id: None,
            content: chat_proto::Content::Text {
                body: MessageBody::parse("hi").unwrap(),
            },
        }
    }

    #[test]
    fn keeps_the_newest_n_in_order_and_counts_unread_from_others() {
        let mut s = OfflineSnapshot::new(user(1, "alice"));
        s.add_room(room(1));
        s.add_room(room(2));
        let r1 = RoomId::new(1).unwrap();
        let batch: Vec<_> = (1..=30).rev().map(|seq| msg(1, seq, 2)).collect();
        s.record_messages(r1, &batch, 20);
        s.record_messages(r1, &[msg(1, 30, 2), msg(1, 31, 1)], 20);
        let cached = s.room(r1).unwrap();
        let seqs: Vec<_> = cached.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (12..=31).collect::<Vec<_>>());
        assert_eq!(cached.summary.last_message.as_ref().unwrap().seq, 31);
        assert_eq!(
            cached.summary.unread, 30,
            "own message not counted, duplicate not counted"
        );
        assert_eq!(s.rooms[0].summary.room.id, r1, "active room moves to the top");
        s.mark_read(r1, 31);
        assert_eq!(s.room(r1).unwrap().summary.unread, 0);
    }

    #[test]
    fn set_rooms_keeps_details_of_rooms_that_stay_and_drops_others() {
        let mut s = OfflineSnapshot::new(user(1, "alice"));
        s.add_room(room(1));
        s.add_room(room(2));
        let r1 = RoomId::new(1).unwrap();
        s.record_messages(r1, &[msg(1, 1, 2)], 20);
        s.member_changed(r1, &user(2, "bob"), Some(chat_proto::Role::Member));
        s.presence(&user(2, "bob"), false);
        assert!(!s.room(r1).unwrap().members[0].online);
        let summary = RoomSummary {
            room: room(1),
            last_message: Some(msg(1, 2, 2)),
            unread: 1,
            last_read_seq: 1,
            peer_online: None,
            role: chat_proto::Role::Member,
        };
        s.set_rooms(vec![summary], 20);
        assert_eq!(s.rooms.len(), 1);
        let r = s.room(r1).unwrap();
        assert_eq!(r.members.len(), 1);
        assert_eq!(r.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2]);
        s.remove_room(r1);
        assert!(s.rooms.is_empty());
    }
}
