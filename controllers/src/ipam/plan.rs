//! Decide: from what the cloud has on a node and what the node asks, the ordered cloud
//! steps of one round. Pure; [`super::apply`] performs the steps.
//!
//! Order: releases first (they free slots), then blocks on the interfaces the node has (lowest
//! index first, each filled before the next), then new interfaces (created with their first
//! blocks in the same call), then detaching our interfaces that hold nothing any more.
//!
//! Release offers are checked against the cloud before anything is released: an offer for
//! an interface of another node, or for an interface's primary address, is refused (and
//! reported), never executed; an offer for a block the interface no longer has is already
//! done and is acknowledged without a call.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{
    AddressCapabilities, AssignBlocks, AttachInterface, BlockKind, InterfaceId, NodeInterfaces,
};
use cloudnet_crds::ReleaseOffer;
use ipnet::IpNet;
use serde::Serialize;

use super::target::{PoolCounts, PoolKnobs, PoolTarget, pool_target};

/// Where new interfaces go (from an `InterfaceConfig`, or the primary interface's subnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewInterface {
    pub subnet_id: String,
    /// Empty: the node's primary security groups.
    pub security_groups: Vec<String>,
}

/// Everything one round decides on.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub knobs: &'a PoolKnobs,
    pub node: &'a NodeInterfaces,
    pub capabilities: &'a AddressCapabilities,
    pub in_use: u32,
    pub offers: &'a [ReleaseOffer],
    /// `status.released`: blocks released earlier whose offers the node has not dropped yet.
    pub released: &'a [IpNet],
    /// Where a new interface would go; `None` when it cannot be known (a named
    /// `InterfaceConfig` that does not exist), and then no interface is attached.
    pub new_interface: Option<NewInterface>,
}

/// One cloud call (or a few, for an attach) of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Step {
    Release {
        interface: InterfaceId,
        blocks: Vec<IpNet>,
    },
    Assign(AssignBlocks),
    Attach(AttachInterface),
    Detach {
        interface: InterfaceId,
    },
}

/// An offer that is not carried out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedOffer {
    pub offer: ReleaseOffer,
    pub reason: &'static str,
}

/// One round's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub target: PoolTarget,
    pub kind: BlockKind,
    pub steps: Vec<Step>,
    /// Offers whose blocks are already gone from the cloud: listed as released with no call.
    pub already_gone: Vec<IpNet>,
    pub refused: Vec<RefusedOffer>,
    /// `status.released` after the round, before the releases of `steps` are added: entries
    /// whose offers the node dropped are forgotten (the handshake's last step).
    pub released_kept: Vec<IpNet>,
    /// Blocks the plan could not place (no free slot, no interface may be added).
    pub unplaced_blocks: u32,
}

impl Plan {
    /// Nothing for the cloud and nothing new for the status.
    pub fn is_idle(&self) -> bool {
        self.steps.is_empty() && self.already_gone.is_empty()
    }
}

/// The pool counts of a node as the cloud has it, offered blocks excluded.
pub fn counts(node: &NodeInterfaces, in_use: u32, offered: &BTreeSet<IpNet>) -> PoolCounts {
    let held: u64 = node
        .interfaces
        .iter()
        .flat_map(|i| &i.blocks)
        .filter(|b| !b.primary && !offered.contains(&b.cidr))
        .map(|b| b.size())
        .sum();
    PoolCounts {
        max_interfaces: node.limits.max_interfaces,
        max_blocks_per_interface: node.limits.max_blocks_per_interface,
        held: u32::try_from(held).unwrap_or(u32::MAX),
        in_use,
    }
}

