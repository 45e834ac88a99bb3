//! The Service controller end to end on every cloud: one body, run on AWS, GCP and Azure.
//! The embedded API with the chart's RBAC, the controller's reconciler on that cloud's
//! `Cloud` (the provider suite's worlds: the real client library against the mock cloud), and
//! the cloud's Service dialect. A Service becomes a load balancer whose members follow its
//! EndpointSlices (pod IPs, or on GCP the nodes that hold its pods); a bad annotation is a
//! Warning Event and a `False` condition with no cloud call; deleting the Service leaves
//! nothing of it in the mock.

mod chart_rbac;
mod service_env;

mod clouds;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use cloudnet_controllers::service::ServiceSettings;
use cloudnet_controllers::service::reconcile::CONDITION;
use cloudnet_core::{Target, TargetKind};
use cloudnet_kubesim::Config as ApiConfig;
use cloudnet_testkit::eventually;
use clouds::world::{CLUSTER, World};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use service_env::{Running, wait_for_event};

const WAIT: Duration = Duration::from_secs(60);

/// One cloud as the Service controller meets it.
struct Case {
    world: Box<dyn World>,
    /// The cloud's dialect.
    settings: ServiceSettings,
    /// What a Service of the dialect says (class, annotations) to get the members the
    /// world's L4 groups take.
    metadata: Value,
    class: Option<&'static str>,
    /// An annotation the dialect refuses, and what the refusal says.
    bad: (&'static str, &'static str, &'static str),
}

/// AWS: cloudnet's class, pod IP targets (the AWS Load Balancer Controller's annotations).
async fn aws() -> Case {
    Case {
        world: Box::new(clouds::aws_world::AwsWorld::start().await),
        settings: ServiceSettings::new(CLUSTER),
        metadata: json!({"annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}}),
        class: Some(service_env::CLASS),
        bad: (
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval",
            "often",
            "must be a whole number",
        ),
    }
}

/// GCP: GKE's dialect, classless; the members are the nodes of the Service's pods
/// (`externalTrafficPolicy: Local`).
async fn gcp() -> Case {
    Case {
        world: Box::new(clouds::gcp_world::GcpWorld::start().await),
        settings: ServiceSettings::ingress_gce(CLUSTER),
        metadata: json!({}),
        class: None,
        bad: (
            "cloud.google.com/neg",
            "{not json",
            "NEG annotation is invalid",
        ),
    }
}

/// Azure: the Azure Cloud put together from its three parts, classless Services served as
/// AKS's cloud provider does, pod IP members in the VNet. (The `--provider azure` dialect
/// of cloud-provider-azure's annotations is not in the controller yet: the bad annotation
/// is the default dialect's.)
async fn azure() -> Case {
    Case {
        world: Box::new(clouds::azure_world::AzureWorld::start().await),
        settings: ServiceSettings {
            serve_classless: true,
            default_target_kind: TargetKind::PodIp,
            ..ServiceSettings::new(CLUSTER)
        },
        metadata: json!({}),
        class: None,
        bad: (
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval",
            "often",
            "must be a whole number",
        ),
    }
}

/// The EndpointSlice of Service `web` with one ready endpoint per (address, node).
fn slice(endpoints: &[(String, String)]) -> EndpointSlice {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, node)| json!({"addresses": [ip], "nodeName": node, "conditions": {"ready": true}}))
        .collect();
    service_env::slice_of("default", "web-1", "web", endpoints)
}

/// `n` pods: (address, node) and the members the cloud should hold for them. Pod IP members
/// are the pods; node-port members are the nodes the pods run on (pods of node `i` at
/// `10.4.<8 i>.5`, inside the node's pod range).
fn pods(w: &dyn World, n: usize) -> (Vec<(String, String)>, BTreeSet<IpAddr>) {
    let (kind, _, members) = w.l4_members();
    let on: Vec<(usize, &Target)> = members.iter().enumerate().take(n).collect();
    match kind {
        TargetKind::PodIp => {
            let pods = on
                .iter()
                .map(|(i, t)| (t.ip.to_string(), w.node(i % 2).name));
            let ips = on.iter().map(|(_, t)| t.ip);
            (pods.collect(), ips.collect())
        }
        TargetKind::NodePort => {
            let pods = on
                .iter()
                .map(|(i, _)| (format!("10.4.{}.5", 8 * i), w.node(*i).name));
            let nodes = on.iter().map(|(_, t)| t.ip);
            (pods.collect(), nodes.collect())
        }
    }
}

async fn a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing(c: Case) {
    let w = c.world.as_ref();
    let api = chart_rbac::start(ApiConfig::default()).await;
    let services: Api<Service> = Api::namespaced(api.admin.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(api.admin.clone(), "default");
    // The nodes, by the names the pods' endpoints give, at the addresses node-port members
    // take.
    let (kind, node_port, members) = w.l4_members();
    for (i, member) in members.iter().enumerate().take(2) {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": w.node(i).name},
            "status": {"addresses": [{"type": "InternalIP", "address": member.ip.to_string()}]}
        }))
        .expect("a node");
        let nodes: Api<Node> = Api::all(api.admin.clone());
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("node");
    }
    let lbs = w.cloud().load_balancers.clone();
    let controller = Running::spawn_with(api.controller.clone(), lbs, c.settings.clone(), WAIT);

    let (two, want_two) = pods(w, 2);
    let made = slices.create(&PostParams::default(), &slice(&two)).await;
    made.expect("the slice");
    let mut metadata = c.metadata.clone();
    metadata["name"] = json!("web");
    let mut spec = json!({"type": "LoadBalancer", "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": node_port,
            "protocol": "TCP"}]});
    if let Some(class) = c.class {
        spec["loadBalancerClass"] = json!(class);
    }
    if kind == TargetKind::NodePort {
        spec["externalTrafficPolicy"] = json!("Local");
        spec["healthCheckNodePort"] = json!(32000);
    }
    let svc: Service =
        serde_json::from_value(json!({"metadata": metadata, "spec": spec})).expect("a Service");
    let made = services.create(&PostParams::default(), &svc).await;
    made.expect("the Service");

    // The load balancer, its address or name in the Service's status, the members.
    let name = w.name();
    eventually(
        WAIT,
        &format!("{name}: the load balancer in status"),
        || async {
            let s = services.get("web").await.ok()?;
            let ingress = s.status?.load_balancer?.ingress?;
            let first = ingress.first()?;
            (first.ip.is_some() || first.hostname.is_some()).then_some(())
        },
    )
    .await;
    assert!(!w.our_resources().is_empty(), "{name}: nothing in the mock");
    eventually(
        WAIT,
        &format!("{name}: the members {want_two:?}"),
        || async { (w.members_in_mock() == want_two).then_some(()) },
    )
    .await;
    let cond = eventually(WAIT, &format!("{name}: the condition"), || async {
        let s = services.get("web").await.ok()?;
        let conditions = s.status?.conditions?;
        conditions.into_iter().find(|c| c.type_ == CONDITION)
    })
    .await;
    assert_eq!(cond.status, "True", "{name}: {cond:?}");

    // The endpoints shrink: so do the members.
    let (one, want_one) = pods(w, 1);
    let patch = json!({"endpoints": slice(&one).endpoints});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    let patched = slices.patch("web-1", &params, &patch).await;
    patched.expect("the slice's endpoints");
    eventually(
        WAIT,
        &format!("{name}: the members {want_one:?}"),
        || async { (w.members_in_mock() == want_one).then_some(()) },
    )
    .await;

    // A bad annotation: a Warning Event and a False condition that quote it, no cloud write
    // (a read of the periodic resync may land meanwhile).
    let before = w.calls();
    let (key, value, says) = c.bad;
    let patch = json!({"metadata": {"annotations": {key: value}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    let patched = services.patch("web", &params, &patch).await;
    patched.expect("annotate");
    let cond = eventually(WAIT, &format!("{name}: the failed condition"), || async {
        let s = services.get("web").await.ok()?;
        let conditions = s.status?.conditions?;
        let failed = |c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition| {
            c.type_ == CONDITION && c.status == "False"
        };
        conditions.into_iter().find(failed)
    })
    .await;
    assert_eq!(cond.reason, "InvalidConfiguration", "{name}");
    assert!(cond.message.contains(key), "{name}: {}", cond.message);
    assert!(cond.message.contains(says), "{name}: {}", cond.message);
    let warned = wait_for_event(&api.admin, "default", "InvalidConfiguration", None, WAIT).await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"), "{name}");
    let written = w.mutating_since(&before);
    assert!(
        written.is_empty(),
        "{name}: a cloud write for a bad annotation: {written:?}"
    );

    // Deleted: nothing of it is left in the mock.
    let deleted = services.delete("web", &DeleteParams::default()).await;
    deleted.expect("delete");
    eventually(WAIT, &format!("{name}: the Service gone"), || async {
        services.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    let left = w.our_resources();
    assert!(left.is_empty(), "{name}: leftovers {left:?}");
    assert_eq!(w.members_in_mock(), BTreeSet::new(), "{name}");
    controller.stop(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing() {
    a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing(aws().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing() {
    a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing(gcp().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing() {
    a_service_follows_its_endpoints_refuses_a_bad_annotation_and_leaves_nothing(azure().await)
        .await;
}
