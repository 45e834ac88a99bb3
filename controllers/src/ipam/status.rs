//! A node's `NodeNetwork` status from a round's outcome (pure), and the way back: the pool
//! counts read from a status, so the allocator can rank nodes and skip idle ones without
//! calling the cloud.
//!
//! Conditions:
//!
//! | Type | True when | Reason |
//! |---|---|---|
//! | `Ready` | the pool holds its target (capped at what the node can hold) | `PoolAtTarget` / `PoolBelowTarget` or the cloud's error code |
//! | `SubnetExhausted` | the cloud answered that the subnet has no free addresses or /28 blocks | the cloud's code (`InsufficientFreeAddressesInSubnet`, `InsufficientCidrBlocks`) |
//! | `LimitReached` | the knobs ask for more than the node can hold, or the cloud refused a limit | `InstanceLimit` / the cloud's code |
//! | `Synced` | the last round's cloud calls all succeeded | `Synced` or the cloud's error code |

use std::collections::BTreeSet;

use cloudnet_core::{
    AddressBlock, AddressLimits, BlockKind, Error, Interface, InterfaceId, NodeInterfaces, NodeRef,
};
use cloudnet_crds::{
    BlockStatus, InterfaceLimits, InterfaceStatus, NodeNetworkStatus, PoolSummary,
};
use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::plan::counts;
use super::target::{PoolCounts, PoolTarget};

pub const READY: &str = "Ready";
pub const SUBNET_EXHAUSTED: &str = "SubnetExhausted";
pub const LIMIT_REACHED: &str = "LimitReached";
pub const SYNCED: &str = "Synced";

/// The wire name of a block kind, as the CRD documents it.
pub fn kind_name(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::SecondaryIp => "secondaryIp",
        BlockKind::Prefix => "prefix",
        BlockKind::AliasRange => "aliasRange",
        BlockKind::IpConfiguration => "ipConfiguration",
    }
}

/// The interfaces as the status lists them.
pub fn interfaces(node: &NodeInterfaces) -> Vec<InterfaceStatus> {
    node.interfaces
        .iter()
        .map(|i| InterfaceStatus {
            id: i.id.0.clone(),
            index: i.index,
            subnet_id: i.subnet_id.clone(),
            subnet_cidr: i.subnet_cidr,
            mac: i.mac.clone(),
            security_groups: i.security_groups.clone(),
            owned: i.owned,
            blocks: i
                .blocks
                .iter()
                .map(|b| BlockStatus {
                    cidr: b.cidr,
                    kind: kind_name(b.kind).to_string(),
                    primary: b.primary,
                })
                .collect(),
        })
        .collect()
}

/// The counts a status shows, for ranking and for deciding whether a round is needed.
/// `None` before the first round (no limits known).
pub fn counts_from_status(
    status: &NodeNetworkStatus,
    in_use: u32,
    offered: &BTreeSet<IpNet>,
) -> Option<PoolCounts> {
    let limits = status.limits.as_ref()?;
    let held: u64 = status
        .interfaces
        .iter()
        .flat_map(|i| &i.blocks)
        .filter(|b| !b.primary && !offered.contains(&b.cidr))
        .map(|b| match b.cidr {
            IpNet::V4(n) => 1u64 << (32 - u32::from(n.prefix_len())),
            IpNet::V6(_) => 1,
        })
        .sum();
    Some(PoolCounts {
        max_interfaces: limits.max_interfaces,
        max_blocks_per_interface: limits.max_blocks_per_interface,
        held: u32::try_from(held).unwrap_or(u32::MAX),
        in_use,
    })
}

