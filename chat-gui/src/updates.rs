//! What the window does with each update from the backend: a request's answer, an event
//! from the server, a change of the connection. Part of [`App`], kept apart from the frame
//! loop.

use chat_client_lib::ClientEvent;

use crate::app::App;
use crate::backend::{Command, Connection, Op, Outcome, Update};
use crate::dialogs::Dialog;
use crate::format::now_ms;
use crate::reasons::describe;
use crate::state::{Chats, PendingMessage};

/// Messages older than this (ms) when they arrive do not notify: they are history caught up
/// after a reconnect, not news.
const NOTIFY_MAX_AGE_MS: i64 = 5 * 60 * 1000;

impl App {
    /// Applies one update from the backend.
    pub(crate) fn apply(&mut self, update: Update, ctx: &egui::Context) {
        match update {
            Update::Done { op, result } => {
                self.pending.remove(&op);
                match result {
                    Ok(outcome) => self.on_outcome(op, outcome, ctx),
                    Err(reason) => self.on_failure(op, reason),
                }
            }
            Update::Event(ClientEvent::SessionEnded { reason }) => {
                self.reset();
                self.snackbar
                    .push(format!("Your session ended ({reason}); log in again"));
            }
            Update::Event(ClientEvent::Sent { message, .. }) => {
                if let Some(chats) = &mut self.chats {
                    chats.add_message(message);
                }
            }
            Update::Event(ClientEvent::SendFailed { entry, error }) => {
                self.on_failure(Op::Send(entry.client_msg_id), describe(&error));
            }
            Update::Event(ClientEvent::CacheSetAside { .. }) => self.snackbar.push(
                "The chats saved on this computer were damaged; they are being rebuilt from the server"
                    .to_owned(),
            ),
            Update::Event(ClientEvent::DevicesChanged { user }) => self.on_devices_changed(user),
            Update::Event(ClientEvent::Invited(invitation)) => {
                self.snackbar.push(format!(
                    "{} invited you to \u{201c}{}\u{201d}",
                    invitation.inviter.username, invitation.room.name
                ));
                self.invitations.retain(|i| i.room.id != invitation.room.id);
                self.invitations.insert(0, invitation);
            }
            Update::Event(event) => {
                if let ClientEvent::Message(message) = &event {
                    self.maybe_notify(ctx, message);
                    crate::safety::on_message(self, message);
                    self.recheck_waiting(message);
                }
                let now = ctx.input(|i| i.time);
                let reload = self
                    .chats
                    .as_mut()
                    .is_some_and(|chats| chats.apply_event(event, now));
                if let Some(chats) = &mut self.chats {
                    for farewell in chats.farewells.drain(..) {
                        self.snackbar.push(farewell);
                    }
                }
                if reload && !self.is_pending(Op::ListRooms) {
                    self.request(Command::ListRooms);
                }
            }
            Update::Connection(connection) => self.on_connection(connection),
        }
    }

    /// Someone's devices changed: a verified contact's are looked at again (the chat warns
    /// when they are not the ones verified), and a new login of this user shows on the
    /// devices page if it is open.
    fn on_devices_changed(&mut self, user: chat_proto::UserInfo) {
        let me = self.chats.as_ref().map(|c| c.me.id);
        if Some(user.id) == me {
            if matches!(self.dialog, Some(Dialog::Devices(_))) && !self.is_pending(Op::Devices) {
                self.request(Command::Devices);
            }
        } else {
            crate::safety::check_peer(self, Some(user));
        }
    }

    /// Placeholders that waited for keys before a message this device could read: the keys
    /// came, so the newest page is loaded again and says what each of them really is (read
    /// now, or sent before this device joined).
    fn recheck_waiting(&mut self, message: &chat_proto::Message) {
        let room = message.room_id;
        let waiting = self
            .chats
            .as_ref()
            .and_then(|c| c.conversations.get(&room))
            .is_some_and(|c| {
                c.unreadable
                    .range(..message.seq)
                    .any(|(_, u)| u.reason == chat_client_lib::e2ee::UndecryptableReason::WaitingForKeys)
            });
        if waiting && !self.is_pending(Op::OpenRoom(room)) && self.connection == Connection::Online {
            self.request(Command::OpenRoom(room));
        }
    }

