//! The settings every group and key package uses, and why.
//!
//! - **No past epochs.** The server accepts a message only in the room's current epoch and
//!   every device processes the room's items in `seq` order, so a message always arrives
//!   while its epoch is the receiver's current one. No epoch secret is kept after a commit
//!   (`max_past_epochs = 0`) and no resumption secret either: once a device moves on, what
//!   was sent before cannot be decrypted from its state.
//! - **No skipped message keys.** Within an epoch a sender's messages arrive in the order it
//!   sent them, so no key is kept for a message that might come later
//!   (`out_of_order_tolerance = 0`); a replayed message finds its key gone. A sender may
//!   skip up to 1,000 generations (messages the server refused).
//! - **Handshakes encrypted.** Commits travel as PrivateMessages: the server still reads the
//!   group, epoch and content type from the framing to order them, not who is added.
//! - **Ratchet tree in the Welcome**, so a new device needs nothing else to join.
//! - **No padding by openmls**: application texts are padded to buckets by
//!   [`crate::padding`], which is what decides the sizes the server sees.

use openmls::prelude::{
    Capabilities, ExtensionType, MlsGroupJoinConfig, PURE_CIPHERTEXT_WIRE_FORMAT_POLICY,
    SenderRatchetConfiguration,
};

use crate::identity::CIPHERSUITE;

/// How many generations a sender may skip within an epoch.
pub(crate) const MAX_FORWARD_DISTANCE: u32 = 1000;

pub(crate) fn sender_ratchet() -> SenderRatchetConfiguration {
    SenderRatchetConfiguration::new(0, MAX_FORWARD_DISTANCE)
}

/// The configuration of a group this device joins.
pub(crate) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .padding_size(0)
        .max_past_epochs(0)
        .number_of_resumption_psks(0)
        .use_ratchet_tree_extension(true)
        .sender_ratchet_configuration(sender_ratchet())
        .build()
}

/// What a device's leaf says it supports: this ciphersuite, basic credentials, and the
/// last-resort extension of its key packages.
pub(crate) fn capabilities() -> Capabilities {
    Capabilities::builder()
        .ciphersuites(vec![CIPHERSUITE])
        .extensions(vec![ExtensionType::LastResort])
        .build()
}
