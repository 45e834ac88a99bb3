//! The allocator end to end: the real `kube::Client` against the embedded API, the real AWS
//! provider against the mock cloud; the test plays ipamd.

mod chart_rbac;
mod common;
mod service_env;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_core::ownership::{TAG_CREATED_AT, TAG_NODE};
use cloudnet_core::{Owner, OwnerKind};
use cloudnet_mockcloud::World;
use common::*;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams};
use serde_json::json;

fn secondaries(enis: &[(String, i64, usize, Vec<String>)]) -> usize {
    enis.iter().map(|e| e.2).sum()
}

/// An m5.4xlarge besides the default world's nodes: 8 interfaces x 30 addresses.
const BIG: &str = "i-0c10d0e70000000c4";

/// The default world with the [`BIG`] instance added.
fn world_with_big() -> World {
    let mut w = world();
    let mut big = w.instances[0].clone();
    big.id = Some(BIG.into());
    big.instance_type = "m5.4xlarge".into();
    w.instances.push(big);
    w
}

/// Every `AttachNetworkInterface` takes `ms` longer.
fn slow_attaches(env: &Env, ms: u64) {
    env.mock.with_cloud(|c| {
        c.faults.add(
            serde_json::from_value(json!({"service": "ec2", "action": "AttachNetworkInterface",
                "kind": "latency", "ms": ms}))
            .expect("a fault rule"),
        );
    });
}

#[tokio::test]
async fn an_m5_large_holds_27_addresses_on_3_interfaces_then_reports_its_limit() {
    let env = start(fast_config()).await;
    let n1 = env.add_node(NODE1).await;
    let n2 = env.add_node(NODE2).await;
    for n in [&n1, &n2] {
        env.set_spec(n, json!({"pool": {"minimumIpTarget": 27}}))
            .await;
    }
    for n in [&n1, &n2] {
        let s = env
            .status_until(n, "27 addresses", |s| s.summary.addresses == 27)
            .await;
        assert_eq!(s.summary.interfaces, 3);
        assert_eq!(s.instance_type.as_deref(), Some("m5.large"));
        assert_eq!(cond(&s, "Ready"), Some(("True", "PoolAtTarget")));
        assert_eq!(cond(&s, "LimitReached").map(|c| c.0), Some("False"));
    }
    let enis = env.enis_of(NODE1);
    assert_eq!(enis.len(), 3, "{enis:?}");
    assert_eq!(secondaries(&enis), 27);
    assert!(
        enis.iter().all(|e| e.2 == 9),
        "every interface full: {enis:?}"
    );
    assert_eq!(env.calls("ec2:CreateNetworkInterface"), 4, "two per node");

    // One more than the node can hold.
    env.set_spec(&n1, json!({"pool": {"minimumIpTarget": 28}}))
        .await;
    let s = env
        .status_until(&n1, "LimitReached", |s| {
            cond(s, "LimitReached").is_some_and(|c| c.0 == "True")
        })
        .await;
    assert_eq!(cond(&s, "LimitReached"), Some(("True", "InstanceLimit")));
    assert_eq!(s.summary.addresses, 27);
    assert_eq!(
        env.calls("ec2:CreateNetworkInterface"),
        4,
        "no attach tried"
    );
    env.assert_no_address_twice().await;
}

