//! `NodeNetwork`: one per node, the contract between the node's ipamd and the allocator.
//!
//! ```text
//!   ipamd (node, no cloud credentials)            allocator (controller, one cloud budget)
//!   writes spec: inUse, release offers   ──────>  reads spec, computes deficit / excess
//!   reads status: interfaces, blocks     <──────  writes status from what the cloud answered
//! ```
//!
//! The release handshake (Cilium's operator IPAM, node-initiated here): ipamd offers a block
//! it no longer needs in `spec.release` (only after the block's addresses have cooled down for
//! `IP_COOLDOWN_PERIOD`, and an offer is final: ipamd never hands out an address of an offered
//! block again); the allocator releases the block in the cloud and lists it in
//! `status.released`; ipamd forgets the block and drops the offer; the allocator then drops it
//! from `status.released`. No step depends on timing, so a crash of either side at any point
//! leaves nothing handed out twice.

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the node asks for (written by the node's ipamd; the pool policy may also be set by an
/// administrator to override the allocator's defaults for this one node).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "cloudnet.io",
    version = "v1alpha1",
    kind = "NodeNetwork",
    plural = "nodenetworks",
    shortname = "nn",
    status = "NodeNetworkStatus",
    printcolumn = r#"{"name":"Instance-Type","type":"string","jsonPath":".status.instanceType"}"#,
    printcolumn = r#"{"name":"Interfaces","type":"integer","jsonPath":".status.summary.interfaces"}"#,
    printcolumn = r#"{"name":"Addresses","type":"integer","jsonPath":".status.summary.addresses"}"#,
    printcolumn = r#"{"name":"Target","type":"integer","jsonPath":".status.summary.target"}"#,
    printcolumn = r#"{"name":"In-Use","type":"integer","jsonPath":".spec.inUse"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetworkSpec {
    /// The Node's `spec.providerID` (`aws:///us-west-2a/i-0123...`), so the allocator finds
    /// the instance without reading the Node.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// Overrides of the allocator's pool knobs for this node; unset fields take the
    /// allocator's defaults.
    #[serde(default)]
    pub pool: PoolPolicy,
    /// The `InterfaceConfig` for new interfaces of this node (custom networking). Unset: the
    /// allocator picks one by the node's label, else the subnet of the primary interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_config: Option<String>,
    /// Pod addresses in use on the node now.
    #[serde(default)]
    pub in_use: u32,
    /// Blocks the node offers back (free, cooled down). Final: the node never uses them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release: Vec<ReleaseOffer>,
}

/// `WARM_IP_TARGET` on Azure when none of the pool knobs is given: Azure CNI's dynamic
/// allocation batch (16 ipConfigurations, one NIC write). An Azure NIC has 255 pod slots and
/// a VM's NICs are fixed, so the VPC CNI's default (`WARM_ENI_TARGET=1`, a whole interface's
/// worth of free addresses) would take 255 addresses of the subnet for every node.
pub const AZURE_WARM_IP_TARGET: u32 = 16;

/// The VPC CNI's pool knobs, with its names. The allocator documents the precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolPolicy {
    /// `WARM_ENI_TARGET`: whole free interfaces to keep attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_eni_target: Option<u32>,
    /// `WARM_IP_TARGET`: free addresses to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_ip_target: Option<u32>,
    /// `MINIMUM_IP_TARGET`: addresses to hold at least, used or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_ip_target: Option<u32>,
    /// `WARM_PREFIX_TARGET`: free /28 prefixes to keep (prefix delegation only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_prefix_target: Option<u32>,
    /// `MAX_ENI`: interfaces at most, below the instance type's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_eni: Option<u32>,
    /// `ENABLE_PREFIX_DELEGATION`: /28 prefixes instead of single secondary addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_delegation: Option<bool>,
}

/// A block the node hands back.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOffer {
    /// The interface the block is on.
    pub interface: String,
    #[schemars(with = "String")]
    pub block: IpNet,
}

/// What the cloud gave the node (written only by the allocator).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeNetworkStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<InterfaceLimits>,
    /// The node's interfaces and their blocks, as the cloud answered them last.
    #[serde(default)]
    pub interfaces: Vec<InterfaceStatus>,
    /// Blocks the allocator has released in the cloud from the node's offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub released: Vec<IpNet>,
    /// Counts for `kubectl get nodenetworks`.
    #[serde(default)]
    pub summary: PoolSummary,
    /// `Ready` (the pool meets its target), `SubnetExhausted`, `LimitReached`, `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The node's limits, from its instance type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceLimits {
    pub max_interfaces: u32,
    /// Address slots per interface, the primary included (a /28 prefix takes one slot).
    pub max_blocks_per_interface: u32,
    /// `secondaryIp`, `prefix`, `aliasRange`, `ipConfiguration`.
    #[serde(default)]
    pub block_kinds: Vec<String>,
}

/// One interface of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    /// `eni-...` on AWS.
    pub id: String,
    /// Device index; 0 is the primary interface.
    pub index: u32,
    pub subnet_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub subnet_cidr: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Created by cloudnet (ours to detach and delete).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owned: bool,
    pub blocks: Vec<BlockStatus>,
}

/// One address block on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockStatus {
    #[schemars(with = "String")]
    pub cidr: IpNet,
    /// `secondaryIp`, `prefix`, `aliasRange`, `ipConfiguration`.
    pub kind: String,
    /// The interface's own address: never given to a pod.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
}

/// Counts shown by `kubectl get nodenetworks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolSummary {
    pub interfaces: u32,
    /// Pod addresses the node holds (primaries excluded).
    pub addresses: u32,
    /// Addresses the pool is to hold under the knobs (capped at what the node can hold).
    #[serde(default)]
    pub target: u32,
    /// Addresses the node may offer back in `spec.release` and still meet the target: an
    /// ipamd offers free, cooled-down blocks up to this many.
    #[serde(default)]
    pub releasable: u32,
}
