//! The default roles every cluster's RBAC starts with (upstream `bootstrappolicy`), for the
//! subset this API serves: `cluster-admin` for `system:masters`, discovery, the public info
//! endpoints, and self-reviews for every authenticated identity. Without them no client
//! could discover the API or ask `kubectl auth can-i`.

use serde_json::{Value, json};

use super::policy::{GROUP, MASTERS};
use crate::error::{Reason, StatusError};
use crate::store::Store;

fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRole",
           "metadata": metadata(name), "rules": rules})
}

fn binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g}))
        .collect();
    json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRoleBinding",
           "metadata": metadata(name),
           "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
           "subjects": subjects})
}

/// The default ClusterRoles and their ClusterRoleBindings.
pub fn objects() -> Vec<Value> {
    let authenticated = "system:authenticated";
    vec![
        cluster_role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        binding("cluster-admin", &[MASTERS]),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                     "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                    "verbs": ["get"]}]),
        ),
        binding("system:discovery", &[authenticated]),
        cluster_role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"],
                 "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                 "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
                 "verbs": ["create"]},
            ]),
        ),
        binding("system:basic-user", &[authenticated]),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                    "verbs": ["get"]}]),
        ),
        binding(
            "system:public-info-viewer",
            &[authenticated, "system:unauthenticated"],
        ),
    ]
}

/// Stores the default roles (those already there are left as they are).
pub fn install(store: &Store) -> Result<(), StatusError> {
    for obj in objects() {
        let kind = obj["kind"].as_str().unwrap_or_default();
        let info = store
            .resource(&format!("{GROUP}/v1"), kind)
            .ok_or_else(|| StatusError::internal(format!("{kind} is not served")))?;
        match store.create(&info, None, obj) {
            Ok(_) => {}
            Err(e) if e.reason == Reason::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
