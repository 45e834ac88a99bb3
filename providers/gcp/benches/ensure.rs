//! Ensures 200 L7 (Ingress: 2 listeners, 2 groups) and 400 L4 (Service: UDP and TCP) stacks
//! against the mock cloud's Compute Engine with 50 ms per call, ensures them all again, then
//! deletes them all, and prints wall time and call counts per phase next to the fewest calls
//! these stacks take (`tests/support/lb_specs.rs` says how they are counted).
//!
//! Calls are counted by the provider (every attempt, retries included) and checked against
//! the mock cloud's call log. The bench exits non-zero when an `ensure` or `delete` fails or
//! an invariant breaks: the first pass or the deletes take more than 1.05 times the minimum,
//! the second pass makes a mutating call or more than 1.05 times its reads, the cloud holds
//! other than exactly the stacks' resources, or anything of them is left after the deletes.
//!
//! `cargo bench -p cloudnet-gcp --bench ensure`; sizes and latency from `BENCH_L7`,
//! `BENCH_L4`, `BENCH_LATENCY_MS`, `BENCH_CONCURRENCY`. The budget is raised far above the
//! defaults: the bench measures the calls the provider makes and how they overlap.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_core::{BudgetConfig, LoadBalancerId, LoadBalancers, Op, Rate, Scheme};
use cloudnet_gcp::{CallCounts, CredentialsChoice, GcpConfig, GcpLoadBalancers, GcpProvider};
use cloudnet_mockcloud::gcp::GcpWorld;
use cloudnet_mockcloud::{Config, MockCloud, World};
use futures::StreamExt;

#[path = "../tests/support/lb_specs.rs"]
mod lb_specs;

const MAX_OVER_MINIMUM: f64 = 1.05;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(phase: &str, took: Duration, calls: &BTreeMap<String, u64>, failed: usize) -> (u64, u64) {
    let total: u64 = calls.values().sum();
    let mutating: u64 = calls
        .iter()
        .filter(|(k, _)| !is_read(k))
        .map(|(_, v)| *v)
        .sum();
    println!(
        "{phase}: {:.2} s wall, {total} calls ({mutating} mutating, {:.0} calls/s), {failed} failed operations",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64().max(1e-9),
    );
    for (k, n) in calls {
        println!("    {k:<45} {n:>6}");
    }
    (total, mutating)
}

fn is_read(method: &str) -> bool {
    let verb = method.rsplit('.').next().unwrap_or("");
    matches!(verb, "get" | "list" | "aggregatedList" | "getHealth")
}

