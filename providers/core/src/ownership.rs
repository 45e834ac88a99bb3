//! Ownership, written down once: the tags (or labels) and names the suite puts on every cloud
//! resource it creates, and how it recognises its own.
//!
//! Every create goes through [`Owner::tags`] (or [`Owner::gce_labels`]) and a name from
//! [`derive_name`]; every modify or delete first checks [`Owner::owns`]. A resource without
//! our tags is never changed, even when its name collides with one we would derive.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cluster's name tag (the value is the cluster name).
pub const TAG_CLUSTER: &str = "cloudnet.io/cluster";
/// What kind of Kubernetes object asked for the resource.
pub const TAG_OWNER_KIND: &str = "cloudnet.io/owner-kind";
/// `namespace/name` of the object (or the group or node name).
pub const TAG_OWNER: &str = "cloudnet.io/owner";
/// Which part of the owner's stack the resource is (a backend group key, a listener port).
pub const TAG_RESOURCE: &str = "cloudnet.io/resource";
/// The node (instance ID) an interface was made for.
pub const TAG_NODE: &str = "cloudnet.io/node";
/// When the resource was created, in seconds since the Unix epoch (for orphan grace periods).
pub const TAG_CREATED_AT: &str = "cloudnet.io/created-at";
/// AWS's own cluster convention (`kubernetes.io/cluster/<name>` = `owned`), which other
/// Kubernetes tools read to tell cluster resources apart.
pub const AWS_CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster/";
pub const AWS_CLUSTER_TAG_OWNED: &str = "owned";

/// The kind of object that owns a cloud resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerKind {
    Service,
    Ingress,
    IngressGroup,
    Node,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Service => "service",
            OwnerKind::Ingress => "ingress",
            OwnerKind::IngressGroup => "ingress-group",
            OwnerKind::Node => "node",
        }
    }

    pub fn parse(s: &str) -> Option<OwnerKind> {
        [
            OwnerKind::Service,
            OwnerKind::Ingress,
            OwnerKind::IngressGroup,
            OwnerKind::Node,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Who owns a cloud resource: a cluster and one object in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub cluster: String,
    pub kind: OwnerKind,
    /// None for cluster-scoped owners (IngressGroups, Nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl Owner {
    pub fn namespaced(cluster: &str, kind: OwnerKind, namespace: &str, name: &str) -> Owner {
        Owner {
            cluster: cluster.into(),
            kind,
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    pub fn cluster_scoped(cluster: &str, kind: OwnerKind, name: &str) -> Owner {
        Owner {
            cluster: cluster.into(),
            kind,
            namespace: None,
            name: name.into(),
        }
    }

    /// `namespace/name`, or `name` when cluster-scoped.
    pub fn object_ref(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The tags every resource of this owner carries (AWS and Azure).
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_CLUSTER.to_string(), self.cluster.clone()),
            (TAG_OWNER_KIND.to_string(), self.kind.as_str().to_string()),
            (TAG_OWNER.to_string(), self.object_ref()),
        ])
    }

    /// The tags plus AWS's `kubernetes.io/cluster/<name>=owned`.
    pub fn aws_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags();
        tags.insert(
            format!("{AWS_CLUSTER_TAG_PREFIX}{}", self.cluster),
            AWS_CLUSTER_TAG_OWNED.to_string(),
        );
        tags
    }

    /// GCE labels: keys and values at most 63 characters of `[a-z0-9_-]`, so the object
    /// reference goes in as a hash and the readable form in the resource's description.
    pub fn gce_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "cloudnet-cluster".to_string(),
                gce_label_value(&self.cluster),
            ),
            (
                "cloudnet-owner-kind".to_string(),
                self.kind.as_str().to_string(),
            ),
            (
                "cloudnet-owner".to_string(),
                short_hash(&[&self.cluster, self.kind.as_str(), &self.object_ref()], 16),
            ),
        ])
    }

    /// Reads an owner back from tags; None when the tags are not (all) ours.
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Option<Owner> {
        let cluster = tags.get(TAG_CLUSTER)?;
        let kind = OwnerKind::parse(tags.get(TAG_OWNER_KIND)?)?;
        let object = tags.get(TAG_OWNER)?;
        let (namespace, name) = match object.split_once('/') {
            Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
            None => (None, object.clone()),
        };
        Some(Owner {
            cluster: cluster.clone(),
            kind,
            namespace,
            name,
        })
    }

    /// True when tags say this cluster owns the resource (whichever object in it).
    pub fn cluster_owns(cluster: &str, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster)
    }

    /// True when the tags name exactly this owner.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        Owner::from_tags(tags).as_ref() == Some(self)
    }
}

