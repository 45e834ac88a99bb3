//! The controllers in the sandbox: `cloudnet-controller`'s own composition
//! ([`cloudnet_controllers::app::run`]) through the AWS provider on the real SDK clients,
//! pointed at the mock cloud, under the API identity of the `cloudnet-controller`
//! ServiceAccount, with leader
//! election on, as a cluster runs them.
//!
//! ```text
//!  kubesim ◀── kube::Client (ServiceAccount token)     ── app::run ── AwsProvider::connect
//!                                                               │            │ SDK, SigV4
//!                          allocator, Service controller, Lease ┘            ▼
//!                                                          mock cloud EC2 / ELBv2 / IMDS
//! ```
//!
//! The controller "runs on" the first node: its VPC and credentials come from that
//! instance's metadata (the mock cloud serves it at `/_mockcloud/imds/<instance-id>`), as an
//! instance profile gives them on EC2.
//!
//! With `--provider gcp` the same composition runs on [`cloudnet_gcp::GcpCloud`] through the
//! Google Cloud client library against the mock's Compute Engine API; project, region and
//! network are discovered from the first node's GCE metadata server
//! (`/_mockcloud/gce-metadata/<zone>/<name>`), as cloud-provider-gcp discovers them on a VM.
//!
//! With `--provider azure` it runs on [`cloudnet_azure::AzureCloud`] through
//! `azure_mgmt_network` against the mock's ARM port (its CA trusted, a static bearer token);
//! subscription, resource group and location come from the first node's IMDS
//! (`/_mockcloud/azure-imds/<computer-name>`), the VNet, subnet and route table from the
//! world, as AKS's `azure.json` gives them.

use std::time::Duration;

use anyhow::{Context, Result};
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::app::{self, Settings};
use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_controllers::leader::ElectionConfig;
use cloudnet_controllers::service::ServiceSettings;
use cloudnet_core::Cloud;
use cloudnet_gcp::{CredentialsChoice, GcpCloud, GcpConfig};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

/// The cluster name on every cloud resource the sandbox's controllers create.
pub const CLUSTER_NAME: &str = "sandbox";
/// The controller's API identity: the token of the chart's `cloudnet-controller`
/// ServiceAccount (the audit shows what it did; with `--rbac` it may do what the chart's
/// RBAC grants).
pub const IDENTITY: &str = "system:serviceaccount:kube-system:cloudnet-controller";
/// The controller's cloud access key: the mock cloud maps it to the role of
/// `deploy/iam/aws/controller-policy.json` (on EKS, IRSA gives the controller that role).
pub const ACCESS_KEY: &str = "AKIDCLOUDNETCONTROLLER";
/// The controllers' Lease, as the Deployment's defaults name it.
pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "cloudnet-controller";
/// This replica's name in the Lease.
pub const REPLICA: &str = "cloudnet-controller-0";

/// The custom resources the allocator and ipamd use, installed as a Helm chart would, with
/// server-side apply as the field manager given.
pub use cloudnet_crds::install_crds;

/// The settings the sandbox runs the controllers with: the binary's defaults (Ingresses of
/// class `alb` served, Service garbage collection, TargetGroupBindings; no route controller,
/// as pod IPAM runs), plus LoadBalancer Services with no class served, as a cluster's
/// in-tree cloud provider does.
pub fn settings() -> Settings {
    let mut service = ServiceSettings::new(CLUSTER_NAME);
    service.serve_classless = true;
    Settings {
        ipam: Some(AllocatorConfig::default()),
        service: Some(service),
        ingress: Some(IngressSettings::new(CLUSTER_NAME)),
        service_gc: Some(Duration::from_secs(300)),
        target_group_binding: Some(Duration::from_secs(600)),
        readiness_gates: Some(cloudnet_controllers::readiness::controller::GatePolling::DEFAULT),
        election: Some(ElectionConfig::new(LEASE_NAMESPACE, LEASE_NAME, REPLICA)),
        ..Settings::default()
    }
}

/// The settings on GCP: as [`settings`], with Ingresses of class `gce` (GKE's) as
/// container-native load balancers (pod IP targets in NEGs, GKE's default on VPC-native
/// clusters).
pub fn gcp_settings() -> Settings {
    let mut s = settings();
    s.ingress = Some(IngressSettings::ingress_gce(CLUSTER_NAME));
    s.service = Some(ServiceSettings::ingress_gce(CLUSTER_NAME));
    // GCP has no TargetGroupBinding counterpart.
    s.target_group_binding = None;
    s
}

