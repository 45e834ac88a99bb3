//! The pure half of a Service's network security group rules: the allow rules a spec wants
//! ([`wanted`]) and how the NSG's rule list changes to hold exactly them ([`plan`]).
//!
//! A Standard Load Balancer is closed by default: its backends are reached only through an
//! NSG rule that lets the clients in, on the NSG the cluster keeps on the node subnet (AKS's
//! `aks-agentpool-<id>-nsg`; `AZURE_SECURITY_GROUP_NAME` as cloud-provider-azure's
//! `securityGroupName`). One Service gets at most two rules, one per transport protocol:
//!
//! | field | value |
//! |---|---|
//! | name | `<load balancer>-TCP`, `<load balancer>-UDP` (the load balancer is `k8s-<namespace>-<name>-<hash>`) |
//! | priority | kept when the rule exists; else the first free Inbound priority from 500 to 4096 |
//! | direction, access | Inbound, Allow |
//! | source | `spec.loadBalancerSourceRanges`; without them `Internet` (internet-facing) or `VirtualNetwork` (internal) |
//! | destination | `VirtualNetwork`, ports: every backend port of the protocol's listeners |
//!
//! Why the backend port and not the frontend's address and port as cloud-provider-azure
//! writes by default: the suite's load-balancing rules have floating IP off, so the NSG on
//! the backend sees each flow after the load balancer's NAT, to a backend address on the
//! backend port (cloud-provider-azure writes the same with
//! `azure-disable-load-balancer-floating-ip`: backend addresses, node ports). The backends
//! are pods and nodes that come and go on the hot path (`sync_targets`), so the destination
//! is the VNet rather than their addresses, which would rewrite the NSG on every pod
//! change (cloud-provider-azure's destinations left behind after a scale-down,
//! kubernetes-sigs/cloud-provider-azure#9328). The cost: a Service's rule also opens its
//! backend port to its sources on the VNet's other addresses that a public path reaches
//! (another Service's load balancer with the same backend port, a node's own public IP).
//!
//! Ownership: rules carry no tags, so a rule is the Service's when its name is one of the
//! two above, whatever it holds. A rule under that name with other content (edited by hand,
//! or made by someone else) is restored, as cloud-provider-azure restores its own names;
//! every other rule is never changed, moved or deleted. Unlike cloud-provider-azure's shared
//! rules (one rule per protocol, source and ports, whose destinations list every Service
//! that shares them), a Service's change never rewrites another Service's rule, and its
//! delete leaves nothing behind; ports are merged in one rule per protocol so a Service
//! takes at most two of the 3,597 priorities.

use std::collections::BTreeSet;

use azure_mgmt_network::models::{
    SecurityRule, SecurityRuleAccess, SecurityRuleDirection, SecurityRulePropertiesFormat,
    security_rule_properties_format::Protocol as RuleProtocol,
};
use cloudnet_core::{Error, Limit, LoadBalancerSpec, Protocol, Result, Scheme};
use serde::Serialize;

use super::forward_group;

/// The lowest priority the suite takes (below it: the user's rules), as cloud-provider-azure.
pub const MIN_PRIORITY: i32 = 500;
/// Azure's highest rule priority.
pub const MAX_PRIORITY: i32 = 4096;
/// The rules an NSG may hold (Azure's default limit; ARM refuses more with
/// `SecurityRuleCountLimitReached`).
pub const MAX_RULES: usize = 1000;
/// The destination of every rule (see the module's docs).
pub const DESTINATION: &str = "VirtualNetwork";

/// A transport protocol a rule lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RuleKind {
    Tcp,
    Udp,
}

impl RuleKind {
    fn suffix(self) -> &'static str {
        match self {
            RuleKind::Tcp => "TCP",
            RuleKind::Udp => "UDP",
        }
    }

    fn protocol(self) -> RuleProtocol {
        match self {
            RuleKind::Tcp => RuleProtocol::Tcp,
            RuleKind::Udp => RuleProtocol::Udp,
        }
    }
}

/// The names of a load balancer's rules: what makes a rule the Service's.
pub fn rule_names(lb_name: &str) -> [String; 2] {
    [RuleKind::Tcp, RuleKind::Udp].map(|k| format!("{lb_name}-{}", k.suffix()))
}