/// Name rules of the clouds' resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NameRules {
    /// ELBv2 load balancers and target groups: at most 32 of `[A-Za-z0-9-]`, no leading or
    /// trailing `-`, not starting with `internal-`.
    Elbv2,
    /// Compute Engine: at most 63, `[a-z]([-a-z0-9]*[a-z0-9])?`.
    Gce,
    /// Azure network resources: at most 80 of `[A-Za-z0-9._-]`, starting with a letter or
    /// digit and ending with a letter, digit or `_`.
    Azure,
}

impl NameRules {
    pub fn max_len(self) -> usize {
        match self {
            NameRules::Elbv2 => 32,
            NameRules::Gce => 63,
            NameRules::Azure => 80,
        }
    }

    fn hash_len(self) -> usize {
        match self {
            NameRules::Elbv2 => 10,
            NameRules::Gce | NameRules::Azure => 12,
        }
    }

    /// How many characters of each readable part fit (the AWS Load Balancer Controller keeps
    /// 8 of namespace and 8 of name; the longer limits keep more).
    fn part_len(self) -> usize {
        match self {
            NameRules::Elbv2 => 8,
            NameRules::Gce => 20,
            NameRules::Azure => 28,
        }
    }

    /// True when `name` satisfies the rules.
    pub fn is_valid(self, name: &str) -> bool {
        let len_ok = !name.is_empty() && name.len() <= self.max_len();
        let bytes = name.as_bytes();
        let (first, last) = match (bytes.first(), bytes.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return false,
        };
        len_ok
            && match self {
                NameRules::Elbv2 => {
                    bytes
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                        && first != b'-'
                        && last != b'-'
                        && !name.starts_with("internal-")
                }
                NameRules::Gce => {
                    first.is_ascii_lowercase()
                        && (last.is_ascii_lowercase() || last.is_ascii_digit())
                        && bytes
                            .iter()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                }
                NameRules::Azure => {
                    first.is_ascii_alphanumeric()
                        && (last.is_ascii_alphanumeric() || last == b'_')
                        && bytes
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                }
            }
    }
}

/// A stable, collision-resistant, readable name: `k8s-<namespace>-<name>-<hash>`.
///
/// The readable parts are the owner's namespace and name with every character outside
/// `[A-Za-z0-9]` dropped (lower-cased for GCE) and cut to the cloud's budget; the hash covers
/// the cluster, the owner in full and the `discriminators` (a backend group key, a port,
/// a protocol: whatever tells two resources of one owner apart), so two owners whose readable
/// parts collide still get different names. The output never changes for the same input:
/// names are how the suite finds its resources again after a restart.
pub fn derive_name(rules: NameRules, owner: &Owner, discriminators: &[&str]) -> String {
    let mut hash_input: Vec<&str> = vec![&owner.cluster, owner.kind.as_str()];
    let object = owner.object_ref();
    hash_input.push(&object);
    hash_input.extend_from_slice(discriminators);
    let hash = short_hash(&hash_input, rules.hash_len());

    let mut name = String::from("k8s");
    let parts = owner.namespace.iter().chain(std::iter::once(&owner.name));
    for part in parts {
        let clean: String = part
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| match rules {
                NameRules::Gce => c.to_ascii_lowercase(),
                _ => c,
            })
            .take(rules.part_len())
            .collect();
        if !clean.is_empty() {
            name.push('-');
            name.push_str(&clean);
        }
    }
    name.push('-');
    name.push_str(&hash);
    debug_assert!(rules.is_valid(&name), "derived an invalid name {name}");
    name
}

/// The first `len` hex digits of SHA-256 over the parts, each ended by a NUL so that
/// `("ab", "c")` and `("a", "bc")` differ.
pub fn short_hash(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex.truncate(len.min(64));
    hex
}

