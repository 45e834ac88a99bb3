//! `cloudnet sandbox`: the mock cloud, the embedded Kubernetes API, nodes registered from the
//! cloud's instances, the simulated cluster components, cloudnet's controllers and an ipamd
//! per node, and the manifests applied, on one machine with no cloud account and no cluster.
//!
//! `--provider gcp` runs the same on the mock's Compute Engine: a GKE-like VPC-native world
//! (the mock's built-in GCP world, or the `gcp:` part of `--world`), nodes named and
//! providerID'd as GKE's, the controllers on the GCP backend, each node's pod range an alias
//! range of its instance and its ipamd reading the GCE metadata server.
//!
//! `--provider azure` runs it on the mock's Azure Resource Manager: an AKS-like world whose
//! pool is a scale set, AKS's default ([`crate::aks`]; `--world` with the mock's
//! `worlds/aks-availability-set.yaml` under `azure:` runs an availability-set pool instead),
//! the controllers on the Azure backend, each pod address an ipConfiguration of its node's NIC
//! (Azure CNI's secondary-IP mode; on a scale-set instance written through the instance's
//! model) that its ipamd sees in IMDS, Services as Standard Load Balancers, Ingresses of class
//! `azure-application-gateway` Application Gateways (AGIC's dialect).
//!
//! Start order: mock cloud, API, Nodes, CRDs, controllers (they create each node's
//! `NodeNetwork` and grow its pool), ipamds, then the simulated kubelet that asks them.
//! Shutdown stops the controllers first (they release their lease), then the simulation,
//! the ipamds, the API and the mock cloud.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cloudnet_kubesim::sim::kubelet::RangeAddressSource;
use cloudnet_kubesim::sim::node::{NodeRegistration, register_node};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;

use cloudnet_controllers::cloud_flags::CloudProvider;
use cloudnet_ipamd::azure_metadata::AzureImds;
use cloudnet_ipamd::gce_metadata::{GceMetadata, NodeMetadata};
use cloudnet_ipamd::metadata::Imds;

use crate::controller::{self, Controllers};
pub use crate::kubeconfig::{kubeconfig_for, write_private_kubeconfig};
use crate::manifests::{self, Document};
use crate::pod_addresses::{IpamdAddresses, PodAddresses};
use crate::summary::Summary;

/// The field manager the sandbox applies manifests as.
pub const FIELD_MANAGER: &str = "cloudnet-sandbox";

/// The access key the sandbox's mock cloud answers with every permission: yours, for the
/// `aws` CLI (`AWS_ACCESS_KEY_ID=test`, as with LocalStack). The controller has its own key
/// ([`controller::ACCESS_KEY`]) under `deploy/iam/aws/controller-policy.json`, and every
/// instance's metadata credentials act under `deploy/iam/aws/node-policy.json`.
pub const OPERATOR_ACCESS_KEY: &str = "test";

#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Manifests to apply: files or directories of YAML/JSON (several documents per file).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// Where to write the kubeconfig for kubectl [default: <temp dir>/cloudnet-sandbox/kubeconfig].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where the mock cloud listens (point AWS clients here with --endpoint-url).
    #[arg(long, default_value = cloudnet_mockcloud::server::DEFAULT_LISTEN)]
    pub mockcloud_listen: SocketAddr,
    /// Where the Kubernetes API listens (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub api_listen: SocketAddr,
    /// The mock cloud's world file [default: the built-in eksctl-style VPC with two m5.large nodes].
    #[arg(long)]
    pub world: Option<PathBuf>,
    /// Apply, wait for the objects to settle, print the summary and exit.
    #[arg(long)]
    pub exit_after_apply: bool,
    /// How long to wait for the workload to settle before printing the summary.
    #[arg(long, default_value_t = 60)]
    pub settle_timeout_secs: u64,
    /// Where pods get their addresses: `vpc` (ENI secondary addresses through an ipamd per
    /// node, as on a cluster) or `range` (a /24 per node, no cloud calls per pod; for worlds
    /// too big to warm every node's pool).
    #[arg(long, value_enum, default_value_t = PodAddresses::Vpc)]
    pub pod_addresses: PodAddresses,
    /// Enforce RBAC in the Kubernetes API: the controller and each ipamd act as their
    /// ServiceAccounts and may do only what the RBAC objects among the manifests grant; those
    /// are applied before the controllers start (e.g. the output of `helm template cloudnet
    /// deploy/helm/cloudnet -n kube-system --set clusterName=sandbox`). The kubeconfig's
    /// admin is in system:masters.
    #[arg(long)]
    pub rbac: bool,
    /// The cloud: `aws` (EC2 and ELBv2), `gcp` (Compute Engine: alias-range pod IPs,
    /// regional passthrough load balancers for Services, GCLB for Ingresses of class `gce`)
    /// or `azure` (ARM: NIC ipConfiguration pod IPs, Standard Load Balancers for Services).
    #[arg(long, value_enum, default_value_t = CloudProvider::Aws)]
    pub provider: CloudProvider,
}