/// Whether the rule named `name` is one of the load balancer `lb_name`'s (ARM compares
/// names without case).
pub fn is_ours(lb_name: &str, name: &str) -> bool {
    rule_names(lb_name)
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// One allow rule a spec wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WantedRule {
    pub name: String,
    pub kind: RuleKind,
    /// Sorted, once each.
    pub sources: Vec<String>,
    /// Backend ports, sorted, once each.
    pub ports: Vec<u16>,
}

/// The rules `spec` wants for its load balancer `lb_name`: one per protocol its listeners
/// use, with every backend port of that protocol.
pub fn wanted(spec: &LoadBalancerSpec, lb_name: &str) -> Result<Vec<WantedRule>> {
    let mut sources: Vec<String> = spec.source_ranges.iter().map(|r| r.to_string()).collect();
    sources.sort();
    sources.dedup();
    if sources.is_empty() {
        sources.push(
            match spec.scheme {
                Scheme::InternetFacing => "Internet",
                Scheme::Internal => "VirtualNetwork",
            }
            .to_string(),
        );
    }
    let mut ports: [BTreeSet<u16>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for l in &spec.listeners {
        let key = forward_group(&l.default_action)?;
        let g = spec
            .group(key)
            .ok_or_else(|| Error::invalid(format!("no backend group {key}")))?;
        let kinds: &[usize] = match l.protocol {
            Protocol::Tcp => &[0],
            Protocol::Udp => &[1],
            Protocol::TcpUdp => &[0, 1],
            other => {
                return Err(Error::invalid(format!(
                    "{other:?} listeners have no load balancer rule"
                )));
            }
        };
        for k in kinds {
            ports[*k].insert(g.port);
        }
    }
    Ok([RuleKind::Tcp, RuleKind::Udp]
        .into_iter()
        .zip(ports)
        .filter(|(_, p)| !p.is_empty())
        .map(|(kind, p)| WantedRule {
            name: format!("{lb_name}-{}", kind.suffix()),
            kind,
            sources: sources.clone(),
            ports: p.into_iter().collect(),
        })
        .collect())
}

/// One change to the NSG's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum RuleChange {
    Create {
        name: String,
        priority: i32,
    },
    /// The rule under the Service's name differs (edited by hand): written back.
    Restore {
        name: String,
        priority: i32,
    },
    Delete {
        name: String,
    },
}

/// What [`plan`] decided: the changes and the NSG's whole rule list after them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulePlan {
    pub changes: Vec<RuleChange>,
    /// Every rule of the NSG after the changes: the others' as they were, in their order,
    /// then the Service's.
    #[serde(skip)]
    pub rules: Vec<SecurityRule>,
}

impl RulePlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn props(r: &SecurityRule) -> Option<&SecurityRulePropertiesFormat> {
    r.properties.as_ref()
}

fn is_inbound(r: &SecurityRule) -> bool {
    props(r).is_some_and(|p| p.direction == SecurityRuleDirection::Inbound)
}

/// Both ways ARM holds a list (one value, or several), as one sorted list.
fn merged(one: &Option<String>, many: &[String]) -> Vec<String> {
    let mut all: Vec<String> = one.iter().chain(many).map(|s| s.to_string()).collect();
    all.sort();
    all.dedup();
    all
}

/// Whether the rule `have` holds what `want` says (priority aside).
fn matches(have: &SecurityRule, want: &WantedRule) -> bool {
    let Some(p) = props(have) else {
        return false;
    };
    let mut ports: Vec<String> = want.ports.iter().map(u16::to_string).collect();
    ports.sort();
    p.direction == SecurityRuleDirection::Inbound
        && p.access == SecurityRuleAccess::Allow
        && p.protocol == want.kind.protocol()
        && merged(&p.source_address_prefix, &p.source_address_prefixes) == want.sources
        && merged(
            &p.destination_address_prefix,
            &p.destination_address_prefixes,
        ) == [DESTINATION]
        && merged(&p.destination_port_range, &p.destination_port_ranges) == ports
        && merged(&p.source_port_range, &p.source_port_ranges) == ["*"]
        && p.source_application_security_groups.is_empty()
        && p.destination_application_security_groups.is_empty()
}

/// One value, or several.
fn split(v: Vec<String>) -> (Option<String>, Vec<String>) {
    if v.len() == 1 {
        (v.into_iter().next(), Vec::new())
    } else {
        (None, v)
    }
}

