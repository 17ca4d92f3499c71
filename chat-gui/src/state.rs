//! What the window knows about the user's chats: the chat list, each conversation's
//! messages, members and typing users. Plain data with the rules for applying server
//! results and events, kept apart from drawing so that it can be tested on its own.

use std::collections::{BTreeMap, HashMap};

use chat_client_lib::ClientEvent;
use chat_client_lib::e2ee::Undecryptable;
use chat_proto::{
    ClientMsgId, Member, Message, MessageBody, Notice, Room, RoomId, RoomKind, RoomSummary, Seq, TimestampMs,
    UserId, UserInfo,
};

use crate::backend::Snapshot;

/// How long a typing notice lasts without being repeated, in seconds.
pub const TYPING_SECONDS: f64 = 5.0;

/// An own message on its way to the server.
#[derive(Clone, Debug)]
pub struct PendingMessage {
    /// Its idempotency key.
    pub client_msg_id: ClientMsgId,
    /// The text.
    pub body: MessageBody,
    /// When it was written.
    pub written_at: TimestampMs,
}

/// One conversation's loaded messages.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    /// Messages by sequence number.
    pub messages: BTreeMap<Seq, Message>,
    /// Items of an encrypted chat this device cannot read, by sequence number: drawn as
    /// placeholders in their place. A message that becomes readable (its keys came) takes
    /// its placeholder's place.
    pub unreadable: BTreeMap<Seq, Undecryptable>,
    /// Own messages not yet acknowledged, oldest first.
    pub pending: Vec<PendingMessage>,
    /// Whether the server may have messages older than the oldest loaded one.
    pub has_more: bool,
    /// Whether the newest page came from the server (not just from the offline cache).
    pub loaded: bool,
    /// The members, with online state.
    pub members: Vec<Member>,
    /// Who is typing, with the time (egui seconds) their notice expires.
    pub typing: Vec<(UserInfo, f64)>,
}

impl Conversation {
    /// The oldest loaded sequence number (a message or a placeholder).
    pub fn oldest_seq(&self) -> Option<Seq> {
        let message = self.messages.keys().next().copied();
        let unreadable = self.unreadable.keys().next().copied();
        match (message, unreadable) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The newest loaded sequence number (a message or a placeholder).
    pub fn newest_seq(&self) -> Option<Seq> {
        self.messages
            .keys()
            .next_back()
            .copied()
            .max(self.unreadable.keys().next_back().copied())
    }

    /// Adds messages; a message already present is replaced, so repeats are harmless.
    pub fn merge(&mut self, messages: impl IntoIterator<Item = Message>) {
        for message in messages {
            if message.mls().is_some() {
                // Ciphertext as the server lists it (a chat's last item): the chat shows
                // what the client library decrypts, or a placeholder, in its place.
                continue;
            }
            self.pending.retain(|p| p.client_msg_id != message.client_msg_id);
            self.unreadable.remove(&message.seq);
            self.messages.insert(message.seq, message);
        }
    }

    /// Adds placeholders for items that cannot be read; a message already readable at that
    /// place stays.
    pub fn merge_unreadable(&mut self, items: impl IntoIterator<Item = Undecryptable>) {
        for item in items {
            if !self.messages.contains_key(&item.seq) {
                self.unreadable.insert(item.seq, item);
            }
        }
    }

    /// The names of users typing at `now` (egui seconds).
    pub fn typing_names(&self, now: f64) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|(_, until)| *until > now)
            .map(|(user, _)| user.username.as_str())
            .collect()
    }
}

/// The signed-in user's chats.
#[derive(Debug)]
pub struct Chats {
    /// The user.
    pub me: UserInfo,
    /// The chat list, newest activity first.
    pub list: Vec<RoomSummary>,
    /// Loaded conversations.
    pub conversations: HashMap<RoomId, Conversation>,
    /// The chat shown on the right.
    pub selected: Option<RoomId>,
    /// Sentences for the snackbar about rooms this user was removed or banned from; the
    /// app takes them after each event.
    pub farewells: Vec<String>,
}

