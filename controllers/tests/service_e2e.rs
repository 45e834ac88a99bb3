//! The Service controller end to end: the real `kube::Client` against the embedded API, the
//! real AWS SDK clients against the mock cloud, call counts read from the mock cloud's log.

mod chart_rbac;
mod service_env;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use cloudnet_controllers::service::reconcile::{CONDITION, FINALIZER};
use cloudnet_kubesim::Config as ApiConfig;
use cloudnet_mockcloud::Handle as Cloud;
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use service_env::*;

const WAIT: Duration = Duration::from_secs(30);

/// The keys the controllers sign with (and the observer, whose reads the policy grants too).
const CONTROLLER_KEYS: &[&str] = &[
    "AKIDTEST",
    "AKIDFIRST",
    "AKIDSECOND",
    "AKIDTHIRD",
    "AKIDOBSERVER",
];

/// Targets `healthy` in DescribeTargetHealth over every target group, asked through the SDK
/// with the test's own access key.
async fn healthy_targets(cloud: &Cloud) -> usize {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk(cloud, "AKIDOBSERVER").await);
    let arns: Vec<String> = state(cloud)["elbv2"]["target_groups"]
        .as_object()
        .map(|g| g.keys().cloned().collect())
        .unwrap_or_default();
    let mut healthy = 0;
    for arn in arns {
        let out = elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await;
        healthy += out
            .expect("DescribeTargetHealth")
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
            })
            .count();
    }
    healthy
}