impl SandboxArgs {
    /// Options for tests: ephemeral ports, a kubeconfig in `dir`.
    pub fn ephemeral(dir: &std::path::Path) -> SandboxArgs {
        SandboxArgs {
            files: Vec::new(),
            kubeconfig: Some(dir.join("kubeconfig")),
            mockcloud_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            world: None,
            exit_after_apply: true,
            settle_timeout_secs: 60,
            pod_addresses: PodAddresses::Vpc,
            rbac: false,
            provider: CloudProvider::Aws,
        }
    }
}

/// The outcome of applying one document.
#[derive(Debug, Clone)]
pub struct Applied {
    pub object: String,
    pub result: Result<(), String>,
}

/// A running sandbox.
pub struct Sandbox {
    pub provider: CloudProvider,
    pub cloud: cloudnet_mockcloud::Handle,
    pub api: cloudnet_kubesim::server::Handle,
    pub kubeconfig: PathBuf,
    pub nodes: Vec<NodeRegistration>,
    client: kube::Client,
    controllers: Controllers,
    /// The nodes' ipamds, in `vpc` mode.
    pub ipamd: Option<Arc<IpamdAddresses>>,
    _simulation: cloudnet_kubesim::sim::Simulation,
}

/// The identity that installs the CRDs and applies the manifests, as an installer with
/// cluster-admin would (in system:masters).
pub const INSTALLER: &str = "cloudnet-sandbox";

