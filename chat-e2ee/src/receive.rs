//! Processing the room's MLS items in `seq` order: application messages become texts,
//! commits move the group to the next epoch, anything else is a typed error that leaves
//! the group as it was.

use chat_proto::{RoomId, Seq};
use openmls::framing::errors::{MessageDecryptionError, SecretTreeError};
use openmls::prelude::{
    ContentType, LeafNodeIndex, MlsGroupStateError, MlsMessageIn, ProcessMessageError,
    ProcessedMessageContent, Sender, StagedCommit, ValidationError, tls_codec::Deserialize as _,
};

use crate::error::{E2eeError, Result};
use crate::identity::{group_id_of, user_of};
use crate::machine::Machine;
use crate::membership::GroupDevice;
use crate::padding::unpad;
use crate::records::sent_prefix;
use crate::store::Store;

/// What an item of the room's timeline was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Processed {
    /// A text from a member (this device's own included).
    Message(ReceivedMessage),
    /// A commit: the group moved to a new epoch.
    Commit(CommitReport),
}

/// A decrypted text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The device that sent it (authenticated by its signature key).
    pub sender: GroupDevice,
    /// Whether this device sent it.
    pub own: bool,
    /// The text.
    pub text: String,
    /// The epoch it was sent in.
    pub epoch: u64,
}

/// A merged commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitReport {
    /// The device that made it.
    pub committer: GroupDevice,
    /// Whether this device made it (its pending commit came back and is merged).
    pub own: bool,
    /// The group's epoch now.
    pub epoch: u64,
    /// The devices it added.
    pub added: Vec<GroupDevice>,
    /// The devices it removed.
    pub removed: Vec<GroupDevice>,
    /// This device was removed: its group state is deleted, and it reads nothing more.
    pub removed_self: bool,
    /// This device had a commit pending, which this one replaced: it is discarded; plan
    /// again.
    pub superseded_own_commit: bool,
}

impl<S: Store> Machine<S> {
    /// Processes the room's MLS item numbered `seq`: call it for every MLS item of the
    /// room's timeline, this device's own included, in `seq` order, each once.
    ///
    /// An item that fails (tampered, replayed, not decryptable, ...) gives a typed error,
    /// leaves the group as it was, and still counts as processed: the next item works.
    /// Only [`E2eeError::Storage`] leaves the item unprocessed, to be given again.
    pub fn process(&mut self, room: RoomId, seq: Seq, bytes: &[u8]) -> Result<Processed> {
        if !self.groups.contains_key(&room) {
            return Err(self.no_group(room));
        }
        if self.room_record(room)?.last_seq.is_some_and(|last| seq <= last) {
            return Err(E2eeError::Replayed);
        }
        let result = self.atomically(Some(room), |m| {
            let processed = m.process_item(room, bytes)?;
            m.set_last_seq(room, seq)?;
            Ok(processed)
        });
        match result {
            Err(E2eeError::Storage(e)) => Err(E2eeError::Storage(e)),
            Err(error) => {
                self.atomically(Some(room), |m| m.set_last_seq(room, seq))?;
                Err(error)
            }
            ok => ok,
        }
    }

    fn set_last_seq(&mut self, room: RoomId, seq: Seq) -> Result<()> {
        let mut record = self.room_record(room)?;
        record.last_seq = Some(seq);
        self.put_room_record(room, &record)
    }

