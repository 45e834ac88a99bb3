//! ingress-gce's features on GCP end to end: the Ingress controller in ingress-gce's dialect
//! on the GCP backend (the Google Cloud client library against the mock's Compute Engine)
//! and the embedded API. An Ingress whose `spec.tls` names a TLS Secret gets a Warning while
//! the Secret is missing (and nothing in the cloud), then a self-managed SSL certificate on
//! its target HTTPS proxy once the Secret exists; a rotated Secret is uploaded anew, the proxy
//! switched and the old certificate deleted; deleting the Ingress leaves nothing.

mod clouds;

use std::sync::Arc;
use std::time::Duration;

use cloudnet_controllers::ingress::IngressSettings;
use cloudnet_controllers::ingress::reconcile::run;
use cloudnet_controllers::lb_controller::LbControllerSettings;
use cloudnet_controllers::metrics::ControllerMetrics;
use cloudnet_gcp::GcpLoadBalancers;
use cloudnet_mockcloud::Handle;
use cloudnet_testkit::eventually;
use clouds::gcp_world::common as gcp;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

const CLUSTER: &str = "gke-e2e";
const WAIT: Duration = Duration::from_secs(60);

/// Names (last path segment) of our SSL certificates in the mock.
fn our_certificates(mock: &Handle) -> Vec<String> {
    mock.with_cloud(|c| {
        c.gcp
            .resources
            .keys()
            .filter(|k| k.contains("/sslCertificates/"))
            .filter_map(|k| k.rsplit('/').next())
            .filter(|n| n.starts_with("k8s-"))
            .map(str::to_string)
            .collect()
    })
}

/// The certificate names of every target HTTPS proxy in the mock.
fn proxy_certificates(mock: &Handle) -> Vec<Vec<String>> {
    mock.with_cloud(|c| {
        c.gcp
            .resources
            .iter()
            .filter(|(k, _)| k.contains("/targetHttpsProxies/"))
            .map(|(_, v)| {
                v["sslCertificates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str()?.rsplit('/').next().map(str::to_string))
                    .collect()
            })
            .collect()
    })
}

fn count(mock: &Handle, collection: &str) -> usize {
    let part = format!("/{collection}/");
    mock.with_cloud(|c| c.gcp.resources.keys().filter(|k| k.contains(&part)).count())
}

fn tls_secret(pair: &(String, String)) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": "web-tls", "namespace": "shop"},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64(&pair.0),
            "tls.key": base64(&pair.1),
        }
    }))
    .expect("secret")
}

fn base64(s: &str) -> Value {
    use base64::Engine;
    Value::String(base64::engine::general_purpose::STANDARD.encode(s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_secret_becomes_an_ssl_certificate_rotates_without_a_gap_and_goes_away() {
    let mock = gcp::start().await;
    let api = cloudnet_kubesim::KubeSim::start(cloudnet_kubesim::Config::default())
        .await
        .expect("the API starts");
    let admin = api
        .client_for(cloudnet_kubesim::ADMIN)
        .await
        .expect("admin client");

    let provider = gcp::provider(&mock, CLUSTER).await;
    let lbs = GcpLoadBalancers::new(provider).await.expect("clients");

    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap();
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
    let services: Api<Service> = Api::namespaced(admin.clone(), "shop");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "ClusterIP", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");
    let ingresses: Api<Ingress> = Api::namespaced(admin.clone(), "shop");
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop",
                     "annotations": {"kubernetes.io/ingress.allow-http": "false"}},
        "spec": {"ingressClassName": "gce", "tls": [{"secretName": "web-tls"}],
                 "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    }))
    .unwrap();
    ingresses
        .create(&PostParams::default(), &ing)
        .await
        .expect("ingress");

    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut settings = LbControllerSettings::new(
        admin.clone(),
        Arc::new(lbs),
        IngressSettings::ingress_gce(CLUSTER),
        metrics.controller("ingress"),
    );
    settings.resync = Duration::from_secs(600);
    let controller = tokio::spawn(run(settings, async move {
        let _ = stop_rx.await;
    }));

    // No Secret yet: a Warning naming it, and nothing in the cloud.
    let events: Api<Event> = Api::namespaced(admin.clone(), "shop");
    let warning = eventually(WAIT, "a Warning naming the Secret", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find_map(|e| {
            let note = e.note.clone().unwrap_or_default();
            (e.type_.as_deref() == Some("Warning")
                && note.contains("spec.tls: Secret shop/web-tls does not exist"))
            .then_some(note)
        })
    })
    .await;
    assert!(warning.contains("web-tls"), "{warning}");
    assert_eq!(count(&mock, "forwardingRules"), 0);
    assert_eq!(gcp::mock_calls(&mock, "sslCertificates.insert"), 0);

    // The Secret appears: its certificate uploaded and on the HTTPS proxy (the only listener).
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "shop");
    let v1 = cloudnet_mockcloud::gcp::key_pair(&["shop.example.com"]).unwrap();
    secrets
        .create(&PostParams::default(), &tls_secret(&v1))
        .await
        .expect("secret");
    // The stack is made certificate, proxy, forwarding rule: wait for the last.
    let first = eventually(WAIT, "the proxy names our certificate", || async {
        let ours = our_certificates(&mock);
        let proxies = proxy_certificates(&mock);
        let fronted = count(&mock, "forwardingRules") > 0;
        (ours.len() == 1 && proxies == vec![ours.clone()] && fronted).then(|| ours[0].clone())
    })
    .await;
    assert_eq!(count(&mock, "forwardingRules"), 1, "HTTPS only");
    assert_eq!(count(&mock, "targetHttpProxies"), 0);
    assert_eq!(gcp::mock_calls(&mock, "sslCertificates.insert"), 1);

    // Rotated: a new certificate, the proxy switched, the old one deleted.
    let v2 = cloudnet_mockcloud::gcp::key_pair(&["shop.example.com"]).unwrap();
    secrets
        .replace("web-tls", &PostParams::default(), &tls_secret(&v2))
        .await
        .expect("rotate");
    let second = eventually(WAIT, "the proxy on the new certificate", || async {
        let ours = our_certificates(&mock);
        let proxies = proxy_certificates(&mock);
        (ours.len() == 1 && ours[0] != first && proxies == vec![ours.clone()])
            .then(|| ours[0].clone())
    })
    .await;
    assert_ne!(second, first);
    assert_eq!(gcp::mock_calls(&mock, "sslCertificates.insert"), 2);
    assert_eq!(gcp::mock_calls(&mock, "sslCertificates.delete"), 1);

    // The Ingress deleted: nothing of it is left.
    ingresses
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(WAIT, "the stack gone", || async {
        (count(&mock, "forwardingRules") == 0
            && count(&mock, "targetHttpsProxies") == 0
            && our_certificates(&mock).is_empty())
        .then_some(())
    })
    .await;
    let _ = stop_tx.send(());
    controller.await.expect("the controller stops");
}
