//! What the provider is told, and what it finds out from the instance metadata service.
//!
//! A node knows its subscription, resource group and location from IMDS
//! (`GET /metadata/instance?api-version=2021-02-01` with `Metadata: true`); the VNet, the
//! node subnet and the kubenet route table are the cluster's (AKS writes them in
//! `azure.json`) and are given. For tests, an endpoint override, a static bearer token and
//! the mock cloud's CA.

use std::time::Duration;

use cloudnet_core::BudgetConfig;
use serde::Deserialize;

use crate::call::RetryConfig;
use crate::error::{ConfigError, ConfigResult};

/// The IMDS API version read.
pub const IMDS_API_VERSION: &str = "2021-02-01";

/// Where the provider's bearer tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsChoice {
    /// A fixed token (the mock cloud takes any bearer token).
    Static(String),
    /// AKS Workload Identity: the federated token file and client ID the webhook injects
    /// (`AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
    /// `AZURE_AUTHORITY_HOST`), exchanged at Entra ID.
    WorkloadIdentity,
    /// The VM's managed identity through IMDS (`/metadata/identity/oauth2/token`).
    ManagedIdentity,
}

/// Everything the provider needs.
#[derive(Debug, Clone)]
pub struct AzureConfig {
    pub subscription: String,
    /// The resource group of the cluster's network resources (AKS: the `MC_...` group).
    pub resource_group: String,
    pub location: String,
    /// The cluster's VNet and node subnet (by name, in `resource_group`).
    pub vnet: String,
    pub subnet: String,
    /// The kubenet route table (by name, in `resource_group`).
    pub route_table: String,
    /// The network security group the Service load balancers' allow rules go on (by name,
    /// in `resource_group`; cloud-provider-azure's `securityGroupName`, AKS's
    /// `aks-agentpool-<id>-nsg`). `None`: the one on the node subnet.
    pub security_group: Option<String>,
    /// The cluster's name: what the suite's resource names and tags carry.
    pub cluster: String,
    /// The ARM endpoint (`https://management.azure.com` unless overridden).
    pub endpoint: String,
    /// Extra CA certificate (PEM) to trust, for the mock cloud.
    pub ca_pem: Option<String>,
    pub credentials: CredentialsChoice,
    pub budget: BudgetConfig,
    pub retry: RetryConfig,
    /// Route changes arriving within this window go out in one route table PUT.
    pub route_batch_window: Duration,
}

impl AzureConfig {
    /// A config for the public cloud with defaults for everything but the names.
    pub fn new(
        instance: &Instance,
        vnet: &str,
        subnet: &str,
        route_table: &str,
        cluster: &str,
    ) -> AzureConfig {
        AzureConfig {
            subscription: instance.subscription_id.clone(),
            resource_group: instance.resource_group_name.clone(),
            location: instance.location.clone(),
            vnet: vnet.to_string(),
            subnet: subnet.to_string(),
            route_table: route_table.to_string(),
            security_group: None,
            cluster: cluster.to_string(),
            endpoint: "https://management.azure.com".to_string(),
            ca_pem: None,
            credentials: CredentialsChoice::ManagedIdentity,
            budget: BudgetConfig::default(),
            retry: RetryConfig::default(),
            route_batch_window: Duration::from_millis(500),
        }
    }

    /// The config of a node of a stand-in for Azure (the project's mock cloud): the
    /// subscription, resource group and location read from its IMDS, its ARM endpoint, the
    /// CA its TLS certificate chains to, and a static bearer token; everything else as
    /// [`AzureConfig::new`].
    pub async fn for_mock(
        mock: &MockEndpoints,
        network: &ClusterNetwork,
        cluster: &str,
    ) -> ConfigResult<AzureConfig> {
        let instance = discover(&mock.imds).await?;
        let mut cfg = AzureConfig::new(
            &instance,
            &network.vnet,
            &network.subnet,
            &network.route_table,
            cluster,
        );
        cfg.endpoint = mock.arm.clone();
        cfg.ca_pem = Some(mock.ca_pem.clone());
        cfg.credentials = CredentialsChoice::Static(mock.token.clone());
        Ok(cfg)
    }

