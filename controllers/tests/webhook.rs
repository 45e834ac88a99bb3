//! The readiness gate webhook over HTTPS: an AdmissionReview v1 for a pod of a labelled
//! namespace, selected by a Service whose load balancer groups are published, is answered with
//! the JSONPatch that adds the gate; a pod of an unlabelled namespace is allowed unpatched.
//! (The embedded API does not call admission webhooks, so the test plays the API server.)

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use cloudnet_controllers::metrics::ControllerMetrics;
use cloudnet_controllers::readiness::webhook::{WebhookSettings, run};
use cloudnet_controllers::readiness::{Backing, Gates};
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, PostParams};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn review(namespace: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0df28fbd-5f5f-11e8-bc74-36e6bb280816",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": "web-", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "web:1"}]}},
            "oldObject": null, "dryRun": false
        }
    })
}

/// POSTs `body` over TLS trusting `ca`, as the API server calls a webhook; the JSON answer.
async fn post(addr: std::net::SocketAddr, ca: &CertificateDer<'static>, body: &Value) -> Value {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("ca");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let body = body.to_string();
    let request = format!(
        "POST /mutate-v1-pod?timeout=10s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let json = text.split_once("\r\n\r\n").expect("body").1;
    serde_json::from_str(json).expect("an AdmissionReview")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_injects_gates_over_https_and_fails_open() {
    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, labels) in [
        (
            "shop",
            json!({"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}),
        ),
        ("plain", json!({})),
    ] {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                .expect("ns");
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .expect("svc");
        Api::<Service>::namespaced(client.clone(), name)
            .create(&PostParams::default(), &svc)
            .await
            .expect("service");
    }
    // The Service controller has published the Services' load balancer groups.
    let gates = Gates::default();
    for ns in ["shop", "plain"] {
        gates.publish(
            format!("service {ns}/web"),
            vec![(
                Backing::Service {
                    namespace: ns.into(),
                    name: "web".into(),
                },
                format!("arn:tg-{ns}"),
            )],
        );
    }

    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr")
    };
    let settings = WebhookSettings {
        addr,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let errors = ControllerMetrics::default().watch_errors("webhook");
    let server = tokio::spawn(run(client, gates, settings, errors, async move {
        let _ = stop_rx.await;
    }));
    let ca = cert.der().clone();

    // The caches fill shortly after the start: ask until the patch comes.
    let mut answer = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = post(addr, &ca, &review("shop")).await;
        if answer["response"]["patch"].is_string() {
            break;
        }
    }
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(
        answer["response"]["uid"],
        "0df28fbd-5f5f-11e8-bc74-36e6bb280816"
    );
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(answer["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(answer["response"]["patch"].as_str().expect("patch"))
        .expect("base64");
    let patch: Value = serde_json::from_slice(&patch).expect("json");
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/spec/readinessGates",
                "value": [{"conditionType": "target-health.cloudnet.io/web"}]}])
    );

    let unlabelled = post(addr, &ca, &review("plain")).await;
    assert_eq!(unlabelled["response"]["allowed"], true);
    assert!(
        unlabelled["response"].get("patch").is_none(),
        "{unlabelled}"
    );

    let _ = stop_tx.send(());
    server.await.expect("joins").expect("stops cleanly");
}
