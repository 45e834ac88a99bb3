//! Pod addresses as NIC ipConfigurations against the mock cloud's ARM port.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudnet_azure::AzureAddresses;
use cloudnet_azure::client::{compute_client, network_client};
use cloudnet_core::{
    Addresses, BudgetConfig, ErrorKind, InterfaceId, NodeRef, Op, OpClass, RateBudget, Service,
};
use common::{
    addresses, arm_calls, assign_counting, config, instance_id, ip_configurations, standalone_vm,
    start,
};
use serde_json::json;

const NIC_WRITE: &str = "Microsoft.Network/networkInterfaces/write";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_configurations_are_added_and_released_sixteen_a_put() {
    let h = start(|_| {}).await;
    let cfg = Arc::new(config(&h).await);
    let (vm, nic) = standalone_vm(&h, &cfg, "vm1");
    let (addrs, policy) = addresses(&cfg);
    assert!(!addrs.capabilities().hot_plug_interfaces);
    let node = NodeRef {
        name: "vm1".into(),
        instance_id: format!("azure://{vm}"),
        zone: None,
    };

    let before = addrs.describe_node(&node).await.unwrap();
    assert_eq!(before.interfaces.len(), 1);
    let eth0 = &before.interfaces[0];
    assert!(eth0.id.0.eq_ignore_ascii_case(&nic));
    assert_eq!(eth0.subnet_cidr, Some("10.224.0.0/16".parse().unwrap()));
    assert_eq!(eth0.blocks.len(), 1);
    assert!(eth0.blocks[0].primary);

    let (got, puts) = assign_counting(&h, &addrs, &node, &eth0.id, 40, NIC_WRITE).await;
    assert_eq!(puts, 3, "16 + 16 + 8: three NIC PUTs");
    assert_eq!(policy.counts.of(NIC_WRITE), 3);
    let mut ips: Vec<_> = got.iter().map(|b| b.cidr).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 40, "distinct addresses");
    assert!(got.iter().all(|b| b.cidr.prefix_len() == 32 && !b.primary));

    let after = addrs.describe_node(&node).await.unwrap();
    assert_eq!(after.interfaces[0].blocks.len(), 41);
    assert_eq!(after.interfaces[0].pod_capacity(), 40);

    // Release 20: two PUTs (16 + 4); releasing them again changes nothing.
    let release: Vec<_> = ips[..20].to_vec();
    let writes = arm_calls(&h, NIC_WRITE);
    addrs
        .release_blocks(&node, &eth0.id, &release)
        .await
        .unwrap();
    assert_eq!(arm_calls(&h, NIC_WRITE) - writes, 2);
    addrs
        .release_blocks(&node, &eth0.id, &release)
        .await
        .unwrap();
    assert_eq!(
        arm_calls(&h, NIC_WRITE) - writes,
        2,
        "already gone: no write"
    );
    let left = addrs.describe_node(&node).await.unwrap();
    assert_eq!(left.interfaces[0].pod_capacity(), 20);

    // The primary address is never released.
    let primary = left.interfaces[0]
        .blocks
        .iter()
        .find(|b| b.primary)
        .unwrap()
        .cidr;
    let e = addrs
        .release_blocks(&node, &eth0.id, &[primary])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(arm_calls(&h, NIC_WRITE) - writes, 2);

    // Past 256 ipConfigurations: refused before any write.
    let e = addrs
        .assign_blocks(&node, &ip_configurations(eth0.id.clone(), 235))
        .await
        .unwrap();
    assert_eq!(e.len(), 235, "21 + 235 fill the NIC's 256");
    let e = addrs
        .assign_blocks(&node, &ip_configurations(eth0.id.clone(), 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NetworkInterfaceIpConfigurationCountExceedsLimit");

    // Interfaces are fixed: no attach, no orphans.
    assert!(addrs.list_orphans(Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(
        addrs
            .delete_orphan(&InterfaceId(nic.clone()))
            .await
            .unwrap_err()
            .code(),
        "NotSupported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_asked_for_one_nic_at_once_are_written_one_after_another() {
    let h = start(|_| {}).await;
    let cfg = Arc::new(config(&h).await);
    let (vm, _) = standalone_vm(&h, &cfg, "vm1");
    let (addrs, _) = addresses(&cfg);
    let node = NodeRef {
        name: "vm1".into(),
        instance_id: format!("azure://{vm}"),
        zone: None,
    };
    let eth0 = addrs.describe_node(&node).await.unwrap().interfaces[0]
        .id
        .clone();
    // Four steps of 16 on one NIC at once, as the allocator runs a node's steps: each NIC
    // PUT lands on its first try (none refused with 412 and sent again).
    let writes = arm_calls(&h, NIC_WRITE);
    let request = ip_configurations(eth0, 16);
    let steps = (0..4).map(|_| addrs.assign_blocks(&node, &request));
    let got: Vec<_> = futures::future::join_all(steps)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut ips: Vec<_> = got.iter().flatten().map(|b| b.cidr).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 64, "distinct addresses");
    assert_eq!(arm_calls(&h, NIC_WRITE) - writes, 4, "one PUT a batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_request_waits_for_retry_after_through_the_budget() {
    let h = start(|_| {}).await;
    let cfg = Arc::new(config(&h).await);
    let budget = RateBudget::new(&BudgetConfig::default());
    let (client, policy) = network_client(&cfg, budget.clone()).unwrap();
    let addrs = AzureAddresses::new(client, compute_client(&cfg, &policy).unwrap(), cfg.clone());
    let rule = serde_json::from_value(json!({
        "service": "arm", "action": "*/read", "kind": "throttle", "rate_per_sec": 1.0, "burst": 1
    }))
    .unwrap();
    h.with_cloud(|c| c.faults.add(rule));
    let node = NodeRef {
        name: "n".into(),
        instance_id: instance_id(&cfg, 0),
        zone: None,
    };
    let op = Op::new(Service::Compute, OpClass::Describe);
    let full = budget.current_rate(op);
    let started = Instant::now();
    // Two reads (the NICs, then the subnet): the second is throttled once (429,
    // Retry-After: 1) and sent again after the pause.
    addrs.describe_node(&node).await.unwrap();
    let took = started.elapsed();
    let reads: u64 = policy
        .counts
        .snapshot()
        .iter()
        .filter(|(m, _)| m.ends_with("/read"))
        .map(|(_, v)| v)
        .sum();
    let logged = h.with_cloud(|c| {
        c.calls
            .iter()
            .filter(|(k, _)| k.starts_with("arm:") && k.ends_with("/read"))
            .map(|(_, v)| *v)
            .sum::<u64>()
    });
    println!("describe_node under throttling: {reads} reads ({logged} seen by the mock), {took:?}");
    assert_eq!(reads, logged, "every attempt is counted");
    assert!(reads >= 3, "the throttled read was sent again: {reads}");
    assert!(
        took >= Duration::from_millis(900),
        "Retry-After honoured: {took:?}"
    );
    assert!(budget.current_rate(op) < full, "the budget slowed down");
}
