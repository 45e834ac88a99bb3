//! Pod readiness gates end to end: the embedded API with its simulated scheduler, kubelet,
//! Deployment controller (rolling updates within maxSurge/maxUnavailable) and EndpointSlice
//! controller; the Service, Ingress and readiness gate controllers with the real AWS provider
//! against the mock cloud. The book's 3-replica app behind an Ingress (ALB) and another behind
//! an NLB Service are rolled out, and the mock's target health, read continuously, never shows
//! fewer healthy targets than `replicas - maxUnavailable`; the same rollout without gates does
//! drop below it. Then a pod's target turns unhealthy while the pod stays: its gate closes,
//! and opens again once the target is healthy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::ControllerMetrics;
use cloudnet_controllers::readiness::Gates;
use cloudnet_controllers::readiness::controller::GatePolling;
use cloudnet_controllers::service::ServiceSettings;
use cloudnet_core::{HealthState, LoadBalancers};
use cloudnet_kubesim::sim::{self, kubelet::RangeAddressSource, node::NodeRegistration};
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::Handle as Cloud;
use cloudnet_testkit::eventually;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use service_env::{CLUSTER, calls, provider, start_cloud, state, world};

mod service_env;

const WAIT: Duration = Duration::from_secs(60);
/// How often the open gates are checked again.
const RECHECK: Duration = Duration::from_secs(1);
/// How long a registered target stays `initial` in the mock cloud.
const HEALTH_MS: u64 = 1_500;
const REPLICAS: i32 = 3;
const MAX_UNAVAILABLE: i32 = 0;

fn deployment(name: &str, gate: Option<&str>, image: &str) -> Deployment {
    let mut spec = json!({"containers": [{"name": "app", "image": image,
        "ports": [{"name": "http", "containerPort": 8080}]}]});
    if let Some(gate) = gate {
        spec["readinessGates"] = json!([{"conditionType": gate}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": MAX_UNAVAILABLE}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}
    }))
    .expect("deployment")
}

fn cluster_ip_service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .expect("service")
}

fn nlb_service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": "service.k8s.aws/nlb",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .expect("service")
}

fn book_ingress() -> Ingress {
    let path = |p: &str| {
        json!({"path": p, "pathType": "Prefix",
               "backend": {"service": {"name": "web", "port": {"number": 80}}}})
    };
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "annotations": {
            "alb.ingress.kubernetes.io/scheme": "internet-facing",
            "alb.ingress.kubernetes.io/target-type": "ip"}},
        "spec": {"ingressClassName": "alb",
            "rules": [{"http": {"paths": [path("/data"), path("/host")]}}]}
    }))
    .expect("ingress")
}

/// The target groups in the mock cloud, by the Service their name is for: ARN by owner tag.
fn groups(cloud: &Cloud) -> BTreeMap<String, String> {
    let state = state(cloud);
    state["elbv2"]["target_groups"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(arn, g)| {
            let resource = g["tags"]["cloudnet.io/resource"].as_str()?;
            Some((resource.to_string(), arn.clone()))
        })
        .collect()
}

/// The fewest healthy targets each group showed, sampled through DescribeTargetHealth
/// until stopped.
#[derive(Clone, Default)]
struct Lowest(Arc<Mutex<BTreeMap<String, (usize, u64)>>>);

