//! Measures the store's memory per pod: resident set size before and after storing 10,000
//! pods shaped like a Deployment's (with status, as the kubelet leaves them), through the
//! same `Store::create`/`update` the API uses, the watch history included. For comparison it
//! then measures the same pods held as `serde_json::Value` (the form the store kept before).
//! Exits 1 when a stored pod takes `TARGET_BYTES` or more.
//!
//! `cargo run --release -p cloudnet-kubesim --example pod_memory [-- <pods>]`

use cloudnet_kubesim::Store;
use cloudnet_kubesim::store::ListOptions;
use serde_json::{Value, json};

/// The most a stored pod may take (issue: under 10 KB per pod).
const TARGET_BYTES: u64 = 10_000;

/// Resident set size in bytes, from /proc/self/statm (Linux).
fn rss() -> Result<u64, Box<dyn std::error::Error>> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or("statm has no resident field")?
        .parse()?;
    Ok(pages * 4096)
}

fn pod(i: usize) -> (String, Value, Value) {
    let name = format!("web-7d4b9c8f5-{i:05x}");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                "uid": "0f4b8e46-6a52-4c55-9a43-1d2e8f1a9b7c", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
            "ports": [{"containerPort": 80, "protocol": "TCP"}]}], "nodeName": format!("node-{}", i % 50)},
    });
    let status = json!({"phase": "Running", "podIP": format!("10.244.{}.{}", i / 250, i % 250 + 2),
        "hostIP": "192.168.1.10", "startTime": "2026-11-30T20:00:00Z", "qosClass": "BestEffort",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-30T20:00:01Z"}],
        "containerStatuses": [{"name": "nginx", "image": "nginx:1.27", "imageID": "", "ready": true,
            "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-11-30T20:00:01Z"}}}]});
    (name, pod, status)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pods: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let store = Store::new(10_000);
    store.set_namespace_quota(usize::MAX);
    let info = store.resource("v1", "Pod").ok_or("v1 Pod is not served")?;
    let before = rss()?;
    for i in 0..pods {
        let (name, pod, status) = pod(i);
        let created = store.create(&info, Some("default"), pod)?;
        let mut running = (*created).clone();
        running["status"] = status;
        store.update(&info, Some("default"), &name, running, true)?;
    }
    let after = rss()?;
    let stats = store.stats();
    let per_pod = after.saturating_sub(before) / pods.max(1) as u64;
    println!(
        "pods={pods} objects={} history={} rss_before={before} rss_after={after} bytes_per_pod={per_pod}",
        stats.objects, stats.history,
    );
    // The same pods as parsed JSON trees, for comparison (measured after the store, so the
    // store's figure does not reuse memory freed here).
    let before = rss()?;
    let values: Vec<Value> = (0..pods)
        .map(|i| {
            let (name, mut pod, status) = pod(i);
            pod["status"] = status;
            pod["metadata"]["name"] = json!(name);
            pod
        })
        .collect();
    let as_values = rss()?.saturating_sub(before) / pods.max(1) as u64;
    println!(
        "as serde_json::Value: bytes_per_pod={as_values} ({} pods)",
        values.len()
    );
    drop(values);
    // What the compact form costs a reader: a full list builds every pod's JSON tree again.
    let started = std::time::Instant::now();
    let listed = store
        .list(&info, Some("default"), &ListOptions::default())?
        .items
        .len();
    println!(
        "list of {listed} pods: {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    if per_pod >= TARGET_BYTES {
        eprintln!("a stored pod takes {per_pod} bytes, the target is under {TARGET_BYTES}");
        std::process::exit(1);
    }
    Ok(())
}
