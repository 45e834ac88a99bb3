//! The stack's firewall rules, pure: planned from the spec, read back from the client
//! library's type, and matched (desired vs actual -> creates, modifies, deletes).
//!
//! A load balancer on GCP reaches nothing until a VPC firewall rule lets its traffic and its
//! health checks in. The rules follow the Kubernetes GCP controllers, with our names and
//! ownership:
//!
//! | Stack | Rule | Sources | Allowed | Destination |
//! |---|---|---|---|---|
//! | L7 (Ingress) | `fw` (ingress-gce's `k8s-fw-l7-*`) | the Google front ends and health checkers, 130.211.0.0/22 and 35.191.0.0/16 | TCP: the groups' ports (the NEG endpoints') and fixed health-check ports | the network |
//! | L4 (Service) | `fw-hc` (cloud-provider-gcp's `k8s-*-http-hc`) | the health checkers: 130.211.0.0/22, 35.191.0.0/16, and for external passthrough also 209.85.152.0/22, 209.85.204.0/22 | TCP: the health checks' ports | the network |
//! | L4 (Service) | `fw-traffic` (cloud-provider-gcp's `a<uid>`) | `loadBalancerSourceRanges`, else 0.0.0.0/0 | per protocol, the listeners' ports | the load balancer's address |
//!
//! Unlike cloud-provider-gcp (which finds its rules by name alone, and so patches or deletes
//! a rule someone else made under that name), a rule is ours only when its description says
//! so: a rule under our name without it is a `Conflict` and is never touched. A rule that
//! drifted (deleted, narrowed, disabled, widened, given a deny) is written back whole with
//! `firewalls.update`.

use cloudnet_core::ownership::{NameRules, derive_name};
use cloudnet_core::{Error, LoadBalancerKind, LoadBalancerSpec, Owner, Protocol, Result, Scheme};
use google_cloud_compute_v1::model as gce;
use serde::Serialize;

use super::changes::{Change, IpSource};
use super::diff::not_owned;
use super::model::{DesiredStack, Ownership, Seen};
use crate::names::last_segment;

/// Where Google's front ends (L7 proxies) and health checkers connect from.
pub const GFE_RANGES: &[&str] = &["130.211.0.0/22", "35.191.0.0/16"];
/// Where the health checkers of external passthrough network load balancers also connect
/// from (legacy ranges, still used).
pub const L4_EXTERNAL_EXTRA_RANGES: &[&str] = &["209.85.152.0/22", "209.85.204.0/22"];
/// The priority of our rules (Compute Engine's default).
pub const PRIORITY: i32 = 1000;

/// One `allowed` entry: a protocol (lower case, as the API spells it) and its ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allow {
    pub protocol: String,
    /// Sorted; empty: every port.
    pub ports: Vec<String>,
}

/// A firewall rule, desired or actual (every list sorted, so two are equal when the cloud
/// would treat them alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallDef {
    pub name: String,
    /// What it lets in (`l7`, `health-checks`, `traffic`); the description's resource.
    pub purpose: String,
    /// The network's name.
    pub network: String,
    /// `INGRESS` (a rule read back may be `EGRESS`).
    pub direction: String,
    pub priority: i32,
    pub disabled: bool,
    pub source_ranges: Vec<String>,
    /// Desired: empty, or filled with the stack's address when [`Self::to_stack_address`].
    pub destination_ranges: Vec<String>,
    /// The rule is for the load balancer's own address (known once its forwarding rule is).
    pub to_stack_address: bool,
    pub allowed: Vec<Allow>,
    /// Desired: always empty. Read: a deny, a source or target tag or service account
    /// someone added makes the rule another one, written back.
    pub denied: Vec<Allow>,
    pub target_tags: Vec<String>,
    pub source_tags: Vec<String>,
}