impl Lowest {
    fn spawn(
        &self,
        watcher: Arc<dyn LoadBalancers>,
        groups: BTreeMap<String, String>,
    ) -> tokio::task::JoinHandle<()> {
        let lowest = self.0.clone();
        tokio::spawn(async move {
            loop {
                for (resource, arn) in &groups {
                    let Ok(health) = watcher.target_health(arn).await else {
                        continue;
                    };
                    let healthy = health
                        .iter()
                        .filter(|h| h.state == HealthState::Healthy)
                        .count();
                    let mut l = lowest.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = l.entry(resource.clone()).or_insert((usize::MAX, 0));
                    entry.0 = entry.0.min(healthy);
                    entry.1 += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    fn get(&self) -> BTreeMap<String, (usize, u64)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn rolled_out(deployments: &Api<Deployment>, name: &str, image: &str) -> bool {
    let Ok(d) = deployments.get(name).await else {
        return false;
    };
    let s = d.status.unwrap_or_default();
    let template_image = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].image.clone().unwrap_or_default());
    template_image.as_deref() == Some(image)
        && s.replicas == Some(REPLICAS)
        && s.updated_replicas == Some(REPLICAS)
        && s.ready_replicas == Some(REPLICAS)
}

async fn healthy_everywhere(
    watcher: &Arc<dyn LoadBalancers>,
    groups: &BTreeMap<String, String>,
    n: usize,
) -> bool {
    for arn in groups.values() {
        let Ok(health) = watcher.target_health(arn).await else {
            return false;
        };
        let healthy = health
            .iter()
            .filter(|h| h.state == HealthState::Healthy)
            .count();
        let members = health
            .iter()
            .filter(|h| h.state != HealthState::Draining)
            .count();
        if healthy != n || members != n {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_never_drops_below_healthy_capacity_with_gates() {
    let cloud = start_cloud(world(HEALTH_MS)).await;
    let lbs = provider(&cloud, "AKIDCONTROLLER").await;
    let watcher = provider(&cloud, "AKIDWATCH").await;

    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let _sim = sim::start(
        api.store(),
        Arc::new(RangeAddressSource::new(
            "192.168.128.0/17".parse().expect("cidr"),
        )),
    );
    for (name, zone) in [("node-a", "us-west-2a"), ("node-b", "us-west-2b")] {
        sim::node::register_node(
            api.store(),
            &NodeRegistration {
                name: name.into(),
                provider_id: format!("aws:///{zone}/i-{name}"),
                internal_ip: "192.168.1.10".into(),
                zone: zone.into(),
                instance_type: "m5.large".into(),
                max_pods: 29,
            },
        )
        .expect("node");
    }
    let client = api.client_for(ADMIN).await.expect("client");

    let gates = Gates::default();
    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let controllers = vec![
        tokio::spawn(cloudnet_controllers::service::reconcile::run(
            LbControllerSettings {
                gates: gates.clone(),
                ..LbControllerSettings::new(
                    client.clone(),
                    lbs.clone(),
                    ServiceSettings::new(CLUSTER),
                    metrics.controller("service"),
                )
            },
            stopped(stop_rx.clone()),
        )),
        tokio::spawn(cloudnet_controllers::ingress::reconcile::run(
            LbControllerSettings {
                gates: gates.clone(),
                ..LbControllerSettings::new(
                    client.clone(),
                    lbs.clone(),
                    IngressSettings::new(CLUSTER),
                    metrics.controller("ingress"),
                )
            },
            stopped(stop_rx.clone()),
        )),
        tokio::spawn(cloudnet_controllers::readiness::controller::run(
            client.clone(),
            lbs.clone(),
            gates.clone(),
            None,
            GatePolling {
                waiting: Duration::from_millis(300),
                open: RECHECK,
            },
            metrics.controller("pod-readiness"),
            stopped(stop_rx.clone()),
        )),
    ];

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    // web behind the book's Ingress, gated by our prefix; api behind an NLB, gated by the
    // anchor's prefix; plain behind an NLB with no gate.
    deployments
        .create(
            &pp,
            &deployment("web", Some("target-health.cloudnet.io/web"), "web:1"),
        )
        .await
        .expect("web");
    deployments
        .create(
            &pp,
            &deployment("api", Some("target-health.elbv2.k8s.aws/api"), "api:1"),
        )
        .await
        .expect("api");
    deployments
        .create(&pp, &deployment("plain", None, "plain:1"))
        .await
        .expect("plain");
    services
        .create(&pp, &cluster_ip_service("web"))
        .await
        .expect("web svc");
    services
        .create(&pp, &nlb_service("api"))
        .await
        .expect("api svc");
    services
        .create(&pp, &nlb_service("plain"))
        .await
        .expect("plain svc");
    ingresses
        .create(&pp, &book_ingress())
        .await
        .expect("ingress");

    // First rollout: the gated pods become Ready only once healthy in their groups.
    let all = eventually(WAIT, "three target groups", || async {
        let g = groups(&cloud);
        (g.len() == 3).then_some(g)
    })
    .await;
    eventually(WAIT, "3 healthy targets in every group", || async {
        healthy_everywhere(&watcher, &all, 3).await.then_some(())
    })
    .await;
    for name in ["web", "api", "plain"] {
        let image = format!("{name}:1");
        eventually(WAIT, "the first rollout", || async {
            rolled_out(&deployments, name, &image).await.then_some(())
        })
        .await;
    }
    let gated = pods
        .list(&ListParams::default().labels("app=api"))
        .await
        .expect("pods");
    for p in &gated.items {
        let conditions = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let gate = conditions
            .iter()
            .find(|c| c.type_ == "target-health.elbv2.k8s.aws/api")
            .expect("the anchor's gate condition is set");
        assert_eq!(gate.status, "True");
    }

    // The rollout, watched continuously.
    let lowest = Lowest::default();
    let watching = lowest.spawn(watcher.clone(), all.clone());
    let before = calls(&cloud);
    for name in ["web", "api", "plain"] {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": format!("{name}:2"),
             "ports": [{"name": "http", "containerPort": 8080}]}]}}}});
        deployments
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("new template");
    }
    for name in ["web", "api", "plain"] {
        let image = format!("{name}:2");
        eventually(WAIT, "the second rollout", || async {
            rolled_out(&deployments, name, &image).await.then_some(())
        })
        .await;
    }
    eventually(WAIT, "3 healthy targets in every group again", || async {
        healthy_everywhere(&watcher, &all, 3).await.then_some(())
    })
    .await;
    watching.abort();
    let seen = lowest.get();
    let floor = usize::try_from(REPLICAS - MAX_UNAVAILABLE).expect("floor");
    let group_of = |service: &str| {
        all.keys()
            .find(|k| k.starts_with(&format!("default/{service}:")))
            .cloned()
            .expect("group")
    };
    for gated in ["web", "api"] {
        let (min, samples) = seen[&group_of(gated)];
        assert!(samples > 20, "{gated}: only {samples} samples");
        assert!(
            min >= floor,
            "{gated}: {min} healthy targets at some moment, below {floor}: {seen:?}"
        );
    }
    let (plain_min, _) = seen[&group_of("plain")];
    assert!(
        plain_min < floor,
        "without gates the same rollout drops below {floor} healthy targets: {seen:?}"
    );
    eprintln!("fewest healthy targets per group during the rollout (min, samples): {seen:?}");
    // Only target changes during the rollout: the gates change no load balancer.
    let changed: Vec<String> = service_env::mutating_since(&cloud, &before)
        .into_keys()
        .collect();
    assert_eq!(
        changed,
        ["elbv2:DeregisterTargets", "elbv2:RegisterTargets"],
        "mutating calls during the rollout"
    );
    // At rest no pod waits: target health is read only to recheck the open gates, once per
    // gated group (web's and api's) every RECHECK.
    let reads = |cloud: &Cloud| {
        cloud.with_cloud(|c| {
            c.call_log
                .by_caller()
                .get("AKIDCONTROLLER")
                .and_then(|calls| calls.get("elbv2:DescribeTargetHealth"))
                .copied()
                .unwrap_or(0)
        })
    };
    let at_rest = reads(&cloud);
    assert!(at_rest > 0);
    tokio::time::sleep(RECHECK * 3).await;
    let rechecks = reads(&cloud) - at_rest;
    assert!(
        (2..=2 * 4).contains(&rechecks),
        "{rechecks} target health reads at rest in 3 recheck periods"
    );

