//! Ensures 200 ALB and 400 NLB stacks against the mock cloud with 50 ms per call, then
//! ensures them all again, and prints wall time and call counts per phase next to the
//! minimal number of calls (see the crate docs for how the minimum is counted).
//!
//! `cargo bench -p cloudnet-aws --bench ensure`; sizes and latency from `BENCH_ALB`,
//! `BENCH_NLB`, `BENCH_LATENCY_MS`, `BENCH_CONCURRENCY`; `BENCH_BACKEND_SG=0` switches the
//! shared backend group off (one rule per ALB on the nodes' group, as before it existed).
//!
//! The budget is raised far above AWS's defaults (which would make the first pass take
//! ~25 minutes at 3 mutations/s): the bench measures the calls the provider makes and how
//! they overlap, not AWS's quotas. The nodes' security group is in: with the shared backend
//! group it gets one rule for all 200 ALBs.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use cloudnet_aws::lb::plan::{PlanContext, plan};
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_core::{
    Action, BackendGroup, BudgetConfig, HealthCheck, IpAddressType, Listener, LoadBalancerKind,
    LoadBalancerSpec, LoadBalancers, Op, Owner, OwnerKind, Protocol, Rate, Scheme, Subnets,
    TargetKind, WeightedGroup,
};
use cloudnet_mockcloud::elbv2::{Elbv2Config, Quotas};
use cloudnet_mockcloud::{Config, MockCloud, World};
use futures::StreamExt;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn alb(i: usize) -> Result<LoadBalancerSpec, serde_json::Error> {
    let mut spec: LoadBalancerSpec =
        serde_json::from_str(include_str!("../../core/testdata/alb_spec.json"))?;
    spec.owner = Owner::namespaced("prod", OwnerKind::Ingress, "shop", &format!("web{i}"));
    spec.security_groups.clear();
    Ok(spec)
}

fn nlb(i: usize) -> LoadBalancerSpec {
    let key = format!("default/svc{i}:80");
    LoadBalancerSpec {
        owner: Owner::namespaced("prod", OwnerKind::Service, "default", &format!("svc{i}")),
        kind: LoadBalancerKind::Network,
        scheme: Scheme::Internal,
        ip_address_type: IpAddressType::Ipv4,
        listeners: vec![Listener {
            port: 80,
            protocol: Protocol::Tcp,
            certificates: vec![],
            ssl_policy: None,
            default_action: Action::Forward {
                groups: vec![WeightedGroup {
                    group: key.clone(),
                    weight: 1,
                }],
            },
            rules: vec![],
        }],
        groups: vec![BackendGroup {
            key,
            protocol: Protocol::Tcp,
            port: 8080,
            target_kind: TargetKind::PodIp,
            health_check: HealthCheck {
                timeout_seconds: 6,
                ..HealthCheck::defaults_for(Protocol::Tcp)
            },
            attributes: BTreeMap::new(),
        }],
        attributes: BTreeMap::new(),
        subnets: Subnets::Discover,
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}

/// The default world's nodes' group.
const NODES_SG: &str = "sg-0c10d0e7000000001";

/// The shared backend group, once per cluster: one read to learn it is absent, its
/// creation, and the one rule on the nodes' group.
const BACKEND_GROUP_MINIMUM: u64 = 3;

/// Mutations a new stack needs, plus one read to learn it is absent.
fn minimal_calls(spec: &LoadBalancerSpec, backend_sg: bool) -> Result<u64, cloudnet_core::Error> {
    let ctx = PlanContext {
        vpc_cidrs: Vec::new(),
        node_security_group: Some(NODES_SG.into()),
        backend_security_group: backend_sg,
    };
    let stack = plan(spec, &ctx)?;
    let mut n = 1 + 1; // the read, CreateLoadBalancer
    if let Some(sg) = &stack.security_group {
        n += 1 + u64::from(!sg.ingress.is_empty());
    }
    // Without the shared group: each ALB's rule on the nodes' group.
    n += u64::from(stack.backend_access.is_some());
    n += stack.target_groups.len() as u64;
    n += stack
        .target_groups
        .iter()
        .filter(|t| !t.attributes.is_empty())
        .count() as u64;
    n += u64::from(!stack.load_balancer.attributes.is_empty());
    n += stack.listeners.len() as u64;
    n += stack
        .listeners
        .iter()
        .map(|l| l.rules.len() as u64)
        .sum::<u64>();
    Ok(n)
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn mutating(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(k, _)| {
            !k.split_once(':')
                .is_some_and(|(_, a)| a.starts_with("Describe"))
        })
        .map(|(_, n)| n)
        .sum()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDBENCH", "secret", None, None, "bench"))
        .endpoint_url(mock.endpoint_url())
        .load()
        .await;
    let mut budget = BudgetConfig::default();
    for op in Op::all() {
        budget.rates.insert(op, Rate::new(5000.0, 1000));
    }
    let config = AwsConfig {
        vpc_id: Some("vpc-0c10d0e7000000001".into()),
        // The default world's nodes' group.
        node_security_group: Some(NODES_SG.into()),
        backend_security_group: backend_sg,
        budget,
        ..AwsConfig::new("prod")
    };
    let provider = AwsProvider::from_sdk_config(&sdk, config, AwsMetrics::default())?;

    let mut specs = Vec::with_capacity(albs + nlbs);
    for i in 0..albs {
        specs.push(alb(i)?);
    }
    specs.extend((0..nlbs).map(nlb));
    let mut minimum = if albs > 0 && backend_sg {
        BACKEND_GROUP_MINIMUM
    } else {
        0
    };
    for s in &specs {
        minimum += minimal_calls(s, backend_sg)?;
    }

    println!(
        "ensure bench: {albs} ALB + {nlbs} NLB stacks, {latency} ms per call, {concurrency} at once, shared backend group {}",
        if backend_sg { "on" } else { "off" }
    );
    for phase in ["first", "second"] {
        let before = mock.with_cloud(|c| c.calls.clone());
        let start = Instant::now();
        let results: Vec<_> = futures::stream::iter(specs.iter())
            .map(|s| provider.ensure(s))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let took = start.elapsed();
        let failed = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            println!("  first failure: {e}");
        }
        let calls = diff(&mock.with_cloud(|c| c.calls.clone()), &before);
        let total: u64 = calls.values().sum();
        println!(
            "{phase} pass: {:.2} s wall, {total} calls ({} mutating), {failed} failed",
            took.as_secs_f64(),
            mutating(&calls)
        );
        for (k, n) in &calls {
            println!("    {k:<45} {n:>6}");
        }
        if phase == "first" {
            println!(
                "  minimal calls for these stacks: {minimum}; first pass / minimum = {:.3}",
                total as f64 / minimum as f64
            );
        }
    }
    let nodes = aws_sdk_ec2::Client::new(&sdk)
        .describe_security_groups()
        .group_ids(NODES_SG)
        .send()
        .await?;
    let rules: usize = nodes
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .map(|p| p.user_id_group_pairs().len() + p.ip_ranges().len())
        .sum();
    println!("rules on the nodes' group: {rules}");
    mock.shutdown().await;
    Ok(())
}
