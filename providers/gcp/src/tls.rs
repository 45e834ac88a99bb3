//! The TLS crypto provider. The Google crates are built without their default provider
//! (aws-lc-rs); the HTTP clients they and this crate make need one installed before they are
//! built.

/// Installs rustls' `ring` provider (the one the rest of the workspace uses) as the process
/// default unless one is installed already.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
