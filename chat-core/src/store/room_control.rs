//! The records of rooms that people control: a change to a room's membership, roles,
//! invitations, bans or settings ([`RoomChange`]), invitations, invite links and bans as
//! stored, and the directory's cursor.
//!
//! The service decides a change from what it read (the rules live in the service, once,
//! for every store); the store applies it in one transaction only if the room is still at
//! the version the decision was made on, and appends the change's notices to the room's
//! timeline with their sequence numbers. A change that lost a race is reported as stale and
//! decided again from fresh state, so two admins acting at once never break a rule.

use chat_proto::{ClientMsgId, InviteLinkId, Notice, Role, RoomId, RoomName, RoomTopic, UserId, UserInfo};

use super::records::{Millis, RoomRecord, TokenHash};

/// One step of a [`RoomChange`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberOp {
    /// Makes a user a member with `role`, their read marker at the room's end (a new member
    /// starts with the earlier messages read), and removes any invitation of theirs.
    Add {
        /// Who joins.
        user: UserId,
        /// Their role.
        role: Role,
    },
    /// Ends a user's membership.
    Remove {
        /// Who leaves.
        user: UserId,
    },
    /// Changes a member's role.
    SetRole {
        /// The member.
        user: UserId,
        /// The new role.
        role: Role,
    },
    /// Records an invitation (replacing an earlier one of the same user).
    Invite {
        /// Who is invited.
        user: UserId,
        /// Who invites.
        by: UserId,
    },
    /// Deletes a user's invitation.
    Uninvite {
        /// Whose invitation.
        user: UserId,
    },
    /// Records a ban (and deletes the user's invitation).
    Ban {
        /// Who is banned.
        user: UserId,
        /// Who bans.
        by: UserId,
    },
    /// Lifts a ban.
    Unban {
        /// Whose ban.
        user: UserId,
    },
    /// Counts one join through an invite link. The change is stale if the link is no longer
    /// valid at that moment (revoked, expired, used up), so a link's use limit holds under
    /// concurrent joins.
    UseLink {
        /// The link.
        link: InviteLinkId,
    },
    /// Renames the room or sets its topic.
    Update {
        /// The new name.
        name: Option<RoomName>,
        /// The new topic (empty clears it).
        topic: Option<RoomTopic>,
    },
}

/// A notice to append to the room's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotice {
    /// Who made the change.
    pub sender: UserId,
    /// A fresh id for the item.
    pub client_msg_id: ClientMsgId,
    /// What changed.
    pub notice: Notice,
}

/// A change to a room, applied in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomChange {
    /// The room.
    pub room_id: RoomId,
    /// The room's [`RoomRecord::state_version`] the change was decided on.
    pub expected_version: u64,
    /// The steps, in order.
    pub ops: Vec<MemberOp>,
    /// The notices to append after the steps, in order.
    pub notices: Vec<NewNotice>,
    /// The server time of the change.
    pub now: Millis,
}

/// An invitation as stored, with the room it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRecord {
    /// The room.
    pub room: RoomRecord,
    /// Who invited.
    pub inviter: UserInfo,
    /// When.
    pub invited_at: Millis,
}

/// An invite link to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInviteLink {
    /// The room it lets people join.
    pub room_id: RoomId,
    /// SHA-256 of the link's token.
    pub token_hash: TokenHash,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: Millis,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// How many joins it allows, if limited.
    pub max_uses: Option<u32>,
}

/// An invite link as stored (never its token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteLinkRecord {
    /// The link's id.
    pub id: InviteLinkId,
    /// Its room.
    pub room_id: RoomId,
    /// Who made it.
    pub created_by: UserInfo,
    /// When.
    pub created_at: Millis,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// How many joins it allows, if limited.
    pub max_uses: Option<u32>,
    /// How many joins it gave.
    pub uses: u32,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl InviteLinkRecord {
    /// Whether the link still lets someone join at `now`.
    pub fn usable(&self, now: Millis) -> bool {
        !self.revoked
            && self.expires_at.is_none_or(|at| now < at)
            && self.max_uses.is_none_or(|max| self.uses < max)
    }
}

/// A ban as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanRecord {
    /// Who is banned.
    pub user: UserInfo,
    /// Who banned them.
    pub banned_by: UserInfo,
    /// When.
    pub banned_at: Millis,
}

/// Where a page of the public room directory starts: after the room with this member count
/// and id (the directory is ordered by member count, most first, then by id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectoryCursor {
    /// The member count of the last room of the previous page.
    pub member_count: u64,
    /// Its id.
    pub room_id: RoomId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_usable_until_revoked_expired_or_used_up() {
        let link = InviteLinkRecord {
            id: InviteLinkId::new(1).unwrap(),
            room_id: RoomId::new(1).unwrap(),
            created_by: UserInfo {
                id: UserId::new(1).unwrap(),
                username: chat_proto::Username::parse("alice").unwrap(),
            },
            created_at: 0,
            expires_at: Some(100),
            max_uses: Some(2),
            uses: 1,
            revoked: false,
        };
        assert!(link.usable(99));
        assert!(!link.usable(100), "expired at its expiry");
        assert!(
            !InviteLinkRecord {
                uses: 2,
                ..link.clone()
            }
            .usable(0),
            "used up"
        );
        assert!(
            !InviteLinkRecord {
                revoked: true,
                ..link.clone()
            }
            .usable(0),
            "revoked"
        );
        assert!(
            InviteLinkRecord {
                expires_at: None,
                max_uses: None,
                ..link
            }
            .usable(i64::MAX)
        );
    }
}
