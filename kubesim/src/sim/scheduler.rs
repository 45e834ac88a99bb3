//! Binds pending pods to Ready nodes, least loaded first, within each node's allocatable pods.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{Reason, StatusError};
use crate::meta;
use crate::store::Store;

fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    }) && node["spec"]["unschedulable"] != json!(true)
}

fn max_pods(node: &Value) -> usize {
    node["status"]["allocatable"]["pods"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or(110)
}

fn finished(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// Which node each pending pod goes to: pure, so it is tested without a store.
pub fn plan(nodes: &[&Value], pods: &[&Value]) -> Vec<(String, String, String)> {
    let mut load: BTreeMap<String, (usize, usize)> = nodes
        .iter()
        .filter(|n| node_ready(n))
        .map(|n| (meta::name(n).to_string(), (0, max_pods(n))))
        .collect();
    for pod in pods.iter().filter(|p| !finished(p)) {
        if let Some(node) = pod["spec"]["nodeName"].as_str()
            && let Some(entry) = load.get_mut(node)
        {
            entry.0 += 1;
        }
    }
    let mut out = Vec::new();
    for pod in pods {
        let unbound = pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty);
        if !unbound || meta::is_deleting(pod) || finished(pod) {
            continue;
        }
        let best = load
            .iter()
            .filter(|(_, (n, max))| n < max)
            .min_by_key(|(_, (n, _))| *n)
            .map(|(name, _)| name.clone());
        if let Some(node) = best {
            if let Some(entry) = load.get_mut(&node) {
                entry.0 += 1;
            }
            out.push((
                meta::namespace(pod).to_string(),
                meta::name(pod).to_string(),
                node,
            ));
        }
    }
    out
}

/// One scheduling pass.
pub fn sync(store: &Store) -> Result<(), StatusError> {
    let nodes_info = super::info(store, "v1", "Node")?;
    let pods_info = super::info(store, "v1", "Pod")?;
    let nodes = super::list_all(store, &nodes_info)?;
    let pods = super::list_all(store, &pods_info)?;
    let node_refs: Vec<&Value> = nodes.iter().map(AsRef::as_ref).collect();
    let pod_refs: Vec<&Value> = pods.iter().map(AsRef::as_ref).collect();
    for (ns, name, node) in plan(&node_refs, &pod_refs) {
        let Ok(live) = store.get(&pods_info, Some(&ns), &name) else {
            continue;
        };
        let mut pod = (*live).clone();
        if !pod["spec"].is_object() {
            continue;
        }
        pod["spec"]["nodeName"] = json!(node);
        match store.update(&pods_info, Some(&ns), &name, pod, false) {
            Ok(_) => tracing::debug!(namespace = ns, pod = name, node, "Bound a pod"),
            Err(e) if matches!(e.reason, Reason::Conflict | Reason::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, max: u32, ready: bool) -> Value {
        json!({"metadata": {"name": name}, "status": {"allocatable": {"pods": max.to_string()},
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn pod(name: &str, node: Option<&str>) -> Value {
        json!({"metadata": {"name": name, "namespace": "d"}, "spec": {"nodeName": node}, "status": {"phase": "Pending"}})
    }

    #[test]
    fn fills_ready_nodes_within_max_pods() {
        let nodes = [node("a", 2, true), node("b", 1, true), node("c", 10, false)];
        let pods = [
            pod("p0", Some("a")),
            pod("p1", None),
            pod("p2", None),
            pod("p3", None),
        ];
        let plan = plan(
            &nodes.iter().collect::<Vec<_>>(),
            &pods.iter().collect::<Vec<_>>(),
        );
        let placed: Vec<(&str, &str)> = plan
            .iter()
            .map(|(_, p, n)| (p.as_str(), n.as_str()))
            .collect();
        assert_eq!(
            placed,
            [("p1", "b"), ("p2", "a")],
            "least loaded first; p3 fits nowhere"
        );
    }
}
