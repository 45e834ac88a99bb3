//! The AKS-like side of `cloudnet sandbox --provider azure`: the mock's AKS world
//! ([`cloudnet_mockcloud::azure::AzureWorld::aks`], its pool a scale set as AKS's default),
//! its instances (or, in a `--world` with an availability-set pool, its VMs) registered as AKS
//! registers nodes, and the cluster's VNet, node subnet and route table as AKS's `azure.json`
//! names them. Pod ipConfigurations reach a scale-set instance's NIC through the instance's
//! model (the Compute API), a standalone VM's through a NIC PUT.
//!
//! The registration and the network lookup are shared with the fault suite
//! ([`cloudnet_faults::clouds::azure`]), which starts the same kind of world.

pub use cloudnet_faults::clouds::azure::{AksNetwork, MAX_PODS, network, nodes_from_cloud};

/// The bearer token the sandbox's controller presents (the mock takes any).
pub const CONTROLLER_TOKEN: &str = "cloudnet-sandbox-controller";
