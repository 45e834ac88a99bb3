//! Set-up shared by the Service controller's end-to-end tests and its scale bench: the mock
//! cloud, the real AWS provider against it through the SDK (signing with a given access key,
//! so the mock's call log names the caller), the embedded Kubernetes API, and the controller
//! as a task that can be stopped or killed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::ControllerMetrics;
use cloudnet_controllers::service::ServiceSettings;
use cloudnet_controllers::service::reconcile::run;
use cloudnet_core::{BudgetConfig, LoadBalancers, Op, Rate};
use cloudnet_mockcloud::elbv2::Elbv2Config;
use cloudnet_mockcloud::{Config as CloudConfig, Handle as Cloud, MockCloud, World};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{conditions, wait::await_condition};
use serde_json::json;

pub const CLUSTER: &str = "demo";
pub const VPC: &str = "vpc-0c10d0e7000000001";
pub const NODE_SG: &str = "sg-0c10d0e7000000001";
pub const CLASS: &str = "cloudnet.io/nlb";

/// A budget that never paces: the tests count calls, they do not measure pacing.
pub fn budget() -> BudgetConfig {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(100_000.0, 100_000));
    }
    b
}

/// The default world with targets turning healthy after `health_ms` of traffic.
pub fn world(health_ms: u64) -> World {
    World {
        elbv2: Some(Elbv2Config {
            health_check_delay_ms: health_ms,
            ..Elbv2Config::default()
        }),
        ..World::default()
    }
}

/// Log output for a test, filtered by `RUST_LOG`; the first call in a test binary wins.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Installs the custom resource `K` and waits up to `within` until the API serves it.
pub async fn install_crd<K: CustomResourceExt>(client: &kube::Client, within: Duration) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let created = crds.create(&PostParams::default(), &K::crd()).await;
    created.expect("CRD");
    let established = await_condition(crds, K::crd_name(), conditions::is_crd_established());
    let waited = tokio::time::timeout(within, established).await;
    waited.expect("established").expect("watch");
}

/// The book's app in `namespace`: a ClusterIP Service `web` on port 80 to the pods' 8080, and
/// its EndpointSlice `web-1` with `pods` ready addresses.
pub async fn create_web_app(client: &kube::Client, namespace: &str, pods: usize) {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .expect("service");
    Api::<Service>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");
    Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .create(
            &PostParams::default(),
            &slice(namespace, "web-1", "web", &pod_ips(pods)),
        )
        .await
        .expect("slice");
}

/// Waits up to `within` until controller `name` has finished a round successfully.
pub async fn first_round(metrics: &ControllerMetrics, name: &'static str, within: Duration) {
    use cloudnet_controllers::metrics::ReconcileResult;
    let what = format!("a first {name} round");
    cloudnet_testkit::eventually(within, &what, || async {
        (metrics.reconciles(name, ReconcileResult::Success) >= 1).then_some(())
    })
    .await;
}

/// Waits up to `within` for an Event in `namespace` with this reason (and, when given, about
/// the object named `regarding`), and returns it.
pub async fn wait_for_event(
    client: &kube::Client,
    namespace: &str,
    reason: &str,
    regarding: Option<&str>,
    within: Duration,
) -> Event {
    let what = format!("the {reason} Event in {namespace}");
    event_where(client, namespace, &what, within, |e| {
        e.reason.as_deref() == Some(reason)
            && regarding.is_none_or(|name| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
    })
    .await
}

/// Waits up to `within` (`what` says for what) for an Event in `namespace` that `wanted`
/// accepts, and returns it.
pub async fn event_where(
    client: &kube::Client,
    namespace: &str,
    what: &str,
    within: Duration,
    wanted: impl Fn(&Event) -> bool,
) -> Event {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let wanted = &wanted;
    cloudnet_testkit::eventually(within, what, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| wanted(e))
    })
    .await
}

/// The mock cloud on an ephemeral port, with [`init_tracing`]'s log output.
pub async fn start_cloud(world: World) -> Cloud {
    init_tracing();
    MockCloud::start(CloudConfig::ephemeral(world))
        .await
        .expect("mock cloud")
}

/// The SDK configuration a controller with access key `akid` uses.
pub async fn sdk(cloud: &Cloud, akid: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new(akid, "secret", None, None, "test"))
        .endpoint_url(cloud.endpoint_url())
        .load()
        .await
}

