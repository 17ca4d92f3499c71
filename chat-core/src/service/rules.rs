//! Who may do what in a room: the rules of roles, in one place, for every store.
//!
//! - The owner outranks admins, who outrank members. Owner and admins invite, remove and
//!   ban, lift bans, manage invite links, rename the room and set its topic; they act only
//!   on people of a lower role (an admin cannot remove another admin or the owner).
//! - Only the owner promotes and demotes admins and hands ownership over.
//! - Nobody acts on themselves through these requests: leaving is `leave_room`.
//! - Direct chats have no roles to manage: these requests are refused there.
//! - An end-to-end encrypted room holds at most `MAX_ENCRYPTED_ROOM_MEMBERS` people: each of
//!   their devices is a leaf of the room's MLS group, and a Welcome must fit in a frame.

use chat_proto::{ErrorBody, ErrorCode, MAX_ENCRYPTED_ROOM_MEMBERS, Role, RoomKind};

use super::reply::refuse;
use crate::store::RoomRecord;

/// Refuses room management in a direct chat.
pub(super) fn group_only(room: &RoomRecord) -> Result<(), ErrorBody> {
    match room.kind {
        RoomKind::Group => Ok(()),
        RoomKind::Direct => Err(refuse(
            ErrorCode::InvalidRequest,
            "a direct chat has no members to manage",
        )),
    }
}

/// Refuses MLS requests about a room that is not end-to-end encrypted.
pub(super) fn encrypted_only(room: &RoomRecord) -> Result<(), ErrorBody> {
    if room.encrypted {
        Ok(())
    } else {
        Err(not_encrypted())
    }
}

/// What MLS requests about a room that is not end-to-end encrypted are told.
pub(super) fn not_encrypted() -> ErrorBody {
    refuse(
        ErrorCode::RoomNotEncrypted,
        "this room is not end-to-end encrypted",
    )
}

/// Whether `role` may manage the room's members, links and settings.
pub(super) fn may_manage(role: Role) -> bool {
    role >= Role::Admin
}

/// Requires a role that manages the room.
pub(super) fn require_manager(actor: Role) -> Result<(), ErrorBody> {
    if may_manage(actor) {
        Ok(())
    } else {
        Err(refuse(
            ErrorCode::Forbidden,
            "only the room's owner and admins may do this",
        ))
    }
}

/// Requires the owner.
pub(super) fn require_owner(actor: Role) -> Result<(), ErrorBody> {
    if actor == Role::Owner {
        Ok(())
    } else {
        Err(refuse(ErrorCode::Forbidden, "only the room's owner may do this"))
    }
}

/// Requires that a manager acts on someone of a lower role.
pub(super) fn require_outranks(actor: Role, target: Role) -> Result<(), ErrorBody> {
    require_manager(actor)?;
    if actor > target {
        Ok(())
    } else {
        Err(refuse(
            ErrorCode::Forbidden,
            format!(
                "a room's {} cannot act on its {}",
                actor.as_str(),
                target.as_str()
            ),
        ))
    }
}

/// Refuses a request aimed at the caller.
pub(super) fn not_self(actor: chat_proto::UserId, target: chat_proto::UserId) -> Result<(), ErrorBody> {
    if actor == target {
        Err(refuse(
            ErrorCode::InvalidRequest,
            "this cannot be done to oneself (to leave, use leave_room)",
        ))
    } else {
        Ok(())
    }
}

/// Refuses one more member in an encrypted room that is full.
pub(super) fn has_space(room: &RoomRecord) -> Result<(), ErrorBody> {
    if room.encrypted && room.member_count >= MAX_ENCRYPTED_ROOM_MEMBERS {
        Err(refuse(
            ErrorCode::RoomFull,
            format!("an end-to-end encrypted room holds at most {MAX_ENCRYPTED_ROOM_MEMBERS} members"),
        ))
    } else {
        Ok(())
    }
}

/// The role of someone joining a room: the owner when the room has nobody (a public room
/// everyone left is taken over by whoever comes next), else a member.
pub(super) fn joining_role(room: &RoomRecord) -> Role {
    if room.member_count == 0 {
        Role::Owner
    } else {
        Role::Member
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_act_only_on_lower_roles() {
        use Role::*;
        assert!(require_outranks(Owner, Admin).is_ok());
        assert!(require_outranks(Owner, Member).is_ok());
        assert!(require_outranks(Admin, Member).is_ok());
        for (actor, target) in [(Admin, Admin), (Admin, Owner), (Member, Member), (Member, Owner)] {
            let refused = require_outranks(actor, target).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Forbidden, "{actor:?} on {target:?}");
        }
    }

    #[test]
    fn only_owners_and_admins_manage_and_only_owners_own() {
        assert!(require_manager(Role::Admin).is_ok());
        assert_eq!(
            require_manager(Role::Member).unwrap_err().code,
            ErrorCode::Forbidden
        );
        assert!(require_owner(Role::Owner).is_ok());
        assert_eq!(require_owner(Role::Admin).unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn only_encrypted_rooms_fill_up() {
        let room = |encrypted, member_count| RoomRecord {
            id: chat_proto::RoomId::new(1).unwrap(),
            kind: RoomKind::Group,
            name: "r".into(),
            topic: String::new(),
            visibility: chat_proto::Visibility::Private,
            encrypted,
            mls_epoch: None,
            created_by: chat_proto::UserId::new(1).unwrap(),
            created_at: 0,
            last_seq: 0,
            member_count,
            state_version: 0,
            direct: None,
        };
        assert!(has_space(&room(true, MAX_ENCRYPTED_ROOM_MEMBERS - 1)).is_ok());
        let full = has_space(&room(true, MAX_ENCRYPTED_ROOM_MEMBERS)).unwrap_err();
        assert_eq!(full.code, ErrorCode::RoomFull);
        assert!(has_space(&room(false, 100 * MAX_ENCRYPTED_ROOM_MEMBERS)).is_ok());
    }
}
