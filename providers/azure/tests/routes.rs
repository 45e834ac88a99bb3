//! Kubenet routes against the mock cloud's ARM port, through azure_mgmt_network.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudnet_azure::AzureRoutes;
use cloudnet_azure::client::network_client;
use cloudnet_core::{ErrorKind, Route, RouteState, RouteTarget, Routes};
use common::{arm_calls, config, instance_id, start, wide_budget};

const RT_WRITE: &str = "Microsoft.Network/routeTables/write";
const RT_READ: &str = "Microsoft.Network/routeTables/read";

fn route(cfg: &cloudnet_azure::AzureConfig, i: usize) -> Route {
    Route {
        table: cfg.route_table_id(),
        destination: format!("10.244.{}.0/24", i).parse().unwrap(),
        target: RouteTarget::Instance(instance_id(cfg, i)),
        node: Some(format!("aks-nodepool1-12345678-vmss{i:06}")),
        state: RouteState::Active,
        owned: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_nodes_joining_at_once_take_one_table_put_per_window() {
    const NODES: usize = 200;
    let h = start(|w| w.scale_sets[0].capacity = NODES as u64).await;
    let mut cfg = config(&h).await;
    cfg.route_batch_window = Duration::from_secs(5);
    let cfg = Arc::new(cfg);
    let (client, policy) = network_client(&cfg, wide_budget()).unwrap();
    let routes = AzureRoutes::new(client, cfg.clone());
    // A route someone else put in the table: never changed.
    {
        let (client, _) = network_client(&cfg, wide_budget()).unwrap();
        let foreign = Route {
            node: None,
            ..route(&cfg, 250)
        };
        let mut table = client
            .route_tables_client()
            .get(&cfg.resource_group, &cfg.route_table, &cfg.subscription)
            .await
            .unwrap();
        let mut props = azure_mgmt_network::models::RoutePropertiesFormat::new(
            azure_mgmt_network::models::RouteNextHopType::VirtualAppliance,
        );
        props.address_prefix = Some(foreign.destination.to_string());
        props.next_hop_ip_address = Some("10.224.9.9".into());
        table
            .properties
            .as_mut()
            .unwrap()
            .routes
            .push(azure_mgmt_network::models::Route {
                name: Some("firewall".into()),
                properties: Some(props),
                ..Default::default()
            });
        table.properties.as_mut().unwrap().subnets.clear();
        client
            .route_tables_client()
            .create_or_update(
                &cfg.resource_group,
                &cfg.route_table,
                table,
                &cfg.subscription,
            )
            .await
            .unwrap();
    }
    let puts_before = arm_calls(&h, RT_WRITE);

    let started = Instant::now();
    let joins = (0..NODES).map(|i| {
        let routes = routes.clone();
        let r = route(&cfg, i);
        tokio::spawn(async move { routes.create(&r).await })
    });
    for j in futures::future::join_all(joins).await {
        j.unwrap().unwrap();
    }
    let took = started.elapsed();
    let puts = arm_calls(&h, RT_WRITE) - puts_before;
    println!(
        "{NODES} nodes joining: {puts} route table PUT(s), {} table reads, {took:?}; calls {:?}",
        policy.counts.of(RT_READ),
        policy.counts.snapshot()
    );
    // Changes within one window share a PUT: one PUT per window the arrivals span (each
    // node's NIC read spreads them), one more for stragglers; all within one window here
    // unless the machine is very busy.
    let bound = ((took.as_secs_f64() / 5.0).ceil() as u64 + 1).max(2);
    assert!((1..=bound).contains(&puts), "{puts} table PUTs in {took:?}");
    assert_eq!(
        policy.counts.of(RT_WRITE),
        puts,
        "the mock saw every PUT the policy counted"
    );
    assert_eq!(
        policy
            .counts
            .of("Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/read"),
        NODES as u64,
        "one NIC read per node for its address"
    );

    let listed = routes.list().await.unwrap();
    let ours: Vec<&Route> = listed.iter().filter(|r| r.owned).collect();
    assert_eq!(ours.len(), NODES);
    assert!(
        ours.iter()
            .all(|r| matches!(&r.target, RouteTarget::Instance(_)) && r.node.is_some())
    );
    let foreign: Vec<&Route> = listed.iter().filter(|r| !r.owned).collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!(
        foreign[0].target,
        RouteTarget::Ip("10.224.9.9".parse().unwrap())
    );
    let first = ours
        .iter()
        .find(|r| r.destination.to_string() == "10.244.0.0/24")
        .unwrap();
    assert_eq!(first.target, RouteTarget::Instance(instance_id(&cfg, 0)));

    // The same routes again: no PUT.
    let writes = arm_calls(&h, RT_WRITE);
    routes.create(&route(&cfg, 3)).await.unwrap();
    assert_eq!(arm_calls(&h, RT_WRITE), writes);

    // A route to the foreign route's destination is a conflict, the foreign route untouched.
    let e = routes.create(&route(&cfg, 250).clone()).await;
    assert!(e.is_err());
    // (instance 250 does not exist in a pool of 200: NotFound before any table change)
    assert_eq!(e.unwrap_err().kind(), ErrorKind::NotFound);
    let clash = Route {
        target: RouteTarget::Ip("10.224.0.4".parse().unwrap()),
        ..route(&cfg, 250)
    };
    assert_eq!(
        routes.create(&clash).await.unwrap_err().code(),
        "RouteConflict"
    );

    // Deleting half the nodes: one batch, the foreign route stays.
    let leaves = (0..NODES / 2).map(|i| {
        let routes = routes.clone();
        let r = route(&cfg, i);
        tokio::spawn(async move { routes.delete(&r).await })
    });
    let writes = arm_calls(&h, RT_WRITE);
    for j in futures::future::join_all(leaves).await {
        j.unwrap().unwrap();
    }
    assert_eq!(arm_calls(&h, RT_WRITE) - writes, 1);
    let listed = routes.list().await.unwrap();
    assert_eq!(listed.iter().filter(|r| r.owned).count(), NODES / 2);
    assert_eq!(listed.iter().filter(|r| !r.owned).count(), 1);

    // A foreign route is never deleted.
    let foreign = listed.iter().find(|r| !r.owned).unwrap().clone();
    assert_eq!(
        routes.delete(&foreign).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_changed_since_read_is_read_again() {
    let h = start(|_| {}).await;
    let mut cfg = config(&h).await;
    cfg.route_batch_window = Duration::from_millis(20);
    let cfg = Arc::new(cfg);
    let (client, policy) = network_client(&cfg, wide_budget()).unwrap();
    let routes = AzureRoutes::new(client.clone(), cfg.clone());
    // The provider's table PUT is held 500 ms on the wire; meanwhile another writer changes
    // the table, so the PUT's If-Match no longer matches: ARM answers 412.
    let rule = serde_json::from_value(serde_json::json!({
        "service": "arm", "action": RT_WRITE, "kind": "latency", "ms": 500, "trigger": "once"
    }))
    .unwrap();
    h.with_cloud(|c| c.faults.add(rule));
    let create = {
        let routes = routes.clone();
        let r = route(&cfg, 1);
        tokio::spawn(async move { routes.create(&r).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rt = client.route_tables_client();
    let mut table = rt
        .get(&cfg.resource_group, &cfg.route_table, &cfg.subscription)
        .await
        .unwrap();
    let stale = table.etag.clone();
    table.resource.tags = Some(serde_json::json!({"changed-by": "someone-else"}));
    table.properties.as_mut().unwrap().subnets.clear();
    rt.create_or_update(
        &cfg.resource_group,
        &cfg.route_table,
        table.clone(),
        &cfg.subscription,
    )
    .await
    .unwrap();
    create.await.unwrap().unwrap();
    assert_eq!(
        policy.counts.of(RT_WRITE),
        3,
        "the other writer's PUT, the provider's 412 and its PUT after a fresh read"
    );
    let listed = routes.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].target,
        RouteTarget::Instance(instance_id(&cfg, 1))
    );
    let now = rt
        .get(&cfg.resource_group, &cfg.route_table, &cfg.subscription)
        .await
        .unwrap();
    assert_eq!(
        now.resource.tags, table.resource.tags,
        "the other writer's change kept"
    );

    // A write under a stale ETag is refused: the policy sends If-Match.
    let e = cloudnet_azure::call::with_if_match(
        stale,
        rt.create_or_update(
            &cfg.resource_group,
            &cfg.route_table,
            table,
            &cfg.subscription,
        ),
    )
    .await
    .unwrap_err();
    let e = cloudnet_azure::error::from_azure(&e);
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Conflict, "PreconditionFailed")
    );
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_tried_again_and_counted() {
    let h = start(|_| {}).await;
    let cfg = Arc::new(config(&h).await);
    let (client, policy) = network_client(&cfg, wide_budget()).unwrap();
    let routes = AzureRoutes::new(client, cfg.clone());
    // Each fault fires on one request; the policy sends it again.
    let mut expected = 0;
    for rule in [
        serde_json::json!({"service": "arm", "action": RT_READ, "kind": "error", "status": 503, "trigger": "once"}),
        serde_json::json!({"service": "arm", "action": RT_READ, "kind": "drop", "trigger": "once"}),
    ] {
        let rule = serde_json::from_value(rule).unwrap();
        h.with_cloud(|c| c.faults.add(rule));
        assert!(routes.list().await.unwrap().is_empty());
        expected += 2;
        assert_eq!(
            policy.counts.of(RT_READ),
            expected,
            "the failed request and the answer"
        );
        assert_eq!(arm_calls(&h, RT_READ), expected);
    }
}
