//! Sending a text: pad it to its bucket, encrypt it for the group's current epoch, and keep
//! it until it comes back in the timeline, since a device cannot decrypt its own messages
//! (its sending keys are gone once used). [`process`](Machine::process) then returns the
//! text like any other message.

use chat_proto::RoomId;
use openmls::prelude::CreateMessageError;
use openmls::prelude::MlsGroupStateError;

use crate::error::{E2eeError, Result};
use crate::identity::sha256;
use crate::machine::Machine;
use crate::padding::pad;
use crate::records::{RecordsExt, sent_key, sent_prefix};
use crate::store::Store;

/// How many sent texts a room keeps while waiting for them to come back; past it the
/// oldest is dropped (its echo then reads as not decryptable). Texts refused by the server
/// never come back; all are dropped when the epoch moves.
pub(crate) const MAX_SENT_WAITING: usize = 256;

impl<S: Store> Machine<S> {
    /// Encrypts `text` for the room's group at its current epoch: an application message
    /// (a serialized MLSMessage) whose size shows only the text's bucket (see
    /// [`padding`](crate::padding)). If the server refuses it as stale, process what was
    /// missed and encrypt again.
    pub fn encrypt(&mut self, room: RoomId, text: &str) -> Result<Vec<u8>> {
        let padded = pad(text)?;
        if !self.groups.contains_key(&room) {
            return Err(self.no_group(room));
        }
        self.atomically(Some(room), |m| {
            let group = m.groups.get_mut(&room).ok_or(E2eeError::UnknownGroup { room })?;
            let message = group
                .create_message(&m.provider, &m.signer, &padded)
                .map_err(|e| match e {
                    CreateMessageError::GroupStateError(MlsGroupStateError::UseAfterEviction) => {
                        E2eeError::Removed { room }
                    }
                    other => E2eeError::internal(other),
                })?;
            let bytes = message.to_bytes().map_err(E2eeError::internal)?;
            m.remember_sent(room, &bytes, text)?;
            Ok(bytes)
        })
    }

    /// Keeps `text` under the hash of its ciphertext, after a counter that orders the
    /// waiting texts so the oldest can go first.
    fn remember_sent(&mut self, room: RoomId, ciphertext: &[u8], text: &str) -> Result<()> {
        let mut record = self.room_record(room)?;
        record.sent_counter += 1;
        let prefix = sent_prefix(room);
        if self.mirror.meta.count_prefix(&prefix) >= MAX_SENT_WAITING {
            let oldest = self
                .mirror
                .meta
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .min_by_key(|(_, v)| v.first_chunk::<8>().map(|c| u64::from_be_bytes(*c)))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.mirror.meta.remove(&oldest);
            }
        }
        let value = [&record.sent_counter.to_be_bytes()[..], text.as_bytes()].concat();
        self.mirror
            .meta
            .insert(sent_key(room, &sha256(ciphertext)), value);
        self.put_room_record(room, &record)
    }

    /// The text this device sent as `ciphertext`, taken out of the waiting list.
    pub(crate) fn take_sent(&mut self, room: RoomId, hash: &[u8]) -> Option<String> {
        let value = self.mirror.meta.remove(&sent_key(room, hash))?;
        let text = value.get(8..)?;
        String::from_utf8(text.to_vec()).ok()
    }
}
