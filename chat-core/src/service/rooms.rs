//! Rooms: create, list, join, leave, members, direct chats.
//!
//! Rules:
//! - A group room is joined by id by anyone; joining twice is not an error.
//! - A direct room has exactly its two users (one for a chat with oneself, Telegram's "Saved
//!   messages"). Nobody else can join it: `join_room` on someone else's direct room answers
//!   `not_member`, the same code every other request about that room gives a non-member.
//!   It cannot be left either (`invalid_request`): `open_direct` is how it comes back.
//! - Membership changes ride on a broker event so that every node (un)subscribes the user's
//!   connections; this node subscribes its own at once too.

use chat_proto::{
    ErrorBody, ErrorCode, Event, Member, Response, Room, RoomId, RoomKind, RoomName, RoomSummary, Seq,
    UserInfo, Username,
};

use super::connection::{Connection, event_payload};
use super::messages::open_message;
use super::now_ms;
use super::reply::{Reply, no_such_room, not_member, refuse, store_failed};
use crate::broker::{BrokerEvent, MembershipChange, RoomEvent};
use crate::store::{RoomAccess, RoomRecord};

/// The room as `viewer` sees it: a direct room is named after the other user.
fn room_view(record: &RoomRecord, peer: Option<UserInfo>) -> Room {
    let (name, peer) = match (record.kind, peer) {
        (RoomKind::Direct, Some(peer)) => (peer.username.to_string(), Some(peer)),
        _ => (record.name.clone(), None),
    };
    Room {
        id: record.id,
        kind: record.kind,
        name,
        peer,
        created_at: record.created_at,
    }
}

impl Connection {
    /// The room, if the caller is a member: `not_found` or `not_member` otherwise.
    pub(super) async fn member_room(&self, room_id: RoomId) -> Result<(RoomRecord, Seq), ErrorBody> {
        let me = self.me()?.id;
        match self
            .inner
            .store
            .room_access(room_id, me)
            .await
            .map_err(store_failed)?
        {
            RoomAccess::Member { room, last_read_seq } => Ok((room, last_read_seq)),
            RoomAccess::NotMember(_) => Err(not_member()),
            RoomAccess::NoRoom => Err(no_such_room()),
        }
    }

    /// The other user of a direct room (the caller for a chat with oneself).
    async fn direct_peer(&self, record: &RoomRecord) -> Result<Option<UserInfo>, ErrorBody> {
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

    /// Publishes a membership change with its event to every node.
    async fn publish_membership(&self, room_id: RoomId, user: UserInfo, change: MembershipChange) {
        let event = match change {
            MembershipChange::Joined(_) => Event::MemberJoined { room_id, user },
            MembershipChange::Left(_) => Event::MemberLeft { room_id, user },
        };
        let event = BrokerEvent::Room(RoomEvent {
            room_id,
            payload: event_payload(event),
            membership: Some(change),
            skip_user: None,
        });
        if let Err(e) = self.inner.broker.publish(event).await {
            tracing::warn!(error = %e, room = %room_id, "cannot publish a membership change");
        }
    }

    pub(super) async fn create_room(&mut self, name: RoomName) -> Reply {
        let me = self.me()?.clone();
        let record = self
            .inner
            .store
            .create_group_room(&name, me.id, now_ms())
            .await
            .map_err(store_failed)?;
        self.subscribe_locally(&me, record.id);
        self.publish_membership(record.id, me.clone(), MembershipChange::Joined(me.id))
            .await;
        Ok(Response::Room {
            room: room_view(&record, None),
        })
    }

    pub(super) async fn join_room(&mut self, room_id: RoomId) -> Reply {
        let me = self.me()?.clone();
        let access = self
            .inner
            .store
            .room_access(room_id, me.id)
            .await
            .map_err(store_failed)?;
        let record = match access {
            RoomAccess::NoRoom => return Err(no_such_room()),
            RoomAccess::Member { room, .. } => {
                let peer = self.direct_peer(&room).await?;
                return Ok(Response::Room {
                    room: room_view(&room, peer),
                });
            }
            RoomAccess::NotMember(room) if room.kind == RoomKind::Direct => {
                return Err(refuse(ErrorCode::NotMember, "a direct chat cannot be joined"));
            }
            RoomAccess::NotMember(room) => room,
        };
        let added = self
            .inner
            .store
            .add_member(room_id, me.id, now_ms())
            .await
            .map_err(store_failed)?;
        self.subscribe_locally(&me, room_id);
        if added {
            self.publish_membership(room_id, me.clone(), MembershipChange::Joined(me.id))
                .await;
        }
        Ok(Response::Room {
            room: room_view(&record, None),
        })
    }

    pub(super) async fn leave_room(&mut self, room_id: RoomId) -> Reply {
        let me = self.me()?.clone();
        let (record, _) = self.member_room(room_id).await?;
        if record.kind == RoomKind::Direct {
            return Err(refuse(ErrorCode::InvalidRequest, "a direct chat cannot be left"));
        }
        let removed = self
            .inner
            .store
            .remove_member(room_id, me.id)
            .await
            .map_err(store_failed)?;
        if removed {
            self.publish_membership(room_id, me.clone(), MembershipChange::Left(me.id))
                .await;
        }
        // Also here, in case the broker could not carry the change.
        self.inner.hub.unsubscribe_user(me.id, room_id);
        Ok(Response::Ok)
    }

    pub(super) async fn list_members(&mut self, room_id: RoomId) -> Reply {
        self.member_room(room_id).await?;
        let users = self
            .inner
            .store
            .list_members(room_id)
            .await
            .map_err(store_failed)?;
        let online = self.online_states(&users).await;
        let members = users
            .into_iter()
            .zip(online)
            .map(|(user, online)| Member { user, online })
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
        let (record, created) = self
            .inner
            .store
            .open_direct(me.id, peer.id, now_ms())
            .await
            .map_err(store_failed)?;
        self.subscribe_locally(&me, record.id);
        if created {
            self.publish_membership(record.id, me.clone(), MembershipChange::Joined(me.id))
                .await;
            if peer.id != me.id {
                self.publish_membership(record.id, peer.clone(), MembershipChange::Joined(peer.id))
                    .await;
            }
        }
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
                Some(stored) => Some(open_message(&self.inner.keys, stored)?),
                None => None,
            };
            let peer_online = match listing.peer {
                Some(_) => online.next(),
                None => None,
            };
            rooms.push(RoomSummary {
                room: room_view(&listing.room, listing.peer.clone()),
                last_message,
                unread: listing.room.last_seq.saturating_sub(listing.last_read_seq),
                last_read_seq: listing.last_read_seq,
                peer_online,
            });
        }
        Ok(Response::Rooms { rooms })
    }

    /// Online state of each user; all offline when the broker cannot say.
    async fn online_states(&self, users: &[UserInfo]) -> Vec<bool> {
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
