//! Routes through the real client library against the mock cloud: the cluster's routes are
//! created, found again, replaced and deleted; foreign routes are listed and never touched;
//! every call is counted by the provider and by the mock alike.

mod common;

use cloudnet_core::{ErrorKind, Route, RouteState, RouteTarget, Routes};
use cloudnet_gcp::names::route_name;
use cloudnet_mockcloud::faults::{FaultKind, Trigger};
use common::*;
use google_cloud_compute_v1::model::Route as GceRoute;

fn pod_route(dest: &str, instance: &str, node: &str) -> Route {
    Route {
        table: NETWORK.into(),
        destination: dest.parse().expect("cidr"),
        target: RouteTarget::Instance(instance.into()),
        node: Some(node.into()),
        state: RouteState::Active,
        owned: true,
    }
}

/// A route someone else made in the same network, through the same client library.
async fn insert_foreign(p: &cloudnet_gcp::GcpProvider, name: &str, dest: &str, description: &str) {
    let body = GceRoute::new()
        .set_name(name)
        .set_network(format!("projects/{PROJECT}/global/networks/{NETWORK}"))
        .set_dest_range(dest)
        .set_priority(900u32)
        .set_description(description)
        .set_next_hop_instance(format!(
            "projects/{PROJECT}/zones/{ZONE_1}/instances/{NODE_1}"
        ));
    let op = p
        .clients()
        .routes
        .insert()
        .set_project(PROJECT)
        .set_body(body)
        .send()
        .await
        .expect("foreign route inserted");
    p.wait(op).await.expect("operation done");
}

#[tokio::test]
async fn create_list_replace_delete_and_foreign_routes_untouched() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    let other = provider(&h, "staging").await;

    // Someone else's route, and another cluster's route carrying our marker style.
    insert_foreign(
        &p,
        "team-vpn-route",
        "10.100.200.0/24",
        "managed by the network team",
    )
    .await;
    other
        .create(&pod_route("10.100.201.0/24", NODE_2, "staging-node"))
        .await
        .expect("the other cluster creates its route");

    // The network is known before it holds any route of ours.
    assert_eq!(p.known_tables(), vec![NETWORK.to_string()]);
    let listed = p.list().await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|r| !r.owned), "{listed:?}");
    assert!(listed.iter().all(|r| r.table == NETWORK));
    assert!(
        listed
            .iter()
            .any(|r| r.destination.to_string() == "10.100.200.0/24"
                && r.target == RouteTarget::Instance(NODE_1.into()))
    );

    // Create: one get (absent), one aggregatedList (the zone of a bare instance name), one
    // insert; the operation is DONE in the insert's answer, so no poll.
    let before = p.call_counts().snapshot();
    let r1 = pod_route("10.100.1.0/24", NODE_1, "node-1");
    p.create(&r1).await.expect("create");
    let after = p.call_counts().snapshot();
    let delta = |m: &str| after.get(m).copied().unwrap_or(0) - before.get(m).copied().unwrap_or(0);
    assert_eq!(delta("routes.get"), 1);
    assert_eq!(delta("instances.aggregatedList"), 1);
    assert_eq!(delta("routes.insert"), 1);
    assert_eq!(delta("globalOperations.get"), 0);
    let stored = resource(
        &h,
        &format!("global/routes/{}", route_name("prod", &r1.destination)),
    )
    .expect("the mock has the route");
    assert_eq!(stored["destRange"], "10.100.1.0/24");
    assert!(
        stored["nextHopInstance"]
            .as_str()
            .unwrap()
            .ends_with(&format!("zones/{ZONE_1}/instances/{NODE_1}"))
    );
    assert_eq!(
        stored["description"],
        "cloudnet.io/cluster=prod cloudnet.io/node=node-1"
    );

    // Idempotent: the same create again reads once and writes nothing.
    let mutating = p.call_counts().mutating();
    p.create(&r1).await.expect("create again");
    assert_eq!(p.call_counts().mutating(), mutating, "no mutating call");

    // A second node's route: its zone is looked up once, then remembered.
    let r2 = pod_route("10.100.2.0/24", NODE_2, "node-2");
    p.create(&r2).await.expect("create 2");
    p.create(&pod_route("10.100.3.0/24", NODE_2, "node-2"))
        .await
        .expect("create 3");
    assert_eq!(p.call_counts().of("instances.aggregatedList"), 2);

    let listed = p.list().await.expect("list");
    let owned: Vec<_> = listed.iter().filter(|r| r.owned).collect();
    assert_eq!(owned.len(), 3, "{listed:?}");
    let l1 = owned
        .iter()
        .find(|r| r.destination == r1.destination)
        .expect("r1 listed");
    assert_eq!(l1.target, RouteTarget::Instance(NODE_1.into()));
    assert_eq!(l1.node.as_deref(), Some("node-1"));
    assert_eq!(l1.state, RouteState::Active);
    assert_eq!(
        listed.iter().filter(|r| !r.owned).count(),
        2,
        "foreign ones still listed"
    );

    // The range moves to the other node: the route is replaced (delete + insert).
    let inserts = p.call_counts().of("routes.insert");
    let moved = pod_route("10.100.1.0/24", NODE_2, "node-2");
    p.create(&moved).await.expect("replace");
    assert_eq!(p.call_counts().of("routes.delete"), 1);
    assert_eq!(p.call_counts().of("routes.insert"), inserts + 1);
    let stored = resource(
        &h,
        &format!("global/routes/{}", route_name("prod", &r1.destination)),
    )
    .unwrap();
    assert!(
        stored["nextHopInstance"]
            .as_str()
            .unwrap()
            .ends_with(NODE_2)
    );

    // Delete, and delete of a route already gone.
    p.delete(&r2).await.expect("delete");
    assert!(
        resource(
            &h,
            &format!("global/routes/{}", route_name("prod", &r2.destination))
        )
        .is_none()
    );
    let deletes = p.call_counts().of("routes.delete");
    p.delete(&r2).await.expect("delete of a gone route is fine");
    assert_eq!(
        p.call_counts().of("routes.delete"),
        deletes,
        "nothing to delete, no delete call"
    );

    // Foreign routes are refused by destination (the other cluster's) and by table.
    let theirs = pod_route("10.100.201.0/24", NODE_2, "x");
    p.delete(&theirs)
        .await
        .expect("not ours under our name: nothing of ours to delete");
    assert!(
        other
            .list()
            .await
            .unwrap()
            .iter()
            .any(|r| r.owned && r.destination == theirs.destination)
    );
    let mut wrong_table = r1.clone();
    wrong_table.table = "default".into();
    let e = p.create(&wrong_table).await.unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidInput, "NotOwned"));
    assert!(resource(&h, "global/routes/team-vpn-route").is_some());

    // Every call the provider counted is a call the mock saw (one provider per cluster: sum).
    let mut ours = p.call_counts().snapshot();
    for (m, n) in other.call_counts().snapshot() {
        *ours.entry(m).or_default() += n;
    }
    // The foreign route's insert went through the client directly, outside the counts.
    *ours.entry("routes.insert".into()).or_default() += 1;
    assert_eq!(ours, mock_compute_calls(&h));
}

