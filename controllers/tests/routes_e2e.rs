//! The route controller end to end: 50 Nodes arriving and leaving at once through the real
//! `kube::Client` and the embedded API, routes through the AWS provider against the mock
//! cloud, calls counted from the mock cloud's log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Tag};
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_controllers::metrics::{ControllerMetrics, ReconcileResult};
use cloudnet_controllers::routes::{RouteSettings, run};
use cloudnet_core::{BudgetConfig, Op, Rate, RouteTarget, Routes};
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::ec2::RouteTarget as MockTarget;
use cloudnet_mockcloud::{Handle as Cloud, World};
use cloudnet_testkit::eventually;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use service_env::{ADMIN_KEY, first_round, sdk as sdk_for, start_cloud, under_policy};

mod service_env;

const WAIT: Duration = Duration::from_secs(60);
const VPC: &str = "vpc-0c10d0e7000000001";
const NODES: usize = 50;

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

fn since(cloud: &Cloud, before: &BTreeMap<String, u64>, op: &str) -> u64 {
    calls(cloud).get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0)
}

fn instance(i: usize) -> String {
    format!("i-0c10d0e70000010{i:02}")
}

/// The default world plus 50 instances, one per node.
fn world() -> World {
    let mut w = World::default();
    let template = w.instances[0].clone();
    for i in 0..NODES {
        let mut spec = template.clone();
        spec.id = Some(instance(i));
        spec.tags = Default::default();
        w.instances.push(spec);
    }
    // The controller signs as AKIDTEST under deploy/iam's controller policy; the test's own
    // set-up calls sign as ADMIN_KEY.
    under_policy(w, &["AKIDTEST"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_at_once_are_one_plan_and_a_foreign_route_is_untouched() {
    let cloud = start_cloud(world()).await;
    let sdk = sdk_for(&cloud, "AKIDTEST").await;
    let admin = sdk_for(&cloud, ADMIN_KEY).await;
    let ec2 = aws_sdk_ec2::Client::new(&admin);
    // The cluster's table: tagged for the cluster, with a foreign route already in it.
    let tables = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(VPC).build())
        .send()
        .await
        .expect("tables");
    let table = tables.route_tables()[0]
        .route_table_id()
        .expect("id")
        .to_string();
    ec2.create_tags()
        .resources(&table)
        .tags(
            Tag::builder()
                .key("kubernetes.io/cluster/demo")
                .value("owned")
                .build(),
        )
        // The policy lets the controller write routes only in tables carrying our tag.
        .tags(
            Tag::builder()
                .key("cloudnet.io/cluster")
                .value("demo")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("172.31.0.0/24")
        .instance_id(instance(0))
        .send()
        .await
        .expect("foreign route");

    let mut aws = AwsConfig::new("demo");
    aws.vpc_id = Some(VPC.into());
    aws.pod_cidrs = vec!["10.100.0.0/16".parse().expect("cidr")];
    aws.budget = budget();
    let provider = AwsProvider::from_sdk_config(&sdk, aws, AwsMetrics::default()).expect("aws");
    let routes: Arc<dyn Routes> = Arc::new(provider.clone());

    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let nodes: Api<Node> = Api::all(client.clone());
    let metrics = ControllerMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let settings = RouteSettings {
        debounce: Duration::from_millis(500),
        max_delay: Duration::from_secs(5),
        resync: Duration::from_secs(600),
        retry: Duration::from_secs(1),
    };
    let controller = tokio::spawn(run(
        client.clone(),
        routes,
        None,
        settings,
        metrics.controller("routes"),
        async move {
            let _ = stop_rx.await;
        },
    ));
    // The first round (an empty cluster) changes nothing.
    first_round(&metrics, "routes", WAIT).await;
    let before = calls(&cloud);
    let rounds_before = metrics.reconciles("routes", ReconcileResult::Success);

    // 50 nodes at once.
    let creates = (0..NODES).map(|i| {
        let nodes = nodes.clone();
        async move {
            let node: Node = serde_json::from_value(json!({
                "metadata": {"name": format!("node-{i}")},
                "spec": {"podCIDRs": [format!("10.100.{i}.0/24")],
                    "providerID": format!("aws:///us-west-2a/{}", instance(i))}
            }))
            .expect("node");
            nodes
                .create(&PostParams::default(), &node)
                .await
                .expect("node");
        }
    });
    futures::future::join_all(creates).await;
    // Read from the mock cloud's state, not through the API: the reads counted are the
    // controller's alone.
    let pod_routes = || {
        cloud.with_cloud(|c| {
            c.ec2.route_tables[&table]
                .routes
                .iter()
                .filter(|r| r.destination.to_string().starts_with("10.100."))
                .map(|r| {
                    let target = match &r.target {
                        MockTarget::Instance { instance_id, .. } => instance_id.clone(),
                        other => format!("{other:?}"),
                    };
                    (r.destination.to_string(), target)
                })
                .collect::<Vec<_>>()
        })
    };
    let listed = eventually(WAIT, "50 routes", || async {
        let l = pod_routes();
        (l.len() == NODES).then_some(l)
    })
    .await;
    for (destination, target) in &listed {
        let i: usize = destination
            .split('.')
            .nth(2)
            .expect("octet")
            .parse()
            .expect("n");
        assert_eq!(*target, instance(i), "{destination}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rounds = metrics.reconciles("routes", ReconcileResult::Success) - rounds_before;
    assert!(rounds <= 3, "50 nodes took {rounds} rounds");
    assert_eq!(
        since(&cloud, &before, "ec2:CreateRoute"),
        NODES as u64,
        "one create per route"
    );
    assert_eq!(since(&cloud, &before, "ec2:ReplaceRoute"), 0);
    assert_eq!(
        since(&cloud, &before, "ec2:ModifyInstanceAttribute"),
        NODES as u64,
        "source/destination check off once per node"
    );
    assert_eq!(
        since(&cloud, &before, "ec2:DescribeRouteTables"),
        rounds,
        "one route table read per round, none per route"
    );

    // And all gone at once: one delete per route, the foreign route as it was.
    let before = calls(&cloud);
    let rounds_before = metrics.reconciles("routes", ReconcileResult::Success);
    let deletes = (0..NODES).map(|i| {
        let nodes = nodes.clone();
        async move {
            nodes
                .delete(&format!("node-{i}"), &DeleteParams::default())
                .await
                .expect("delete");
        }
    });
    futures::future::join_all(deletes).await;
    eventually(WAIT, "no routes of ours", || async {
        pod_routes().is_empty().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rounds = metrics.reconciles("routes", ReconcileResult::Success) - rounds_before;
    assert!(rounds <= 3, "50 nodes leaving took {rounds} rounds");
    assert_eq!(since(&cloud, &before, "ec2:DeleteRoute"), NODES as u64);
    assert_eq!(since(&cloud, &before, "ec2:CreateRoute"), 0);
    assert_eq!(since(&cloud, &before, "ec2:DescribeRouteTables"), rounds);
    let all = provider.list().await.expect("list");
    let foreign: Vec<_> = all
        .iter()
        .filter(|r| r.destination.to_string() == "172.31.0.0/24")
        .collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!(foreign[0].target, RouteTarget::Instance(instance(0)));
    assert!(!foreign[0].owned);

    let refused = cloud.with_cloud(|c| c.call_log.denied_by_caller().clone());
    assert!(refused.is_empty(), "calls refused by IAM: {refused:?}");
    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, controller)
        .await
        .expect("the controller stops")
        .expect("no panic");
}
