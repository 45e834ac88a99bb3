//! Deployment `Available` and `Progressing` conditions, through `kubectl wait` and
//! `kubectl rollout status`.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::json;

use crate::{WAIT, eventually, merge, start_cluster, start_kubectl};

fn condition(d: &Deployment, kind: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_waits_for_a_deployment_to_be_available() {
    let Some((handle, client, k)) = start_kubectl().await else {
        return;
    };
    let _sim = start_cluster(&handle, "t3.nano", 2);
    let dir = k.dir();

    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ])
    .await;
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "--timeout=30s",
        ])
        .await;
    assert!(out.contains("deployment.apps/web condition met"), "{out}");
    let out = k
        .ok(&["rollout", "status", "deploy/web", "--timeout=30s"])
        .await;
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let d = deployments.get("web").await.expect("get");
    assert_eq!(
        condition(&d, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );

    // Four replicas on a node that takes two: 25% may be unavailable, so two available is
    // below the minimum of three.
    merge(&deployments, "web", json!({"spec": {"replicas": 4}})).await;
    eventually(WAIT, "Available to turn False", || async {
        let d = deployments.get("web").await.ok()?;
        (condition(&d, "Available") == Some(("False".into(), "MinimumReplicasUnavailable".into())))
            .then_some(())
    })
    .await;
    let (ok, _, err) = k
        .run(&[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "--timeout=2s",
        ])
        .await;
    assert!(!ok && err.contains("timed out"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
