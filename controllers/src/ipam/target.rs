//! How many addresses a node's pool should hold: the VPC CNI's pool knobs and their
//! precedence, as pure arithmetic on counts.
//!
//! The knobs (names and defaults of the VPC CNI's `aws-node`):
//!
//! | Knob | Default | Means |
//! |---|---|---|
//! | `WARM_ENI_TARGET` | 1 | keep this many whole interfaces' worth of free addresses |
//! | `WARM_IP_TARGET` | unset | keep this many free addresses |
//! | `MINIMUM_IP_TARGET` | unset | hold at least this many addresses, used or not |
//! | `WARM_PREFIX_TARGET` | 1 | keep this many whole free /28 prefixes (prefix delegation) |
//! | `MAX_ENI` | unset | use at most this many interfaces (below the instance type's limit) |
//! | `ENABLE_PREFIX_DELEGATION` | false | hand out /28 prefixes instead of single addresses |
//!
//! Precedence, as `ipamd.go` decides it (`datastoreTargetState`, `isDatastorePoolTooLow`):
//!
//! 1. `WARM_IP_TARGET` or `MINIMUM_IP_TARGET` set (a value above 0) wins over both
//!    `WARM_ENI_TARGET` and `WARM_PREFIX_TARGET`: the pool holds
//!    `max(inUse + WARM_IP_TARGET, MINIMUM_IP_TARGET)` addresses, rounded up to whole /28s in
//!    prefix mode. Excess is what the pool holds above that, never below the minimum.
//! 2. Otherwise, in prefix mode, `WARM_PREFIX_TARGET` whole free /28s are kept: the pool holds
//!    `ceil(inUse / 16) + WARM_PREFIX_TARGET` prefixes (so one used address in a fresh prefix
//!    already asks for a second prefix, as the VPC CNI documents).
//! 3. Otherwise `WARM_ENI_TARGET` whole interfaces' worth of free addresses are kept, and the
//!    pool grows and shrinks by whole interfaces: it holds
//!    `ceil((inUse + WARM_ENI_TARGET × slots) / slots) × slots` addresses, `slots` being an
//!    interface's address slots less its primary (9 on an m5.large).
//!
//! With any rule the pool keeps at least one free address (a warm target of 0 would otherwise
//! leave the next pod waiting for a cloud call), and never holds more than the node can:
//! `min(interfaces, MAX_ENI) × (slots per interface − 1) × block size`. When the rule asks
//! for more than that, the target is capped and `limit_reached` says so (condition
//! `LimitReached`).
//!
//! Blocks the node has offered back (`spec.release`) are no longer counted as held: an offer
//! is final.

use serde::{Deserialize, Serialize};

/// Addresses in one /28 prefix.
pub const PREFIX_SIZE: u32 = 16;

/// The pool knobs with their defaults applied; the allocator's flags, then a node's
/// `spec.pool` overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolKnobs {
    pub warm_eni_target: u32,
    /// 0 = unset, as in the VPC CNI.
    pub warm_ip_target: u32,
    /// 0 = unset, as in the VPC CNI.
    pub minimum_ip_target: u32,
    pub warm_prefix_target: u32,
    pub max_eni: Option<u32>,
    pub prefix_delegation: bool,
}

impl Default for PoolKnobs {
    fn default() -> Self {
        PoolKnobs {
            warm_eni_target: 1,
            warm_ip_target: 0,
            minimum_ip_target: 0,
            warm_prefix_target: 1,
            max_eni: None,
            prefix_delegation: false,
        }
    }
}

impl PoolKnobs {
    /// These knobs with a node's own overrides applied field by field.
    pub fn with_overrides(&self, p: &cloudnet_crds::PoolPolicy) -> PoolKnobs {
        PoolKnobs {
            warm_eni_target: p.warm_eni_target.unwrap_or(self.warm_eni_target),
            warm_ip_target: p.warm_ip_target.unwrap_or(self.warm_ip_target),
            minimum_ip_target: p.minimum_ip_target.unwrap_or(self.minimum_ip_target),
            warm_prefix_target: p.warm_prefix_target.unwrap_or(self.warm_prefix_target),
            max_eni: p.max_eni.or(self.max_eni),
            prefix_delegation: p.prefix_delegation.unwrap_or(self.prefix_delegation),
        }
    }

    /// True when `WARM_IP_TARGET` or `MINIMUM_IP_TARGET` decides (rule 1).
    pub fn ip_targets_defined(&self) -> bool {
        self.warm_ip_target > 0 || self.minimum_ip_target > 0
    }
}

