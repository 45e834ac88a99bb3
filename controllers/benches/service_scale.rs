//! The Service controller at scale: 400 LoadBalancer Services over 5,000 endpoints, with
//! 150,000 pods and 5,000 nodes in the embedded API, against the mock cloud through the SDK.
//!
//! `cargo test -p cloudnet-controllers --bench service_scale [-- SCALE [RESYNC_SECS]]`
//!
//! SCALE (default 1) multiplies every size, e.g. `0.05` for a quick run; RESYNC_SECS (default
//! 10) is the short resync period of the at-rest phase. Phases, each against the same cloud:
//!
//! 1. converge from scratch (a controller task, a budget that never paces): time and calls;
//! 2. restart: the `cloudnet-controller` binary as shipped (default rate budget), signing with
//!    its own access key: time back in sync, its mutating calls, and its peak RSS (VmHWM);
//! 3. at rest: a controller task with a short resync period, for 5 periods: mutating calls
//!    and reads per resource per period;
//! 4. endpoint change -> target registered: one endpoint added at a time, the time until the
//!    mock cloud receives its RegisterTargets, p50/p99.
//!
//! Exits non-zero when an invariant breaks: a Service not converged, a duplicate load balancer
//! or target group, a mutating call after the restart or at rest, more than one read per
//! resource per resync period, a change never registered. Targets on time and memory are
//! printed as met or MISSED with the figure.

#[path = "../tests/service_env/mod.rs"]
mod service_env;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_kubesim::{ADMIN, Config as ApiConfig, KubeSim};
use cloudnet_mockcloud::Handle as Cloud;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use service_env::*;

const SERVICES: usize = 400;
const ENDPOINTS: usize = 5_000;
const PODS: usize = 150_000;
const NODES: usize = 5_000;
const NAMESPACE: &str = "default";

fn target(met: bool, what: impl std::fmt::Display) {
    println!("  [{}] {what}", if met { "met" } else { "MISSED" });
}

/// Pod IP `i` of the 5,000: 192.168.192.2 .. inside the VPC, away from the nodes' subnets'
/// first addresses.
fn endpoint_ip(i: usize) -> String {
    format!("192.168.{}.{}", 192 + i / 250, i % 250 + 2)
}

/// Endpoint indices of Service `s` out of `services` sharing `endpoints`.
fn endpoints_of(s: usize, services: usize, endpoints: usize) -> Vec<String> {
    (0..endpoints)
        .filter(|i| i % services == s)
        .map(endpoint_ip)
        .collect()
}

/// Loads nodes and pods straight into the API's store (the controllers only read them).
fn load_nodes_and_pods(api: &cloudnet_kubesim::Handle, nodes: usize, pods: usize) {
    let store = api.store();
    store.set_namespace_quota(usize::MAX);
    let node_info = store.resource("v1", "Node").expect("v1 Node");
    for n in 0..nodes {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{n:05}"), "labels": {
                "kubernetes.io/hostname": format!("node-{n:05}"),
                "node.kubernetes.io/instance-type": "m5.large",
                "topology.kubernetes.io/zone": format!("us-west-2{}", ["a", "b", "c"][n % 3])}},
            "spec": {"providerID": format!("aws:///us-west-2a/i-{n:017x}"),
                "podCIDRs": [format!("10.{}.{}.0/24", 64 + n / 256, n % 256)]},
            "status": {"addresses": [
                {"type": "InternalIP", "address": format!("10.0.{}.{}", n / 250, n % 250 + 2)},
                {"type": "Hostname", "address": format!("node-{n:05}")}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"}}
        });
        store.create(&node_info, None, node).expect("node");
    }
    let pod_info = store.resource("v1", "Pod").expect("v1 Pod");
    for i in 0..pods {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("app-{:03}-{i:06x}", i % 400), "namespace": NAMESPACE,
                "labels": {"app": svc_name(i % 400)}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}],
                "nodeName": format!("node-{:05}", i % nodes.max(1))},
            "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", 64 + i / 65536, (i / 256) % 256, i % 256),
                "conditions": [{"type": "Ready", "status": "True"}]}
        });
        store.create(&pod_info, Some(NAMESPACE), pod).expect("pod");
    }
}

fn stacks(cloud: &Cloud) -> (usize, usize) {
    cloud.with_cloud(|c| (c.elbv2.load_balancer_count(), c.elbv2.target_group_count()))
}

fn print_calls(calls: &BTreeMap<String, u64>) {
    for (k, n) in calls {
        println!("      {k}: {n}");
    }
}