/// The rule `want` as written, at `priority`.
pub fn rule(want: &WantedRule, priority: i32) -> SecurityRule {
    let (source, sources) = split(want.sources.clone());
    let (port, ports) = split(want.ports.iter().map(u16::to_string).collect());
    SecurityRule {
        name: Some(want.name.clone()),
        properties: Some(SecurityRulePropertiesFormat {
            description: Some("cloudnet: a Service's load balancer".into()),
            source_port_range: Some("*".into()),
            source_address_prefix: source,
            source_address_prefixes: sources,
            destination_address_prefix: Some(DESTINATION.into()),
            destination_port_range: port,
            destination_port_ranges: ports,
            ..SecurityRulePropertiesFormat::new(
                want.kind.protocol(),
                SecurityRuleAccess::Allow,
                priority,
                SecurityRuleDirection::Inbound,
            )
        }),
        ..Default::default()
    }
}

/// The NSG's rules changed to hold exactly `want` of the load balancer `lb_name` (none: its
/// rules removed). The others' rules are kept as they are; a wanted rule that exists keeps
/// its priority (unless another Inbound rule holds it), a new one takes the first Inbound
/// priority from [`MIN_PRIORITY`] that no rule holds. A full NSG is `LimitExceeded`
/// (`SecurityGroupRules`) before anything is written: no free priority
/// (`SecurityRulePriorityExhausted`), or more than [`MAX_RULES`] rules
/// (`SecurityRuleCountLimitReached`, ARM's code for it).
pub fn plan(have: &[SecurityRule], lb_name: &str, want: &[WantedRule]) -> Result<RulePlan> {
    let name_of = |r: &SecurityRule| r.name.clone().unwrap_or_default();
    let (ours, others): (Vec<&SecurityRule>, Vec<&SecurityRule>) =
        have.iter().partition(|r| is_ours(lb_name, &name_of(r)));
    let mut taken: BTreeSet<i32> = others
        .iter()
        .filter(|r| is_inbound(r))
        .filter_map(|r| props(r).map(|p| p.priority))
        .collect();
    let mut changes = Vec::new();
    let mut rules: Vec<SecurityRule> = others.iter().map(|r| (*r).clone()).collect();
    // First the rules that stay (their priorities are theirs), then the new ones.
    let mut placed: Vec<(usize, SecurityRule)> = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    for (i, w) in want.iter().enumerate() {
        let current = ours
            .iter()
            .find(|r| name_of(r).eq_ignore_ascii_case(&w.name));
        let keep = current
            .and_then(|r| props(r).map(|p| p.priority))
            .filter(|p| (MIN_PRIORITY..=MAX_PRIORITY).contains(p) && !taken.contains(p));
        match (current, keep) {
            (Some(r), Some(priority)) => {
                taken.insert(priority);
                if matches(r, w) {
                    placed.push((i, (*r).clone()));
                } else {
                    changes.push(RuleChange::Restore {
                        name: w.name.clone(),
                        priority,
                    });
                    placed.push((i, rule(w, priority)));
                }
            }
            _ => pending.push(i),
        }
    }
    for i in pending {
        let w = &want[i];
        let priority = (MIN_PRIORITY..=MAX_PRIORITY)
            .find(|p| !taken.contains(p))
            .ok_or_else(|| Error::LimitExceeded {
                limit: Limit::SecurityGroupRules,
                code: "SecurityRulePriorityExhausted".into(),
                message: format!(
                    "no free Inbound priority from {MIN_PRIORITY} to {MAX_PRIORITY} in the network security group for rule {}",
                    w.name
                ),
            })?;
        taken.insert(priority);
        let existed = ours
            .iter()
            .any(|r| name_of(r).eq_ignore_ascii_case(&w.name));
        changes.push(if existed {
            RuleChange::Restore {
                name: w.name.clone(),
                priority,
            }
        } else {
            RuleChange::Create {
                name: w.name.clone(),
                priority,
            }
        });
        placed.push((i, rule(w, priority)));
    }
    for r in &ours {
        let n = name_of(r);
        if !want.iter().any(|w| w.name.eq_ignore_ascii_case(&n)) {
            changes.push(RuleChange::Delete { name: n });
        }
    }
    placed.sort_by_key(|(i, _)| *i);
    rules.extend(placed.into_iter().map(|(_, r)| r));
    if rules.len() > MAX_RULES && rules.len() > have.len() {
        return Err(Error::LimitExceeded {
            limit: Limit::SecurityGroupRules,
            code: "SecurityRuleCountLimitReached".into(),
            message: format!(
                "the network security group holds {} rules; {} more would pass Azure's {MAX_RULES}",
                have.len(),
                rules.len() - have.len()
            ),
        });
    }
    Ok(RulePlan { changes, rules })
}

