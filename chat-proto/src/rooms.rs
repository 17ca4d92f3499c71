//! Rooms that people control: visibility, roles, the notices that record every change in a
//! room's timeline, invitations, invite links and bans.
//!
//! A group room is `private` (the default: only invited people join, and to everyone else
//! it answers as if it did not exist) or `public` (listed in the directory; anyone may
//! join). Visibility is fixed when the room is created. Each member has a [`Role`]; what a
//! role may do is enforced by the server and described in docs/PROTOCOL.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{InviteLinkId, RoomId};
use crate::model::{Room, TimestampMs, UserInfo};
use crate::names::{InviteToken, RoomName, RoomTopic};

/// Who can find and join a room. Fixed when the room is created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only invited people (by username or invite link) can join; to anyone else the room
    /// answers exactly as a room that does not exist. Direct chats are private.
    #[default]
    Private,
    /// Listed in the room directory; anyone may join.
    Public,
}

impl Visibility {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Public => "public",
        }
    }

    /// Parses the wire and storage spelling.
    pub fn from_str_opt(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Visibility::Private),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

/// A member's role in a group room. The owner outranks admins, who outrank members; a
/// direct chat's two users are both `member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An ordinary member: reads and writes.
    Member,
    /// Also invites, removes and bans members, manages invite links, renames the room and
    /// sets its topic.
    Admin,
    /// Also promotes and demotes admins and hands ownership over. One per room.
    Owner,
}

impl Role {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses the wire and storage spelling.
    pub fn from_str_opt(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// A change to a room, recorded in its timeline with a `seq` like a message, so that
/// `history` and `resume_room` replay it in order with the messages. The timeline item's
/// `sender` is who made the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notice {
    /// `created`: the sender created the group room (its first item).
    Created {
        /// The room's name at creation.
        name: RoomName,
        /// Its visibility.
        visibility: Visibility,
    },
    /// `joined`: `user` became a member (accepting an invitation, through an invite link,
    /// by joining a public room, or when a direct chat was opened).
    Joined {
        /// Who joined.
        user: UserInfo,
    },
    /// `left`: `user` left the room.
    Left {
        /// Who left.
        user: UserInfo,
    },
    /// `invited`: the sender invited `user`.
    Invited {
        /// Who was invited.
        user: UserInfo,
    },
    /// `declined`: `user` declined the invitation.
    Declined {
        /// Who declined.
        user: UserInfo,
    },
    /// `removed`: the sender removed `user` from the room.
    Removed {
        /// Who was removed.
        user: UserInfo,
    },
    /// `banned`: the sender banned `user` (removing them if they were a member).
    Banned {
        /// Who was banned.
        user: UserInfo,
    },
    /// `unbanned`: the sender lifted `user`'s ban.
    Unbanned {
        /// Whose ban ended.
        user: UserInfo,
    },
    /// `role_changed`: `user` now has `role` (a promotion, a demotion, a hand-over of
    /// ownership, or the succession when the last owner left).
    RoleChanged {
        /// Whose role changed.
        user: UserInfo,
        /// The new role.
        role: Role,
    },
    /// `room_updated`: the sender renamed the room or changed its topic.
    RoomUpdated {
        /// The new name, when it changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<RoomName>,
        /// The new topic, when it changed (empty: the topic was cleared).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<RoomTopic>,
    },
}

/// An invitation waiting for the invitee's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Invitation {
    /// The room, as the invitee may see it before joining.
    pub room: Room,
    /// Who invited.
    pub inviter: UserInfo,
    /// When.
    pub invited_at: TimestampMs,
}

/// An invite link of a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteLink {
    /// The link's id, for listing and revoking.
    pub id: InviteLinkId,
    /// The room it lets people join.
    pub room_id: RoomId,
    /// The secret that joins: only in the answer to `create_invite_link` (the server keeps
    /// its hash, never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<InviteToken>,
    /// Who made it.
    pub created_by: UserInfo,
    /// When.
    pub created_at: TimestampMs,
    /// When it stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<TimestampMs>,
    /// How many joins it allows, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    /// How many people joined through it.
    pub uses: u32,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A ban in a room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ban {
    /// Who is banned.
    pub user: UserInfo,
    /// Who banned them.
    pub banned_by: UserInfo,
    /// When.
    pub banned_at: TimestampMs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_what_they_may_do() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
        for role in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::from_str_opt(role.as_str()), Some(role));
        }
        for v in [Visibility::Private, Visibility::Public] {
            assert_eq!(Visibility::from_str_opt(v.as_str()), Some(v));
        }
        assert_eq!(Visibility::default(), Visibility::Private);
    }
}
