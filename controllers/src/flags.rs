//! `cloudnet-controller`'s flags (each also an environment variable), and the [`Settings`] they
//! make. In the library so that the Helm chart's tests parse the chart's rendered arguments with
//! the binary's own parser: a flag the chart passes and the binary does not take fails there.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use cloudnet_core::TargetKind;

use crate::app::Settings;
use crate::cloud_flags::CloudProvider;
use crate::ingress::IngressSettings;
use crate::ipam::{AllocatorConfig, PoolKnobs};
use crate::leader::ElectionConfig;
use crate::routes::RouteSettings;
use crate::service::ServiceSettings;

/// The Ingress class served by default on AWS (the AWS Load Balancer Controller's).
const DEFAULT_INGRESS_CLASS: &str = "alb";

#[derive(Debug, Parser)]
#[command(
    name = "cloudnet-controller",
    version,
    about = "Every cloudnet controller in one process"
)]
pub struct Args {
    /// The cloud (`--provider aws|gcp`, `CLOUD_PROVIDER`) and the GCP settings.
    #[command(flatten)]
    pub cloud: crate::cloud_flags::CloudArgs,
    /// The cluster's name: the ownership tags of everything the suite creates.
    #[arg(long, env = "CLUSTER_NAME")]
    pub cluster_name: String,
    /// The cloud's API endpoint (the mock cloud, a VPC endpoint); default: the cloud's own.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub cloud_endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// The cluster's VPC; default: the one of the instance the controller runs on.
    #[arg(long, env = "VPC_ID")]
    pub vpc_id: Option<String>,
    /// Rate budget overrides, e.g. `compute:mutate=2:10,compute:describe=10:50`.
    #[arg(long, env = "CLOUD_RATE_BUDGET")]
    pub rate_budget: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// `json` in clusters, `text` at a terminal.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,

    /// Whole interfaces' worth of free addresses to keep per node (default 1; on Azure, when
    /// no pool knob is given, WARM_IP_TARGET=16 decides instead: Azure CNI's batch).
    #[arg(long, env = "WARM_ENI_TARGET")]
    pub warm_eni_target: Option<u32>,
    /// Free addresses to keep per node (0: unset); wins over WARM_ENI_TARGET and
    /// WARM_PREFIX_TARGET.
    #[arg(long, env = "WARM_IP_TARGET", default_value_t = 0)]
    pub warm_ip_target: u32,
    /// Addresses to hold per node at least (0: unset).
    #[arg(long, env = "MINIMUM_IP_TARGET", default_value_t = 0)]
    pub minimum_ip_target: u32,
    /// Whole free /28 prefixes to keep per node, with prefix delegation.
    #[arg(long, env = "WARM_PREFIX_TARGET", default_value_t = 1)]
    pub warm_prefix_target: u32,
    /// Interfaces per node at most, below the instance type's limit.
    #[arg(long, env = "MAX_ENI")]
    pub max_eni: Option<u32>,
    /// Hand out /28 prefixes instead of single secondary addresses.
    #[arg(long, env = "ENABLE_PREFIX_DELEGATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub enable_prefix_delegation: bool,
    /// The node label whose value names the node's InterfaceConfig (like the VPC CNI's
    /// ENI_CONFIG_LABEL_DEF, e.g. `topology.kubernetes.io/zone`).
    #[arg(long, env = "ENI_CONFIG_LABEL_DEF")]
    pub interface_config_label: Option<String>,
    /// Node rounds in progress at most.
    #[arg(long, env = "IPAM_PARALLELISM", default_value_t = 16)]
    pub ipam_parallelism: usize,
    /// Cloud steps of one node's round in flight at most (its new interfaces are created and
    /// attached concurrently).
    #[arg(long, env = "IPAM_NODE_PARALLELISM", default_value_t = 4)]
    pub ipam_node_parallelism: usize,
    /// Each node is described again at least this often (seconds).
    #[arg(long, env = "IPAM_RESYNC_SECONDS", default_value_t = 300)]
    pub ipam_resync_seconds: u64,
    /// An interface of ours left unattached this long is deleted (seconds).
    #[arg(long, env = "ORPHAN_ENI_GRACE_SECONDS", default_value_t = 600)]
    pub orphan_grace_seconds: u64,
    /// How often interfaces of ours left unattached are looked for (seconds).
    #[arg(long, env = "ORPHAN_ENI_INTERVAL_SECONDS", default_value_t = 120)]
    pub orphan_interval_seconds: u64,

