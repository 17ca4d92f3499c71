//! Membership follows the room: the devices the server lists for a room's members, the
//! devices in the room's group, and the plan that turns the second into the first.

use std::collections::HashSet;

use chat_proto::{DeviceId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::{E2eeError, Result};
use crate::identity::fingerprint;

/// A device of one of the room's current members, as the server lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoomDevice {
    /// The member.
    pub user: UserId,
    /// The server's id of the device.
    pub device: DeviceId,
    /// The device's public signature key (Ed25519, 32 bytes).
    pub signature_key: Vec<u8>,
}

impl RoomDevice {
    /// The device's fingerprint (see [`fingerprint`](crate::fingerprint)).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.signature_key)
    }
}

/// A device in a room's group: who it belongs to (from its credential), its signature key
/// and, when this device has seen it in a server list, its device id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupDevice {
    /// The user its credential names.
    pub user: UserId,
    /// The server's id of the device, if this machine has seen it in a list given to
    /// [`plan`](crate::Machine::plan) or [`commit`](crate::Machine::commit), or it is this
    /// device.
    pub device: Option<DeviceId>,
    /// Its public signature key: what tells devices apart.
    pub signature_key: Vec<u8>,
}

impl GroupDevice {
    /// The device's fingerprint (see [`fingerprint`](crate::fingerprint)).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.signature_key)
    }
}

/// A device to add and the key package the caller claimed for it from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceToAdd {
    /// The device.
    pub device: RoomDevice,
    /// Its key package, as the server handed it out (a serialized MLSMessage).
    pub key_package: Vec<u8>,
}

/// What one commit must do so the group holds exactly the room's devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Devices of the room missing from the group: claim a key package for each.
    pub add: Vec<RoomDevice>,
    /// Devices in the group that are not the room's any more: of users who left, were
    /// removed or banned, and deleted devices.
    pub remove: Vec<GroupDevice>,
}

impl Plan {
    /// Whether the group already matches the room.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// The plan from the group's devices to the room's. A group device stays when a room
/// device has its signature key and the same user; this device itself is never removed,
/// and must be among the room's devices.
pub(crate) fn plan(own_key: &[u8], group: &[GroupDevice], room: &[RoomDevice]) -> Result<Plan> {
    if !room.iter().any(|d| d.signature_key == own_key) {
        return Err(E2eeError::NotInRoom);
    }
    let wanted: HashSet<(&[u8], UserId)> = room
        .iter()
        .map(|d| (d.signature_key.as_slice(), d.user))
        .collect();
    let present: HashSet<(&[u8], UserId)> = group
        .iter()
        .map(|d| (d.signature_key.as_slice(), d.user))
        .collect();
    let mut seen = HashSet::new();
    let add = room
        .iter()
        .filter(|d| d.signature_key != own_key)
        .filter(|d| !present.contains(&(d.signature_key.as_slice(), d.user)))
        .filter(|d| seen.insert(d.signature_key.clone()))
        .cloned()
        .collect();
    let remove = group
        .iter()
        .filter(|d| d.signature_key != own_key)
        .filter(|d| !wanted.contains(&(d.signature_key.as_slice(), d.user)))
        .cloned()
        .collect();
    Ok(Plan { add, remove })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room_device(user: u64, device: u64) -> RoomDevice {
        RoomDevice {
            user: UserId::new(user).unwrap(),
            device: DeviceId::new(device).unwrap(),
            signature_key: vec![device as u8; 32],
        }
    }

    fn in_group(d: &RoomDevice) -> GroupDevice {
        GroupDevice {
            user: d.user,
            device: Some(d.device),
            signature_key: d.signature_key.clone(),
        }
    }

    #[test]
    fn adds_the_missing_and_removes_the_gone_but_never_itself() {
        let me = room_device(1, 1);
        let my_other = room_device(1, 2);
        let bob = room_device(2, 3);
        let carol = room_device(3, 4);
        let group = [in_group(&me), in_group(&bob)];
        let plan = plan(
            &me.signature_key,
            &group,
            &[me.clone(), my_other.clone(), carol.clone()],
        )
        .unwrap();
        assert_eq!(plan.add, vec![my_other, carol]);
        assert_eq!(plan.remove, vec![in_group(&bob)]);
    }

    #[test]
    fn a_group_that_matches_the_room_needs_nothing() {
        let me = room_device(1, 1);
        let bob = room_device(2, 3);
        let group = [in_group(&me), in_group(&bob)];
        let plan = plan(&me.signature_key, &group, &[bob.clone(), me.clone(), bob]).unwrap();
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_key_listed_for_another_user_is_replaced() {
        let me = room_device(1, 1);
        let bob = room_device(2, 3);
        let mut moved = bob.clone();
        moved.user = UserId::new(9).unwrap();
        let plan = plan(
            &me.signature_key,
            &[in_group(&me), in_group(&bob)],
            &[me.clone(), moved.clone()],
        )
        .unwrap();
        assert_eq!(plan.add, vec![moved]);
        assert_eq!(plan.remove, vec![in_group(&bob)]);
    }

    #[test]
    fn a_device_not_in_the_room_must_not_plan() {
        let me = room_device(1, 1);
        let bob = room_device(2, 3);
        let err = plan(&me.signature_key, &[in_group(&me)], &[bob]).unwrap_err();
        assert!(matches!(err, E2eeError::NotInRoom));
    }
}
