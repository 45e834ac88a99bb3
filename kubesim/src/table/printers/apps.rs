//! apps/v1: Deployment, ReplicaSet, DaemonSet.

use super::*;

pub(super) fn containers_and_images(template: &Value) -> (String, String) {
    let containers = template["spec"]["containers"].as_array();
    let field = |f: &str| {
        containers
            .into_iter()
            .flatten()
            .map(|c| c[f].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    (field("name"), field("image"))
}

/// The wide columns of a kind with a pod template: its containers, their images and the
/// selector (described as `selector`).
fn template_columns(selector: &str) -> [Column; 3] {
    [
        col(
            "Containers",
            "string",
            1,
            "Names of each container in the template.",
        ),
        col(
            "Images",
            "string",
            1,
            "Images referenced by each container in the template.",
        ),
        col("Selector", "string", 1, selector),
    ]
}

/// The cells of [`template_columns`].
fn template_cells(o: &Value) -> [Value; 3] {
    let (containers, images) = containers_and_images(&o["spec"]["template"]);
    [
        json!(containers),
        json!(images),
        json!(format_selector(&o["spec"]["selector"])),
    ]
}

pub(super) fn deployment() -> Printer {
    builtin(
        [
            name_col(),
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "string",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "string",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age_col(),
        ]
        .into_iter()
        .chain(template_columns("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."))
        .collect(),
        |o, now| {
            let s = &o["status"];
            [
                json!(meta::name(o)),
                json!(format!(
                    "{}/{}",
                    s["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                json!(s["updatedReplicas"].as_i64().unwrap_or(0)),
                json!(s["availableReplicas"].as_i64().unwrap_or(0)),
                created(o, now),
            ]
            .into_iter()
            .chain(template_cells(o))
            .collect()
        },
    )
}

pub(super) fn replica_set() -> Printer {
    builtin(
        [
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired replicas.",
            ),
            col(
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replica set.",
            ),
            age_col(),
        ]
        .into_iter()
        .chain(template_columns(
            "Selector is a label query over pods that should match the replica count.",
        ))
        .collect(),
        |o, now| {
            [
                json!(meta::name(o)),
                json!(o["spec"]["replicas"].as_i64().unwrap_or(1)),
                json!(o["status"]["replicas"].as_i64().unwrap_or(0)),
                json!(o["status"]["readyReplicas"].as_i64().unwrap_or(0)),
                created(o, now),
            ]
            .into_iter()
            .chain(template_cells(o))
            .collect()
        },
    )
}

pub(super) fn daemon_set() -> Printer {
    builtin(
        [
            name_col(),
            col(
                "Desired",
                "integer",
                0,
                "The total number of nodes that should be running the daemon pod.",
            ),
            col(
                "Current",
                "integer",
                0,
                "The number of nodes that are running at least 1 daemon pod.",
            ),
            col(
                "Ready",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
            ),
            col(
                "Up-to-date",
                "integer",
                0,
                "The total number of nodes that are running updated daemon pod",
            ),
            col(
                "Available",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
            ),
            col(
                "Node Selector",
                "string",
                0,
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            age_col(),
        ]
        .into_iter()
        .chain(template_columns("A label query over pods that are managed by the daemon set."))
        .collect(),
        |o, now| {
            let s = &o["status"];
            let int = |f: &str| json!(s[f].as_i64().unwrap_or(0));
            [
                json!(meta::name(o)),
                int("desiredNumberScheduled"),
                int("currentNumberScheduled"),
                int("numberReady"),
                int("updatedNumberScheduled"),
                int("numberAvailable"),
                json!(format_labels(
                    &o["spec"]["template"]["spec"]["nodeSelector"]
                )),
                created(o, now),
            ]
            .into_iter()
            .chain(template_cells(o))
            .collect()
        },
    )
}
