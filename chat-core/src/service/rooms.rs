//! Rooms: create, list, join, leave, members, settings, direct chats.
//!
//! Rules:
//! - A group room is private (the default: joined by invitation or invite link) or public
//!   (listed in the directory; anyone may join), fixed at creation. Its creator is its owner.
//! - A private room, or a direct chat, answers everyone who is not a member exactly as a
//!   room that does not exist (`not_found`, "no such room"); only an invitation's answer
//!   (`join_room`, `decline_invitation`) works before joining. A public room tells a
//!   non-member `not_member`. A banned user gets `banned` from a public room's `join_room`.
//! - A direct room has exactly its two users (one for a chat with oneself, Telegram's
//!   "Saved messages"). It cannot be joined by anyone else or left (`invalid_request`):
//!   `open_direct` is how it comes back.
//! - When the last owner leaves, the longest-standing admin becomes the owner, else the
//!   longest-standing member.
//! - Every change to membership, roles and settings is a notice in the room's timeline.

use chat_proto::{
    ErrorBody, ErrorCode, Member, Notice, Response, Role, Room, RoomId, RoomKind, RoomName, RoomSummary,
    RoomTopic, UserInfo, Username, Visibility,
};

use super::connection::Connection;
use super::now_ms;
use super::reply::{Reply, no_such_room, not_member, refuse, store_failed};
use super::room_change::Decision;
use super::rules;
use super::timeline::{open_item, publish_notices};
use crate::store::{MemberOp, NewGroupRoom, RoomAccess, RoomRecord};

/// The room as `viewer` sees it: a direct room is named after the other user.
pub(super) fn room_view(record: &RoomRecord, peer: Option<UserInfo>) -> Room {
    let (name, peer) = match (record.kind, peer) {
        (RoomKind::Direct, Some(peer)) => (peer.username.to_string(), Some(peer)),
        _ => (record.name.clone(), None),
    };
    Room {
        id: record.id,
        kind: record.kind,
        name,
        peer,
        visibility: record.visibility,
        encrypted: record.encrypted,
        topic: RoomTopic::parse(&record.topic).ok().filter(|t| !t.is_empty()),
        member_count: record.member_count,
        created_at: record.created_at,
    }
}

/// What a non-member is told about a room: a room they may not see answers exactly as a
/// missing one; a public room says they are not a member.
pub(super) fn outsider_refusal(room: &RoomRecord) -> ErrorBody {
    if room.kind == RoomKind::Group && room.visibility == Visibility::Public {
        not_member()
    } else {
        no_such_room()
    }
}

/// A room the caller is a member of, with the caller's role.
pub(super) struct Membership {
    pub room: RoomRecord,
    pub role: Role,
}

impl Connection {
    /// The caller's standing in a room.
    pub(super) async fn access(&self, room_id: RoomId) -> Result<RoomAccess, ErrorBody> {
        let me = self.me()?.id;
        self.inner
            .store
            .room_access(room_id, me)
            .await
            .map_err(store_failed)
    }

    /// The room, if the caller is a member; otherwise what a non-member is told.
    pub(super) async fn member_room(&self, room_id: RoomId) -> Result<Membership, ErrorBody> {
        match self.access(room_id).await? {
            RoomAccess::Member { room, role, .. } => Ok(Membership { room, role }),
            RoomAccess::NotMember { room, .. } => Err(outsider_refusal(&room)),
            RoomAccess::NoRoom => Err(no_such_room()),
        }
    }

    /// The other user of a direct room (the caller for a chat with oneself).
    pub(super) async fn direct_peer(&self, record: &RoomRecord) -> Result<Option<UserInfo>, ErrorBody> {
        let me = self.me()?.clone();
        let Some((low, high)) = record.direct else {
            return Ok(None);
        };
        let other = if low == me.id { high } else { low };
        if other == me.id {
            return Ok(Some(me));
        }
        self.inner.store.get_user(other).await.map_err(store_failed)
    }

