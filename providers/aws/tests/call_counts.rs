//! The call counts the crate docs promise, counted on the wire (an HTTP client around the
//! SDK's, see `common/wire.rs`) and checked against the mock cloud's own call log: a second
//! `ensure` of unchanged stacks makes no mutating call, a fresh provider (a restarted
//! controller) reads existing stacks from one listing and then each call by call again, and
//! creating stacks takes at most 1.05 times the minimal number of calls.

mod common;

use cloudnet_aws::AwsProvider;
use cloudnet_core::{LoadBalancerSpec, LoadBalancers};
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::elbv2::{Elbv2Config, Quotas};
use common::specs::{is_mutating, minimum_for, mutating, stacks};
use common::*;
use futures::StreamExt;

/// Ensures every spec, 16 at a time (so the shared backend security group's lock is met).
async fn ensure_all(env: &Env, specs: &[LoadBalancerSpec]) {
    ensure_all_by(&env.provider, specs).await;
}

async fn ensure_all_by(provider: &AwsProvider, specs: &[LoadBalancerSpec]) {
    let results: Vec<_> = futures::stream::iter(specs)
        .map(|s| provider.ensure(s))
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r.expect("ensure succeeds");
    }
}

#[tokio::test]
async fn unchanged_stacks_are_ensured_again_without_a_mutating_call() {
    for backend_sg in [true, false] {
        let (env, wire) = start_counted(|c| c.backend_security_group = backend_sg).await;
        let specs = stacks(4, 8);
        ensure_all(&env, &specs).await;
        let (before, logged) = (wire.snapshot(), env.calls());
        ensure_all(&env, &specs).await;
        let second = wire.snapshot().since(&before);
        assert_eq!(
            second.failed_total(),
            0,
            "backend sg {backend_sg}: {second:?}"
        );
        assert_eq!(
            mutating(&second.sent),
            0,
            "backend sg {backend_sg}: {:?}",
            second.sent
        );
        assert!(second.total() > 0, "the stacks were read");
        assert_eq!(env.mutating_since(&logged), Default::default());
        // Reads only, and a bounded number: the load balancer, its target groups, their
        // tags, attributes, listeners and rules; the managed group of an ALB.
        let reads = second
            .sent
            .iter()
            .filter(|(k, _)| !is_mutating(k))
            .map(|(_, n)| n)
            .sum::<u64>();
        assert!(
            reads <= 4 * 12 + 8 * 5,
            "backend sg {backend_sg}: {reads} reads: {:?}",
            second.sent
        );
    }
}

#[tokio::test]
async fn creating_stacks_takes_at_most_five_percent_over_the_minimum() {
    for backend_sg in [true, false] {
        // The bench's mix (one ALB to two NLBs), small enough for a test; quotas raised
        // for it, as the bench does.
        let specs = stacks(40, 80);
        let world = World {
            elbv2: Some(Elbv2Config {
                quotas: Quotas {
                    load_balancers: specs.len() + 10,
                    target_groups: 10 * specs.len() + 10,
                    ..Quotas::default()
                },
                ..Elbv2Config::default()
            }),
            ..World::default()
        };
        let (env, wire) = start_in(world, |c| c.backend_security_group = backend_sg).await;
        let minimum = minimum_for(&specs, NODES_SG, backend_sg).expect("the specs plan");
        let logged = env.calls();
        ensure_all(&env, &specs).await;
        let first = wire.snapshot();
        assert_eq!(first.failed_total(), 0, "{first:?}");
        // No read per stack finds it absent: one listing found them all absent.
        assert_eq!(first.refused_total(), 0, "{first:?}");
        assert_eq!(first.sent.get("DescribeLoadBalancers"), Some(&1));
        assert_eq!(first.sent.get("DescribeTargetGroups"), Some(&1));
        let total = first.total();
        assert!(
            total as f64 <= 1.05 * minimum as f64,
            "backend sg {backend_sg}: {total} calls for a minimum of {minimum} ({:.3}): {:?}",
            total as f64 / minimum as f64,
            first.sent
        );
        assert!(
            total >= minimum,
            "fewer calls than mutations: {total} < {minimum}"
        );
        // The mock cloud saw exactly what went over the wire.
        let on_mock: u64 = common::specs::calls_since(&env.calls(), &logged)
            .values()
            .sum();
        assert_eq!(on_mock, total);
    }
}

