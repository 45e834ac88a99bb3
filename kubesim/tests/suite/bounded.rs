//! Bounded input: oversized bodies, a namespace's object quota, and full nodes, each with
//! the API still serving afterwards.

use std::time::{Duration, Instant};

use cloudnet_kubesim::{Config, sim::deployment::BURST};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::{
    WAIT, create, create_deployment, eventually, forbidden, raw, start, start_cluster, start_with,
};

const LIMIT: usize = 3 * 1024 * 1024;

fn configmap(name: &str, size: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"k": "x".repeat(size)}}))
    .expect("json")
}

#[tokio::test]
async fn bodies_over_three_mebibytes_are_413_and_the_api_carries_on() {
    let (_h, client) = start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, _) = raw(
        &client,
        "POST",
        path,
        "application/json",
        configmap("under", LIMIT - 200),
    )
    .await;
    assert_eq!(code, 201, "just under the limit is accepted");
    for size in [LIMIT + 1, 40 * 1024 * 1024] {
        let (code, status) = raw(
            &client,
            "POST",
            path,
            "application/json",
            configmap("over", size),
        )
        .await;
        assert_eq!(code, 413, "{size} bytes");
        assert_eq!(status["reason"], "RequestEntityTooLarge");
        assert_eq!(
            status["message"],
            format!("Request entity too large: limit is {LIMIT}")
        );
    }
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(cms.get_opt("over").await.expect("serving").is_none());
    assert!(cms.get_opt("under").await.expect("serving").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billion_replicas_fill_their_namespace_quota_and_nothing_else() {
    let quota = 300;
    let (handle, client) = start_with(Config {
        max_objects_per_namespace: quota,
        ..Config::default()
    })
    .await;
    let _sim = start_cluster(&handle, "m5.large", 10);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    create(&namespaces, json!({"metadata": {"name": "big"}})).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "big");
    let containers = json!([{"name": "c", "image": "busybox"}]);
    create_deployment(&deployments, "huge", 1_000_000_000, containers).await;

    // The namespace fills to its quota (the Deployment and quota - 1 pods) and stops.
    eventually(WAIT, "the namespace to reach its quota", || async {
        (handle.store().objects_in("big") == quota).then_some(())
    })
    .await;
    assert!(quota - 1 <= BURST, "one pass fills it");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "big");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "big");
    let extra: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "extra"}})).expect("cm");
    assert_eq!(
        forbidden(cms.create(&PostParams::default(), &extra).await),
        format!(
            "configmaps \"extra\" is forbidden: exceeded quota: kubesim-object-count, requested: count/objects=1, used: count/objects={quota}, limited: count/objects={quota}"
        )
    );
    // The controller says why it stopped.
    let events: Api<Event> = Api::namespaced(client.clone(), "big");
    let failed = eventually(WAIT, "a FailedCreate event", || async {
        let list = events.list(&ListParams::default()).await.ok()?.items;
        list.into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreate"))
    })
    .await;
    let message = failed.message.unwrap_or_default();
    assert!(
        message.starts_with("Error creating: pods \"huge-")
            && message.contains("exceeded quota: kubesim-object-count"),
        "{message}"
    );

    // Ten pods run on the one node; the rest wait with the scheduler's reason.
    let pending_reason = "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
    eventually(WAIT, "every pod to be placed or to say why not", || async {
        let list = pods.list(&ListParams::default()).await.ok()?.items;
        let running = list
            .iter()
            .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
            .count();
        let waiting = list
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c.type_ == "PodScheduled"
                                && c.status == "False"
                                && c.message.as_deref() == Some(pending_reason)
                        })
                    })
            })
            .count();
        (list.len() == quota - 1 && running == 10 && waiting == quota - 11).then_some(())
    })
    .await;

    // The API answers, and other namespaces are untouched by the quota.
    let started = Instant::now();
    let page = pods
        .list(&ListParams::default().limit(10))
        .await
        .expect("list");
    assert_eq!(page.items.len(), 10);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    elsewhere
        .create(&PostParams::default(), &extra)
        .await
        .expect("other namespaces take objects");
    assert_eq!(
        handle.store().objects_in("big"),
        quota,
        "and no more were made"
    );
}
