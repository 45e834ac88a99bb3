//! Pods: READY, STATUS (the reason kubectl shows), RESTARTS, AGE and the wide columns.

use super::*;

pub(super) fn pod() -> Printer {
    builtin(
        vec![
            name_col(),
            col(
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age_col(),
            col(
                "IP",
                "string",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            col(
                "Node",
                "string",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            col(
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
            ),
            col(
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
        pod_cells,
    )
}

pub(super) fn pod_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let statuses = o["status"]["containerStatuses"].as_array();
    let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .into_iter()
        .flatten()
        .filter(|c| c["ready"] == true && c["state"]["running"].is_object())
        .count();
    let restarts: i64 = statuses
        .into_iter()
        .flatten()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    let text = |v: &Value| or_none(v.as_str().unwrap_or_default().to_string());
    let gates = o["spec"]["readinessGates"].as_array();
    let gates = match gates {
        Some(g) if !g.is_empty() => {
            let conditions = o["status"]["conditions"].as_array();
            let passed = g
                .iter()
                .filter(|gate| {
                    conditions
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == gate["conditionType"] && c["status"] == "True")
                })
                .count();
            format!("{passed}/{}", g.len())
        }
        _ => NONE.into(),
    };
    vec![
        json!(meta::name(o)),
        json!(format!("{ready}/{total}")),
        json!(pod_status(o)),
        json!(restarts.to_string()),
        created(o, now),
        json!(text(&o["status"]["podIP"])),
        json!(text(&o["spec"]["nodeName"])),
        json!(text(&o["status"]["nominatedNodeName"])),
        json!(gates),
    ]
}
