//! The embedded Kubernetes API (under the chart's RBAC, see `chart_rbac`), the mock cloud,
//! the real AWS provider against it, and the allocator running between them. The test plays each node's ipamd by writing
//! `spec.inUse` and `spec.release`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::ipam::metrics::AllocatorMetrics;
use cloudnet_controllers::ipam::{Allocator, AllocatorConfig};
use cloudnet_core::{BudgetConfig, Op, Rate};
use cloudnet_crds::{InterfaceConfig, NodeNetwork, NodeNetworkStatus};
use cloudnet_mockcloud::ec2::world::{InstanceSpec, SubnetSpec};
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{conditions, wait::await_condition};
use serde_json::json;

pub use cloudnet_testkit::eventually;

pub const CLUSTER: &str = "prod";
pub const VPC: &str = "vpc-0c10d0e7000000001";
pub const NODE1: &str = "i-0c10d0e7000000001";
pub const NODE2: &str = "i-0c10d0e7000000002";
/// An instance in a /28 subnet: 11 usable addresses, its primary takes one.
pub const TINY_NODE: &str = "i-0c10d0e7000000009";
pub const TINY_SUBNET: &str = "subnet-0c10d0e70000000f9";

/// Generous: the machine is shared with builds.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Env {
    pub mock: Handle,
    /// The API under the chart's RBAC; the allocator acts as the controller's ServiceAccount.
    pub kube: crate::chart_rbac::RbacApi,
    pub client: kube::Client,
    pub provider: AwsProvider,
    pub metrics: AllocatorMetrics,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub allocator: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.allocator.abort();
    }
}

/// The default world plus a tiny subnet with one m5.large in it.
pub fn world() -> World {
    let mut w = World::default();
    w.vpcs[0].subnets.push(SubnetSpec {
        id: Some(TINY_SUBNET.into()),
        cidr: "192.168.250.0/28".parse().expect("cidr"),
        availability_zone: "us-west-2a".into(),
        tags: BTreeMap::from([("Name".to_string(), "tiny".to_string())]),
    });
    let mut tiny: InstanceSpec = w.instances[0].clone();
    tiny.id = Some(TINY_NODE.into());
    tiny.subnet = TINY_SUBNET.into();
    w.instances.push(tiny);
    w
}

/// Rates high enough that the budget never shapes a functional test.
pub fn fast_budget() -> BudgetConfig {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(1000.0, 1000));
    }
    b
}

pub fn fast_config() -> AllocatorConfig {
    AllocatorConfig {
        parallelism: 4,
        backoff_min: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        orphan_grace: Duration::from_secs(60),
        orphan_interval: Duration::from_millis(300),
        ..AllocatorConfig::default()
    }
}

pub async fn start(config: AllocatorConfig) -> Env {
    start_in(world(), config, fast_budget()).await
}