#[cfg(test)]
mod tests {
    use cloudnet_core::{
        Action, BackendGroup, Listener, LoadBalancerKind, Owner, OwnerKind, TargetKind,
    };

    use super::*;

    const LB: &str = "k8s-shop-web-0123456789ab";

    fn spec(listeners: &[(u16, Protocol, u16)]) -> LoadBalancerSpec {
        let key = |p: u16| format!("shop/web:{p}");
        LoadBalancerSpec::new(
            Owner::namespaced("demo", OwnerKind::Service, "shop", "web"),
            LoadBalancerKind::Network,
            listeners
                .iter()
                .map(|(port, proto, _)| {
                    Listener::new(*port, *proto, Action::forward_to(key(*port)))
                })
                .collect(),
            listeners
                .iter()
                .map(|(port, proto, backend)| {
                    BackendGroup::new(key(*port), *proto, *backend, TargetKind::PodIp)
                })
                .collect(),
        )
    }

    /// Someone else's Inbound rule at `priority`.
    fn foreign(name: &str, priority: i32) -> SecurityRule {
        let mut r = rule(
            &WantedRule {
                name: name.into(),
                kind: RuleKind::Tcp,
                sources: vec!["*".into()],
                ports: vec![22],
            },
            priority,
        );
        r.etag = Some("W/\"7\"".into());
        r
    }

    fn priorities(p: &RulePlan) -> Vec<(String, i32)> {
        p.rules
            .iter()
            .map(|r| {
                (
                    r.name.clone().unwrap_or_default(),
                    props(r).map_or(0, |p| p.priority),
                )
            })
            .collect()
    }

