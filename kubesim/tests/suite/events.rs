//! The simulated scheduler, kubelet and Deployment controller record the real components'
//! Events, and a pod no node can take stays Pending with the scheduler's reason.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::kubectl::Kubectl;
use crate::{WAIT, assert_contains, create_deployment, eventually, start, start_cluster};

const FULL: &str = "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

/// The first of `all` with this reason.
fn by_reason<'a>(all: &'a [Event], reason: &str) -> &'a Event {
    all.iter()
        .find(|e| e.reason.as_deref() == Some(reason))
        .unwrap_or_else(|| panic!("no {reason} Event"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_record_events_and_full_nodes_leave_pods_pending() {
    let (handle, client) = start().await;
    let _sim = start_cluster(&handle, "t3.nano", 2);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let containers = json!([{"name": "nginx", "image": "nginx:1.27"}]);
    create_deployment(&deployments, "web", 3, containers).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pending = eventually(WAIT, "two pods running and one pending", || async {
        let list = pods.list(&ListParams::default()).await.ok()?.items;
        let running = list
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        let pending: Vec<Pod> = list
            .into_iter()
            .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_none()))
            .collect();
        (running == 2 && pending.len() == 1).then(|| pending[0].clone())
    })
    .await;
    let pending_name = pending.metadata.name.clone().expect("name");
    let scheduled = eventually(WAIT, "the pending pod's PodScheduled condition", || async {
        let pod = pods.get(&pending_name).await.ok()?;
        let status = pod.status?;
        let c = status
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (status.phase.as_deref() == Some("Pending")).then_some(c)
    })
    .await;
    assert_eq!(
        (
            scheduled.status.as_str(),
            scheduled.reason.as_deref(),
            scheduled.message.as_deref()
        ),
        ("False", Some("Unschedulable"), Some(FULL))
    );

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let all = eventually(WAIT, "the events of every component", || async {
        let all = events.list(&ListParams::default()).await.ok()?.items;
        let count = |reason: &str| {
            all.iter()
                .filter(|e| e.reason.as_deref() == Some(reason))
                .count()
        };
        (count("Scheduled") == 2
            && count("FailedScheduling") == 1
            && count("Pulled") == 2
            && count("Created") == 2
            && count("Started") == 2
            && count("ScalingReplicaSet") == 1
            && count("SuccessfulCreate") == 3
            && count("Starting") == 1
            && count("NodeReady") == 1
            && count("RegisteredNode") == 1)
            .then_some(all)
    })
    .await;
    let failed = by_reason(&all, "FailedScheduling");
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.message.as_deref(), Some(FULL));
    assert_eq!(
        failed.involved_object.name.as_deref(),
        Some(pending_name.as_str())
    );
    let started = by_reason(&all, "Started");
    assert_eq!(started.message.as_deref(), Some("Started container nginx"));
    assert_eq!(
        started.involved_object.field_path.as_deref(),
        Some("spec.containers{nginx}")
    );
    let source = started.source.as_ref().expect("source");
    assert_eq!(
        (source.component.as_deref(), source.host.as_deref()),
        (Some("kubelet"), Some("node-a"))
    );
    let scaled = by_reason(&all, "ScalingReplicaSet");
    let message = scaled.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("Scaled up replica set web-") && message.ends_with(" from 0 to 3"),
        "{message}"
    );

    let registered = by_reason(&all, "RegisteredNode");
    assert_eq!(
        registered.message.as_deref(),
        Some("Node node-a event: Registered Node node-a in Controller")
    );
    assert_eq!(registered.involved_object.kind.as_deref(), Some("Node"));
    let source = registered
        .source
        .as_ref()
        .and_then(|s| s.component.as_deref());
    assert_eq!(source, Some("node-controller"));
    let ready = by_reason(&all, "NodeReady");
    assert_eq!(
        ready.message.as_deref(),
        Some("Node node-a status is now: NodeReady")
    );
    let created: Vec<&Event> = all
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
        .collect();
    let replica_set = message
        .strip_prefix("Scaled up replica set ")
        .and_then(|m| m.strip_suffix(" from 0 to 3"))
        .expect("replica set name")
        .to_string();
    for e in &created {
        assert_eq!(e.involved_object.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(
            e.involved_object.name.as_deref(),
            Some(replica_set.as_str())
        );
        let source = e.source.as_ref().and_then(|s| s.component.as_deref());
        assert_eq!(source, Some("replicaset-controller"));
        let text = e.message.as_deref().unwrap_or_default();
        assert!(
            text.starts_with(&format!("Created pod: {replica_set}-")),
            "{text}"
        );
    }

    // kubectl shows them.
    let Some(k) = Kubectl::for_handle(&handle) else {
        return;
    };
    let dir = k.dir();
    let out = k.ok(&["get", "events"]).await;
    assert_contains(
        &out,
        &[
            "Successfully assigned default/web-",
            "to node-a",
            "FailedScheduling",
            "0/1 nodes are available: 1 Too many pods.",
            "Container image \"nginx:1.27\" already present on machine",
            "Created container: nginx",
            "Started container nginx",
            "Scaled up replica set web-",
            "replicaset/web-",
            "node/node-a",
            "Registered Node node-a in Controller",
            "Created pod: web-",
        ],
    );
    let out = k.ok(&["describe", "pod", &pending_name]).await;
    assert_contains(&out, &["FailedScheduling", "Too many pods"]);
    // Scaling down: the ReplicaSet controller's SuccessfulDelete per pod, the Deployment
    // controller's ScalingReplicaSet.
    deployments
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .expect("scale down");
    let deleted = eventually(WAIT, "two SuccessfulDelete events", || async {
        let all = events.list(&ListParams::default()).await.ok()?.items;
        let deleted: Vec<String> = all
            .iter()
            .filter(|e| e.reason.as_deref() == Some("SuccessfulDelete"))
            .filter_map(|e| e.message.clone())
            .collect();
        let down = format!("Scaled down replica set {replica_set} from 3 to 1");
        let scaled_down = all
            .iter()
            .any(|e| e.message.as_deref() == Some(down.as_str()));
        (deleted.len() == 2 && scaled_down).then_some(deleted)
    })
    .await;
    assert!(
        deleted
            .iter()
            .any(|m| *m == format!("Deleted pod: {pending_name}")),
        "the unscheduled pod goes first: {deleted:?}"
    );

    let out = k.ok(&["get", "events"]).await;
    assert!(out.contains("Deleted pod: web-"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}