impl FirewallDef {
    fn new(name: String, purpose: &str, network: &str, sources: Vec<String>) -> FirewallDef {
        let mut source_ranges = sources;
        source_ranges.sort();
        source_ranges.dedup();
        FirewallDef {
            name,
            purpose: purpose.into(),
            network: network.into(),
            direction: "INGRESS".into(),
            priority: PRIORITY,
            disabled: false,
            source_ranges,
            destination_ranges: Vec::new(),
            to_stack_address: false,
            allowed: Vec::new(),
            denied: Vec::new(),
            target_tags: Vec::new(),
            source_tags: Vec::new(),
        }
    }

    /// Equal but for the stack's address, which the desired rule learns in the diff.
    fn same_as(&self, actual: &FirewallDef, address: Option<&str>) -> bool {
        let mut want = self.clone();
        if self.to_stack_address {
            want.destination_ranges = address.map(|a| vec![a.to_string()]).unwrap_or_default();
        }
        want.to_stack_address = false;
        let mut have = actual.clone();
        have.to_stack_address = false;
        have.purpose = want.purpose.clone();
        want == have
    }
}

/// `protocol` -> sorted, deduplicated ports.
fn allow(protocol: &str, ports: impl IntoIterator<Item = u16>) -> Allow {
    let mut p: Vec<u16> = ports.into_iter().collect();
    p.sort_unstable();
    p.dedup();
    Allow {
        protocol: protocol.into(),
        ports: p.iter().map(u16::to_string).collect(),
    }
}

fn fw_name(owner: &Owner, part: &str) -> String {
    derive_name(NameRules::Gce, owner, &["fw", part])
}

