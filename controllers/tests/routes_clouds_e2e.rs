//! The route controller end to end on every cloud: one body, run on AWS, GCP and Azure. The
//! embedded API, the controller's rounds on that cloud's `Routes` (the provider suite's
//! worlds: the real client library against the mock cloud). Two Nodes with pod ranges become
//! two routes in the cluster's table, leading to their nodes; the Nodes gone, the routes are
//! gone; a route someone else put in the table stays as it was throughout.

mod clouds;

use std::time::Duration;

use cloudnet_controllers::metrics::ControllerMetrics;
use cloudnet_controllers::routes::{RouteSettings, run};
use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_testkit::eventually;
use clouds::world::World;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

async fn nodes_become_routes_to_them_and_go_with_them(w: &dyn World) {
    let name = w.name();
    let foreign = w.foreign_route().await;
    let foreign_hop = w.routes_in_mock()[&foreign].clone();
    let api = KubeSim::start(ApiConfig::default()).await.expect("the API");
    let client = api.client_for(ADMIN).await.expect("a client");
    let metrics = ControllerMetrics::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = RouteSettings {
        debounce: Duration::from_millis(200),
        retry: Duration::from_secs(1),
        ..RouteSettings::default()
    };
    let controller = tokio::spawn(run(
        client.clone(),
        w.cloud().routes.clone(),
        None,
        settings,
        metrics.controller("routes"),
        async move {
            let _ = stopped.await;
        },
    ));

    // Node i gets pod range i + 1 of the cloud's pod range.
    let nodes: Api<Node> = Api::all(client.clone());
    let wanted: Vec<_> = (0..2).map(|i| w.route(i as u8 + 1, i)).collect();
    for (i, route) in wanted.iter().enumerate() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": w.node(i).name},
            "spec": {"podCIDR": route.destination.to_string(),
                "podCIDRs": [route.destination.to_string()],
                "providerID": w.provider_id(i)}
        }))
        .expect("a node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("node");
    }
    let held = eventually(WAIT, &format!("{name}: two routes"), || async {
        let held = w.routes_in_mock();
        wanted
            .iter()
            .all(|r| held.contains_key(&r.destination))
            .then_some(held)
    })
    .await;
    let (hop0, hop1) = (&held[&wanted[0].destination], &held[&wanted[1].destination]);
    assert_ne!(hop0, hop1, "{name}: each route leads to its own node");
    let listed = w.cloud().routes.list().await.expect("list");
    let ours = listed.iter().filter(|r| r.owned).count();
    assert_eq!(ours, 2, "{name}: {listed:?}");

    for i in 0..2 {
        let deleted = nodes
            .delete(&w.node(i).name, &DeleteParams::default())
            .await;
        deleted.expect("delete");
    }
    eventually(WAIT, &format!("{name}: no route of ours"), || async {
        let held = w.routes_in_mock();
        let gone = wanted.iter().all(|r| !held.contains_key(&r.destination));
        gone.then_some(())
    })
    .await;
    let held = w.routes_in_mock();
    assert_eq!(
        held.get(&foreign),
        Some(&foreign_hop),
        "{name}: foreign changed"
    );
    let _ = stop.send(());
    let stopped = tokio::time::timeout(WAIT, controller).await;
    stopped.expect("the controller stops").expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_nodes_become_routes_to_them_and_go_with_them() {
    let w = clouds::aws_world::AwsWorld::start().await;
    nodes_become_routes_to_them_and_go_with_them(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_nodes_become_routes_to_them_and_go_with_them() {
    let w = clouds::gcp_world::GcpWorld::start().await;
    nodes_become_routes_to_them_and_go_with_them(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_nodes_become_routes_to_them_and_go_with_them() {
    let w = clouds::azure_world::AzureWorld::start().await;
    nodes_become_routes_to_them_and_go_with_them(&w).await;
}
