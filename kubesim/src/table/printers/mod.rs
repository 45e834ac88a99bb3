//! The columns the real API server prints for each kind, and their cells.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Cells, Column, Printer, age, jsonpath};

mod apps;
mod basic;
mod cluster;
mod custom;
mod network;
mod node;
mod pod;
mod service;

use crate::meta;
use crate::resources::ResourceInfo;
pub(super) use custom::path_cell;

const NONE: &str = "<none>";

fn col(name: &str, kind: &str, priority: i64, description: &str) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        format: if name == "Name" {
            "name".into()
        } else {
            String::new()
        },
        description: description.into(),
        priority,
    }
}

fn name_col() -> Column {
    col(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    )
}

fn age_col() -> Column {
    col(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    )
}

fn created(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(age(&obj["metadata"]["creationTimestamp"], now))
}

fn builtin(columns: Vec<Column>, cells: fn(&Value, DateTime<Utc>) -> Vec<Value>) -> Printer {
    Printer {
        columns,
        cells: Cells::Builtin(cells),
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// `status.loadBalancer.ingress` of a Service or Ingress: each entry's IP, else hostname.
fn ingress_addresses(o: &Value) -> Vec<&str> {
    o["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i["ip"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or(i["hostname"].as_str())
        })
        .collect()
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        _ => 0,
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { NONE.into() } else { s }
}

/// `a=b,c=d`, keys sorted, as `labels.FormatLabels` prints a map.
fn format_labels(labels: &Value) -> String {
    let mut pairs: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    or_none(pairs.join(","))
}

/// A LabelSelector as `metav1.FormatLabelSelector` prints it.
fn format_selector(selector: &Value) -> String {
    if !selector.is_object() {
        return NONE.into();
    }
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = strings(&e["values"]).collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// `a,b,c + 2 more...` after `max` entries, `<unset>` when empty (discovery printers).
fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".into();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// The printer for a resource; `crd` is the CustomResourceDefinition serving it, if any.
pub fn printer_for(info: &ResourceInfo, crd: Option<&Value>) -> Printer {
    if info.custom {
        return custom::custom(info, crd);
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Pod") => pod::pod(),
        ("", "Service") => service::service(),
        ("", "Node") => node::node(),
        ("", "Namespace") => basic::namespace(),
        ("", "ConfigMap") => basic::config_map(),
        ("", "Secret") => basic::secret(),
        ("", "ServiceAccount") => basic::service_account(),
        ("", "Endpoints") => basic::endpoints(),
        ("" | "events.k8s.io", "Event") => basic::event(),
        ("apps", "Deployment") => apps::deployment(),
        ("apps", "ReplicaSet") => apps::replica_set(),
        ("apps", "DaemonSet") => apps::daemon_set(),
        ("discovery.k8s.io", "EndpointSlice") => network::endpoint_slice(),
        ("networking.k8s.io", "Ingress") => network::ingress(),
        ("networking.k8s.io", "IngressClass") => network::ingress_class(),
        ("coordination.k8s.io", "Lease") => cluster::lease(),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            cluster::role_binding()
        }
        // Kinds the real server prints with its default convertor.
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => cluster::created_at(),
        _ => basic::name_and_age(),
    }
}

/// The STATUS column: the phase, overridden by the pod's reason, a waiting or terminated
/// container's reason, and `Terminating` while it is being deleted.
pub(super) fn pod_status(pod: &Value) -> String {
    let status = &pod["status"];
    let mut reason = status["phase"].as_str().unwrap_or_default().to_string();
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    let mut has_running = false;
    let statuses = status["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in statuses.iter().rev() {
        let state = &c["state"];
        if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if state["terminated"].is_object() {
            let t = &state["terminated"];
            reason = match (
                t["reason"].as_str().filter(|r| !r.is_empty()),
                t["signal"].as_i64(),
            ) {
                (Some(r), _) => r.to_string(),
                (None, Some(s)) if s != 0 => format!("Signal:{s}"),
                (None, _) => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
            };
        } else if state["running"].is_object() && c["ready"] == true {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        let ready = status["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        reason = if ready { "Running" } else { "NotReady" }.into();
    }
    if meta::is_deleting(pod) {
        reason = if status["reason"] == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    reason
}

#[cfg(test)]
mod tests;