    /// The room's wire form for the caller, read again after a change.
    pub(super) async fn current_view(&self, room_id: RoomId) -> Reply {
        let room = self.member_room(room_id).await?.room;
        let peer = self.direct_peer(&room).await?;
        Ok(Response::Room {
            room: room_view(&room, peer),
        })
    }

    pub(super) async fn create_room(
        &mut self,
        name: RoomName,
        visibility: Visibility,
        topic: Option<RoomTopic>,
        encrypted: Option<bool>,
    ) -> Reply {
        let me = self.me()?.clone();
        // A public room is readable by whoever joins, so the server may read it too; a
        // private room is encrypted unless its creator says otherwise.
        let encrypted = match (visibility, encrypted) {
            (Visibility::Public, Some(true)) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "a public room cannot be end-to-end encrypted",
                ));
            }
            (Visibility::Public, _) => false,
            (Visibility::Private, choice) => choice.unwrap_or(true),
        };
        let new = NewGroupRoom {
            name,
            topic: topic.filter(|t| !t.is_empty()),
            visibility,
            encrypted,
            creator: me.id,
            notice_id: chat_proto::ClientMsgId::random(),
            now: now_ms(),
        };
        let (record, created) = self
            .inner
            .store
            .create_group_room(&new)
            .await
            .map_err(store_failed)?;
        publish_notices(&self.inner, std::slice::from_ref(&created)).await;
        Ok(Response::Room {
            room: room_view(&record, None),
        })
    }

    /// Joins a public room, or a private room the caller is invited to (accepting).
    pub(super) async fn join_room(&mut self, room_id: RoomId) -> Reply {
        let me = self.me()?.clone();
        let (this, me) = (&*self, &me);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let (room, invited, banned) = match this.access(room_id).await? {
                    RoomAccess::NoRoom => return Err(no_such_room()),
                    RoomAccess::Member { .. } => return Ok(None),
                    RoomAccess::NotMember {
                        room,
                        invited,
                        banned,
                    } => (room, invited, banned),
                };
                let public = room.kind == RoomKind::Group && room.visibility == Visibility::Public;
                if banned && public {
                    return Err(refuse(ErrorCode::Banned, "you are banned from this room"));
                }
                if banned || room.kind == RoomKind::Direct || !(public || invited) {
                    return Err(no_such_room());
                }
                rules::has_space(&room)?;
                Ok(Some(Decision {
                    version: room.state_version,
                    ops: vec![MemberOp::Add {
                        user: me.id,
                        role: rules::joining_role(&room),
                    }],
                    notices: vec![(me.id, Notice::Joined { user: me.clone() })],
                }))
            })
        })
        .await?;
        self.current_view(room_id).await
    }

    pub(super) async fn leave_room(&mut self, room_id: RoomId) -> Reply {
        let me = self.me()?.clone();
        let (this, me) = (&*self, &me);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let joined = this.member_room(room_id).await?;
                if joined.room.kind == RoomKind::Direct {
                    return Err(refuse(ErrorCode::InvalidRequest, "a direct chat cannot be left"));
                }
                let mut ops = vec![MemberOp::Remove { user: me.id }];
                let mut notices = vec![(me.id, Notice::Left { user: me.clone() })];
                if joined.role == Role::Owner
                    && let Some(heir) = this
                        .inner
                        .store
                        .successor(room_id, me.id)
                        .await
                        .map_err(store_failed)?
                    && let Some(heir) = this.inner.store.get_user(heir).await.map_err(store_failed)?
                {
                    ops.push(MemberOp::SetRole {
                        user: heir.id,
                        role: Role::Owner,
                    });
                    notices.push((
                        me.id,
                        Notice::RoleChanged {
                            user: heir,
                            role: Role::Owner,
                        },
                    ));
                }
                Ok(Some(Decision {
                    version: joined.room.state_version,
                    ops,
                    notices,
                }))
            })
        })
        .await?;
        Ok(Response::Ok)
    }

    /// Renames a group room or sets its topic (owner and admins).
    pub(super) async fn update_room(
        &mut self,
        room_id: RoomId,
        name: Option<RoomName>,
        topic: Option<RoomTopic>,
    ) -> Reply {
        let me = self.me()?.id;
        let (this, name, topic) = (&*self, &name, &topic);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let joined = this.member_room(room_id).await?;
                rules::group_only(&joined.room)?;
                rules::require_manager(joined.role)?;
                let name = name.clone().filter(|n| n.as_str() != joined.room.name);
                let topic = topic.clone().filter(|t| t.as_str() != joined.room.topic);
                if name.is_none() && topic.is_none() {
                    return Ok(None);
                }
                Ok(Some(Decision {
                    version: joined.room.state_version,
                    ops: vec![MemberOp::Update {
                        name: name.clone(),
                        topic: topic.clone(),
                    }],
                    notices: vec![(me, Notice::RoomUpdated { name, topic })],
                }))
            })
        })
        .await?;
        self.current_view(room_id).await
    }

    pub(super) async fn list_members(&mut self, room_id: RoomId) -> Reply {
        self.member_room(room_id).await?;
        let members = self
            .inner
            .store
            .list_members(room_id)
            .await
            .map_err(store_failed)?;
        let users: Vec<UserInfo> = members.iter().map(|(user, _)| user.clone()).collect();
        let online = self.online_states(&users).await;
        let members = members
            .into_iter()
            .zip(online)
            .map(|((user, role), online)| Member { user, role, online })
            .collect();
        Ok(Response::Members { room_id, members })
    }

    pub(super) async fn open_direct(&mut self, username: Username) -> Reply {
        let me = self.me()?.clone();
        let peer = self
            .inner
            .store
            .find_user(&username.canonical())
            .await
            .map_err(store_failed)?
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such user"))?
            .user;
        let (record, joined) = self
            .inner
            .store
            .open_direct(me.clone(), peer.clone(), now_ms())
            .await
            .map_err(store_failed)?;
        // A chat created now starts at its first notice, which this node then delivers; an
        // existing one at its last item (the client resumes what came before).
        let start = joined
            .first()
            .map_or(record.last_seq, |notice| notice.seq.saturating_sub(1));
        self.subscribe_locally(&me, record.id, start);
        publish_notices(&self.inner, &joined).await;
        Ok(Response::Room {
            room: room_view(&record, Some(peer)),
        })
    }

    pub(super) async fn list_rooms(&mut self) -> Reply {
        let me = self.me()?.id;
        let listings = self.inner.store.list_rooms(me).await.map_err(store_failed)?;
        let peers: Vec<UserInfo> = listings.iter().filter_map(|l| l.peer.clone()).collect();
        let mut online = self.online_states(&peers).await.into_iter();
        let mut rooms = Vec::with_capacity(listings.len());
        for listing in listings {
            let last_message = match &listing.last_message {
                Some(stored) => Some(open_item(&self.inner.keys, stored)?),
                None => None,
            };
            let peer_online = match listing.peer {
                Some(_) => online.next(),
                None => None,
            };
            rooms.push(RoomSummary {
                room: room_view(&listing.room, listing.peer.clone()),
                last_message,
                unread: listing.unread,
                last_read_seq: listing.last_read_seq,
                peer_online,
                role: listing.role,
            });
        }
        Ok(Response::Rooms { rooms })
    }

    /// Online state of each user; all offline when the broker cannot say.
    pub(super) async fn online_states(&self, users: &[UserInfo]) -> Vec<bool> {
        if users.is_empty() {
            return Vec::new();
        }
        let ids: Vec<_> = users.iter().map(|u| u.id).collect();
        match self.inner.broker.online(&ids).await {
            Ok(states) if states.len() == ids.len() => states,
            Ok(_) => vec![false; ids.len()],
            Err(e) => {
                tracing::warn!(error = %e, "presence unavailable");
                vec![false; ids.len()]
            }
        }
    }
}
