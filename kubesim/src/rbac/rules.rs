//! One `PolicyRule` against one request, matched as the real RBAC authorizer matches it
//! (`k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac`, `RuleAllows` and its helpers).

use serde::{Deserialize, Serialize};

use super::attributes::{Attributes, Request};

/// `*` in verbs, apiGroups, resources and nonResourceURLs.
pub const ALL: &str = "*";

/// A rule of a Role or ClusterRole (`rbac.authorization.k8s.io/v1` `PolicyRule`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// Whether this rule allows the request.
    pub fn allows(&self, request: &Attributes) -> bool {
        if !verb_matches(self, &request.verb) {
            return false;
        }
        match &request.request {
            Request::Resource(r) => {
                api_group_matches(self, &r.group)
                    && resource_matches(self, &r.combined_resource(), &r.subresource)
                    && resource_name_matches(self, &r.name)
            }
            Request::NonResource { path } => non_resource_url_matches(self, path),
        }
    }
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == value)
}

pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    has(&rule.verbs, ALL) || has(&rule.verbs, verb)
}

pub fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    has(&rule.api_groups, ALL) || has(&rule.api_groups, group)
}

/// `*`, the exact `resource[/subresource]`, or `*/subresource` for a subresource request.
/// `pods/*` is not a wildcard: the real authorizer compares it literally.
pub fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == ALL
            || r == combined
            || (!subresource.is_empty()
                && r.len() == subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(subresource))
    })
}

/// No names in the rule: any name (and requests without a name). Otherwise the request's name
/// must be listed; a request without a name (list, create) never matches.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    if rule.resource_names.is_empty() {
        return true;
    }
    has(&rule.resource_names, name)
}

/// `*`, the exact path, or a prefix ending in `*`.
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == ALL
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
            non_resource_urls: Vec::new(),
        }
    }

    /// A request in namespace `default`.
    fn res(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::resource_request(verb, group, resource, sub, "default", name)
    }

    fn path(verb: &str, path: &str) -> Attributes {
        Attributes::path_request(verb, path)
    }

    #[test]
    fn resource_rules() {
        let pods_read = rule(&["get", "list", "watch"], &[""], &["pods"], &[]);
        let star = rule(&["*"], &["*"], &["*"], &[]);
        let any_status = rule(&["update"], &[""], &["*/status"], &[]);
        let pods_star = rule(&["get"], &[""], &["pods/*"], &[]);
        let named = rule(
            &["get", "update", "list"],
            &["coordination.k8s.io"],
            &["leases"],
            &["lock"],
        );
        let cases: &[(&PolicyRule, Attributes, bool)] = &[
            (&pods_read, res("get", "", "pods", "", "p"), true),
            (&pods_read, res("list", "", "pods", "", ""), true),
            (&pods_read, res("watch", "", "pods", "", ""), true),
            (&pods_read, res("delete", "", "pods", "", "p"), false),
            // Another group's resource of the same name.
            (
                &pods_read,
                res("get", "metrics.k8s.io", "pods", "", "p"),
                false,
            ),
            // A subresource needs its own grant.
            (&pods_read, res("get", "", "pods", "status", "p"), false),
            (&pods_read, res("get", "", "nodes", "", "n"), false),
            (
                &star,
                res("deletecollection", "apps", "deployments", "", ""),
                true,
            ),
            (&star, res("update", "", "pods", "status", "p"), true),
            (&any_status, res("update", "", "nodes", "status", "n"), true),
            (&any_status, res("update", "", "nodes", "", "n"), false),
            (
                &any_status,
                res("update", "", "nodes", "statuses", "n"),
                false,
            ),
            // `pods/*` is literal, not a wildcard.
            (&pods_star, res("get", "", "pods", "log", "p"), false),
            (&pods_star, res("get", "", "pods", "*", "p"), true),
            (
                &named,
                res("get", "coordination.k8s.io", "leases", "", "lock"),
                true,
            ),
            (
                &named,
                res("get", "coordination.k8s.io", "leases", "", "other"),
                false,
            ),
            // A list has no name, so resourceNames never allow it.
            (
                &named,
                res("list", "coordination.k8s.io", "leases", "", ""),
                false,
            ),
            // A non-resource rule never allows a resource request.
            (
                &rule(&["get"], &[], &[], &[]),
                res("get", "", "pods", "", "p"),
                false,
            ),
        ];
        for (i, (rule, request, want)) in cases.iter().enumerate() {
            assert_eq!(
                rule.allows(request),
                *want,
                "case {i}: {rule:?} vs {request:?}"
            );
        }
    }

    #[test]
    fn non_resource_rules() {
        let discovery = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/api".into(), "/api/*".into(), "/version".into()],
            ..PolicyRule::default()
        };
        let everything = PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..PolicyRule::default()
        };
        let cases: &[(&PolicyRule, Attributes, bool)] = &[
            (&discovery, path("get", "/api"), true),
            (&discovery, path("get", "/api/v1"), true),
            (&discovery, path("get", "/version"), true),
            (&discovery, path("get", "/version/"), false),
            (&discovery, path("get", "/apis"), false),
            (&discovery, path("post", "/api"), false),
            (&everything, path("delete", "/anything/at/all"), true),
            // A resource rule never allows a path.
            (
                &rule(&["*"], &["*"], &["*"], &[]),
                path("get", "/api"),
                false,
            ),
        ];
        for (i, (rule, request, want)) in cases.iter().enumerate() {
            assert_eq!(
                rule.allows(request),
                *want,
                "case {i}: {rule:?} vs {request:?}"
            );
        }
    }

    #[test]
    fn decodes_the_api_field_names() {
        let rule: PolicyRule = serde_json::from_value(serde_json::json!({
            "verbs": ["get"], "apiGroups": [""], "resources": ["nodes"],
            "resourceNames": ["n1"], "nonResourceURLs": ["/healthz"]
        }))
        .expect("decodes");
        assert_eq!(rule.resource_names, vec!["n1"]);
        assert_eq!(rule.non_resource_urls, vec!["/healthz"]);
    }
}