/// A GCE label value: `[a-z0-9_-]`, at most 63; longer or foreign values become a hash.
fn gce_label_value(s: &str) -> String {
    let ok = s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        s.to_string()
    } else {
        format!("h-{}", short_hash(&[s], 16))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn svc(ns: &str, name: &str) -> Owner {
        Owner::namespaced("prod", OwnerKind::Service, ns, name)
    }

    #[test]
    fn names_are_stable_across_versions() {
        // These exact strings are how a running suite finds its resources again. If this
        // test fails, a change broke every existing installation: do not update the values.
        let o = svc("default", "web");
        assert_eq!(
            derive_name(NameRules::Elbv2, &o, &[]),
            "k8s-default-web-0fdafe6584"
        );
        assert_eq!(
            derive_name(NameRules::Elbv2, &o, &["default/web:80", "TCP"]),
            "k8s-default-web-16b06700a7"
        );
        assert_eq!(
            derive_name(NameRules::Gce, &o, &[]),
            "k8s-default-web-0fdafe6584db"
        );
        assert_eq!(
            derive_name(NameRules::Azure, &o, &[]),
            "k8s-default-web-0fdafe6584db"
        );
        let g = Owner::cluster_scoped("prod", OwnerKind::IngressGroup, "shared");
        assert_eq!(
            derive_name(NameRules::Elbv2, &g, &[]),
            "k8s-shared-af704bbea6"
        );
    }

    #[test]
    fn names_follow_the_aws_load_balancer_controller_shape() {
        let o = svc("kube-system", "very-long-service-name");
        let n = derive_name(NameRules::Elbv2, &o, &[]);
        assert!(n.starts_with("k8s-kubesyst-verylong-"), "{n}");
        assert_eq!(n.len(), 32);
    }

    #[test]
    fn one_hundred_thousand_names_do_not_collide() {
        for rules in [NameRules::Elbv2, NameRules::Gce, NameRules::Azure] {
            let mut seen = HashSet::with_capacity(100_000);
            for i in 0..100_000u32 {
                // Readable parts collide on purpose: only the hash tells them apart.
                let o = svc(&format!("team-{}", i % 7), &format!("service-name-{i}"));
                let n = derive_name(rules, &o, &[]);
                assert!(rules.is_valid(&n), "{rules:?} {n}");
                assert!(seen.insert(n.clone()), "{rules:?} collision at {i}: {n}");
            }
        }
    }

    #[test]
    fn discriminators_and_clusters_change_the_name() {
        let o = svc("a", "b");
        let a = derive_name(NameRules::Elbv2, &o, &["x"]);
        let b = derive_name(NameRules::Elbv2, &o, &["y"]);
        let mut other = o.clone();
        other.cluster = "staging".into();
        let c = derive_name(NameRules::Elbv2, &other, &["x"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(short_hash(&["ab", "c"], 64), short_hash(&["a", "bc"], 64));
    }

    #[test]
    fn validity_rules_reject_what_the_clouds_reject() {
        assert!(!NameRules::Elbv2.is_valid("internal-foo"));
        assert!(!NameRules::Elbv2.is_valid("-foo"));
        assert!(!NameRules::Elbv2.is_valid("foo_bar"));
        assert!(!NameRules::Elbv2.is_valid(&"a".repeat(33)));
        assert!(!NameRules::Gce.is_valid("Foo"));
        assert!(!NameRules::Gce.is_valid("1foo"));
        assert!(!NameRules::Gce.is_valid("foo-"));
        assert!(NameRules::Azure.is_valid("a.b_c-d_"));
        assert!(!NameRules::Azure.is_valid(".a"));
        assert!(!NameRules::Azure.is_valid("a."));
    }

    #[test]
    fn tags_round_trip_and_foreign_tags_are_not_ours() {
        let o = svc("default", "web");
        let tags = o.aws_tags();
        assert_eq!(
            tags.get("kubernetes.io/cluster/prod").map(String::as_str),
            Some("owned")
        );
        assert_eq!(Owner::from_tags(&tags), Some(o.clone()));
        assert!(o.owns(&tags));
        assert!(Owner::cluster_owns("prod", &tags));
        assert!(!Owner::cluster_owns("staging", &tags));
        assert!(!svc("default", "api").owns(&tags));
        let mut foreign = BTreeMap::new();
        foreign.insert("Name".to_string(), "k8s-default-web-0fdafe6584".to_string());
        assert!(!o.owns(&foreign));
        let g = Owner::cluster_scoped("prod", OwnerKind::IngressGroup, "shared");
        assert_eq!(Owner::from_tags(&g.tags()), Some(g));
    }

    #[test]
    fn gce_labels_fit_label_rules() {
        let o = svc("Default", "Web.Frontend");
        for (k, v) in o.gce_labels() {
            for s in [&k, &v] {
                assert!(s.len() <= 63);
                assert!(
                    s.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'_'
                        || b == b'-'),
                    "{s}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_owner_gets_a_valid_name(ns in "\\PC{0,80}", name in "\\PC{0,300}", d in "\\PC{0,40}") {
            let o = svc(&ns, &name);
            for rules in [NameRules::Elbv2, NameRules::Gce, NameRules::Azure] {
                let n = derive_name(rules, &o, &[&d]);
                prop_assert!(rules.is_valid(&n), "{:?} {}", rules, n);
                prop_assert_eq!(n.clone(), derive_name(rules, &o, &[&d]));
            }
        }
    }
}