impl Chats {
    /// The chats of a user who just logged in, filled from the offline cache.
    pub fn new(me: UserInfo, cached: Snapshot) -> Chats {
        let mut chats = Chats {
            me,
            list: Vec::new(),
            conversations: HashMap::new(),
            selected: None,
            farewells: Vec::new(),
        };
        chats.set_rooms(cached.rooms);
        for (room, messages) in cached.messages {
            let conversation = chats.conversations.entry(room).or_default();
            conversation.merge(messages);
            conversation.has_more = conversation.oldest_seq().is_some_and(|s| s > 1);
        }
        for (room, members) in cached.members {
            chats.conversations.entry(room).or_default().members = members;
        }
        // Who was online when the cache was written says nothing about now: nobody shows
        // online until the server says so.
        chats.connection_lost();
        chats
    }

    /// Replaces a room's members with the server's list.
    pub fn set_members(&mut self, room: RoomId, members: Vec<Member>) {
        let me = self.me.id;
        if let (Some(mine), Some(summary)) = (
            members.iter().find(|m| m.user.id == me).map(|m| m.role),
            self.summary_mut(room),
        ) {
            summary.role = mine;
        }
        self.conversations.entry(room).or_default().members = members;
    }

    /// Takes a room's new name, topic and member count (after a change, or a join).
    pub fn update_room(&mut self, room: &Room) {
        if let Some(summary) = self.summary_mut(room.id) {
            summary.room = room.clone();
        }
    }

    /// Replaces the chat list with the server's, keeping conversations already loaded.
    pub fn set_rooms(&mut self, rooms: Vec<RoomSummary>) {
        self.list = rooms;
        for summary in &mut self.list {
            // The server lists an encrypted chat's last item as ciphertext: what this device
            // decrypted at that place, if it has it, is what the preview shows.
            let decrypted = summary
                .last_message
                .as_ref()
                .filter(|m| m.mls().is_some())
                .and_then(|m| self.conversations.get(&m.room_id)?.messages.get(&m.seq));
            if let Some(decrypted) = decrypted {
                summary.last_message = Some(decrypted.clone());
            }
        }
        for summary in &self.list {
            if let Some(last) = &summary.last_message {
                let conversation = self.conversations.entry(summary.room.id).or_default();
                if conversation.messages.is_empty() {
                    conversation.has_more = last.seq > 1;
                }
                conversation.merge([last.clone()]);
            }
        }
        if let Some(selected) = self.selected {
            // The open chat's count is what the window has not shown yet.
            self.recount_unread(selected);
        }
        self.sort();
    }

    /// The list entry of a room.
    pub fn summary(&self, room: RoomId) -> Option<&RoomSummary> {
        self.list.iter().find(|s| s.room.id == room)
    }

    fn summary_mut(&mut self, room: RoomId) -> Option<&mut RoomSummary> {
        self.list.iter_mut().find(|s| s.room.id == room)
    }

    /// Adds a room the user just created, joined or opened, if it is not listed yet.
    pub fn add_room(&mut self, room: Room) {
        if self.summary(room.id).is_none() {
            self.list.push(RoomSummary {
                peer_online: (room.kind == RoomKind::Direct).then_some(false),
                room,
                last_message: None,
                unread: 0,
                last_read_seq: 0,
                role: chat_proto::Role::Member,
            });
            self.sort();
        }
    }

    /// Removes a room the user left.
    pub fn remove_room(&mut self, room: RoomId) {
        self.list.retain(|s| s.room.id != room);
        self.conversations.remove(&room);
        if self.selected == Some(room) {
            self.selected = None;
        }
    }

    /// Selects a chat. Its unread count stays until the messages come into view.
    pub fn select(&mut self, room: RoomId) {
        self.selected = Some(room);
    }

