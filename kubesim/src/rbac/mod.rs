//! RBAC enforcement, when [`crate::Config::rbac`] switches it on: each request is turned
//! into the authorizer's attributes ([`attributes`]) and allowed only when a rule of a role
//! bound to the identity allows it, read from the stored Roles, ClusterRoles, RoleBindings
//! and ClusterRoleBindings at that moment ([`policy`]); so a binding created now applies to
//! the next request. Members of `system:masters` bypass it, as upstream.
//!
//! ```text
//!  request ──▶ authenticate ──▶ Attributes::from_request ──▶ masters? ──yes──▶ serve
//!                                                              │ no
//!                       Policy::load(store) (the four kinds) ──▶ authorize ──deny──▶ 403
//!                                                              │ allow
//!                                                              ▼ serve
//! ```
//!
//! Matching ([`rules`]) is upstream's: apiGroups, resources with `*`, `resource/subresource`
//! and `*/subresource`, verbs with `*`, resourceNames, nonResourceURLs with `*` and prefix
//! `/path/*`; subjects User, Group and ServiceAccount. Denials read as the real API's
//! (`pods is forbidden: User "..." cannot list resource "pods" in API group "" at the cluster
//! scope`). [`bootstrap`] installs the default roles a cluster starts with, [`review`]
//! answers `SelfSubjectAccessReview` and `SelfSubjectRulesReview` (create only, never
//! stored, not listed in discovery), and [`surplus`] compares
//! what each identity was granted with what the audit saw it use.
//!
//! Left out: ClusterRole aggregation (an `aggregationRule` is stored, its `rules` are used as
//! written), the escalation check on creating or binding roles (any identity allowed to
//! write RBAC objects may grant what it lacks), impersonation, and the Node authorizer.

pub mod attributes;
pub mod bootstrap;
pub mod policy;
pub mod review;
pub mod rules;
pub mod surplus;

pub use attributes::{Attributes, Request, ResourceAttributes};
pub use policy::{Decision, Grant, MASTERS, Policy, RulesFor};
pub use rules::PolicyRule;
pub use surplus::{Usage, usage};

use crate::auth::Identity;
use crate::store::Store;

/// The RBAC objects among the YAML documents of `yaml` (e.g. `helm template` output).
pub fn objects_from_yaml(yaml: &str) -> Result<Vec<serde_json::Value>, serde_yaml::Error> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value = serde_json::Value::deserialize(doc)?;
        let is_rbac = value["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with(policy::GROUP));
        if is_rbac {
            out.push(value);
        }
    }
    Ok(out)
}

/// Whether `user` may make `request`, against the RBAC objects stored now.
pub fn authorize(store: &Store, user: &Identity, request: &Attributes) -> Decision {
    if user.groups.iter().any(|g| g == MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    Policy::load(store).authorize(user, request)
}