pub async fn start_in(mut world: World, config: AllocatorConfig, budget: BudgetConfig) -> Env {
    // The allocator signs as the controller under deploy/iam's controller policy.
    world.iam.get_or_insert_with(|| {
        cloudnet_mockcloud::iam::IamSpec::shipped(&["AKIDTEST"], &["AKIDADMIN"])
    });
    let mock = MockCloud::start(Config::ephemeral(world))
        .await
        .expect("the mock cloud starts");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(mock.endpoint_url())
        .load()
        .await;
    let mut aws = AwsConfig::new(CLUSTER);
    aws.vpc_id = Some(VPC.into());
    aws.budget = budget;
    let provider =
        AwsProvider::from_sdk_config(&sdk, aws, AwsMetrics::default()).expect("provider");
    let kube = crate::chart_rbac::start(cloudnet_kubesim::Config::default()).await;
    let client = kube.admin.clone();
    install_crds(&client).await;
    let metrics = AllocatorMetrics::default();
    let allocator = Allocator::new(
        kube.controller.clone(),
        Arc::new(provider.clone()),
        config,
        metrics.clone(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let allocator = tokio::spawn(async move {
        if let Err(e) = allocator
            .run(async {
                let _ = stopped.await;
            })
            .await
        {
            panic!("the allocator stopped: {e}");
        }
    });
    Env {
        mock,
        kube,
        client,
        provider,
        metrics,
        stop: Some(stop),
        allocator,
    }
}

pub async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [NodeNetwork::crd(), InterfaceConfig::crd()] {
        let name = crd.metadata.name.clone().expect("named");
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD created");
        tokio::time::timeout(
            WAIT,
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("established in time")
        .expect("condition watch");
    }
}

pub fn node_name(instance: &str) -> String {
    format!("node-{instance}")
}

impl Env {
    pub fn networks(&self) -> Api<NodeNetwork> {
        Api::all(self.client.clone())
    }

    /// Registers the instance as a Kubernetes Node.
    pub async fn add_node(&self, instance: &str) -> String {
        let name = node_name(instance);
        let node = Node {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some(format!("aws:///us-west-2a/{instance}")),
                ..Default::default()
            }),
            status: None,
        };
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("node created");
        name
    }

    /// Plays ipamd: the spec fields it owns.
    pub async fn set_spec(&self, name: &str, spec: serde_json::Value) {
        eventually(WAIT, "the NodeNetwork exists", || async {
            self.networks()
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .map(|_| ())
        })
        .await;
        self.networks()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .expect("spec patched");
    }

    /// Waits until the status satisfies `check`.
    pub async fn status_until(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&NodeNetworkStatus) -> bool,
    ) -> NodeNetworkStatus {
        eventually(WAIT, what, || async {
            let nn = self.networks().get_opt(name).await.ok().flatten()?;
            let s = nn.status?;
            check(&s).then_some(s)
        })
        .await
    }

    /// The cloud's ENIs of one instance: (ENI ID, device index, secondary IPs, prefixes).
    pub fn enis_of(&self, instance: &str) -> Vec<(String, i64, usize, Vec<String>)> {
        self.mock.with_cloud(|c| {
            let mut v: Vec<_> = c
                .ec2
                .network_interfaces
                .values()
                .filter(|e| e.attached_to(instance))
                .map(|e| {
                    (
                        e.id.clone(),
                        e.attachment.as_ref().map_or(-1, |a| a.device_index),
                        e.private_ips.iter().filter(|p| !p.primary).count(),
                        e.prefixes.iter().map(|p| p.prefix.to_string()).collect(),
                    )
                })
                .collect();
            v.sort_by_key(|e| e.1);
            v
        })
    }

    /// Every interface the cluster created, attached or not.
    pub fn cluster_enis(&self) -> Vec<String> {
        self.mock.with_cloud(|c| {
            c.ec2
                .network_interfaces
                .values()
                .filter(|e| e.tags.get("cloudnet.io/cluster").map(String::as_str) == Some(CLUSTER))
                .map(|e| e.id.clone())
                .collect()
        })
    }

    /// Asserts that no address or prefix is on two interfaces, and that every block a
    /// NodeNetwork lists is on that node's instance in the cloud.
    pub async fn assert_no_address_twice(&self) {
        let (owners, by_instance) = self.mock.with_cloud(|c| {
            let mut owners: BTreeMap<String, String> = BTreeMap::new();
            let mut by_instance: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for e in c.ec2.network_interfaces.values() {
                let blocks = e
                    .private_ips
                    .iter()
                    .map(|p| format!("{}/32", p.address))
                    .chain(e.prefixes.iter().map(|p| p.prefix.to_string()));
                for b in blocks {
                    if let Some(other) = owners.insert(b.clone(), e.id.clone()) {
                        panic!("{b} is on both {other} and {}", e.id);
                    }
                    if let Some(a) = &e.attachment {
                        by_instance
                            .entry(a.instance_id.clone())
                            .or_default()
                            .insert(b);
                    }
                }
            }
            (owners, by_instance)
        });
        assert!(!owners.is_empty());
        let list = self
            .networks()
            .list(&Default::default())
            .await
            .expect("list");
        for nn in list {
            let instance = nn
                .spec
                .provider_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let cloud = by_instance.get(&instance).cloned().unwrap_or_default();
            for i in nn.status.iter().flat_map(|s| &s.interfaces) {
                for b in &i.blocks {
                    assert!(
                        cloud.contains(&b.cidr.to_string()),
                        "{} lists {} but the cloud has it elsewhere",
                        nn.metadata.name.clone().unwrap_or_default(),
                        b.cidr
                    );
                }
            }
        }
    }

    pub fn calls(&self, key: &str) -> u64 {
        self.mock
            .with_cloud(|c| c.calls.get(key).copied().unwrap_or(0))
    }
}

pub fn cond<'a>(s: &'a NodeNetworkStatus, t: &str) -> Option<(&'a str, &'a str)> {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| (c.status.as_str(), c.reason.as_str()))
}

/// Creates the LoadBalancer Service `web` in `default` (port 80 to 8080, node port 30080,
/// `annotations`) with its [`ready_endpoints`] `pod_ips`, and waits for the load balancer
/// address in its status.
pub async fn web_service_with_pods(
    admin: &kube::Client,
    annotations: serde_json::Value,
    pod_ips: &[String],
    wait: Duration,
) -> String {
    use k8s_openapi::api::core::v1::Service;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080,
                "protocol": "TCP"}]}
    }))
    .expect("a Service");
    let services: Api<Service> = Api::namespaced(admin.clone(), "default");
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("Service created");
    ready_endpoints(admin, "web", pod_ips).await;
    cloudnet_testkit::eventually(wait, "the Service's load balancer address", || {
        let services = services.clone();
        async move {
            let s = services.get("web").await.ok()?;
            let ingress = s.status?.load_balancer?.ingress?;
            ingress.first()?.ip.clone()
        }
    })
    .await
}

