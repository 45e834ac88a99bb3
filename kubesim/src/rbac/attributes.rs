//! What a request asks to do, in the authorizer's terms, derived from its method, path and
//! query as the real API server's `RequestInfoFactory` derives it; and the 403 it gets when
//! no rule allows it.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::error::{Reason, StatusError};

/// A request as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection for resources; the
    /// lower-cased HTTP method for paths.
    pub verb: String,
    pub request: Request,
}

/// A resource request or a plain path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Resource(ResourceAttributes),
    NonResource { path: String },
}

/// The resource a request addresses; empty strings where the request has none, as upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    /// For `namespaces/<name>` this is `<name>`, as upstream.
    pub namespace: String,
    pub name: String,
}

impl ResourceAttributes {
    /// `pods` or `pods/status`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// Whether a `watch` query value asks for a watch: any value but `false`/`0`, as the
/// API's parameter conversion reads booleans.
pub fn watch_requested(value: Option<&str>) -> bool {
    value.is_some_and(|v| !(v.eq_ignore_ascii_case("false") || v == "0"))
}

/// `metadata.name` when a field selector requires exactly that name.
fn exact_name(selector: &str) -> Option<&str> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        let rest = term.strip_prefix("metadata.name")?;
        let value = rest.strip_prefix("==").or_else(|| rest.strip_prefix('='))?;
        (!value.is_empty() && !value.contains('/') && value != "." && value != "..")
            .then_some(value)
    })
}

impl Attributes {
    /// The attributes of a request.
    pub fn from_request(method: &str, path: &str, query: &HashMap<String, String>) -> Attributes {
        let non_resource = || Attributes {
            verb: method.to_ascii_lowercase(),
            request: Request::NonResource {
                path: path.to_string(),
            },
        };
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() < 3 {
            return non_resource();
        }
        let (group, rest) = match parts[0] {
            "api" => ("", &parts[1..]),
            "apis" if parts.len() >= 4 => (parts[1], &parts[2..]),
            _ => return non_resource(),
        };
        let version = rest[0];
        let mut rest = &rest[1..];
        let mut verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
        // The deprecated `/watch/` prefix.
        if rest.first() == Some(&"watch") && rest.len() >= 2 {
            verb = "watch".into();
            rest = &rest[1..];
        }
        let mut namespace = "";
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            namespace = rest[1];
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        let at = |i: usize| rest.get(i).copied().unwrap_or_default().to_string();
        let mut attrs = ResourceAttributes {
            group: group.into(),
            version: version.into(),
            resource: at(0),
            name: at(1),
            subresource: at(2),
            namespace: namespace.into(),
        };
        if attrs.name.is_empty() && verb == "get" {
            verb = if watch_requested(query.get("watch").map(String::as_str)) {
                "watch".into()
            } else {
                "list".into()
            };
            if let Some(name) = query.get("fieldSelector").and_then(|s| exact_name(s)) {
                attrs.name = name.to_string();
            }
        }
        if attrs.name.is_empty() && verb == "delete" {
            verb = "deletecollection".into();
        }
        Attributes {
            verb,
            request: Request::Resource(attrs),
        }
    }

    /// The resource attributes, if this is a resource request.
    pub fn resource(&self) -> Option<&ResourceAttributes> {
        match &self.request {
            Request::Resource(r) => Some(r),
            Request::NonResource { .. } => None,
        }
    }

    /// The text after `forbidden: ` in the API's denial (upstream `forbiddenMessage`).
    pub fn forbidden_message(&self, user: &str) -> String {
        match &self.request {
            Request::NonResource { path } => {
                format!("User {user:?} cannot {} path {path:?}", self.verb)
            }
            Request::Resource(r) if !r.namespace.is_empty() => format!(
                "User {user:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                self.verb,
                r.combined_resource(),
                r.group,
                r.namespace
            ),
            Request::Resource(r) => format!(
                "User {user:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                self.verb,
                r.combined_resource(),
                r.group
            ),
        }
    }

    /// The 403 the API answers when no rule allows the request (`apierrors.NewForbidden`),
    /// with the authorizer's reason appended when it has one.
    pub fn forbidden(&self, user: &str, reason: &str) -> StatusError {
        let mut why = self.forbidden_message(user);
        if !reason.is_empty() {
            why = format!("{why}: {reason}");
        }
        let (message, details) = match &self.request {
            Request::NonResource { .. } => (format!("forbidden: {why}"), Map::new()),
            Request::Resource(r) => {
                let qualified = if r.group.is_empty() {
                    r.resource.clone()
                } else {
                    format!("{}.{}", r.resource, r.group)
                };
                let message = if r.name.is_empty() {
                    format!("{qualified} is forbidden: {why}")
                } else {
                    format!("{qualified} {:?} is forbidden: {why}", r.name)
                };
                let mut details = Map::new();
                for (key, value) in [
                    ("name", &r.name),
                    ("group", &r.group),
                    ("kind", &r.resource),
                ] {
                    if !value.is_empty() {
                        details.insert(key.into(), json!(value));
                    }
                }
                (message, details)
            }
        };
        let mut error = StatusError::new(Reason::Forbidden, message);
        error.details = Some(Value::Object(details));
        error
    }
}