    /// Stores a page of history.
    pub fn add_page(
        &mut self,
        room: RoomId,
        messages: Vec<Message>,
        unreadable: Vec<Undecryptable>,
        has_more: bool,
        newest: bool,
    ) {
        let conversation = self.conversations.entry(room).or_default();
        let first = messages
            .first()
            .map(|m| m.seq)
            .into_iter()
            .chain(unreadable.iter().map(|u| u.seq))
            .min();
        let adds_older = match (first, conversation.oldest_seq()) {
            (Some(first), Some(oldest)) => first < oldest,
            (Some(_), None) => true,
            (None, _) => true,
        };
        conversation.merge_unreadable(unreadable);
        if newest {
            conversation.loaded = true;
        }
        if adds_older {
            conversation.has_more = has_more;
        }
        let last = messages.last().cloned();
        conversation.merge(messages);
        if let Some(last) = last {
            self.note_last_message(last);
        }
    }

    /// Adds an own message that is being sent.
    pub fn add_pending(&mut self, room: RoomId, pending: PendingMessage) {
        self.conversations.entry(room).or_default().pending.push(pending);
    }

    /// Forgets an own message that could not be sent; returns its text.
    pub fn drop_pending(&mut self, client_msg_id: ClientMsgId) -> Option<MessageBody> {
        self.conversations.values_mut().find_map(|c| {
            let at = c.pending.iter().position(|p| p.client_msg_id == client_msg_id)?;
            Some(c.pending.remove(at).body)
        })
    }

    /// Stores a message (from an event or an acknowledgement). Returns whether the room
    /// is unknown, in which case the chat list needs reloading.
    pub fn add_message(&mut self, message: Message) -> bool {
        let room = message.room_id;
        let known = self.summary(room).is_some();
        let conversation = self.conversations.entry(room).or_default();
        let is_new = !conversation.messages.contains_key(&message.seq);
        conversation
            .typing
            .retain(|(user, _)| user.id != message.sender.id);
        let from_other = message.sender.id != self.me.id;
        let counts = message.text().is_some();
        let seq = message.seq;
        conversation.merge([message.clone()]);
        self.note_last_message(message);
        if let Some(summary) = self.summary_mut(room)
            && is_new
            && from_other
            && counts
            && seq > summary.last_read_seq
        {
            summary.unread += 1;
        }
        !known
    }

    /// Keeps members, roles and the room's name in step with a notice. Returns whether the
    /// chat list needs reloading (this user joined a room from another device).
    fn apply_notice(&mut self, room: RoomId, notice: Notice) -> bool {
        let me = self.me.id;
        let notice_kind = match &notice {
            Notice::Removed { .. } => Farewell::Removed,
            Notice::Banned { .. } => Farewell::Banned,
            _ => Farewell::Left,
        };
        match notice {
            Notice::Joined { user } => {
                let joined_me = user.id == me;
                let members = &mut self.conversations.entry(room).or_default().members;
                if !members.iter().any(|m| m.user.id == user.id) {
                    members.push(Member {
                        user,
                        role: chat_proto::Role::Member,
                        online: true,
                    });
                }
                joined_me
            }
            Notice::Left { user } | Notice::Removed { user } | Notice::Banned { user } => {
                if user.id == me {
                    let name = self
                        .summary(room)
                        .map(|s| s.room.name.clone())
                        .unwrap_or_default();
                    match notice_kind {
                        Farewell::Removed => self
                            .farewells
                            .push(format!("You were removed from \u{201c}{name}\u{201d}")),
                        Farewell::Banned => self
                            .farewells
                            .push(format!("You were banned from \u{201c}{name}\u{201d}")),
                        Farewell::Left => {}
                    }
                    self.remove_room(room);
                } else if let Some(c) = self.conversations.get_mut(&room) {
                    c.members.retain(|m| m.user.id != user.id);
                }
                false
            }
            Notice::RoleChanged { user, role } => {
                if let Some(c) = self.conversations.get_mut(&room)
                    && let Some(member) = c.members.iter_mut().find(|m| m.user.id == user.id)
                {
                    member.role = role;
                }
                if user.id == me
                    && let Some(summary) = self.summary_mut(room)
                {
                    summary.role = role;
                }
                false
            }
            Notice::RoomUpdated { name, topic } => {
                if let Some(summary) = self.summary_mut(room) {
                    if let Some(name) = name {
                        summary.room.name = name.to_string();
                    }
                    if let Some(topic) = topic {
                        summary.room.topic = Some(topic).filter(|t| !t.is_empty());
                    }
                }
                false
            }
            _ => false,
        }
    }

