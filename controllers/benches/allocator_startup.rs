//! 200 nodes start together: the allocator fills every node's warm pool through one rate
//! budget, against a mock cloud that throttles a little above that budget.
//!
//! `cargo bench -p cloudnet-controllers --bench allocator_startup [-- NODES]`
//!
//! Prints the time until every pool is ready, the cloud calls by action against the minimum,
//! and the observed call rates; exits non-zero when an invariant breaks: a throttled call,
//! a node not ready, an address on two interfaces, more mutating calls than the minimum.

#[path = "../tests/chart_rbac/mod.rs"]
mod chart_rbac;
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cloudnet_core::{BudgetConfig, Op, OpClass, Rate, Service};
use cloudnet_mockcloud::ec2::world::InstanceSpec;
use common::*;

/// The allocator's budget for EC2 (per second, burst).
const DESCRIBE: (f64, u32) = (50.0, 50);
const MUTATE: (f64, u32) = (20.0, 20);
/// The mock cloud's own buckets: 20% above the budget.
const CLOUD_DESCRIBE: (f64, u32) = (60.0, 60);
const CLOUD_MUTATE: (f64, u32) = (24.0, 24);

fn instance_id(i: usize) -> String {
    format!("i-0b0000000000{i:05}")
}

#[tokio::main]
async fn main() -> ExitCode {
    let nodes: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let mut w = world();
    let template = w.instances[0].clone();
    let subnets = [
        "subnet-0c10d0e70000000a2",
        "subnet-0c10d0e70000000b2",
        "subnet-0c10d0e70000000c2",
    ];
    for i in 0..nodes {
        w.instances.push(InstanceSpec {
            id: Some(instance_id(i)),
            subnet: subnets[i % 3].into(),
            ..template.clone()
        });
    }
    let throttle = |action: &str, (rate, burst): (f64, u32)| {
        serde_json::json!({"service": "ec2", "action": action, "kind": "throttle",
            "rate_per_sec": rate, "burst": burst})
    };
    let mut budget = BudgetConfig::default();
    budget.rates.insert(
        Op::new(Service::Compute, OpClass::Describe),
        Rate::new(DESCRIBE.0, DESCRIBE.1),
    );
    budget.rates.insert(
        Op::new(Service::Compute, OpClass::Mutate),
        Rate::new(MUTATE.0, MUTATE.1),
    );
    let config = cloudnet_controllers::ipam::AllocatorConfig {
        parallelism: 32,
        ..fast_config()
    };
    let env = start_in(w, config, budget).await;
    env.mock.with_cloud(|c| {
        for rule in [
            throttle("Describe*", CLOUD_DESCRIBE),
            throttle("AssignPrivateIpAddresses", CLOUD_MUTATE),
        ] {
            c.faults
                .add(serde_json::from_value(rule).expect("a fault rule"));
        }
        c.calls.clear();
    });

    let start = Instant::now();
    let mut names = Vec::new();
    for i in 0..nodes {
        names.push(env.add_node(&instance_id(i)).await);
    }
    let registered = start.elapsed();
    let deadline = start + Duration::from_secs(600);
    let ready_at = loop {
        let list = env
            .networks()
            .list(&Default::default())
            .await
            .expect("list");
        let ready = list
            .iter()
            .filter(|nn| {
                nn.status
                    .as_ref()
                    .and_then(|s| cond(s, "Ready"))
                    .is_some_and(|c| c.0 == "True")
            })
            .count();
        if ready == nodes {
            break start.elapsed();
        }
        if Instant::now() > deadline {
            eprintln!("FAIL: {ready} of {nodes} pools ready after 600 s");
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let calls: BTreeMap<String, u64> = env.mock.with_cloud(|c| c.calls.clone());
    let totals = env.provider.metrics().totals();
    let secs = ready_at.as_secs_f64();
    let describes: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("ec2:Describe"))
        .map(|(_, n)| n)
        .sum();
    let mutating: u64 = calls
        .iter()
        .filter(|(k, _)| !k.starts_with("ec2:Describe"))
        .map(|(_, n)| n)
        .sum();
    println!("nodes: {nodes}");
    println!("nodes registered in: {:.2} s", registered.as_secs_f64());
    println!("every pool ready after: {secs:.2} s");
    println!("cloud calls by action:");
    for (k, n) in &calls {
        println!("  {k}: {n}");
    }
    // The least a node can cost: describe it (instance + interfaces), one assign.
    let min_mutating = nodes as u64;
    let min_describes = 2 * nodes as u64;
    println!("mutating calls: {mutating} (minimum {min_mutating})");
    println!("describe calls: {describes} (minimum {min_describes})");
    println!(
        "observed rates: describe {:.1}/s (budget {}/s + burst {}), mutate {:.1}/s (budget {}/s + burst {})",
        describes as f64 / secs,
        DESCRIBE.0,
        DESCRIBE.1,
        mutating as f64 / secs,
        MUTATE.0,
        MUTATE.1
    );
    println!("throttled calls: {}", totals.throttles);

    let mut ok = true;
    if totals.throttles > 0 {
        eprintln!("FAIL: the cloud throttled {} calls", totals.throttles);
        ok = false;
    }
    if mutating > min_mutating {
        eprintln!("FAIL: {mutating} mutating calls, minimum {min_mutating}");
        ok = false;
    }
    let list = env
        .networks()
        .list(&Default::default())
        .await
        .expect("list");
    let short = list
        .iter()
        .filter(|nn| nn.status.as_ref().is_none_or(|s| s.summary.addresses != 9))
        .count();
    if short > 0 {
        eprintln!("FAIL: {short} nodes without their 9 warm addresses");
        ok = false;
    }
    env.assert_no_address_twice().await;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
