//! A throwaway certificate authority and a serving certificate it signs, for the suite's HTTPS
//! servers on the loopback address: the embedded Kubernetes API (kubectl sends bearer tokens
//! only over TLS) and the mock cloud's Azure Resource Manager port (so do Azure's SDKs).
//!
//! ```text
//! generate(name, extra names) -> CA (PEM, for clients to trust) + rustls ServerConfig
//!                                 (leaf for localhost, 127.0.0.1, ::1 and the extra names)
//! ```

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names every serving certificate holds.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The generated CA (for clients) and the server's TLS configuration.
pub struct ServingCert {
    /// PEM of the CA that signed the serving certificate.
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Generating a key or a certificate, or building the TLS configuration, failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

fn tls_error(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// Generates a CA (common name `{name}-ca`) and a serving certificate signed by it (common
/// name `name`) for the loopback names and `extra_names`.
pub fn generate(name: &str, extra_names: &[&str]) -> Result<ServingCert, Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().map_err(tls_error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name}-ca"));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(tls_error)?;

    let key = KeyPair::generate().map_err(tls_error)?;
    let names: Vec<String> = LOOPBACK_NAMES
        .iter()
        .chain(extra_names)
        .map(|n| n.to_string())
        .collect();
    let mut leaf = CertificateParams::new(names).map_err(tls_error)?;
    leaf.distinguished_name.push(DnType::CommonName, name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).map_err(tls_error)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca_cert.der().clone()];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServingCert {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}

/// Checks a PEM certificate chain and a PEM private key as a TLS server would take them: at
/// least one certificate, a key of a supported type, and the key the first certificate's.
/// The error says which part is wrong.
pub fn check_key_pair(certificate_pem: &str, key_pem: &str) -> Result<(), Error> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certificate_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| Error(format!("the certificate is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(Error("the certificate holds no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| Error(format!("the private key is not PEM: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| Error(format!("the private key is not usable: {e}")))?;
    rustls::sign::CertifiedKey::new(chain, signing)
        .keys_match()
        .map_err(|e| {
            Error(format!(
                "the private key does not match the certificate: {e}"
            ))
        })
}

/// A self-signed certificate for `names` and its private key, both PEM (for tests that need
/// a TLS Secret's content).
pub fn self_signed(names: &[&str]) -> Result<(String, String), Error> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = rcgen::KeyPair::generate().map_err(tls_error)?;
    let cert = rcgen::CertificateParams::new(names)
        .map_err(tls_error)?
        .self_signed(&key)
        .map_err(tls_error)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes ring the process's default rustls provider unless one is set already. Clients that
/// take the process default (kube's rustls connector) cannot pick one in a binary that also
/// links an SDK enabling aws-lc-rs.
pub fn install_default_crypto_provider() {
    // Err only means a provider is installed already, which is all this wants.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_pair_is_checked() {
        let (cert, key) = self_signed(&["a.example"]).unwrap();
        let (other_cert, other_key) = self_signed(&["b.example"]).unwrap();
        check_key_pair(&cert, &key).unwrap();
        check_key_pair(&other_cert, &other_key).unwrap();
        let err = check_key_pair(&cert, &other_key).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
        let err = check_key_pair("not pem", &key).unwrap_err().to_string();
        assert!(err.contains("no CERTIFICATE"), "{err}");
        let err = check_key_pair(&cert, "not pem").unwrap_err().to_string();
        assert!(err.contains("private key is not PEM"), "{err}");
    }

    #[test]
    fn the_ca_is_pem_and_the_server_speaks_http1() {
        let cert = generate("test", &["example.invalid"]).unwrap();
        assert!(cert.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(
            cert.server_config.alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }
}
