//! Garbage collection of Service load balancers: the real `kube::Client` against the
//! embedded API, the AWS provider against the mock cloud, calls counted from its log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::metrics::{ControllerMetrics, ReconcileResult};
use cloudnet_controllers::service::gc::{collect, run};
use cloudnet_controllers::service::{ServiceSettings, build_spec};
use cloudnet_core::{BudgetConfig, LoadBalancers, Op, Rate};
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::World;
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use service_env::{
    ADMIN_KEY, calls, first_round, mutating_since, refused, sdk, start_cloud, under_policy,
};

mod service_env;

const WAIT: Duration = Duration::from_secs(60);
const VPC: &str = "vpc-0c10d0e7000000001";

fn provider(sdk: &SdkConfig, cluster: &str) -> Arc<dyn LoadBalancers> {
    let mut b = BudgetConfig::default();
    for op in Op::all() {
        b.rates.insert(op, Rate::new(1000.0, 1000));
    }
    let mut aws = AwsConfig::new(cluster);
    aws.vpc_id = Some(VPC.into());
    aws.node_security_group = Some("sg-0c10d0e7000000001".into());
    aws.budget = b;
    Arc::new(AwsProvider::from_sdk_config(sdk, aws, AwsMetrics::default()).expect("aws"))
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "annotations": {
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"
        }},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "cloudnet.io/nlb",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    }))
    .expect("service")
}

/// The names of the owners of the stacks `lbs` owns.
async fn owner_names(lbs: &dyn LoadBalancers) -> Vec<String> {
    let owned = lbs.list_owned().await.expect("owned");
    owned.into_iter().map(|lb| lb.owner.name).collect()
}

/// Makes the Service's stack as the Service controller would.
async fn stack_for(lbs: &dyn LoadBalancers, cluster: &str, svc: &Service) {
    let spec = build_spec(svc, &ServiceSettings::new(cluster)).expect("spec");
    lbs.ensure(&spec).await.expect("ensure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_of_gone_services_are_deleted_and_nothing_else_is_touched() {
    // Both clusters' controllers act under the controller policy from deploy/iam; the
    // foreign load balancer is made by an administrator.
    let cloud = start_cloud(under_policy(World::default(), &["AKIDTEST"])).await;
    let sdk = sdk(&cloud, "AKIDTEST").await;
    let admin = service_env::sdk(&cloud, ADMIN_KEY).await;
    let ours = provider(&sdk, "demo");
    let theirs = provider(&sdk, "other");
    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");

    // "kept" exists; "gone" was deleted while the controller was down; "other" belongs to
    // another cluster (and has no Service here); "foreign" has no ownership tags at all.
    services
        .create(&PostParams::default(), &service("kept"))
        .await
        .expect("kept");
    stack_for(ours.as_ref(), "demo", &service("kept")).await;
    stack_for(ours.as_ref(), "demo", &service("gone")).await;
    stack_for(theirs.as_ref(), "other", &service("other")).await;
    let ec2 = aws_sdk_ec2::Client::new(&admin);
    let subnets = ec2
        .describe_subnets()
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .take(1)
        .collect::<Vec<_>>();
    elbv2::Client::new(&admin)
        .create_load_balancer()
        .name("foreign")
        .r#type(elbv2::types::LoadBalancerTypeEnum::Network)
        .set_subnets(Some(subnets))
        .send()
        .await
        .expect("foreign load balancer");
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 4);

    // One pass: only the stack of the gone Service goes.
    let before = calls(&cloud);
    let report = collect(&client, ours.as_ref(), "demo").await.expect("gc");
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(report.kept, 1);
    let deleted = mutating_since(&cloud, &before);
    assert_eq!(
        deleted.get("elbv2:DeleteLoadBalancer"),
        Some(&1),
        "{deleted:?}"
    );
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 3);
    let left = owner_names(ours.as_ref()).await;
    assert_eq!(left, vec!["kept".to_string()]);

    // A second pass finds nothing to do: no mutating call.
    let before = calls(&cloud);
    let report = collect(&client, ours.as_ref(), "demo").await.expect("gc");
    assert!(report.deleted.is_empty());
    assert!(mutating_since(&cloud, &before).is_empty());

    // Periodically: the kept Service's finalizer-less delete is noticed by the next pass.
    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gc = tokio::spawn(run(
        client.clone(),
        ours.clone(),
        "demo".into(),
        None,
        Duration::from_millis(300),
        metrics.controller("service-gc"),
        async move {
            let _ = stop_rx.await;
        },
    ));
    first_round(&metrics, "service-gc", WAIT).await;
    assert_eq!(cloud.with_cloud(|c| c.elbv2.load_balancer_count()), 3);
    let before = calls(&cloud);
    services
        .delete("kept", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(WAIT, "the kept stack collected", || async {
        (cloud.with_cloud(|c| c.elbv2.load_balancer_count()) == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let deleted = mutating_since(&cloud, &before);
    assert_eq!(
        deleted.get("elbv2:DeleteLoadBalancer"),
        Some(&1),
        "{deleted:?}"
    );
    // The other cluster's stack and the untagged one are still there.
    let other = owner_names(theirs.as_ref()).await;
    assert_eq!(other, vec!["other".to_string()]);
    assert_eq!(metrics.reconciles("service-gc", ReconcileResult::Error), 0);
    assert_eq!(refused(&cloud), BTreeMap::new(), "calls refused by IAM");
    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, gc)
        .await
        .expect("stops")
        .expect("no panic");
}
