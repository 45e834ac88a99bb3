//! Deployments → pods (no ReplicaSets): pods carry the template's labels plus
//! `pod-template-hash`, are owned by the Deployment, and follow `spec.replicas`; a changed
//! template rolls out as the deployment controller does it: within `maxSurge` extra pods and
//! `maxUnavailable` pods short of Ready (a pod is Ready when its containers are and every
//! readiness gate is True), or all old pods first with `Recreate` ([`rollout::rolling_step`]).

use serde_json::{Value, json};

use super::events::{self, Event, EventType, Source};
use super::ignore_race;
use super::rollout::{self, Progress};
use crate::compact::{Doc, Node};
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::store::{DeleteOptions, Store};

/// A short stable hash of the pod template (FNV-1a).
pub fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:x}", h & 0xff_ffff_ffff)
}

fn is_ready<'a>(pod: impl Doc<'a>) -> bool {
    pod.items_at(&["status", "conditions"])
        .any(|c| c.str_at(&["type"]) == Some("Ready") && c.str_at(&["status"]) == Some("True"))
}

/// A pod's `pod-template-hash` label.
fn pod_hash<'a>(pod: impl Doc<'a>) -> Option<&'a str> {
    pod.str_at(&["metadata", "labels", "pod-template-hash"])
}

/// The deployment controller's `ScalingReplicaSet` event. There are no ReplicaSet objects
/// here; the name is the one the ReplicaSet would have (`<deployment>-<template hash>`, the
/// prefix of its pods' names).
fn scaled(store: &Store, deployment: &Value, way: &str, replica_set: &str, from: usize, to: usize) {
    let message = format!("Scaled {way} replica set {replica_set} from {from} to {to}");
    let what = (EventType::Normal, "ScalingReplicaSet", message);
    record(store, deployment, what, "deployment-controller");
}

/// The ReplicaSet controller's `SuccessfulCreate`/`SuccessfulDelete` event about one pod,
/// recorded on the ReplicaSet the Deployment would have (not an object here: no uid).
fn replica_set_event(
    store: &Store,
    deployment: &Value,
    replica_set: &str,
    reason: &str,
    pod: &str,
) {
    let message = match reason {
        "SuccessfulCreate" => format!("Created pod: {pod}"),
        _ => format!("Deleted pod: {pod}"),
    };
    let event = Event {
        api_version: "apps/v1",
        kind: "ReplicaSet",
        field_path: None,
        event_type: EventType::Normal,
        reason,
        message,
    };
    let source = Source {
        component: "replicaset-controller",
        host: None,
    };
    let reference =
        json!({"metadata": {"name": replica_set, "namespace": meta::namespace(deployment)}});
    let scope = format!("{}/{replica_set}", meta::uid(deployment));
    events::record_scoped(store, &reference, &event, &source, &scope);
}

