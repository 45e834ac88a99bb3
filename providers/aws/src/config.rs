//! Configuration: flags or discovery, credentials through the SDK's default chain.
//!
//! Region, VPC and the instance we run on come from the flags when given, else from the
//! EC2 instance metadata service (IMDSv2), as the AWS Load Balancer Controller does:
//! `placement/region`, `mac`, then `network/interfaces/macs/<mac>/vpc-id`. Credentials are
//! whatever `aws-config`'s default chain finds (environment, IRSA web identity token file,
//! SSO/profile, instance metadata); the endpoint is overridden by `endpoint_url` or the SDK's
//! own `AWS_ENDPOINT_URL`.

use std::time::Duration;

use aws_config::imds;
use cloudnet_core::BudgetConfig;
use ipnet::IpNet;

use crate::error::{ConfigError, ConfigResult};

/// Which route tables hold the cluster's pod routes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RouteTableSelector {
    /// These tables, by ID.
    Ids(Vec<String>),
    /// Tables in the VPC tagged `kubernetes.io/cluster/<name>` or `cloudnet.io/cluster=<name>`.
    #[default]
    ClusterTag,
}

/// What the provider is told. `None` fields are discovered.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub cluster_name: String,
    pub region: Option<String>,
    pub vpc_id: Option<String>,
    /// The mock cloud, LocalStack, or a VPC endpoint. `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
    /// Where instance metadata lives (default: the SDK's, or `AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    /// When set, discovery and the default region and credentials chains all read it; the
    /// mock cloud serves one instance's metadata under `<endpoint>/_mockcloud/imds/<instance-id>`.
    pub imds_endpoint: Option<String>,
    pub budget: BudgetConfig,
    /// Attempts per call in the SDK's standard retry (transient errors only).
    pub max_attempts: u32,
    /// Extra attempts of a throttled call, each through the budget.
    pub throttle_retries: u32,
    /// The cluster's pod CIDRs: a route is ours only when its destination is inside one.
    pub pod_cidrs: Vec<IpNet>,
    pub route_tables: RouteTableSelector,
    /// The nodes' security group; an ALB's managed group is let in there. None: no backend
    /// rule is written (the user opens the nodes' group).
    pub node_security_group: Option<String>,
    /// Every managed load balancer carries the cluster's shared backend security group and
    /// the nodes' group admits that one group (the AWS Load Balancer Controller's
    /// `--enable-backend-security-group`). Off: each ALB's managed group gets its own rule on
    /// the nodes' group, which meets the rules-per-group quota at scale.
    pub backend_security_group: bool,
    /// How long the backend security group's ID and the nodes' group's rules, once read, are trusted
    /// before they are read again (a rule removed behind our back is restored after this).
    pub backend_cache_ttl: Duration,
    /// How long discovered load balancer subnets (and the VPC's CIDRs) are reused.
    pub subnet_cache_ttl: Duration,
    /// How long the one listing of every load balancer stack (read on the provider's first
    /// `ensure`) serves the first observe of each stack; zero: every observe reads its stack
    /// call by call (see `lb/inventory.rs`).
    pub inventory_ttl: Duration,
    /// How long an interface or block we created is remembered when `Describe*` does not show
    /// it yet (EC2 is eventually consistent).
    pub consistency_window: Duration,
    /// Targets per RegisterTargets / DeregisterTargets call.
    pub target_batch: usize,
    /// A static access key `(id, secret)` used instead of the default credentials chain (the
    /// sandbox, tools). In a cluster leave it None: the chain finds the IRSA web identity or
    /// the instance profile.
    pub access_key: Option<(String, String)>,
}

impl AwsConfig {
    pub fn new(cluster_name: impl Into<String>) -> AwsConfig {
        AwsConfig {
            cluster_name: cluster_name.into(),
            region: None,
            vpc_id: None,
            endpoint_url: None,
            imds_endpoint: None,
            budget: BudgetConfig::default(),
            max_attempts: 3,
            throttle_retries: 8,
            pod_cidrs: Vec::new(),
            route_tables: RouteTableSelector::default(),
            node_security_group: None,
            backend_security_group: true,
            backend_cache_ttl: Duration::from_secs(300),
            subnet_cache_ttl: Duration::from_secs(300),
            inventory_ttl: Duration::from_secs(30),
            consistency_window: Duration::from_secs(30),
            target_batch: 200,
            access_key: None,
        }
    }
}

/// What instance metadata says about the instance we run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIdentity {
    pub instance_id: String,
    pub region: String,
    pub zone: String,
    pub vpc_id: String,
}

/// An IMDSv2 client (token flow, retries and timeouts are the SDK's).
pub fn imds_client(endpoint: Option<&str>) -> ConfigResult<imds::Client> {
    let mut builder = imds::Client::builder();
    if let Some(url) = endpoint {
        builder = builder
            .endpoint(url)
            .map_err(|source| ConfigError::Endpoint {
                url: url.to_string(),
                source,
            })?;
    }
    Ok(builder.build())
}

/// Reads the instance's identity from instance metadata.
pub async fn discover_instance(client: &imds::Client) -> ConfigResult<InstanceIdentity> {
    let get = |path: &'static str| async move {
        client
            .get(path)
            .await
            .map(|v| v.as_ref().trim().to_string())
    };
    let region = get("/latest/meta-data/placement/region")
        .await
        .map_err(|e| ConfigError::Region(Box::new(e)))?;
    let zone = get("/latest/meta-data/placement/availability-zone")
        .await
        .map_err(|e| ConfigError::Region(Box::new(e)))?;
    let instance_id = get("/latest/meta-data/instance-id")
        .await
        .map_err(|e| ConfigError::Vpc(Box::new(e)))?;
    let mac = get("/latest/meta-data/mac")
        .await
        .map_err(|e| ConfigError::Vpc(Box::new(e)))?;
    if mac.is_empty() {
        return Err(ConfigError::MissingMetadata("mac"));
    }
    let vpc_id = client
        .get(format!(
            "/latest/meta-data/network/interfaces/macs/{mac}/vpc-id"
        ))
        .await
        .map(|v| v.as_ref().trim().to_string())
        .map_err(|e| ConfigError::Vpc(Box::new(e)))?;
    Ok(InstanceIdentity {
        instance_id,
        region,
        zone,
        vpc_id,
    })
}
