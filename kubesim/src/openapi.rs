//! A minimal OpenAPI v3 index: one document per group/version whose PATCH operations carry the
//! `x-kubernetes-group-version-kind` extension and the `fieldValidation` query parameter.
//!
//! That is what kubectl checks before it hands validation to the server
//! (`--validate=strict`, its default); without it kubectl insists on downloading schemas.
//! No schemas are served: kubectl then computes strategic merge patches from its compiled-in
//! types, and JSON merge patches for custom resources.

use serde_json::{Value, json};

use crate::resources::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the list of group/version documents.
pub fn root(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = registry
        .all()
        .map(|r| (r.group.clone(), r.version.clone()))
        .collect();
    gvs.dedup();
    gvs.sort();
    gvs.dedup();
    for (g, v) in gvs {
        let path = gv_path(&g, &v);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash=kubesim")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<api/v1|apis/group/version>`, or `None` when nothing is served there.
pub fn group_version(registry: &Registry, path: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for r in registry
        .all()
        .filter(|r| gv_path(&r.group, &r.version) == path)
    {
        let ns = if r.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
        ]);
        let op = |id: &str| {
            json!({
                "operationId": format!("{id}{}", r.kind),
                "parameters": params,
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}},
            })
        };
        paths.insert(
            format!("/{path}/{ns}{}/{{name}}", r.plural),
            json!({"get": op("read"), "put": op("replace"), "patch": op("patch"), "delete": op("delete")}),
        );
        paths.insert(
            format!("/{path}/{ns}{}", r.plural),
            json!({"get": op("list"), "post": op("create")}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0-kubesim"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
