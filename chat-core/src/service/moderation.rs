//! Invitations, removals, bans and roles: what the owner and admins of a group room do to
//! its members (the rules are in `rules`).
//!
//! A removal or ban is a notice in the room's timeline: delivered to the removed member as
//! the last thing they receive from the room, on every node, at the place in the room's
//! order where it was stored; from then on history and posting are refused. A ban also
//! deletes the user's invitation and outlives invite links until it is lifted.

use chat_proto::{
    Ban, ErrorBody, ErrorCode, Event, Invitation, Notice, Response, Role, RoomId, UserId, UserInfo, Username,
};

use super::connection::{Connection, event_payload};
use super::reply::{Reply, no_such_room, refuse, store_failed};
use super::room_change::Decision;
use super::rooms::{Membership, outsider_refusal, room_view};
use super::rules;
use crate::broker::BrokerEvent;
use crate::store::{MemberOp, RoomAccess};

/// The answer about a user who is not a member of the room.
fn no_such_member() -> ErrorBody {
    refuse(ErrorCode::NotFound, "no such member in this room")
}

impl Connection {
    /// The start of every decision about another person in a group room: the caller's
    /// membership, checked by `require` (manager or owner), and what the room holds of
    /// `target`.
    async fn acting_on(
        &self,
        room_id: RoomId,
        target: UserId,
        require: fn(Role) -> Result<(), ErrorBody>,
    ) -> Result<(Membership, RoomAccess), ErrorBody> {
        let joined = self.member_room(room_id).await?;
        rules::group_only(&joined.room)?;
        require(joined.role)?;
        let access = self
            .inner
            .store
            .room_access(room_id, target)
            .await
            .map_err(store_failed)?;
        Ok((joined, access))
    }

    /// A user by id, `not_found` when there is none.
    async fn user_by_id(&self, id: UserId) -> Result<UserInfo, ErrorBody> {
        self.inner
            .store
            .get_user(id)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such user"))
    }

    pub(super) async fn invite(&mut self, room_id: RoomId, username: Username) -> Reply {
        let me = self.me()?.clone();
        // The room and the caller's right first: who exists is not for outsiders to probe.
        let joined = self.member_room(room_id).await?;
        rules::group_only(&joined.room)?;
        rules::require_manager(joined.role)?;
        let invitee = self
            .inner
            .store
            .find_user(&username.canonical())
            .await
            .map_err(store_failed)?
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such user"))?
            .user;
        let (this, me_ref, invitee_ref) = (&*self, &me, &invitee);
        let stored = this
            .apply_change(room_id, move || {
                Box::pin(async move {
                    let (me, invitee) = (me_ref, invitee_ref);
                    let (joined, access) = this
                        .acting_on(room_id, invitee.id, rules::require_manager)
                        .await?;
                    match access {
                        RoomAccess::NotMember { banned: true, .. } => Err(refuse(
                            ErrorCode::InvalidRequest,
                            "this user is banned from the room; lift the ban first",
                        )),
                        RoomAccess::NotMember { invited: false, .. } => Ok(Some(Decision {
                            version: joined.room.state_version,
                            ops: vec![MemberOp::Invite {
                                user: invitee.id,
                                by: me.id,
                            }],
                            notices: vec![(
                                me.id,
                                Notice::Invited {
                                    user: invitee.clone(),
                                },
                            )],
                        })),
                        // Already invited, or already a member: nothing to do.
                        _ => Ok(None),
                    }
                })
            })
            .await?;
        if let Some(notice) = stored.first() {
            self.tell_invitee(room_id, &invitee, &me, notice.sent_at).await;
        }
        Ok(Response::Ok)
    }

    /// Sends the `invited` event to every connection of the invitee, on every node.
    async fn tell_invitee(&self, room_id: RoomId, invitee: &UserInfo, inviter: &UserInfo, at: i64) {
        let room = match self.inner.store.room_access(room_id, invitee.id).await {
            Ok(access) => access.room().cloned(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the room of an invitation");
                None
            }
        };
        let Some(room) = room else { return };
        let event = Event::Invited {
            invitation: Invitation {
                room: room_view(&room, None),
                inviter: inviter.clone(),
                invited_at: at,
            },
        };
        let event = BrokerEvent::Users {
            user_ids: vec![invitee.id].into(),
            payload: event_payload(event),
        };
        if let Err(e) = self.inner.broker.publish(event).await {
            tracing::warn!(error = %e, "an invitation was stored but not announced");
        }
    }

    pub(super) async fn list_invitations(&mut self) -> Reply {
        let me = self.me()?.id;
        let invitations = self
            .inner
            .store
            .list_invitations(me)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(|record| Invitation {
                room: room_view(&record.room, None),
                inviter: record.inviter,
                invited_at: record.invited_at,
            })
            .collect();
        Ok(Response::Invitations { invitations })
    }

