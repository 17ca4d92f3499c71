//! The machine of one device: its identity, its groups, and the rule that each operation
//! happens entirely (in memory and in the store) or not at all.

use std::collections::HashMap;

use chat_proto::{DeviceId, RoomId, Seq, UserId};
use openmls::prelude::{CredentialWithKey, MlsGroup, OpenMlsProvider, StagedWelcome, WelcomeError};
use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn, tls_codec::Deserialize as _};
use openmls_basic_credential::SignatureKeyPair;

use crate::error::{E2eeError, Result};
use crate::identity::{CIPHERSUITE, credential_for, fingerprint, group_id_of, user_of};
use crate::membership::{GroupDevice, RoomDevice};
use crate::mirror::Mirror;
use crate::provider::Provider;
use crate::records::{
    DeviceRecord, IDENTITY, IdentityRecord, RoomRecord, device_key, room_key, room_of_key, sent_prefix,
};
use crate::settings::{join_config, sender_ratchet};
use crate::store::Store;

/// The end-to-end encryption of one device (see the [crate] docs for how to drive it).
pub struct Machine<S: Store> {
    pub(crate) provider: Provider,
    pub(crate) mirror: Mirror<S>,
    pub(crate) signer: SignatureKeyPair,
    pub(crate) identity: IdentityRecord,
    pub(crate) groups: HashMap<RoomId, MlsGroup>,
}

