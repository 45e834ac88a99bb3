//! Subnet discovery for load balancers, the AWS Load Balancer Controller's way: subnets in
//! the VPC with the role tag for the scheme, not tagged for another cluster only, one per
//! zone (those tagged for this cluster first, then the lowest ID).

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::Scheme;
use cloudnet_core::ownership::AWS_CLUSTER_TAG_PREFIX;

pub const ROLE_ELB: &str = "kubernetes.io/role/elb";
pub const ROLE_INTERNAL_ELB: &str = "kubernetes.io/role/internal-elb";

/// A subnet as discovery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetCandidate {
    pub id: String,
    pub zone: String,
    pub tags: BTreeMap<String, String>,
}

pub fn role_tag(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::InternetFacing => ROLE_ELB,
        Scheme::Internal => ROLE_INTERNAL_ELB,
    }
}

/// Picks one subnet per zone among those with the scheme's role tag; sorted by ID.
pub fn pick_subnets(candidates: &[SubnetCandidate], cluster: &str, scheme: Scheme) -> Vec<String> {
    let role = role_tag(scheme);
    // AWS documents "1" or empty as the role value; "0" turns it off.
    let with_role: Vec<SubnetCandidate> = candidates
        .iter()
        .filter(|s| s.tags.get(role).is_some_and(|v| v.is_empty() || v == "1"))
        .cloned()
        .collect();
    pick_per_zone(&with_role, cluster)
}

/// Picks one subnet per zone, skipping those tagged for another cluster only: those tagged
/// for this cluster first, then the lowest ID. Sorted by ID.
pub fn pick_per_zone(candidates: &[SubnetCandidate], cluster: &str) -> Vec<String> {
    let ours = format!("{AWS_CLUSTER_TAG_PREFIX}{cluster}");
    let mut by_zone: BTreeMap<&str, (bool, &str)> = BTreeMap::new();
    for s in candidates {
        let tagged_for_us = s.tags.contains_key(&ours);
        let tagged_for_others = s
            .tags
            .keys()
            .any(|k| k.starts_with(AWS_CLUSTER_TAG_PREFIX) && *k != ours);
        if tagged_for_others && !tagged_for_us {
            continue;
        }
        // Prefer (tagged for us, lowest ID).
        let better = match by_zone.get(s.zone.as_str()) {
            None => true,
            Some((best_ours, best_id)) => {
                (tagged_for_us && !best_ours)
                    || (tagged_for_us == *best_ours && s.id.as_str() < *best_id)
            }
        };
        if better {
            by_zone.insert(&s.zone, (tagged_for_us, &s.id));
        }
    }
    let ids: BTreeSet<String> = by_zone.values().map(|(_, id)| id.to_string()).collect();
    ids.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, zone: &str, tags: &[(&str, &str)]) -> SubnetCandidate {
        SubnetCandidate {
            id: id.into(),
            zone: zone.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn table() {
        let subnets = [
            s("subnet-a1", "a", &[(ROLE_ELB, "1")]),
            s("subnet-a0", "a", &[(ROLE_ELB, "1")]),
            s(
                "subnet-b2",
                "b",
                &[(ROLE_ELB, ""), ("kubernetes.io/cluster/prod", "shared")],
            ),
            s("subnet-b1", "b", &[(ROLE_ELB, "1")]),
            s(
                "subnet-c1",
                "c",
                &[(ROLE_ELB, "1"), ("kubernetes.io/cluster/other", "owned")],
            ),
            s("subnet-d1", "d", &[(ROLE_INTERNAL_ELB, "1")]),
            s("subnet-e1", "e", &[(ROLE_ELB, "0")]),
        ];
        assert_eq!(
            pick_subnets(&subnets, "prod", Scheme::InternetFacing),
            vec!["subnet-a0", "subnet-b2"],
            "lowest ID per zone, ours first, other clusters' and disabled skipped"
        );
        assert_eq!(
            pick_subnets(&subnets, "prod", Scheme::Internal),
            vec!["subnet-d1"]
        );
        assert_eq!(
            pick_subnets(&subnets, "other", Scheme::InternetFacing),
            vec!["subnet-a0", "subnet-b1", "subnet-c1"]
        );
        assert!(pick_subnets(&[], "prod", Scheme::Internal).is_empty());
    }
}
