//! TLS trust for a self-hosted server: a pinned leaf certificate (by fingerprint or by file)
//! with real signature checks, and root certificates from a file. Crypto is ring only.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme,
};

use crate::config::ServerTrust;
use crate::error::ConnectError;
use crate::fingerprint::Fingerprint;

/// Builds the rustls client configuration for `trust` (ring crypto, the trust rules of
/// [`ServerTrust`]). Public for programs that open their own TLS connections to the server,
/// such as a load generator, and want the same trust as the client.
#[cfg_attr(not(feature = "raw-tls"), allow(dead_code))]
pub fn client_config(trust: &ServerTrust) -> Result<Arc<ClientConfig>, ConnectError> {
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        ServerTrust::Fingerprint(fp) => Arc::new(PinnedVerifier::new(vec![*fp], None, provider.clone())),
        ServerTrust::CertificateFile(path) => file_verifier(certificates_in_file(path)?, provider.clone())?,
        ServerTrust::Certificates(ders) => {
            let certs = ders.iter().map(|d| CertificateDer::from(d.clone())).collect();
            file_verifier(certs, provider.clone())?
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Config(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificates of a PEM file, or the file itself as one DER certificate.
pub(crate) fn certificates_in_file(
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, ConnectError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConnectError::Config(format!("cannot read {}: {e}", path.display())))?;
    certificates_from_bytes(&bytes)
}

/// The certificates of PEM text, or the bytes themselves as one DER certificate.
fn certificates_from_bytes(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConnectError> {
    let pem: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(bytes).collect();
    match pem {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) if bytes.first() == Some(&0x30) => Ok(vec![CertificateDer::from(bytes.to_vec())]),
        Ok(_) => Err(ConnectError::Config(
            "the certificate file holds no certificate".into(),
        )),
        Err(e) => Err(ConnectError::Config(format!(
            "the certificate file is not valid PEM: {e}"
        ))),
    }
}

/// Trust for a certificate file: its certificates are pinned, and also serve as roots so that
/// a server certificate issued by a private CA in the file is accepted too.
fn file_verifier(
    certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, ConnectError> {
    if certs.is_empty() {
        return Err(ConnectError::Config("no trusted certificate given".into()));
    }
    let pins = certs.iter().map(|c| Fingerprint::of_der(c)).collect();
    let mut roots = RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(certs);
    let fallback = if roots.is_empty() {
        None
    } else {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| ConnectError::Config(format!("trusted certificates: {e}")))?;
        Some(webpki)
    };
    Ok(Arc::new(PinnedVerifier::new(pins, fallback, provider)))
}

/// Accepts a server whose leaf certificate is one of the pinned ones, else defers to the
/// optional web PKI verifier. Handshake signatures are always checked, so a server must hold
/// the pinned certificate's private key, not just present a copy of the certificate.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Vec<Fingerprint>,
    fallback: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

/// The reason given when the server's certificate matches no pin.
#[derive(Debug, thiserror::Error)]
#[error("the server presented certificate {presented}, which is not the trusted one")]
struct NotPinned {
    presented: Fingerprint,
}

impl PinnedVerifier {
    fn new(
        pins: Vec<Fingerprint>,
        fallback: Option<Arc<WebPkiServerVerifier>>,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        Self {
            pins,
            fallback,
            provider,
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity);
        if self.pins.iter().any(|pin| pin.matches(&presented)) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.fallback {
            Some(webpki) => {
                webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(NotPinned { presented })),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Sorts a TLS failure into a certificate problem or another TLS problem.
pub(crate) fn classify(error: &std::io::Error) -> ConnectError {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(e)) => ConnectError::Certificate(match e {
            CertificateError::Other(other) => other.0.to_string(),
            e => format!("{e:?}"),
        }),
        Some(rustls::Error::NoCertificatesPresented) => {
            ConnectError::Certificate("the server presented no certificate".into())
        }
        Some(e) => ConnectError::Tls(e.to_string()),
        None => ConnectError::Tls(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_files_must_hold_a_certificate() {
        assert!(matches!(
            certificates_from_bytes(b"hello"),
            Err(ConnectError::Config(_))
        ));
        assert!(matches!(
            certificates_from_bytes(b""),
            Err(ConnectError::Config(_))
        ));
        let bad_pem = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            certificates_from_bytes(bad_pem),
            Err(ConnectError::Config(_))
        ));
        // A DER blob (starts with a SEQUENCE tag) is taken as one certificate.
        assert_eq!(certificates_from_bytes(&[0x30, 0x03, 1, 2, 3]).unwrap().len(), 1);
    }

    #[test]
    fn a_fingerprint_config_builds_with_ring_only() {
        let trust = ServerTrust::Fingerprint(Fingerprint::of_der(b"x"));
        assert!(client_config(&trust).is_ok());
        let missing = ServerTrust::CertificateFile("/nonexistent/cert.pem".into());
        assert!(matches!(client_config(&missing), Err(ConnectError::Config(_))));
    }
}
