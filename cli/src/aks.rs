//! The AKS-like side of `cloudnet sandbox --provider azure`: the mock's availability-set world
//! ([`cloudnet_mockcloud::azure::AzureWorld::availability_set`]), its VMs registered as AKS
//! registers nodes, and the cluster's VNet, node subnet and route table as AKS's `azure.json`
//! names them.
//!
//! The pool is an availability set (AKS `--vm-set-type AvailabilitySet`), not AKS's default
//! scale set: the Network API takes new ipConfigurations on a standalone VM's NIC, but a
//! scale-set instance's come only from the scale set's model, which the backend does not
//! write (`ScaleSetNicNotWritable`). A `--world` whose Azure pool is a scale set registers its
//! instances too, and the allocator reports that error on their NodeNetworks.
//!
//! The registration and the network lookup are shared with the fault suite
//! ([`cloudnet_faults::clouds::azure`]), which starts the same world.

pub use cloudnet_faults::clouds::azure::{AksNetwork, MAX_PODS, network, nodes_from_cloud};

/// The bearer token the sandbox's controller presents (the mock takes any).
pub const CONTROLLER_TOKEN: &str = "cloudnet-sandbox-controller";
