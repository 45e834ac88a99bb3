//! Pod addresses on a node: interfaces and the address blocks the cloud hands them.
//!
//! One model serves the three clouds. A block is a CIDR on an interface: a /32 secondary IP
//! (AWS) or ipConfiguration (Azure), an AWS /28 delegated prefix, a GCP alias range (often a
//! /24). A node has interfaces up to its limit, each with blocks up to its limit.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A node as the cloud knows it: the instance (AWS `i-…`), the VM (GCE
/// `projects/p/zones/z/instances/n`, Azure VM resource ID), taken from the Node's providerID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRef {
    /// The Kubernetes node name.
    pub name: String,
    /// The cloud's instance ID.
    pub instance_id: String,
    /// Zone (or region for Azure without zones), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// The cloud's ID of a network interface (ENI `eni-…`, GCE `nic0`, Azure NIC resource ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InterfaceId(pub String);

impl std::fmt::Display for InterfaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of block the cloud hands out; decides its size and how it is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockKind {
    /// One secondary private IP (AWS), a /32.
    SecondaryIp,
    /// An AWS delegated IPv4 prefix, a /28 (16 addresses).
    Prefix,
    /// A GCE alias IP range from a secondary range of the subnet (any size, often /24).
    AliasRange,
    /// An Azure NIC ipConfiguration, a /32.
    IpConfiguration,
}

impl BlockKind {
    /// The prefix length of one block of this kind, where the cloud fixes it.
    pub fn fixed_prefix_len(self) -> Option<u8> {
        match self {
            BlockKind::SecondaryIp | BlockKind::IpConfiguration => Some(32),
            BlockKind::Prefix => Some(28),
            BlockKind::AliasRange => None,
        }
    }
}

/// One block of addresses on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBlock {
    pub cidr: IpNet,
    pub kind: BlockKind,
    /// The interface's primary address: never handed to a pod, never released.
    #[serde(default)]
    pub primary: bool,
}

impl AddressBlock {
    /// How many pod addresses the block holds.
    pub fn size(&self) -> u64 {
        match self.cidr {
            IpNet::V4(n) => 1u64 << (32 - u32::from(n.prefix_len())),
            IpNet::V6(n) => 1u64 << (128 - u32::from(n.prefix_len())).min(63),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip)
    }
}

/// The node's limits, per its instance type (or VM size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressLimits {
    /// Interfaces the node may have, the primary included.
    pub max_interfaces: u32,
    /// Address slots per interface, the primary address included (an AWS /28 prefix takes
    /// one slot, like a secondary IP).
    pub max_blocks_per_interface: u32,
    /// The block kinds this node supports (AWS prefixes need a Nitro instance type).
    pub block_kinds: Vec<BlockKind>,
}

impl AddressLimits {
    /// Addresses the node can hold for pods at most with one block kind: every slot but the
    /// primary, on every interface, times the block size.
    pub fn max_pod_addresses(&self, kind: BlockKind) -> u64 {
        let per_block = kind
            .fixed_prefix_len()
            .map_or(256, |l| 1u64 << (32 - u64::from(l)));
        u64::from(self.max_interfaces)
            * u64::from(self.max_blocks_per_interface.saturating_sub(1))
            * per_block
    }
}

/// One interface and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub id: InterfaceId,
    /// Device index (AWS), NIC index (GCE, Azure). 0 is the primary.
    pub index: u32,
    pub subnet_id: String,
    /// The subnet's CIDR, so the node can route and the allocator can plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_cidr: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    pub blocks: Vec<AddressBlock>,
    /// Created by this suite (carries its ownership tags) and so its to detach and delete.
    #[serde(default)]
    pub owned: bool,
}

impl Interface {
    pub fn is_primary(&self) -> bool {
        self.index == 0
    }

    /// The addresses this interface can give pods (everything but the primary address).
    pub fn pod_capacity(&self) -> u64 {
        self.blocks
            .iter()
            .filter(|b| !b.primary)
            .map(AddressBlock::size)
            .sum()
    }
}

/// What `describe_node` answers: the node's limits and interfaces as the cloud has them now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInterfaces {
    pub node: NodeRef,
    pub instance_type: String,
    pub limits: AddressLimits,
    pub interfaces: Vec<Interface>,
}

impl NodeInterfaces {
    pub fn interface(&self, id: &InterfaceId) -> Option<&Interface> {
        self.interfaces.iter().find(|i| &i.id == id)
    }

    /// The lowest free interface index below the limit, if any.
    pub fn free_index(&self) -> Option<u32> {
        (0..self.limits.max_interfaces).find(|i| self.interfaces.iter().all(|n| n.index != *i))
    }

    /// Free block slots on an interface.
    pub fn free_slots(&self, id: &InterfaceId) -> u32 {
        self.interface(id).map_or(0, |i| {
            self.limits
                .max_blocks_per_interface
                .saturating_sub(u32::try_from(i.blocks.len()).unwrap_or(u32::MAX))
        })
    }
}

/// A request to add an interface to a node (where the cloud can hot-plug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachInterface {
    pub subnet_id: String,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Blocks to create together with the interface, to save a call.
    #[serde(default)]
    pub initial_blocks: u32,
    pub block_kind: BlockKind,
    pub description: String,
}

/// A request for more blocks on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignBlocks {
    pub interface: InterfaceId,
    pub kind: BlockKind,
    pub count: u32,
    /// For clouds where the caller picks the size (GCE alias ranges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
}

/// An interface this cluster created that no node holds: a leak for the allocator to clean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrphanInterface {
    pub id: InterfaceId,
    pub subnet_id: String,
    /// The node it was made for, from its tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Seconds since the Unix epoch, from its creation tag, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
}
