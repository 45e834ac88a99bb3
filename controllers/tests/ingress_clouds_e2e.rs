//! The Ingress controller end to end on every cloud: one body, run on AWS, GCP and Azure.
//! The embedded API with the chart's RBAC, the controller on that cloud's load balancers
//! (the provider suite's worlds: the real client library against the mock cloud), and the
//! cloud's Ingress dialect (the AWS Load Balancer Controller's, ingress-gce's, AGIC's). An
//! Ingress with two paths to two Services becomes the cloud's L7 load balancer (an ALB and
//! target groups; a URL map, backend services and NEGs; an Application Gateway and its
//! pools) holding exactly the Services' pods, with its address in the Ingress's status; a
//! second reconcile writes nothing; the pods change and the members follow; a bad annotation
//! of the dialect is a Warning Event and no write; deleting the Ingress removes the finalizer
//! and leaves nothing of ours in the mock.
//!
//! An Ingress has no status conditions (`networking.k8s.io/v1` IngressStatus holds only
//! `loadBalancer`): the refusal shows as the Event, and the status keeps the address.

mod chart_rbac;
mod service_env;

mod clouds;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::ingress::reconcile::{FINALIZER, run};
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::{ControllerMetrics, ReconcileResult};
use cloudnet_kubesim::Config as ApiConfig;
use cloudnet_testkit::eventually;
use clouds::world::{CLUSTER, World};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// A full ensure at least this often: the second reconcile below is past it, so it reads
/// the whole load balancer back.
const RESYNC: Duration = Duration::from_secs(2);

/// One cloud as the Ingress controller meets it.
struct Case {
    world: Box<dyn World>,
    /// The cloud's dialect.
    settings: IngressSettings,
    /// The class an Ingress of the dialect names.
    class: &'static str,
    /// What an Ingress of the dialect says to get pod IP members.
    annotations: Value,
    /// An annotation the dialect refuses, and what the refusal says.
    bad: (&'static str, &'static str, &'static str),
    /// The kinds of resource of ours the load balancer is made of, as they appear in
    /// [`World::our_resources`]' names (each must be there while the Ingress is).
    made_of: &'static [&'static str],
}

/// AWS: the AWS Load Balancer Controller's dialect, class `alb`, `ip` targets.
async fn aws() -> Case {
    Case {
        world: Box::new(clouds::aws_world::AwsWorld::start().await),
        settings: IngressSettings::new(CLUSTER),
        class: "alb",
        annotations: json!({"alb.ingress.kubernetes.io/target-type": "ip"}),
        bad: (
            "alb.ingress.kubernetes.io/scheme",
            "public",
            "must be one of internal, internet-facing",
        ),
        // Load balancer, target groups and security groups all go by `k8s-` names.
        made_of: &["k8s-"],
    }
}

/// GCP: ingress-gce's dialect, class `gce`: a global external Application Load Balancer
/// whose backend services hold the pods in zonal NEGs.
async fn gcp() -> Case {
    Case {
        world: Box::new(clouds::gcp_world::GcpWorld::start().await),
        settings: IngressSettings::ingress_gce(CLUSTER),
        class: "gce",
        annotations: json!({}),
        bad: (
            "kubernetes.io/ingress.allow-http",
            "maybe",
            "must be true or false",
        ),
        made_of: &[
            "/forwardingRules/",
            "/targetHttpProxies/",
            "/urlMaps/",
            "/backendServices/",
            "/networkEndpointGroups/",
            "/healthChecks/",
        ],
    }
}

/// Azure: AGIC's dialect, class `azure-application-gateway`: an Application Gateway with a
/// public IP, the pods in its pools.
async fn azure() -> Case {
    Case {
        world: Box::new(clouds::azure_world::AzureWorld::start().await),
        settings: IngressSettings::agic(CLUSTER),
        class: "azure-application-gateway",
        annotations: json!({}),
        bad: (
            "appgw.ingress.kubernetes.io/backend-protocol",
            "ftp",
            "must be one of http, https",
        ),
        made_of: &["/applicationgateways/", "/publicipaddresses/"],
    }
}

/// The ClusterIP Service `name` (port 80 to the pods' 8080).
fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .expect("a Service")
}

