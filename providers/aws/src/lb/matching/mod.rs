//! One pure matching function per resource kind: desired vs actual -> matched pairs with
//! their changes, what to create, what to delete. No I/O, no SDK types.
//!
//! | kind | matched by | changes found | never |
//! |---|---|---|---|
//! | load balancer | name (found by name) | subnets, security groups, IP address type | adopts a foreign one: the caller checks tags first |
//! | target groups | name | health check | deletes a group without our tags (the caller passes only owned ones) |
//! | listeners | port | protocol, default certificate, TLS policy, default action | |
//! | rules | priority | conditions, action | touches the default rule |
//! | attributes | key | value | removes a key (AWS has no such call; defaults stay) |
//! | tags | key | value | removes `aws:` keys |
//! | security group rules | the whole permission | - | revokes a rule the caller does not manage |
//!
//! Two actual resources under one key (listeners on one port, rules with one priority,
//! groups with one name): the first AWS listed is matched, the later ones are deleted.

mod attributes;
mod listeners;
mod load_balancer;
mod rules;
mod security_groups;
mod tags;
mod target_groups;

pub use attributes::match_attributes;
pub use listeners::{ListenerChanges, match_listeners};
pub use load_balancer::{LoadBalancerChanges, LoadBalancerMatch, match_load_balancer};
pub use rules::{RuleChanges, match_rules};
pub use security_groups::{SgRuleChanges, match_sg_rules};
pub use tags::{TagChanges, match_tags};
pub use target_groups::{TargetGroupChanges, match_target_groups};

/// The outcome of matching one resource kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matching<'a, D, A, C> {
    /// Pairs that exist on both sides, with what to change (`C` is empty when in sync).
    pub matched: Vec<Matched<'a, D, A, C>>,
    pub create: Vec<&'a D>,
    pub delete: Vec<&'a A>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a, D, A, C> {
    pub desired: &'a D,
    pub actual: &'a A,
    pub changes: C,
}

impl<D, A, C> Matching<'_, D, A, C> {
    /// Pairs whose changes are not empty.
    pub fn drifted(
        &self,
        is_empty: impl Fn(&C) -> bool,
    ) -> impl Iterator<Item = &Matched<'_, D, A, C>> {
        self.matched.iter().filter(move |m| !is_empty(&m.changes))
    }
}

/// Matches two lists by a key; `changes` compares a pair.
fn match_by_key<'a, D, A, C, K: Ord>(
    desired: &'a [D],
    actual: &'a [A],
    desired_key: impl Fn(&D) -> K,
    actual_key: impl Fn(&A) -> K,
    changes: impl Fn(&D, &A) -> C,
) -> Matching<'a, D, A, C> {
    use std::collections::BTreeMap;
    use std::collections::btree_map::Entry;
    let mut by_key: BTreeMap<K, &'a A> = BTreeMap::new();
    let mut delete = Vec::new();
    for a in actual {
        // Two actual resources with one key: the first (in the order AWS listed them) is
        // matched, every later one is surplus and deleted.
        match by_key.entry(actual_key(a)) {
            Entry::Vacant(slot) => {
                slot.insert(a);
            }
            Entry::Occupied(_) => delete.push(a),
        }
    }
    let mut matched = Vec::new();
    let mut create = Vec::new();
    for d in desired {
        match by_key.remove(&desired_key(d)) {
            Some(a) => matched.push(Matched {
                desired: d,
                actual: a,
                changes: changes(d, a),
            }),
            None => create.push(d),
        }
    }
    delete.extend(by_key.into_values());
    Matching {
        matched,
        create,
        delete,
    }
}
