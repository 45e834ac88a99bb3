//! 100 pods at once on an empty m5.4xlarge (8 interfaces x 30 IPv4), with the cloud's slow
//! calls slowed down in the mock: attach 2 s, assign 300 ms (also on create, which assigns the
//! new interface's addresses). The sandbox runs as `cloudnet sandbox` does (the controller with
//! its shipped allocator settings and EC2 budget, the node's ipamd in process); each pod asks
//! the node's ipamd over gRPC, as the CNI plugin does: ipamd holds an Allocate it cannot
//! serve yet for up to [`ADDRESS_WAIT`] and answers it as soon as the pool grows; a pod
//! refused after that asks again 25 ms later. The mock also throttles as EC2's default
//! buckets do (see [`EC2_BUCKETS`]). ipamd's sync phases (its `/metrics`) are printed after
//! the run, to show where the time after the last cloud call goes.
//!
//! ```sh
//! cargo test -p cloudnet-cli --bench pods_at_once -- [pods]   # default 100; debug build
//! ```
//!
//! Prints the time until every pod has an address against the critical path of the cloud
//! calls (computed from the limits and the latencies), and the cloud calls against the minimum
//! the limits allow. Exits non-zero when an address is given twice, an address is not on the
//! node's interfaces, a pod never gets one, the mock throttled a call, more mutating calls were
//! made than the minimum for the pool the knobs ask, or the time is over 1.2x the critical
//! path.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_cli::sandbox::{Sandbox, SandboxArgs};
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::faults::{FaultKind, FaultRule};

const INSTANCE_TYPE: &str = "m5.4xlarge";
const MAX_INTERFACES: u32 = 8;
const ADDRESSES_PER_INTERFACE: u32 = 30;
const ATTACH_MS: u64 = 2000;
const ASSIGN_MS: u64 = 300;
/// How often a refused pod asks again.
const RETRY: Duration = Duration::from_millis(25);
/// How long ipamd may hold an Allocate for the pool to grow: half the call's 2 s timeout,
/// as the CNI plugin asks half its `timeoutMs`.
const ADDRESS_WAIT: Duration = Duration::from_secs(1);
/// How long a pod keeps asking.
const GIVE_UP: Duration = Duration::from_secs(120);
/// EC2's documented default request-token buckets: non-mutating (Describe*) 100 tokens
/// refilled at 20/s, mutating 200 refilled at 5/s. The mock keeps one bucket per rule, so each
/// mutating action family here has its own (looser than EC2's one shared bucket).
const EC2_BUCKETS: &[(&str, f64, u32)] = &[
    ("Describe*", 20.0, 100),
    ("Create*", 5.0, 200),
    ("Attach*", 5.0, 200),
    ("Assign*", 5.0, 200),
    ("Unassign*", 5.0, 200),
    ("Modify*", 5.0, 200),
    ("Detach*", 5.0, 200),
    ("Delete*", 5.0, 200),
];

fn rule(v: serde_json::Value) -> FaultRule {
    serde_json::from_value(v).expect("a fault rule")
}

/// The default world's network with one m5.4xlarge in it.
fn world() -> World {
    let mut w = World::default();
    let mut spec = w.instances[0].clone();
    spec.id = None;
    spec.private_ip = None;
    spec.instance_type = INSTANCE_TYPE.into();
    w.instances = vec![spec];
    w
}