    /// Refuses what cannot work, before any call.
    pub fn validate(&self) -> ConfigResult<()> {
        for (what, v) in [
            ("subscription", &self.subscription),
            ("resource group", &self.resource_group),
            ("location", &self.location),
            ("vnet", &self.vnet),
            ("subnet", &self.subnet),
            ("route table", &self.route_table),
            ("cluster", &self.cluster),
        ] {
            if v.trim().is_empty() {
                return Err(ConfigError::Invalid(format!("{what} is empty")));
            }
        }
        if self.cluster.len() > 40
            || !self
                .cluster
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ConfigError::Invalid(format!(
                "cluster name {:?}: at most 40 letters, digits and '-'",
                self.cluster
            )));
        }
        if self
            .security_group
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(ConfigError::Invalid("security group is empty".into()));
        }
        azure_core::Url::parse(&self.endpoint)
            .map_err(|e| ConfigError::Invalid(format!("endpoint {:?}: {e}", self.endpoint)))?;
        Ok(())
    }

    /// `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/{rest}`.
    pub fn network_id(&self, rest: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/{rest}",
            self.subscription, self.resource_group
        )
    }

    pub fn route_table_id(&self) -> String {
        self.network_id(&format!("routeTables/{}", self.route_table))
    }

    pub fn subnet_id(&self) -> String {
        self.network_id(&format!(
            "virtualNetworks/{}/subnets/{}",
            self.vnet, self.subnet
        ))
    }
}

/// Where a stand-in for Azure answers (the project's mock cloud), for
/// [`AzureConfig::for_mock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockEndpoints {
    /// IMDS's root as the node sees it (the mock's main port answers as its first VM, the
    /// port and `cloudnet_mockcloud::azimds::PATH_PREFIX` and a computer name as that VM).
    pub imds: String,
    /// The ARM endpoint.
    pub arm: String,
    /// The CA certificate (PEM) the ARM endpoint's certificate chains to.
    pub ca_pem: String,
    /// The bearer token sent (the mock takes any).
    pub token: String,
}

/// The cluster's network by name, as AKS's `azure.json` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNetwork {
    pub vnet: String,
    pub subnet: String,
    pub route_table: String,
}

impl ClusterNetwork {
    /// The names of the mock cloud's AKS-like world (`AzureWorld::default()`).
    pub fn aks_sandbox() -> ClusterNetwork {
        ClusterNetwork {
            vnet: "aks-vnet-12345678".into(),
            subnet: "aks-subnet".into(),
            route_table: "aks-agentpool-12345678-routetable".into(),
        }
    }
}

/// What IMDS says of the VM the process runs on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub subscription_id: String,
    pub resource_group_name: String,
    pub location: String,
    pub name: String,
    pub resource_id: String,
    #[serde(default)]
    pub vm_size: String,
}

/// Reads `/metadata/instance` from IMDS at `base` (`http://169.254.169.254` on Azure).
pub async fn discover(base: &str) -> ConfigResult<Instance> {
    #[derive(Deserialize)]
    struct Doc {
        compute: Instance,
    }
    let url = format!(
        "{}/metadata/instance?api-version={IMDS_API_VERSION}",
        base.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| ConfigError::Metadata(e.to_string()))?;
    let resp = client
        .get(&url)
        .header("Metadata", "true")
        .send()
        .await
        .map_err(|e| ConfigError::Metadata(format!("GET {url}: {e}")))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| ConfigError::Metadata(e.to_string()))?;
    if !status.is_success() {
        return Err(ConfigError::Metadata(format!(
            "GET {url}: {status}: {text}"
        )));
    }
    let doc: Doc = serde_json::from_str(&text)
        .map_err(|e| ConfigError::Metadata(format!("GET {url}: {e}")))?;
    let i = doc.compute;
    if i.subscription_id.is_empty() || i.resource_group_name.is_empty() || i.location.is_empty() {
        return Err(ConfigError::Metadata(format!(
            "GET {url}: no subscription, resource group or location"
        )));
    }
    Ok(i)
}
