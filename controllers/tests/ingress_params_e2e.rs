//! IngressClassParams end to end: the embedded API, the Ingress controller and the mock
//! cloud. An IngressClass names params (the anchor's `elbv2.k8s.aws` apiGroup) that impose
//! `internet-facing`, one group and a namespace selector: the Ingress of an allowed namespace,
//! annotated `internal`, becomes an internet-facing ALB of the params' group; the Ingress of a
//! namespace the selector refuses gets the Warning Event and makes no cloud call.

use std::time::Duration;

use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::ingress::reconcile::run;
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::ControllerMetrics;
use cloudnet_crds::IngressClassParams;
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::World;
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::api::{Api, PostParams};
use serde_json::json;
use service_env::{
    calls, install_crd, mutating_since, provider, start_cloud, state, wait_for_event,
};

mod service_env;

const WAIT: Duration = Duration::from_secs(30);

fn ingress(ns: &str) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": ns, "annotations": {
            "alb.ingress.kubernetes.io/scheme": "internal",
            "alb.ingress.kubernetes.io/target-type": "ip"}},
        "spec": {"ingressClassName": "shared", "rules": [{"http": {"paths": [
            {"path": "/data", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))
    .expect("ingress")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_class_params_override_annotations_and_refuse_namespaces() {
    let cloud = start_cloud(World::default()).await;
    let lbs = provider(&cloud, "AKIDTEST").await;
    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    install_crd::<IngressClassParams>(&client, WAIT).await;
    let pp = PostParams::default();
    for (ns, team) in [("shop", "shop"), ("ops", "ops")] {
        let n: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns, "labels": {"team": team}}}))
                .expect("ns");
        Api::<Namespace>::all(client.clone())
            .create(&pp, &n)
            .await
            .expect("namespace");
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }))
        .expect("svc");
        Api::<Service>::namespaced(client.clone(), ns)
            .create(&pp, &svc)
            .await
            .expect("service");
    }
    let params: IngressClassParams = serde_json::from_value(json!({
        "apiVersion": "cloudnet.io/v1alpha1", "kind": "IngressClassParams",
        "metadata": {"name": "shared"},
        "spec": {"scheme": "internet-facing", "group": {"name": "shared"},
                 "namespaceSelector": {"matchLabels": {"team": "shop"}},
                 "tags": [{"key": "cost-center", "value": "42"}]}
    }))
    .expect("params");
    Api::<IngressClassParams>::all(client.clone())
        .create(&pp, &params)
        .await
        .expect("params");
    let class: IngressClass = serde_json::from_value(json!({
        "metadata": {"name": "shared"},
        "spec": {"controller": "ingress.k8s.aws/alb", "parameters": {
            "apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "shared"}}
    }))
    .expect("class");
    Api::<IngressClass>::all(client.clone())
        .create(&pp, &class)
        .await
        .expect("class");

    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(
        LbControllerSettings::new(
            client.clone(),
            lbs,
            IngressSettings::new("demo"),
            metrics.controller("ingress"),
        ),
        async move {
            let _ = stop_rx.await;
        },
    ));

    // Refused: the namespace is not selected. A Warning, and no cloud call at all.
    let before = calls(&cloud);
    Api::<Ingress>::namespaced(client.clone(), "ops")
        .create(&pp, &ingress("ops"))
        .await
        .expect("ops ingress");
    let warned = wait_for_event(&client, "ops", "InvalidConfiguration", None, WAIT).await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    let note = warned.note.unwrap_or_default();
    assert_eq!(
        note,
        "the IngressClassParams of this Ingress's class do not allow namespace ops (namespaceSelector)"
    );
    assert!(mutating_since(&cloud, &before).is_empty());

    // Allowed: the params' scheme wins over the annotation, the params' group names it.
    Api::<Ingress>::namespaced(client.clone(), "shop")
        .create(&pp, &ingress("shop"))
        .await
        .expect("shop ingress");
    let lb = eventually(WAIT, "one ALB", || async {
        let s = state(&cloud);
        let lbs = s["elbv2"]["load_balancers"].as_object()?.clone();
        (lbs.len() == 1)
            .then(|| lbs.values().next().cloned())
            .flatten()
    })
    .await;
    assert_eq!(lb["scheme"], "internet-facing", "{lb}");
    assert_eq!(lb["tags"]["cost-center"], "42", "{lb}");
    let ing = eventually(WAIT, "the finalizer of the params' group", || async {
        let i = Api::<Ingress>::namespaced(client.clone(), "shop")
            .get("web")
            .await
            .ok()?;
        i.metadata
            .finalizers
            .as_ref()?
            .contains(&"group.ingress.cloudnet.io/shared".to_string())
            .then_some(i)
    })
    .await;
    assert!(ing.metadata.finalizers.is_some());
    let _ = stop_tx.send(());
    let _ = controller.await;
}