/// The registered target ids (IPs or instance ids) over every target group.
fn target_ids(cloud: &Cloud) -> Vec<String> {
    let mut ids: Vec<String> = registered_targets(cloud)
        .iter()
        .map(|k| k.split(':').next().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

fn slice_of(ips: &[String]) -> EndpointSlice {
    slice("default", "web-1", "web", ips)
}

/// The hostname in the status of Service `name`, once the controller has set it.
async fn hostname_of(services: &Api<Service>, name: &str) -> String {
    eventually(WAIT, "the hostname in status", || async {
        let s = services.get(name).await.ok()?;
        s.status?.load_balancer?.ingress?.first()?.hostname.clone()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_becomes_an_nlb_whose_targets_follow_its_endpoints_and_leaves_nothing_behind() {
    let cloud = start_cloud(under_policy(world(200), CONTROLLER_KEYS)).await;
    let lbs = provider(&cloud, "AKIDTEST").await;
    let security_groups = cloud.with_cloud(|c| c.ec2.security_groups.len());
    let api = chart_rbac::start(ApiConfig::default()).await;
    let client = api.admin.clone();
    let controller_client = api.controller.clone();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    // The nodes are the world's two instances, so instance targets resolve.
    let instances: Vec<(String, String)> = cloud.with_cloud(|c| {
        c.ec2
            .instances
            .values()
            .map(|i| (i.id.clone(), i.private_ip.to_string()))
            .collect()
    });
    for (i, (_, ip)) in instances.iter().enumerate() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": format!("n{i}")},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}
        }))
        .expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("node");
    }

    let controller = Running::spawn(controller_client.clone(), lbs, Duration::from_secs(600));

    slices
        .create(&PostParams::default(), &slice_of(&pod_ips(3)))
        .await
        .expect("slice");
    let svc = service("default", "web", 30080);
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("create");

    // One NLB, three ip targets, the hostname in status, the finalizer on.
    let hostname = hostname_of(&services, "web").await;
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
    assert_eq!(listener_count(&cloud), 1);
    eventually(WAIT, "3 healthy targets", || async {
        (healthy_targets(&cloud).await == 3).then_some(())
    })
    .await;
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
            let mut s = slice_of(&pod_ips(10));
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
    set_endpoints(&slices, "web-1", &pod_ips(1)).await;
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
    let warned = wait_for_event(&client, "default", "InvalidConfiguration", None, WAIT).await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    assert_eq!(
        calls(&cloud),
        before,
        "no cloud call at all for a bad annotation"
    );

    // Instance targets: the node port on both nodes, the pods' addresses gone, still one
    // load balancer and one target group (the group is replaced: its type cannot change).
    let patch = json!({"metadata": {"annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": null,
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"
    }}});
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("switch to instance targets");
    let mut want: Vec<String> = instances.iter().map(|(id, _)| id.clone()).collect();
    want.sort();
    eventually(WAIT, "the instances as targets", || async {
        (target_ids(&cloud) == want).then_some(())
    })
    .await;
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 1);
    assert_eq!(cloud.with_cloud(|c| c.elbv2.target_group_count()), 1);
    let tg = state(&cloud)["elbv2"]["target_groups"]
        .as_object()
        .and_then(|g| g.values().next().cloned())
        .expect("a target group");
    assert_eq!(tg["target_type"], "instance");
    assert_eq!(tg["port"], 30080);
    eventually(WAIT, "2 healthy instance targets", || async {
        (healthy_targets(&cloud).await == 2).then_some(())
    })
    .await;

    // Delete: the load balancer, its listener and target group go, then the Service.
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
    assert_eq!(listener_count(&cloud), 0, "no listener left");
    assert_eq!(
        cloud.with_cloud(|c| c.ec2.security_groups.len()),
        security_groups,
        "no security group left"
    );

    assert_eq!(refused(&cloud), BTreeMap::new(), "calls refused by IAM");
    controller.stop(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_between_load_balancer_and_listener_is_completed_by_the_next() {
    let cloud = start_cloud(under_policy(world(200), CONTROLLER_KEYS)).await;
    // Every CreateListener fails: the first controller gets as far as the load balancer and
    // its target group, and no further.
    cloud.with_cloud(|c| {
        c.faults.add(
            serde_json::from_value(json!({"service": "elbv2", "action": "CreateListener",
                "kind": "error", "status": 503}))
            .expect("rule"),
        );
    });
    let api = chart_rbac::start(ApiConfig::default()).await;
    let client = api.admin.clone();
    let controller_client = api.controller.clone();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &slice_of(&pod_ips(3)))
        .await
        .expect("slice");
    services
        .create(&PostParams::default(), &service("default", "web", 30080))
        .await
        .expect("service");

    let first = Running::spawn(
        controller_client.clone(),
        provider(&cloud, "AKIDFIRST").await,
        Duration::from_secs(600),
    );
    eventually(WAIT, "a failed CreateListener", || async {
        (count(&calls(&cloud), "elbv2:CreateListener") > 0).then_some(())
    })
    .await;
    let failed = wait_for_event(&client, "default", "FailedDeployModel", None, WAIT).await;
    assert!(
        failed
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("ServiceUnavailable"),
        "the Event names the cloud's code: {:?}",
        failed.note
    );
    first.kill().await;
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 1);
    assert_eq!(listener_count(&cloud), 0, "killed before its listener");

    // A new controller (new process: no memory, no provider caches) with the cloud healthy.
    cloud.with_cloud(|c| c.faults.clear());
    let before = calls(&cloud);
    let second = Running::spawn(
        controller_client.clone(),
        provider(&cloud, "AKIDSECOND").await,
        Duration::from_secs(600),
    );
    eventually(WAIT, "the listener and 3 targets", || async {
        (listener_count(&cloud) == 1 && target_count(&cloud) == 3).then_some(())
    })
    .await;
    hostname_of(&services, "web").await;
    let made = mutating_since(&cloud, &before);
    assert_eq!(count(&made, "elbv2:CreateLoadBalancer"), 0, "{made:?}");
    assert_eq!(count(&made, "elbv2:CreateTargetGroup"), 0, "{made:?}");
    assert_eq!(count(&made, "elbv2:CreateListener"), 1, "{made:?}");
    assert_eq!(count(&calls(&cloud), "elbv2:CreateLoadBalancer"), 1);
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 1);
    assert_eq!(cloud.with_cloud(|c| c.elbv2.target_group_count()), 1);
    second.stop(WAIT).await;

    // Another restart, everything in place: reads only. (A controller that reconciled before
    // its EndpointSlice cache had listed would deregister every target, then register them.)
    let before = calls(&cloud);
    let third = Running::spawn(
        controller_client.clone(),
        provider(&cloud, "AKIDTHIRD").await,
        Duration::from_secs(600),
    );
    eventually(WAIT, "the third controller's target read", || async {
        let made = since(&cloud, &before, |_| true);
        (count(&made, "elbv2:DescribeTargetHealth") > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        mutating_since(&cloud, &before),
        BTreeMap::new(),
        "a restart with nothing to do changes nothing"
    );
    assert_eq!(target_count(&cloud), 3);
    assert_eq!(refused(&cloud), BTreeMap::new(), "calls refused by IAM");
    third.stop(WAIT).await;
}
