//! A Deployment's `Available` and `Progressing` conditions, with the real deployment
//! controller's reasons and messages: pure functions of the Deployment and what its pods
//! are doing, so they are tested without a store.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What the controller saw in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `<deployment>-<template hash>`: the name the new ReplicaSet would have.
    pub replica_set: String,
    pub replicas: usize,
    /// Pods of the current template.
    pub updated: usize,
    pub available: usize,
    /// Pods of older templates still there.
    pub old: usize,
}

/// `spec.strategy.rollingUpdate.maxSurge` resolved against `replicas` (25% by default,
/// rounded up, as the deployment controller resolves it); a Recreate Deployment surges none.
pub fn max_surge(spec: &Value, replicas: usize) -> usize {
    if spec["strategy"]["type"].as_str() == Some("Recreate") {
        return 0;
    }
    match &spec["strategy"]["rollingUpdate"]["maxSurge"] {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<usize>().ok()) {
            Some(percent) => replicas.saturating_mul(percent).div_ceil(100),
            None => 0,
        },
        _ => replicas.div_ceil(4),
    }
}

/// What one pass of a rollout does: pods of the new template to create, ready and not
/// ready pods of old templates to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub create: usize,
    pub delete_unready_old: usize,
    pub delete_ready_old: usize,
}

/// Pods of the current and of older templates, and how many of each are Ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pods {
    pub new: usize,
    pub new_ready: usize,
    pub old: usize,
    pub old_ready: usize,
}

/// One pass of the deployment controller's rolling update (`rollingUpdate` in
/// `pkg/controller/deployment/rolling.go`): at most `replicas + maxSurge` pods exist, and
/// old pods go only while at least `replicas - maxUnavailable` pods stay Ready (old pods
/// that are not Ready go first, as they take no availability with them). When both resolve
/// to 0, one pod may be unavailable (the controller's fencepost rule). `Recreate` deletes
/// every old pod before it creates a new one.
pub fn rolling_step(spec: &Value, replicas: usize, pods: Pods) -> Step {
    let unready_old = pods.old - pods.old_ready.min(pods.old);
    if spec["strategy"]["type"].as_str() == Some("Recreate") {
        let create = if pods.old == 0 {
            replicas.saturating_sub(pods.new)
        } else {
            0
        };
        return Step {
            create,
            delete_unready_old: unready_old,
            delete_ready_old: pods.old_ready.min(pods.old),
        };
    }
    let surge = max_surge(spec, replicas);
    let mut unavailable = max_unavailable(spec, replicas);
    if surge == 0 && unavailable == 0 {
        unavailable = 1.min(replicas);
    }
    let ceiling = replicas + surge;
    let create = replicas
        .saturating_sub(pods.new)
        .min(ceiling.saturating_sub(pods.new + pods.old));
    let minimum = replicas.saturating_sub(unavailable);
    let ready = pods.new_ready + pods.old_ready;
    let delete_ready_old = ready.saturating_sub(minimum).min(pods.old_ready);
    Step {
        create,
        delete_unready_old: unready_old,
        delete_ready_old,
    }
}

/// `spec.strategy.rollingUpdate.maxUnavailable` resolved against `replicas` (25% by
/// default, rounded down); a Recreate Deployment, or one of 0 replicas, tolerates none.
pub fn max_unavailable(spec: &Value, replicas: usize) -> usize {
    if replicas == 0 || spec["strategy"]["type"].as_str() == Some("Recreate") {
        return 0;
    }
    let value = &spec["strategy"]["rollingUpdate"]["maxUnavailable"];
    let n = match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<usize>().ok()) {
            Some(percent) => replicas.saturating_mul(percent.min(100)) / 100,
            None => 0,
        },
        _ => replicas / 4,
    };
    n.min(replicas)
}

fn condition(kind: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message})
}