/// The round's steps.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let node = input.node;
    let kind =
        if input.knobs.prefix_delegation && node.limits.block_kinds.contains(&BlockKind::Prefix) {
            BlockKind::Prefix
        } else if node
            .limits
            .block_kinds
            .contains(&BlockKind::IpConfiguration)
        {
            // Azure's single addresses are NIC ipConfigurations.
            BlockKind::IpConfiguration
        } else {
            BlockKind::SecondaryIp
        };
    let mut knobs = input.knobs.clone();
    knobs.prefix_delegation = kind == BlockKind::Prefix;

    // The handshake: what to release, what is done already, what to refuse.
    let released_before: BTreeSet<IpNet> = input.released.iter().copied().collect();
    let offered: BTreeSet<IpNet> = input.offers.iter().map(|o| o.block).collect();
    let released_kept: Vec<IpNet> = input
        .released
        .iter()
        .filter(|b| offered.contains(b))
        .copied()
        .collect();
    let mut releases: BTreeMap<InterfaceId, Vec<IpNet>> = BTreeMap::new();
    let mut already_gone = Vec::new();
    let mut refused = Vec::new();
    let mut counted_offers = BTreeSet::new();
    for offer in input.offers {
        if released_before.contains(&offer.block) {
            continue;
        }
        let id = InterfaceId(offer.interface.clone());
        let Some(interface) = node.interface(&id) else {
            refused.push(RefusedOffer {
                offer: offer.clone(),
                reason: "InterfaceNotOnNode",
            });
            continue;
        };
        match interface.blocks.iter().find(|b| b.cidr == offer.block) {
            Some(b) if b.primary => refused.push(RefusedOffer {
                offer: offer.clone(),
                reason: "PrimaryAddress",
            }),
            Some(_) => {
                counted_offers.insert(offer.block);
                releases.entry(id).or_default().push(offer.block);
            }
            None => already_gone.push(offer.block),
        }
    }

    let target = pool_target(&knobs, counts(node, input.in_use, &counted_offers));
    let mut steps: Vec<Step> = releases
        .iter()
        .map(|(interface, blocks)| Step::Release {
            interface: interface.clone(),
            blocks: blocks.clone(),
        })
        .collect();

    // Fill the interfaces the node has, lowest index first, within MAX_ENI.
    let per_call = input.capabilities.max_blocks_per_call.max(1);
    let mut remaining = target.deficit_blocks;
    let mut filled = BTreeSet::new();
    let mut usable: Vec<_> = node
        .interfaces
        .iter()
        .filter(|i| i.index < target.max_interfaces)
        .collect();
    usable.sort_by_key(|i| i.index);
    for i in &usable {
        if remaining == 0 {
            break;
        }
        let freed = releases.get(&i.id).map_or(0, Vec::len);
        let used = i.blocks.len().saturating_sub(freed);
        let free = node
            .limits
            .max_blocks_per_interface
            .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX));
        let mut n = free.min(remaining);
        while n > 0 {
            let count = n.min(per_call);
            steps.push(Step::Assign(AssignBlocks {
                interface: i.id.clone(),
                kind,
                count,
                prefix_len: None,
            }));
            filled.insert(i.id.clone());
            n -= count;
            remaining -= count;
        }
    }

    // New interfaces, each created with its first blocks.
    let slots = node.limits.max_blocks_per_interface.saturating_sub(1);
    let mut attached = usable.len() as u32;
    if input.capabilities.hot_plug_interfaces
        && let Some(new) = &input.new_interface
    {
        while remaining > 0 && attached < target.max_interfaces && slots > 0 {
            let initial = remaining.min(slots);
            steps.push(Step::Attach(AttachInterface {
                subnet_id: new.subnet_id.clone(),
                security_groups: new.security_groups.clone(),
                initial_blocks: initial,
                block_kind: kind,
                description: format!("cloudnet pod addresses for {}", node.node.name),
            }));
            remaining -= initial;
            attached += 1;
        }
    }

    // Our interfaces left with nothing: detach them when nothing more is wanted.
    if remaining == 0 && target.deficit_blocks == 0 {
        for i in &node.interfaces {
            if i.is_primary() || !i.owned || filled.contains(&i.id) {
                continue;
            }
            let freed: BTreeSet<IpNet> = releases
                .get(&i.id)
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            let holds = i
                .blocks
                .iter()
                .any(|b| !b.primary && !freed.contains(&b.cidr));
            if !holds {
                steps.push(Step::Detach {
                    interface: i.id.clone(),
                });
            }
        }
    }

    Plan {
        target,
        kind,
        steps,
        already_gone,
        refused,
        released_kept,
        unplaced_blocks: remaining,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
