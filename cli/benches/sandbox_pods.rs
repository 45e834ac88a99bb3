//! How long the sandbox takes to bring pods up with VPC addresses (an ipamd per node, the
//! allocator through the AWS SDK) against per-node ranges, on a world of many nodes.
//!
//! ```sh
//! cargo bench -p cloudnet-cli --bench sandbox_pods -- [nodes] [pods]   # default 20 300
//! ```
//!
//! Exits non-zero when a pod does not run within the timeout, an address is given twice, or
//! (vpc) a pod's address is not a secondary address of its own node's ENI in the mock cloud.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_cli::pod_addresses::PodAddresses;
use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_mockcloud::World;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(600);

/// The default world with `nodes` m5.large instances spread over its subnets.
fn world(nodes: usize) -> World {
    let mut w = World::default();
    let templates = w.instances.clone();
    w.instances = (0..nodes)
        .map(|i| {
            let mut spec = templates[i % templates.len()].clone();
            spec.id = None;
            spec.private_ip = None;
            spec
        })
        .collect();
    w
}

struct Outcome {
    start: Duration,
    running: Duration,
    settled: Duration,
    ec2_mutating: u64,
    ec2_describe: u64,
    /// ADDs that found no address (the kubelet's FailedCreatePodSandBox events, counted).
    failed_adds: i64,
    errors: Vec<String>,
}

async fn pods(client: &kube::Client) -> Vec<(Option<Ipv4Addr>, String, bool)> {
    Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let status = p.status.unwrap_or_default();
            let running = status.phase.as_deref() == Some("Running");
            let ip = status.pod_ip.and_then(|ip| ip.parse().ok());
            let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
            (ip, node, running)
        })
        .collect()
}

async fn run(mode: PodAddresses, world_file: &std::path::Path, n_pods: usize) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = SandboxArgs::ephemeral(dir.path());
    args.world = Some(world_file.to_path_buf());
    args.pod_addresses = mode;
    let t0 = Instant::now();
    let sandbox = Sandbox::start(&args).await.expect("the sandbox starts");
    let start = t0.elapsed();
    let client = sandbox.client().clone();
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": n_pods,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .expect("deployment");
    let t1 = Instant::now();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await
        .expect("deployment created");
    let mut errors = Vec::new();
    let running = loop {
        let ps = pods(&client).await;
        if ps.iter().filter(|p| p.2).count() == n_pods {
            break t1.elapsed();
        }
        if t1.elapsed() > TIMEOUT {
            errors.push(format!(
                "{} of {n_pods} pods running after {TIMEOUT:?}",
                ps.iter().filter(|p| p.2).count()
            ));
            break t1.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if !sandbox.wait_settled(TIMEOUT).await {
        errors.push("the sandbox did not settle".into());
    }
    let settled = t1.elapsed();

    let failed_adds = Api::<k8s_openapi::api::core::v1::Event>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
        .map(|e| i64::from(e.count.unwrap_or(1)))
        .sum();
    let ps = pods(&client).await;
    let mut seen = BTreeSet::new();
    for (ip, _, _) in &ps {
        if let Some(ip) = ip
            && !seen.insert(*ip)
        {
            errors.push(format!("{ip} is given to two pods"));
        }
    }
    let instance_of: BTreeMap<&str, &str> = sandbox
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                n.provider_id.rsplit('/').next().unwrap_or_default(),
            )
        })
        .collect();
    let (on_eni, ec2_mutating, ec2_describe) = sandbox.cloud.with_cloud(|c| {
        let mut on = BTreeMap::new();
        for eni in c.ec2.network_interfaces.values() {
            if let Some(att) = &eni.attachment {
                for ip in eni.private_ips.iter().filter(|ip| !ip.primary) {
                    on.insert(ip.address, att.instance_id.clone());
                }
            }
        }
        let mutating = c
            .calls
            .iter()
            .filter(|(action, _)| !action.contains("Describe"))
            .map(|(_, n)| *n)
            .sum();
        let describe = c
            .calls
            .iter()
            .filter(|(action, _)| action.contains("Describe"))
            .map(|(_, n)| *n)
            .sum();
        (on, mutating, describe)
    });
    if mode == PodAddresses::Vpc {
        for (ip, node, _) in &ps {
            let Some(ip) = ip else { continue };
            if on_eni.get(ip).map(String::as_str) != instance_of.get(node.as_str()).copied() {
                errors.push(format!("{ip} on {node} is not on that node's ENIs"));
            }
        }
    }
    sandbox.shutdown().await;
    Outcome {
        start,
        running,
        settled,
        ec2_mutating,
        ec2_describe,
        failed_adds,
        errors,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(20);
    let n_pods = args.get(1).copied().unwrap_or(300);
    let dir = tempfile::tempdir().expect("temp dir");
    let world_file = dir.path().join("world.yaml");
    std::fs::write(
        &world_file,
        serde_yaml::to_string(&world(nodes)).expect("world"),
    )
    .expect("world written");
    println!("{nodes} m5.large nodes, one Deployment of {n_pods} pods");
    println!(
        "mode   start    pods running  settled   cloud calls: mutating  describe  failed ADDs"
    );
    let mut failed = false;
    for mode in [PodAddresses::Range, PodAddresses::Vpc] {
        let o = run(mode, &world_file, n_pods).await;
        println!(
            "{:<6} {:>6.2}s {:>11.2}s {:>8.2}s {:>22} {:>9} {:>12}",
            format!("{mode:?}").to_lowercase(),
            o.start.as_secs_f64(),
            o.running.as_secs_f64(),
            o.settled.as_secs_f64(),
            o.ec2_mutating,
            o.ec2_describe,
            o.failed_adds
        );
        for e in &o.errors {
            println!("  FAILED: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
