//! The one listing of the region's load balancer stacks a provider reads for the first
//! observe of each stack, kept as the SDK returned it (`lb/inventory.rs` reads and converts
//! it). A leaf module: the provider holds the cache, the load balancer code fills and reads
//! it, and neither needs the other to name these types.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_ec2::types::SecurityGroup;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, TargetGroup};

/// Every load balancer and target group in the region, the tags of those named as ours
/// (`k8s-*`), and the VPC's `k8s-*` security groups, as read at `read_at`.
#[derive(Debug)]
pub(crate) struct StackListing {
    pub read_at: Instant,
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
    /// By ARN.
    pub tags: HashMap<String, BTreeMap<String, String>>,
    pub security_groups: Vec<SecurityGroup>,
}

#[derive(Default)]
pub(crate) struct StackListingCache {
    /// Read once, on the first observe; None when the listing failed.
    pub listing: tokio::sync::OnceCell<Option<Arc<StackListing>>>,
    /// Stacks (load balancer names) this provider has observed or written.
    pub seen: Mutex<HashSet<String>>,
}