/// ipamd's sync phases and waited Allocates from its `/metrics`: `(sum, count)` by series
/// (`sync_phase_seconds{phase="metadata"}`, `allocate_waited_seconds`).
async fn ipamd_phases(at: std::net::SocketAddr) -> BTreeMap<String, (f64, f64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut out = BTreeMap::new();
    let Ok(mut s) = tokio::net::TcpStream::connect(at).await else {
        return out;
    };
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n");
    let mut body = String::new();
    if s.write_all(req.as_bytes()).await.is_err() || s.read_to_string(&mut body).await.is_err() {
        return out;
    }
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("cloudnet_ipamd_") else {
            continue;
        };
        let Some((series, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        for (suffix, sum) in [("_sum", true), ("_count", false)] {
            let name = series.replacen(suffix, "", 1);
            if series.contains(suffix)
                && (name.starts_with("sync_phase_seconds") || name.starts_with("allocate_waited"))
            {
                let e = out.entry(name).or_insert((0.0, 0.0));
                if sum {
                    e.0 = v;
                } else {
                    e.1 = v;
                }
            }
        }
    }
    out
}

fn calls_now(sandbox: &Sandbox) -> BTreeMap<String, u64> {
    sandbox.cloud.with_cloud(|c| c.calls.clone())
}

/// Throttled calls so far: the times the bucket rules fired.
fn throttled_now(sandbox: &Sandbox) -> u64 {
    sandbox.cloud.with_cloud(|c| {
        c.faults
            .rules()
            .iter()
            .filter(|r| matches!(r.rule.kind, FaultKind::Throttle { .. }))
            .map(|r| r.fired)
            .sum()
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let pods: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let config = AllocatorConfig::default();
    let node_parallelism = config.node_parallelism as u32;
    let warm_eni_target = config.knobs.warm_eni_target;

    let dir = std::env::temp_dir().join(format!("cloudnet-pods-at-once-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let world_file = dir.join("world.yaml");
    std::fs::write(&world_file, serde_yaml::to_string(&world()).expect("world"))
        .expect("world written");
    let mut args = SandboxArgs::ephemeral(&dir);
    args.world = Some(world_file);
    let sandbox = Sandbox::start(&args).await.expect("the sandbox starts");
    let code = run(&sandbox, pods, node_parallelism, warm_eni_target).await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

async fn run(
    sandbox: &Sandbox,
    pods: u32,
    node_parallelism: u32,
    warm_eni_target: u32,
) -> ExitCode {
    let node = sandbox.nodes[0].name.clone();
    let instance = sandbox.nodes[0]
        .provider_id
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let ipamd = sandbox.ipamd.clone().expect("vpc mode runs ipamd");
    sandbox.cloud.with_cloud(|c| {
        for (action, rate, burst) in EC2_BUCKETS {
            c.faults
                .add(rule(serde_json::json!({"service": "ec2", "action": action,
                "kind": "throttle", "rate_per_sec": rate, "burst": burst})));
        }
        for (action, ms) in [
            ("AttachNetworkInterface", ATTACH_MS),
            ("AssignPrivateIpAddresses", ASSIGN_MS),
            ("CreateNetworkInterface", ASSIGN_MS),
        ] {
            c.faults
                .add(rule(serde_json::json!({"service": "ec2", "action": action,
                "kind": "latency", "ms": ms})));
        }
    });

    // The empty node at rest: its pool unchanged for 3 s after it is synced.
    let mut warm = 0;
    let mut stable_since = Instant::now();
    let settle_by = Instant::now() + Duration::from_secs(120);
    loop {
        match ipamd.status(&node).await {
            Ok(s) if s.synced && s.total > 0 => {
                if s.total != warm {
                    warm = s.total;
                    stable_since = Instant::now();
                } else if stable_since.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
            _ => stable_since = Instant::now(),
        }
        if Instant::now() > settle_by {
            eprintln!("FAIL: the empty node's pool never settled");
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls_before = calls_now(sandbox);
    let throttled_before = throttled_now(sandbox);
    let introspection = ipamd.introspection(&node).expect("the node's ipamd");
    let phases_before = ipamd_phases(introspection).await;

    let socket = ipamd.dir().join(&node).join("run").join("ipamd.sock");
    let client = cloudnet_ipamd::Client::connect(&socket, Duration::from_secs(2))
        .await
        .expect("ipamd answers")
        .with_address_wait(ADDRESS_WAIT);
    let (seq_before, start_ms) = sandbox
        .cloud
        .with_cloud(|c| (c.call_log.page(u64::MAX).last_seq, c.now_ms(Instant::now())));
    let start = Instant::now();
    let deadline = start + GIVE_UP;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..pods {
        let mut client = client.clone();
        tasks.spawn(async move {
            let pod = format!("pod-{i}");
            let uid = format!("uid-{i}");
            let mut refused = 0u32;
            while Instant::now() < deadline {
                let who = cloudnet_ipamd::PodRef::new("bench", &pod, &uid);
                match client.allocate_pod(&uid, "eth0", &who).await {
                    Ok(a) => return Some((pod, a.address, start.elapsed(), refused)),
                    Err(_) => refused += 1,
                }
                tokio::time::sleep(RETRY).await;
            }
            None
        });
    }
    let mut served = Vec::new();
    let mut never = 0;
    while let Some(r) = tasks.join_next().await {
        match r.expect("pod task") {
            Some(s) => served.push(s),
            None => never += 1,
        }
    }
    let all = served
        .iter()
        .map(|s| s.2)
        .max()
        .unwrap_or_default()
        .as_secs_f64();
    let at_once = served.iter().filter(|s| s.3 == 0).count();
    let phases_after = ipamd_phases(introspection).await;
    // Let the allocator's round that follows the burst (the warm interface the knobs keep)
    // finish before counting the calls.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // The critical path: the warm pool serves its pods at once; the rest need new interfaces,
    // created with their addresses (one assign's latency) and attached, as many at a time as
    // a node's round runs steps. Describes, status writes and ipamd's sync tick are not in it.
    let slots = ADDRESSES_PER_INTERFACE - 1;
    let waiting = pods.saturating_sub(warm);
    let needed = waiting.div_ceil(slots);
    let waves = needed.div_ceil(node_parallelism.max(1));
    let critical = f64::from(waves) * (ASSIGN_MS + ATTACH_MS) as f64 / 1000.0;
    // The interfaces the knobs ask for `pods` in use (WARM_ENI_TARGET whole interfaces free),
    // beyond the primary, capped by the instance type.
    let knob_interfaces = (pods.div_ceil(slots) + warm_eni_target)
        .min(MAX_INTERFACES)
        .saturating_sub(1);
    let had = warm.div_ceil(slots).saturating_sub(1);
    let new_for_knobs = knob_interfaces.saturating_sub(had);

    let calls_after = calls_now(sandbox);
    let calls: BTreeMap<String, u64> = calls_after
        .iter()
        .map(|(k, n)| (k.clone(), n - calls_before.get(k).copied().unwrap_or(0)))
        .filter(|(k, n)| *n > 0 && k.starts_with("ec2:"))
        .collect();
    let is_describe = |k: &str| k.starts_with("ec2:Describe");
    let mutating: u64 = calls
        .iter()
        .filter(|(k, _)| !is_describe(k))
        .map(|(_, n)| n)
        .sum();
    let describes: u64 = calls
        .iter()
        .filter(|(k, _)| is_describe(k))
        .map(|(_, n)| n)
        .sum();
    let throttles = throttled_now(sandbox) - throttled_before;
    // When each cloud call of the burst arrived at the mock, and when the slow ones returned.
    let timeline: Vec<(f64, String)> = sandbox.cloud.with_cloud(|c| {
        c.call_log
            .page(seq_before)
            .calls
            .into_iter()
            .filter(|r| r.call.starts_with("ec2:"))
            .map(|r| (r.at_ms.saturating_sub(start_ms) as f64 / 1000.0, r.call))
            .collect()
    });
    let latency_of = |call: &str| match call {
        "ec2:AttachNetworkInterface" => ATTACH_MS,
        "ec2:AssignPrivateIpAddresses" | "ec2:CreateNetworkInterface" => ASSIGN_MS,
        _ => 0,
    } as f64
        / 1000.0;
    let first_call = timeline.first().map_or(0.0, |t| t.0);
    let cloud_done = timeline
        .iter()
        .filter(|(at, _)| *at <= all)
        .map(|(at, call)| at + latency_of(call))
        .fold(0.0, f64::max);

    println!(
        "pods: {pods} on an {INSTANCE_TYPE} ({MAX_INTERFACES} interfaces x {ADDRESSES_PER_INTERFACE} IPv4)"
    );
    println!(
        "mock latency: attach {ATTACH_MS} ms, assign {ASSIGN_MS} ms (create too: it assigns the new interface's addresses)"
    );
    println!("warm pool before the burst: {warm} addresses");
    println!("served from the warm pool at once: {at_once}; pods never served: {never}");
    println!("every pod has an address after: {all:.3} s");
    println!(
        "critical path: {critical:.3} s ({waiting} pods wait, {needed} new interfaces, {waves} wave(s) of create {ASSIGN_MS} ms + attach {ATTACH_MS} ms at {node_parallelism} per node)"
    );
    let ratio = if critical > 0.0 { all / critical } else { 0.0 };
    println!("ratio: {ratio:.2}x (target <= 1.2x)");
    println!(
        "timeline: first cloud call at {first_call:.3} s, the cloud calls before it done at {cloud_done:.3} s, last pod served {:.3} s after it",
        all - cloud_done
    );
    for (at, call) in &timeline {
        println!("  +{at:.3} s {call}");
    }
    println!("ipamd during the burst (count, mean, from its /metrics):");
    for (name, (sum, count)) in &phases_after {
        let (sum0, count0) = phases_before.get(name).copied().unwrap_or_default();
        let n = count - count0;
        if n > 0.0 {
            println!("  {name}: {n} x {:.1} ms", (sum - sum0) / n * 1000.0);
        }
    }
    println!("cloud calls by action after the burst:");
    for (k, n) in &calls {
        println!("  {k}: {n}");
    }
    // Each new interface: create (with its addresses and tags), attach, and the attachment's
    // delete-on-termination.
    let min_for_pods = 3 * u64::from(needed);
    let min_for_knobs = 3 * u64::from(new_for_knobs);
    println!(
        "mutating calls: {mutating} (minimum {min_for_pods} for the waiting pods' {needed} interfaces, {min_for_knobs} for the {new_for_knobs} new ones the knobs ask)"
    );
    println!("describe calls: {describes}");
    println!("throttled calls: {throttles}");

    let mut ok = true;
    let mut addresses = BTreeSet::new();
    for (pod, address, _, _) in &served {
        if !addresses.insert(address.clone()) {
            eprintln!("FAIL: {address} given twice (again to {pod})");
            ok = false;
        }
    }
    let on_node: BTreeSet<String> = sandbox.cloud.with_cloud(|c| {
        c.ec2
            .network_interfaces
            .values()
            .filter(|e| e.attached_to(&instance))
            .flat_map(|e| e.private_ips.iter().filter(|p| !p.primary))
            .map(|p| p.address.to_string())
            .collect()
    });
    if let Some(a) = addresses.iter().find(|a| !on_node.contains(*a)) {
        eprintln!("FAIL: {a} was handed out but is not on the node's interfaces");
        ok = false;
    }
    if never > 0 || served.len() != pods as usize {
        eprintln!("FAIL: {never} pods never got an address");
        ok = false;
    }
    if throttles > 0 {
        eprintln!("FAIL: the cloud throttled {throttles} calls");
        ok = false;
    }
    if mutating > min_for_knobs {
        eprintln!("FAIL: {mutating} mutating calls, minimum {min_for_knobs}");
        ok = false;
    }
    if critical > 0.0 && ratio > 1.2 {
        eprintln!("FAIL: {all:.3} s is {ratio:.2}x the critical path {critical:.3} s");
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
