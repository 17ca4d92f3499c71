//! Sending a text: pad it to its bucket, encrypt it for the group's current epoch, and keep
//! it until it comes back in the timeline, since a device cannot decrypt its own messages
//! (its sending keys are gone once used). [`process`](Machine::process) then returns the
//! text like any other message.

use chat_proto::RoomId;
use openmls::prelude::MlsGroupStateError;
use openmls::prelude::{CreateMessageError, OpenMlsCrypto, OpenMlsProvider};
use openmls_traits::types::HashType;

use crate::error::{E2eeError, Result};
use crate::machine::Machine;
use crate::padding::pad;
use crate::records::{sent_key, sent_prefix};
use crate::store::Store;

/// How many sent messages a room keeps track of in one epoch (waiting to come back, or
/// come back, to tell a replay); past it the oldest is dropped (its echo then reads as not
/// decryptable). Texts refused by the server never come back; all are dropped when the
/// epoch moves.
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
    /// entries so the oldest can go first.
    fn remember_sent(&mut self, room: RoomId, ciphertext: &[u8], text: &str) -> Result<()> {
        let mut record = self.room_record(room)?;
        record.sent_counter += 1;
        let prefix = sent_prefix(room);
        if self.mirror.meta.count_prefix(&prefix) >= MAX_SENT_WAITING {
            let oldest = self
                .mirror
                .meta
                .with_prefix(&prefix)
                .min_by_key(|(_, v)| SentEntry::counter(v))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.mirror.meta.remove(&oldest);
            }
        }
        let entry = SentEntry::waiting(record.sent_counter, text);
        self.mirror
            .meta
            .insert(sent_key(room, &self.hash(ciphertext)), entry);
        self.put_room_record(room, &record)
    }

    /// What became of the message this device sent as the ciphertext with `hash`:
    /// `Some(Some(text))` the first time it comes back (the text is then dropped),
    /// `Some(None)` when it came back before, `None` if it is not one of this epoch's.
    pub(crate) fn take_sent(&mut self, room: RoomId, hash: &[u8]) -> Option<Option<String>> {
        let key = sent_key(room, hash);
        let entry = self.mirror.meta.get_mut(&key)?;
        Some(SentEntry::take_text(entry))
    }

    /// SHA-256 of bytes, with the provider's crypto.
    pub(crate) fn hash(&self, bytes: &[u8]) -> Vec<u8> {
        // RustCrypto's SHA-256 does not fail; an empty digest would only make lookups miss.
        self.provider
            .crypto()
            .hash(HashType::Sha2_256, bytes)
            .unwrap_or_default()
    }
}

/// A sent message's entry: `counter: u64 BE | state: u8 (0 waiting, 1 came back) | text`.
struct SentEntry;

impl SentEntry {
    const WAITING: u8 = 0;
    const CAME_BACK: u8 = 1;

    fn waiting(counter: u64, text: &str) -> Vec<u8> {
        [&counter.to_be_bytes()[..], &[Self::WAITING], text.as_bytes()].concat()
    }

    fn counter(entry: &[u8]) -> u64 {
        entry.first_chunk::<8>().map_or(0, |c| u64::from_be_bytes(*c))
    }

    /// The text if it was still waiting; the entry then only says it came back.
    fn take_text(entry: &mut Vec<u8>) -> Option<String> {
        if entry.get(8) != Some(&Self::WAITING) {
            return None;
        }
        let text = String::from_utf8(entry.get(9..)?.to_vec()).ok();
        entry.truncate(8);
        entry.push(Self::CAME_BACK);
        text
    }
}