#[tokio::test]
async fn the_pool_follows_warm_eni_target_and_the_release_handshake() {
    let env = start(fast_config()).await;
    let n = env.add_node(NODE1).await;
    // WARM_ENI_TARGET=1: one interface's worth, on the primary.
    let s = env
        .status_until(&n, "9 warm addresses", |s| s.summary.addresses == 9)
        .await;
    assert_eq!(s.summary.interfaces, 1);
    assert_eq!(env.calls("ec2:AssignPrivateIpAddresses"), 1);

    // A pod: a second whole interface.
    env.set_spec(&n, json!({"inUse": 1})).await;
    let s = env
        .status_until(&n, "18 addresses", |s| s.summary.addresses == 18)
        .await;
    assert_eq!(s.summary.interfaces, 2);
    assert_eq!(s.summary.releasable, 0);
    let second = s
        .interfaces
        .iter()
        .find(|i| i.index == 1)
        .expect("a second interface")
        .clone();
    assert!(second.owned);

    // The pod goes: one interface's worth is releasable.
    env.set_spec(&n, json!({"inUse": 0})).await;
    env.status_until(&n, "9 releasable", |s| s.summary.releasable == 9)
        .await;

    // ipamd offers the second interface's blocks.
    let offers: Vec<_> = second
        .blocks
        .iter()
        .filter(|b| !b.primary)
        .map(|b| json!({"interface": second.id, "block": b.cidr.to_string()}))
        .collect();
    assert_eq!(offers.len(), 9);
    env.set_spec(&n, json!({"release": offers})).await;
    let s = env
        .status_until(&n, "the offers released", |s| s.released.len() == 9)
        .await;
    let s = if s.summary.interfaces == 1 {
        s
    } else {
        env.status_until(&n, "the empty interface detached", |s| {
            s.summary.interfaces == 1
        })
        .await
    };
    assert_eq!(s.summary.addresses, 9);
    let enis = env.enis_of(NODE1);
    assert_eq!(enis.len(), 1, "{enis:?}");
    assert_eq!(secondaries(&enis), 9);
    assert!(env.cluster_enis().is_empty(), "the interface was deleted");

    // ipamd forgets the blocks and drops its offers; the allocator drops them from released.
    env.set_spec(&n, json!({"release": []})).await;
    let s = env
        .status_until(&n, "released emptied", |s| s.released.is_empty())
        .await;
    assert_eq!(s.summary.addresses, 9);
    assert_eq!(env.calls("ec2:UnassignPrivateIpAddresses"), 1);
    env.assert_no_address_twice().await;
}

#[tokio::test]
async fn prefix_delegation_hands_out_aligned_28s() {
    let env = start(fast_config()).await;
    let n = env.add_node(NODE2).await;
    env.set_spec(&n, json!({"pool": {"prefixDelegation": true}, "inUse": 1}))
        .await;
    // The first round may run before the override lands and fill the primary with single
    // addresses; those stay and count, the prefixes come on top.
    let s = env
        .status_until(&n, "two prefixes", |s| {
            s.interfaces
                .iter()
                .flat_map(|i| &i.blocks)
                .filter(|b| b.kind == "prefix")
                .count()
                == 2
        })
        .await;
    assert!(s.summary.addresses >= 32);
    let prefixes: Vec<_> = s
        .interfaces
        .iter()
        .flat_map(|i| &i.blocks)
        .filter(|b| b.kind == "prefix")
        .map(|b| b.cidr)
        .collect();
    assert_eq!(prefixes.len(), 2);
    for p in &prefixes {
        assert_eq!(p.prefix_len(), 28);
        assert_eq!(p.trunc(), *p, "{p} is aligned");
    }
    let in_cloud: Vec<String> = env.enis_of(NODE2).into_iter().flat_map(|e| e.3).collect();
    assert_eq!(in_cloud.len(), 2, "{in_cloud:?}");
    for p in &prefixes {
        assert!(in_cloud.contains(&p.to_string()), "{p} in the cloud");
    }
    env.assert_no_address_twice().await;
}

#[tokio::test]
async fn subnet_exhaustion_is_a_condition_and_a_warning_event_without_a_crash_loop() {
    let env = start(fast_config()).await;
    let n = env.add_node(TINY_NODE).await;
    env.set_spec(&n, json!({"pool": {"minimumIpTarget": 20}}))
        .await;
    let s = env
        .status_until(&n, "SubnetExhausted", |s| {
            cond(s, "SubnetExhausted").is_some_and(|c| c.0 == "True")
        })
        .await;
    assert_eq!(
        cond(&s, "SubnetExhausted"),
        Some(("True", "InsufficientFreeAddressesInSubnet"))
    );
    assert_eq!(cond(&s, "Ready").map(|c| c.0), Some("False"));
    assert_eq!(
        s.summary.addresses, 9,
        "the primary's slots were filled first"
    );

    let ev =
        service_env::wait_for_event(&env.client, "default", "SubnetExhausted", None, WAIT).await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert!(
        ev.note
            .as_deref()
            .is_some_and(|n| n.contains("InsufficientFreeAddressesInSubnet")),
        "{:?}",
        ev.note
    );
    assert_eq!(
        ev.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some(n.as_str())
    );
    // Backoff, not a hot loop: a few attempts over two seconds.
    let before = env.calls("ec2:CreateNetworkInterface");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tried = env.calls("ec2:CreateNetworkInterface") - before;
    assert!(tried <= 6, "{tried} attempts in 2 s");
    assert!(
        env.cluster_enis().is_empty(),
        "a failed create leaves nothing"
    );
}

