//! The call counts the crate docs promise, counted on the wire (an HTTP client around the
//! SDK's, see `common/wire.rs`) and checked against the mock cloud's own call log: a second
//! `ensure` of unchanged stacks makes no mutating call, and creating stacks takes at most
//! 1.05 times the minimal number of calls.

mod common;

use cloudnet_core::{LoadBalancerSpec, LoadBalancers};
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::elbv2::{Elbv2Config, Quotas};
use common::specs::{is_mutating, minimum_for, mutating, stacks};
use common::*;
use futures::StreamExt;

/// Ensures every spec, 16 at a time (so the shared backend security group's lock is met).
async fn ensure_all(env: &Env, specs: &[LoadBalancerSpec]) {
    let results: Vec<_> = futures::stream::iter(specs)
        .map(|s| env.provider.ensure(s))
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
        // The only refusals: the one read per stack that finds it absent.
        assert_eq!(
            first.refused,
            [("DescribeLoadBalancers".to_string(), specs.len() as u64)].into(),
            "{first:?}"
        );
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
