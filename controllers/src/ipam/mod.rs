//! The pod address allocator: one per cluster, the only caller of the cloud's address API
//! (Cilium's operator IPAM), serving each node's `NodeNetwork`.
//!
//! See the crate README for the knobs, the CRDs and the release handshake. On a cloud whose
//! VM interfaces are fixed (GCE), [`node_range`] gives each node one pod range instead.

pub mod allocator;
pub mod apply;
pub mod interface_config;
pub mod metrics;
pub mod node_range;
pub mod plan;
pub mod provider_id;
pub mod queue;
pub mod round;
pub mod status;
pub mod target;
#[cfg(test)]
mod test_node;

pub use allocator::{Allocator, AllocatorConfig};
pub use target::{PoolKnobs, PoolTarget, pool_target};