#[tokio::test]
async fn node_deletion_frees_every_address_and_interface() {
    let env = start(fast_config()).await;
    let n = env.add_node(NODE1).await;
    env.set_spec(&n, json!({"pool": {"minimumIpTarget": 20}}))
        .await;
    env.status_until(&n, "20 addresses", |s| s.summary.addresses >= 20)
        .await;
    assert_eq!(env.enis_of(NODE1).len(), 3);

    Api::<Node>::all(env.client.clone())
        .delete(&n, &DeleteParams::default())
        .await
        .expect("node deleted");
    eventually(WAIT, "the NodeNetwork gone", || async {
        env.networks()
            .get_opt(&n)
            .await
            .ok()
            .and_then(|o| o.is_none().then_some(()))
    })
    .await;
    let enis = env.enis_of(NODE1);
    assert_eq!(enis.len(), 1, "only the primary is left: {enis:?}");
    assert_eq!(secondaries(&enis), 0);
    assert!(env.cluster_enis().is_empty(), "{:?}", env.cluster_enis());
}

#[tokio::test]
async fn a_leaked_interface_is_deleted_after_the_grace_period() {
    let env = start(fast_config()).await;
    let ec2 = aws_sdk_ec2::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .endpoint_url(env.mock.endpoint_url())
            .load()
            .await,
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut ids = Vec::new();
    for (node, age) in [("gone-1", 3600), ("fresh-1", 0)] {
        let mut tags = Owner::cluster_scoped(CLUSTER, OwnerKind::Node, node).aws_tags();
        tags.insert(TAG_NODE.to_string(), "i-0000000000000dead".into());
        tags.insert(TAG_CREATED_AT.to_string(), (now - age).to_string());
        let spec = tags
            .iter()
            .fold(
                TagSpecification::builder().resource_type(ResourceType::NetworkInterface),
                |b, (k, v)| b.tags(Tag::builder().key(k).value(v).build()),
            )
            .build();
        let out = ec2
            .create_network_interface()
            .subnet_id("subnet-0c10d0e70000000a2")
            .tag_specifications(spec)
            .send()
            .await
            .expect("created");
        ids.push(
            out.network_interface()
                .and_then(|i| i.network_interface_id())
                .expect("id")
                .to_string(),
        );
    }
    eventually(WAIT, "the old leak deleted", || async {
        (!env.cluster_enis().contains(&ids[0])).then_some(())
    })
    .await;
    assert!(
        env.cluster_enis().contains(&ids[1]),
        "within the grace period it stays"
    );
    // The cloud shows the delete before the sweep has its answer and counts it.
    eventually(WAIT, "the deletion counted", || async {
        (env.metrics.orphans_deleted() > 0).then_some(())
    })
    .await;
    assert_eq!(env.metrics.orphans_deleted(), 1);
}

#[tokio::test]
async fn an_offer_for_another_nodes_interface_is_refused() {
    let env = start(fast_config()).await;
    let n1 = env.add_node(NODE1).await;
    let n2 = env.add_node(NODE2).await;
    let s2 = env
        .status_until(&n2, "9 addresses", |s| s.summary.addresses == 9)
        .await;
    env.status_until(&n1, "9 addresses", |s| s.summary.addresses == 9)
        .await;
    let foreign = &s2.interfaces[0];
    let block = foreign
        .blocks
        .iter()
        .find(|b| !b.primary)
        .expect("a secondary");
    env.set_spec(
        &n1,
        json!({"release": [{"interface": foreign.id, "block": block.cidr.to_string()}]}),
    )
    .await;
    service_env::wait_for_event(&env.client, "default", "ReleaseRefused", None, WAIT).await;
    assert_eq!(secondaries(&env.enis_of(NODE2)), 9, "nothing released");
    assert_eq!(env.calls("ec2:UnassignPrivateIpAddresses"), 0);
    let s1 = env
        .networks()
        .get(&n1)
        .await
        .expect("get")
        .status
        .expect("status");
    assert!(s1.released.is_empty());
}