impl Sandbox {
    pub async fn start(args: &SandboxArgs) -> Result<Sandbox> {
        let mut world = match &args.world {
            Some(path) => cloudnet_mockcloud::World::load(path)?,
            None => cloudnet_mockcloud::World::default(),
        };
        // AKS with a scale-set pool, unless the world file sets its own Azure part.
        if args.provider == CloudProvider::Azure && world.azure.is_none() {
            world.azure = Some(cloudnet_mockcloud::azure::AzureWorld::aks());
        }
        // IAM as deploy/iam ships it, unless the world file sets its own.
        world.iam.get_or_insert_with(|| {
            cloudnet_mockcloud::iam::IamSpec::shipped(
                &[controller::ACCESS_KEY],
                &[OPERATOR_ACCESS_KEY],
            )
        });
        let cloud = cloudnet_mockcloud::MockCloud::start(cloudnet_mockcloud::Config {
            listen: args.mockcloud_listen,
            world,
            ..cloudnet_mockcloud::Config::default()
        })
        .await
        .with_context(|| format!("cannot start the mock cloud on {}", args.mockcloud_listen))?;

        let config = cloudnet_kubesim::server::Config {
            listen: args.api_listen,
            rbac: args.rbac,
            ..Default::default()
        }
        .with_identity(controller::IDENTITY)
        .with(cloudnet_kubesim::Identity::master(INSTALLER));
        let api = cloudnet_kubesim::server::KubeSim::start(config)
            .await
            .with_context(|| format!("cannot start the Kubernetes API on {}", args.api_listen))?;

        let nodes = match args.provider {
            CloudProvider::Aws => nodes_from_cloud(&cloud),
            CloudProvider::Gcp => gce_nodes_from_cloud(&cloud),
            CloudProvider::Azure => cloud.with_cloud(|c| crate::aks::nodes_from_cloud(&c.azure)),
        };
        for node in &nodes {
            register_node(api.store(), node)
                .map_err(|e| anyhow::anyhow!("cannot register node {}: {e}", node.name))?;
        }
        let client = api.client_for(INSTALLER).await?;
        controller::install_crds(&client, FIELD_MANAGER).await?;
        if args.rbac {
            // The roles first, as a chart install creates them with the workloads: the
            // controllers and ipamds then start under them.
            let docs = manifests::load(&args.files)?;
            let rbac: Vec<Document> = docs
                .into_iter()
                .filter(|d| d.api_version().starts_with("rbac.authorization.k8s.io/"))
                .collect();
            for doc in &rbac {
                apply_document(&client, doc)
                    .await
                    .with_context(|| format!("cannot apply {}", doc.display_name()))?;
            }
        }
        let host = nodes
            .first()
            .and_then(|n| n.provider_id.rsplit('/').next())
            .context("the world has no running instance for the controller to run on")?;
        let endpoint = cloud.endpoint_url();
        let controllers = match args.provider {
            CloudProvider::Aws => {
                let region = cloud.with_cloud(|c| c.ec2.region.clone());
                Controllers::start(&api, &endpoint, &region, host).await?
            }
            CloudProvider::Gcp => {
                let zone = nodes.first().map(|n| n.zone.clone()).unwrap_or_default();
                Controllers::start_gcp(&api, &endpoint, &zone, host).await?
            }
            CloudProvider::Azure => {
                let network = cloud
                    .with_cloud(|c| crate::aks::network(&c.azure))
                    .context("the Azure world has no VNet with a subnet and a route table")?;
                let name = nodes.first().map(|n| n.name.clone()).unwrap_or_default();
                Controllers::start_azure(&api, &cloud, &name, &network).await?
            }
        };
        let (ipamd, simulation) = match args.pod_addresses {
            PodAddresses::Vpc => {
                let provider = args.provider;
                let metadata = |n: &NodeRegistration| {
                    let instance = n.provider_id.rsplit('/').next().unwrap_or_default();
                    match provider {
                        CloudProvider::Aws => {
                            NodeMetadata::Aws(Imds::new(&endpoint, Some(instance.to_string())))
                        }
                        CloudProvider::Gcp => NodeMetadata::Gce(GceMetadata::new(
                            &endpoint,
                            Some(format!("zones/{}/instances/{instance}", n.zone)),
                        )),
                        CloudProvider::Azure => {
                            NodeMetadata::Azure(AzureImds::new(&endpoint, Some(n.name.clone())))
                        }
                    }
                };
                let ipamd = Arc::new(IpamdAddresses::start(&api, &nodes, metadata).await?);
                let sim = cloudnet_kubesim::sim::start(api.store(), ipamd.clone());
                (Some(ipamd), sim)
            }
            PodAddresses::Range => {
                let source = Arc::new(RangeAddressSource::default());
                (None, cloudnet_kubesim::sim::start(api.store(), source))
            }
        };

        let kubeconfig = match &args.kubeconfig {
            Some(p) => p.clone(),
            None => std::env::temp_dir()
                .join("cloudnet-sandbox")
                .join("kubeconfig"),
        };
        if let Some(dir) = kubeconfig.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let admin = cloudnet_kubesim::server::ADMIN;
        let token = api
            .auth()
            .token_for(admin)
            .with_context(|| format!("the API issued no token for {admin}"))?;
        write_private_kubeconfig(
            &kubeconfig,
            &kubeconfig_for(&api.url(), api.ca_pem(), admin, &token),
        )?;
        Ok(Sandbox {
            provider: args.provider,
            cloud,
            api,
            kubeconfig,
            nodes,
            client,
            controllers,
            ipamd,
            _simulation: simulation,
        })
    }

