//! Pod addresses on scale-set instances (AKS's default pools) against the mock cloud's ARM
//! port: ipConfigurations through the per-instance model update of the Compute API, read back
//! from the instances' NICs through the Network API.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use cloudnet_core::Addresses;
use common::{
    addresses_world, arm_calls, assign_counting, first_interface, instance_id, ip_configurations,
    scale_set_node,
};
use serde_json::json;

const VM_WRITE: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write";
const NIC_WRITE: &str = "Microsoft.Network/networkInterfaces/write";

/// The instance's model as the mock holds it, one ipConfiguration added under `name` (a
/// write by someone other than the provider, made straight into the mock's state).
fn someone_else_adds(
    h: &cloudnet_mockcloud::Handle,
    cfg: &cloudnet_azure::AzureConfig,
    i: usize,
    name: &str,
) {
    let id = instance_id(cfg, i)
        .trim_start_matches("azure://")
        .to_string();
    let mut model = h
        .with_cloud(|c| c.azure.lookup(&id).cloned())
        .expect("the instance");
    let nics = model["properties"]["networkProfileConfiguration"]["networkInterfaceConfigurations"]
        .as_array_mut()
        .expect("a network profile");
    let ipcs = nics[0]["properties"]["ipConfigurations"]
        .as_array_mut()
        .expect("ipConfigurations");
    ipcs.push(json!({"name": name, "properties": {"subnet": {"id": cfg.subnet_id()}}}));
    let path = id.split_once("/resourceGroups/").expect("an ARM id").1;
    common::arm_put(
        h,
        &format!("resourceGroups/{path}"),
        json!({"location": cfg.location, "properties": {
            "networkProfileConfiguration": model["properties"]["networkProfileConfiguration"]
        }}),
        "2024-07-01",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scale_set_nodes_get_sixteen_addresses_in_one_instance_put_each() {
    let (h, cfg, addrs, policy) = addresses_world().await;
    assert!(!addrs.capabilities().hot_plug_interfaces);

    let mut all = BTreeSet::new();
    let mut nics = Vec::new();
    for i in 0..2 {
        let n = scale_set_node(&cfg, i);
        let d = addrs.describe_node(&n).await.unwrap();
        assert_eq!(d.interfaces.len(), 1);
        let eth0 = d.interfaces[0].clone();
        assert_eq!(eth0.blocks.len(), 1);
        assert!(eth0.blocks[0].primary);
        all.insert(eth0.blocks[0].cidr);
        let (got, puts) = assign_counting(&h, &addrs, &n, &eth0.id, 16, VM_WRITE).await;
        assert_eq!(puts, 1, "one instance PUT for 16");
        assert!(got.iter().all(|b| b.cidr.prefix_len() == 32 && !b.primary));
        all.extend(got.iter().map(|b| b.cidr));
        let after = addrs.describe_node(&n).await.unwrap();
        assert_eq!(after.interfaces[0].blocks.len(), 17);
        assert_eq!(after.interfaces[0].pod_capacity(), 16);
        nics.push((n, eth0.id, got));
    }
    assert_eq!(
        all.len(),
        34,
        "two primaries and 32 pod addresses, all distinct"
    );
    assert_eq!(policy.counts.of(VM_WRITE), 2);
    assert_eq!(
        policy.counts.of(NIC_WRITE),
        0,
        "no Network API write on a scale-set NIC"
    );
    assert_eq!(arm_calls(&h, NIC_WRITE), 0);

    // The instance's NIC in the mock's state (what its IMDS answers from) has all 17.
    let (n0, nic0, got0) = &nics[0];
    let in_state = h.with_cloud(|c| {
        let id = n0.instance_id.trim_start_matches("azure://");
        let nic = c
            .azure
            .lookup(&format!(
                "{id}/networkInterfaces/{}",
                nic0.0.rsplit('/').next().unwrap()
            ))
            .cloned();
        nic.map(|n| cloudnet_mockcloud::azure::private_ips(&n))
    });
    assert_eq!(in_state.map(|v| v.len()), Some(17));

    // Release 16 in one PUT; a second pass finds them gone and writes nothing.
    let release: Vec<_> = got0.iter().map(|b| b.cidr).collect();
    let writes = arm_calls(&h, VM_WRITE);
    addrs.release_blocks(n0, nic0, &release).await.unwrap();
    assert_eq!(arm_calls(&h, VM_WRITE) - writes, 1, "one PUT for 16");
    addrs.release_blocks(n0, nic0, &release).await.unwrap();
    assert_eq!(
        arm_calls(&h, VM_WRITE) - writes,
        1,
        "already gone: no write"
    );
    let left = addrs.describe_node(n0).await.unwrap();
    assert_eq!(left.interfaces[0].pod_capacity(), 0);

    // The primary is never released.
    let primary = left.interfaces[0].blocks[0].cidr;
    let e = addrs
        .release_blocks(n0, nic0, &[primary])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), cloudnet_core::ErrorKind::InvalidInput);
    assert_eq!(arm_calls(&h, VM_WRITE) - writes, 1);

    // Another node's NIC is refused before any write.
    let (_, nic1, _) = &nics[1];
    let e = addrs
        .assign_blocks(n0, &ip_configurations(nic1.clone(), 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), cloudnet_core::ErrorKind::InvalidInput);
    assert_eq!(arm_calls(&h, VM_WRITE) - writes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_changed_since_read_is_read_again_and_both_changes_stay() {
    let (h, cfg, addrs, policy) = addresses_world().await;
    let n = scale_set_node(&cfg, 0);
    let eth0 = first_interface(&addrs, &n).await.id;
    // The provider's instance PUT is held 500 ms on the wire; meanwhile another writer
    // changes the instance's model, so the PUT's If-Match no longer matches: 412.
    let rule = serde_json::from_value(json!({
        "service": "arm", "action": VM_WRITE, "kind": "latency", "ms": 500, "trigger": "once"
    }))
    .unwrap();
    h.with_cloud(|c| c.faults.add(rule));
    let assign_task = {
        let addrs = addrs.clone();
        let n = n.clone();
        let eth0 = eth0.clone();
        tokio::spawn(async move { addrs.assign_blocks(&n, &ip_configurations(eth0, 16)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    someone_else_adds(&h, &cfg, 0, "other-1");
    let got = assign_task.await.unwrap().unwrap();
    assert_eq!(got.len(), 16);
    assert_eq!(
        policy.counts.of(VM_WRITE),
        2,
        "the refused PUT (412) and one PUT after a fresh read"
    );
    let d = addrs.describe_node(&n).await.unwrap();
    assert_eq!(
        d.interfaces[0].blocks.len(),
        18,
        "primary, other-1 and 16 of ours"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_set_model_update_keeps_the_instances_own_ip_configurations() {
    let (h, cfg, addrs, _) = addresses_world().await;
    let n = scale_set_node(&cfg, 1);
    let eth0 = first_interface(&addrs, &n).await.id;
    let (got, _) = assign_counting(&h, &addrs, &n, &eth0, 20, VM_WRITE).await;
    // The set's model written again with one instance more (a scale-out, `Automatic`
    // upgrade): the existing instances keep their per-instance ipConfigurations and addresses.
    let ss = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss",
        cfg.subscription, cfg.resource_group
    );
    let mut model = h.with_cloud(|c| c.azure.lookup(&ss).cloned()).unwrap();
    model["sku"]["capacity"] = json!(3);
    common::arm_put(
        &h,
        &format!(
            "resourceGroups/{}",
            ss.split_once("/resourceGroups/").unwrap().1
        ),
        json!({"location": cfg.location, "sku": model["sku"], "properties": model["properties"]}),
        "2024-07-01",
    );
    let d = addrs.describe_node(&n).await.unwrap();
    let mut kept: Vec<_> = d.interfaces[0]
        .blocks
        .iter()
        .filter(|b| !b.primary)
        .map(|b| b.cidr)
        .collect();
    let mut want: Vec<_> = got.iter().map(|b| b.cidr).collect();
    kept.sort();
    want.sort();
    assert_eq!(kept, want, "the same addresses after the set's update");
    let third = addrs.describe_node(&scale_set_node(&cfg, 2)).await.unwrap();
    let p = third.interfaces[0].blocks[0].cidr;
    assert!(
        !want.contains(&p),
        "the new instance's primary is a free address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instances_batches_take_turns_and_a_full_subnet_refuses_only_the_first() {
    // The node subnet cut to a /26: 59 usable addresses.
    let h = common::start(|az| {
        az.virtual_networks[0].subnets[0].address_prefix = "10.224.0.0/26".into();
    })
    .await;
    let cfg = std::sync::Arc::new(common::config(&h).await);
    let (addrs, _) = common::addresses(&cfg);
    let n0 = scale_set_node(&cfg, 0);
    let n1 = scale_set_node(&cfg, 1);
    let nic0 = first_interface(&addrs, &n0).await.id;
    let nic1 = first_interface(&addrs, &n1).await.id;

    // Two batches of 16 on one instance at once, as the allocator runs a node's steps:
    // one instance PUT each, none refused with 412 and sent again.
    let writes = arm_calls(&h, VM_WRITE);
    let request = ip_configurations(nic0.clone(), 16);
    let got = futures::future::join_all((0..2).map(|_| addrs.assign_blocks(&n0, &request))).await;
    let ips: BTreeSet<_> = got
        .into_iter()
        .flat_map(Result::unwrap)
        .map(|b| b.cidr)
        .collect();
    assert_eq!(ips.len(), 32, "distinct addresses");
    assert_eq!(arm_calls(&h, VM_WRITE) - writes, 2, "one PUT a batch");

    // Fill the rest from the other node until a batch of 16 no longer fits.
    let mut filled = 0;
    loop {
        match addrs
            .assign_blocks(&n1, &ip_configurations(nic1.clone(), 16))
            .await
        {
            Ok(b) => filled += b.len(),
            Err(e) => {
                assert_eq!(e.code(), "SubnetIsFull", "{e}");
                break;
            }
        }
        assert!(filled <= 59, "a /26 holds 59");
    }

    // Three batches queued on one instance in a full subnet: the first is refused by the
    // cloud, the two that waited behind it fail with its error without a call.
    let writes = arm_calls(&h, VM_WRITE);
    let request = ip_configurations(nic0, 16);
    let got = futures::future::join_all((0..3).map(|_| addrs.assign_blocks(&n0, &request))).await;
    for r in &got {
        let e = r.as_ref().expect_err("a full subnet");
        assert_eq!(
            e.kind(),
            cloudnet_core::ErrorKind::InsufficientCapacity,
            "{e}"
        );
    }
    assert_eq!(arm_calls(&h, VM_WRITE) - writes, 1, "one refused PUT");

    // A later batch (the allocator's next round) asks the cloud again.
    let writes = arm_calls(&h, VM_WRITE);
    let e = addrs.assign_blocks(&n0, &request).await.unwrap_err();
    assert_eq!(e.code(), "SubnetIsFull");
    assert_eq!(arm_calls(&h, VM_WRITE) - writes, 1);
}
