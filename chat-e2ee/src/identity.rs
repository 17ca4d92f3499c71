//! Who is who in a group: the ciphersuite, a device's credential (`user:<id>`, its
//! signature key telling devices apart), fingerprints, and group ids made from room ids.

use chat_proto::{RoomId, UserId};
use openmls::prelude::{BasicCredential, Ciphersuite, Credential, CredentialType, GroupId};
use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::HashType;

use crate::error::{E2eeError, Result};

/// The one ciphersuite every group and key package uses: X25519, AES-128-GCM, SHA-256 and
/// Ed25519.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

const USER_PREFIX: &str = "user:";

/// The credential of a device of `user`: a basic credential whose identity is
/// `user:<id>`. All of a user's devices share it; their signature keys differ.
pub(crate) fn credential_for(user: UserId) -> Credential {
    BasicCredential::new(format!("{USER_PREFIX}{user}").into_bytes()).into()
}

/// The user a credential names, or why it names none.
pub(crate) fn user_of(credential: &Credential) -> Result<UserId> {
    let invalid = |reason: &str| E2eeError::InvalidMember {
        reason: reason.to_string(),
    };
    if credential.credential_type() != CredentialType::Basic {
        return Err(invalid("not a basic credential"));
    }
    let identity =
        std::str::from_utf8(credential.serialized_content()).map_err(|_| invalid("identity is not UTF-8"))?;
    let id = identity
        .strip_prefix(USER_PREFIX)
        .ok_or_else(|| invalid("identity does not start with user:"))?;
    id.parse()
        .map_err(|_| invalid("identity does not end with a user id"))
}

/// The group id of a room's group: the room id, 8 bytes big endian.
pub(crate) fn group_id_of(room: RoomId) -> GroupId {
    GroupId::from_slice(&room.get().to_be_bytes())
}

/// A device's fingerprint, for people to compare: SHA-256 of its public signature key, as
/// uppercase hex pairs separated by colons (as the server lists devices).
pub fn fingerprint(signature_key: &[u8]) -> String {
    sha256(signature_key)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-256 through the same RustCrypto provider openmls uses.
pub(crate) fn sha256(bytes: &[u8]) -> Vec<u8> {
    // RustCrypto's SHA-256 cannot fail; an empty digest would only make lookups miss.
    RustCrypto::default()
        .hash(HashType::Sha2_256, bytes)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_name_their_user_and_nothing_else_parses() {
        let user = UserId::new(42).unwrap();
        assert_eq!(user_of(&credential_for(user)).unwrap(), user);
        for bad in [&b"42"[..], b"user:", b"user:0", b"user:-1", b"user:42 ", b"\xff"] {
            let credential: Credential = BasicCredential::new(bad.to_vec()).into();
            assert!(user_of(&credential).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn fingerprints_are_sha256_in_hex() {
        // SHA-256 of the empty string, a well-known vector.
        assert_eq!(
            fingerprint(b"").replace(':', ""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
        assert_eq!(&fingerprint(b"")[..8], "E3:B0:C4");
    }

    #[test]
    fn group_ids_are_room_ids_big_endian() {
        let room = RoomId::new(0x0102).unwrap();
        assert_eq!(group_id_of(room).as_slice(), &[0, 0, 0, 0, 0, 0, 1, 2]);
    }
}