    /// Applies documents with server-side apply, each on its own: one bad document does not
    /// stop the others.
    pub async fn apply(&self, docs: &[Document]) -> Vec<Applied> {
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            let result = self.apply_one(doc).await.map_err(|e| format!("{e:#}"));
            out.push(Applied {
                object: doc.display_name(),
                result: result.map_err(|e| format!("{}: {e}", doc.source)),
            });
        }
        out
    }

    async fn apply_one(&self, doc: &Document) -> Result<()> {
        apply_document(&self.client, doc).await
    }

    /// Waits until every Deployment has its replicas ready, no pod is pending, every
    /// LoadBalancer Service has its address and every node's pool is Ready, or the timeout
    /// passes; answers whether it settled.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.settled().await.unwrap_or(false) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every object of `kind` (`group/version`) in the cluster.
    async fn list_all(&self, group: &str, version: &str, kind: &str) -> Result<Vec<DynamicObject>> {
        let resource =
            kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        Ok(api.list(&ListParams::default()).await?.items)
    }

    async fn settled(&self) -> Result<bool> {
        for d in self.list_all("apps", "v1", "Deployment").await? {
            let want = d.data["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = d.data["status"]["readyReplicas"].as_i64().unwrap_or(0);
            if ready < want {
                return Ok(false);
            }
        }
        let pods = self.list_all("", "v1", "Pod").await?;
        let pending = pods
            .iter()
            .any(|p| p.data["status"]["phase"].as_str().unwrap_or("Pending") == "Pending");
        if pending {
            return Ok(false);
        }
        // A LoadBalancer Service is settled once the controller wrote where its load
        // balancer is.
        let unaddressed = |o: &DynamicObject| {
            o.data["status"]["loadBalancer"]["ingress"]
                .as_array()
                .is_none_or(Vec::is_empty)
        };
        let waiting = self
            .list_all("", "v1", "Service")
            .await?
            .iter()
            .any(|svc| svc.data["spec"]["type"] == "LoadBalancer" && unaddressed(svc));
        if waiting {
            return Ok(false);
        }
        // So is an Ingress of the sandbox's class.
        let served_class = match self.provider {
            CloudProvider::Aws => "alb",
            CloudProvider::Gcp => "gce",
            CloudProvider::Azure => "azure-application-gateway",
        };
        let waiting = self
            .list_all("networking.k8s.io", "v1", "Ingress")
            .await?
            .iter()
            .any(|ing| {
                !served_class.is_empty()
                    && ing.data["spec"]["ingressClassName"] == served_class
                    && unaddressed(ing)
            });
        if waiting {
            return Ok(false);
        }
        // Every node's pool is as the allocator wants it.
        let networks = self
            .list_all("cloudnet.io", "v1alpha1", "NodeNetwork")
            .await?;
        let ready = networks.iter().filter(|nn| {
            nn.data["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        });
        if ready.count() < self.nodes.len() {
            return Ok(false);
        }
        // With ipamd, each node's NodeNetwork counts the addresses its pods hold.
        if self.ipamd.is_none() {
            return Ok(true);
        }
        let in_use: i64 = networks
            .iter()
            .map(|nn| nn.data["spec"]["inUse"].as_i64().unwrap_or(0))
            .sum();
        let holding = pods
            .iter()
            .filter(|p| {
                p.data["spec"]["hostNetwork"] != true
                    && p.data["status"]["podIP"]
                        .as_str()
                        .is_some_and(|ip| !ip.is_empty())
            })
            .count();
        Ok(in_use == holding as i64)
    }

    /// What exists now, as the API shows it: the cloud's side comes through the
    /// controllers (Service status, NodeNetwork status).
    pub async fn summary(&self) -> Result<Summary> {
        Summary::collect(&self.client).await
    }

    /// An API client as the sandbox's own identity (what applies the manifests).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Whether the controllers stopped on their own (a failure; see the log).
    pub fn controllers_stopped(&self) -> bool {
        self.controllers.has_stopped()
    }

    /// Stops the controllers first (they release their lease and leave the cloud as it is),
    /// then the simulation, the API and the mock cloud.
    pub async fn shutdown(self) {
        if let Err(error) = self.controllers.stop().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "The controllers ended with an error"
            );
        }
        drop(self._simulation);
        if let Some(ipamd) = &self.ipamd {
            ipamd.stop().await;
        }
        self.api.shutdown().await;
        self.cloud.shutdown().await;
    }
}

/// Applies one document with server-side apply as [`FIELD_MANAGER`].
async fn apply_document(client: &kube::Client, doc: &Document) -> Result<()> {
    let (group, version) = match doc.api_version().split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", doc.api_version()),
    };
    let gvk = GroupVersionKind::gvk(group, version, doc.kind());
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("{} {} is not served", doc.api_version(), doc.kind()))?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            doc.namespace().unwrap_or("default"),
            &resource,
        ),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        doc.name(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&doc.object),
    )
    .await?;
    Ok(())
}

