//! A throwaway certificate authority and serving certificate for `127.0.0.1`/`localhost`.
//!
//! kubectl (client-go) sends bearer tokens only over TLS, so the API serves HTTPS by default;
//! the kubeconfigs it writes carry the CA so clients verify the server normally.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// The generated CA (for kubeconfigs) and the server's TLS configuration.
pub struct ServingCert {
    /// PEM of the CA that signed the serving certificate.
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn tls_error(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

/// Generates a CA and a serving certificate for `127.0.0.1`, `::1` and `localhost`.
pub fn generate() -> Result<ServingCert> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().map_err(tls_error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "kubesim-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(tls_error)?;

    let key = KeyPair::generate().map_err(tls_error)?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(tls_error)?;
    leaf.distinguished_name.push(DnType::CommonName, "kubesim");
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

/// Makes ring the process's default rustls provider unless one is set already. The embedded
/// API's clients (kube's rustls connector) take the process default, and a binary that also
/// links an SDK enabling aws-lc-rs has two candidates, so rustls would refuse to pick one.
pub fn install_default_crypto_provider() {
    // Err only means a provider is installed already, which is all this wants.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
