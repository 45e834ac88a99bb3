//! What an identity was granted against what it used: the granted (verb, group, resource,
//! namespace) an audit never saw ("surplus", candidates for removal from its roles), and the
//! used ones no grant covers (with enforcement on there are none: they were refused).
//!
//! Pure: the grants come from [`Policy::grants`](super::Policy::grants) and the uses from
//! [`Auth::audit`](crate::Auth::audit). Rules are expanded verb × apiGroup × resource as
//! written, so a wildcard stays one entry (`*`) that any matching use covers. resourceNames
//! narrow a grant to objects the audit does not record, so a use of the resource counts
//! for the grant; non-resource rules (paths) are not audited and not compared.

use std::collections::BTreeSet;

use serde::Serialize;

use super::policy::Grant;
use super::rules::{self, ALL};
use crate::auth::Access;

/// The comparison for one identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Granted, never used. `namespace: None` is a cluster-wide grant.
    pub surplus: BTreeSet<Access>,
    /// Used, not granted.
    pub ungranted: BTreeSet<Access>,
}

fn covers_namespace(grant_namespace: &str, used: &Option<String>) -> bool {
    grant_namespace.is_empty() || used.as_deref() == Some(grant_namespace)
}

/// `pods/status` → (`pods/status`, `status`).
fn subresource(resource: &str) -> &str {
    resource.split_once('/').map_or("", |(_, sub)| sub)
}

fn grant_covers(grant: &Grant, used: &Access) -> bool {
    covers_namespace(&grant.namespace, &used.namespace)
        && rules::verb_matches(&grant.rule, &used.verb)
        && rules::api_group_matches(&grant.rule, &used.group)
        && rules::resource_matches(&grant.rule, &used.resource, subresource(&used.resource))
}

/// Whether the granted `entry` (one verb, group and resource of a rule) was used by `used`.
fn entry_used(entry: &Access, used: &Access) -> bool {
    let sub = subresource(&used.resource);
    (entry.verb == ALL || entry.verb == used.verb)
        && (entry.group == ALL || entry.group == used.group)
        && (entry.resource == ALL
            || entry.resource == used.resource
            || (!sub.is_empty() && entry.resource == format!("*/{sub}")))
        && match &entry.namespace {
            None => true,
            Some(ns) => used.namespace.as_deref() == Some(ns.as_str()),
        }
}

/// Compares the grants of one identity with what it used.
pub fn usage(grants: &[Grant], used: &BTreeSet<Access>) -> Usage {
    let mut granted = BTreeSet::new();
    for grant in grants {
        for verb in &grant.rule.verbs {
            for group in &grant.rule.api_groups {
                for resource in &grant.rule.resources {
                    granted.insert(Access {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.clone(),
                        namespace: Some(grant.namespace.clone()).filter(|n| !n.is_empty()),
                    });
                }
            }
        }
    }
    Usage {
        surplus: granted
            .into_iter()
            .filter(|entry| !used.iter().any(|u| entry_used(entry, u)))
            .collect(),
        ungranted: used
            .iter()
            .filter(|u| !grants.iter().any(|g| grant_covers(g, u)))
            .cloned()
            .collect(),
    }
}

/// [`usage`] for each of `identities`, its grants from `objects` (RBAC objects, e.g. a
/// chart's, without the default roles every cluster has) and its uses from `audit`.
pub fn report(
    objects: &[serde_json::Value],
    audit: &std::collections::BTreeMap<String, BTreeSet<Access>>,
    identities: &[&str],
) -> std::collections::BTreeMap<String, Usage> {
    let policy = super::Policy::from_objects(objects);
    identities
        .iter()
        .map(|name| {
            let identity = crate::auth::Identity::new(*name);
            let used = audit.get(*name).cloned().unwrap_or_default();
            (name.to_string(), usage(&policy.grants(&identity), &used))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::PolicyRule;

    fn grant(
        ns: &str,
        verbs: &[&str],
        groups: &[&str],
        resources: &[&str],
        names: &[&str],
    ) -> Grant {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Grant {
            namespace: ns.into(),
            rule: PolicyRule {
                verbs: v(verbs),
                api_groups: v(groups),
                resources: v(resources),
                resource_names: v(names),
                non_resource_urls: Vec::new(),
            },
        }
    }

    fn access(verb: &str, group: &str, resource: &str, ns: Option<&str>) -> Access {
        Access {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: ns.map(Into::into),
        }
    }

    #[test]
    fn surplus_and_ungranted() {
        let grants = [
            grant("", &["get", "list", "watch"], &[""], &["nodes"], &[]),
            grant(
                "",
                &["patch"],
                &["cloudnet.io"],
                &["nodenetworks/status"],
                &[],
            ),
            grant(
                "kube-system",
                &["get", "update"],
                &["coordination.k8s.io"],
                &["leases"],
                &["lock"],
            ),
            grant(
                "kube-system",
                &["create"],
                &["coordination.k8s.io"],
                &["leases"],
                &[],
            ),
        ];
        let used: BTreeSet<Access> = [
            access("list", "", "nodes", None),
            // A cluster-wide grant covers a namespaced use.
            access("watch", "", "nodes", Some("anywhere")),
            access("patch", "cloudnet.io", "nodenetworks/status", None),
            // resourceNames narrow what the audit cannot see: the use counts.
            access("get", "coordination.k8s.io", "leases", Some("kube-system")),
            // Granted in kube-system only.
            access("update", "coordination.k8s.io", "leases", Some("default")),
            access("delete", "", "pods", Some("default")),
        ]
        .into_iter()
        .collect();
        let usage = usage(&grants, &used);
        assert_eq!(
            usage.surplus,
            [
                access("get", "", "nodes", None),
                access(
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    Some("kube-system")
                ),
                access(
                    "create",
                    "coordination.k8s.io",
                    "leases",
                    Some("kube-system")
                ),
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            usage.ungranted,
            [
                access("update", "coordination.k8s.io", "leases", Some("default")),
                access("delete", "", "pods", Some("default")),
            ]
            .into_iter()
            .collect()
        );
    }

    #[test]
    fn wildcards_stay_one_entry_that_any_use_covers() {
        let grants = [
            grant("", &["*"], &["*"], &["*"], &[]),
            grant("", &["update"], &[""], &["*/status"], &[]),
        ];
        let none = usage(&grants, &BTreeSet::new());
        assert_eq!(
            none.surplus,
            [
                access("*", "*", "*", None),
                access("update", "", "*/status", None)
            ]
            .into_iter()
            .collect()
        );
        let used: BTreeSet<Access> = [access("update", "", "pods/status", Some("d"))]
            .into_iter()
            .collect();
        let some = usage(&grants, &used);
        assert!(some.surplus.is_empty(), "{:?}", some.surplus);
        assert!(some.ungranted.is_empty());
        // A plain resource does not use a `*/status` grant.
        let plain: BTreeSet<Access> = [access("update", "", "pods", Some("d"))]
            .into_iter()
            .collect();
        assert_eq!(
            usage(&grants[1..], &plain).surplus,
            [access("update", "", "*/status", None)]
                .into_iter()
                .collect()
        );
    }
}
