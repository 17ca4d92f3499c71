//! Changing a group's members: plan against the room's devices, make one commit (with the
//! Welcome for the added devices), and keep it pending until the room's timeline settles
//! it: [`process`](Machine::process) merges it when it comes back, or discards it when
//! another member's commit for the same epoch comes first (the server took that one).
//!
//! Why not merge when the server says "accepted": items before the commit in the timeline
//! (messages of the old epoch) may not have reached this device yet; merging first would
//! delete the keys they need. Why not discard when the server says "stale": after a
//! reconnect, a commit sent again may be refused because its first sending got through;
//! it is then in the timeline, and only the timeline can tell. Letting the timeline decide
//! keeps every device's view in one order.

use std::collections::HashSet;

use chat_proto::{DeviceId, RoomId};
use openmls::prelude::{
    KeyPackage, LeafNodeIndex, MlsMessageBodyIn, MlsMessageIn, OpenMlsProvider, ProtocolVersion,
    tls_codec::Deserialize as _,
};

use crate::error::{E2eeError, Result};
use crate::identity::{CIPHERSUITE, user_of};
use crate::machine::Machine;
use crate::membership::{DeviceToAdd, GroupDevice, Plan, RoomDevice, plan};
use crate::records::{DeviceRecord, PendingRecord, device_key, pending_commit_key, pending_welcome_key};
use crate::store::Store;

/// A commit of this device awaiting the server: send `commit` to the room and `welcome` to
/// the `welcomed` devices (the server stores both when it accepts the commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCommit {
    /// The room.
    pub room: RoomId,
    /// The epoch the commit was made in: the server accepts it only while this is the
    /// room's current epoch. Merging it moves the group to `epoch + 1`.
    pub epoch: u64,
    /// The commit, a serialized MLSMessage (PrivateMessage).
    pub commit: Vec<u8>,
    /// The Welcome for the added devices, a serialized MLSMessage, if any were added.
    pub welcome: Option<Vec<u8>>,
    /// The devices the Welcome is for.
    pub welcomed: Vec<DeviceId>,
    /// The devices the commit adds.
    pub added: Vec<RoomDevice>,
    /// The devices the commit removes.
    pub removed: Vec<GroupDevice>,
}

impl<S: Store> Machine<S> {
    /// What one commit must do so the room's group holds exactly `devices` (every device of
    /// the room's current members, as the server lists them). Also remembers which device
    /// id each listed key has, so senders can be named by device.
    pub fn plan(&mut self, room: RoomId, devices: &[RoomDevice]) -> Result<Plan> {
        let group_devices = self.group_devices(room)?;
        let plan = plan(&self.identity.signature_key, &group_devices, devices)?;
        self.atomically(None, |m| m.remember_devices(devices))?;
        Ok(plan)
    }

    /// Makes one commit that adds `adds` (each with the key package claimed for it) and
    /// removes `removes`, plus the Welcome for the added devices. Adds already in the group
    /// and removes already gone are skipped ([`E2eeError::NothingToCommit`] if nothing is
    /// left); this device never removes itself. The commit stays pending (see the module
    /// docs) and can be read again with [`pending_commit`](Machine::pending_commit).
    pub fn commit(
        &mut self,
        room: RoomId,
        adds: Vec<DeviceToAdd>,
        removes: &[GroupDevice],
    ) -> Result<PendingCommit> {
        let group = self.group(room)?;
        if group.pending_commit().is_some() {
            return Err(E2eeError::CommitPending { room });
        }
        let members: Vec<_> = group.members().collect();
        let in_group: HashSet<&[u8]> = members.iter().map(|m| m.signature_key.as_slice()).collect();

        let mut key_packages = Vec::new();
        let mut added = Vec::new();
        let mut seen = HashSet::new();
        for add in adds {
            if in_group.contains(add.device.signature_key.as_slice())
                || !seen.insert(add.device.signature_key.clone())
            {
                continue;
            }
            key_packages.push(self.validate_key_package(&add)?);
            added.push(add.device);
        }
        let mut leaves: Vec<LeafNodeIndex> = Vec::new();
        let mut removed = Vec::new();
        for remove in removes {
            if remove.signature_key == self.identity.signature_key {
                continue;
            }
            if let Some(member) = members.iter().find(|m| m.signature_key == remove.signature_key)
                && !leaves.contains(&member.index)
            {
                leaves.push(member.index);
                removed.push(remove.clone());
            }
        }
        if key_packages.is_empty() && leaves.is_empty() {
            return Err(E2eeError::NothingToCommit);
        }

        self.atomically(Some(room), |m| {
            m.remember_devices(&added)?;
            let group = m.groups.get_mut(&room).ok_or(E2eeError::UnknownGroup { room })?;
            let epoch = group.epoch().as_u64();
            let bundle = group
                .commit_builder()
                .propose_adds(key_packages)
                .propose_removals(leaves)
                .load_psks(m.provider.storage())
                .map_err(E2eeError::internal)?
                .build(m.provider.rand(), m.provider.crypto(), &m.signer, |_| true)
                .map_err(E2eeError::internal)?
                .stage_commit(&m.provider)
                .map_err(E2eeError::internal)?;
            let (commit, welcome, _group_info) = bundle.into_messages();
            let commit = commit.to_bytes().map_err(E2eeError::internal)?;
            let welcome = welcome
                .map(|w| w.to_bytes())
                .transpose()
                .map_err(E2eeError::internal)?;
            let pending = PendingCommit {
                room,
                epoch,
                welcomed: added.iter().map(|d| d.device).collect(),
                commit,
                welcome,
                added,
                removed,
            };
            m.record_pending(&pending)?;
            Ok(pending)
        })
    }