#[tokio::test]
async fn a_route_under_our_name_without_our_marker_is_refused() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    let dest = "10.100.9.0/24";
    let name = route_name("prod", &dest.parse().unwrap());
    insert_foreign(&p, &name, dest, "hand-made").await;
    let e = p.create(&pod_route(dest, NODE_1, "n")).await.unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidInput, "NotOwned"));
    let e = p.delete(&pod_route(dest, NODE_1, "n")).await.unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::InvalidInput, "NotOwned"));
    assert_eq!(p.call_counts().of("routes.delete"), 0);
    assert_eq!(
        resource(&h, &format!("global/routes/{name}")).unwrap()["description"],
        "hand-made"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_within_the_budget() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    fault(
        &h,
        "routes.insert",
        FaultKind::Error {
            status: 503,
            code: None,
        },
        Trigger::Once,
    );
    // One call a second at most: the delete's read takes it, the create's read is throttled
    // until the mock's bucket refills, the provider slowing its own budget down meanwhile.
    fault(
        &h,
        "routes.get",
        FaultKind::Throttle {
            rate_per_sec: 1.0,
            burst: 1,
        },
        Trigger::Always,
    );
    p.delete(&pod_route("10.100.5.0/24", NODE_1, "n"))
        .await
        .expect("nothing to delete");
    p.create(&pod_route("10.100.5.0/24", NODE_1, "n"))
        .await
        .expect("created after retries");
    assert_eq!(
        p.call_counts().of("routes.insert"),
        2,
        "one 503, one success"
    );
    assert!(
        p.call_counts().of("routes.get") >= 3,
        "throttled at least once"
    );
    assert_eq!(
        p.call_counts().of("routes.get"),
        mock_calls(&h, "routes.get")
    );
    assert!(
        resource(
            &h,
            &format!(
                "global/routes/{}",
                route_name("prod", &"10.100.5.0/24".parse().unwrap())
            )
        )
        .is_some()
    );
}

#[tokio::test]
async fn a_running_operation_is_polled_to_done() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    fault(
        &h,
        "routes.insert",
        FaultKind::OperationRunning { ms: 150 },
        Trigger::Always,
    );
    p.create(&pod_route("10.100.6.0/24", NODE_1, "n"))
        .await
        .expect("created");
    assert!(p.call_counts().of("globalOperations.get") >= 1);
    assert_eq!(
        p.call_counts().of("globalOperations.get"),
        mock_calls(&h, "globalOperations.get")
    );
}

#[tokio::test]
async fn the_clouds_refusals_come_back_with_its_reason() {
    let mut world = cloudnet_mockcloud::World::default();
    let mut gcp = cloudnet_mockcloud::gcp::GcpWorld::default();
    gcp.quotas.insert("ROUTES".into(), 1);
    world.gcp = Some(gcp);
    let h = cloudnet_mockcloud::MockCloud::start(cloudnet_mockcloud::Config::ephemeral(world))
        .await
        .unwrap();
    let p = provider(&h, "prod").await;
    // A pod range inside a subnet range cannot be a custom route: the cloud says so.
    let e = p
        .create(&pod_route("10.4.9.0/24", NODE_1, "n1"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::InvalidInput, "invalid"),
        "{e}"
    );
    assert!(e.to_string().contains("subnetwork range"), "{e}");
    // An instance that does not exist is NotFound before any write.
    let e = p
        .create(&pod_route("10.100.3.0/24", "no-such-node", "x"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // The project's route quota.
    p.create(&pod_route("10.100.1.0/24", NODE_1, "n1"))
        .await
        .expect("within quota");
    let e = p
        .create(&pod_route("10.100.2.0/24", NODE_2, "n2"))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::LimitExceeded(cloudnet_core::Limit::Quota),
        "{e}"
    );
    assert_eq!(e.code(), "QUOTA_EXCEEDED");
    assert_eq!(
        p.list().await.unwrap().iter().filter(|r| r.owned).count(),
        1
    );
    assert_eq!(
        p.call_counts().of("routes.insert"),
        3,
        "one landed, two refused"
    );
}