/// A fresh provider (no caches) signing as `akid`.
pub async fn provider(cloud: &Cloud, akid: &str) -> Arc<dyn LoadBalancers> {
    provider_with(cloud, akid, budget(), Some(NODE_SG)).await
}

/// A fresh provider with this budget and nodes' security group.
pub async fn provider_with(
    cloud: &Cloud,
    akid: &str,
    budget: BudgetConfig,
    node_security_group: Option<&str>,
) -> Arc<dyn LoadBalancers> {
    let mut aws = AwsConfig::new(CLUSTER);
    aws.vpc_id = Some(VPC.into());
    aws.node_security_group = node_security_group.map(str::to_string);
    aws.budget = budget;
    let provider =
        AwsProvider::from_sdk_config(&sdk(cloud, akid).await, aws, AwsMetrics::default())
            .expect("aws");
    Arc::new(provider)
}

/// The Service controller as a task.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn spawn(client: kube::Client, lbs: Arc<dyn LoadBalancers>, resync: Duration) -> Running {
        Running::spawn_with(client, lbs, ServiceSettings::new(CLUSTER), resync)
    }

    /// The Service controller with these settings (another cloud's dialect, cluster).
    pub fn spawn_with(
        client: kube::Client,
        lbs: Arc<dyn LoadBalancers>,
        settings: ServiceSettings,
        resync: Duration,
    ) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(
            LbControllerSettings {
                resync,
                ..LbControllerSettings::new(
                    client,
                    lbs,
                    settings,
                    ControllerMetrics::default().controller("service"),
                )
            },
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            stop: Some(stop),
            task,
        }
    }

    /// Stops it the way a SIGKILL does: at whatever await point it is, nothing cleaned up.
    pub async fn kill(mut self) {
        self.stop.take();
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Stops it gracefully and waits.
    pub async fn stop(mut self, within: Duration) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(within, &mut self.task)
            .await
            .expect("the controller stops")
            .expect("no panic");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn calls(cloud: &Cloud) -> BTreeMap<String, u64> {
    cloud.with_cloud(|c| c.calls.clone())
}

/// A read: `service:Describe*`.
pub fn is_read(call: &str) -> bool {
    call.split_once(':')
        .is_some_and(|(_, a)| a.starts_with("Describe"))
}

/// Calls made since `before`, by action, that pass `keep`.
pub fn since(
    cloud: &Cloud,
    before: &BTreeMap<String, u64>,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, u64> {
    calls(cloud)
        .into_iter()
        .filter(|(k, _)| keep(k))
        .filter_map(|(k, n)| {
            let d = n - before.get(&k).copied().unwrap_or(0);
            (d > 0).then_some((k, d))
        })
        .collect()
}

/// Calls other than reads made since `before`, by action.
pub fn mutating_since(cloud: &Cloud, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    since(cloud, before, |k| !is_read(k))
}

/// The sequence number of the cloud's last logged call.
pub fn last_seq(cloud: &Cloud) -> u64 {
    cloud.with_cloud(|c| c.call_log.page(u64::MAX).last_seq)
}

/// Calls after `seq` by `caller`, by action, and the time of the last one (ms, the cloud's).
pub fn calls_of(cloud: &Cloud, seq: u64, caller: &str) -> (BTreeMap<String, u64>, u64) {
    let page = cloud.with_cloud(|c| c.call_log.page(seq));
    let mut out = BTreeMap::new();
    let mut last = 0;
    for c in page.calls.into_iter().filter(|c| c.caller == caller) {
        *out.entry(c.call).or_insert(0) += 1;
        last = last.max(c.at_ms);
    }
    (out, last)
}

/// The cloud's clock now, in ms.
pub fn now_ms(cloud: &Cloud) -> u64 {
    cloud.with_cloud(|c| c.now_ms(std::time::Instant::now()))
}

/// `calls` as (reads, the rest).
pub fn reads_and_writes(calls: &BTreeMap<String, u64>) -> (u64, u64) {
    let reads: u64 = calls
        .iter()
        .filter(|(k, _)| is_read(k))
        .map(|(_, n)| n)
        .sum();
    (reads, calls.values().sum::<u64>() - reads)
}

/// The name of the scale benches' Service `s`.
pub fn svc_name(s: usize) -> String {
    format!("svc-{s:04}")
}

pub fn count(map: &BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

/// One ready endpoint per address.
fn ready_endpoints(ips: &[String]) -> Vec<serde_json::Value> {
    let ready = |ip| json!({"addresses": [ip], "conditions": {"ready": true}});
    ips.iter().map(ready).collect()
}

/// Sets the endpoints of EndpointSlice `name` to one ready endpoint per address.
pub async fn set_endpoints(slices: &Api<EndpointSlice>, name: &str, ips: &[String]) {
    let patch = json!({"endpoints": ready_endpoints(ips)});
    let (params, patch) = (
        kube::api::PatchParams::default(),
        kube::api::Patch::Merge(&patch),
    );
    let patched = slices.patch(name, &params, &patch);
    patched.await.expect("the slice's endpoints");
}

/// An EndpointSlice `name` of Service `service` with ready endpoints at `ips`, port `http`
/// 8080.
pub fn slice(namespace: &str, name: &str, service: &str, ips: &[String]) -> EndpointSlice {
    slice_of(namespace, name, service, ready_endpoints(ips))
}

/// An EndpointSlice `name` of Service `service` with `endpoints`, port `http` 8080.
pub fn slice_of(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: Vec<serde_json::Value>,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .expect("slice")
}

/// A LoadBalancer Service of our class with ip targets, port 80 -> `http` (node port
/// `node_port`).
pub fn service(namespace: &str, name: &str, node_port: u16) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace, "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"
        }},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": CLASS,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": node_port,
                "protocol": "TCP"}]
        }
    }))
    .expect("service")
}

