//! Measures the store's memory per pod: resident set size before and after storing 10,000
//! pods shaped like a Deployment's (with status, as the kubelet leaves them), through the
//! same `Store::create`/`update` the API uses, the watch history included. For comparison it
//! then measures the same pods held as `serde_json::Value` (the form the store kept before).
//! Exits 1 when a stored pod takes `TARGET_BYTES` or more.
//!
//! With `--simulated` it measures the sandbox as it runs instead: the simulated scheduler,
//! kubelets and controllers on 200 `m5.4xlarge` nodes, and one Deployment of 10,000 replicas
//! created through the store. It prints the time until every replica is ready and the RSS
//! the whole process gained per pod (store, watch history, the components' own state and the
//! lists they take each pass). Exits 1 when the Deployment does not settle within
//! `SETTLE_DEADLINE`, or a pod costs `TARGET_BYTES` or more.
//!
//! `cargo run --release -p cloudnet-kubesim --example pod_memory [-- [--simulated] [<pods>]]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudnet_kubesim::Store;
use cloudnet_kubesim::sim::{self, kubelet::RangeAddressSource, node::NodeRegistration};
use cloudnet_kubesim::store::ListOptions;
use serde_json::{Value, json};

/// The most a stored pod may take (issue: under 10 KB per pod).
const TARGET_BYTES: u64 = 10_000;

/// Nodes of the simulated cluster, and the pods an `m5.4xlarge` takes (its ENI limit).
const NODES: usize = 200;
const M5_4XLARGE_MAX_PODS: u32 = 234;

/// How long the simulated Deployment may take to have every replica ready.
const SETTLE_DEADLINE: Duration = Duration::from_secs(600);

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
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let simulated = args.iter().any(|a| a == "--simulated");
    args.retain(|a| a != "--simulated");
    let pods: usize = match args.first() {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    if simulated {
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(simulated_cluster(pods));
    }
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

/// The ready replicas of Deployment `default/web`.
fn ready_replicas(store: &Store) -> Result<u64, Box<dyn std::error::Error>> {
    let info = store
        .resource("apps/v1", "Deployment")
        .ok_or("apps/v1 Deployment is not served")?;
    let d = store.get(&info, Some("default"), "web")?;
    Ok(d["status"]["readyReplicas"].as_u64().unwrap_or(0))
}

/// One Deployment of `pods` replicas on `NODES` simulated `m5.4xlarge` nodes.
async fn simulated_cluster(pods: usize) -> Result<(), Box<dyn std::error::Error>> {
    let before = rss()?;
    let store = Arc::new(Store::new(10_000));
    store.set_namespace_quota(usize::MAX);
    let _simulation = sim::start(&store, Arc::new(RangeAddressSource::default()));
    for i in 0..NODES {
        let zone = ["us-west-2a", "us-west-2b", "us-west-2c"][i % 3];
        sim::node::register_node(
            &store,
            &NodeRegistration {
                name: format!("node-{i:03}"),
                provider_id: format!("aws:///{zone}/i-{i:017x}"),
                internal_ip: format!("192.168.{}.{}", i / 200, i % 200 + 10),
                zone: zone.into(),
                instance_type: "m5.4xlarge".into(),
                max_pods: M5_4XLARGE_MAX_PODS,
            },
        )?;
    }
    let info = store
        .resource("apps/v1", "Deployment")
        .ok_or("apps/v1 Deployment is not served")?;
    let started = Instant::now();
    store.create(
        &info,
        Some("default"),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": pods, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}}
        }),
    )?;
    let mut ready = 0;
    while ready < pods as u64 {
        if started.elapsed() > SETTLE_DEADLINE {
            eprintln!(
                "{ready} of {pods} replicas ready after {} s",
                SETTLE_DEADLINE.as_secs()
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        ready = ready_replicas(&store)?;
    }
    let settled = started.elapsed();
    let after = rss()?;
    let stats = store.stats();
    let per_pod = after.saturating_sub(before) / pods.max(1) as u64;
    let events = store
        .resource("v1", "Event")
        .ok_or("v1 Event is not served")?;
    let events = store
        .list(&events, None, &ListOptions::default())?
        .items
        .len();
    println!(
        "simulated: nodes={NODES} pods={pods} ready={ready} settled_s={:.1} objects={} events={events} history={} rss_before={before} rss_after={after} bytes_per_pod={per_pod}",
        settled.as_secs_f64(),
        stats.objects,
        stats.history,
    );
    if per_pod >= TARGET_BYTES {
        eprintln!(
            "the running sandbox takes {per_pod} bytes per pod, the target is under {TARGET_BYTES}"
        );
        std::process::exit(1);
    }
    Ok(())
}