/// Creates the EndpointSlice `{service}-1` in `default` of the Service `service` (port `http`,
/// 8080), with `pod_ips` ready, as the cluster's EndpointSlice controller would.
pub async fn ready_endpoints(admin: &kube::Client, service: &str, pod_ips: &[impl AsRef<str>]) {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let endpoints: Vec<serde_json::Value> = pod_ips
        .iter()
        .map(|ip| json!({"addresses": [ip.as_ref()], "conditions": {"ready": true}}))
        .collect();
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": format!("{service}-1"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .expect("an EndpointSlice");
    Api::<EndpointSlice>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &slice)
        .await
        .expect("EndpointSlice created");
}

/// Deletes the Service `web` in `default` and waits until it is gone (its finalizer removed
/// once the controller deleted its load balancer).
pub async fn delete_web_service(admin: &kube::Client, wait: Duration) {
    use k8s_openapi::api::core::v1::Service;
    let services: Api<Service> = Api::namespaced(admin.clone(), "default");
    let deleted = services.delete("web", &Default::default()).await;
    deleted.expect("the Service deleted");
    cloudnet_testkit::eventually(wait, "the Service gone (finalizer removed)", || async {
        services.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
}

/// The embedded API as the controllers' end-to-end tests set it up: the controller acting as
/// the chart's ServiceAccount (RBAC off: the chart renders AWS's rules, and setting a Node's
/// podCIDR needs `patch` on nodes, which it does not grant yet), the CRDs installed and the
/// `nodes` registered. [`Cluster::run`] starts the controllers on it; a test arranges what
/// must be there before they start through `admin` first.
pub struct Cluster {
    /// Keeps the API up.
    api: cloudnet_kubesim::Handle,
    /// The test's own client (system:masters).
    pub admin: kube::Client,
    /// The controller's client (the chart's ServiceAccount).
    controller: kube::Client,
}

/// The controllers as `cloudnet-controller --provider <cloud>` runs them (`app::run`) on a
/// [`Cluster`].
pub struct Controllers {
    /// Keeps the API up.
    _api: cloudnet_kubesim::Handle,
    /// The test's own client (system:masters).
    pub admin: kube::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<cloudnet_controllers::Result<()>>,
}

/// A Node as the cloud's kubelet registers it.
pub struct NodeSeen<'a> {
    pub name: &'a str,
    pub provider_id: String,
    pub zone: &'a str,
    pub ip: String,
}

impl Cluster {
    /// Starts the API, installs the CRDs and registers `nodes`.
    pub async fn start(nodes: &[NodeSeen<'_>]) -> Cluster {
        let config = cloudnet_kubesim::Config::default()
            .with_identity(crate::chart_rbac::CONTROLLER_IDENTITY);
        let api = cloudnet_kubesim::KubeSim::start(config)
            .await
            .expect("the API starts");
        let admin = api.client_for(cloudnet_kubesim::ADMIN).await;
        let admin = admin.expect("admin client");
        let controller = api.client_for(crate::chart_rbac::CONTROLLER_IDENTITY).await;
        let controller = controller.expect("controller client");
        install_crds(&admin).await;
        for n in nodes {
            let node: Node = serde_json::from_value(json!({
                "metadata": {"name": n.name,
                    "labels": {"topology.kubernetes.io/zone": n.zone}},
                "spec": {"providerID": n.provider_id},
                "status": {"addresses": [{"type": "InternalIP", "address": n.ip}]}
            }))
            .expect("node");
            let made = Api::<Node>::all(admin.clone())
                .create(&PostParams::default(), &node)
                .await;
            made.expect("node created");
        }
        Cluster {
            api,
            admin,
            controller,
        }
    }

    /// Runs the controllers on `cloud` with `settings`.
    pub fn run(
        self,
        cloud: cloudnet_core::Cloud,
        settings: cloudnet_controllers::app::Settings,
    ) -> Controllers {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(cloudnet_controllers::app::run(
            self.controller,
            cloud,
            settings,
            prometheus_client::registry::Registry::default(),
            async {
                let _ = stopped.await;
            },
        ));
        Controllers {
            _api: self.api,
            admin: self.admin,
            stop,
            running,
        }
    }
}

impl Controllers {
    /// Starts the API, registers `nodes`, and runs the controllers on `cloud`.
    pub async fn start(
        cloud: cloudnet_core::Cloud,
        settings: cloudnet_controllers::app::Settings,
        nodes: &[NodeSeen<'_>],
    ) -> Controllers {
        Cluster::start(nodes).await.run(cloud, settings)
    }

    /// Stops the controllers and checks they stopped cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let stopped = self.running.await.expect("the controllers' task");
        stopped.expect("the controllers stop cleanly");
    }
}

/// Waits until the NodeNetwork `name` is Ready and `check` holds for its status.
pub async fn network_ready_when(
    admin: &kube::Client,
    name: &str,
    check: impl Fn(&NodeNetworkStatus) -> bool,
) {
    let networks: Api<NodeNetwork> = Api::all(admin.clone());
    let (networks, check) = (&networks, &check);
    eventually(
        WAIT,
        &format!("{name}'s NodeNetwork Ready"),
        || async move {
            let s = networks.get(name).await.ok()?.status?;
            let ready = s
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (ready && check(&s)).then_some(())
        },
    )
    .await;
}
