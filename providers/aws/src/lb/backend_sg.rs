//! The cluster's shared backend security group, planned (pure).
//!
//! Like the AWS Load Balancer Controller's `--enable-backend-security-group`, every managed
//! load balancer carries one group shared by the whole cluster besides its own frontend
//! group, and the nodes' group lets that one group in. The nodes' group then holds a single
//! rule per protocol however many load balancers there are, instead of one per load
//! balancer (which meets the rules-per-group quota, 60 by default, at scale).
//!
//! ```text
//!  clients ─> [frontend group, per LB] ALB/NLB [backend security group, shared] ─> nodes' group:
//!                                                 "tcp from-to from the backend security group"
//! ```
//!
//! # One range per protocol, widened, never per port
//! The nodes' rule is one port range per protocol (`tcp`, `udp`) covering every target and
//! health-check port of the stacks ensured so far. Per-port rules would grow with the number
//! of distinct ports (NodePorts are spread over 30000-32767) and bring the quota problem back;
//! and narrowing either form correctly needs every stack's ports at once, which one `ensure`
//! does not have. So the range only widens while load balancers exist (a wider range admits
//! only traffic sourced from our load balancers, which send only to their target groups'
//! ports) and goes away with the backend security group when the cluster's last load balancer is
//! deleted.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::ownership::TAG_RESOURCE;
use cloudnet_core::{NameRules, Owner, OwnerKind, derive_name};
use serde::Serialize;

use super::matching::SgRuleChanges;
use super::model::{SgRule, SgSource};

/// The `cloudnet.io/resource` tag of the backend security group.
pub const BACKEND_RESOURCE: &str = "backend-security-group";

/// The owner's name: `@` never appears in a Kubernetes object name, so no IngressGroup can
/// collide with the cluster's own owner.
const BACKEND_OWNER_NAME: &str = "@traffic";

/// The cluster-scoped owner of the backend security group.
pub fn backend_owner(cluster: &str) -> Owner {
    Owner::cluster_scoped(cluster, OwnerKind::IngressGroup, BACKEND_OWNER_NAME)
}

/// The backend security group as we want it: no ingress of its own (it is only ever a source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredBackendSg {
    /// `k8s-traffic-<hash of cluster and owner>`.
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

pub fn backend_sg(cluster: &str) -> DesiredBackendSg {
    let owner = backend_owner(cluster);
    let mut tags = owner.aws_tags();
    tags.insert(TAG_RESOURCE.to_string(), BACKEND_RESOURCE.to_string());
    DesiredBackendSg {
        name: derive_name(NameRules::Elbv2, &owner, &["backend-sg"]),
        description: format!("cloudnet shared backend security group for cluster {cluster}"),
        tags,
    }
}

/// True when the tags say the group is this cluster's backend security group.
pub fn is_backend_sg(cluster: &str, tags: &BTreeMap<String, String>) -> bool {
    backend_owner(cluster).owns(tags)
        && tags.get(TAG_RESOURCE).map(String::as_str) == Some(BACKEND_RESOURCE)
}

/// The protocols a security group rule can name for one target port: `-1` (TCP_UDP) needs
/// both.
fn protocols(p: &str) -> &'static [&'static str] {
    match p {
        "udp" => &["udp"],
        "-1" => &["tcp", "udp"],
        _ => &["tcp"],
    }
}

/// The changes to the nodes' group so that the backend security group reaches `needed`
/// (`(protocol, from, to)`, as planned per stack): per protocol, nothing when a rule from the
/// backend security group already covers every needed port; else one rule over the union of the old
/// range and the needed ports is authorized and the old one(s) revoked. Rules from any other
/// source are never touched.
pub fn node_rule_changes(
    backend_sg: &str,
    needed: &BTreeSet<(String, i32, i32)>,
    actual: &[SgRule],
) -> SgRuleChanges {
    let source = SgSource::Group(backend_sg.to_string());
    let ours: Vec<&SgRule> = actual.iter().filter(|r| r.source == source).collect();
    // An all-traffic rule from the backend security group (ours or someone's) already admits it all.
    if ours.iter().any(|r| r.protocol == "-1") {
        return SgRuleChanges::default();
    }
    let mut wanted: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
    for (protocol, from, to) in needed {
        for p in protocols(protocol) {
            let e = wanted.entry(p).or_insert((*from, *to));
            *e = (e.0.min(*from), e.1.max(*to));
        }
    }
    let mut changes = SgRuleChanges::default();
    for (protocol, (from, to)) in wanted {
        let existing: Vec<&SgRule> = ours
            .iter()
            .copied()
            .filter(|r| r.protocol == protocol)
            .collect();
        if existing
            .iter()
            .any(|r| r.from_port <= from && r.to_port >= to)
        {
            continue;
        }
        let lo = existing.iter().map(|r| r.from_port).fold(from, i32::min);
        let hi = existing.iter().map(|r| r.to_port).fold(to, i32::max);
        changes.authorize.push(SgRule {
            protocol: protocol.to_string(),
            from_port: lo,
            to_port: hi,
            source: source.clone(),
        });
        changes.revoke.extend(existing.into_iter().cloned());
    }
    changes
}

