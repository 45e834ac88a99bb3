//! The sandbox runs `cloudnet-controller`'s controllers through the AWS SDK against the mock
//! cloud, under their own API identity: what a Service's status shows came through the path
//! a cluster uses, and the mock cloud's state agrees with it.

use std::path::PathBuf;
use std::time::Duration;

use cloudnet_cli::controller;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_kubesim::Access;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudnet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Targets registered in the mock cloud, over every target group.
fn target_count(sandbox: &Sandbox) -> usize {
    let state = sandbox
        .cloud
        .with_cloud(|c| serde_json::to_value(c.dump()).expect("state"));
    state["elbv2"]["target_groups"]
        .as_object()
        .map(|groups| {
            groups
                .values()
                .filter_map(|g| g["targets"].as_object())
                .map(serde_json::Map::len)
                .sum()
        })
        .unwrap_or(0)
}

fn counts(sandbox: &Sandbox) -> (usize, usize) {
    sandbox
        .cloud
        .with_cloud(|c| (c.elbv2.load_balancer_count(), c.elbv2.target_group_count()))
}

async fn deploy_web(client: &kube::Client, replicas: i32) {
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}
            }
        }
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await
        .expect("deployment created");
}

/// A LoadBalancer Service with no class, as a user of a cluster's in-tree provider writes it.
fn load_balancer_service(annotations: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]
        }
    }))
    .expect("service")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classless_load_balancer_service_gets_an_nlb_through_the_sdk_and_leaves_none_behind() {
    let dir = temp_dir("lb");
    let sandbox = Sandbox::start(&SandboxArgs::ephemeral(&dir))
        .await
        .expect("the sandbox starts");
    let client = sandbox.client().clone();
    deploy_web(&client, 3).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(&PostParams::default(), &load_balancer_service(json!({})))
        .await
        .expect("service created");

    let hostname = eventually("the hostname in the Service's status", || async {
        let s = services.get("web").await.ok()?;
        s.status?.load_balancer?.ingress?.first()?.hostname.clone()
    })
    .await;
    assert!(
        hostname.ends_with(".elb.us-west-2.amazonaws.com"),
        "{hostname}"
    );
    // Instance targets (the in-tree default): one per node, through the node port.
    eventually("a target per node", || async {
        (target_count(&sandbox) == sandbox.nodes.len()).then_some(())
    })
    .await;
    assert_eq!(counts(&sandbox), (1, 1), "one NLB, one target group");

    // The summary shows it from the Service's status, not from the cloud.
    assert!(sandbox.wait_settled(WAIT).await, "settles");
    let summary = sandbox.summary().await.expect("summary");
    let row = summary
        .services
        .iter()
        .find(|s| s[0] == "default/web")
        .expect("the Service in the summary");
    assert_eq!(row[3], hostname, "{summary}");
    assert_eq!(summary.load_balancers(), 1, "{summary}");

    // The controller wrote the status under its own identity, and holds the lease.
    let audit = sandbox.api.auth().audit();
    let wrote_status = |who: &str| {
        audit.get(who).is_some_and(|a| {
            a.iter().any(|x: &Access| {
                x.resource == "services/status" && matches!(x.verb.as_str(), "patch" | "update")
            })
        })
    };
    assert!(wrote_status(controller::IDENTITY), "{audit:?}");
    assert!(!wrote_status("cloudnet-sandbox"), "{audit:?}");
    let lease = Api::<Lease>::namespaced(client.clone(), controller::LEASE_NAMESPACE)
        .get(controller::LEASE_NAME)
        .await
        .expect("the controllers' lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(controller::REPLICA)
    );

    services
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the Service gone (finalizer released)", || async {
        services
            .get_opt("web")
            .await
            .ok()
            .and_then(|s| s.is_none().then_some(()))
    })
    .await;
    assert_eq!(counts(&sandbox), (0, 0), "no load balancer left");
    assert!(!sandbox.controllers_stopped());
    sandbox.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
