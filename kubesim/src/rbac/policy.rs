//! The RBAC objects as the authorizer reads them, and the decision for one identity and one
//! request, walked as upstream's `VisitRulesFor` walks them: every ClusterRoleBinding, then
//! the RoleBindings of the request's namespace; a binding whose role is missing contributes
//! an error to the reason, not a failure.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::attributes::Attributes;
use super::rules::PolicyRule;
use crate::auth::Identity;
use crate::store::{ListOptions, Store};

/// The group RBAC's kinds live in.
pub const GROUP: &str = "rbac.authorization.k8s.io";
pub use crate::auth::MASTERS;

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// The role a binding grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoleRef {
    pub kind: String,
    pub name: String,
}

/// A RoleBinding (with its namespace) or ClusterRoleBinding (namespace empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub namespace: String,
    pub role_ref: RoleRef,
    pub subjects: Vec<Subject>,
}

/// The service-account user name (`serviceaccount.MakeUsername`).
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

impl Binding {
    fn kind(&self) -> &'static str {
        if self.namespace.is_empty() {
            "ClusterRoleBinding"
        } else {
            "RoleBinding"
        }
    }

    /// The first subject that is `user` (upstream `appliesTo`): a User by name, a Group by
    /// membership, a ServiceAccount by its user name, its namespace defaulting to the
    /// binding's.
    fn subject_for(&self, user: &Identity) -> Option<&Subject> {
        self.subjects.iter().find(|s| match s.kind.as_str() {
            "User" => s.name == user.name,
            "Group" => user.groups.contains(&s.name),
            "ServiceAccount" => {
                let ns = if s.namespace.is_empty() {
                    &self.namespace
                } else {
                    &s.namespace
                };
                service_account_user(ns, &s.name) == user.name
            }
            _ => false,
        })
    }

    /// How upstream names the grant in an "allowed by" reason.
    fn describe(&self, subject: &Subject) -> String {
        let who = match subject.kind.as_str() {
            "ServiceAccount" => {
                let ns = if subject.namespace.is_empty() {
                    &self.namespace
                } else {
                    &subject.namespace
                };
                format!("{} {:?}", subject.kind, format!("{}/{ns}", subject.name))
            }
            _ => format!("{} {:?}", subject.kind, subject.name),
        };
        let name = if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.name, self.namespace)
        };
        format!(
            "{} {name:?} of {} {:?} to {who}",
            self.kind(),
            self.role_ref.kind,
            self.role_ref.name
        )
    }
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RBAC: allowed by ...` when allowed; when denied, the errors met on the way (a
    /// binding to a missing role), or empty.
    pub reason: String,
}

/// A rule granted to an identity, and where: `namespace` is empty for a ClusterRoleBinding
/// (every namespace and the cluster scope) and the RoleBinding's namespace otherwise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub namespace: String,
    pub rule: PolicyRule,
}

/// The rules of an identity in one namespace, with the errors met resolving them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesFor {
    pub rules: Vec<PolicyRule>,
    pub errors: Vec<String>,
}

/// A snapshot of the RBAC objects.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    cluster_roles: BTreeMap<String, Vec<PolicyRule>>,
    roles: BTreeMap<(String, String), Vec<PolicyRule>>,
    cluster_role_bindings: Vec<Binding>,
    role_bindings: Vec<Binding>,
}

fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(obj, |v, k| &v[*k])
        .as_str()
        .unwrap_or_default()
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| serde_json::from_value(r.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn binding_of(obj: &Value) -> Option<Binding> {
    Some(Binding {
        name: str_at(obj, &["metadata", "name"]).to_string(),
        namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
        role_ref: serde_json::from_value(obj["roleRef"].clone()).ok()?,
        subjects: obj["subjects"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|s| serde_json::from_value(s.clone()).ok())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

impl Policy {
    /// A policy from RBAC objects of the four kinds (other kinds are skipped).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Policy {
        let mut policy = Policy::default();
        for obj in objects {
            let api_version = str_at(obj, &["apiVersion"]);
            if api_version.split('/').next() != Some(GROUP) {
                continue;
            }
            let name = str_at(obj, &["metadata", "name"]).to_string();
            match str_at(obj, &["kind"]) {
                "ClusterRole" => {
                    policy.cluster_roles.insert(name, rules_of(obj));
                }
                "Role" => {
                    let ns = str_at(obj, &["metadata", "namespace"]).to_string();
                    policy.roles.insert((ns, name), rules_of(obj));
                }
                "ClusterRoleBinding" => {
                    if let Some(mut b) = binding_of(obj) {
                        b.namespace.clear();
                        policy.cluster_role_bindings.push(b);
                    }
                }
                "RoleBinding" => {
                    if let Some(b) = binding_of(obj).filter(|b| !b.namespace.is_empty()) {
                        policy.role_bindings.push(b);
                    }
                }
                _ => {}
            }
        }
        policy
    }

    /// The RBAC objects stored right now.
    pub fn load(store: &Store) -> Policy {
        let mut objects = Vec::new();
        for kind in ["ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"] {
            let Some(info) = store.resource(&format!("{GROUP}/v1"), kind) else {
                continue;
            };
            if let Ok(page) = store.list(&info, None, &ListOptions::default()) {
                objects.extend(page.items.into_iter().map(|item| {
                    let mut obj = (*item).clone();
                    obj["apiVersion"] = Value::from(format!("{GROUP}/v1"));
                    obj["kind"] = Value::from(kind);
                    obj
                }));
            }
        }
        Policy::from_objects(objects.iter())
    }

    fn role_rules(&self, binding: &Binding) -> Result<&[PolicyRule], String> {
        let found = match binding.role_ref.kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&binding.role_ref.name),
            "Role" => self
                .roles
                .get(&(binding.namespace.clone(), binding.role_ref.name.clone())),
            _ => None,
        };
        found.map(Vec::as_slice).ok_or_else(|| {
            format!(
                "{}.{GROUP} {:?} not found",
                binding.role_ref.kind.to_ascii_lowercase(),
                binding.role_ref.name
            )
        })
    }

    /// The bindings that can apply in `namespace`: all ClusterRoleBindings, then that
    /// namespace's RoleBindings.
    fn bindings_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Binding> + 'a {
        self.cluster_role_bindings.iter().chain(
            self.role_bindings
                .iter()
                .filter(move |b| !namespace.is_empty() && b.namespace == namespace),
        )
    }

    /// Whether RBAC allows `user` the request.
    pub fn authorize(&self, user: &Identity, request: &Attributes) -> Decision {
        let namespace = request.resource().map_or("", |r| r.namespace.as_str());
        let mut errors = Vec::new();
        for binding in self.bindings_in(namespace) {
            let Some(subject) = binding.subject_for(user) else {
                continue;
            };
            match self.role_rules(binding) {
                Ok(rules) => {
                    if rules.iter().any(|r| r.allows(request)) {
                        return Decision {
                            allowed: true,
                            reason: format!("RBAC: allowed by {}", binding.describe(subject)),
                        };
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let reason = if errors.is_empty() {
            String::new()
        } else if errors.len() == 1 {
            format!("RBAC: {}", errors[0])
        } else {
            format!("RBAC: [{}]", errors.join(", "))
        };
        Decision {
            allowed: false,
            reason,
        }
    }

    /// Every rule `user` has in `namespace` (empty: the cluster-wide ones only), as
    /// `SelfSubjectRulesReview` reports them.
    pub fn rules_for(&self, user: &Identity, namespace: &str) -> RulesFor {
        let mut out = RulesFor::default();
        for binding in self.bindings_in(namespace) {
            if binding.subject_for(user).is_none() {
                continue;
            }
            match self.role_rules(binding) {
                Ok(rules) => out.rules.extend(rules.iter().cloned()),
                Err(e) => out.errors.push(e),
            }
        }
        out
    }

    /// Every rule granted to `user` anywhere, with the namespace it holds in.
    pub fn grants(&self, user: &Identity) -> Vec<Grant> {
        let mut out = Vec::new();
        for binding in self.cluster_role_bindings.iter().chain(&self.role_bindings) {
            if binding.subject_for(user).is_none() {
                continue;
            }
            if let Ok(rules) = self.role_rules(binding) {
                out.extend(rules.iter().map(|rule| Grant {
                    namespace: binding.namespace.clone(),
                    rule: rule.clone(),
                }));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn policy() -> Policy {
        let objects = [
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "node-reader"},
                "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["nodes"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "nodes"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "cloudnet-node", "namespace": "kube-system"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "lease", "namespace": "kube-system"},
                "rules": [{"verbs": ["get", "update"], "apiGroups": ["coordination.k8s.io"],
                           "resources": ["leases"], "resourceNames": ["lock"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "lease", "namespace": "kube-system"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lease"},
                // No namespace: the binding's.
                "subjects": [{"kind": "ServiceAccount", "name": "ctl"}]}),
            // A ClusterRole bound in one namespace grants it there only.
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "readers", "namespace": "team"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"kind": "Group", "name": "readers"}, {"kind": "User", "name": "alice"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "pod-reader"},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "dangling"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gone"},
                "subjects": [{"kind": "User", "name": "bob"}]}),
            // Not RBAC: skipped.
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        ];
        Policy::from_objects(objects.iter())
    }

    fn request(method: &str, path: &str) -> Attributes {
        Attributes::from_request(method, path, &HashMap::new())
    }

    fn user(name: &str, groups: &[&str]) -> Identity {
        Identity {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn decisions() {
        let p = policy();
        let node = Identity::service_account("kube-system", "cloudnet-node");
        let ctl = Identity::service_account("kube-system", "ctl");
        let other_ns_ctl = Identity::service_account("default", "ctl");
        let reader = user("carol", &["readers", "system:authenticated"]);
        let alice = user("alice", &[]);
        let cases = [
            (&node, request("GET", "/api/v1/nodes"), true),
            (&node, request("GET", "/api/v1/nodes/n1"), true),
            (&node, request("PATCH", "/api/v1/nodes/n1"), false),
            (&node, request("GET", "/api/v1/nodes/n1/status"), false),
            (
                &node,
                request("GET", "/api/v1/namespaces/kube-system/pods"),
                false,
            ),
            (
                &ctl,
                request(
                    "GET",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock",
                ),
                true,
            ),
            (
                &ctl,
                request(
                    "PUT",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock",
                ),
                true,
            ),
            (
                &ctl,
                request(
                    "GET",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other",
                ),
                false,
            ),
            (
                &ctl,
                request(
                    "POST",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                ),
                false,
            ),
            (
                &ctl,
                request(
                    "GET",
                    "/apis/coordination.k8s.io/v1/namespaces/default/leases/lock",
                ),
                false,
            ),
            // Same account name, other namespace: another identity.
            (
                &other_ns_ctl,
                request(
                    "GET",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock",
                ),
                false,
            ),
            (
                &reader,
                request("GET", "/api/v1/namespaces/team/pods"),
                true,
            ),
            (
                &reader,
                request("GET", "/api/v1/namespaces/team/pods/p/log"),
                true,
            ),
            (
                &reader,
                request("GET", "/api/v1/namespaces/other/pods"),
                false,
            ),
            (&reader, request("GET", "/api/v1/pods"), false),
            (
                &alice,
                request("GET", "/api/v1/namespaces/team/pods/p"),
                true,
            ),
        ];
        for (i, (who, req, want)) in cases.iter().enumerate() {
            assert_eq!(
                p.authorize(who, req).allowed,
                *want,
                "case {i}: {} {req:?}",
                who.name
            );
        }
    }

    #[test]
    fn reasons_read_as_upstream() {
        let p = policy();
        let node = Identity::service_account("kube-system", "cloudnet-node");
        assert_eq!(
            p.authorize(&node, &request("GET", "/api/v1/nodes")).reason,
            "RBAC: allowed by ClusterRoleBinding \"nodes\" of ClusterRole \"node-reader\" to ServiceAccount \"cloudnet-node/kube-system\""
        );
        let ctl = Identity::service_account("kube-system", "ctl");
        assert_eq!(
            p.authorize(
                &ctl,
                &request(
                    "GET",
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock"
                )
            )
            .reason,
            "RBAC: allowed by RoleBinding \"lease/kube-system\" of Role \"lease\" to ServiceAccount \"ctl/kube-system\""
        );
        let bob = user("bob", &[]);
        let denied = p.authorize(&bob, &request("GET", "/api/v1/nodes"));
        assert!(!denied.allowed);
        assert_eq!(
            denied.reason,
            "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found"
        );
        assert_eq!(
            p.authorize(&node, &request("GET", "/api/v1/pods")).reason,
            ""
        );
    }

    #[test]
    fn rules_and_grants() {
        let p = policy();
        let ctl = Identity::service_account("kube-system", "ctl");
        assert!(p.rules_for(&ctl, "").rules.is_empty());
        assert_eq!(p.rules_for(&ctl, "kube-system").rules.len(), 1);
        let grants = p.grants(&ctl);
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].namespace, "kube-system");
        let bob = user("bob", &[]);
        assert_eq!(
            p.rules_for(&bob, "").errors,
            vec!["clusterrole.rbac.authorization.k8s.io \"gone\" not found"]
        );
    }
}
