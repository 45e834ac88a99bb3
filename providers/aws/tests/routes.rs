//! Routes against the mock cloud, through the real SDK.

mod common;

use cloudnet_core::{RouteState, RouteTarget, Routes};
use common::*;

async fn cluster_table(env: &Env) -> String {
    tagged_route_table(&env.ec2, &[("kubernetes.io/cluster/prod", "owned")]).await
}

#[tokio::test]
async fn create_is_idempotent_replaces_ours_and_turns_source_dest_check_off() {
    let env = start().await;
    let table = cluster_table(&env).await;
    let r = route(&table, "10.200.1.0/24", NODE1);
    env.provider.create(&r).await.unwrap();
    let before = env.calls();
    env.provider.create(&r).await.unwrap();
    assert!(
        env.mutating_since(&before).is_empty(),
        "{:?}",
        env.mutating_since(&before)
    );
    assert_eq!(env.count("ec2:ModifyInstanceAttribute"), 1);

    let moved = route(&table, "10.200.1.0/24", NODE2);
    env.provider.create(&moved).await.unwrap();
    assert_eq!(env.count("ec2:ReplaceRoute"), 1);
    let listed = env.provider.list().await.unwrap();
    let ours: Vec<_> = listed.iter().filter(|r| r.owned).collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].target, RouteTarget::Instance(NODE2.into()));

    env.provider.delete(&moved).await.unwrap();
    env.provider.delete(&moved).await.unwrap();
    assert!(env.provider.list().await.unwrap().iter().all(|r| !r.owned));
}

#[tokio::test]
async fn routes_outside_the_pod_cidr_or_table_are_never_touched() {
    let env = start().await;
    let table = cluster_table(&env).await;
    let foreign = route(&table, "172.16.0.0/24", NODE1);
    let err = env.provider.create(&foreign).await.unwrap_err();
    assert_eq!(err.code(), "NotOwned");
    // Someone else's route in our table: listed, not ours, not deletable.
    env.ec2
        .create_route()
        .route_table_id(&table)
        .destination_cidr_block("172.16.0.0/24")
        .instance_id(NODE1)
        .send()
        .await
        .unwrap();
    let listed = env.provider.list().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|r| r.destination.to_string() == "172.16.0.0/24" && !r.owned)
    );
    let err = env.provider.delete(&foreign).await.unwrap_err();
    assert_eq!(err.code(), "NotOwned");
    let err = env
        .provider
        .create(&route("rtb-other", "10.200.2.0/24", NODE1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotOwned");
    assert_eq!(env.count("ec2:DeleteRoute"), 0);
}

#[tokio::test]
async fn routes_to_a_terminated_node_are_listed_as_blackholes() {
    let env = start().await;
    let table = cluster_table(&env).await;
    env.provider
        .create(&route(&table, "10.200.3.0/24", NODE2))
        .await
        .unwrap();
    env.ec2
        .terminate_instances()
        .instance_ids(NODE2)
        .send()
        .await
        .unwrap();
    let listed = env.provider.list().await.unwrap();
    let r = listed.iter().find(|r| r.owned).unwrap();
    assert_eq!(r.state, RouteState::Blackhole);
    env.provider.delete(r).await.unwrap();
}