    pub(super) async fn decline_invitation(&mut self, room_id: RoomId) -> Reply {
        let me = self.me()?.clone();
        let (this, me) = (&*self, &me);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                match this.access(room_id).await? {
                    RoomAccess::NotMember {
                        room, invited: true, ..
                    } => Ok(Some(Decision {
                        version: room.state_version,
                        ops: vec![MemberOp::Uninvite { user: me.id }],
                        notices: vec![(me.id, Notice::Declined { user: me.clone() })],
                    })),
                    RoomAccess::NotMember { room, .. } => Err(outsider_refusal(&room)),
                    RoomAccess::Member { .. } => Err(refuse(
                        ErrorCode::InvalidRequest,
                        "you are a member of this room; to go, use leave_room",
                    )),
                    RoomAccess::NoRoom => Err(no_such_room()),
                }
            })
        })
        .await?;
        Ok(Response::Ok)
    }

    pub(super) async fn remove_member(&mut self, room_id: RoomId, user_id: UserId) -> Reply {
        let me = self.me()?.id;
        rules::not_self(me, user_id)?;
        let this = &*self;
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let (joined, access) = this.acting_on(room_id, user_id, rules::require_manager).await?;
                let Some(target) = access.role() else {
                    return Err(no_such_member());
                };
                rules::require_outranks(joined.role, target)?;
                let user = this.user_by_id(user_id).await?;
                Ok(Some(Decision {
                    version: joined.room.state_version,
                    ops: vec![MemberOp::Remove { user: user_id }],
                    notices: vec![(me, Notice::Removed { user })],
                }))
            })
        })
        .await?;
        Ok(Response::Ok)
    }

    pub(super) async fn ban(&mut self, room_id: RoomId, user_id: UserId) -> Reply {
        let me = self.me()?.id;
        rules::not_self(me, user_id)?;
        let user = self.user_by_id(user_id).await?;
        let (this, user) = (&*self, &user);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let (joined, access) = this.acting_on(room_id, user_id, rules::require_manager).await?;
                let ops = match access {
                    RoomAccess::Member { role, .. } => {
                        rules::require_outranks(joined.role, role)?;
                        vec![
                            MemberOp::Remove { user: user_id },
                            MemberOp::Ban {
                                user: user_id,
                                by: me,
                            },
                        ]
                    }
                    RoomAccess::NotMember { banned: true, .. } => return Ok(None),
                    RoomAccess::NotMember { .. } => vec![MemberOp::Ban {
                        user: user_id,
                        by: me,
                    }],
                    RoomAccess::NoRoom => return Err(no_such_room()),
                };
                Ok(Some(Decision {
                    version: joined.room.state_version,
                    ops,
                    notices: vec![(me, Notice::Banned { user: user.clone() })],
                }))
            })
        })
        .await?;
        Ok(Response::Ok)
    }

    pub(super) async fn unban(&mut self, room_id: RoomId, user_id: UserId) -> Reply {
        let me = self.me()?.id;
        let user = self.user_by_id(user_id).await?;
        let (this, user) = (&*self, &user);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let (joined, access) = this.acting_on(room_id, user_id, rules::require_manager).await?;
                if !matches!(access, RoomAccess::NotMember { banned: true, .. }) {
                    return Ok(None);
                }
                Ok(Some(Decision {
                    version: joined.room.state_version,
                    ops: vec![MemberOp::Unban { user: user_id }],
                    notices: vec![(me, Notice::Unbanned { user: user.clone() })],
                }))
            })
        })
        .await?;
        Ok(Response::Ok)
    }

    pub(super) async fn list_bans(&mut self, room_id: RoomId) -> Reply {
        let joined = self.member_room(room_id).await?;
        rules::group_only(&joined.room)?;
        rules::require_manager(joined.role)?;
        let bans = self
            .inner
            .store
            .list_bans(room_id)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(|b| Ban {
                user: b.user,
                banned_by: b.banned_by,
                banned_at: b.banned_at,
            })
            .collect();
        Ok(Response::Bans { room_id, bans })
    }

    /// Makes a member an admin or a member again (owner only).
    pub(super) async fn set_role(&mut self, room_id: RoomId, user_id: UserId, role: Role) -> Reply {
        let me = self.me()?.id;
        rules::not_self(me, user_id)?;
        if role == Role::Owner {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "ownership moves with transfer_ownership",
            ));
        }
        let this = &*self;
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let (joined, access) = this.acting_on(room_id, user_id, rules::require_owner).await?;
                match access.role() {
                    None => Err(no_such_member()),
                    Some(current) if current == role => Ok(None),
                    Some(_) => Ok(Some(Decision {
                        version: joined.room.state_version,
                        ops: vec![MemberOp::SetRole { user: user_id, role }],
                        notices: vec![(
                            me,
                            Notice::RoleChanged {
                                user: this.user_by_id(user_id).await?,
                                role,
                            },
                        )],
                    })),
                }
            })
        })
        .await?;
        Ok(Response::Ok)
    }

    /// Makes another member the owner; the caller becomes an admin (owner only).
    pub(super) async fn transfer_ownership(&mut self, room_id: RoomId, user_id: UserId) -> Reply {
        let me = self.me()?.clone();
        rules::not_self(me.id, user_id)?;
        let (this, me) = (&*self, &me);
        this.apply_change(room_id, move || {
            Box::pin(async move {
                let (joined, access) = this.acting_on(room_id, user_id, rules::require_owner).await?;
                if access.role().is_none() {
                    return Err(no_such_member());
                }
                let heir = this.user_by_id(user_id).await?;
                Ok(Some(Decision {
                    version: joined.room.state_version,
                    ops: vec![
                        MemberOp::SetRole {
                            user: user_id,
                            role: Role::Owner,
                        },
                        MemberOp::SetRole {
                            user: me.id,
                            role: Role::Admin,
                        },
                    ],
                    notices: vec![
                        (
                            me.id,
                            Notice::RoleChanged {
                                user: heir,
                                role: Role::Owner,
                            },
                        ),
                        (
                            me.id,
                            Notice::RoleChanged {
                                user: me.clone(),
                                role: Role::Admin,
                            },
                        ),
                    ],
                }))
            })
        })
        .await?;
        Ok(Response::Ok)
    }
}