fn since(now: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let l7 = env_or("BENCH_L7", 200);
    let l4 = env_or("BENCH_L4", 400);
    let latency = env_or("BENCH_LATENCY_MS", 50);
    let concurrency = env_or("BENCH_CONCURRENCY", 100);

    let mut gcp = GcpWorld::default();
    let room = (2 * (l7 + l4) + 10) as u64;
    for q in [
        "HEALTH_CHECKS",
        "BACKEND_SERVICES",
        "URL_MAPS",
        "TARGET_HTTP_PROXIES",
        "TARGET_HTTPS_PROXIES",
        "GLOBAL_EXTERNAL_MANAGED_FORWARDING_RULES",
        "FORWARDING_RULES",
        "REGIONAL_BACKEND_SERVICES",
    ] {
        gcp.quotas.insert(q.into(), room);
    }
    let world = World {
        gcp: Some(gcp),
        ..World::default()
    };
    let mock = MockCloud::start(Config::ephemeral(world)).await?;
    let rule = serde_json::from_value(serde_json::json!({"kind": "latency", "ms": latency}))?;
    mock.with_cloud(|c| c.faults.add(rule));
    mock.with_cloud(|c| {
        c.gcp.handle(&cloudnet_mockcloud::gcp::Call {
            method: "POST".into(),
            segments: vec!["global".into(), "sslCertificates".into()],
            query: BTreeMap::new(),
            body: Some(
                cloudnet_mockcloud::gcp::self_managed_certificate("shop-cert").expect("a key pair"),
            ),
            now_ms: 0,
            user: "bench".into(),
            running_ms: 0,
        })
    })?;

    let mut config = GcpConfig::new("prod");
    config.project = Some("cloudnet-sandbox".into());
    config.region = Some("us-central1".into());
    config.network = Some("cloudnet".into());
    config.endpoint = Some(mock.endpoint_url());
    config.credentials = CredentialsChoice::Anonymous;
    let mut budget = BudgetConfig::default();
    for op in Op::all() {
        budget.rates.insert(op, Rate::new(5000.0, 1000));
    }
    config.budget = budget;
    let lb = GcpLoadBalancers::new(GcpProvider::connect(config).await?).await?;
    let counts: CallCounts = lb.provider().call_counts().clone();
    let mock_calls = || {
        mock.with_cloud(|c| {
            c.calls
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("compute:").map(|m| (m.to_string(), *v)))
                .collect::<BTreeMap<String, u64>>()
        })
    };

    let mut specs = Vec::new();
    for i in 0..l7 {
        specs.push(lb_specs::ingress("prod", &format!("web-{i}")));
    }
    for i in 0..l4 {
        let scheme = if i % 2 == 0 {
            Scheme::InternetFacing
        } else {
            Scheme::Internal
        };
        specs.push(lb_specs::service("prod", &format!("svc-{i}"), scheme));
    }
    let internal = l4 / 2;
    // The first internal stack looks up the default subnetwork once (cached after).
    let minimum =
        l7 as u64 * lb_specs::L7_CREATE + l4 as u64 * lb_specs::L4_CREATE + u64::from(internal > 0);
    println!(
        "ensure bench (GCP): {l7} L7 + {l4} L4 stacks ({internal} internal), {latency} ms per call, {concurrency} at once"
    );

    let mut broken: Vec<String> = Vec::new();
    let mut ids: Vec<LoadBalancerId> = Vec::new();
    for phase in ["first pass", "second pass"] {
        let before = counts.snapshot();
        let start = Instant::now();
        let results: Vec<_> = futures::stream::iter(specs.iter())
            .map(|s| lb.ensure(s))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let took = start.elapsed();
        let calls = since(&counts.snapshot(), &before);
        let failed = results.iter().filter(|r| r.is_err()).count();
        let (total, mutating) = report(phase, took, &calls, failed);
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            broken.push(format!("{phase}: {failed} ensures failed, the first: {e}"));
        }
        if phase == "first pass" {
            let ratio = total as f64 / minimum as f64;
            println!(
                "  fewest calls for these stacks: {minimum}; first pass / minimum = {ratio:.3}"
            );
            if ratio > MAX_OVER_MINIMUM {
                broken.push(format!(
                    "first pass: {total} calls, {ratio:.3} times the minimum {minimum} (at most {MAX_OVER_MINIMUM})"
                ));
            }
            ids = results
                .into_iter()
                .filter_map(Result::ok)
                .map(|s| s.id)
                .collect();
        } else {
            // One filtered list per kind and stack (a list may come in more than one page).
            let want = l7 as u64 * lb_specs::L7_READS + l4 as u64 * lb_specs::L4_READS;
            println!("  fewest reads for the second pass: {want}");
            if mutating > 0 || total as f64 > want as f64 * MAX_OVER_MINIMUM {
                broken.push(format!(
                    "second pass: {mutating} mutating calls (want 0), {total} calls (at most {MAX_OVER_MINIMUM}x {want})"
                ));
            }
        }
    }
    // The mock logged no call the provider did not count (the provider counts every attempt,
    // so a retry after a timed-out attempt the mock never answered counts only there).
    let ours = counts.snapshot();
    let theirs = mock_calls();
    for (k, v) in &ours {
        if theirs.get(k).is_none_or(|m| m > v) {
            broken.push(format!(
                "{k}: the provider counted {v}, the mock cloud logged {:?}",
                theirs.get(k)
            ));
        }
    }

    // Exactly the stacks' resources.
    let count = |coll: &str| {
        mock.with_cloud(|c| {
            c.gcp
                .resources
                .keys()
                .filter(|k| k.contains(&format!("/{coll}/k8s-")))
                .count()
        })
    };
    let want = [
        ("healthChecks", 2 * l7 + 2 * l4),
        ("backendServices", 2 * l7 + 2 * l4),
        ("urlMaps", 2 * l7),
        ("targetHttpProxies", l7),
        ("targetHttpsProxies", l7),
        ("forwardingRules", 2 * l7 + 2 * l4),
    ];
    for (coll, n) in want {
        let have = count(coll);
        if have != n {
            broken.push(format!("after the passes: {have} {coll}, want {n}"));
        }
    }

    let before = counts.snapshot();
    let start = Instant::now();
    let deleted: Vec<_> = futures::stream::iter(ids.iter())
        .map(|id| lb.delete(id))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let calls = since(&counts.snapshot(), &before);
    let failed = deleted.iter().filter(|r| r.is_err()).count();
    let (total, _) = report("delete", start.elapsed(), &calls, failed);
    let want = l7 as u64 * lb_specs::L7_DELETE + l4 as u64 * lb_specs::L4_DELETE;
    println!("  fewest calls for the deletes: {want}");
    if total as f64 > want as f64 * MAX_OVER_MINIMUM {
        broken.push(format!(
            "delete: {total} calls, at most {MAX_OVER_MINIMUM}x {want}"
        ));
    }
    if let Some(Err(e)) = deleted.iter().find(|r| r.is_err()) {
        broken.push(format!("delete: {failed} deletes failed, the first: {e}"));
    }
    let left = mock.with_cloud(|c| {
        c.gcp
            .resources
            .keys()
            .filter(|k| k.rsplit('/').next().is_some_and(|n| n.starts_with("k8s-")))
            .count()
    });
    if left != 0 {
        broken.push(format!("left after the deletes: {left} resources"));
    }
    mock.shutdown().await;

    if broken.is_empty() {
        println!("all invariants hold");
        return Ok(ExitCode::SUCCESS);
    }
    for b in &broken {
        eprintln!("BROKEN: {b}");
    }
    Ok(ExitCode::FAILURE)
}