/// The settings on Azure: as [`settings`], with Services in cloud-provider-azure's dialect
/// (external unless `azure-load-balancer-internal`), pools kept 16 addresses (one NIC PUT,
/// Azure CNI's batch) ahead of their pods, and Ingresses in AGIC's dialect (class
/// `azure-application-gateway`, one Application Gateway per Ingress in the VNet's
/// `appgw-subnet`).
pub fn azure_settings() -> Settings {
    let mut s = settings();
    s.service = Some(ServiceSettings::cloud_provider_azure(CLUSTER_NAME));
    s.ingress = Some(IngressSettings::agic(CLUSTER_NAME));
    // Groups the suite does not own are not supported on Azure.
    s.target_group_binding = None;
    let mut ipam = AllocatorConfig::default();
    ipam.knobs.warm_ip_target = cloudnet_crds::AZURE_WARM_IP_TARGET;
    s.ipam = Some(ipam);
    s
}

/// The controllers, running.
pub struct Controllers {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<cloudnet_controllers::Result<()>>,
}

impl Controllers {
    /// Connects the provider to the mock cloud as the controller on `host_instance` would,
    /// and starts the controllers with the API identity `cloudnet-controller`.
    pub async fn start(
        api: &cloudnet_kubesim::server::Handle,
        cloud_endpoint: &str,
        region: &str,
        host_instance: &str,
    ) -> Result<Controllers> {
        let mut registry = Registry::default();
        let metrics = AwsMetrics::register(&mut registry);
        let mut aws = AwsConfig::new(CLUSTER_NAME);
        aws.endpoint_url = Some(cloud_endpoint.to_string());
        // As a Deployment's AWS_REGION gives it: the credentials chain would otherwise look
        // the region up at the default metadata address, which is not the mock cloud.
        aws.region = Some(region.to_string());
        aws.imds_endpoint = Some(format!("{cloud_endpoint}/_mockcloud/imds/{host_instance}"));
        // Its own role, not the node's instance profile (read-only), as IRSA gives it.
        aws.access_key = Some((ACCESS_KEY.to_string(), "sandbox".to_string()));
        let provider = AwsProvider::connect(aws, metrics)
            .await
            .context("cannot set up the AWS provider against the mock cloud")?;
        Controllers::spawn(api, provider.cloud(), settings(), registry).await
    }

    /// Connects the GCP backend to the mock cloud's Compute Engine API as the controller on
    /// the instance `zone`/`name` would (anonymous credentials: the mock's Compute Engine
    /// front takes any), and starts the controllers.
    pub async fn start_gcp(
        api: &cloudnet_kubesim::server::Handle,
        cloud_endpoint: &str,
        zone: &str,
        name: &str,
    ) -> Result<Controllers> {
        let mut gcp = GcpConfig::new(CLUSTER_NAME);
        gcp.endpoint = Some(cloud_endpoint.to_string());
        gcp.metadata_endpoint = Some(format!(
            "{cloud_endpoint}{}{zone}/{name}",
            cloudnet_mockcloud::gcemeta::PATH_PREFIX
        ));
        gcp.credentials = CredentialsChoice::Anonymous;
        let connected = GcpCloud::connect(gcp)
            .await
            .context("cannot set up the GCP provider against the mock cloud")?;
        Controllers::spawn(api, connected.cloud(), gcp_settings(), Registry::default()).await
    }

    /// Connects the Azure backend to the mock cloud's ARM port as the controller on the VM
    /// `computer_name` would, and starts the controllers.
    pub async fn start_azure(
        api: &cloudnet_kubesim::server::Handle,
        cloud: &cloudnet_mockcloud::Handle,
        computer_name: &str,
        network: &crate::aks::AksNetwork,
    ) -> Result<Controllers> {
        let mock = cloudnet_azure::MockEndpoints {
            imds: format!(
                "{}{}{computer_name}",
                cloud.endpoint_url(),
                cloudnet_mockcloud::azimds::PATH_PREFIX
            ),
            arm: cloud.arm_endpoint_url(),
            ca_pem: cloud.ca_pem().to_string(),
            token: crate::aks::CONTROLLER_TOKEN.into(),
        };
        let cfg = cloudnet_azure::AzureConfig::for_mock(&mock, network, CLUSTER_NAME)
            .await
            .with_context(|| format!("cannot read the mock's IMDS at {}", mock.imds))?;
        let connected = cloudnet_azure::AzureCloud::connect(cfg)
            .context("cannot set up the Azure provider against the mock cloud")?;
        Controllers::spawn(
            api,
            connected.cloud(),
            azure_settings(),
            Registry::default(),
        )
        .await
    }

    async fn spawn(
        api: &cloudnet_kubesim::server::Handle,
        cloud: Cloud,
        settings: Settings,
        registry: Registry,
    ) -> Result<Controllers> {
        let client = api
            .client_for(IDENTITY)
            .await
            .with_context(|| format!("no API client for {IDENTITY}"))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run(client, cloud, settings, registry, async {
            let _ = stopped.await;
        }));
        Ok(Controllers { stop, task })
    }

    /// Whether the controllers stopped on their own (a failure; see the log).
    pub fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the controllers (releasing the lease) and reports how they ended.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the controllers' task panicked")?
            .context("the controllers failed")
    }
}
