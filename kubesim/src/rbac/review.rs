//! `SelfSubjectAccessReview` and `SelfSubjectRulesReview` (`authorization.k8s.io/v1`,
//! create only, never stored), answered from the same policy that enforces requests, so
//! `kubectl auth can-i` and `kubectl auth can-i --list` tell the truth about an identity.

use serde_json::{Value, json};

use super::attributes::{Attributes, Request, ResourceAttributes};
use super::policy::{MASTERS, Policy};
use super::rules::PolicyRule;
use crate::auth::Identity;
use crate::error::{Reason, StatusError};
use crate::store::Store;

/// The group of the review kinds.
pub const GROUP: &str = "authorization.k8s.io";
pub const ACCESS_REVIEWS: &str = "selfsubjectaccessreviews";
pub const RULES_REVIEWS: &str = "selfsubjectrulesreviews";

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn invalid(kind: &str, field: &str, why: &str) -> StatusError {
    StatusError::invalid(GROUP, kind, "", field, why)
}

/// The attributes a review's spec asks about.
fn spec_attributes(spec: &Value) -> Result<Attributes, StatusError> {
    let kind = "SelfSubjectAccessReview";
    let resource = &spec["resourceAttributes"];
    let non_resource = &spec["nonResourceAttributes"];
    match (resource.is_object(), non_resource.is_object()) {
        (true, false) => Ok(Attributes {
            verb: text(resource, "verb"),
            request: Request::Resource(ResourceAttributes {
                group: text(resource, "group"),
                version: text(resource, "version"),
                resource: text(resource, "resource"),
                subresource: text(resource, "subresource"),
                namespace: text(resource, "namespace"),
                name: text(resource, "name"),
            }),
        }),
        (false, true) => Ok(Attributes {
            verb: text(non_resource, "verb"),
            request: Request::NonResource {
                path: text(non_resource, "path"),
            },
        }),
        (true, true) => Err(invalid(
            kind,
            "spec.resourceAttributes",
            "Invalid value: \"\": cannot be specified in combination with resourceAttributes",
        )),
        (false, false) => Err(invalid(
            kind,
            "spec.resourceAttributes",
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

fn check_kind(body: &Value, kind: &str) -> Result<(), StatusError> {
    match body["kind"].as_str() {
        None | Some("") => Ok(()),
        Some(k) if k == kind => Ok(()),
        Some(other) => Err(StatusError::bad_request(format!(
            "the body is a {other}, not a {kind}"
        ))),
    }
}

/// Answers a `SelfSubjectAccessReview` for `user`: the request's object with `status`.
/// Without enforcement everything is allowed, as the API then behaves.
pub fn access_review(
    store: &Store,
    user: &Identity,
    body: &Value,
    enforced: bool,
) -> Result<Value, StatusError> {
    check_kind(body, "SelfSubjectAccessReview")?;
    let attributes = spec_attributes(&body["spec"])?;
    let decision = if enforced {
        super::authorize(store, user, &attributes)
    } else {
        super::Decision {
            allowed: true,
            reason: String::new(),
        }
    };
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    Ok(json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"creationTimestamp": null},
        "spec": body["spec"].clone(),
        "status": status,
    }))
}

fn resource_rule(rule: &PolicyRule) -> Value {
    let mut out = json!({"verbs": rule.verbs});
    for (key, list) in [
        ("apiGroups", &rule.api_groups),
        ("resources", &rule.resources),
        ("resourceNames", &rule.resource_names),
    ] {
        if !list.is_empty() {
            out[key] = json!(list);
        }
    }
    out
}

/// Answers a `SelfSubjectRulesReview` for `user` in `spec.namespace`; without enforcement
/// every identity may do everything, and is told so.
pub fn rules_review(
    store: &Store,
    user: &Identity,
    body: &Value,
    enforced: bool,
) -> Result<Value, StatusError> {
    check_kind(body, "SelfSubjectRulesReview")?;
    let namespace = text(&body["spec"], "namespace");
    if namespace.is_empty() {
        return Err(StatusError::new(
            Reason::BadRequest,
            "no namespace on request",
        ));
    }
    let mut found = super::policy::RulesFor::default();
    if !enforced || user.groups.iter().any(|g| g == MASTERS) {
        // What upstream's always-allow and privileged-group authorizers report.
        found.rules.push(PolicyRule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: vec!["*".into()],
            ..PolicyRule::default()
        });
        found.rules.push(PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..PolicyRule::default()
        });
    }
    if enforced {
        let rbac = Policy::load(store).rules_for(user, &namespace);
        found.rules.extend(rbac.rules);
        found.errors = rbac.errors;
    }
    let resource_rules: Vec<Value> = found
        .rules
        .iter()
        .filter(|r| r.non_resource_urls.is_empty())
        .map(resource_rule)
        .collect();
    let non_resource_rules: Vec<Value> = found
        .rules
        .iter()
        .filter(|r| !r.non_resource_urls.is_empty())
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !found.errors.is_empty(),
    });
    if !found.errors.is_empty() {
        status["evaluationError"] = json!(found.errors.join(", "));
    }
    Ok(json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"creationTimestamp": null},
        "spec": body["spec"].clone(),
        "status": status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_needs_exactly_one_kind_of_attributes() {
        let both = json!({"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/", "verb": "get"}});
        assert_eq!(spec_attributes(&both).map_err(|e| e.code()), Err(422));
        assert_eq!(spec_attributes(&json!({})).map_err(|e| e.code()), Err(422));
        let attrs = spec_attributes(&json!({"resourceAttributes": {
            "verb": "patch", "group": "cloudnet.io", "resource": "nodenetworks",
            "subresource": "status", "name": "n1"}}))
        .expect("valid");
        assert_eq!(attrs.verb, "patch");
        assert_eq!(
            attrs.resource().map(ResourceAttributes::combined_resource),
            Some("nodenetworks/status".into())
        );
        let path =
            spec_attributes(&json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}))
                .expect("valid");
        assert_eq!(
            path.request,
            Request::NonResource {
                path: "/healthz".into()
            }
        );
    }
}