/// An Event about a Deployment from one of the controllers that manage it.
fn record(
    store: &Store,
    deployment: &Value,
    (event_type, reason, message): (EventType, &'static str, String),
    component: &'static str,
) {
    let event = Event {
        api_version: "apps/v1",
        kind: "Deployment",
        field_path: None,
        event_type,
        reason,
        message,
    };
    let source = Source {
        component,
        host: None,
    };
    events::record(store, deployment, &event, &source);
}

/// Pods one pass creates for one Deployment at most (the ReplicaSet controller's
/// `burstReplicas`), so a huge `replicas` fills in steps and other work goes on between.
pub const BURST: usize = 500;

/// The `FailedCreate` event the ReplicaSet controller records when a pod is refused.
fn failed_create(store: &Store, deployment: &Value, why: &str) {
    let what = (
        EventType::Warning,
        "FailedCreate",
        format!("Error creating: {why}"),
    );
    record(store, deployment, what, "replicaset-controller");
}

/// One pass over every Deployment.
pub fn sync(store: &Store) -> Result<(), StatusError> {
    let deploy_info = super::info(store, "apps/v1", "Deployment")?;
    let pod_info = super::info(store, "v1", "Pod")?;
    // The pods in the store's compact form: each pass reads a few fields of every pod.
    let pods = super::stored_all(store, &pod_info)?;
    for d in super::list_all(store, &deploy_info)? {
        if meta::is_deleting(&d) || !d["spec"]["template"].is_object() {
            continue;
        }
        let (ns, name, uid) = (meta::namespace(&d), meta::name(&d), meta::uid(&d));
        let hash = template_hash(&d["spec"]["template"]);
        let replicas =
            usize::try_from(d["spec"]["replicas"].as_i64().unwrap_or(1).max(0)).unwrap_or(0);
        let owned: Vec<Node<'_>> = pods
            .iter()
            .map(|p| p.doc())
            .filter(|p| !p.deleting())
            .filter(|p| {
                p.items_at(&["metadata", "ownerReferences"])
                    .any(|r| r.str_at(&["uid"]) == Some(uid))
            })
            .collect();
        let (mut current, mut stale): (Vec<Node<'_>>, Vec<Node<'_>>) = owned
            .into_iter()
            .partition(|p| pod_hash(*p) == Some(hash.as_str()));
        // Old pods that are not Ready go first, then the oldest names.
        stale.sort_by_key(|p| (is_ready(*p), p.meta("name")));
        let pods = rollout::Pods {
            new: current.len(),
            new_ready: current.iter().filter(|p| is_ready(**p)).count(),
            old: stale.len(),
            old_ready: stale.iter().filter(|p| is_ready(**p)).count(),
        };
        let step = rollout::rolling_step(&d["spec"], replicas, pods);
        let unready_old = pods.old - pods.old_ready;
        let doomed = stale[..step.delete_unready_old.min(unready_old)]
            .iter()
            .chain(&stale[unready_old..unready_old + step.delete_ready_old]);
        let mut deleted_old = 0;
        for p in doomed {
            let deleted = store.delete(
                &pod_info,
                Some(ns),
                p.meta("name"),
                &DeleteOptions::default(),
            );
            if deleted.is_ok()
                && let Some(old) = pod_hash(*p)
            {
                let old_set = format!("{name}-{old}");
                replica_set_event(store, &d, &old_set, "SuccessfulDelete", p.meta("name"));
            }
            ignore_race(deleted)?;
            deleted_old += 1;
        }
        let old_left = stale.len() - deleted_old;
        if deleted_old > 0 {
            let old_set = stale
                .first()
                .and_then(|p| pod_hash(*p))
                .map_or_else(|| format!("{name}-old"), |h| format!("{name}-{h}"));
            scaled(store, &d, "down", &old_set, stale.len(), old_left);
        }
        // Unscheduled pods go first when scaling down.
        current.sort_by_key(|p| (p.str_at(&["spec", "nodeName"]).is_some(), p.meta("name")));
        let replica_set = format!("{name}-{hash}");
        if current.len() > replicas {
            for p in &current[..current.len() - replicas] {
                let deleted = store.delete(
                    &pod_info,
                    Some(ns),
                    p.meta("name"),
                    &DeleteOptions::default(),
                );
                if deleted.is_ok() {
                    replica_set_event(store, &d, &replica_set, "SuccessfulDelete", p.meta("name"));
                }
                ignore_race(deleted)?;
            }
            scaled(store, &d, "down", &replica_set, current.len(), replicas);
        }
        // At most BURST creations per pass, as the ReplicaSet controller's burstReplicas;
        // a refused create (quota) ends this Deployment's pass.
        let wanted = step.create.min(BURST);
        for _ in 0..wanted {
            let template = &d["spec"]["template"];
            let mut labels = template["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["pod-template-hash"] = json!(hash);
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "generateName": format!("{replica_set}-"),
                    "namespace": ns,
                    "labels": labels,
                    "annotations": template["metadata"]["annotations"],
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid,
                        "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": template["spec"],
            });
            match store.create(&pod_info, Some(ns), pod) {
                Ok(created) => replica_set_event(
                    store,
                    &d,
                    &replica_set,
                    "SuccessfulCreate",
                    meta::name(&created),
                ),
                Err(e) if matches!(e.reason, Reason::Forbidden | Reason::Invalid) => {
                    failed_create(store, &d, &e.message);
                    break;
                }
                other => ignore_race(other)?,
            }
        }
        if wanted > 0 {
            scaled(
                store,
                &d,
                "up",
                &replica_set,
                current.len(),
                current.len() + wanted,
            );
        }
        let mine: Vec<Node<'_>> = current.iter().take(replicas).copied().collect();
        let remaining_old: Vec<Node<'_>> = stale
            [step.delete_unready_old.min(unready_old)..unready_old]
            .iter()
            .chain(&stale[unready_old + step.delete_ready_old..])
            .copied()
            .collect();
        let ready = mine
            .iter()
            .chain(&remaining_old)
            .filter(|p| is_ready(**p))
            .count();
        let existing = current.len().min(replicas);
        let progress = Progress {
            replica_set: replica_set.clone(),
            replicas,
            updated: existing,
            available: ready,
            old: old_left,
        };
        let mut status = json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": existing + old_left,
            "updatedReplicas": existing,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": rollout::conditions(&d, &progress, &meta::now()),
        });
        if replicas > ready {
            status["unavailableReplicas"] = json!(replicas - ready);
        }
        if d["status"] != status {
            let mut updated = (*d).clone();
            updated["status"] = status;
            ignore_race(store.update(&deploy_info, Some(ns), name, updated, true))?;
        }
    }
    Ok(())
}