/// The conditions for `progress`, keeping the times of those that did not change:
/// `lastTransitionTime` moves when the status flips, `lastUpdateTime` when the reason or
/// message changes. `now` is RFC 3339.
pub fn conditions(deployment: &Value, progress: &Progress, now: &str) -> Value {
    let spec = &deployment["spec"];
    let old: Vec<Value> = deployment["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let find = |kind: &str| old.iter().find(|c| c["type"] == kind).cloned();
    let minimum = progress
        .replicas
        .saturating_sub(max_unavailable(spec, progress.replicas));
    let available = if progress.available >= minimum {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let rs = &progress.replica_set;
    let complete = progress.updated >= progress.replicas
        && progress.available >= progress.replicas
        && progress.old == 0;
    let previous = find("Progressing");
    // Progress is more pods of the new template, or more of them available.
    let advanced = progress.updated as u64
        > deployment["status"]["updatedReplicas"]
            .as_u64()
            .unwrap_or(0)
        || progress.available as u64
            > deployment["status"]["availableReplicas"]
                .as_u64()
                .unwrap_or(0);
    let progressing = if complete {
        condition(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet {rs:?} has successfully progressed."),
        )
    } else if previous.is_none() {
        condition(
            "Progressing",
            true,
            "NewReplicaSetCreated",
            &format!("Created new replica set {rs:?}"),
        )
    } else if advanced {
        condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet {rs:?} is progressing."),
        )
    } else if deadline_passed(spec, previous.as_ref(), now) {
        condition(
            "Progressing",
            false,
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet {rs:?} has timed out progressing."),
        )
    } else {
        previous.clone().unwrap_or_default()
    };
    let stamp = |mut c: Value, touched: bool| {
        match find(c["type"].as_str().unwrap_or_default()) {
            Some(before) if before["status"] == c["status"] => {
                c["lastTransitionTime"] = before["lastTransitionTime"].clone();
                c["lastUpdateTime"] = if !touched
                    && before["reason"] == c["reason"]
                    && before["message"] == c["message"]
                {
                    before["lastUpdateTime"].clone()
                } else {
                    json!(now)
                };
            }
            _ => {
                c["lastTransitionTime"] = json!(now);
                c["lastUpdateTime"] = json!(now);
            }
        }
        c
    };
    let touched = advanced && !complete;
    json!([stamp(available, false), stamp(progressing, touched)])
}

/// A rollout that has not completed within `progressDeadlineSeconds` (600 by default) of
/// its last progress has timed out; a timed-out one stays so until it progresses.
fn deadline_passed(spec: &Value, previous: Option<&Value>, now: &str) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    if previous["reason"] == "ProgressDeadlineExceeded" {
        return true;
    }
    let deadline = spec["progressDeadlineSeconds"].as_i64().unwrap_or(600);
    let parse = |t: &Value| {
        t.as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    match (parse(&previous["lastUpdateTime"]), parse(&json!(now))) {
        (Some(since), Some(now)) => (now - since).num_seconds() > deadline,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(replicas: usize, updated: usize, available: usize) -> Progress {
        Progress {
            replica_set: "web-abc".into(),
            replicas,
            updated,
            available,
            old: 0,
        }
    }

    fn pods(new: usize, new_ready: usize, old: usize, old_ready: usize) -> Pods {
        Pods {
            new,
            new_ready,
            old,
            old_ready,
        }
    }

    #[test]
    fn a_rolling_update_keeps_within_surge_and_availability() {
        let strategy = |surge: Value, unavailable: Value| {
            json!({"strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}})
        };
        let s = |create, delete_unready_old, delete_ready_old| Step {
            create,
            delete_unready_old,
            delete_ready_old,
        };
        // 3 replicas, surge 1, none unavailable: one new pod at a time, an old one goes only
        // once the new one is Ready.
        let one_by_one = strategy(json!(1), json!(0));
        assert_eq!(rolling_step(&one_by_one, 3, pods(0, 0, 3, 3)), s(1, 0, 0));
        assert_eq!(rolling_step(&one_by_one, 3, pods(1, 0, 3, 3)), s(0, 0, 0));
        assert_eq!(rolling_step(&one_by_one, 3, pods(1, 1, 3, 3)), s(0, 0, 1));
        assert_eq!(rolling_step(&one_by_one, 3, pods(1, 1, 2, 2)), s(1, 0, 0));
        assert_eq!(rolling_step(&one_by_one, 3, pods(3, 3, 1, 1)), s(0, 0, 1));
        assert_eq!(rolling_step(&one_by_one, 3, pods(3, 3, 0, 0)), s(0, 0, 0));
        // An old pod that is not Ready goes at once.
        assert_eq!(rolling_step(&one_by_one, 3, pods(1, 0, 3, 2)), s(0, 1, 0));
        // No surge, one unavailable: delete first, then create.
        let down_first = strategy(json!(0), json!(1));
        assert_eq!(rolling_step(&down_first, 3, pods(0, 0, 3, 3)), s(0, 0, 1));
        assert_eq!(rolling_step(&down_first, 3, pods(0, 0, 2, 2)), s(1, 0, 0));
        // The defaults (25% each) on 3 replicas: surge 1 (rounded up), 0 unavailable.
        assert_eq!(rolling_step(&json!({}), 3, pods(0, 0, 3, 3)), s(1, 0, 0));
        assert_eq!(max_surge(&json!({}), 3), 1);
        assert_eq!(max_surge(&strategy(json!("50%"), json!(0)), 3), 2);
        // Both 0: one may be unavailable.
        let fencepost = strategy(json!(0), json!(0));
        assert_eq!(rolling_step(&fencepost, 3, pods(0, 0, 3, 3)), s(0, 0, 1));
        // Recreate: every old pod first.
        let recreate = json!({"strategy": {"type": "Recreate"}});
        assert_eq!(rolling_step(&recreate, 3, pods(0, 0, 3, 2)), s(0, 1, 2));
        assert_eq!(rolling_step(&recreate, 3, pods(0, 0, 0, 0)), s(3, 0, 0));
    }

    fn reasons(c: &Value) -> Vec<(String, String)> {
        c.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn max_unavailable_follows_the_strategy() {
        assert_eq!(max_unavailable(&json!({}), 10), 2);
        let pct = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}}});
        assert_eq!(max_unavailable(&pct, 3), 0);
        assert_eq!(max_unavailable(&pct, 8), 2);
        let abs = json!({"strategy": {"rollingUpdate": {"maxUnavailable": 5}}});
        assert_eq!(max_unavailable(&abs, 3), 3);
        assert_eq!(
            max_unavailable(&json!({"strategy": {"type": "Recreate"}}), 4),
            0
        );
        assert_eq!(max_unavailable(&pct, 0), 0);
    }

    #[test]
    fn a_rollout_goes_from_created_to_available() {
        let mut d = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}}}});
        let t0 = "2026-11-30T20:00:00Z";
        let c = conditions(&d, &progress(3, 3, 0), t0);
        assert_eq!(
            reasons(&c),
            [
                ("False".into(), "MinimumReplicasUnavailable".into()),
                ("True".into(), "NewReplicaSetCreated".into())
            ]
        );
        assert_eq!(c[1]["message"], "Created new replica set \"web-abc\"");
        d["status"]["conditions"] = c;
        d["status"]["updatedReplicas"] = json!(3);
        let c = conditions(&d, &progress(3, 3, 2), "2026-11-30T20:00:05Z");
        assert_eq!(c[1]["reason"], "ReplicaSetUpdated");
        assert_eq!(c[1]["lastTransitionTime"], t0, "still True");
        d["status"]["conditions"] = c;
        d["status"]["availableReplicas"] = json!(2);
        let c = conditions(&d, &progress(3, 3, 3), "2026-11-30T20:00:09Z");
        assert_eq!(
            reasons(&c),
            [
                ("True".into(), "MinimumReplicasAvailable".into()),
                ("True".into(), "NewReplicaSetAvailable".into())
            ]
        );
        assert_eq!(c[0]["message"], "Deployment has minimum availability.");
        assert_eq!(
            c[1]["message"],
            "ReplicaSet \"web-abc\" has successfully progressed."
        );
        assert_eq!(c[0]["lastTransitionTime"], "2026-11-30T20:00:09Z");
        // Nothing changes: the times stay.
        d["status"]["conditions"] = c.clone();
        assert_eq!(
            conditions(&d, &progress(3, 3, 3), "2026-11-30T21:00:00Z"),
            c
        );
    }

    #[test]
    fn a_stuck_rollout_times_out_after_the_deadline() {
        let mut d = json!({"spec": {"progressDeadlineSeconds": 60}});
        d["status"]["conditions"] = conditions(&d, &progress(2, 2, 0), "2026-11-30T20:00:00Z");
        d["status"]["updatedReplicas"] = json!(2);
        let c = conditions(&d, &progress(2, 2, 0), "2026-11-30T20:00:30Z");
        assert_eq!(
            c[1]["reason"], "NewReplicaSetCreated",
            "no progress, nothing new"
        );
        assert_eq!(c[1]["lastUpdateTime"], "2026-11-30T20:00:00Z");
        d["status"]["conditions"] = c;
        let c = conditions(&d, &progress(2, 2, 0), "2026-11-30T20:01:01Z");
        assert_eq!(c[1]["status"], "False");
        assert_eq!(c[1]["reason"], "ProgressDeadlineExceeded");
        assert_eq!(
            c[1]["message"],
            "ReplicaSet \"web-abc\" has timed out progressing."
        );
    }
}