/// Which knob decided the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    /// `WARM_IP_TARGET` / `MINIMUM_IP_TARGET`.
    WarmIp,
    /// `WARM_PREFIX_TARGET`.
    WarmPrefix,
    /// `WARM_ENI_TARGET`.
    WarmEni,
}

/// The counts the arithmetic needs, whatever they were read from (the cloud, or a
/// `NodeNetwork`'s status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolCounts {
    /// Interfaces the instance type allows, the primary included.
    pub max_interfaces: u32,
    /// Address slots per interface, the primary address included.
    pub max_blocks_per_interface: u32,
    /// Pod addresses the node holds (primaries and offered blocks excluded).
    pub held: u32,
    /// Pod addresses in use (`spec.inUse`).
    pub in_use: u32,
}

/// What the pool should hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolTarget {
    pub rule: Rule,
    /// Addresses per block: 1, or 16 in prefix mode.
    pub block_size: u32,
    /// Interfaces usable: the instance type's limit, lowered by `MAX_ENI`.
    pub max_interfaces: u32,
    /// Addresses the node can hold at most.
    pub capacity: u32,
    /// Addresses the rule asks for, before the cap.
    pub wanted: u32,
    /// Addresses the pool is to hold: `min(wanted, capacity)`.
    pub target: u32,
    pub held: u32,
    /// Blocks to add to reach the target.
    pub deficit_blocks: u32,
    /// Blocks the node may hand back and still meet the target.
    pub excess_blocks: u32,
    /// The rule asks for more than the node can hold.
    pub limit_reached: bool,
}

impl PoolTarget {
    /// Addresses missing from the target.
    pub fn deficit(&self) -> u32 {
        self.target.saturating_sub(self.held)
    }
}

fn div_ceil(a: u32, b: u32) -> u32 {
    if b == 0 { 0 } else { a.div_ceil(b) }
}