    fn process_item(&mut self, room: RoomId, bytes: &[u8]) -> Result<Processed> {
        let message = MlsMessageIn::tls_deserialize_exact(bytes).map_err(E2eeError::malformed)?;
        let message = message
            .try_into_protocol_message()
            .map_err(|_| E2eeError::malformed("not a group message"))?;
        if message.group_id() != &group_id_of(room) {
            return Err(E2eeError::WrongGroup { room });
        }
        let hash = self.hash(bytes);
        let record = self.room_record(room)?;
        if record.pending.as_ref().is_some_and(|p| p.commit_hash == hash) {
            return self.merge_own_commit(room);
        }
        match self.take_sent(room, &hash) {
            Some(Some(text)) => return self.own_message(room, text),
            Some(None) => return Err(E2eeError::Replayed),
            None => {}
        }

        let group = self.group(room)?;
        let (message_epoch, group_epoch) = (message.epoch().as_u64(), group.epoch().as_u64());
        if message_epoch != group_epoch {
            return Err(match message.content_type() {
                ContentType::Application => E2eeError::NotDecryptable {
                    reason: format!("sent in epoch {message_epoch}; this device is at epoch {group_epoch}"),
                },
                _ => E2eeError::StaleEpoch {
                    message_epoch,
                    group_epoch,
                },
            });
        }

        let group = self
            .groups
            .get_mut(&room)
            .ok_or(E2eeError::UnknownGroup { room })?;
        let processed = group
            .process_message(&self.provider, message)
            .map_err(|e| process_error(room, e))?;
        let sender = match processed.sender() {
            Sender::Member(leaf) => Some(*leaf),
            _ => None,
        };
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                let sender = self.member_device(room, sender)?;
                Ok(Processed::Message(ReceivedMessage {
                    sender,
                    own: false,
                    text: unpad(&app.into_bytes())?,
                    epoch: group_epoch,
                }))
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => self.merge_commit(room, sender, *staged),
            ProcessedMessageContent::OwnPrivateMessage => Err(E2eeError::NotDecryptable {
                reason: "a message of this device that it no longer holds".into(),
            }),
            ProcessedMessageContent::ProposalMessage(_) => Err(E2eeError::Unsupported {
                what: "standalone proposal",
            }),
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => Err(E2eeError::Unsupported {
                what: "external join proposal",
            }),
            #[allow(unreachable_patterns)]
            _ => Err(E2eeError::Unsupported {
                what: "own commit in the clear",
            }),
        }
    }

    fn own_message(&mut self, room: RoomId, text: String) -> Result<Processed> {
        Ok(Processed::Message(ReceivedMessage {
            sender: self.own_device(),
            own: true,
            text,
            epoch: self.group(room)?.epoch().as_u64(),
        }))
    }

    fn merge_own_commit(&mut self, room: RoomId) -> Result<Processed> {
        let mut record = self.room_record(room)?;
        let pending = record.pending.take().ok_or(E2eeError::UnknownGroup { room })?;
        let group = self
            .groups
            .get_mut(&room)
            .ok_or(E2eeError::UnknownGroup { room })?;
        group
            .merge_pending_commit(&self.provider)
            .map_err(E2eeError::internal)?;
        let epoch = group.epoch().as_u64();
        self.put_room_record(room, &record)?;
        self.clear_pending(room);
        self.new_epoch(room)?;
        let added = pending
            .added
            .into_iter()
            .map(|d| GroupDevice {
                user: d.user,
                device: Some(d.device),
                signature_key: d.signature_key,
            })
            .collect();
        Ok(Processed::Commit(CommitReport {
            committer: self.own_device(),
            own: true,
            epoch,
            added,
            removed: pending.removed,
            removed_self: false,
            superseded_own_commit: false,
        }))
    }

    fn merge_commit(
        &mut self,
        room: RoomId,
        sender: Option<LeafNodeIndex>,
        staged: StagedCommit,
    ) -> Result<Processed> {
        let committer = self.member_device(room, sender)?;
        let mut added = Vec::new();
        for add in staged.add_proposals() {
            let leaf = add.add_proposal().key_package().leaf_node();
            let user = user_of(leaf.credential())?;
            added.push(GroupDevice {
                user,
                device: self.known_device(leaf.signature_key().as_slice(), user),
                signature_key: leaf.signature_key().as_slice().to_vec(),
            });
        }
        let mut removed = Vec::new();
        for remove in staged.remove_proposals() {
            removed.push(self.member_device(room, Some(remove.remove_proposal().removed()))?);
        }
        let removed_self = staged.self_removed();
        let mut record = self.room_record(room)?;
        let superseded_own_commit = record.pending.take().is_some();

        let group = self
            .groups
            .get_mut(&room)
            .ok_or(E2eeError::UnknownGroup { room })?;
        group
            .merge_staged_commit(&self.provider, staged)
            .map_err(E2eeError::internal)?;
        let epoch = group.epoch().as_u64();
        self.clear_pending(room);
        if removed_self {
            self.delete_group_state(room)?;
            record.removed = true;
        }
        self.put_room_record(room, &record)?;
        self.new_epoch(room)?;
        Ok(Processed::Commit(CommitReport {
            committer,
            own: false,
            epoch,
            added,
            removed,
            removed_self,
            superseded_own_commit,
        }))
    }

    /// Forgets the messages sent in the epoch that ended: those still waiting will not
    /// come back (the server refuses them now), and a copy of the others is stale anyway.
    fn new_epoch(&mut self, room: RoomId) -> Result<()> {
        self.mirror.meta.remove_prefix(&sent_prefix(room));
        Ok(())
    }

    fn member_device(&self, room: RoomId, leaf: Option<LeafNodeIndex>) -> Result<GroupDevice> {
        let member = leaf
            .and_then(|leaf| self.group(room).ok()?.member_at(leaf))
            .ok_or_else(|| E2eeError::Tampered {
                reason: "the sender is not a member".into(),
            })?;
        self.group_device(&member)
    }

    fn own_device(&self) -> GroupDevice {
        GroupDevice {
            user: self.identity.user,
            device: self.identity.device,
            signature_key: self.identity.signature_key.clone(),
        }
    }
}

/// Names what openmls found wrong with an item.
fn process_error<E: std::fmt::Debug>(room: RoomId, error: ProcessMessageError<E>) -> E2eeError {
    let tampered = |what: &dyn std::fmt::Debug| E2eeError::Tampered {
        reason: format!("{what:?}"),
    };
    match error {
        ProcessMessageError::ValidationError(error) => match error {
            ValidationError::WrongGroupId => E2eeError::WrongGroup { room },
            ValidationError::WrongEpoch | ValidationError::NoPastEpochData => E2eeError::NotDecryptable {
                reason: format!("{error:?}"),
            },
            ValidationError::UnableToDecrypt(MessageDecryptionError::SecretTreeError(
                SecretTreeError::SecretReuseError | SecretTreeError::TooDistantInThePast,
            )) => E2eeError::Replayed,
            ValidationError::UnableToDecrypt(MessageDecryptionError::SecretTreeError(
                SecretTreeError::TooDistantInTheFuture,
            )) => E2eeError::NotDecryptable {
                reason: "the sender skipped more messages than allowed".into(),
            },
            ValidationError::LibraryError(e) => E2eeError::internal(e),
            other => tampered(&other),
        },
        ProcessMessageError::GroupStateError(MlsGroupStateError::UseAfterEviction) => {
            E2eeError::Removed { room }
        }
        ProcessMessageError::InvalidCommit(e) => tampered(&e),
        ProcessMessageError::IncompatibleWireFormat => E2eeError::malformed("handshake message in the clear"),
        ProcessMessageError::LibraryError(e) => E2eeError::internal(e),
        other => E2eeError::internal(format!("{other:?}")),
    }
}