    /// Run the pod address allocator.
    #[arg(long, env = "ENABLE_POD_IPAM", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_pod_ipam: bool,
    /// Run the Service (L4 load balancer) controller.
    #[arg(long, env = "ENABLE_SERVICE_CONTROLLER", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_service_controller: bool,
    /// Also serve LoadBalancer Services with no `spec.loadBalancerClass`, as a cluster's
    /// in-tree cloud provider does.
    #[arg(long, env = "SERVE_CLASSLESS_SERVICES", default_value_t = false, action = clap::ArgAction::Set)]
    pub serve_classless_services: bool,
    /// Target type of Services that name none: `instance` (node ports) or `ip` (pod IPs).
    #[arg(long, env = "DEFAULT_TARGET_TYPE", default_value = "instance")]
    pub default_target_type: String,
    /// Every Service's load balancer is ensured again at least this often (seconds).
    #[arg(long, env = "SERVICE_RESYNC_SECONDS", default_value_t = 600)]
    pub service_resync_seconds: u64,
    /// Run the Ingress (L7 load balancer) controller.
    #[arg(long, env = "ENABLE_INGRESS_CONTROLLER", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_ingress_controller: bool,
    /// Ingress class names served with no IngressClass object (comma-separated; also the
    /// legacy `kubernetes.io/ingress.class` values). IngressClasses whose controller is
    /// `cloudnet.io/alb` or `ingress.k8s.aws/alb` are served whatever their name.
    #[arg(long, env = "INGRESS_CLASS", default_value = DEFAULT_INGRESS_CLASS)]
    pub ingress_class: String,
    /// Every IngressGroup's load balancer is ensured again at least this often (seconds).
    #[arg(long, env = "INGRESS_RESYNC_SECONDS", default_value_t = 600)]
    pub ingress_resync_seconds: u64,
    /// Load balancers of this cluster's Services that are gone are looked for at start and
    /// this often (seconds; 0: never). Only stacks with this cluster's ownership tags.
    #[arg(long, env = "GC_INTERVAL_SECONDS", default_value_t = 300)]
    pub gc_interval_seconds: u64,
    /// Run the TargetGroupBinding controller (needs the `targetgroupbindings.cloudnet.io`
    /// CRD installed).
    #[arg(long, env = "ENABLE_TARGET_GROUP_BINDING", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_target_group_binding: bool,
    /// Every binding's targets are synced again at least this often (seconds).
    #[arg(
        long,
        env = "TARGET_GROUP_BINDING_RESYNC_SECONDS",
        default_value_t = 600
    )]
    pub target_group_binding_resync_seconds: u64,

    /// Open pod readiness gates `target-health.cloudnet.io/<name>` (and the AWS Load
    /// Balancer Controller's `target-health.elbv2.k8s.aws/<name>`) once the pod's target is
    /// healthy; gated pods whose containers are ready are registered before they are Ready.
    #[arg(long, env = "ENABLE_POD_READINESS_GATES", default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_pod_readiness_gates: bool,
    /// While some gated pod waits, target health is read this often (seconds).
    #[arg(long, env = "READINESS_GATE_POLL_SECONDS", default_value_t = 2)]
    pub readiness_gate_poll_seconds: u64,
    /// Open readiness gates are checked this often (seconds), and set back to False when
    /// their pod's target is no longer healthy in the load balancer; 0: never.
    #[arg(long, env = "READINESS_GATE_RECHECK_SECONDS", default_value_t = 30)]
    pub readiness_gate_recheck_seconds: u64,
    /// Serve the mutating webhook that injects readiness gates on this address (HTTPS);
    /// unset: no webhook.
    #[arg(long, env = "WEBHOOK_BIND_ADDRESS")]
    pub webhook_bind_address: Option<SocketAddr>,
    /// The webhook's PEM certificate chain.
    #[arg(
        long,
        env = "WEBHOOK_CERT_FILE",
        default_value = "/tmp/k8s-webhook-server/serving-certs/tls.crt"
    )]
    pub webhook_cert_file: std::path::PathBuf,
    /// The webhook's PEM private key.
    #[arg(
        long,
        env = "WEBHOOK_KEY_FILE",
        default_value = "/tmp/k8s-webhook-server/serving-certs/tls.key"
    )]
    pub webhook_key_file: std::path::PathBuf,

    /// Run the route controller (Node podCIDRs -> VPC routes, kubenet-style). Default: on
    /// when pod IPAM is off and CLUSTER_CIDR is set.
    #[arg(long, env = "ENABLE_ROUTE_CONTROLLER", action = clap::ArgAction::Set)]
    pub enable_route_controller: Option<bool>,
    /// The cluster's pod CIDRs, comma-separated: routes inside them in the cluster's tables
    /// are the route controller's; every other route is left alone.
    #[arg(long, env = "CLUSTER_CIDR", value_delimiter = ',')]
    pub cluster_cidr: Vec<ipnet::IpNet>,
    /// The cluster's route tables, comma-separated; default: the VPC's tables tagged
    /// `kubernetes.io/cluster/<CLUSTER_NAME>` or `cloudnet.io/cluster=<CLUSTER_NAME>`.
    #[arg(long, env = "ROUTE_TABLE_IDS", value_delimiter = ',')]
    pub route_table_ids: Vec<String>,
    /// Node changes are collected until quiet this long before a route plan (milliseconds).
    #[arg(long, env = "ROUTE_DEBOUNCE_MILLISECONDS", default_value_t = 500)]
    pub route_debounce_ms: u64,
    /// Routes are compared with the nodes at least this often (seconds).
    #[arg(long, env = "ROUTE_RESYNC_SECONDS", default_value_t = 300)]
    pub route_resync_seconds: u64,

    /// Elect a leader on a Lease; off only for a single replica.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// The Lease's namespace (the controller's own, from the downward API).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-system")]
    pub leader_election_namespace: String,
    #[arg(
        long,
        env = "LEADER_ELECTION_ID",
        default_value = "cloudnet-controller"
    )]
    pub leader_election_id: String,
    /// This replica's identity in the Lease (the pod name, from the downward API).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

