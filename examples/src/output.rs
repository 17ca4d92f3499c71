//! How the CLI shows results and events: lines for people, or one JSON object per line for
//! scripts (`--json`).

use chat_client_lib::display::item_text;
use chat_client_lib::{ClientEvent, ConnectionState};
use chat_proto::{Member, Message, Room, RoomId, RoomSummary, SessionInfo};
use serde_json::json;

/// Formats output lines in the chosen style.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// The local time zone, for message times.
    pub offset: time::UtcOffset,
}

impl Printer {
    /// A printer for people (`json: false`) or scripts, showing times in UTC.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            offset: time::UtcOffset::UTC,
        }
    }

    /// `HH:MM` of a server timestamp, in the printer's time zone.
    pub fn time(&self, at_ms: i64) -> String {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(self.offset);
        format!("{:02}:{:02}", at.hour(), at.minute())
    }

    /// After login or register.
    pub fn session(&self, info: &SessionInfo) -> String {
        if self.json {
            json!({"kind": "session", "user": info.user}).to_string()
        } else {
            format!("logged in as {} (user {})", info.user.username, info.user.id)
        }
    }

    /// A room that was created, joined or opened.
    pub fn room(&self, room: &Room) -> String {
        if self.json {
            json!({"kind": "room", "room": room}).to_string()
        } else {
            format!("#{} {} ({})", room.id, room.name, kind(room))
        }
    }

    /// The chat list.
    pub fn rooms(&self, rooms: &[RoomSummary]) -> String {
        if self.json {
            return json!({"kind": "rooms", "rooms": rooms}).to_string();
        }
        if rooms.is_empty() {
            return "no rooms yet: /create NAME, /join ROOM or /dm USER".into();
        }
        let lines: Vec<String> = rooms
            .iter()
            .map(|s| {
                let last = s
                    .last_message
                    .as_ref()
                    .map(|m| format!(" | {}: {}", m.sender.username, first_line(&item_text(m))))
                    .unwrap_or_default();
                let online = match s.peer_online {
                    Some(true) => " (online)",
                    Some(false) => " (offline)",
                    None => "",
                };
                format!(
                    "#{} {}{online} [{} unread]{last}",
                    s.room.id, s.room.name, s.unread
                )
            })
            .collect();
        lines.join("\n")
    }

    /// One message.
    pub fn message(&self, m: &Message) -> String {
        if self.json {
            json!({"kind": "message", "message": m}).to_string()
        } else {
            match m.notice() {
                Some(_) => format!("[{} #{}] * {}", self.time(m.sent_at), m.room_id, item_text(m)),
                None => format!(
                    "[{} #{}] {}: {}",
                    self.time(m.sent_at),
                    m.room_id,
                    m.sender.username,
                    item_text(m)
                ),
            }
        }
    }

    /// A message this user sent: in JSON the stored message, as text a short receipt (the
    /// message itself shows up as an event).
    pub fn sent(&self, m: &Message) -> String {
        if self.json {
            self.message(m)
        } else {
            format!("sent to #{} as {}", m.room_id, m.seq)
        }
    }

    /// A page of messages.
    pub fn messages(&self, room: RoomId, messages: &[Message]) -> String {
        if self.json {
            return json!({"kind": "messages", "room_id": room, "messages": messages}).to_string();
        }
        if messages.is_empty() {
            return format!("no messages in #{room}");
        }
        messages
            .iter()
            .map(|m| self.message(m))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A room's members.
    pub fn members(&self, room: RoomId, members: &[Member]) -> String {
        if self.json {
            return json!({"kind": "members", "room_id": room, "members": members}).to_string();
        }
        members
            .iter()
            .map(|m| format!("{} {}", if m.online { "●" } else { "○" }, m.user.username))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A request that returns nothing succeeded.
    pub fn ok(&self, what: &str) -> String {
        if self.json {
            json!({"kind": "ok", "what": what}).to_string()
        } else {
            what.to_owned()
        }
    }

    /// A pushed event (other than messages, which use [`Printer::message`]).
    pub fn event(&self, event: &ClientEvent) -> Option<String> {
        let text = match event {
            ClientEvent::Message(m) => return Some(self.message(m)),
            ClientEvent::Presence { user, online } if !self.json => {
                format!(
                    "* {} is {}",
                    user.username,
                    if *online { "online" } else { "offline" }
                )
            }
            ClientEvent::Invited(invitation) if !self.json => {
                format!(
                    "* {} invited you to #{} {} (/join {} to accept)",
                    invitation.inviter.username, invitation.room.id, invitation.room.name, invitation.room.id
                )
            }
            ClientEvent::Typing { room_id, user } if !self.json => {
                format!("* {} is typing in #{room_id}", user.username)
            }
            ClientEvent::SessionEnded { reason } if !self.json => {
                format!("* session ended: {reason}; /login again")
            }
            ClientEvent::CacheSetAside { path } if !self.json => {
                format!("* saved chats were damaged; moved to {}", path.display())
            }
            ClientEvent::SendFailed { entry, error } if !self.json => {
                format!(
                    "* not sent to #{}: {:?}: {}",
                    entry.room_id,
                    entry.body.as_str(),
                    chat_client_lib::error::report(error)
                )
            }
            ClientEvent::ReconnectGaveUp { attempts, reason } if !self.json => {
                format!("* gave up reconnecting after {attempts} attempts: {reason}; any command retries")
            }
            ClientEvent::Undecryptable(item) => {
                if self.json {
                    json!({
                        "kind": "undecryptable",
                        "room_id": item.room_id,
                        "seq": item.seq,
                        "sender": item.sender,
                        "reason": item.reason.describe(),
                    })
                    .to_string()
                } else {
                    format!(
                        "[#{} {}] {}: (encrypted message: {})",
                        item.room_id,
                        item.seq,
                        item.sender.username,
                        item.reason.describe()
                    )
                }
            }
            ClientEvent::DevicesChanged { user } => {
                if self.json {
                    json!({"kind": "devices_changed", "user": user}).to_string()
                } else {
                    format!(
                        "* {0}'s devices changed: the safety number is new (/safety {0}, /devices {0})",
                        user.username
                    )
                }
            }
            // Own messages show up once, as messages; the outbox's report adds nothing.
            ClientEvent::Sent { .. } => return None,
            _ if self.json => json!({"kind": "event", "event": format!("{event:?}")}).to_string(),
            _ => return None,
        };
        Some(text)
    }

    /// A change of connection state (shown in the REPL).
    pub fn state(&self, state: &ConnectionState) -> Option<String> {
        let text = match state {
            ConnectionState::Reconnecting { attempt } => {
                format!("* connection lost; reconnecting (attempt {attempt})")
            }
            ConnectionState::Failed { reason, attempts } => {
                format!("* cannot reach the server after {attempts} attempt(s): {reason}")
            }
            ConnectionState::Connected => "* connected".into(),
            _ => return None,
        };
        Some(if self.json {
            json!({"kind": "state", "state": text.trim_start_matches("* ")}).to_string()
        } else {
            text
        })
    }
}

fn kind(room: &Room) -> &'static str {
    match room.kind {
        chat_proto::RoomKind::Group => "group",
        chat_proto::RoomKind::Direct => "direct",
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_client_lib::{ClientMsgId, MessageId, RoomId, UserId, UserInfo};
    use chat_proto::{MessageBody, Username};

    #[test]
    fn a_message_shows_its_local_time_room_sender_and_text() {
        let message = Message {
            id: MessageId::new(1).unwrap(),
            room_id: RoomId::new(3).unwrap(),
            seq: 9,
            sender: UserInfo {
                id: UserId::new(1).unwrap(),
                username: Username::parse("alice").unwrap(),
            },
            client_msg_id: ClientMsgId::random(),
            // 2023-11-14 22:13:20 UTC
            sent_at: 1_700_000_000_000,
            device_id: None,
            content: chat_client_lib::chat_proto::Content::Text {
                body: MessageBody::parse("hello").unwrap(),
            },
        };
        let printer = Printer {
            json: false,
            offset: time::UtcOffset::from_hms(2, 0, 0).unwrap(),
        };
        assert_eq!(printer.message(&message), "[00:13 #3] alice: hello");
        assert_eq!(Printer::new(false).message(&message), "[22:13 #3] alice: hello");
        let json: serde_json::Value = serde_json::from_str(&Printer::new(true).message(&message)).unwrap();
        assert_eq!(json["message"]["seq"], 9);
    }
}
