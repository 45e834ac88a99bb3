//! Configuration: flags or discovery from the GCE metadata server, credentials through the
//! client library's own chain.
//!
//! Project, region and network come from the flags when given, else from the metadata server
//! of the VM we run on, as cloud-provider-gcp does: `project/project-id`, `instance/zone`
//! (`projects/<number>/zones/<zone>`, the region is the zone without its last `-x`) and
//! `instance/network-interfaces/0/network`. The metadata server is
//! `http://metadata.google.internal` unless `GCE_METADATA_HOST` or
//! [`GcpConfig::metadata_endpoint`] says otherwise (the mock cloud serves one instance's
//! metadata under `<endpoint>/_mockcloud/gce-metadata/<zone>/<name>`).

use std::time::Duration;

use cloudnet_core::BudgetConfig;

use crate::call::RetryConfig;
use crate::error::{ConfigError, ConfigResult};
use crate::names::last_segment;

/// The metadata server, as the client libraries find it.
pub const METADATA_ROOT: &str = "http://metadata.google.internal";

/// How operations are polled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperationPolling {
    /// The first wait before polling a running operation; doubles up to `max_interval`.
    pub initial_interval: Duration,
    pub max_interval: Duration,
    /// Past this, waiting stops with a `Transient` error (`operationTimeout`): the change
    /// may still happen, and the caller's next reconcile sees it.
    pub timeout: Duration,
}

impl Default for OperationPolling {
    fn default() -> Self {
        OperationPolling {
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(300),
        }
    }
}

/// Which credentials the clients use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CredentialsChoice {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file,
    /// then the metadata server (GKE Workload Identity, the VM's service account).
    #[default]
    Default,
    /// The metadata server's token for the VM's (or the Workload Identity) service account,
    /// at [`GcpConfig::metadata_endpoint`].
    MetadataServer,
    /// No credentials (the mock cloud, emulators).
    Anonymous,
}

/// What the provider is told. `None` fields are discovered from the metadata server.
#[derive(Debug, Clone)]
pub struct GcpConfig {
    pub cluster_name: String,
    pub project: Option<String>,
    pub region: Option<String>,
    /// The VPC network's name.
    pub network: Option<String>,
    /// The Compute Engine endpoint (default `https://compute.googleapis.com`); the mock
    /// cloud's `http://127.0.0.1:4566`.
    pub endpoint: Option<String>,
    /// The metadata server's root (default: `GCE_METADATA_HOST`, else [`METADATA_ROOT`]).
    pub metadata_endpoint: Option<String>,
    pub credentials: CredentialsChoice,
    pub budget: BudgetConfig,
    pub retry: RetryConfig,
    pub polling: OperationPolling,
    /// Writes tried at most when fingerprints keep going stale.
    pub fingerprint_attempts: u32,
    /// The subnetwork secondary range node pod ranges come from (GKE: `pods`).
    pub pod_range_name: String,
    /// The size of one node's alias range (GKE's default /24: 110 pods with headroom).
    pub node_prefix_len: u8,
    /// Alias ranges one interface may hold (a conservative default; raise it to the
    /// project's own limit).
    pub max_alias_ranges: u32,
    /// Priority of the routes the suite creates (GCE's default 1000).
    pub route_priority: u32,
    /// How long the metadata server may take to answer a discovery question.
    pub metadata_timeout: Duration,
}

impl GcpConfig {
    pub fn new(cluster_name: impl Into<String>) -> GcpConfig {
        GcpConfig {
            cluster_name: cluster_name.into(),
            project: None,
            region: None,
            network: None,
            endpoint: None,
            metadata_endpoint: None,
            credentials: CredentialsChoice::Default,
            budget: BudgetConfig::default(),
            retry: RetryConfig::default(),
            polling: OperationPolling::default(),
            fingerprint_attempts: 5,
            pod_range_name: "pods".into(),
            node_prefix_len: 24,
            max_alias_ranges: 10,
            route_priority: 1000,
            metadata_timeout: Duration::from_secs(5),
        }
    }

    /// The metadata server's root in force.
    pub fn metadata_root(&self) -> String {
        metadata_root(self.metadata_endpoint.as_deref())
    }
}