    fn note_last_message(&mut self, message: Message) {
        if let Some(summary) = self.summary_mut(message.room_id) {
            let newer = summary
                .last_message
                .as_ref()
                .is_none_or(|last| message.seq >= last.seq);
            if newer {
                summary.last_message = Some(message);
                self.sort();
            }
        }
    }

    /// Records that the user read a room up to `seq`: the messages after it that the window
    /// holds are what is left unread.
    pub fn mark_read(&mut self, room: RoomId, seq: Seq) {
        if let Some(summary) = self.summary_mut(room) {
            summary.last_read_seq = summary.last_read_seq.max(seq);
        }
        self.recount_unread(room);
    }

    /// Counts the unread messages of a room from what is loaded, when the loaded messages
    /// reach back to the read marker (else the server's count stands).
    fn recount_unread(&mut self, room: RoomId) {
        let me = self.me.id;
        let Some(read) = self.summary(room).map(|s| s.last_read_seq) else {
            return;
        };
        let Some(conversation) = self.conversations.get(&room) else {
            return;
        };
        let covers = conversation.oldest_seq().is_some_and(|oldest| oldest <= read + 1);
        if !covers {
            return;
        }
        let unread = conversation
            .messages
            .range(read + 1..)
            .filter(|(_, m)| m.sender.id != me && m.text().is_some())
            .count() as u64;
        if let Some(summary) = self.summary_mut(room) {
            summary.unread = unread;
        }
    }

    /// Applies a pushed event. Returns whether the chat list needs reloading (a room the
    /// window does not know about yet).
    pub fn apply_event(&mut self, event: ClientEvent, now: f64) -> bool {
        match event {
            ClientEvent::Message(message) => match message.notice().cloned() {
                Some(notice) => {
                    let room = message.room_id;
                    let reload = self.add_message(message);
                    self.apply_notice(room, notice) || reload
                }
                None => self.add_message(message),
            },
            ClientEvent::Presence { user, online } => {
                self.set_online(user.id, online);
                false
            }
            ClientEvent::Invited(_) => true,
            ClientEvent::Undecryptable(item) => {
                let room = item.room_id;
                self.conversations
                    .entry(room)
                    .or_default()
                    .merge_unreadable([item]);
                self.summary(room).is_none()
            }
            ClientEvent::Typing { room_id, user } => {
                if user.id != self.me.id {
                    let typing = &mut self.conversations.entry(room_id).or_default().typing;
                    typing.retain(|(u, _)| u.id != user.id);
                    typing.push((user, now + TYPING_SECONDS));
                }
                false
            }
            _ => false,
        }
    }

    /// The connection dropped: nobody's presence is known any more (others are shown
    /// offline rather than with a dot that may be stale), and each chat reloads its newest
    /// page and members when opened again. Messages stay.
    pub fn connection_lost(&mut self) {
        let me = self.me.id;
        for conversation in self.conversations.values_mut() {
            conversation.loaded = false;
            for member in conversation.members.iter_mut().filter(|m| m.user.id != me) {
                member.online = false;
            }
        }
        for summary in &mut self.list {
            if summary.peer_online.is_some() {
                summary.peer_online = Some(false);
            }
        }
    }

    fn set_online(&mut self, user: UserId, online: bool) {
        for conversation in self.conversations.values_mut() {
            for member in conversation.members.iter_mut().filter(|m| m.user.id == user) {
                member.online = online;
            }
        }
        for summary in &mut self.list {
            if summary.room.peer.as_ref().is_some_and(|p| p.id == user) {
                summary.peer_online = Some(online);
            }
        }
    }

    /// Newest activity first; rooms without messages by creation time.
    fn sort(&mut self) {
        self.list.sort_by_key(|s| {
            let at = s.last_message.as_ref().map_or(s.room.created_at, |m| m.sent_at);
            std::cmp::Reverse(at)
        });
    }
}

/// Why this user left a room, for the snackbar.
enum Farewell {
    Left,
    Removed,
    Banned,
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