    /// This device's commit for the room that awaits the server, if any: to send it again
    /// after a reconnect or a restart.
    pub fn pending_commit(&self, room: RoomId) -> Option<PendingCommit> {
        let record = self.room_record(room).ok()?.pending?;
        let commit = self.mirror.meta.get(&pending_commit_key(room))?.clone();
        let welcome = self.mirror.meta.get(&pending_welcome_key(room)).cloned();
        Some(PendingCommit {
            room,
            epoch: record.epoch,
            commit,
            welcome: welcome.filter(|_| record.has_welcome),
            welcomed: record.added.iter().map(|d| d.device).collect(),
            added: record.added,
            removed: record.removed,
        })
    }

    /// Discards this device's pending commit because the server refused it for good (not
    /// allowed, too large, ...): the epoch did not move, and nothing else will settle it.
    ///
    /// A refusal as stale needs no call: process the timeline, where the commit that took
    /// the epoch settles this one (it replaces it, or it is this one, if an earlier
    /// sending got through), then [`plan`](Machine::plan) again. A commit discarded here
    /// and later found in the timeline can no longer be merged. Nothing happens if no
    /// commit is pending.
    pub fn commit_refused(&mut self, room: RoomId) -> Result<()> {
        self.atomically(Some(room), |m| m.discard_pending(room))
    }

    pub(crate) fn discard_pending(&mut self, room: RoomId) -> Result<()> {
        if let Some(group) = self.groups.get_mut(&room) {
            group
                .clear_pending_commit(self.provider.storage())
                .map_err(E2eeError::internal)?;
        }
        let mut record = self.room_record(room)?;
        if record.pending.take().is_some() {
            self.put_room_record(room, &record)?;
        }
        self.clear_pending(room);
        Ok(())
    }

    fn record_pending(&mut self, pending: &PendingCommit) -> Result<()> {
        let room = pending.room;
        let mut record = self.room_record(room)?;
        record.pending = Some(PendingRecord {
            epoch: pending.epoch,
            commit_hash: self.hash(&pending.commit),
            added: pending.added.clone(),
            removed: pending.removed.clone(),
            has_welcome: pending.welcome.is_some(),
        });
        self.put_room_record(room, &record)?;
        self.mirror
            .meta
            .insert(pending_commit_key(room), pending.commit.clone());
        if let Some(welcome) = &pending.welcome {
            self.mirror
                .meta
                .insert(pending_welcome_key(room), welcome.clone());
        }
        Ok(())
    }

    /// Remembers which device id and user each listed signature key has (as the server
    /// lists a room's devices), so the senders and members this machine reports carry
    /// their device ids. [`plan`](Machine::plan) does this too.
    pub fn learn_devices(&mut self, devices: &[RoomDevice]) -> Result<()> {
        self.atomically(None, |m| m.remember_devices(devices))
    }

    fn remember_devices(&mut self, devices: &[RoomDevice]) -> Result<()> {
        for d in devices {
            let record = DeviceRecord {
                user: d.user,
                device: d.device,
            };
            self.mirror.meta.put_json(device_key(&d.signature_key), &record)?;
        }
        Ok(())
    }

    /// The claimed key package, checked: a valid, signed key package of this ciphersuite,
    /// for the device's signature key and user.
    fn validate_key_package(&self, add: &DeviceToAdd) -> Result<KeyPackage> {
        let invalid = |reason: String| E2eeError::InvalidKeyPackage {
            device: add.device.device,
            reason,
        };
        let message = MlsMessageIn::tls_deserialize_exact(&add.key_package)
            .map_err(|e| invalid(format!("does not parse: {e}")))?;
        let MlsMessageBodyIn::KeyPackage(key_package) = message.extract() else {
            return Err(invalid("not a key package".into()));
        };
        let key_package = key_package
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| invalid(format!("{e}")))?;
        if key_package.ciphersuite() != CIPHERSUITE {
            return Err(invalid("another ciphersuite".into()));
        }
        let leaf = key_package.leaf_node();
        if leaf.signature_key().as_slice() != add.device.signature_key.as_slice() {
            return Err(invalid(
                "made with another signature key than the device's".into(),
            ));
        }
        let user = user_of(leaf.credential()).map_err(|e| invalid(e.to_string()))?;
        if user != add.device.user {
            return Err(invalid(format!("names user {user}, not {}", add.device.user)));
        }
        Ok(key_package)
    }
}