/// The node as the status last showed it, in the cloud model, so a round can be planned
/// without a cloud call. `None` before the first round.
pub fn node_from_status(status: &NodeNetworkStatus, node: &NodeRef) -> Option<NodeInterfaces> {
    let limits = status.limits.as_ref()?;
    let kind = |k: &str| match k {
        "prefix" => BlockKind::Prefix,
        "aliasRange" => BlockKind::AliasRange,
        "ipConfiguration" => BlockKind::IpConfiguration,
        _ => BlockKind::SecondaryIp,
    };
    Some(NodeInterfaces {
        node: node.clone(),
        instance_type: status.instance_type.clone().unwrap_or_default(),
        limits: AddressLimits {
            max_interfaces: limits.max_interfaces,
            max_blocks_per_interface: limits.max_blocks_per_interface,
            block_kinds: limits.block_kinds.iter().map(|k| kind(k)).collect(),
        },
        interfaces: status
            .interfaces
            .iter()
            .map(|i| Interface {
                id: InterfaceId(i.id.clone()),
                index: i.index,
                subnet_id: i.subnet_id.clone(),
                subnet_cidr: i.subnet_cidr,
                mac: i.mac.clone(),
                security_groups: i.security_groups.clone(),
                owned: i.owned,
                blocks: i
                    .blocks
                    .iter()
                    .map(|b| AddressBlock {
                        cidr: b.cidr,
                        kind: kind(&b.kind),
                        primary: b.primary,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// One condition's wanted state.
struct Cond {
    type_: &'static str,
    ok: bool,
    reason: String,
    message: String,
}

/// Keeps `lastTransitionTime` when the status of a condition did not change.
fn merge(
    previous: &[Condition],
    wanted: Vec<Cond>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    wanted
        .into_iter()
        .map(|c| {
            let status = if c.ok { "True" } else { "False" }.to_string();
            let since = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == status)
                .map_or(Time(now), |p| p.last_transition_time.clone());
            Condition {
                type_: c.type_.to_string(),
                status,
                reason: c.reason,
                message: c.message,
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

/// What the status is built from.
pub struct StatusInput<'a> {
    pub previous: Option<&'a NodeNetworkStatus>,
    pub node: &'a NodeInterfaces,
    pub in_use: u32,
    pub offered: &'a BTreeSet<IpNet>,
    /// `status.released` after the round.
    pub released: Vec<IpNet>,
    /// The target recomputed on the node after the round.
    pub target: &'a PoolTarget,
    pub failure: Option<&'a Error>,
    /// Why no interface could be attached, when that is why the pool is short.
    pub blocked: Option<(&'static str, String)>,
    pub generation: Option<i64>,
    pub now: Timestamp,
}

/// The status to write.
pub fn build(input: StatusInput<'_>) -> NodeNetworkStatus {
    let t = input.target;
    let held = counts(input.node, input.in_use, input.offered).held;
    let at_target = held >= t.target;
    let code = input.failure.map(|e| e.code().to_string());
    let message = input.failure.map(ToString::to_string);

    let ready = if at_target {
        Cond {
            type_: READY,
            ok: true,
            reason: "PoolAtTarget".into(),
            message: format!("{held} addresses held, target {}", t.target),
        }
    } else {
        let (reason, msg) = match (&code, &input.blocked) {
            (Some(c), _) => (c.clone(), message.clone().unwrap_or_default()),
            (None, Some((r, m))) => ((*r).to_string(), m.clone()),
            (None, None) => ("PoolBelowTarget".into(), String::new()),
        };
        Cond {
            type_: READY,
            ok: false,
            reason,
            message: format!("{held} addresses held, target {}. {msg}", t.target)
                .trim_end_matches(". ")
                .to_string(),
        }
    };
    let exhausted = matches!(input.failure, Some(Error::InsufficientCapacity { .. }));
    let subnet = Cond {
        type_: SUBNET_EXHAUSTED,
        ok: exhausted,
        reason: if exhausted {
            code.clone().unwrap_or_default()
        } else {
            "AddressesAvailable".into()
        },
        message: if exhausted {
            message.clone().unwrap_or_default()
        } else {
            String::new()
        },
    };
    let cloud_limit = matches!(input.failure, Some(Error::LimitExceeded { .. }));
    let limit = Cond {
        type_: LIMIT_REACHED,
        ok: t.limit_reached || cloud_limit,
        reason: if cloud_limit {
            code.clone().unwrap_or_default()
        } else if t.limit_reached {
            "InstanceLimit".into()
        } else {
            "WithinLimits".into()
        },
        message: if t.limit_reached || cloud_limit {
            format!(
                "the pool wants {} addresses, the node holds at most {} ({} interfaces)",
                t.wanted, t.capacity, t.max_interfaces
            )
        } else {
            String::new()
        },
    };
    let synced = Cond {
        type_: SYNCED,
        ok: input.failure.is_none(),
        reason: code.clone().unwrap_or_else(|| "Synced".into()),
        message: message.clone().unwrap_or_default(),
    };
    let previous = input.previous.map_or(&[][..], |p| &p.conditions[..]);
    let conditions = merge(
        previous,
        vec![ready, subnet, limit, synced],
        input.generation,
        input.now,
    );
    let addresses: u64 = input
        .node
        .interfaces
        .iter()
        .flat_map(|i| &i.blocks)
        .filter(|b| !b.primary)
        .map(|b| b.size())
        .sum();
    NodeNetworkStatus {
        instance_type: Some(input.node.instance_type.clone()),
        limits: Some(InterfaceLimits {
            max_interfaces: input.node.limits.max_interfaces,
            max_blocks_per_interface: input.node.limits.max_blocks_per_interface,
            block_kinds: input
                .node
                .limits
                .block_kinds
                .iter()
                .map(|k| kind_name(*k).to_string())
                .collect(),
        }),
        interfaces: interfaces(input.node),
        released: input.released,
        summary: PoolSummary {
            interfaces: u32::try_from(input.node.interfaces.len()).unwrap_or(u32::MAX),
            addresses: u32::try_from(addresses).unwrap_or(u32::MAX),
            target: t.target,
            releasable: t.excess_blocks * t.block_size,
        },
        conditions,
        last_sync: Some(Time(input.now)),
        observed_generation: input.generation,
    }
}

/// The status of one condition type, if set.
pub fn condition<'a>(status: &'a NodeNetworkStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
