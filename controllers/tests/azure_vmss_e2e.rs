//! The IPAM allocator on Azure scale-set nodes (AKS's default pools) end to end: `app::run`
//! (what `cloudnet-controller --provider azure` runs) on [`AzureCloud`] against the mock's ARM
//! port and the embedded API (the controller as the chart's ServiceAccount). Each instance's
//! NIC takes 16 ipConfigurations in one per-instance model update (the Compute API; no NIC
//! PUT), its NodeNetwork lists them, the addresses are distinct across nodes, and the
//! allocator's second pass writes nothing.

mod azure_env;
mod chart_rbac;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use cloudnet_controllers::app::Settings;
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_mockcloud::Handle;
use cloudnet_mockcloud::azure::{AzureWorld, private_ips};
use common::{Controllers, NodeSeen};
use serde_json::Value;

const CLUSTER: &str = "aks-vmss-e2e";
const VM_WRITE: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write";
const VM_READ: &str = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read";
const NIC_WRITE: &str = "Microsoft.Network/networkInterfaces/write";

/// The scale set's instances: (computer name, resource ID, the addresses of its NIC's
/// ipConfigurations, primary first).
fn instances(mock: &Handle) -> Vec<(String, String, Vec<String>)> {
    mock.with_cloud(|c| {
        c.azure
            .nodes()
            .map(|vm: &Value| {
                let id = vm["id"].as_str().unwrap_or_default().to_string();
                let name = vm["properties"]["osProfile"]["computerName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
                    .as_str()
                    .and_then(|n| c.azure.lookup(n))
                    .map(private_ips)
                    .unwrap_or_default();
                (name, id, nic)
            })
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_set_nodes_get_ip_configurations_through_their_instance_models() {
    let mock = azure_env::mock(AzureWorld::default()).await;
    let nodes = instances(&mock);
    assert_eq!(nodes.len(), 2);
    let seen: Vec<NodeSeen> = nodes
        .iter()
        .map(|(name, id, ips)| {
            assert!(id.contains("/virtualMachineScaleSets/"), "{id}");
            azure_env::node_seen(name, id, &ips[0])
        })
        .collect();

    let cloud = azure_env::connect(&mock, &nodes[0].0, CLUSTER).await;
    let counts = cloud.counts().clone();
    let mut ipam = AllocatorConfig::default();
    ipam.knobs.warm_ip_target = 16;
    ipam.resync = Duration::from_secs(1);
    let settings = Settings {
        ipam: Some(ipam),
        ..Settings::default()
    };
    let controllers = Controllers::start(cloud.cloud(), settings, &seen).await;

    for (name, _, _) in &nodes {
        common::network_ready_when(&controllers.admin, name, |s| {
            azure_env::ip_configurations(s, 16)
        })
        .await;
    }
    let now = instances(&mock);
    let mut all = BTreeSet::new();
    for (name, _, ips) in &now {
        assert_eq!(ips.len(), 17, "{name}: {ips:?}");
        all.extend(ips.iter().cloned());
    }
    assert_eq!(all.len(), 34, "every address on one NIC only: {now:?}");
    assert_eq!(counts.of(VM_WRITE), 2, "{:?}", counts.snapshot());
    assert_eq!(counts.of(NIC_WRITE), 0, "{:?}", counts.snapshot());

    // The allocator's second pass (resync every second) writes nothing.
    let reads = counts.total();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(counts.total() > reads, "no second pass happened");
    assert_eq!(counts.mutating(), 2, "{:?}", counts.snapshot());
    assert!(counts.of(VM_READ) >= 2);

    controllers.stop().await;
}
