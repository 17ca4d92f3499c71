//! Key packages: the public halves other devices use to add this one. The machine keeps
//! the private halves (in openmls's storage) so a Welcome made from one opens.
//!
//! One-time packages are deleted when a Welcome uses them; the last-resort package (marked
//! with the last-resort extension) survives use, so a device whose pool ran dry can still
//! be added. [`Machine::unused_key_packages`] counts the one-time packages still unused.

use openmls::prelude::{
    CredentialWithKey, KeyPackage, KeyPackageBundle, KeyPackageRef, MlsMessageOut, OpenMlsProvider,
};
use openmls_traits::storage::StorageProvider as _;

use crate::error::{E2eeError, Result};
use crate::identity::{CIPHERSUITE, credential_for};
use crate::machine::Machine;
use crate::settings::capabilities;
use crate::store::Store;

impl<S: Store> Machine<S> {
    /// Makes `n` one-time key packages for the caller to upload, each a serialized
    /// MLSMessage(KeyPackage).
    pub fn key_packages(&mut self, n: usize) -> Result<Vec<Vec<u8>>> {
        self.atomically(None, |m| {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let (bytes, hash_ref) = m.new_key_package(false)?;
                m.identity.one_time.push(hash_ref);
                out.push(bytes);
            }
            m.write_identity()?;
            Ok(out)
        })
    }

    /// The last-resort key package (a serialized MLSMessage(KeyPackage)): the server hands
    /// it out when the one-time pool is empty, and it may be used any number of times.
    pub fn last_resort_key_package(&self) -> Vec<u8> {
        self.identity.last_resort.clone()
    }

    /// Replaces the last-resort key package with a fresh one and returns it for upload.
    /// The one before stays usable until the next renewal, so a Welcome made from it while
    /// the new one travels still opens. Key packages carry a lifetime (84 days), after
    /// which other devices refuse them: renew well before.
    pub fn renew_last_resort_key_package(&mut self) -> Result<Vec<u8>> {
        self.atomically(None, |m| {
            let (bytes, hash_ref) = m.new_key_package(true)?;
            if let Some(oldest) = m.identity.previous_last_resort_ref.take() {
                m.delete_key_package(&oldest)?;
            }
            m.identity.previous_last_resort_ref = m.identity.last_resort_ref.replace(hash_ref);
            m.identity.last_resort = bytes.clone();
            m.write_identity()?;
            Ok(bytes)
        })
    }

    /// How many one-time key packages made by [`key_packages`](Machine::key_packages) no
    /// Welcome has used yet on this device. Top the server's pool up when it runs low.
    pub fn unused_key_packages(&self) -> usize {
        self.identity
            .one_time
            .iter()
            .filter(|hash_ref| self.holds_key_package(hash_ref))
            .count()
    }

    /// Drops the references of one-time packages a Welcome used (after a join).
    pub(crate) fn forget_used_key_packages(&mut self) -> Result<()> {
        let before = self.identity.one_time.len();
        let one_time = std::mem::take(&mut self.identity.one_time);
        self.identity.one_time = one_time
            .into_iter()
            .filter(|hash_ref| self.holds_key_package(hash_ref))
            .collect();
        if self.identity.one_time.len() != before {
            self.write_identity()?;
        }
        Ok(())
    }

    fn holds_key_package(&self, hash_ref: &KeyPackageRef) -> bool {
        let stored: Result<Option<KeyPackageBundle>, _> = self.provider.storage().key_package(hash_ref);
        matches!(stored, Ok(Some(_)))
    }

    fn delete_key_package(&self, hash_ref: &KeyPackageRef) -> Result<()> {
        self.provider
            .storage()
            .delete_key_package(hash_ref)
            .map_err(E2eeError::internal)
    }

    /// A new key package: its upload bytes and its hash reference.
    pub(crate) fn new_key_package(&mut self, last_resort: bool) -> Result<(Vec<u8>, KeyPackageRef)> {
        let credential = CredentialWithKey {
            credential: credential_for(self.identity.user),
            signature_key: self.identity.signature_key.clone().into(),
        };
        let mut builder = KeyPackage::builder().leaf_node_capabilities(capabilities());
        if last_resort {
            builder = builder.mark_as_last_resort();
        }
        let bundle = builder
            .build(CIPHERSUITE, &self.provider, &self.signer, credential)
            .map_err(E2eeError::internal)?;
        let hash_ref = bundle
            .key_package()
            .hash_ref(self.provider.crypto())
            .map_err(E2eeError::internal)?;
        let bytes = MlsMessageOut::from(bundle.key_package().clone())
            .to_bytes()
            .map_err(E2eeError::internal)?;
        Ok((bytes, hash_ref))
    }
}
