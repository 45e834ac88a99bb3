//! Binds pending pods to Ready nodes, least loaded first, within each node's allocatable pods.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use crate::compact::{Doc, Node};
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::resources::ResourceInfo;
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

fn finished<'a>(pod: impl Doc<'a>) -> bool {
    matches!(
        pod.str_at(&["status", "phase"]),
        Some("Succeeded" | "Failed")
    )
}

/// One pod's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub namespace: String,
    pub pod: String,
    pub node: String,
}

/// A pod no node can take, with the scheduler's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unschedulable {
    pub namespace: String,
    pub pod: String,
    pub message: String,
}

/// What one scheduling pass decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub bindings: Vec<Binding>,
    pub unschedulable: Vec<Unschedulable>,
}

/// Why a node cannot take a pod, in the filter plugins' words, and what preemption would
/// say about it.
fn rejection(node: &Value, load: Option<&(usize, usize)>) -> Option<(&'static str, &'static str)> {
    const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
    if node["spec"]["unschedulable"] == json!(true) {
        return Some(("node(s) were unschedulable", NOT_HELPFUL));
    }
    if !node_ready(node) {
        return Some((
            "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
            NOT_HELPFUL,
        ));
    }
    match load {
        Some((n, max)) if n >= max => Some((
            "Too many pods",
            "No preemption victims found for incoming pod",
        )),
        _ => None,
    }
}

/// `3 Too many pods, 1 node(s) were unschedulable`: each reason with its count, sorted.
fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// `0/3 nodes are available: 3 Too many pods. preemption: ...` as the real scheduler's
/// FitError and its PostFilter write it: reasons counted, sorted as text.
fn fit_error(reasons: &[(&str, &str)]) -> String {
    if reasons.is_empty() {
        return "no nodes available to schedule pods".to_string();
    }
    let total = reasons.len();
    format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {}.",
        histogram(reasons.iter().map(|r| r.0)),
        histogram(reasons.iter().map(|r| r.1))
    )
}

/// Which node each pending pod goes to, and why the others fit nowhere: pure, so it is
/// tested without a store. Pods are read in either form (the store's compact one in a pass).
pub fn plan<'a, D: Doc<'a>>(nodes: &[&Value], pods: &[D]) -> Plan {
    let mut load: BTreeMap<String, (usize, usize)> = nodes
        .iter()
        .filter(|n| node_ready(n))
        .map(|n| (meta::name(n).to_string(), (0, max_pods(n))))
        .collect();
    for pod in pods.iter().filter(|p| !finished(**p)) {
        if let Some(node) = pod.str_at(&["spec", "nodeName"])
            && let Some(entry) = load.get_mut(node)
        {
            entry.0 += 1;
        }
    }
    let mut out = Plan::default();
    for &pod in pods {
        let unbound = pod.str_at(&["spec", "nodeName"]).is_none_or(str::is_empty);
        if !unbound || pod.deleting() || finished(pod) {
            continue;
        }
        let best = load
            .iter()
            .filter(|(_, (n, max))| n < max)
            .min_by_key(|(_, (n, _))| *n)
            .map(|(name, _)| name.clone());
        let namespace = pod.meta("namespace").to_string();
        let name = pod.meta("name").to_string();
        match best {
            Some(node) => {
                if let Some(entry) = load.get_mut(&node) {
                    entry.0 += 1;
                }
                out.bindings.push(Binding {
                    namespace,
                    pod: name,
                    node,
                });
            }
            None => {
                let reasons: Vec<(&str, &str)> = nodes
                    .iter()
                    .filter_map(|n| rejection(n, load.get(meta::name(n))))
                    .collect();
                out.unschedulable.push(Unschedulable {
                    namespace,
                    pod: name,
                    message: fit_error(&reasons),
                });
            }
        }
    }
    out
}

const SCHEDULER: Source<'static> = Source {
    component: "default-scheduler",
    host: None,
};