    /// A desktop notification for a new message from someone else in a chat the user is not
    /// looking at (another chat, or the window is in the background).
    fn maybe_notify(&self, ctx: &egui::Context, message: &chat_proto::Message) {
        let Some(chats) = &self.chats else { return };
        let Some(text) = message.text() else { return };
        let from_other = message.sender.id != chats.me.id;
        let fresh = now_ms() - message.sent_at < NOTIFY_MAX_AGE_MS;
        let looking = ctx.input(|i| i.focused) && chats.selected == Some(message.room_id);
        if !from_other || !fresh || looking {
            return;
        }
        let title = match chats.summary(message.room_id) {
            Some(summary) if summary.room.kind == chat_proto::RoomKind::Group => {
                format!("{} in {}", message.sender.username, summary.room.name)
            }
            _ => message.sender.username.to_string(),
        };
        self.config
            .notifier
            .notify(&title, &crate::notify::preview(text.as_str()));
    }

    fn on_connection(&mut self, connection: Connection) {
        let came_back = connection == Connection::Online && self.connection != Connection::Online;
        let lost = self.connection == Connection::Online && connection != Connection::Online;
        self.connection = connection;
        if lost && let Some(chats) = &mut self.chats {
            chats.connection_lost();
        }
        if came_back && self.chats.is_some() {
            // Unread counts and new chats may have changed while away; messages themselves
            // are resumed by the client library.
            self.request(Command::ListRooms);
            self.request(Command::ListInvitations);
            if let Some(room) = self.chats.as_ref().and_then(|c| c.selected) {
                self.open_room(room);
            }
        }
    }

    fn on_outcome(&mut self, op: Op, outcome: Outcome, ctx: &egui::Context) {
        match outcome {
            Outcome::LoggedIn {
                user,
                cached,
                offline,
                queued,
            } => {
                let selected = self.chats.as_ref().and_then(|c| c.selected);
                self.verified = crate::verified::Verified::load(&self.config.backend.cache_dir, &user);
                self.device_warnings.clear();
                let mut chats = Chats::new(user, cached);
                chats.selected = selected;
                // What the outbox still holds from the last run shows as on its way.
                for entry in queued {
                    chats.add_pending(
                        entry.room_id,
                        PendingMessage {
                            client_msg_id: entry.client_msg_id,
                            body: entry.body,
                            written_at: entry.queued_at,
                        },
                    );
                }
                self.chats = Some(chats);
                self.offline_login = offline;
                if offline {
                    self.snackbar
                        .push("Offline: showing the chats saved on this computer".to_owned());
                } else {
                    self.login.password.clear();
                    if op != Op::Resume {
                        self.remember_login();
                    }
                    self.request(Command::ListRooms);
                    self.request(Command::ListInvitations);
                    if let Some(room) = selected {
                        self.open_room(room);
                    }
                }
            }
            Outcome::LoggedOut => self.reset(),
            Outcome::Rooms(rooms) => {
                if let Some(chats) = &mut self.chats {
                    chats.set_rooms(rooms);
                }
            }
            Outcome::History {
                room,
                messages,
                unreadable,
                has_more,
                members,
            } => {
                let newest = matches!(op, Op::OpenRoom(_));
                if let Some(chats) = &mut self.chats {
                    chats.add_page(room, messages, unreadable, has_more, newest);
                    if let Some(members) = members {
                        chats.set_members(room, members);
                    }
                }
            }
            Outcome::Sent(message) => {
                if let Some(chats) = &mut self.chats {
                    chats.add_message(message);
                }
            }
            Outcome::Room(room) => self.on_room(op, room),
            Outcome::InviteLink(link) => {
                if let Some(Dialog::Invite(invite)) = &mut self.dialog {
                    invite.link = Some(link.clone());
                    // The new link joins the list.
                    invite.links = None;
                }
                ctx.copy_text(link);
                self.snackbar
                    .push("Invite link copied: whoever has it can join".to_owned());
            }
            Outcome::Invitations(invitations) => self.invitations = invitations,
            Outcome::InviteLinks(room, links) => {
                if let Some(Dialog::Invite(invite)) = &mut self.dialog
                    && invite.room == room
                {
                    invite.links = Some(links);
                }
            }
            Outcome::Members(room, members) => {
                if let Some(chats) = &mut self.chats {
                    chats.set_members(room, members);
                }
            }
            Outcome::Bans(room, bans) => {
                self.bans.insert(room, bans);
            }
            Outcome::Directory { rooms, next, more } => {
                if let Some(Dialog::Directory(directory)) = &mut self.dialog {
                    directory.show_page(rooms, next, more);
                }
            }
            Outcome::Safety {
                user,
                number,
                devices,
            } => {
                crate::safety::on_number(self, user, number, devices);
            }
            Outcome::ContactDevices(user, devices) => crate::safety::on_devices(self, &user, &devices),
            Outcome::Devices { devices, this_device } => {
                if let Some(Dialog::Devices(dialog)) = &mut self.dialog {
                    dialog.devices = Some(devices);
                    dialog.this_device = this_device;
                }
            }
            Outcome::Ok => self.on_ok(op),
        }
    }

