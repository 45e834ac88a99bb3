//! Ensures 200 ALB and 400 NLB stacks against the mock cloud with 50 ms per call, ensures
//! them all again, then deletes them all, and prints wall time and call counts per phase
//! next to the minimal number of calls (see the crate docs for how the minimum is counted).
//!
//! Calls are counted on the wire (an HTTP client around the SDK's, `tests/common/wire.rs`);
//! failed calls are counted apart and never in a calls/s figure. The bench exits non-zero
//! when any call or `ensure`/`delete` fails, or an invariant breaks: the second pass makes a
//! mutating call, the first pass takes more than 1.05 times the minimum, the stacks are not
//! exactly what was asked for, or anything of them is left after the deletes.
//!
//! `cargo bench -p cloudnet-aws --bench ensure`; sizes and latency from `BENCH_ALB`,
//! `BENCH_NLB`, `BENCH_LATENCY_MS`, `BENCH_CONCURRENCY`; `BENCH_BACKEND_SG=0` switches the
//! shared backend security group off (one rule per ALB on the nodes' group, as before it existed).
//!
//! The budget is raised far above AWS's defaults (which would make the first pass take
//! ~25 minutes at 3 mutations/s): the bench measures the calls the provider makes and how
//! they overlap, not AWS's quotas. The nodes' security group is in: with the shared backend
//! group it gets one rule for all 200 ALBs.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_core::{BudgetConfig, LoadBalancerId, LoadBalancers, Op, Rate};
use cloudnet_mockcloud::elbv2::{Elbv2Config, Quotas};
use cloudnet_mockcloud::{Config, MockCloud, World};
use futures::StreamExt;

#[path = "../tests/common/specs.rs"]
mod specs;
#[path = "../tests/common/wire.rs"]
mod wire;

use wire::{Wire, WireCalls};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The default world's nodes' group.
const NODES_SG: &str = "sg-0c10d0e7000000001";

/// The most the first pass may take, as a multiple of the minimum.
const MAX_OVER_MINIMUM: f64 = 1.05;

