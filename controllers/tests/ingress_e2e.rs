//! The Ingress controller end to end: the real `kube::Client` against the embedded API, the
//! real AWS SDK clients against the mock cloud. The book's Ingress becomes one ALB; moving it
//! into a group with another leaves one ALB and deletes the old one; a bad annotation changes
//! nothing in the cloud; deleting everything leaves nothing behind.

use std::time::Duration;

use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::ingress::reconcile::{FINALIZER, run};
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::{ControllerMetrics, ReconcileResult};
use cloudnet_core::{LoadBalancerSpec, Owner, OwnerKind};
use cloudnet_kubesim::Config as ApiConfig;
use cloudnet_mockcloud::World;
use cloudnet_testkit::eventually;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use service_env::{
    calls, create_web_app, elbv2_count as count, mutating_since, provider, refused, start_cloud,
    state, target_count, under_policy, wait_for_event,
};

mod chart_rbac;
mod service_env;

const WAIT: Duration = Duration::from_secs(30);
const A: &str = "alb.ingress.kubernetes.io/";

fn ingress(name: &str, annotations: Value, paths: &[&str]) -> Ingress {
    let paths: Vec<Value> = paths
        .iter()
        .map(|p| {
            json!({"path": p, "pathType": "Prefix",
                   "backend": {"service": {"name": "web", "port": {"number": 80}}}})
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]}
    }))
    .expect("ingress")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_book_ingress_becomes_an_alb_groups_merge_and_nothing_is_left_behind() {
    let cloud = start_cloud(under_policy(World::default(), &["AKIDTEST"])).await;
    let lbs = provider(&cloud, "AKIDTEST").await;

    let api = chart_rbac::start(ApiConfig::default()).await;
    let client = api.admin.clone();
    let controller_client = api.controller.clone();
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "default");

    // The book's app: 3 replicas on 8080 behind a ClusterIP Service on port 80.
    create_web_app(&client, "default", 3).await;

    // Left from before: a stack of an Ingress that no longer exists (to be collected) and a
    // Service's stack (never the Ingress controller's business).
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ingress/book.json");
    let mut ghost: LoadBalancerSpec =
        serde_json::from_str(&std::fs::read_to_string(golden).expect("golden")).expect("spec");
    ghost.owner = Owner::namespaced("demo", OwnerKind::Ingress, "default", "ghost");
    lbs.ensure(&ghost).await.expect("ghost stack");
    let mut service_owned = ghost.clone();
    service_owned.owner = Owner::namespaced("demo", OwnerKind::Service, "default", "gone");
    let kept = lbs.ensure(&service_owned).await.expect("service stack");
    assert_eq!(count(&cloud, "load_balancers"), 2);

    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(
        LbControllerSettings::new(
            controller_client.clone(),
            lbs.clone(),
            IngressSettings::new("demo"),
            metrics.controller("ingress"),
        ),
        async move {
            let _ = stop_rx.await;
        },
    ));

    eventually(WAIT, "the ghost Ingress's stack collected", || async {
        (count(&cloud, "load_balancers") == 1).then_some(())
    })
    .await;
    let left = state(&cloud)["elbv2"]["load_balancers"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .expect("one left");
    assert_eq!(left, kept.id.0, "the Service's stack is untouched");
    lbs.delete(&kept.id)
        .await
        .expect("delete the service stack");

    let book = json!({format!("{A}scheme"): "internet-facing", format!("{A}target-type"): "ip"});
    ingresses
        .create(
            &PostParams::default(),
            &ingress("web", book.clone(), &["/data", "/host"]),
        )
        .await
        .expect("ingress");
    let hostname = eventually(WAIT, "the hostname in status", || async {
        let i = ingresses.get("web").await.ok()?;
        i.status?.load_balancer?.ingress?.first()?.hostname.clone()
    })
    .await;
    assert!(hostname.starts_with("k8s-default-web-"), "{hostname}");
    assert!(
        hostname.ends_with(".us-west-2.elb.amazonaws.com"),
        "{hostname}"
    );
    eventually(WAIT, "3 targets", || async {
        (target_count(&cloud) == 3).then_some(())
    })
    .await;
    assert_eq!(count(&cloud, "load_balancers"), 1);
    assert_eq!(count(&cloud, "listeners"), 1, "HTTP:80 only");
    assert_eq!(
        count(&cloud, "rules"),
        3,
        "/data, /host and the default rule"
    );
    assert_eq!(count(&cloud, "target_groups"), 1, "one per Service port");
    let lb = state(&cloud)["elbv2"]["load_balancers"]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .expect("the ALB");
    assert_eq!(lb["scheme"], "internet-facing", "{lb}");
    let web = ingresses.get("web").await.expect("get");
    assert!(
        web.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&FINALIZER.to_string())
    );

    // A bad annotation on another Ingress: a Warning Event naming it, no cloud call.
    let before = calls(&cloud);
    ingresses
        .create(
            &PostParams::default(),
            &ingress(
                "bad",
                json!({format!("{A}scheme"): "public", format!("{A}target-type"): "ip"}),
                &["/bad"],
            ),
        )
        .await
        .expect("bad ingress");
    let warned = wait_for_event(
        &client,
        "default",
        "InvalidConfiguration",
        Some("bad"),
        WAIT,
    )
    .await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    assert_eq!(
        warned.note.as_deref(),
        Some(
            "annotation alb.ingress.kubernetes.io/scheme: \"public\": must be one of internal, \
             internet-facing"
        )
    );
    assert_eq!(
        mutating_since(&cloud, &before),
        Default::default(),
        "no cloud change for a bad Ingress"
    );
    ingresses
        .delete("bad", &DeleteParams::default())
        .await
        .expect("delete bad");

    // Move `web` into a group with `api`: one ALB for the group, the old one deleted.
    let mut grouped = book.clone();
    grouped[format!("{A}group.name")] = json!("shop");
    grouped[format!("{A}group.order")] = json!("1");
    let mut api_annotations = grouped.clone();
    api_annotations[format!("{A}group.order")] = json!("2");
    ingresses
        .create(
            &PostParams::default(),
            &ingress("api", api_annotations, &["/api"]),
        )
        .await
        .expect("api ingress");
    let patch = json!({"metadata": {"annotations": grouped}});
    ingresses
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("move web");
    eventually(
        WAIT,
        "one ALB for the group, with the three rules",
        || async {
            let s = state(&cloud);
            let lbs = s["elbv2"]["load_balancers"].as_object()?;
            let only = lbs.values().next()?;
            (lbs.len() == 1
                && only["name"].as_str()?.starts_with("k8s-shop-")
                && s["elbv2"]["rules"].as_object()?.len() == 4)
                .then_some(())
        },
    )
    .await;
    eventually(WAIT, "web's finalizer names its new group only", || async {
        let web = ingresses.get("web").await.ok()?;
        (web.metadata.finalizers? == vec!["group.ingress.cloudnet.io/shop".to_string()])
            .then_some(())
    })
    .await;

    // `api` leaves the group: its rule goes, the ALB stays.
    ingresses
        .delete("api", &DeleteParams::default())
        .await
        .expect("delete api");
    eventually(WAIT, "the api rule removed", || async {
        let gone = ingresses.get_opt("api").await.ok()?.is_none();
        (gone && count(&cloud, "rules") == 3 && count(&cloud, "load_balancers") == 1).then_some(())
    })
    .await;

    // Delete everything: nothing is left in the cloud, and the Ingress goes.
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete web");
    eventually(WAIT, "zero leftovers", || async {
        let gone = ingresses.get_opt("web").await.ok()?.is_none();
        (gone
            && count(&cloud, "load_balancers") == 0
            && count(&cloud, "target_groups") == 0
            && count(&cloud, "listeners") == 0
            && count(&cloud, "rules") == 0)
            .then_some(())
    })
    .await;
    assert!(
        metrics.reconciles("ingress", ReconcileResult::Success) >= 4,
        "the reconciles are counted"
    );
    let refused = refused(&cloud);
    assert!(refused.is_empty(), "calls refused by IAM: {refused:?}");
    let _ = stop_tx.send(());
    let _ = controller.await;
}
