//! The Compute Engine clients, one per service the crate calls, built once with the endpoint
//! and credentials of the config.
//!
//! The client library's own retry loop is off ([`NeverRetry`]): [`crate::call::Caller`]
//! retries through the provider's rate budget instead, so every attempt is paced and counted.
//! The crate builds the library without its default TLS provider and installs rustls' `ring`
//! provider, the one the rest of the workspace uses, when none is installed yet.

use google_cloud_auth::credentials::{self, Credentials};
use google_cloud_compute_v1::client::{
    GlobalOperations, Instances, Networks, RegionOperations, Routes, Subnetworks, ZoneOperations,
};
use google_cloud_gax::retry_policy::NeverRetry;

use crate::config::{CredentialsChoice, GcpConfig};
use crate::error::{ConfigError, ConfigResult};
use crate::tls::install_crypto_provider;

/// One client per Compute Engine service the crate uses. Cloning is cheap (each holds an
/// `Arc` and a connection pool).
#[derive(Debug, Clone)]
pub struct Clients {
    pub instances: Instances,
    pub routes: Routes,
    pub subnetworks: Subnetworks,
    pub networks: Networks,
    pub zone_operations: ZoneOperations,
    pub region_operations: RegionOperations,
    pub global_operations: GlobalOperations,
}

/// The credentials the config chooses.
pub fn credentials(config: &GcpConfig) -> ConfigResult<Credentials> {
    match config.credentials {
        CredentialsChoice::Anonymous => Ok(credentials::anonymous::Builder::new().build()),
        CredentialsChoice::MetadataServer => credentials::mds::Builder::default()
            .with_endpoint(config.metadata_root())
            .build()
            .map_err(|e| ConfigError::Credentials(Box::new(e))),
        CredentialsChoice::Default => credentials::Builder::default()
            .build()
            .map_err(|e| ConfigError::Credentials(Box::new(e))),
    }
}

/// Builds one client with the endpoint and credentials, its own retries off.
macro_rules! build_client {
    ($ty:ty, $name:literal, $endpoint:expr, $creds:expr) => {{
        let mut b = <$ty>::builder()
            .with_credentials($creds.clone())
            .with_retry_policy(NeverRetry);
        if let Some(e) = $endpoint {
            b = b.with_endpoint(e);
        }
        b.build().await.map_err(|e| ConfigError::Client {
            service: $name,
            source: Box::new(e),
        })?
    }};
}
pub(crate) use build_client;

/// The config's endpoint override, without a trailing slash (the client appends paths).
pub(crate) fn endpoint(config: &GcpConfig) -> Option<String> {
    config
        .endpoint
        .as_deref()
        .map(|e| e.trim_end_matches('/').to_string())
}

impl Clients {
    /// Builds every client with the config's endpoint and credentials.
    pub async fn build(config: &GcpConfig) -> ConfigResult<Clients> {
        install_crypto_provider();
        let creds = credentials(config)?;
        let endpoint = endpoint(config);
        let endpoint = endpoint.as_deref();
        Ok(Clients {
            instances: build_client!(Instances, "instances", endpoint, creds),
            routes: build_client!(Routes, "routes", endpoint, creds),
            subnetworks: build_client!(Subnetworks, "subnetworks", endpoint, creds),
            networks: build_client!(Networks, "networks", endpoint, creds),
            zone_operations: build_client!(ZoneOperations, "zoneOperations", endpoint, creds),
            region_operations: build_client!(RegionOperations, "regionOperations", endpoint, creds),
            global_operations: build_client!(GlobalOperations, "globalOperations", endpoint, creds),
        })
    }
}