    fn on_room(&mut self, op: Op, room: chat_proto::Room) {
        let id = room.id;
        if let Some(chats) = &mut self.chats {
            chats.add_room(room.clone());
            chats.update_room(&room);
        }
        if let Op::Invitation(_) = op {
            self.invitations.retain(|i| i.room.id != id);
        }
        if matches!(
            op,
            Op::CreateRoom | Op::JoinRoom | Op::OpenDirect | Op::Invitation(_)
        ) {
            if !matches!(self.dialog, Some(Dialog::Invitations)) || self.invitations.is_empty() {
                self.dialog = None;
            }
            self.open_room(id);
            // The list entry carries what the room alone does not: the last
            // message, unread count, role and the peer's online state.
            if !self.is_pending(Op::ListRooms) {
                self.request(Command::ListRooms);
            }
        }
        if let Op::UpdateRoom(_) = op {
            self.snackbar.push("Room settings saved".to_owned());
        }
    }

    fn on_ok(&mut self, op: Op) {
        match op {
            Op::LeaveRoom(room) => {
                if let Some(chats) = &mut self.chats {
                    chats.remove_room(room);
                }
                self.show_info = false;
            }
            Op::Invitation(room) => {
                self.invitations.retain(|i| i.room.id != room);
                if self.invitations.is_empty() && matches!(self.dialog, Some(Dialog::Invitations)) {
                    self.dialog = None;
                }
            }
            Op::Invite => {
                if let Some(Dialog::Invite(invite)) = &mut self.dialog {
                    let name = std::mem::take(&mut invite.username);
                    self.snackbar.push(format!("Invited {}", name.trim()));
                }
            }
            Op::RevokeLink(_) => {
                if let Some(Dialog::Invite(invite)) = &mut self.dialog {
                    invite.links = None;
                }
                self.snackbar
                    .push("Invite link revoked: it no longer works".to_owned());
            }
            Op::RemoveDevice(_) => {
                self.snackbar
                    .push("Device removed: it can no longer read your encrypted chats".to_owned());
                crate::devices::open(self);
            }
            Op::Moderate(room, _) => {
                // Roles and bans changed: show them as the server has them now.
                self.request(Command::LoadMembers(room));
                if self.bans.contains_key(&room) {
                    self.request(Command::ListBans(room));
                }
            }
            _ => {}
        }
    }

    fn on_failure(&mut self, op: Op, reason: String) {
        match op {
            Op::Send(id) => {
                // Give the text back so that nothing typed is lost.
                let body = self.chats.as_mut().and_then(|c| c.drop_pending(id));
                let room = self.chats.as_ref().and_then(|c| c.selected);
                if let (Some(body), Some(room)) = (body, room) {
                    let draft = self.drafts.entry(room).or_default();
                    if draft.trim().is_empty() {
                        *draft = body.into_string();
                    }
                }
                self.snackbar.push(format!("Message not sent: {reason}"));
            }
            Op::Logout => {
                // The session ends locally either way.
                self.reset();
                self.snackbar.push(format!("Logged out locally: {reason}"));
            }
            Op::Background => {}
            // Nothing saved is not worth a word.
            Op::Resume if reason.is_empty() => {}
            _ => self.snackbar.push(reason),
        }
    }
}