fn ranges(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The rules a planned stack needs (its health checks' ports are read from the stack).
pub fn plan_firewalls(
    spec: &LoadBalancerSpec,
    stack: &DesiredStack,
    network: &str,
) -> Result<Vec<FirewallDef>> {
    let hc_ports = || stack.health_checks.iter().filter_map(|h| h.port);
    match spec.kind {
        LoadBalancerKind::Application => {
            let mut fw = FirewallDef::new(
                fw_name(&spec.owner, "l7"),
                "l7",
                network,
                ranges(GFE_RANGES),
            );
            let ports = spec.groups.iter().map(|g| g.port).chain(hc_ports());
            fw.allowed = vec![allow("tcp", ports)];
            Ok(vec![fw])
        }
        LoadBalancerKind::Network => {
            let mut sources = ranges(GFE_RANGES);
            if spec.scheme == Scheme::InternetFacing {
                sources.extend(ranges(L4_EXTERNAL_EXTRA_RANGES));
            }
            let mut hc = FirewallDef::new(
                fw_name(&spec.owner, "hc"),
                "health-checks",
                network,
                sources,
            );
            hc.allowed = vec![allow("tcp", hc_ports())];
            if let Some(v6) = spec.source_ranges.iter().find(|r| r.addr().is_ipv6()) {
                return Err(Error::invalid(format!(
                    "not supported by this cloud: the IPv6 source range {v6} (this backend makes IPv4 network load balancers)"
                )));
            }
            let clients = if spec.source_ranges.is_empty() {
                vec!["0.0.0.0/0".to_string()]
            } else {
                spec.source_ranges.iter().map(|r| r.to_string()).collect()
            };
            let mut traffic =
                FirewallDef::new(fw_name(&spec.owner, "traffic"), "traffic", network, clients);
            traffic.to_stack_address = true;
            let mut allowed: Vec<Allow> = ["tcp", "udp"]
                .iter()
                .filter_map(|proto| {
                    let ports: Vec<u16> = spec
                        .listeners
                        .iter()
                        .filter(|l| match l.protocol {
                            Protocol::Udp => *proto == "udp",
                            _ => *proto == "tcp",
                        })
                        .map(|l| l.port)
                        .collect();
                    (!ports.is_empty()).then(|| allow(proto, ports))
                })
                .collect();
            allowed.sort();
            traffic.allowed = allowed;
            Ok(vec![hc, traffic])
        }
    }
}

fn allows(list: &[(Option<&String>, &Vec<String>)]) -> Vec<Allow> {
    let mut out: Vec<Allow> = list
        .iter()
        .map(|(proto, ports)| {
            let mut ports = (*ports).clone();
            ports.sort_by_key(|p| {
                let first = p.split('-').next().unwrap_or(p);
                (first.parse::<u32>().unwrap_or(u32::MAX), p.clone())
            });
            Allow {
                protocol: proto.cloned().unwrap_or_default().to_ascii_lowercase(),
                ports,
            }
        })
        .collect();
    out.sort();
    out
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// A rule as the cloud has it, in the plain model (a destination read as `a.b.c.d` for
/// `a.b.c.d/32`).
pub fn firewall_actual(f: &gce::Firewall) -> FirewallDef {
    let allowed: Vec<(Option<&String>, &Vec<String>)> = f
        .allowed
        .iter()
        .map(|a| (a.ip_protocol.as_ref(), &a.ports))
        .collect();
    let denied: Vec<(Option<&String>, &Vec<String>)> = f
        .denied
        .iter()
        .map(|a| (a.ip_protocol.as_ref(), &a.ports))
        .collect();
    let mut destination_ranges: Vec<String> = f
        .destination_ranges
        .iter()
        .map(|r| r.strip_suffix("/32").unwrap_or(r).to_string())
        .collect();
    destination_ranges.sort();
    let mut source_tags = sorted(&f.source_tags);
    source_tags.extend(f.source_service_accounts.iter().map(|s| format!("sa:{s}")));
    let mut target_tags = sorted(&f.target_tags);
    target_tags.extend(f.target_service_accounts.iter().map(|s| format!("sa:{s}")));
    FirewallDef {
        name: f.name.clone().unwrap_or_default(),
        purpose: String::new(),
        network: f.network.as_deref().map(last_segment).unwrap_or("").into(),
        direction: f
            .direction
            .as_ref()
            .and_then(|d| d.name())
            .unwrap_or("INGRESS")
            .into(),
        priority: f.priority.unwrap_or(PRIORITY),
        disabled: f.disabled.unwrap_or(false),
        source_ranges: sorted(&f.source_ranges),
        destination_ranges,
        to_stack_address: false,
        allowed: allows(&allowed),
        denied: allows(&denied),
        target_tags,
        source_tags,
    }
}

/// The request body of a desired rule, its destination resolved to `address`.
pub fn firewall_body(
    project: &str,
    fw: &FirewallDef,
    description: String,
    address: Option<&str>,
) -> gce::Firewall {
    let destination: Vec<String> = if fw.to_stack_address {
        address.map(|a| vec![a.to_string()]).unwrap_or_default()
    } else {
        fw.destination_ranges.clone()
    };
    gce::Firewall::new()
        .set_name(&fw.name)
        .set_description(description)
        .set_network(crate::names::network_path(project, &fw.network))
        .set_direction(gce::firewall::Direction::from(fw.direction.as_str()))
        .set_priority(fw.priority)
        .set_disabled(false)
        .set_source_ranges(fw.source_ranges.clone())
        .set_destination_ranges(destination)
        .set_allowed(fw.allowed.iter().map(|a| {
            gce::firewall::Allowed::new()
                .set_ip_protocol(&a.protocol)
                .set_ports(a.ports.clone())
        }))
}

/// The firewall changes: creates and modifies (after the forwarding rules, so a rule for
/// the stack's address can name it), and the deletes of rules of this owner no longer
/// wanted. `address` is where the stack's address comes from (None: it has none yet, and
/// no rule of the stack asks for it).
pub fn diff_firewalls(
    desired: &[FirewallDef],
    observed: &[Seen<FirewallDef>],
    owner: &Owner,
    address: Option<&IpSource>,
) -> Result<(Vec<Change>, Vec<Change>)> {
    let ours = |o: &Option<Ownership>| o.as_ref().is_some_and(|o| &o.owner == owner);
    let known = match address {
        Some(IpSource::Literal(a)) => Some(a.as_str()),
        _ => None,
    };
    let mut writes = Vec::new();
    for fw in desired {
        let Some(seen) = observed.iter().find(|s| s.actual.name == fw.name) else {
            writes.push(Change::CreateFirewall {
                firewall: fw.clone(),
                address: address.cloned().filter(|_| fw.to_stack_address),
            });
            continue;
        };
        if !ours(&seen.owned) {
            return Err(not_owned("firewall rule", &fw.name, owner));
        }
        if seen.actual.network != fw.network {
            // The network of a rule cannot change: made again on the new one.
            writes.push(Change::DeleteFirewall {
                name: fw.name.clone(),
            });
            writes.push(Change::CreateFirewall {
                firewall: fw.clone(),
                address: address.cloned().filter(|_| fw.to_stack_address),
            });
        } else if !fw.same_as(&seen.actual, known) {
            writes.push(Change::ModifyFirewall {
                firewall: fw.clone(),
                address: address.cloned().filter(|_| fw.to_stack_address),
            });
        }
    }
    let deletes = observed
        .iter()
        .filter(|s| ours(&s.owned) && !desired.iter().any(|d| d.name == s.actual.name))
        .map(|s| Change::DeleteFirewall {
            name: s.actual.name.clone(),
        })
        .collect();
    Ok((writes, deletes))
}

#[cfg(test)]
mod tests {
    use cloudnet_core::{
        Action, BackendGroup, Listener, LoadBalancerKind, LoadBalancerSpec, Owner, OwnerKind,
        Protocol, Scheme, TargetKind,
    };

    use super::*;
    use crate::lb::plan::{PlanContext, plan};

    fn ctx() -> PlanContext {
        PlanContext {
            region: "us-central1".into(),
            subnetwork: Some("nodes".into()),
            network: "vpc".into(),
            ..PlanContext::default()
        }
    }

    fn l4(scheme: Scheme) -> LoadBalancerSpec {
        let l = |port, protocol, g: &str| Listener::new(port, protocol, Action::forward_to(g));
        let mut spec = LoadBalancerSpec::new(
            Owner::namespaced("prod", OwnerKind::Service, "shop", "dns"),
            LoadBalancerKind::Network,
            vec![
                l(53, Protocol::Udp, "u"),
                l(53, Protocol::Tcp, "t"),
                l(8053, Protocol::Tcp, "t8"),
            ],
            vec![
                BackendGroup::new("u", Protocol::Udp, 30053, TargetKind::NodePort),
                BackendGroup::new("t", Protocol::Tcp, 30054, TargetKind::NodePort),
                BackendGroup::new("t8", Protocol::Tcp, 30055, TargetKind::NodePort),
            ],
        );
        spec.scheme = scheme;
        spec
    }

    fn l7() -> LoadBalancerSpec {
        LoadBalancerSpec::new(
            Owner::namespaced("prod", OwnerKind::Ingress, "shop", "web"),
            LoadBalancerKind::Application,
            vec![Listener::new(80, Protocol::Http, Action::forward_to("web"))],
            vec![
                BackendGroup::new("web", Protocol::Http, 8080, TargetKind::PodIp),
                BackendGroup::new("api", Protocol::Http, 9090, TargetKind::PodIp),
            ],
        )
    }

    fn ours(fw: &FirewallDef, owner: &Owner) -> Seen<FirewallDef> {
        let mut actual = fw.clone();
        actual.to_stack_address = false;
        actual.purpose = String::new();
        Seen {
            actual,
            owned: Some(Ownership {
                owner: owner.clone(),
                resource: Some(fw.purpose.clone()),
            }),
        }
    }

    fn names(changes: &[Change]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_ingress_lets_the_front_ends_reach_its_groups_ports() {
        let stack = plan(&l7(), &ctx()).unwrap();
        assert_eq!(stack.firewalls.len(), 1);
        let fw = &stack.firewalls[0];
        assert!(fw.name.starts_with("k8s-shop-web-"), "{}", fw.name);
        assert_eq!(fw.source_ranges, ["130.211.0.0/22", "35.191.0.0/16"]);
        assert_eq!(fw.allowed, [allow("tcp", [8080, 9090])]);
        assert_eq!((fw.network.as_str(), fw.to_stack_address), ("vpc", false));
        assert!(fw.destination_ranges.is_empty() && fw.target_tags.is_empty());
    }

    #[test]
    fn a_service_has_a_health_check_rule_and_a_traffic_rule_to_its_address() {
        let ext = plan(&l4(Scheme::InternetFacing), &ctx()).unwrap();
        let [hc, traffic] = &ext.firewalls[..] else {
            panic!("two rules: {:?}", ext.firewalls)
        };
        assert_eq!(
            hc.source_ranges,
            [
                "130.211.0.0/22",
                "209.85.152.0/22",
                "209.85.204.0/22",
                "35.191.0.0/16"
            ]
        );
        // One health check per protocol, at the protocol's first group's port.
        assert_eq!(hc.allowed, [allow("tcp", [30053, 30054])]);
        assert_eq!(traffic.source_ranges, ["0.0.0.0/0"]);
        assert_eq!(
            traffic.allowed,
            [allow("tcp", [53, 8053]), allow("udp", [53])]
        );
        assert!(traffic.to_stack_address);
        assert_ne!(hc.name, traffic.name);

        let mut internal = l4(Scheme::Internal);
        internal.source_ranges = vec!["10.0.0.0/8".parse().unwrap()];
        let int = plan(&internal, &ctx()).unwrap();
        assert_eq!(
            int.firewalls[0].source_ranges,
            ["130.211.0.0/22", "35.191.0.0/16"]
        );
        assert_eq!(int.firewalls[1].source_ranges, ["10.0.0.0/8"]);

        let mut v6 = l4(Scheme::InternetFacing);
        v6.source_ranges = vec!["2001:db8::/32".parse().unwrap()];
        let e = plan(&v6, &ctx()).unwrap_err();
        assert!(e.to_string().contains("2001:db8::/32"), "{e}");
    }

    #[test]
    fn rules_are_made_once_kept_repaired_and_removed() {
        let stack = plan(&l4(Scheme::InternetFacing), &ctx()).unwrap();
        let owner = &stack.owner;
        let ip = IpSource::Literal("35.199.0.7".into());

        // None yet, the address not known: both made, the traffic rule on the new address.
        let first = IpSource::SameAs("fr".into());
        let (w, d) = diff_firewalls(&stack.firewalls, &[], owner, Some(&first)).unwrap();
        assert_eq!(w.len(), 2);
        assert!(d.is_empty());
        assert!(
            matches!(&w[1], Change::CreateFirewall { address: Some(IpSource::SameAs(n)), .. } if n == "fr")
        );
        assert!(matches!(
            &w[0],
            Change::CreateFirewall { address: None, .. }
        ));

        // As made: nothing to do.
        let mut made: Vec<Seen<FirewallDef>> =
            stack.firewalls.iter().map(|f| ours(f, owner)).collect();
        made[1].actual.destination_ranges = vec!["35.199.0.7".into()];
        let (w, d) = diff_firewalls(&stack.firewalls, &made, owner, Some(&ip)).unwrap();
        assert!(w.is_empty() && d.is_empty(), "{w:?} {d:?}");

        // Each drift an operator can make is one modify.
        type Drift = fn(&mut FirewallDef);
        let drifts: Vec<Drift> = vec![
            |f| f.source_ranges = vec!["10.0.0.0/8".into()],
            |f| {
                f.allowed[0].ports.pop();
            },
            |f| f.disabled = true,
            |f| f.priority = 65534,
            |f| f.denied = vec![allow("tcp", [22])],
            |f| f.target_tags = vec!["other".into()],
            |f| f.destination_ranges = vec!["35.199.0.8".into()],
        ];
        for (i, drift) in drifts.iter().enumerate() {
            let mut o = made.clone();
            drift(&mut o[1].actual);
            let (w, d) = diff_firewalls(&stack.firewalls, &o, owner, Some(&ip)).unwrap();
            assert_eq!(
                names(&w),
                [format!("modify firewall rule {}", stack.firewalls[1].name)],
                "drift {i}"
            );
            assert!(d.is_empty());
        }

        // Deleted by hand: made again.
        let (w, _) = diff_firewalls(&stack.firewalls, &made[..1], owner, Some(&ip)).unwrap();
        assert!(
            matches!(&w[..], [Change::CreateFirewall { firewall, address: Some(IpSource::Literal(a)) }] if firewall.name == stack.firewalls[1].name && a == "35.199.0.7")
        );

        // On another network: deleted and made again there.
        let mut o = made.clone();
        o[0].actual.network = "old".into();
        let (w, _) = diff_firewalls(&stack.firewalls, &o, owner, Some(&ip)).unwrap();
        assert_eq!(
            names(&w)[0],
            format!("delete firewall rule {}", stack.firewalls[0].name)
        );
        assert_eq!(
            names(&w)[1],
            format!("create firewall rule {}", stack.firewalls[0].name)
        );

        // No longer wanted: deleted.
        let (w, d) = diff_firewalls(&stack.firewalls[..1], &made, owner, Some(&ip)).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            names(&d),
            [format!("delete firewall rule {}", stack.firewalls[1].name)]
        );
    }

    #[test]
    fn a_rule_under_our_name_that_is_not_ours_is_a_conflict() {
        let stack = plan(&l7(), &ctx()).unwrap();
        let owner = &stack.owner;
        let mut foreign = ours(&stack.firewalls[0], owner);
        foreign.owned = None;
        let e = diff_firewalls(&stack.firewalls, &[foreign.clone()], owner, None).unwrap_err();
        assert_eq!(e.kind(), cloudnet_core::ErrorKind::Conflict);
        assert!(e.to_string().contains(&stack.firewalls[0].name), "{e}");
        // Another owner's: the same; and a foreign rule is never deleted.
        foreign.owned = Some(Ownership {
            owner: Owner::namespaced("prod", OwnerKind::Ingress, "shop", "other"),
            resource: None,
        });
        assert!(diff_firewalls(&stack.firewalls, &[foreign.clone()], owner, None).is_err());
        let (w, d) = diff_firewalls(&[], &[foreign], owner, None).unwrap();
        assert!(w.is_empty() && d.is_empty());
    }

    #[test]
    fn a_rule_reads_back_as_planned() {
        let stack = plan(&l4(Scheme::InternetFacing), &ctx()).unwrap();
        let fw = &stack.firewalls[1];
        let body = firewall_body("p", fw, "d".into(), Some("35.199.0.7"));
        let mut back = firewall_actual(&body);
        assert!(fw.same_as(&back, Some("35.199.0.7")), "{back:?}");
        back.destination_ranges.clear();
        assert!(!fw.same_as(&back, Some("35.199.0.7")));
        // Ports sort as numbers, protocols in lower case.
        let f = gce::Firewall::new().set_allowed([gce::firewall::Allowed::new()
            .set_ip_protocol("TCP")
            .set_ports(["8053", "53", "100-200"])]);
        assert_eq!(
            firewall_actual(&f).allowed,
            [Allow {
                protocol: "tcp".into(),
                ports: vec!["53".into(), "100-200".into(), "8053".into()]
            }]
        );
    }
}
