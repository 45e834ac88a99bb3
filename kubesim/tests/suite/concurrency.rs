//! Many writers, many watchers: every watcher sees every change once, in resourceVersion order.
//!
//! 50 writers and 20 watchers for 10 seconds (`KUBESIM_STRESS_SECS` changes the duration).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::{WAIT, list_version, start};

const WRITERS: usize = 50;
const WATCHERS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_writers_twenty_watchers() {
    let secs: u64 = std::env::var("KUBESIM_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (_h, client) = start().await;
    let api: Api<ConfigMap> = Api::all(client.clone());
    let start_rv = list_version(&api).await;

    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let api = api.clone();
        let start_rv = start_rv.clone();
        let stream = api
            .watch(&WatchParams::default().timeout(290), &start_rv)
            .await
            .expect("watch");
        watchers.push(tokio::spawn(async move {
            let mut seen: Vec<u64> = Vec::new();
            let mut stream = stream.boxed();
            loop {
                match stream.next().await {
                    Some(Ok(
                        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o),
                    )) => {
                        let rv = o
                            .metadata
                            .resource_version
                            .and_then(|r| r.parse().ok())
                            .expect("rv");
                        seen.push(rv);
                        if o.metadata.name.as_deref() == Some("done") {
                            break;
                        }
                    }
                    Some(Ok(WatchEvent::Bookmark(_))) => {}
                    other => panic!("watch failed: {other:?}"),
                }
            }
            seen
        }));
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        writers.push(tokio::spawn(async move {
            let name = format!("w{w}");
            let mut written = Vec::new();
            let cm: ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": name}, "data": {"n": "0"}}))
                    .expect("cm");
            let created = api
                .create(&PostParams::default(), &cm)
                .await
                .expect("create");
            written.push(
                created
                    .metadata
                    .resource_version
                    .and_then(|r| r.parse::<u64>().ok())
                    .expect("rv"),
            );
            let mut n = 0u64;
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let patched = api
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"data": {"n": n.to_string()}})),
                    )
                    .await
                    .expect("patch");
                written.push(
                    patched
                        .metadata
                        .resource_version
                        .and_then(|r| r.parse::<u64>().ok())
                        .expect("rv"),
                );
            }
            written
        }));
    }
    let mut expected = BTreeSet::new();
    for w in writers {
        expected.extend(w.await.expect("writer"));
    }
    let done: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "done"}})).expect("cm");
    let api_default: Api<ConfigMap> = Api::namespaced(client, "default");
    let done = api_default
        .create(&PostParams::default(), &done)
        .await
        .expect("done marker");
    expected.insert(
        done.metadata
            .resource_version
            .and_then(|r| r.parse().ok())
            .expect("rv"),
    );
    assert!(
        expected.len() > WRITERS * 2,
        "writers made progress: {}",
        expected.len()
    );

    for w in watchers {
        let seen = tokio::time::timeout(WAIT * 4, w)
            .await
            .expect("watcher finishes")
            .expect("watcher");
        assert!(
            seen.windows(2).all(|p| p[0] < p[1]),
            "strictly increasing, no duplicates"
        );
        let seen: BTreeSet<u64> = seen.into_iter().collect();
        assert_eq!(seen, expected, "every change, nothing else");
    }
    println!(
        "{} changes by {WRITERS} writers in {secs}s, seen by {WATCHERS} watchers",
        expected.len()
    );
}
