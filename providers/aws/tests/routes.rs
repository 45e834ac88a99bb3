//! Routes against the mock cloud, through the real SDK. Foreign routes and blackholes are
//! cases of the contract suite (moto.rs), which runs them on the mock cloud too.

mod common;

use cloudnet_core::{RouteTarget, Routes};
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