    // A pod's target turns unhealthy while the pod stays: its open gate closes (the pod
    // leaves the ready endpoints), and opens again once the target is healthy.
    let api_pod = pods
        .list(&ListParams::default().labels("app=api"))
        .await
        .expect("pods")
        .items
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_none())
        .expect("an api pod");
    let name = api_pod.metadata.name.clone().expect("name");
    let ip = api_pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod ip");
    let gate_status = |pod: Pod| {
        pod.status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "target-health.elbv2.k8s.aws/api")
            .map(|c| c.status)
    };
    assert_eq!(
        gate_status(pods.get(&name).await.expect("pod")).as_deref(),
        Some("True")
    );
    cloud.with_cloud(|c| c.elbv2.set_target_unhealthy(&ip, true));
    eventually(WAIT, "the gate closes", || async {
        let pod = pods.get(&name).await.ok()?;
        (gate_status(pod).as_deref() == Some("False")).then_some(())
    })
    .await;
    cloud.with_cloud(|c| c.elbv2.set_target_unhealthy(&ip, false));
    eventually(WAIT, "the gate opens again", || async {
        let pod = pods.get(&name).await.ok()?;
        (gate_status(pod).as_deref() == Some("True")).then_some(())
    })
    .await;

    let _ = stop_tx.send(true);
    for c in controllers {
        let _ = tokio::time::timeout(Duration::from_secs(10), c).await;
    }
}