fn pod_event(reason: &'static str, event_type: EventType, message: String) -> Event<'static> {
    Event {
        api_version: "v1",
        kind: "Pod",
        field_path: None,
        event_type,
        reason,
        message,
    }
}

/// One scheduling pass.
pub fn sync(store: &Store) -> Result<(), StatusError> {
    let nodes_info = super::info(store, "v1", "Node")?;
    let pods_info = super::info(store, "v1", "Pod")?;
    let nodes = super::list_all(store, &nodes_info)?;
    let pods = super::stored_all(store, &pods_info)?;
    let node_refs: Vec<&Value> = nodes.iter().map(AsRef::as_ref).collect();
    let pod_docs: Vec<Node<'_>> = pods.iter().map(|p| p.doc()).collect();
    let mut plan = plan(&node_refs, &pod_docs);
    // Pods already marked with the same reason cost no read of their `Value`: with many
    // pods waiting for room, each pass would build every one of them.
    if !plan.unschedulable.is_empty() {
        let by_key: HashMap<(&str, &str), Node<'_>> = pod_docs
            .iter()
            .map(|p| ((p.meta("namespace"), p.meta("name")), *p))
            .collect();
        plan.unschedulable.retain(|u| {
            by_key
                .get(&(u.namespace.as_str(), u.pod.as_str()))
                .is_none_or(|p| !marked(*p, &u.message))
        });
    }
    drop(pod_docs);
    drop(pods);
    for Binding {
        namespace: ns,
        pod: name,
        node,
    } in plan.bindings
    {
        let Ok(live) = store.get(&pods_info, Some(&ns), &name) else {
            continue;
        };
        let mut pod = (*live).clone();
        if !pod["spec"].is_object() {
            continue;
        }
        pod["spec"]["nodeName"] = json!(node);
        match store.update(&pods_info, Some(&ns), &name, pod, false) {
            Ok(bound) => {
                tracing::debug!(namespace = ns, pod = name, node, "Bound a pod");
                let message = format!("Successfully assigned {ns}/{name} to {node}");
                let event = pod_event("Scheduled", EventType::Normal, message);
                events::record(store, &bound, &event, &SCHEDULER);
            }
            Err(e) if matches!(e.reason, Reason::Conflict | Reason::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    for pending in plan.unschedulable {
        mark_unschedulable(store, &pods_info, &pending)?;
    }
    Ok(())
}

/// Whether a pod already says it is unschedulable for `message`.
fn marked<'a>(pod: impl Doc<'a>, message: &str) -> bool {
    pod.items_at(&["status", "conditions"])
        .find(|c| c.str_at(&["type"]) == Some("PodScheduled"))
        .is_some_and(|c| {
            c.str_at(&["status"]) == Some("False") && c.str_at(&["message"]) == Some(message)
        })
}

/// Sets `PodScheduled=False` with the reason and records `FailedScheduling`, once per
/// distinct reason: a pod that stays unschedulable for the same reason costs no writes.
fn mark_unschedulable(
    store: &Store,
    pods_info: &ResourceInfo,
    pending: &Unschedulable,
) -> Result<(), StatusError> {
    let Ok(live) = store.get(pods_info, Some(&pending.namespace), &pending.pod) else {
        return Ok(());
    };
    let mut conditions = live["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let current = conditions.iter().find(|c| c["type"] == "PodScheduled");
    if current.is_some_and(|c| c["status"] == "False" && c["message"] == pending.message.as_str())
        || !live["status"].is_object()
    {
        return Ok(());
    }
    conditions.retain(|c| c["type"] != "PodScheduled");
    conditions.push(
        json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
        "lastTransitionTime": meta::now(), "reason": "Unschedulable", "message": pending.message}),
    );
    let mut pod = (*live).clone();
    pod["status"]["conditions"] = json!(conditions);
    match store.update(pods_info, Some(&pending.namespace), &pending.pod, pod, true) {
        Ok(updated) => {
            let event = pod_event(
                "FailedScheduling",
                EventType::Warning,
                pending.message.clone(),
            );
            events::record(store, &updated, &event, &SCHEDULER);
            Ok(())
        }
        Err(e) if matches!(e.reason, Reason::Conflict | Reason::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
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
            .bindings
            .iter()
            .map(|b| (b.pod.as_str(), b.node.as_str()))
            .collect();
        assert_eq!(
            placed,
            [("p1", "b"), ("p2", "a")],
            "least loaded first; p3 fits nowhere"
        );
        assert_eq!(
            plan.unschedulable,
            [Unschedulable {
                namespace: "d".into(),
                pod: "p3".into(),
                message: "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Too many pods. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.".into(),
            }]
        );
    }

    #[test]
    fn a_pod_marked_with_the_same_reason_is_marked() {
        let mut p = pod("p", None);
        assert!(!marked(&p, "m"));
        p["status"]["conditions"] =
            json!([{"type": "PodScheduled", "status": "False", "message": "m"}]);
        assert!(marked(&p, "m"));
        assert!(!marked(&p, "other"));
        let compact = crate::compact::Compact::from_value(&p);
        assert!(marked(compact.node(), "m"));
        p["status"]["conditions"][0]["status"] = json!("True");
        assert!(!marked(&p, "m"));
    }

    #[test]
    fn the_reason_text_is_the_real_schedulers() {
        let full = [(
            "Too many pods",
            "No preemption victims found for incoming pod",
        ); 3];
        assert_eq!(
            fit_error(&full),
            "0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        );
        assert_eq!(fit_error(&[]), "no nodes available to schedule pods");
        let nodes: [Value; 0] = [];
        let pods = [pod("p", None)];
        let plan = plan(
            &nodes.iter().collect::<Vec<_>>(),
            &pods.iter().collect::<Vec<_>>(),
        );
        assert_eq!(
            plan.unschedulable[0].message,
            "no nodes available to schedule pods"
        );
    }
}