/// The endpoints of ready pods `pods` of the world, on their nodes.
fn endpoints(w: &dyn World, pods: &[u8]) -> Vec<Value> {
    let endpoint = |i: &u8| {
        let (ip, node) = w.pod(*i);
        json!({"addresses": [ip.to_string()], "nodeName": w.node(node).name,
            "conditions": {"ready": true}})
    };
    pods.iter().map(endpoint).collect()
}

/// The EndpointSlice of Service `name` with pods `pods`.
fn slice(w: &dyn World, name: &str, pods: &[u8]) -> EndpointSlice {
    service_env::slice_of("default", &format!("{name}-1"), name, endpoints(w, pods))
}

/// Ingress `shop`: `/a` to Service `a`, `/b` to `b`, everything else to `a`.
fn shop(c: &Case) -> Ingress {
    let path = |p: &str, svc: &str| {
        json!({"path": p, "pathType": "Prefix",
            "backend": {"service": {"name": svc, "port": {"number": 80}}}})
    };
    serde_json::from_value(json!({
        "metadata": {"name": "shop", "namespace": "default", "annotations": c.annotations},
        "spec": {"ingressClassName": c.class,
            "defaultBackend": {"service": {"name": "a", "port": {"number": 80}}},
            "rules": [{"http": {"paths": [path("/a", "a"), path("/b", "b")]}}]}
    }))
    .expect("an Ingress")
}

/// The members the mock holds per backend, the backends without members left out.
fn member_sets(w: &dyn World) -> BTreeSet<BTreeSet<IpAddr>> {
    let by_backend = w.members_by_backend().into_values();
    by_backend.filter(|m| !m.is_empty()).collect()
}

/// The member sets of Services `a` and `b` with pods `a` and `b`.
fn wanted(w: &dyn World, a: &[u8], b: &[u8]) -> BTreeSet<BTreeSet<IpAddr>> {
    let ips = |pods: &[u8]| pods.iter().map(|i| w.pod(*i).0).collect();
    [ips(a), ips(b)].into_iter().collect()
}

fn shown(ing: &Ingress) -> Option<Vec<IngressLoadBalancerIngress>> {
    ing.status.clone()?.load_balancer?.ingress
}

