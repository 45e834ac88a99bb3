//! Several interfaces attached to one instance at once: each gets its own device index, and an
//! index another client takes meanwhile costs one refused attach, never an orphan interface.

mod common;

use std::collections::BTreeMap;

use cloudnet_core::{Addresses, AttachInterface, BlockKind, Error};
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::ec2::world::InstanceSpec;
use common::*;
use futures::future::join_all;

/// An m5.4xlarge: 8 interfaces x 30 addresses.
const BIG: &str = "i-0c10d0e70000000c4";

fn world() -> World {
    let mut w = World::default();
    let mut big: InstanceSpec = w.instances[0].clone();
    big.id = Some(BIG.into());
    big.instance_type = "m5.4xlarge".into();
    w.instances.push(big);
    w
}

fn request(initial: u32) -> AttachInterface {
    AttachInterface {
        subnet_id: PRIVATE_A.into(),
        security_groups: vec![],
        initial_blocks: initial,
        block_kind: BlockKind::SecondaryIp,
        description: "cloudnet pods".into(),
    }
}

/// Device index of every interface on the instance, as the cloud has it.
fn indexes_in_cloud(env: &Env, instance: &str) -> Vec<i64> {
    env.mock.with_cloud(|c| {
        let mut v: Vec<i64> = c
            .ec2
            .network_interfaces
            .values()
            .filter_map(|e| e.attachment.as_ref())
            .filter(|a| a.instance_id == instance)
            .map(|a| a.device_index)
            .collect();
        v.sort();
        v
    })
}

/// Interfaces carrying the cluster's tag, attached or not.
fn ours(env: &Env) -> usize {
    env.mock.with_cloud(|c| {
        c.ec2
            .network_interfaces
            .values()
            .filter(|e| e.tags.get("cloudnet.io/cluster").map(String::as_str) == Some("prod"))
            .count()
    })
}

fn since(env: &Env, before: &BTreeMap<String, u64>, key: &str) -> u64 {
    env.count(key) - before.get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn seven_concurrent_attaches_get_seven_distinct_indexes_and_no_extra_call() {
    let (env, _) = start_in(world(), |_| {}).await;
    let n = node(BIG);
    let described = env.provider.describe_node(&n).await.unwrap();
    assert_eq!(described.limits.max_interfaces, 8);
    let before = env.calls();
    let req = request(29);
    let attached = join_all((0..7).map(|_| env.provider.attach_interface(&n, &req))).await;
    let mut got: Vec<u32> = attached
        .into_iter()
        .map(|r| {
            let i = r.expect("attached");
            assert_eq!(i.blocks.iter().filter(|b| !b.primary).count(), 29);
            i.index
        })
        .collect();
    got.sort();
    assert_eq!(got, (1..=7).collect::<Vec<_>>());
    assert_eq!(indexes_in_cloud(&env, BIG), (0..=7).collect::<Vec<_>>());
    for (key, want) in [
        ("ec2:CreateNetworkInterface", 7),
        ("ec2:AttachNetworkInterface", 7),
        ("ec2:ModifyNetworkInterfaceAttribute", 7),
        ("ec2:DeleteNetworkInterface", 0),
        // The round's describe is fresh: no attach describes again.
        ("ec2:DescribeNetworkInterfaces", 0),
        ("ec2:DescribeInstances", 0),
    ] {
        assert_eq!(since(&env, &before, key), want, "{key}");
    }

    // Full: refused before anything is created.
    let err = env
        .provider
        .attach_interface(&n, &request(1))
        .await
        .unwrap_err();
    assert_interface_limit(&err);
    assert_eq!(since(&env, &before, "ec2:CreateNetworkInterface"), 7);
    assert_eq!(ours(&env), 7);
}

#[tokio::test]
async fn concurrent_attaches_past_the_limit_create_only_what_fits() {
    let (env, _) = start_in(world(), |_| {}).await;
    // An m5.large (3 interfaces), never described before: each attach looks first.
    let n = node(NODE1);
    let before = env.calls();
    let req = request(2);
    let results = join_all((0..3).map(|_| env.provider.attach_interface(&n, &req))).await;
    let mut ok: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|i| i.index)
        .collect();
    ok.sort();
    assert_eq!(ok, vec![1, 2]);
    let refused: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1);
    assert_interface_limit(refused[0]);
    assert_eq!(indexes_in_cloud(&env, NODE1), vec![0, 1, 2]);
    assert_eq!(since(&env, &before, "ec2:CreateNetworkInterface"), 2);
    assert_eq!(since(&env, &before, "ec2:AttachNetworkInterface"), 2);
    assert_eq!(since(&env, &before, "ec2:DeleteNetworkInterface"), 0);
    assert_eq!(ours(&env), 2);
}