/// The metadata server's root: `GCE_METADATA_HOST` wins (as in the client libraries), then
/// the given endpoint, then [`METADATA_ROOT`].
pub fn metadata_root(endpoint: Option<&str>) -> String {
    if let Ok(host) = std::env::var("GCE_METADATA_HOST")
        && !host.is_empty()
    {
        return format!("http://{host}");
    }
    endpoint
        .unwrap_or(METADATA_ROOT)
        .trim_end_matches('/')
        .to_string()
}

/// What the metadata server says about the VM we run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIdentity {
    pub project: String,
    pub zone: String,
    pub region: String,
    pub instance_name: String,
    /// The network of the VM's first interface, by name.
    pub network: String,
}

/// Project, region and network as the provider uses them, given or discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub project: String,
    pub region: String,
    pub network: String,
}

/// A metadata server client (`Metadata-Flavor: Google` on every request).
#[derive(Debug, Clone)]
pub struct Metadata {
    root: String,
    http: reqwest::Client,
}

impl Metadata {
    pub fn new(root: impl Into<String>, timeout: Duration) -> ConfigResult<Metadata> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .build()
            .map_err(|e| ConfigError::Metadata {
                what: "an HTTP client",
                source: Box::new(e),
            })?;
        Ok(Metadata {
            root: root.into(),
            http,
        })
    }

    /// One value, e.g. `project/project-id`.
    pub async fn get(&self, what: &'static str, path: &str) -> ConfigResult<String> {
        let url = format!("{}/computeMetadata/v1/{path}", self.root);
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| ConfigError::Metadata {
            what,
            source,
        };
        let resp = self
            .http
            .get(&url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| failed(Box::new(e)))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| failed(Box::new(e)))?;
        if !status.is_success() {
            return Err(failed(format!("{url} answered {status}").into()));
        }
        Ok(body.trim().to_string())
    }

    /// The VM's identity.
    pub async fn discover(&self) -> ConfigResult<InstanceIdentity> {
        let project = self.get("the project", "project/project-id").await?;
        let zone_path = self.get("the zone", "instance/zone").await?;
        let zone = last_segment(&zone_path).to_string();
        let region = region_of_zone(&zone).ok_or_else(|| ConfigError::MetadataValue {
            what: "instance/zone",
            value: zone_path.clone(),
        })?;
        let instance_name = self.get("the instance name", "instance/name").await?;
        let network_path = self
            .get("the network", "instance/network-interfaces/0/network")
            .await?;
        let network = last_segment(&network_path).to_string();
        if project.is_empty() || network.is_empty() {
            return Err(ConfigError::MetadataValue {
                what: "project or network",
                value: format!("{project:?} {network_path:?}"),
            });
        }
        Ok(InstanceIdentity {
            project,
            zone,
            region,
            instance_name,
            network,
        })
    }
}

/// `us-central1-a` -> `us-central1`.
pub fn region_of_zone(zone: &str) -> Option<String> {
    let (region, suffix) = zone.rsplit_once('-')?;
    (!region.is_empty() && !suffix.is_empty() && region.contains('-')).then(|| region.to_string())
}

/// Fills what the config leaves open from the metadata server (asked only when something is
/// missing).
pub async fn resolve_location(config: &GcpConfig) -> ConfigResult<Location> {
    if config.cluster_name.trim().is_empty() {
        return Err(ConfigError::NoClusterName);
    }
    if let (Some(project), Some(region), Some(network)) =
        (&config.project, &config.region, &config.network)
    {
        return Ok(Location {
            project: project.clone(),
            region: region.clone(),
            network: network.clone(),
        });
    }
    let id = Metadata::new(config.metadata_root(), config.metadata_timeout)?
        .discover()
        .await?;
    Ok(Location {
        project: config.project.clone().unwrap_or(id.project),
        region: config.region.clone().unwrap_or(id.region),
        network: config.network.clone().unwrap_or(id.network),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_zones() {
        assert_eq!(
            region_of_zone("us-central1-a").as_deref(),
            Some("us-central1")
        );
        assert_eq!(
            region_of_zone("europe-west1-b").as_deref(),
            Some("europe-west1")
        );
        assert_eq!(region_of_zone("nozone"), None);
        assert_eq!(region_of_zone("us-"), None);
    }
}
