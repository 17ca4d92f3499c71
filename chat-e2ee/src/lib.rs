//! End-to-end encryption for one chat device: the MLS (RFC 9420) work of a device, with no
//! IO. Inputs from the server go in ([`Machine::process`], [`Machine::join_from_welcome`]),
//! things to send come out ([`Machine::encrypt`], [`Machine::commit`],
//! [`Machine::key_packages`]), and the state lives behind a [`Store`] the caller chooses.
//! No sockets, no async runtime, no clock; openmls is the MLS implementation.
//!
//! ```
//! use chat_e2ee::{DeviceToAdd, Machine, MemoryStore, Processed, RoomDevice};
//! use chat_proto::{DeviceId, RoomId, UserId};
//!
//! # fn main() -> Result<(), chat_e2ee::E2eeError> {
//! let room = RoomId::new(7).unwrap();
//! let mut alice = Machine::create(UserId::new(1).unwrap(), MemoryStore::new())?;
//! let mut bob = Machine::create(UserId::new(2).unwrap(), MemoryStore::new())?;
//! alice.set_device_id(DeviceId::new(10).unwrap())?;
//! bob.set_device_id(DeviceId::new(20).unwrap())?;
//! let bob_key_package = bob.key_packages(1)?.remove(0); // uploaded, then claimed by alice
//!
//! // Alice creates the room's group and adds the room's devices.
//! alice.create_group(room)?;
//! let devices = [alice.device(), bob.device()].map(Option::unwrap);
//! let plan = alice.plan(room, &devices)?;
//! let adds = plan.add.into_iter().map(|device| DeviceToAdd { device, key_package: bob_key_package.clone() });
//! let pending = alice.commit(room, adds.collect(), &plan.remove)?;
//! // The server accepts the commit (seq 1) and hands the Welcome to bob's device.
//! alice.process(room, 1, &pending.commit)?;
//! bob.join_from_welcome(room, 1, pending.welcome.as_deref().unwrap())?;
//! bob.learn_devices(&devices)?; // the server's list of the room's devices names senders
//!
//! let ciphertext = alice.encrypt(room, "hello, bob")?; // the server stores it as seq 2
//! let Processed::Message(message) = bob.process(room, 2, &ciphertext)? else { unreachable!() };
//! assert_eq!(message.text, "hello, bob");
//! assert_eq!(message.sender.device, Some(DeviceId::new(10).unwrap()));
//! # Ok(()) }
//! ```
//!
//! # The model
//!
//! - **Devices.** Each device is one MLS client with its own Ed25519 signature key; its
//!   credential names the user (`user:<id>`), its key tells it apart. Its fingerprint is
//!   the SHA-256 of the key in hex pairs ([`fingerprint`]).
//! - **One group per encrypted room**, whose group id is the room id (8 bytes, big endian).
//!   The server orders every MLS item of the room by `seq` and accepts one commit per
//!   epoch; each device processes the items in `seq` order, each once, its own included.
//! - **Membership follows the room.** Given the devices of the room's members,
//!   [`Machine::plan`] says which to add and remove; [`Machine::commit`] makes one commit
//!   for it with the Welcome. The commit is merged when it comes back in the timeline, or
//!   discarded when another commit for the same epoch comes first; plan again then.
//! - **Forward secrecy.** No past epoch secrets and no skipped message keys are kept
//!   ([`settings`](crate#layout) says why): a device added later cannot read what came
//!   before, a removed device cannot read what comes after, and a device that moved on
//!   cannot read old ciphertext from its state. Keep decrypted texts in the client's own
//!   encrypted history.
//! - **Sizes.** Texts are padded to buckets (powers of two from 64 bytes, see
//!   [`padding`]); the server learns only the bucket.
//! - **State.** Every operation writes its changes to the [`Store`] as one [`ChangeSet`],
//!   or, if it fails, changes nothing. A restarted device ([`Machine::load`]) continues
//!   where it was. openmls's state is kept in its in-memory storage
//!   ([`openmls_memory_storage`]) and mirrored to the store after each operation.
//!
//! # Layout
//! - `machine`: [`Machine`]: creation, loading, groups, and all-or-nothing operations.
//! - `key_packages`: one-time and last-resort key packages.
//! - `membership`: room devices, group devices and the [`Plan`] between them.
//! - `commit`: commits and the [`PendingCommit`] awaiting the server.
//! - `send`: [`Machine::encrypt`] and the texts waiting to come back.
//! - `receive`: [`Machine::process`] and what an item was ([`Processed`]).
//! - [`padding`]: the padded plaintext and its size buckets.
//! - `identity`: ciphersuite, credentials, fingerprints, group ids.
//! - `settings`: the group settings and why (epochs kept, ratchet, wire format).
//! - `records`: the machine's own records beside openmls's state.
//! - `mirror`: keeps the store in step, one change set per operation.
//! - `provider`: openmls's provider (RustCrypto and in-memory storage).
//! - [`store`]: the [`Store`] trait, [`MemoryStore`] and [`FileStore`].
//! - `error`: [`E2eeError`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commit;
mod error;
mod identity;
mod key_packages;
mod machine;
mod membership;
mod mirror;
pub mod padding;
mod provider;
mod receive;
mod records;
mod send;
mod settings;
pub mod store;

pub use commit::PendingCommit;
pub use error::{E2eeError, Result};
pub use identity::{CIPHERSUITE, fingerprint};
pub use machine::Machine;
pub use membership::{DeviceToAdd, GroupDevice, Plan, RoomDevice};
pub use padding::{MAX_TEXT_BYTES, bucket_for};
pub use receive::{CommitReport, Processed, ReceivedMessage};
pub use store::{ChangeSet, Entries, FileStore, MemoryStore, Store, StoreError};

#[cfg(test)]
mod tests {
    /// The client library drives a machine from async tasks: it must be movable between
    /// threads.
    #[test]
    fn a_machine_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<crate::Machine<crate::MemoryStore>>();
        assert_send::<crate::Machine<crate::FileStore>>();
        assert_send::<crate::E2eeError>();
    }
}