#[tokio::test]
async fn an_index_another_client_took_moves_the_same_interface_to_the_next() {
    let (env, _) = start_in(world(), |_| {}).await;
    let n = node(BIG);
    env.provider.describe_node(&n).await.unwrap();
    // Someone else attaches at index 1 after our describe.
    let foreign = env
        .ec2
        .create_network_interface()
        .subnet_id(PRIVATE_A)
        .send()
        .await
        .unwrap()
        .network_interface()
        .and_then(|e| e.network_interface_id())
        .unwrap()
        .to_string();
    env.ec2
        .attach_network_interface()
        .network_interface_id(&foreign)
        .instance_id(BIG)
        .device_index(1)
        .send()
        .await
        .unwrap();
    let before = env.calls();
    let i = env
        .provider
        .attach_interface(&n, &request(5))
        .await
        .unwrap();
    assert_eq!(i.index, 2);
    assert_eq!(indexes_in_cloud(&env, BIG), vec![0, 1, 2]);
    for (key, want) in [
        ("ec2:CreateNetworkInterface", 1),
        // Refused at 1, then attached at 2.
        ("ec2:AttachNetworkInterface", 2),
        ("ec2:DescribeNetworkInterfaces", 1),
        ("ec2:DeleteNetworkInterface", 0),
        ("ec2:ModifyNetworkInterfaceAttribute", 1),
    ] {
        assert_eq!(since(&env, &before, key), want, "{key}");
    }
    assert_eq!(
        ours(&env),
        1,
        "the one interface created was reused, not leaked"
    );
    let foreign_eni = env
        .mock
        .with_cloud(|c| c.ec2.network_interfaces[&foreign].attachment.clone());
    assert_eq!(
        foreign_eni.map(|a| a.device_index),
        Some(1),
        "the other client's interface is untouched"
    );
}

#[tokio::test]
async fn an_attach_that_fails_otherwise_deletes_its_interface() {
    let (env, _) = start_in(world(), |_| {}).await;
    let n = node(BIG);
    env.provider.describe_node(&n).await.unwrap();
    // Every attach refused by the cloud with a code that is not about the index.
    env.fault(serde_json::json!({
        "service": "ec2", "action": "AttachNetworkInterface", "kind": "error", "status": 503,
        "code": "Unavailable"
    }));
    let before = env.calls();
    let req = request(3);
    let results = join_all((0..3).map(|_| env.provider.attach_interface(&n, &req))).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(since(&env, &before, "ec2:CreateNetworkInterface"), 3);
    assert_eq!(since(&env, &before, "ec2:DeleteNetworkInterface"), 3);
    assert_eq!(ours(&env), 0, "no interface left behind");
    // The indexes were given back: the next attaches get 1 and 2.
    env.clear_faults();
    let a = env
        .provider
        .attach_interface(&n, &request(1))
        .await
        .unwrap();
    let b = env
        .provider
        .attach_interface(&n, &request(1))
        .await
        .unwrap();
    assert_eq!((a.index, b.index), (1, 2));
}
