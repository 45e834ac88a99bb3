//! The API's serving certificate: a throwaway CA and a certificate for `127.0.0.1`/`localhost`
//! ([`cloudnet_tlsca`]).
//!
//! kubectl (client-go) sends bearer tokens only over TLS, so the API serves HTTPS by default;
//! the kubeconfigs it writes carry the CA so clients verify the server normally.

pub use cloudnet_tlsca::{ServingCert, install_default_crypto_provider};

use crate::error::{Error, Result};

/// Generates a CA and a serving certificate signed by it.
pub fn generate() -> Result<ServingCert> {
    cloudnet_tlsca::generate("kubesim", &[]).map_err(|e| Error::Tls(e.to_string()))
}