/// A Node for every running instance, named as EKS names them, with the VPC CNI's max-pods
/// (ENIs x (IPv4 per ENI - 1) + 2): the fault suite's environment registers its nodes the same
/// way.
pub use cloudnet_faults::env::nodes_from_cloud;

/// A Node for every running instance of the GCP world, as GKE registers them (the fault
/// suite's environment registers its GCP nodes the same way).
pub use cloudnet_faults::clouds::gcp::nodes_from_cloud as gce_nodes_from_cloud;

/// The `cloudnet sandbox` command.
pub async fn run(args: SandboxArgs) -> Result<()> {
    let docs = manifests::load(&args.files)?;
    let sandbox = Sandbox::start(&args).await?;
    println!("Cloud:           {}", cloud_line(sandbox.provider));
    println!(
        "Mock cloud:      {} (AWS EC2, ELBv2, IMDS; GCE Compute v1 and metadata; any credentials)",
        sandbox.cloud.endpoint_url()
    );
    println!(
        "Azure ARM:       {} (HTTPS, any bearer token; CA at {}/_mockcloud/ca.pem)",
        sandbox.cloud.arm_endpoint_url(),
        sandbox.cloud.endpoint_url()
    );
    let ca = ca_file(&sandbox.kubeconfig);
    std::fs::write(&ca, sandbox.cloud.ca_pem())
        .with_context(|| format!("cannot write {}", ca.display()))?;
    println!(
        "Mock cloud CA:   {} (trust it for the ARM port)",
        ca.display()
    );
    println!("Kubernetes API:  {}", sandbox.api.url());
    println!("Kubeconfig:      {}", sandbox.kubeconfig.display());
    let (controllers, via) = match sandbox.provider {
        CloudProvider::Aws => (
            "IPAM allocator, Service, Ingress and TargetGroupBinding controllers",
            "the AWS SDK",
        ),
        CloudProvider::Gcp => (
            "node pod-range allocator, Service and Ingress (class gce) controllers",
            "the Google Cloud client library",
        ),
        CloudProvider::Azure => (
            "IPAM allocator (NIC ipConfigurations) and Service controller (no Ingresses: they need the Application Gateway backend)",
            "azure_mgmt_network",
        ),
    };
    println!(
        "Controllers:     {controllers} (via {via} as API user {}, Lease {}/{})",
        controller::IDENTITY,
        controller::LEASE_NAMESPACE,
        controller::LEASE_NAME
    );
    match &sandbox.ipamd {
        Some(ipamd) => {
            let from = match sandbox.provider {
                CloudProvider::Aws => "from the VPC (ENI secondary addresses)",
                CloudProvider::Gcp => {
                    "from each node's alias range (the subnetwork's `pods` range)"
                }
                CloudProvider::Azure => {
                    "from the VNet (ipConfigurations on each node's NIC, Azure CNI's secondary-IP mode)"
                }
            };
            println!(
                "Pod addresses:   {from}, an ipamd per node (sockets under {})",
                ipamd.dir().display()
            );
            for node in &sandbox.nodes {
                if let Some(addr) = ipamd.introspection(&node.name) {
                    println!("  ipamd {}: http://{addr}/v1/pool", node.name);
                }
            }
        }
        None => {
            println!("Pod addresses:   a /24 per node out of 10.244.0.0/16 (--pod-addresses range)")
        }
    }
    println!(
        "Nodes:           {}",
        sandbox
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut failed = 0;
    if !docs.is_empty() {
        println!("\nApplying {} object(s):", docs.len());
        for applied in sandbox.apply(&docs).await {
            match &applied.result {
                Ok(()) => println!("  {} applied", applied.object),
                Err(e) => {
                    failed += 1;
                    println!("  {} FAILED: {e}", applied.object);
                }
            }
        }
        print!("\nWaiting for the workload to settle ... ");
        let settled = sandbox
            .wait_settled(Duration::from_secs(args.settle_timeout_secs))
            .await;
        println!(
            "{}",
            if settled {
                "done"
            } else {
                "timed out (see the summary)"
            }
        );
    }
    println!("\n{}", sandbox.summary().await?);
    println!("Cloud: {}", cloud_line(sandbox.provider));

    if args.exit_after_apply {
        sandbox.shutdown().await;
        anyhow::ensure!(failed == 0, "{failed} object(s) failed to apply");
        return Ok(());
    }
    let cli = match sandbox.provider {
        CloudProvider::Aws => format!(
            "aws --endpoint-url {} --region us-west-2 ec2 describe-network-interfaces",
            sandbox.cloud.endpoint_url()
        ),
        CloudProvider::Gcp => format!(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE={}/compute/v1/ CLOUDSDK_AUTH_ACCESS_TOKEN=x gcloud compute instances describe {} --zone {} --project {}",
            sandbox.cloud.endpoint_url(),
            sandbox
                .nodes
                .first()
                .map(|n| n.name.as_str())
                .unwrap_or_default(),
            sandbox
                .nodes
                .first()
                .map(|n| n.zone.as_str())
                .unwrap_or_default(),
            sandbox.cloud.with_cloud(|c| c.gcp.project.clone()),
        ),
        CloudProvider::Azure => {
            let (sub, rg) = sandbox.cloud.with_cloud(|c| {
                (
                    c.azure.subscription.clone(),
                    c.azure
                        .resource_groups
                        .values()
                        .next()
                        .cloned()
                        .unwrap_or_default(),
                )
            });
            format!(
                "curl --cacert {} -H 'Authorization: Bearer x' '{}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces?api-version=2024-03-01'",
                ca_file(&sandbox.kubeconfig).display(),
                sandbox.cloud.arm_endpoint_url()
            )
        }
    };
    println!(
        "\nTry: kubectl --kubeconfig {} get pods,svc,nodenetworks -A -o wide\n     {cli}\nCtrl-C stops the sandbox.",
        sandbox.kubeconfig.display(),
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    println!("Stopping.");
    sandbox.shutdown().await;
    Ok(())
}

/// The sandbox's cloud, as the banner and the summary name it.
pub fn cloud_line(provider: CloudProvider) -> &'static str {
    match provider {
        CloudProvider::Aws => "aws (mock EC2 and ELBv2, an eksctl-style VPC)",
        CloudProvider::Gcp => {
            "gcp (mock Compute Engine, a GKE-like VPC-native network: pods and services secondary ranges)"
        }
        CloudProvider::Azure => {
            "azure (mock Azure Resource Manager, an AKS-like VNet and node pool)"
        }
    }
}

/// Where the sandbox writes the mock cloud's CA (PEM), next to the kubeconfig: what Azure
/// clients are told to trust for the ARM port.
pub fn ca_file(kubeconfig: &std::path::Path) -> PathBuf {
    kubeconfig.with_file_name("mockcloud-ca.pem")
}