    #[test]
    fn a_service_wants_one_rule_per_protocol_with_its_backend_ports() {
        let s = spec(&[
            (80, Protocol::Tcp, 8080),
            (443, Protocol::Tcp, 8443),
            (8443, Protocol::Tcp, 8443),
            (53, Protocol::TcpUdp, 5353),
        ]);
        let w = wanted(&s, LB).unwrap();
        assert_eq!(
            w,
            [
                WantedRule {
                    name: format!("{LB}-TCP"),
                    kind: RuleKind::Tcp,
                    sources: vec!["Internet".into()],
                    ports: vec![5353, 8080, 8443],
                },
                WantedRule {
                    name: format!("{LB}-UDP"),
                    kind: RuleKind::Udp,
                    sources: vec!["Internet".into()],
                    ports: vec![5353],
                },
            ]
        );
        let mut internal = spec(&[(80, Protocol::Tcp, 8080)]);
        internal.scheme = Scheme::Internal;
        assert_eq!(
            wanted(&internal, LB).unwrap()[0].sources,
            ["VirtualNetwork"]
        );
        internal.source_ranges = vec![
            "203.0.113.0/24".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        assert_eq!(
            wanted(&internal, LB).unwrap()[0].sources,
            ["10.0.0.0/8", "203.0.113.0/24"]
        );
        assert!(is_ours(LB, &format!("{LB}-tcp")));
        assert!(!is_ours(LB, &format!("{LB}-TCP-80")));
        assert!(!is_ours(LB, "k8s-shop-web-0123456789ab"));
    }

    #[test]
    fn new_rules_take_the_first_free_priorities_and_others_rules_stay_as_they_are() {
        let s = spec(&[(80, Protocol::Tcp, 8080), (53, Protocol::Udp, 5353)]);
        let w = wanted(&s, LB).unwrap();
        let have = vec![
            foreign("ssh", 500),
            foreign("https", 502),
            foreign("low", 100),
        ];
        let p = plan(&have, LB, &w).unwrap();
        assert_eq!(
            p.changes,
            [
                RuleChange::Create {
                    name: format!("{LB}-TCP"),
                    priority: 501
                },
                RuleChange::Create {
                    name: format!("{LB}-UDP"),
                    priority: 503
                },
            ]
        );
        assert_eq!(
            priorities(&p),
            [
                ("ssh".to_string(), 500),
                ("https".to_string(), 502),
                ("low".to_string(), 100),
                (format!("{LB}-TCP"), 501),
                (format!("{LB}-UDP"), 503),
            ]
        );
        assert_eq!(p.rules[..3], have[..], "the others' rules are untouched");
        // Planned again on its own result: nothing to do.
        let again = plan(&p.rules, LB, &w).unwrap();
        assert!(again.is_empty(), "{:?}", again.changes);
        assert_eq!(again.rules, p.rules);
    }

    #[test]
    fn a_rule_edited_by_hand_is_restored_at_its_priority_and_a_gone_one_made_again() {
        let s = spec(&[(80, Protocol::Tcp, 8080), (53, Protocol::Udp, 5353)]);
        let w = wanted(&s, LB).unwrap();
        let made = plan(&[foreign("ssh", 500)], LB, &w).unwrap().rules;
        // The TCP rule's port and access edited, the UDP rule deleted.
        let mut edited = made.clone();
        let p = edited[1].properties.as_mut().unwrap();
        p.destination_port_range = Some("9090".into());
        p.access = SecurityRuleAccess::Deny;
        edited.remove(2);
        let fixed = plan(&edited, LB, &w).unwrap();
        assert_eq!(
            fixed.changes,
            [
                RuleChange::Restore {
                    name: format!("{LB}-TCP"),
                    priority: 501
                },
                RuleChange::Create {
                    name: format!("{LB}-UDP"),
                    priority: 502
                },
            ]
        );
        assert!(plan(&fixed.rules, LB, &w).unwrap().is_empty());
    }

    #[test]
    fn a_delete_removes_exactly_the_services_rules() {
        let s = spec(&[(80, Protocol::Tcp, 8080)]);
        let other = "k8s-shop-api-ba9876543210";
        let mut have = vec![foreign("ssh", 500)];
        have.extend(plan(&[], LB, &wanted(&s, LB).unwrap()).unwrap().rules);
        let with_other = plan(&have, other, &wanted(&s, other).unwrap())
            .unwrap()
            .rules;
        assert_eq!(with_other.len(), 3);
        let gone = plan(&with_other, LB, &[]).unwrap();
        assert_eq!(
            gone.changes,
            [RuleChange::Delete {
                name: format!("{LB}-TCP")
            }]
        );
        assert_eq!(
            priorities(&gone),
            [("ssh".to_string(), 500), (format!("{other}-TCP"), 501)]
        );
        assert!(plan(&gone.rules, LB, &[]).unwrap().is_empty());
    }

    #[test]
    fn a_full_network_security_group_is_a_clear_error() {
        let s = spec(&[(80, Protocol::Tcp, 8080)]);
        let full: Vec<SecurityRule> = (MIN_PRIORITY..=MAX_PRIORITY)
            .map(|p| foreign(&format!("r{p}"), p))
            .collect();
        let err = plan(&full, LB, &wanted(&s, LB).unwrap()).unwrap_err();
        assert_eq!(err.code(), "SecurityRulePriorityExhausted");
        assert!(
            matches!(
                err,
                Error::LimitExceeded {
                    limit: Limit::SecurityGroupRules,
                    ..
                }
            ),
            "{err}"
        );
        // At Azure's 1,000 rules a new one does not fit, whatever the priorities.
        let thousand: Vec<SecurityRule> = (0..MAX_RULES as i32)
            .map(|i| foreign(&format!("r{i}"), 100 + i))
            .collect();
        let err = plan(&thousand, LB, &wanted(&s, LB).unwrap()).unwrap_err();
        assert_eq!(err.code(), "SecurityRuleCountLimitReached");
        // ... and one of the Service's own is still removed.
        let mut with_ours = thousand[1..].to_vec();
        with_ours.extend(plan(&[], LB, &wanted(&s, LB).unwrap()).unwrap().rules);
        assert_eq!(
            plan(&with_ours, LB, &[]).unwrap().rules.len(),
            MAX_RULES - 1
        );
        // An Outbound rule does not hold an Inbound priority.
        let mut out = full[..11].to_vec();
        out[3].properties.as_mut().unwrap().direction = SecurityRuleDirection::Outbound;
        let p = plan(&out, LB, &wanted(&s, LB).unwrap()).unwrap();
        assert_eq!(
            p.changes,
            [RuleChange::Create {
                name: format!("{LB}-TCP"),
                priority: 503
            }]
        );
    }
}