#[cfg(test)]
impl Attributes {
    /// A request for a resource (version `v1`).
    pub(crate) fn resource_request(
        verb: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            request: Request::Resource(ResourceAttributes {
                group: group.into(),
                version: "v1".into(),
                resource: resource.into(),
                subresource: subresource.into(),
                namespace: namespace.into(),
                name: name.into(),
            }),
        }
    }

    /// A request for a path that is not a resource.
    pub(crate) fn path_request(verb: &str, path: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            request: Request::NonResource { path: path.into() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path_and_query: &str) -> Attributes {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let query = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        Attributes::from_request(method, path, &query)
    }

    fn res(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
        Attributes::resource_request(verb, group, resource, sub, ns, name)
    }

    fn path(verb: &str, path: &str) -> Attributes {
        Attributes::path_request(verb, path)
    }

    #[test]
    fn requests_map_to_verbs_as_upstream() {
        let cases = [
            ("GET", "/api/v1/pods", res("list", "", "pods", "", "", "")),
            (
                "GET",
                "/api/v1/pods?watch=true",
                res("watch", "", "pods", "", "", ""),
            ),
            (
                "GET",
                "/api/v1/pods?watch=1",
                res("watch", "", "pods", "", "", ""),
            ),
            (
                "GET",
                "/api/v1/pods?watch=false",
                res("list", "", "pods", "", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/d/pods/p",
                res("get", "", "pods", "", "d", "p"),
            ),
            (
                "HEAD",
                "/api/v1/namespaces/d/pods/p",
                res("get", "", "pods", "", "d", "p"),
            ),
            (
                "GET",
                "/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3Dp&watch=1",
                res("watch", "", "pods", "", "d", "p"),
            ),
            (
                "GET",
                "/api/v1/nodes?fieldSelector=metadata.name%3D%3Dn1,spec.unschedulable%3Dfalse",
                res("list", "", "nodes", "", "", "n1"),
            ),
            (
                "POST",
                "/api/v1/namespaces/d/pods",
                res("create", "", "pods", "", "d", ""),
            ),
            (
                "PUT",
                "/api/v1/namespaces/d/pods/p/status",
                res("update", "", "pods", "status", "d", "p"),
            ),
            (
                "PATCH",
                "/api/v1/nodes/n1/status",
                res("patch", "", "nodes", "status", "", "n1"),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/d/pods/p",
                res("delete", "", "pods", "", "d", "p"),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/d/pods",
                res("deletecollection", "", "pods", "", "d", ""),
            ),
            (
                "POST",
                "/api/v1/namespaces/d/pods/p/binding",
                res("create", "", "pods", "binding", "d", "p"),
            ),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l",
                res(
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    "",
                    "kube-system",
                    "l",
                ),
            ),
            (
                "GET",
                "/apis/cloudnet.io/v1/nodenetworks/n1",
                res("get", "cloudnet.io", "nodenetworks", "", "", "n1"),
            ),
            // A namespace is its own namespace.
            (
                "GET",
                "/api/v1/namespaces/d",
                res("get", "", "namespaces", "", "d", "d"),
            ),
            (
                "PUT",
                "/api/v1/namespaces/d/finalize",
                res("update", "", "namespaces", "finalize", "d", "d"),
            ),
            (
                "GET",
                "/api/v1/namespaces",
                res("list", "", "namespaces", "", "", ""),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/d/pods",
                res("watch", "", "pods", "", "d", ""),
            ),
            // Discovery and everything else are paths.
            ("GET", "/api", path("get", "/api")),
            ("GET", "/api/v1", path("get", "/api/v1")),
            ("GET", "/apis/apps/v1", path("get", "/apis/apps/v1")),
            ("GET", "/version", path("get", "/version")),
            ("GET", "/_kubesim/audit", path("get", "/_kubesim/audit")),
            ("POST", "/openapi/v3", path("post", "/openapi/v3")),
        ];
        for (method, p, want) in cases {
            assert_eq!(attrs(method, p), want, "{method} {p}");
        }
    }

    #[test]
    fn denials_read_as_upstream() {
        let user = "system:serviceaccount:kube-system:cloudnet-node";
        let cases = [
            (
                attrs("GET", "/api/v1/pods"),
                "pods is forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot list resource \"pods\" in API group \"\" at the cluster scope",
                json!({"kind": "pods"}),
            ),
            (
                attrs("GET", "/api/v1/namespaces/default/pods"),
                "pods is forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"",
                json!({"kind": "pods"}),
            ),
            (
                attrs("PATCH", "/apis/cloudnet.io/v1alpha1/nodenetworks/n1/status"),
                "nodenetworks.cloudnet.io \"n1\" is forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot patch resource \"nodenetworks/status\" in API group \"cloudnet.io\" at the cluster scope",
                json!({"name": "n1", "group": "cloudnet.io", "kind": "nodenetworks"}),
            ),
            (
                attrs("GET", "/_kubesim/audit"),
                "forbidden: User \"system:serviceaccount:kube-system:cloudnet-node\" cannot get path \"/_kubesim/audit\"",
                json!({}),
            ),
        ];
        for (request, message, details) in cases {
            let error = request.forbidden(user, "");
            assert_eq!(error.message, message);
            let status = error.to_status();
            assert_eq!(status["code"], 403);
            assert_eq!(status["reason"], "Forbidden");
            assert_eq!(status["details"], details);
        }
        let with_reason = attrs("GET", "/api/v1/pods").forbidden(
            user,
            "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found",
        );
        assert!(
            with_reason
                .message
                .ends_with("at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found"),
            "{}",
            with_reason.message
        );
    }
}
