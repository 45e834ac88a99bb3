//! The Service controller end to end: the real `kube::Client` against the embedded API, the
//! real AWS SDK clients against the mock cloud, call counts read from the mock cloud's log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::service::ServiceSettings;
use cloudnet_controllers::service::reconcile::{CONDITION, FINALIZER, run};
use cloudnet_core::{BudgetConfig, LoadBalancers, Op, Rate};
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::{Config as CloudConfig, Handle as Cloud, MockCloud, World};
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn budget() -> BudgetConfig {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(1000.0, 1000));
    }
    b
}

fn calls(cloud: &Cloud) -> BTreeMap<String, u64> {
    cloud.with_cloud(|c| c.calls.clone())
}

/// Calls other than reads made since `before`, by action.
fn mutating_since(cloud: &Cloud, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    calls(cloud)
        .into_iter()
        .filter(|(k, _)| {
            !k.split_once(':')
                .is_some_and(|(_, a)| a.starts_with("Describe"))
        })
        .filter_map(|(k, n)| {
            let d = n - before.get(&k).copied().unwrap_or(0);
            (d > 0).then_some((k, d))
        })
        .collect()
}

fn slice(ips: &[String]) -> EndpointSlice {
    let endpoints: Vec<_> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .expect("slice")
}

fn pod_ips(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("192.168.100.{}", 10 + i)).collect()
}

fn target_count(cloud: &Cloud) -> u64 {
    let state = cloud.with_cloud(|c| serde_json::to_value(c.dump()).expect("state"));
    state["elbv2"]["target_groups"]
        .as_object()
        .map(|groups| {
            groups
                .values()
                .filter_map(|g| g["targets"].as_object())
                .map(|t| t.len() as u64)
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_becomes_an_nlb_whose_targets_follow_its_endpoints_and_leaves_nothing_behind() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cloud = MockCloud::start(CloudConfig::ephemeral(World::default()))
        .await
        .expect("mock cloud");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(cloud.endpoint_url())
        .load()
        .await;
    let mut aws = AwsConfig::new("demo");
    aws.vpc_id = Some("vpc-0c10d0e7000000001".into());
    aws.node_security_group = Some("sg-0c10d0e7000000001".into());
    aws.budget = budget();
    let provider = AwsProvider::from_sdk_config(&sdk, aws, AwsMetrics::default()).expect("aws");
    let lbs: Arc<dyn LoadBalancers> = Arc::new(provider);

    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    for (name, ip) in [("n1", "192.168.96.10"), ("n2", "192.168.128.10")] {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}
        }))
        .expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("node");
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(
        client.clone(),
        lbs,
        ServiceSettings::new("demo"),
        None,
        Duration::from_secs(600),
        async move {
            let _ = stop_rx.await;
        },
    ));

    slices
        .create(&PostParams::default(), &slice(&pod_ips(3)))
        .await
        .expect("slice");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"
        }},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "cloudnet.io/nlb",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    }))
    .expect("service");
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("create");

    // One NLB, three ip targets, the hostname in status, the finalizer on.
    let hostname = eventually(WAIT, "the hostname in status", || async {
        let s = services.get("web").await.ok()?;
        let ingress = s.status?.load_balancer?.ingress?;
        ingress.first()?.hostname.clone()
    })
    .await;
    assert!(
        hostname.ends_with(".elb.us-west-2.amazonaws.com"),
        "{hostname}"
    );
    eventually(WAIT, "3 targets", || async {
        (target_count(&cloud) == 3).then_some(())
    })
    .await;
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 1);
    assert_eq!(cloud.with_cloud(|c| c.elbv2.target_group_count()), 1);
    let s = services.get("web").await.expect("get");
    assert!(
        s.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&FINALIZER.to_string())
    );
    let cond = eventually(WAIT, "the condition", || async {
        let s = services.get("web").await.ok()?;
        s.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == CONDITION)
    })
    .await;
    assert_eq!(cond.status, "True");

    // Scale to 10 and back to 1: only target calls, one batched call each way.
    let before = calls(&cloud);
    slices
        .replace("web-1", &PostParams::default(), &{
            let mut s = slice(&pod_ips(10));
            s.metadata.resource_version = slices
                .get("web-1")
                .await
                .expect("get")
                .metadata
                .resource_version;
            s
        })
        .await
        .expect("scale up");
    eventually(WAIT, "10 targets", || async {
        (target_count(&cloud) == 10).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mutating_since(&cloud, &before),
        BTreeMap::from([("elbv2:RegisterTargets".to_string(), 1)]),
        "scaling up is one batched register, no ensure"
    );
    assert_eq!(
        calls(&cloud).get("elbv2:DescribeLoadBalancers"),
        before.get("elbv2:DescribeLoadBalancers"),
        "a target change makes no load balancer read"
    );
    let before = calls(&cloud);
    let patch =
        json!({"endpoints": [{"addresses": ["192.168.100.10"], "conditions": {"ready": true}}]});
    slices
        .patch("web-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("scale down");
    eventually(WAIT, "1 target", || async {
        let d = mutating_since(&cloud, &before);
        (d.get("elbv2:DeregisterTargets") == Some(&1)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mutating_since(&cloud, &before),
        BTreeMap::from([("elbv2:DeregisterTargets".to_string(), 1)])
    );

    // A bad annotation: Warning Event and condition, no cloud call.
    let before = calls(&cloud);
    let patch = json!({"metadata": {"annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "often"
    }}});
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    let cond = eventually(WAIT, "the failed condition", || async {
        let s = services.get("web").await.ok()?;
        s.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == CONDITION && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason, "InvalidConfiguration");
    assert_eq!(
        cond.message,
        r#"annotation service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval: "often": must be a whole number"#
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let warned = eventually(WAIT, "the Warning Event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("InvalidConfiguration"))
    })
    .await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    assert_eq!(
        calls(&cloud),
        before,
        "no cloud call at all for a bad annotation"
    );

    // Delete: the load balancer and its target group go, then the Service.
    let patch = json!({"metadata": {"annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": null
    }}});
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("fix");
    services
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(WAIT, "the Service gone", || async {
        services.get_opt("web").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        cloud.with_cloud(|c| c.elbv2.load_balancer_count()),
        0,
        "no load balancer left"
    );
    assert_eq!(
        cloud.with_cloud(|c| c.elbv2.target_group_count()),
        0,
        "no target group left"
    );

    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, controller)
        .await
        .expect("the controller stops")
        .expect("no panic");
}