async fn an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing(
    c: Case,
) {
    let w = c.world.as_ref();
    let name = w.name();
    let api = chart_rbac::start_for(name, ApiConfig::default()).await;
    let services: Api<Service> = Api::namespaced(api.admin.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(api.admin.clone(), "default");
    let ingresses: Api<Ingress> = Api::namespaced(api.admin.clone(), "default");
    for (svc, pods) in [("a", [0u8, 1]), ("b", [2, 3])] {
        let made = services.create(&PostParams::default(), &service(svc)).await;
        made.expect("the Service");
        let made = slices
            .create(&PostParams::default(), &slice(w, svc, &pods))
            .await;
        made.expect("the slice");
    }

    let metrics = ControllerMetrics::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let lbs = w.cloud().load_balancers.clone();
    let settings = LbControllerSettings {
        resync: RESYNC,
        ..LbControllerSettings::new(
            api.controller.clone(),
            lbs,
            c.settings.clone(),
            metrics.controller("ingress"),
        )
    };
    let controller = tokio::spawn(run(settings, async move {
        let _ = stopped.await;
    }));

    // The load balancer: its address in status, made of the cloud's parts, a backend per
    // Service holding exactly that Service's pods.
    let made = ingresses.create(&PostParams::default(), &shop(&c)).await;
    made.expect("the Ingress");
    let address = eventually(WAIT, &format!("{name}: the address in status"), || async {
        let shown = shown(&ingresses.get("shop").await.ok()?)?;
        let first = shown.first()?;
        (first.ip.is_some() || first.hostname.is_some()).then_some(shown)
    })
    .await;
    let want = wanted(w, &[0, 1], &[2, 3]);
    eventually(WAIT, &format!("{name}: the members {want:?}"), || async {
        (member_sets(w) == want).then_some(())
    })
    .await;
    let ours = w.our_resources();
    for part in c.made_of {
        assert!(
            ours.iter().any(|r| r.contains(part)),
            "{name}: no {part} in {ours:?}"
        );
    }
    let all: BTreeSet<IpAddr> = want.iter().flatten().copied().collect();
    assert_eq!(w.members_in_mock(), all, "{name}: members elsewhere");
    let shop_now = ingresses.get("shop").await.expect("the Ingress");
    let finalizers = shop_now.metadata.finalizers.unwrap_or_default();
    assert_eq!(finalizers, vec![FINALIZER.to_string()], "{name}");

    // A second reconcile past the resync period (the Ingress touched, and requeued every
    // `RESYNC`): a full ensure that reads the load balancer back and writes nothing. The
    // touch itself may find the load balancer freshly ensured; the reconcile after it does
    // not.
    let (before, reads, done) = (
        w.calls(),
        w.total_calls(),
        metrics.reconciles("ingress", ReconcileResult::Success),
    );
    let patch = json!({"metadata": {"labels": {"touched": "1"}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    ingresses
        .patch("shop", &params, &patch)
        .await
        .expect("touch");
    eventually(
        WAIT,
        &format!("{name}: a full second reconcile"),
        || async {
            let now = metrics.reconciles("ingress", ReconcileResult::Success);
            (now >= done + 2 && w.total_calls() > reads).then_some(())
        },
    )
    .await;
    let written = w.mutating_since(&before);
    assert_eq!(
        written,
        BTreeMap::new(),
        "{name}: the second reconcile wrote"
    );

    // The pods change: `a` loses pod 1 and gains pod 4, `b` loses pod 3.
    for (svc, pods) in [("a", vec![0u8, 4]), ("b", vec![2])] {
        let patch = json!({"endpoints": endpoints(w, &pods)});
        let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
        let patched = slices.patch(&format!("{svc}-1"), &params, &patch).await;
        patched.expect("the slice's endpoints");
    }
    let want = wanted(w, &[0, 4], &[2]);
    eventually(WAIT, &format!("{name}: the members {want:?}"), || async {
        (member_sets(w) == want).then_some(())
    })
    .await;

    // A bad annotation of the dialect: a Warning Event quoting it, nothing written, the
    // address kept.
    let before = w.calls();
    let (key, value, says) = c.bad;
    let patch = json!({"metadata": {"annotations": {key: value}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    let patched = ingresses.patch("shop", &params, &patch).await;
    patched.expect("annotate");
    let reason = "InvalidConfiguration";
    // The Event about this annotation: the controller may have warned before (a Service not
    // yet in its cache at start), so the wait is for the note naming the key.
    let what = format!("{name}: the {reason} Event naming {key}");
    let warned = service_env::event_where(&api.admin, "default", &what, WAIT, |e| {
        e.reason.as_deref() == Some(reason)
            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("shop")
            && e.note.as_deref().is_some_and(|n| n.contains(key))
    })
    .await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"), "{name}");
    let note = warned.note.unwrap_or_default();
    assert!(note.contains(key), "{name}: {note}");
    assert!(note.contains(says), "{name}: {note}");
    let written = w.mutating_since(&before);
    assert_eq!(
        written,
        BTreeMap::new(),
        "{name}: a write for a bad annotation"
    );
    let kept = shown(&ingresses.get("shop").await.expect("the Ingress"));
    assert_eq!(kept, Some(address), "{name}: the status changed");
    assert_eq!(member_sets(w), want, "{name}: the members changed");

    // Deleted: the finalizer goes with the load balancer, and nothing of ours is left.
    let deleted = ingresses.delete("shop", &DeleteParams::default()).await;
    deleted.expect("delete");
    eventually(WAIT, &format!("{name}: the Ingress gone"), || async {
        ingresses
            .get_opt("shop")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let left = w.our_resources();
    assert!(left.is_empty(), "{name}: leftovers {left:?}");
    assert_eq!(w.members_in_mock(), BTreeSet::new(), "{name}");
    let _ = stop.send(());
    let stopped = tokio::time::timeout(WAIT, controller).await;
    stopped.expect("the controller stops").expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing() {
    an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing(aws().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing() {
    an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing(gcp().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing()
{
    an_ingress_becomes_the_clouds_l7_load_balancer_follows_its_pods_and_leaves_nothing(
        azure().await,
    )
    .await;
}
