//! The openmls provider of one device: RustCrypto for the primitives and randomness, and
//! openmls's in-memory storage, which [`crate::mirror`] copies to the caller's store.

use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;

/// Crypto, randomness and storage for openmls.
#[derive(Debug, Default)]
pub(crate) struct Provider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl Provider {
    /// A provider whose storage starts with `values` (openmls's own keys and values).
    pub(crate) fn with_values(values: std::collections::HashMap<Vec<u8>, Vec<u8>>) -> Self {
        Provider {
            crypto: RustCrypto::default(),
            storage: MemoryStorage {
                values: std::sync::RwLock::new(values),
            },
        }
    }
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}
