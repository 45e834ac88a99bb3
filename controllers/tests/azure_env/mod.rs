//! The controllers on the mock's Azure: the backend as `cloudnet-controller --provider azure`
//! builds it on a node (IMDS as that node, then the ARM port, azure_mgmt_network with a
//! static token), and what a test reads of the mock's ARM state.
#![allow(dead_code)]

use cloudnet_azure::{AzureCloud, AzureConfig, ClusterNetwork};
use cloudnet_crds::NodeNetworkStatus;
use cloudnet_mockcloud::azure::AzureWorld;
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use serde_json::Value;

use crate::common::NodeSeen;

#[path = "../../../providers/azure/tests/common/mod.rs"]
mod azure;

/// The mock cloud with `azure` as its world.
pub async fn mock(azure: AzureWorld) -> Handle {
    let world = World {
        azure: Some(azure),
        ..World::default()
    };
    MockCloud::start(Config::ephemeral(world))
        .await
        .expect("the mock cloud starts")
}

/// The mock's resources of one ARM type (`Microsoft.Network/loadBalancers`).
pub fn resources(mock: &Handle, type_: &str) -> Vec<Value> {
    mock.with_cloud(|c| c.azure.of_type(type_).cloned().collect())
}

/// What `cloudnet-controller --provider azure` builds on the VM `node` for `cluster`
/// (the AKS sandbox's VNet, subnet and route table), with the mock's quick retries.
pub async fn connect(mock: &Handle, node: &str, cluster: &str) -> AzureCloud {
    let endpoints = azure::endpoints(mock, Some(node));
    let made = AzureConfig::for_mock(&endpoints, &ClusterNetwork::aks_sandbox(), cluster).await;
    let mut cfg = made.expect("IMDS answers");
    cfg.retry = azure::quick_retry();
    AzureCloud::connect(cfg).expect("the Azure backend connects")
}

/// The Node of the VM `name` (resource ID `id`, first address `ip`) as AKS's kubelet
/// registers it.
pub fn node_seen<'a>(name: &'a str, id: &str, ip: &str) -> NodeSeen<'a> {
    NodeSeen {
        name,
        provider_id: format!("azure://{id}"),
        zone: "0",
        ip: ip.to_string(),
    }
}

/// One NIC holding `n` secondary ipConfigurations, as a NodeNetwork's status lists them.
pub fn ip_configurations(s: &NodeNetworkStatus, n: usize) -> bool {
    let Some(nic) = s.interfaces.first() else {
        return false;
    };
    let secondaries = nic
        .blocks
        .iter()
        .filter(|b| !b.primary && b.kind == "ipConfiguration")
        .count();
    s.interfaces.len() == 1 && secondaries == n
}
