//! The subresources besides `status`: `scale`, `binding` and `finalize`.

use axum::response::Response;
use serde_json::{Value, json};

use super::{Req, Res, content_type, decode, not_found_path};
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::patch;
use crate::resources::ResourceInfo;
use crate::respond::json_response;

impl Req<'_> {
    pub(super) fn scale(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        verb: &str,
    ) -> Res<Response> {
        let live = self.store().get(info, ns, name)?;
        let current = scale_doc(&live);
        let wanted = match verb {
            "get" => return Ok(self.respond(200, &current)),
            "update" => decode(&self.body, &content_type(self.headers))?,
            "patch" => {
                let doc: Value = serde_json::from_slice(&self.body).map_err(|e| {
                    StatusError::bad_request(format!("the patch is not valid JSON: {e}"))
                })?;
                let mut scale = current.clone();
                match content_type(self.headers).as_str() {
                    "application/json-patch+json" => patch::json_patch(&mut scale, &doc)?,
                    "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                        json_patch::merge(&mut scale, &doc)
                    }
                    other => return Err(StatusError::unsupported_media_type(other)),
                }
                scale
            }
            _ => {
                return Err(StatusError::method_not_allowed(
                    "only get, update and patch are allowed on scale",
                ));
            }
        };
        let replicas = wanted["spec"]["replicas"].as_i64().ok_or_else(|| {
            StatusError::new(
                Reason::Invalid,
                "Scale.autoscaling \"\" is invalid: spec.replicas: Required value",
            )
        })?;
        if replicas < 0 {
            return Err(StatusError::invalid(
                "autoscaling",
                "Scale",
                name,
                "spec.replicas",
                "Invalid value: must be greater than or equal to 0",
            ));
        }
        let mut obj = (*live).clone();
        if !obj["spec"].is_object() {
            return Err(StatusError::invalid(
                &info.group,
                &info.kind,
                name,
                "spec",
                "Invalid value: spec must be an object",
            ));
        }
        obj["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str() {
            meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv));
        }
        let updated =
            self.store()
                .update_with(info, ns, name, obj, false, &self.write_options(verb)?)?;
        Ok(self.respond(200, &scale_doc(&updated)))
    }

    /// `PUT namespaces/{name}/finalize`: only `spec.finalizers` of the body is used.
    pub(super) fn finalize(&self, name: &str, verb: &str) -> Res<Response> {
        if verb != "update" {
            return Err(StatusError::method_not_allowed(
                "only update is allowed on finalize",
            ));
        }
        let body = decode(&self.body, &content_type(self.headers))?;
        let finalizers = match &body["spec"]["finalizers"] {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .map(|f| {
                    f.as_str().map(str::to_string).ok_or_else(|| {
                        StatusError::invalid(
                            "",
                            "Namespace",
                            name,
                            "spec.finalizers",
                            "Invalid value: must be strings",
                        )
                    })
                })
                .collect::<Res<Vec<_>>>()?,
            _ => {
                return Err(StatusError::invalid(
                    "",
                    "Namespace",
                    name,
                    "spec.finalizers",
                    "Invalid value: must be a list",
                ));
            }
        };
        if self.dry_run(verb)? {
            let info = self
                .store()
                .resource("v1", "Namespace")
                .ok_or_else(not_found_path)?;
            let mut namespace = (*self.store().get(&info, None, name)?).clone();
            namespace["spec"]["finalizers"] = json!(finalizers);
            return Ok(self.respond(200, &namespace));
        }
        let namespace = self.store().finalize_namespace(name, finalizers)?;
        Ok(self.respond(200, &namespace))
    }

    pub(super) fn bind(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        verb: &str,
    ) -> Res<Response> {
        if verb != "create" {
            return Err(StatusError::method_not_allowed(
                "only create is allowed on binding",
            ));
        }
        let binding = decode(&self.body, &content_type(self.headers))?;
        let node = binding["target"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                StatusError::invalid("", "Binding", name, "target.name", "Required value")
            })?;
        let live = self.store().get(info, ns, name)?;
        let assigned = live["spec"]["nodeName"].as_str().unwrap_or_default();
        if !assigned.is_empty() {
            return Err(StatusError::conflict(
                "",
                "pods",
                name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        let mut pod = (*live).clone();
        if !pod["spec"].is_object() || !(pod["status"].is_object() || pod["status"].is_null()) {
            return Err(StatusError::invalid(
                "",
                "Pod",
                name,
                "spec",
                "Invalid value: spec and status must be objects",
            ));
        }
        pod["spec"]["nodeName"] = json!(node);
        let opts = self.write_options(verb)?;
        self.store()
            .update_with(info, ns, name, pod, false, &opts)?;
        if opts.dry_run {
            return Ok(json_response(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ));
        }
        let mut pod = (*self.store().get(info, ns, name)?).clone();
        let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now()});
        let mut conditions = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| c["type"] != "PodScheduled");
        conditions.push(condition);
        pod["status"]["conditions"] = json!(conditions);
        self.store().update(info, ns, name, pod, true)?;
        Ok(json_response(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        ))
    }
}

fn scale_doc(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}