/// Pod IPs `192.168.100.10..`, inside the VPC.
pub fn pod_ips(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("192.168.100.{}", 10 + i)).collect()
}

/// The mock cloud's state as JSON.
pub fn state(cloud: &Cloud) -> serde_json::Value {
    cloud.with_cloud(|c| serde_json::to_value(c.dump()).expect("state"))
}

/// The registered targets (`id:port`) over every target group.
pub fn registered_targets(cloud: &Cloud) -> Vec<String> {
    let state = state(cloud);
    let groups = state["elbv2"]["target_groups"].as_object().cloned();
    let groups = groups.unwrap_or_default();
    let members = groups.values().filter_map(|g| g["targets"].as_object());
    members.flat_map(|t| t.keys().cloned()).collect()
}

/// Registered targets over every target group.
pub fn target_count(cloud: &Cloud) -> u64 {
    registered_targets(cloud).len() as u64
}

pub fn listener_count(cloud: &Cloud) -> usize {
    elbv2_count(cloud, "listeners")
}

/// How many ELBv2 resources of a kind (`load_balancers`, `target_groups`, `listeners`,
/// `rules`) the mock cloud holds.
pub fn elbv2_count(cloud: &Cloud, kind: &str) -> usize {
    state(cloud)["elbv2"][kind]
        .as_object()
        .map_or(0, serde_json::Map::len)
}

/// Callers (access key ids) that made a call other than a read.
pub fn mutating_callers(cloud: &Cloud) -> Vec<String> {
    cloud.with_cloud(|c| c.call_log.callers_of(|call| !is_read(call)))
}

/// The access key of the test's own set-up calls when IAM is on: it may do anything.
pub const ADMIN_KEY: &str = "AKIDADMIN";

/// `world` with IAM as deploy/iam ships it: `controller_keys` act under the controller
/// policy, [`ADMIN_KEY`] may do anything, instances' metadata credentials act under the node
/// policy. A call the policy lacks is refused, and [`refused`] lists it.
pub fn under_policy(mut world: World, controller_keys: &[&str]) -> World {
    world.iam = Some(cloudnet_mockcloud::iam::IamSpec::shipped(
        controller_keys,
        &[ADMIN_KEY],
    ));
    world
}

/// Calls IAM refused, per caller and `service:Action`.
pub fn refused(cloud: &Cloud) -> BTreeMap<String, BTreeMap<String, u64>> {
    cloud.with_cloud(|c| c.call_log.denied_by_caller().clone())
}

/// A bench's invariants: each check prints `[ok]` or `[BROKEN]`; the bench exits non-zero
/// when any broke.
pub struct Failures(pub Vec<String>);

impl Failures {
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        println!("  [{}] {what}", if ok { "ok" } else { "BROKEN" });
        if !ok {
            self.0.push(what);
        }
    }
}