#[tokio::test]
async fn the_interfaces_a_node_needs_are_attached_at_once() {
    // The m5.4xlarge has 29 slots on each interface besides the primary.
    let env = start_in(world_with_big(), fast_config(), fast_budget()).await;
    let attach_ms = 1000;
    slow_attaches(&env, attach_ms);
    let name = env.add_node(BIG).await;
    // At rest (WARM_ENI_TARGET=1): the primary interface's 29 slots.
    env.status_until(&name, "the warm pool", |s| {
        s.summary.addresses == 29 && cond(s, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let before: std::collections::BTreeMap<String, u64> = env.mock.with_cloud(|c| c.calls.clone());
    let since = |key: &str| env.calls(key) - before.get(key).copied().unwrap_or(0);
    // 100 pods: ceil((100 + 29) / 29) = 5 interfaces' worth, so 4 new ones.
    let writes_before = env.metrics.status_writes();
    let start = std::time::Instant::now();
    env.set_spec(&name, json!({"inUse": 100})).await;
    let s = env
        .status_until(&name, "145 addresses", |s| s.summary.addresses == 145)
        .await;
    let took = start.elapsed();
    assert_eq!(s.summary.interfaces, 5);
    let enis = env.enis_of(BIG);
    let indexes: Vec<i64> = enis.iter().map(|e| e.1).collect();
    assert_eq!(indexes, vec![0, 1, 2, 3, 4], "{enis:?}");
    assert_eq!(secondaries(&enis), 145);
    for (key, want) in [
        ("ec2:CreateNetworkInterface", 4),
        ("ec2:AttachNetworkInterface", 4),
        ("ec2:ModifyNetworkInterfaceAttribute", 4),
        ("ec2:DeleteNetworkInterface", 0),
        ("ec2:AssignPrivateIpAddresses", 0),
    ] {
        assert_eq!(since(key), want, "{key}");
    }
    // One after another the four attaches alone would take 4 s.
    assert!(
        took < Duration::from_millis(3 * attach_ms),
        "{took:?}: the attaches did not overlap"
    );
    // The status follows the attaches, at most one write per completed cloud change (the
    // four attaches return together: merged).
    let writes = env.metrics.status_writes() - writes_before;
    assert!((1..=4).contains(&writes), "{writes} status writes");
    env.assert_no_address_twice().await;
}

#[tokio::test]
async fn the_status_shows_each_wave_of_interfaces_as_it_is_attached() {
    // Two steps of a node's round at a time: four new interfaces attach in two waves.
    let config = AllocatorConfig {
        node_parallelism: 2,
        ..fast_config()
    };
    let env = start_in(world_with_big(), config, fast_budget()).await;
    let attach_ms = 1500;
    slow_attaches(&env, attach_ms);
    let name = env.add_node(BIG).await;
    env.status_until(&name, "the warm pool", |s| {
        s.summary.addresses == 29 && cond(s, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let writes_before = env.metrics.status_writes();
    let attaches_before = env.calls("ec2:AttachNetworkInterface");
    let start = std::time::Instant::now();
    env.set_spec(&name, json!({"inUse": 100})).await;
    // The first wave's two interfaces are in the status while the second wave attaches.
    let s = env
        .status_until(&name, "the first wave", |s| s.summary.addresses >= 87)
        .await;
    let first_wave = start.elapsed();
    assert_eq!(s.summary.addresses, 87, "only the first wave yet");
    assert!(
        first_wave < Duration::from_millis(2 * attach_ms),
        "{first_wave:?}: the first wave's status waited for the second wave"
    );
    env.status_until(&name, "145 addresses", |s| s.summary.addresses == 145)
        .await;
    assert!(start.elapsed() >= Duration::from_millis(2 * attach_ms));
    assert_eq!(env.calls("ec2:AttachNetworkInterface") - attaches_before, 4);
    // At most one status write per completed cloud change: 4 interfaces attached.
    let writes = env.metrics.status_writes() - writes_before;
    assert!((2..=4).contains(&writes), "{writes} status writes");
    env.assert_no_address_twice().await;
}