/// Everything from the backend security group on the nodes' group: what goes when the group goes.
pub fn node_rules_to_remove(backend_sg: &str, actual: &[SgRule]) -> Vec<SgRule> {
    let source = SgSource::Group(backend_sg.to_string());
    actual
        .iter()
        .filter(|r| r.source == source)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use cloudnet_core::ownership::TAG_CLUSTER;

    use super::*;

    fn rule(protocol: &str, from: i32, to: i32, source: &str) -> SgRule {
        SgRule {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            source: SgSource::Group(source.into()),
        }
    }

    fn ports(list: &[(&str, i32)]) -> BTreeSet<(String, i32, i32)> {
        list.iter().map(|(p, n)| (p.to_string(), *n, *n)).collect()
    }

    #[test]
    fn the_group_is_named_and_tagged_for_the_cluster() {
        let g = backend_sg("prod");
        assert!(g.name.starts_with("k8s-traffic-"), "{}", g.name);
        assert!(NameRules::Elbv2.is_valid(&g.name));
        assert_ne!(g.name, backend_sg("staging").name, "one per cluster");
        assert_eq!(g, backend_sg("prod"), "deterministic");
        assert_eq!(g.tags[TAG_CLUSTER], "prod");
        assert_eq!(g.tags[TAG_RESOURCE], BACKEND_RESOURCE);
        assert_eq!(g.tags["kubernetes.io/cluster/prod"], "owned");
        assert!(is_backend_sg("prod", &g.tags));
        assert!(!is_backend_sg("staging", &g.tags));
        let mut frontend = g.tags.clone();
        frontend.insert(TAG_RESOURCE.into(), "security-group".into());
        assert!(!is_backend_sg("prod", &frontend));
        assert!(!is_backend_sg("prod", &BTreeMap::new()));
    }

    #[test]
    fn node_rule_table() {
        let b = "sg-backend";
        struct Case {
            name: &'static str,
            needed: BTreeSet<(String, i32, i32)>,
            actual: Vec<SgRule>,
            authorize: Vec<SgRule>,
            revoke: Vec<SgRule>,
        }
        let cases = [
            Case {
                name: "nothing yet: one rule over all needed ports",
                needed: ports(&[("tcp", 8080), ("tcp", 9090), ("tcp", 8443)]),
                actual: vec![rule("tcp", 22, 22, "sg-admin")],
                authorize: vec![rule("tcp", 8080, 9090, b)],
                revoke: vec![],
            },
            Case {
                name: "covered: nothing to do",
                needed: ports(&[("tcp", 8080)]),
                actual: vec![rule("tcp", 8000, 9000, b)],
                authorize: vec![],
                revoke: vec![],
            },
            Case {
                name: "exactly covered",
                needed: ports(&[("tcp", 8080)]),
                actual: vec![rule("tcp", 8080, 8080, b)],
                authorize: vec![],
                revoke: vec![],
            },
            Case {
                name: "a port outside: widened, old revoked, other sources kept",
                needed: ports(&[("tcp", 30080)]),
                actual: vec![rule("tcp", 8080, 8080, b), rule("tcp", 0, 65535, "sg-x")],
                authorize: vec![rule("tcp", 8080, 30080, b)],
                revoke: vec![rule("tcp", 8080, 8080, b)],
            },
            Case {
                name: "two old rules of ours (an interrupted widening) merge into one",
                needed: ports(&[("tcp", 9000)]),
                actual: vec![rule("tcp", 80, 80, b), rule("tcp", 10000, 10000, b)],
                authorize: vec![rule("tcp", 80, 10000, b)],
                revoke: vec![rule("tcp", 80, 80, b), rule("tcp", 10000, 10000, b)],
            },
            Case {
                name: "udp gets its own rule; TCP_UDP needs both",
                needed: ports(&[("udp", 30053), ("-1", 30054)]),
                actual: vec![rule("tcp", 30000, 32767, b)],
                authorize: vec![rule("udp", 30053, 30054, b)],
                revoke: vec![],
            },
            Case {
                name: "an all-traffic rule from the group admits everything",
                needed: ports(&[("tcp", 1), ("udp", 2)]),
                actual: vec![rule("-1", -1, -1, b)],
                authorize: vec![],
                revoke: vec![],
            },
            Case {
                name: "nothing needed: nothing narrows",
                needed: BTreeSet::new(),
                actual: vec![rule("tcp", 8080, 8080, b)],
                authorize: vec![],
                revoke: vec![],
            },
        ];
        for c in cases {
            let got = node_rule_changes(b, &c.needed, &c.actual);
            assert_eq!(got.authorize, c.authorize, "{}", c.name);
            assert_eq!(got.revoke, c.revoke, "{}", c.name);
        }
    }

    #[test]
    fn removal_takes_only_the_backend_sgs_rules() {
        let actual = vec![
            rule("tcp", 8080, 9090, "sg-backend"),
            rule("udp", 53, 53, "sg-backend"),
            rule("tcp", 8080, 9090, "sg-other"),
        ];
        assert_eq!(
            node_rules_to_remove("sg-backend", &actual),
            vec![
                rule("tcp", 8080, 9090, "sg-backend"),
                rule("udp", 53, 53, "sg-backend")
            ]
        );
    }
}