/// Waits until `caller` made at least `min_health_reads` DescribeTargetHealth calls after
/// `seq` and then nothing for `quiet`; gives up after `limit`.
async fn settle(
    cloud: &Cloud,
    seq: u64,
    caller: &str,
    min_health_reads: u64,
    quiet: Duration,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    loop {
        let (calls, last) = calls_of(cloud, seq, caller);
        let reads = count(&calls, "elbv2:DescribeTargetHealth");
        if reads >= min_health_reads
            && now_ms(cloud).saturating_sub(last) >= quiet.as_millis() as u64
        {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let scale = args.first().copied().unwrap_or(1.0);
    let resync = Duration::from_secs_f64(args.get(1).copied().unwrap_or(10.0));
    let sized = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let (services, endpoints, pods, nodes) = (
        sized(SERVICES),
        sized(ENDPOINTS).max(sized(SERVICES)),
        sized(PODS),
        sized(NODES),
    );
    println!(
        "service_scale: {services} Services over {endpoints} endpoints, {pods} pods, {nodes} nodes; resync {resync:?}"
    );
    let mut failures = Failures(Vec::new());

    // AWS's default quota is 50 load balancers per region; an account running 400 asks for
    // more, and so does the bench.
    let mut w = world(1_000);
    if let Some(elbv2) = w.elbv2.as_mut() {
        elbv2.quotas.load_balancers = services + 10;
    }
    let cloud = start_cloud(w).await;
    let api = KubeSim::start(ApiConfig::default()).await.expect("api");
    let client = api.client_for(ADMIN).await.expect("client");
    let t = Instant::now();
    load_nodes_and_pods(&api, nodes, pods);
    println!(
        "loaded {nodes} nodes and {pods} pods into the API in {:.1?}",
        t.elapsed()
    );
    let svc_api: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let slice_api: Api<EndpointSlice> = Api::namespaced(client.clone(), NAMESPACE);
    for s in 0..services {
        let name = svc_name(s);
        let ips = endpoints_of(s, services, endpoints);
        slice_api
            .create(
                &PostParams::default(),
                &slice(NAMESPACE, &format!("{name}-1"), &name, &ips),
            )
            .await
            .expect("slice");
    }

    // 1. Converge from scratch.
    println!("1. converge from scratch (a budget that never paces)");
    let seq = last_seq(&cloud);
    let started = Instant::now();
    let first = Running::spawn(
        client.clone(),
        provider_with(&cloud, "AKIDCONVERGE", budget(), None).await,
        Duration::from_secs(600),
    );
    for s in 0..services {
        svc_api
            .create(
                &PostParams::default(),
                &service(NAMESPACE, &svc_name(s), 30000 + (s % 2000) as u16),
            )
            .await
            .expect("service");
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let converged = loop {
        if stacks(&cloud) == (services, services) && target_count(&cloud) == endpoints as u64 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let took = started.elapsed();
    let (calls, _) = calls_of(&cloud, seq, "AKIDCONVERGE");
    let (reads, mutating) = reads_and_writes(&calls);
    println!(
        "  converged in {took:.1?}: {} calls, {reads} reads, {mutating} mutating ({:.1} per Service)",
        reads + mutating,
        (reads + mutating) as f64 / services as f64
    );
    print_calls(&calls);
    failures.check(
        converged,
        format!("{services} load balancers, {services} target groups, {endpoints} targets"),
    );
    let lb_mutating: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("elbv2:") && !is_read(k) && !k.ends_with("Targets"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "  with the default budget (load balancing mutate 3/s) the {lb_mutating} load balancer writes alone take >= {:.0} s",
        lb_mutating as f64 / 3.0
    );
    failures.check(
        count(&calls, "elbv2:CreateLoadBalancer") == services as u64,
        format!(
            "{} CreateLoadBalancer for {services} Services",
            count(&calls, "elbv2:CreateLoadBalancer")
        ),
    );
    first.kill().await;

    // 2. Restart: the binary as shipped.
    println!("2. restart: the cloudnet-controller binary, default budget");
    let dir = std::env::temp_dir().join(format!("cloudnet-service-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, ADMIN)
        .expect("kubeconfig");
    let log_path = dir.join("controller.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let seq = last_seq(&cloud);
    let started_ms = now_ms(&cloud);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudnet-controller"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", &kubeconfig)
        .env("CLUSTER_NAME", CLUSTER)
        .env("AWS_ENDPOINT_URL", cloud.endpoint_url())
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDRESTART")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("VPC_ID", VPC)
        .env("ENABLE_POD_IPAM", "false")
        .env("LEADER_ELECTION", "false")
        .env("LOG_FORMAT", "text")
        .env("RUST_LOG", "warn")
        .env("METRICS_BIND_ADDRESS", "127.0.0.1:0")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let pid = child.id().expect("pid");
    let synced = settle(
        &cloud,
        seq,
        "AKIDRESTART",
        services as u64,
        Duration::from_secs(3),
        Duration::from_secs(300),
    )
    .await;
    let (calls, last) = calls_of(&cloud, seq, "AKIDRESTART");
    let (reads, mutating) = reads_and_writes(&calls);
    let in_sync = Duration::from_millis(last.saturating_sub(started_ms));
    let hwm = status_kib(pid, "VmHWM:").unwrap_or(0);
    let rss = status_kib(pid, "VmRSS:").unwrap_or(0);
    if let Ok(Some(status)) = child.try_wait() {
        println!("{}", std::fs::read_to_string(&log_path).unwrap_or_default());
        failures.check(false, format!("the binary exited: {status}"));
    }
    let _ = child.kill().await;
    println!("  back in sync {in_sync:.1?} after the start: {reads} reads, {mutating} mutating");
    print_calls(&calls);
    failures.check(
        synced,
        format!("a target health read for each of {services} groups, then quiet"),
    );
    failures.check(
        mutating == 0,
        format!("{mutating} mutating calls after the restart"),
    );
    target(
        in_sync < Duration::from_secs(60),
        format!("back in sync in {in_sync:.1?} (< 60 s)"),
    );
    target(
        hwm < 1024 * 1024,
        format!(
            "controller peak RSS (VmHWM) {:.1} MiB, RSS {:.1} MiB at rest, with {pods} pods and {nodes} nodes in the API (< 1 GiB)",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        ),
    );

    // 3. At rest with a short resync period.
    println!("3. at rest, resync every {resync:?}, 5 periods");
    let seq = last_seq(&cloud);
    let rest = Running::spawn(
        client.clone(),
        provider_with(&cloud, "AKIDREST", budget(), None).await,
        resync,
    );
    // Its first pass (no memory) must finish before the window opens.
    let first_pass = settle(
        &cloud,
        seq,
        "AKIDREST",
        services as u64,
        Duration::from_millis(500),
        Duration::from_secs(300),
    )
    .await;
    failures.check(first_pass, "the at-rest controller's first pass");
    let window_seq = last_seq(&cloud);
    let periods = 5;
    tokio::time::sleep(resync * periods).await;
    let (calls, _) = calls_of(&cloud, window_seq, "AKIDREST");
    let (reads, mutating) = reads_and_writes(&calls);
    println!("  {reads} reads, {mutating} mutating in {periods} periods");
    print_calls(&calls);
    failures.check(mutating == 0, format!("{mutating} mutating calls at rest"));
    let per_resource =
        |action: &str| count(&calls, action) as f64 / (f64::from(periods) * services as f64);
    for action in [
        "elbv2:DescribeLoadBalancers",
        "elbv2:DescribeTargetGroups",
        "elbv2:DescribeListeners",
        "elbv2:DescribeTags",
        "elbv2:DescribeTargetHealth",
        "elbv2:DescribeLoadBalancerAttributes",
        "elbv2:DescribeTargetGroupAttributes",
    ] {
        let r = per_resource(action);
        failures.check(
            r <= 1.0,
            format!("{action}: {r:.2} per resource per period (<= 1)"),
        );
    }
    let cluster_reads: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("ec2:"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "  cluster-wide EC2 reads (subnets, VPC, security groups): {:.1} per period",
        cluster_reads as f64 / f64::from(periods)
    );

    // 4. Endpoint change -> target registered.
    let samples = 100.min(services * 4);
    println!(
        "4. endpoint change -> RegisterTargets at the mock cloud, {samples} changes one at a time"
    );
    let mut latencies = Vec::new();
    for k in 0..samples {
        let s = k % services;
        let name = svc_name(s);
        let mut ips = endpoints_of(s, services, endpoints);
        ips.push(format!("192.168.{}.{}", 240 + k / 250, k % 250 + 2));
        let seq = last_seq(&cloud);
        let at = now_ms(&cloud);
        let patch = json!({"endpoints": slice(NAMESPACE, "x", &name, &ips).endpoints});
        slice_api
            .patch(
                &format!("{name}-1"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .expect("patch");
        let deadline = Instant::now() + Duration::from_secs(30);
        let registered = loop {
            let page = cloud.with_cloud(|c| c.call_log.page(seq));
            if let Some(c) = page
                .calls
                .iter()
                .find(|c| c.call == "elbv2:RegisterTargets")
            {
                break Some(c.at_ms);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        match registered {
            Some(ms) => latencies.push(Duration::from_millis(ms.saturating_sub(at))),
            None => failures.check(false, format!("change {k} on {name} never registered")),
        }
    }
    latencies.sort();
    println!(
        "  p50 {:?}, p99 {:?}, max {:?} over {} changes",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        latencies.len()
    );
    rest.kill().await;
    let (lbs, tgs) = stacks(&cloud);
    failures.check(
        lbs == services && tgs == services,
        format!("no duplicates: {lbs} load balancers, {tgs} target groups for {services} Services"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    if failures.0.is_empty() {
        println!("service_scale: every invariant holds");
        ExitCode::SUCCESS
    } else {
        println!(
            "service_scale: {} broken: {:?}",
            failures.0.len(),
            failures.0
        );
        ExitCode::FAILURE
    }
}