impl Args {
    /// The AWS settings given, by their variable names (refused with `CLOUD_PROVIDER=gcp`).
    pub fn aws_settings_given(&self) -> Vec<&'static str> {
        [
            ("AWS_REGION", self.region.is_some()),
            ("VPC_ID", self.vpc_id.is_some()),
            ("AWS_ENDPOINT_URL", self.cloud_endpoint.is_some()),
            ("ROUTE_TABLE_IDS", !self.route_table_ids.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// `WARM_IP_TARGET`, or on Azure with no pool knob given Azure CNI's batch
    /// ([`cloudnet_crds::AZURE_WARM_IP_TARGET`]): an Azure NIC's whole interface is 255
    /// addresses, which `WARM_ENI_TARGET=1` would take for every node.
    pub fn warm_ip_target_or_default(&self) -> u32 {
        let none_given = self.warm_ip_target == 0
            && self.minimum_ip_target == 0
            && self.warm_eni_target.is_none();
        if self.cloud.provider == CloudProvider::Azure && none_given {
            cloudnet_crds::AZURE_WARM_IP_TARGET
        } else {
            self.warm_ip_target
        }
    }

    pub fn allocator(&self) -> anyhow::Result<AllocatorConfig> {
        if self.ipam_parallelism == 0 {
            anyhow::bail!("IPAM_PARALLELISM must be at least 1");
        }
        if self.ipam_node_parallelism == 0 {
            anyhow::bail!("IPAM_NODE_PARALLELISM must be at least 1");
        }
        if self.max_eni == Some(0) {
            anyhow::bail!("MAX_ENI must be at least 1 (the primary interface)");
        }
        Ok(AllocatorConfig {
            knobs: PoolKnobs {
                warm_eni_target: self.warm_eni_target.unwrap_or(1),
                warm_ip_target: self.warm_ip_target_or_default(),
                minimum_ip_target: self.minimum_ip_target,
                warm_prefix_target: self.warm_prefix_target,
                max_eni: self.max_eni,
                prefix_delegation: self.enable_prefix_delegation,
            },
            parallelism: self.ipam_parallelism,
            node_parallelism: self.ipam_node_parallelism,
            resync: Duration::from_secs(self.ipam_resync_seconds.max(1)),
            orphan_grace: Duration::from_secs(self.orphan_grace_seconds),
            orphan_interval: Duration::from_secs(self.orphan_interval_seconds.max(1)),
            interface_config_label: self.interface_config_label.clone(),
            ..AllocatorConfig::default()
        })
    }
}

impl Args {
    /// On GCP, in ingress-gce's dialect ([`ServiceSettings::ingress_gce`]), on Azure in
    /// cloud-provider-azure's ([`ServiceSettings::cloud_provider_azure`]): classless Services
    /// are served, as GKE's and AKS's own Service controllers serve them.
    pub fn services(&self) -> anyhow::Result<ServiceSettings> {
        let mut settings = if self.on_gcp() {
            ServiceSettings::ingress_gce(&self.cluster_name)
        } else if self.on_azure() {
            ServiceSettings::cloud_provider_azure(&self.cluster_name)
        } else {
            ServiceSettings::new(&self.cluster_name)
        };
        settings.serve_classless |= self.serve_classless_services;
        settings.default_target_kind = self.default_target_kind()?;
        Ok(settings)
    }

    fn on_gcp(&self) -> bool {
        self.cloud.provider == CloudProvider::Gcp
    }

    fn on_azure(&self) -> bool {
        self.cloud.provider == CloudProvider::Azure
    }

    /// Whether the Ingress controller runs: the flag (on Azure in AGIC's dialect, Ingresses
    /// becoming Application Gateways).
    pub fn runs_ingress(&self) -> bool {
        self.enable_ingress_controller
    }

    /// Whether the route controller runs: the flag, else on when pod IPAM is off and the
    /// cluster CIDR is known.
    pub fn routes(&self) -> anyhow::Result<bool> {
        match self.enable_route_controller {
            Some(true) if self.cluster_cidr.is_empty() => {
                anyhow::bail!("ENABLE_ROUTE_CONTROLLER needs CLUSTER_CIDR (the pod CIDRs routed)")
            }
            Some(on) => Ok(on),
            None => Ok(!self.enable_pod_ipam && !self.cluster_cidr.is_empty()),
        }
    }

    pub fn default_target_kind(&self) -> anyhow::Result<TargetKind> {
        Ok(match self.default_target_type.as_str() {
            "instance" => TargetKind::NodePort,
            "ip" => TargetKind::PodIp,
            other => anyhow::bail!("DEFAULT_TARGET_TYPE must be instance or ip, not {other:?}"),
        })
    }

    /// On GCP, in ingress-gce's dialect ([`IngressSettings::ingress_gce`]): classes `gce` and
    /// `gce-internal` unless `INGRESS_CLASS` names others, backends always pod IPs in NEGs
    /// (container-native load balancing; instance groups are not built). On Azure in AGIC's
    /// ([`IngressSettings::agic`]): class `azure-application-gateway` unless `INGRESS_CLASS`
    /// names others, pod IPs in the Application Gateway's pools; with `AZURE_APPGW_NAME`
    /// every such Ingress is merged into that one gateway ([`IngressSettings::agic_shared`]).
    pub fn ingresses(&self) -> anyhow::Result<IngressSettings> {
        let named: Vec<String> = self
            .ingress_class
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        if self.on_gcp() || self.on_azure() {
            let mut settings = if self.on_gcp() {
                IngressSettings::ingress_gce(&self.cluster_name)
            } else if let Some(name) = &self.cloud.azure.azure_appgw_name {
                IngressSettings::agic_shared(&self.cluster_name, name)
                    .map_err(|e| anyhow::anyhow!("AZURE_APPGW_NAME: {e}"))?
            } else {
                IngressSettings::agic(&self.cluster_name)
            };
            if named != [DEFAULT_INGRESS_CLASS] {
                settings.class_names = named;
            }
            return Ok(settings);
        }
        let mut settings = IngressSettings::new(&self.cluster_name);
        settings.class_names = named;
        settings.default_target_kind = self.default_target_kind()?;
        Ok(settings)
    }

    /// The webhook's settings when it is to be served, with its certificate read.
    pub fn webhook(&self) -> anyhow::Result<Option<crate::readiness::webhook::WebhookSettings>> {
        let Some(addr) = self.webhook_bind_address else {
            return Ok(None);
        };
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the webhook's {}", path.display()))
        };
        Ok(Some(crate::readiness::webhook::WebhookSettings {
            addr,
            cert_pem: read(&self.webhook_cert_file)?,
            key_pem: read(&self.webhook_key_file)?,
        }))
    }

    pub fn election(&self) -> anyhow::Result<Option<ElectionConfig>> {
        if !self.leader_election {
            return Ok(None);
        }
        let identity = match &self.identity {
            Some(id) => id.clone(),
            None => std::env::var("HOSTNAME")
                .context("POD_NAME (or HOSTNAME) names this replica in the Lease")?,
        };
        Ok(Some(ElectionConfig::new(
            &self.leader_election_namespace,
            &self.leader_election_id,
            &identity,
        )))
    }
}

impl Args {
    /// What the process runs, from the flags: the controllers switched on with their settings,
    /// checked (a process with nothing to run, a bad election, a bad knob is an error).
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let args = self;
        args.cloud.check(&args.aws_settings_given())?;
        if !matches!(args.log_format.as_str(), "json" | "text") {
            anyhow::bail!("LOG_FORMAT must be json or text, not {:?}", args.log_format);
        }
        let settings = Settings {
            ipam: args.enable_pod_ipam.then(|| args.allocator()).transpose()?,
            service: args
                .enable_service_controller
                .then(|| args.services())
                .transpose()?,
            service_resync: Duration::from_secs(args.service_resync_seconds),
            ingress: args.runs_ingress().then(|| args.ingresses()).transpose()?,
            ingress_resync: Duration::from_secs(args.ingress_resync_seconds),
            service_gc: (args.gc_interval_seconds > 0)
                .then(|| Duration::from_secs(args.gc_interval_seconds)),
            target_group_binding: args
                .enable_target_group_binding
                .then(|| Duration::from_secs(args.target_group_binding_resync_seconds.max(10))),
            webhook: args.webhook()?,
            readiness_gates: args.enable_pod_readiness_gates.then(|| {
                crate::readiness::controller::GatePolling {
                    waiting: Duration::from_secs(args.readiness_gate_poll_seconds.max(1)),
                    open: Duration::from_secs(args.readiness_gate_recheck_seconds),
                }
            }),
            routes: args.routes()?.then(|| RouteSettings {
                debounce: Duration::from_millis(args.route_debounce_ms),
                resync: Duration::from_secs(args.route_resync_seconds.max(10)),
                ..RouteSettings::default()
            }),
            election: args.election()?,
            metrics_addr: Some(args.metrics_addr),
        };
        settings.validate()?;
        Ok(settings)
    }
}
