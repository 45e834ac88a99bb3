//! The serving certificate of the mock cloud's HTTPS port (Azure Resource Manager), for
//! `127.0.0.1`, `::1`, `localhost` and `management.azure.com`, signed by the mock's own CA
//! ([`cloudnet_tlsca`]). Azure's SDKs send bearer tokens only over TLS; clients trust the
//! CA's PEM (`GET /_mockcloud/ca.pem`).

pub use cloudnet_tlsca::ServingCert;

use crate::error::{Error, Result};

/// Generates a CA and a serving certificate signed by it.
pub fn generate() -> Result<ServingCert> {
    cloudnet_tlsca::generate("cloudnet-mockcloud", &["management.azure.com"])
        .map_err(|e| Error::Tls(e.to_string()))
}