/// The target for one node.
pub fn pool_target(knobs: &PoolKnobs, c: PoolCounts) -> PoolTarget {
    let block_size = if knobs.prefix_delegation {
        PREFIX_SIZE
    } else {
        1
    };
    let max_interfaces = knobs
        .max_eni
        .map_or(c.max_interfaces, |m| m.min(c.max_interfaces))
        .max(1);
    let slots = c.max_blocks_per_interface.saturating_sub(1);
    let capacity = max_interfaces
        .saturating_mul(slots)
        .saturating_mul(block_size);

    let (rule, wanted, floor) = if knobs.ip_targets_defined() {
        let wanted = c
            .in_use
            .saturating_add(knobs.warm_ip_target)
            .max(knobs.minimum_ip_target)
            .max(c.in_use.saturating_add(1));
        // Never release below the minimum, in whole blocks.
        let floor = div_ceil(knobs.minimum_ip_target, block_size) * block_size;
        (Rule::WarmIp, wanted, floor)
    } else if knobs.prefix_delegation {
        let warm = knobs.warm_prefix_target.saturating_mul(PREFIX_SIZE).max(1);
        (Rule::WarmPrefix, c.in_use.saturating_add(warm), 0)
    } else {
        let warm = knobs.warm_eni_target.saturating_mul(slots).max(1);
        let unit = slots.max(1);
        let wanted = div_ceil(c.in_use.saturating_add(warm), unit).saturating_mul(unit);
        (Rule::WarmEni, wanted, 0)
    };
    // Whole blocks.
    let wanted = div_ceil(wanted, block_size).saturating_mul(block_size);
    let target = wanted.min(capacity);
    let deficit_blocks = div_ceil(target.saturating_sub(c.held), block_size);
    // Keep the target, whole blocks of it, and never go below what is in use or the floor.
    let keep = target.max(floor).max(c.in_use);
    let excess_blocks = c.held.saturating_sub(keep) / block_size;
    PoolTarget {
        rule,
        block_size,
        max_interfaces,
        capacity,
        wanted,
        target,
        held: c.held,
        deficit_blocks,
        excess_blocks,
        limit_reached: wanted > capacity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// m5.large: 3 interfaces x 10 IPv4 slots.
    fn m5(held: u32, in_use: u32) -> PoolCounts {
        PoolCounts {
            max_interfaces: 3,
            max_blocks_per_interface: 10,
            held,
            in_use,
        }
    }

    fn knobs() -> PoolKnobs {
        PoolKnobs::default()
    }

    struct Case {
        name: &'static str,
        knobs: PoolKnobs,
        counts: PoolCounts,
        rule: Rule,
        target: u32,
        deficit_blocks: u32,
        excess_blocks: u32,
        limit_reached: bool,
    }

    #[test]
    fn knob_table() {
        let warm_ip = |w, m| PoolKnobs {
            warm_ip_target: w,
            minimum_ip_target: m,
            ..knobs()
        };
        let pd = |wp| PoolKnobs {
            prefix_delegation: true,
            warm_prefix_target: wp,
            ..knobs()
        };
        let cases = [
            Case {
                name: "default WARM_ENI_TARGET=1, empty node: one interface's worth",
                knobs: knobs(),
                counts: m5(0, 0),
                rule: Rule::WarmEni,
                target: 9,
                deficit_blocks: 9,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "one pod in use: a second whole interface",
                knobs: knobs(),
                counts: m5(9, 1),
                rule: Rule::WarmEni,
                target: 18,
                deficit_blocks: 9,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "nine in use still keeps nine free",
                knobs: knobs(),
                counts: m5(18, 9),
                rule: Rule::WarmEni,
                target: 18,
                deficit_blocks: 0,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "ten in use: all three interfaces",
                knobs: knobs(),
                counts: m5(18, 10),
                rule: Rule::WarmEni,
                target: 27,
                deficit_blocks: 9,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "nineteen in use: the warm interface cannot fit",
                knobs: knobs(),
                counts: m5(27, 19),
                rule: Rule::WarmEni,
                target: 27,
                deficit_blocks: 0,
                excess_blocks: 0,
                limit_reached: true,
            },
            Case {
                name: "pods gone: a whole interface's worth is excess",
                knobs: knobs(),
                counts: m5(27, 0),
                rule: Rule::WarmEni,
                target: 9,
                deficit_blocks: 0,
                excess_blocks: 18,
                limit_reached: false,
            },
            Case {
                name: "WARM_ENI_TARGET=2",
                knobs: PoolKnobs {
                    warm_eni_target: 2,
                    ..knobs()
                },
                counts: m5(0, 0),
                rule: Rule::WarmEni,
                target: 18,
                deficit_blocks: 18,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "WARM_ENI_TARGET=0 still keeps one free address, by whole interface",
                knobs: PoolKnobs {
                    warm_eni_target: 0,
                    ..knobs()
                },
                counts: m5(9, 9),
                rule: Rule::WarmEni,
                target: 18,
                deficit_blocks: 9,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "MAX_ENI=1 caps at the primary's nine",
                knobs: PoolKnobs {
                    max_eni: Some(1),
                    ..knobs()
                },
                counts: m5(9, 1),
                rule: Rule::WarmEni,
                target: 9,
                deficit_blocks: 0,
                excess_blocks: 0,
                limit_reached: true,
            },
            Case {
                name: "WARM_IP_TARGET=5 overrides WARM_ENI_TARGET",
                knobs: warm_ip(5, 0),
                counts: m5(0, 0),
                rule: Rule::WarmIp,
                target: 5,
                deficit_blocks: 5,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "WARM_IP_TARGET=5 with 3 in use",
                knobs: warm_ip(5, 0),
                counts: m5(5, 3),
                rule: Rule::WarmIp,
                target: 8,
                deficit_blocks: 3,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "WARM_IP_TARGET=5 with 12 held and 2 in use: 5 over",
                knobs: warm_ip(5, 0),
                counts: m5(12, 2),
                rule: Rule::WarmIp,
                target: 7,
                deficit_blocks: 0,
                excess_blocks: 5,
                limit_reached: false,
            },
            Case {
                name: "MINIMUM_IP_TARGET=10 holds ten while idle",
                knobs: warm_ip(2, 10),
                counts: m5(0, 0),
                rule: Rule::WarmIp,
                target: 10,
                deficit_blocks: 10,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "MINIMUM_IP_TARGET is a floor for release",
                knobs: warm_ip(2, 10),
                counts: m5(14, 1),
                rule: Rule::WarmIp,
                target: 10,
                deficit_blocks: 0,
                excess_blocks: 4,
                limit_reached: false,
            },
            Case {
                name: "MINIMUM_IP_TARGET=27 fills an m5.large exactly",
                knobs: warm_ip(0, 27),
                counts: m5(0, 0),
                rule: Rule::WarmIp,
                target: 27,
                deficit_blocks: 27,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "MINIMUM_IP_TARGET=28 is beyond an m5.large",
                knobs: warm_ip(0, 28),
                counts: m5(27, 0),
                rule: Rule::WarmIp,
                target: 27,
                deficit_blocks: 0,
                excess_blocks: 0,
                limit_reached: true,
            },
            Case {
                name: "27 in use leaves no free address: limit reached",
                knobs: warm_ip(0, 27),
                counts: m5(27, 27),
                rule: Rule::WarmIp,
                target: 27,
                deficit_blocks: 0,
                excess_blocks: 0,
                limit_reached: true,
            },
            Case {
                name: "prefix mode, WARM_PREFIX_TARGET=1, empty: one /28",
                knobs: pd(1),
                counts: m5(0, 0),
                rule: Rule::WarmPrefix,
                target: 16,
                deficit_blocks: 1,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "prefix mode, one address used: a second whole /28",
                knobs: pd(1),
                counts: m5(16, 1),
                rule: Rule::WarmPrefix,
                target: 32,
                deficit_blocks: 1,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "prefix mode, WARM_PREFIX_TARGET=3",
                knobs: pd(3),
                counts: m5(0, 0),
                rule: Rule::WarmPrefix,
                target: 48,
                deficit_blocks: 3,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "prefix mode, WARM_IP_TARGET=5 overrides WARM_PREFIX_TARGET",
                knobs: PoolKnobs {
                    warm_ip_target: 5,
                    ..pd(3)
                },
                counts: m5(0, 0),
                rule: Rule::WarmIp,
                target: 16,
                deficit_blocks: 1,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "prefix mode, MINIMUM_IP_TARGET=40: three /28s",
                knobs: PoolKnobs {
                    minimum_ip_target: 40,
                    ..pd(1)
                },
                counts: m5(16, 0),
                rule: Rule::WarmIp,
                target: 48,
                deficit_blocks: 2,
                excess_blocks: 0,
                limit_reached: false,
            },
            Case {
                name: "prefix mode, idle with four /28s: three are excess",
                knobs: pd(1),
                counts: m5(64, 0),
                rule: Rule::WarmPrefix,
                target: 16,
                deficit_blocks: 0,
                excess_blocks: 3,
                limit_reached: false,
            },
            Case {
                name: "prefix mode capacity: 3 x 9 prefixes",
                knobs: pd(1),
                counts: m5(432, 432),
                rule: Rule::WarmPrefix,
                target: 432,
                deficit_blocks: 0,
                excess_blocks: 0,
                limit_reached: true,
            },
        ];
        for c in cases {
            let t = pool_target(&c.knobs, c.counts);
            assert_eq!(t.rule, c.rule, "{}: rule", c.name);
            assert_eq!(t.target, c.target, "{}: target", c.name);
            assert_eq!(t.deficit_blocks, c.deficit_blocks, "{}: deficit", c.name);
            assert_eq!(t.excess_blocks, c.excess_blocks, "{}: excess", c.name);
            assert_eq!(t.limit_reached, c.limit_reached, "{}: limit", c.name);
        }
    }

    #[test]
    fn an_m5_large_serves_exactly_27_pod_addresses() {
        let t = pool_target(&knobs(), m5(0, 27));
        assert_eq!(t.capacity, 27);
        assert_eq!(t.target, 27);
        let pd = PoolKnobs {
            prefix_delegation: true,
            ..knobs()
        };
        assert_eq!(pool_target(&pd, m5(0, 0)).capacity, 3 * 9 * 16);
    }

    #[test]
    fn overrides_apply_field_by_field() {
        let base = PoolKnobs {
            warm_ip_target: 3,
            ..knobs()
        };
        let p = cloudnet_crds::PoolPolicy {
            minimum_ip_target: Some(12),
            prefix_delegation: Some(true),
            ..Default::default()
        };
        let k = base.with_overrides(&p);
        assert_eq!(k.warm_ip_target, 3);
        assert_eq!(k.minimum_ip_target, 12);
        assert!(k.prefix_delegation);
        assert_eq!(k.warm_eni_target, 1);
    }

    #[test]
    fn deficit_and_excess_never_both() {
        for kn in [
            knobs(),
            PoolKnobs {
                warm_ip_target: 4,
                minimum_ip_target: 7,
                ..knobs()
            },
            PoolKnobs {
                prefix_delegation: true,
                ..knobs()
            },
        ] {
            for held in 0..60 {
                for in_use in 0..=held.min(27) {
                    let t = pool_target(&kn, m5(held, in_use));
                    assert!(
                        t.deficit_blocks == 0 || t.excess_blocks == 0,
                        "{kn:?} held {held} in use {in_use}: {t:?}"
                    );
                    assert!(t.target <= t.capacity);
                    // Releasing the excess never drops below what is in use.
                    assert!(held - t.excess_blocks * t.block_size >= in_use.min(held));
                }
            }
        }
    }
}