impl<S: Store> std::fmt::Debug for Machine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("user", &self.identity.user)
            .field("device", &self.identity.device)
            .field("rooms", &self.groups.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<S: Store> Machine<S> {
    /// A new device of `user`: makes its signature key and its last-resort key package and
    /// writes them to `store`, which must be empty ([`E2eeError::StoreNotEmpty`] otherwise:
    /// use [`Machine::load`]).
    pub fn create(user: UserId, store: S) -> Result<Self> {
        let (mirror, provider) = Mirror::load(store)?;
        if !mirror.is_empty() {
            return Err(E2eeError::StoreNotEmpty);
        }
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(E2eeError::internal)?;
        signer.store(provider.storage()).map_err(E2eeError::internal)?;
        let identity = IdentityRecord {
            user,
            device: None,
            signature_key: signer.to_public_vec(),
            one_time: Vec::new(),
            last_resort: Vec::new(),
            last_resort_ref: None,
            previous_last_resort_ref: None,
        };
        let mut machine = Machine {
            provider,
            mirror,
            signer,
            identity,
            groups: HashMap::new(),
        };
        let (bytes, hash_ref) = machine.new_key_package(true)?;
        machine.identity.last_resort = bytes;
        machine.identity.last_resort_ref = Some(hash_ref);
        machine.write_identity()?;
        machine.mirror.save(&machine.provider)?;
        Ok(machine)
    }

    /// The device kept in `store`, as it was after its last operation.
    pub fn load(store: S) -> Result<Self> {
        let (mirror, provider) = Mirror::load(store)?;
        let identity: IdentityRecord =
            mirror
                .meta
                .get_json(IDENTITY)?
                .ok_or_else(|| E2eeError::BadState {
                    reason: "no device in the store".into(),
                })?;
        let signer = SignatureKeyPair::read(
            provider.storage(),
            &identity.signature_key,
            CIPHERSUITE.signature_algorithm(),
        )
        .ok_or_else(|| E2eeError::BadState {
            reason: "the device's signature key is missing".into(),
        })?;
        let mut machine = Machine {
            provider,
            mirror,
            signer,
            identity,
            groups: HashMap::new(),
        };
        machine.reload_groups()?;
        Ok(machine)
    }

    /// The user this device belongs to.
    pub fn user(&self) -> UserId {
        self.identity.user
    }

    /// The device's public signature key (Ed25519, 32 bytes): what the server registers
    /// and what tells this device apart from the user's others.
    pub fn signature_public_key(&self) -> &[u8] {
        &self.identity.signature_key
    }

    /// The device's fingerprint, for people to compare (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.identity.signature_key)
    }

    /// Records the id the server gave this device when it registered its key.
    pub fn set_device_id(&mut self, device: DeviceId) -> Result<()> {
        self.atomically(None, |m| {
            m.identity.device = Some(device);
            let own = DeviceRecord {
                user: m.identity.user,
                device,
            };
            let key = device_key(&m.identity.signature_key);
            m.mirror.meta.put_json(key, &own)?;
            m.write_identity()
        })
    }

    /// The id the server gave this device, once set.
    pub fn device_id(&self) -> Option<DeviceId> {
        self.identity.device
    }

    /// This device as the server lists it (user, device id, signature key), once its
    /// device id is set.
    pub fn device(&self) -> Option<RoomDevice> {
        Some(RoomDevice {
            user: self.identity.user,
            device: self.identity.device?,
            signature_key: self.identity.signature_key.clone(),
        })
    }

    /// The store (for a caller that wants to look at it or close it).
    pub fn store(&self) -> &S {
        self.mirror.store()
    }

    /// The rooms this device has a group for.
    pub fn rooms(&self) -> Vec<RoomId> {
        let mut rooms: Vec<RoomId> = self.groups.keys().copied().collect();
        rooms.sort();
        rooms
    }

    /// Whether this device has a group for `room`.
    pub fn has_group(&self, room: RoomId) -> bool {
        self.groups.contains_key(&room)
    }

    /// The group's current epoch on this device.
    pub fn epoch(&self, room: RoomId) -> Option<u64> {
        self.groups.get(&room).map(|g| g.epoch().as_u64())
    }

    /// A value every member computes alike for the group's current epoch: two devices at
    /// the same epoch with different values do not share the group state (a fork).
    pub fn epoch_authenticator(&self, room: RoomId) -> Option<Vec<u8>> {
        self.groups
            .get(&room)
            .map(|g| g.epoch_authenticator().as_slice().to_vec())
    }

    /// The last `seq` given to [`process`](Machine::process) for the room.
    pub fn last_seq(&self, room: RoomId) -> Option<u64> {
        self.room_record(room).ok().and_then(|r| r.last_seq)
    }

    /// The devices in the room's group, this one included, in leaf order.
    pub fn group_devices(&self, room: RoomId) -> Result<Vec<GroupDevice>> {
        let group = self.group(room)?;
        group.members().map(|m| self.group_device(&m)).collect()
    }

    /// Makes the room's group, with this device alone in it at epoch 0. The server decides
    /// who may (one device of the room's creator); then add the others with
    /// [`plan`](Machine::plan) and [`commit`](Machine::commit).
    pub fn create_group(&mut self, room: RoomId) -> Result<()> {
        if self.groups.contains_key(&room) {
            return Err(E2eeError::GroupExists { room });
        }
        self.atomically(Some(room), |m| {
            let credential = CredentialWithKey {
                credential: credential_for(m.identity.user),
                signature_key: m.identity.signature_key.clone().into(),
            };
            let config = join_config();
            let group = MlsGroup::builder()
                .with_group_id(group_id_of(room))
                .ciphersuite(CIPHERSUITE)
                .with_capabilities(crate::settings::capabilities())
                .with_wire_format_policy(config.wire_format_policy())
                .padding_size(0)
                .max_past_epochs(0)
                .number_of_resumption_psks(0)
                .use_ratchet_tree_extension(true)
                .sender_ratchet_configuration(sender_ratchet())
                .replace_old_group()
                .build(&m.provider, &m.signer, credential)
                .map_err(E2eeError::internal)?;
            m.groups.insert(room, group);
            m.start_room(room)
        })
    }

    /// Joins the room's group from a Welcome made for one of this device's key packages.
    /// `commit_seq` is the `seq` of the commit that made the Welcome: the items up to it
    /// are from before this device joined, and [`process`](Machine::process) treats them
    /// as already seen. A one-time package opens one Welcome; the last-resort package any
    /// number. Replaces a group this device had for the room (it was removed and is added
    /// again).
    pub fn join_from_welcome(&mut self, room: RoomId, commit_seq: Seq, welcome: &[u8]) -> Result<()> {
        let message = MlsMessageIn::tls_deserialize_exact(welcome).map_err(E2eeError::malformed)?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(E2eeError::malformed("not a Welcome"));
        };
        self.atomically(Some(room), |m| {
            let staged = StagedWelcome::build_from_welcome(&m.provider, &join_config(), welcome)
                .map_err(welcome_error)?
                // Members who never committed keep the leaf of the key package they joined
                // with; its lifetime may have run out while they stay members. The room's
                // membership, not a key package's age, decides who is in.
                .skip_lifetime_validation()
                .replace_old_group()
                .build()
                .map_err(welcome_error)?;
            if staged.group_context().group_id() != &group_id_of(room) {
                return Err(E2eeError::WrongGroup { room });
            }
            for member in staged.members() {
                user_of(&member.credential)?;
            }
            let group = staged.into_group(&m.provider).map_err(welcome_error)?;
            m.groups.insert(room, group);
            m.forget_used_key_packages()?;
            m.start_room(room)?;
            let mut record = m.room_record(room)?;
            record.last_seq = Some(record.last_seq.map_or(commit_seq, |last| last.max(commit_seq)));
            m.put_room_record(room, &record)
        })
    }

    /// Forgets the room's group and everything of it on this device: for a room this user
    /// left or was removed from, so no key of it stays behind.
    pub fn forget_group(&mut self, room: RoomId) -> Result<()> {
        self.atomically(Some(room), |m| {
            m.delete_group_state(room)?;
            m.mirror.meta.remove(&room_key(room));
            Ok(())
        })
    }

    // ----- helpers for the other modules -----

    /// Runs `op`; saves its changes, or undoes them (memory and store) if it or the save
    /// fails. `room` names the group `op` may change (`None`: any).
    pub(crate) fn atomically<T>(
        &mut self,
        room: Option<RoomId>,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let result = op(self).and_then(|value| {
            self.mirror.save(&self.provider)?;
            Ok(value)
        });
        if let Err(error) = result {
            if let Err(undo) = self.undo(room) {
                return Err(E2eeError::Internal(format!(
                    "{error}; undoing it failed too: {undo}"
                )));
            }
            return Err(error);
        }
        result
    }

    fn undo(&mut self, room: Option<RoomId>) -> Result<()> {
        self.mirror.rollback(&self.provider)?;
        if let Some(identity) = self.mirror.meta.get_json(IDENTITY)? {
            self.identity = identity;
        }
        match room {
            Some(room) => self.reload_group(room),
            None => self.reload_groups(),
        }
    }

    fn reload_groups(&mut self) -> Result<()> {
        self.groups.clear();
        let rooms: Vec<RoomId> = self.mirror.meta.keys().filter_map(|k| room_of_key(k)).collect();
        for room in rooms {
            self.reload_group(room)?;
        }
        Ok(())
    }

    fn reload_group(&mut self, room: RoomId) -> Result<()> {
        match MlsGroup::load(self.provider.storage(), &group_id_of(room)).map_err(E2eeError::internal)? {
            Some(group) => self.groups.insert(room, group),
            None => self.groups.remove(&room),
        };
        Ok(())
    }

    pub(crate) fn write_identity(&mut self) -> Result<()> {
        let identity = self.identity.clone();
        self.mirror.meta.put_json(IDENTITY.to_vec(), &identity)
    }

    /// A fresh start for the room's records after creating or joining its group: progress
    /// (`last_seq`) stays, everything of an earlier group goes.
    fn start_room(&mut self, room: RoomId) -> Result<()> {
        let last_seq = self.room_record(room)?.last_seq;
        self.clear_pending(room);
        self.mirror.meta.remove_prefix(&sent_prefix(room));
        let record = RoomRecord {
            last_seq,
            ..RoomRecord::default()
        };
        self.mirror.meta.put_json(room_key(room), &record)
    }

    pub(crate) fn room_record(&self, room: RoomId) -> Result<RoomRecord> {
        Ok(self.mirror.meta.get_json(&room_key(room))?.unwrap_or_default())
    }

    pub(crate) fn put_room_record(&mut self, room: RoomId, record: &RoomRecord) -> Result<()> {
        self.mirror.meta.put_json(room_key(room), record)
    }

    pub(crate) fn clear_pending(&mut self, room: RoomId) {
        self.mirror.meta.remove(&crate::records::pending_commit_key(room));
        self.mirror
            .meta
            .remove(&crate::records::pending_welcome_key(room));
    }

    /// Deletes the room's group state (openmls's and the machine's pending and sent
    /// records), keeping the room record.
    pub(crate) fn delete_group_state(&mut self, room: RoomId) -> Result<()> {
        if let Some(mut group) = self.groups.remove(&room) {
            group
                .delete(self.provider.storage())
                .map_err(E2eeError::internal)?;
        }
        self.clear_pending(room);
        self.mirror.meta.remove_prefix(&sent_prefix(room));
        Ok(())
    }

    pub(crate) fn group(&self, room: RoomId) -> Result<&MlsGroup> {
        match self.groups.get(&room) {
            Some(group) => Ok(group),
            None => Err(self.no_group(room)),
        }
    }

    pub(crate) fn no_group(&self, room: RoomId) -> E2eeError {
        if self.room_record(room).map(|r| r.removed).unwrap_or(false) {
            E2eeError::Removed { room }
        } else {
            E2eeError::UnknownGroup { room }
        }
    }

    /// A group member as a [`GroupDevice`], with its device id if this machine knows it.
    pub(crate) fn group_device(&self, member: &openmls::prelude::Member) -> Result<GroupDevice> {
        let user = user_of(&member.credential)?;
        Ok(GroupDevice {
            user,
            device: self.known_device(&member.signature_key, user),
            signature_key: member.signature_key.clone(),
        })
    }

    pub(crate) fn known_device(&self, signature_key: &[u8], user: UserId) -> Option<DeviceId> {
        let record: DeviceRecord = self.mirror.meta.get_json(&device_key(signature_key)).ok()??;
        (record.user == user).then_some(record.device)
    }
}

fn welcome_error<E: std::fmt::Debug>(error: WelcomeError<E>) -> E2eeError {
    match error {
        WelcomeError::NoMatchingKeyPackage | WelcomeError::PrivateInitKeyNotFound => {
            E2eeError::NoMatchingKeyPackage
        }
        WelcomeError::ConfirmationTagMismatch
        | WelcomeError::InvalidGroupInfoSignature
        | WelcomeError::UnableToDecrypt
        | WelcomeError::GroupSecrets(_) => E2eeError::Tampered {
            reason: format!("Welcome: {error:?}"),
        },
        WelcomeError::LibraryError(_) | WelcomeError::StorageError(_) => {
            E2eeError::internal(format!("{error:?}"))
        }
        other => E2eeError::malformed(format!("Welcome: {other:?}")),
    }
}