fn sent(calls: &common::wire::WireCalls, action: &str) -> u64 {
    calls.sent.get(action).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_fresh_provider_reads_existing_stacks_from_one_listing_then_one_by_one() {
    for backend_sg in [true, false] {
        let (env, wire) = start_counted(|c| c.backend_security_group = backend_sg).await;
        let specs = stacks(4, 8);
        ensure_all(&env, &specs).await;
        let target_groups = env
            .elb
            .describe_target_groups()
            .send()
            .await
            .expect("target groups")
            .target_groups()
            .len() as u64;
        assert!(target_groups >= specs.len() as u64);

        // A restarted controller: a new provider, nothing cached.
        let fresh = env.fresh_provider();
        let (before, logged) = (wire.snapshot(), env.calls());
        ensure_all_by(&fresh, &specs).await;
        let first = wire.snapshot().since(&before);
        assert_eq!(first.failed_total(), 0, "{first:?}");
        assert_eq!(mutating(&first.sent), 0, "{:?}", first.sent);
        assert_eq!(env.mutating_since(&logged), Default::default());
        // One listing of the load balancers and one of the target groups, their tags 20
        // ARNs a call, one read of the `k8s-*` security groups; no per-stack read of those.
        assert_eq!(sent(&first, "DescribeLoadBalancers"), 1, "{:?}", first.sent);
        assert_eq!(sent(&first, "DescribeTargetGroups"), 1, "{:?}", first.sent);
        let arns = specs.len() as u64 + target_groups;
        assert_eq!(
            sent(&first, "DescribeTags"),
            arns.div_ceil(20),
            "{:?}",
            first.sent
        );
        // Listeners have no listing across load balancers: one read per stack.
        assert_eq!(
            sent(&first, "DescribeListeners"),
            specs.len() as u64,
            "{:?}",
            first.sent
        );

        // Every later ensure observes each stack call by call (drift is still seen).
        let before = wire.snapshot();
        ensure_all_by(&fresh, &specs).await;
        let second = wire.snapshot().since(&before);
        assert_eq!(mutating(&second.sent), 0, "{:?}", second.sent);
        assert_eq!(
            sent(&second, "DescribeLoadBalancers"),
            specs.len() as u64,
            "{:?}",
            second.sent
        );
        let reads = |c: &common::wire::WireCalls| {
            c.sent
                .iter()
                .filter(|(k, _)| !is_mutating(k))
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        assert!(
            reads(&first) < reads(&second),
            "backend sg {backend_sg}: the listing read {} times, one by one {}",
            reads(&first),
            reads(&second)
        );
    }
}

#[tokio::test]
async fn drift_made_while_the_controller_was_down_is_repaired_by_the_next_ensure() {
    let (env, _wire) = start_counted(|_| {}).await;
    let specs = stacks(1, 1);
    ensure_all(&env, &specs).await;
    // While no controller runs, someone deletes every listener.
    let lbs = env
        .elb
        .describe_load_balancers()
        .send()
        .await
        .expect("load balancers");
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().expect("arn");
        for l in listeners(&env.elb, arn).await {
            env.elb
                .delete_listener()
                .listener_arn(l.listener_arn().expect("listener arn"))
                .send()
                .await
                .expect("deleted");
        }
    }
    // A fresh provider's first ensure reads the listing, and the listeners per stack.
    let fresh = env.fresh_provider();
    ensure_all_by(&fresh, &specs).await;
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().expect("arn");
        assert!(
            !listeners(&env.elb, arn).await.is_empty(),
            "the listeners of {arn} are back"
        );
    }
}