/// One phase's figures, from the wire. Failed calls are counted apart and left out of the
/// calls/s figure; refusals (4xx answers, such as the not-found of a stack's first read)
/// are answers and stay in.
fn report(phase: &str, took: Duration, calls: &WireCalls, failed_ops: usize) {
    let answered = calls.answered();
    let ok: u64 = answered.values().sum();
    println!(
        "{phase}: {:.2} s wall, {ok} calls answered ({} mutating, {} refused, {:.0} calls/s), {} failed calls, {failed_ops} failed operations",
        took.as_secs_f64(),
        specs::mutating(&answered),
        calls.refused_total(),
        ok as f64 / took.as_secs_f64().max(1e-9),
        calls.failed_total(),
    );
    for (k, n) in &calls.sent {
        let refused = calls.refused.get(k).copied().unwrap_or(0);
        let failed = calls.failed.get(k).copied().unwrap_or(0);
        println!("    {k:<45} {n:>6}  ({refused} refused, {failed} failed)");
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let albs = env_or("BENCH_ALB", 200);
    let nlbs = env_or("BENCH_NLB", 400);
    let latency = env_or("BENCH_LATENCY_MS", 50);
    let concurrency = env_or("BENCH_CONCURRENCY", 100);
    let backend_sg = env_or("BENCH_BACKEND_SG", 1) != 0;

    let world = World {
        elbv2: Some(Elbv2Config {
            quotas: Quotas {
                load_balancers: albs + nlbs + 10,
                target_groups: 10 * (albs + nlbs) + 10,
                ..Quotas::default()
            },
            ..Elbv2Config::default()
        }),
        ..World::default()
    };
    let mock = MockCloud::start(Config::ephemeral(world)).await?;
    let rule = serde_json::from_value(serde_json::json!({"kind": "latency", "ms": latency}))?;
    mock.with_cloud(|c| c.faults.add(rule));

    let sdk = wire::mock_sdk(&mock.endpoint_url(), "AKIDBENCH").await;
    let wire = Wire::default();
    let counted = wire.counting(&sdk);
    let mut budget = BudgetConfig::default();
    for op in Op::all() {
        budget.rates.insert(op, Rate::new(5000.0, 1000));
    }
    let config = AwsConfig {
        vpc_id: Some("vpc-0c10d0e7000000001".into()),
        node_security_group: Some(NODES_SG.into()),
        backend_security_group: backend_sg,
        budget,
        ..AwsConfig::new("prod")
    };
    let provider = AwsProvider::from_sdk_config(&counted, config, AwsMetrics::default())?;

    let specs = specs::stacks(albs, nlbs);
    let minimum = specs::minimum_for(&specs, NODES_SG, backend_sg)?;

    println!(
        "ensure bench: {albs} ALB + {nlbs} NLB stacks, {latency} ms per call, {concurrency} at once, shared backend security group {}",
        if backend_sg { "on" } else { "off" }
    );
    let mut broken: Vec<String> = Vec::new();
    let mut ids: Vec<LoadBalancerId> = Vec::new();
    for phase in ["first pass", "second pass"] {
        let before = wire.snapshot();
        let start = Instant::now();
        let results: Vec<_> = futures::stream::iter(specs.iter())
            .map(|s| provider.ensure(s))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let took = start.elapsed();
        let calls = wire.snapshot().since(&before);
        let failed = results.iter().filter(|r| r.is_err()).count();
        report(phase, took, &calls, failed);
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            broken.push(format!("{phase}: {failed} ensures failed, the first: {e}"));
        }
        if calls.failed_total() > 0 {
            broken.push(format!("{phase}: {} calls failed", calls.failed_total()));
        }
        if phase == "first pass" {
            let total = calls.total();
            let ratio = total as f64 / minimum as f64;
            println!(
                "  minimal calls for these stacks: {minimum}; first pass / minimum = {ratio:.3}"
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
        } else if specs::mutating(&calls.sent) > 0 {
            broken.push(format!(
                "second pass: {} mutating calls, want 0",
                specs::mutating(&calls.sent)
            ));
        }
    }

    // Exactly the stacks asked for: no duplicate, no stray target group.
    let stacks_left =
        || mock.with_cloud(|c| (c.elbv2.load_balancer_count(), c.elbv2.target_group_count()));
    let (lbs, tgs) = stacks_left();
    let want_tgs = 3 * albs + nlbs;
    if (lbs, tgs) != (albs + nlbs, want_tgs) {
        broken.push(format!(
            "after the passes: {lbs} load balancers and {tgs} target groups, want {} and {want_tgs}",
            albs + nlbs
        ));
    }
    let rules_after_passes = nodes_rules(&sdk).await?;
    println!("rules on the nodes' group: {rules_after_passes}");
    // One rule for every ALB with the shared backend security group, else one per ALB.
    let want_rules = match (albs, backend_sg) {
        (0, _) => 0,
        (_, true) => 1,
        (n, false) => n,
    };
    if rules_after_passes != want_rules {
        broken.push(format!(
            "after the passes: {rules_after_passes} rules from groups on the nodes' group, want {want_rules}"
        ));
    }

    let before = wire.snapshot();
    let start = Instant::now();
    let deleted: Vec<_> = futures::stream::iter(ids.iter())
        .map(|id| provider.delete(id))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let calls = wire.snapshot().since(&before);
    let failed = deleted.iter().filter(|r| r.is_err()).count();
    report("delete", start.elapsed(), &calls, failed);
    if let Some(Err(e)) = deleted.iter().find(|r| r.is_err()) {
        broken.push(format!("delete: {failed} deletes failed, the first: {e}"));
    }
    let left = stacks_left();
    let left_rules = nodes_rules(&sdk).await?;
    let left_groups = owned_security_groups(&sdk).await?;
    if left_groups != 0 {
        broken.push(format!(
            "left after the deletes: {left_groups} security groups tagged for the cluster"
        ));
    }
    // The nodes' group of the default world starts with no rule from another group.
    if left != (0, 0) || left_rules != 0 {
        broken.push(format!(
            "left after the deletes: {} load balancers, {} target groups, {left_rules} rules from groups on the nodes' group",
            left.0, left.1
        ));
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

/// Rules on the nodes' group whose source is a security group (what load balancers get).
async fn nodes_rules(sdk: &aws_config::SdkConfig) -> Result<usize, Box<dyn std::error::Error>> {
    let nodes = aws_sdk_ec2::Client::new(sdk)
        .describe_security_groups()
        .group_ids(NODES_SG)
        .send()
        .await?;
    Ok(nodes
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .map(|p| p.user_id_group_pairs().len())
        .sum())
}

/// Security groups tagged for the cluster (managed and shared backend ones).
async fn owned_security_groups(
    sdk: &aws_config::SdkConfig,
) -> Result<usize, Box<dyn std::error::Error>> {
    let groups = aws_sdk_ec2::Client::new(sdk)
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:cloudnet.io/cluster")
                .values("prod")
                .build(),
        )
        .send()
        .await?;
    Ok(groups.security_groups().len())
}
