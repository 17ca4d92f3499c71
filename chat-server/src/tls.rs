//! TLS set-up: the operator's certificate files, or a self-signed certificate generated
//! into the data directory on first start and reused afterwards, and its SHA-256
//! fingerprint. Crypto is `ring` only.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::error::ServerError;

/// Name of the generated certificate file inside `<data_dir>/tls/`.
pub const CERT_FILE: &str = "cert.pem";
/// Name of the generated key file inside `<data_dir>/tls/`.
pub const KEY_FILE: &str = "key.pem";

/// A ready TLS acceptor and what clients need to trust it.
#[derive(Clone)]
pub struct TlsSetup {
    /// Accepts TLS connections.
    pub acceptor: TlsAcceptor,
    /// The leaf certificate's DER bytes.
    pub leaf_der: Vec<u8>,
    /// SHA-256 of `leaf_der`, uppercase hex pairs joined by colons.
    pub fingerprint: String,
    /// The PEM file of the certificate chain.
    pub cert_path: PathBuf,
    /// Whether the certificate was generated just now (first start).
    pub generated: bool,
}

/// SHA-256 of a certificate's DER bytes as uppercase hex pairs joined by colons
/// (`AB:CD:...`), the form clients pin.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex = hex::encode_upper(digest);
    let pairs: Vec<&str> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap_or("??"))
        .collect();
    pairs.join(":")
}

/// Loads the self-signed certificate from `<data_dir>/tls/`, generating it first when
/// neither file exists. Names in the certificate: `localhost`, `127.0.0.1`, `::1`, the
/// listen address when it is a specific one, and `extra_names`.
pub fn self_signed(
    data_dir: &Path,
    listen: SocketAddr,
    extra_names: &[String],
) -> Result<TlsSetup, ServerError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let generated = match (cert_path.exists(), key_path.exists()) {
        (true, true) => false,
        (false, false) => {
            generate(&dir, &cert_path, &key_path, listen, extra_names)?;
            true
        }
        _ => {
            return Err(ServerError::Tls(format!(
                "only one of {} and {} exists; restore the other or delete both to generate a new certificate",
                cert_path.display(),
                key_path.display()
            )));
        }
    };
    let mut setup = from_files(&cert_path, &key_path)?;
    setup.generated = generated;
    Ok(setup)
}

/// Builds the acceptor from PEM files: a certificate chain (leaf first) and a private key.
pub fn from_files(cert_path: &Path, key_path: &Path) -> Result<TlsSetup, ServerError> {
    let read_err = |path: &Path, e: &dyn std::fmt::Display| {
        ServerError::Tls(format!("cannot read {}: {e}", path.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| read_err(cert_path, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(cert_path, &e))?;
    let Some(leaf) = chain.first() else {
        return Err(ServerError::Tls(format!(
            "{} holds no certificate",
            cert_path.display()
        )));
    };
    let leaf_der = leaf.as_ref().to_vec();
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| read_err(key_path, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| ServerError::Tls(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        fingerprint: fingerprint(&leaf_der),
        leaf_der,
        cert_path: cert_path.to_path_buf(),
        generated: false,
    })
}

fn generate(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    listen: SocketAddr,
    extra_names: &[String],
) -> Result<(), ServerError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    for name in extra_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| ServerError::Tls(format!("certificate names: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "chat-server self-signed");
    let key = rcgen::KeyPair::generate().map_err(|e| ServerError::Tls(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let io_err = |path: &Path, source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    // The key first, so that a crash in between leaves "key without cert", which the next
    // start reports instead of silently replacing a certificate clients have pinned.
    write_private(key_path, key.serialize_pem().as_bytes()).map_err(|e| io_err(key_path, e))?;
    write_atomically(cert_path, cert.pem().as_bytes()).map_err(|e| io_err(cert_path, e))?;
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn fingerprint_is_uppercase_colon_separated_sha256() {
        let fp = fingerprint(b"abc");
        // SHA-256("abc") = ba7816bf...
        assert!(fp.starts_with("BA:78:16:BF:"), "{fp}");
        assert_eq!(fp.len(), 32 * 3 - 1);
    }

    #[test]
    fn generated_certificate_is_reused_with_the_same_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = self_signed(dir.path(), listen(), &["chat.example".into()]).expect("generate");
        assert!(first.generated);
        assert!(first.cert_path.exists());
        assert_eq!(first.fingerprint, fingerprint(&first.leaf_der));
        let second = self_signed(dir.path(), listen(), &[]).expect("reload");
        assert!(!second.generated);
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first.leaf_der, second.leaf_der);
    }

    #[cfg(unix)]
    #[test]
    fn generated_key_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        self_signed(dir.path(), listen(), &[]).expect("generate");
        let mode = fs::metadata(dir.path().join("tls").join(KEY_FILE))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }

    #[test]
    fn a_missing_half_is_reported_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        self_signed(dir.path(), listen(), &[]).expect("generate");
        fs::remove_file(dir.path().join("tls").join(KEY_FILE)).expect("remove key");
        let err = self_signed(dir.path(), listen(), &[]).err().expect("must fail");
        assert!(err.to_string().contains("only one of"), "{err}");
    }

    #[test]
    fn garbage_files_are_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        fs::write(&cert, "not a certificate").expect("write");
        fs::write(&key, "not a key").expect("write");
        let err = from_files(&cert, &key).err().expect("must fail");
        assert!(matches!(err, ServerError::Tls(_)), "{err}");
    }
}
