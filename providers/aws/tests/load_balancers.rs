//! Load balancers against the mock cloud, through the real SDK.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_elasticloadbalancingv2::types::LoadBalancer;
use cloudnet_aws::lb::plan::load_balancer_name;
use cloudnet_core::{
    Error, LoadBalancerId, LoadBalancerKind, LoadBalancerSpec, LoadBalancers, Target,
};
use common::specs::nlb;
use common::*;

fn alb() -> LoadBalancerSpec {
    specs::alb_fixture()
}

/// Load balancer `arn` as DescribeLoadBalancers shows it.
async fn load_balancer(env: &Env, arn: &str) -> LoadBalancer {
    let out = env
        .elb
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await;
    out.expect("describe load balancers").load_balancers()[0].clone()
}

async fn lb_count(env: &Env) -> usize {
    env.elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .len()
}

async fn tg_count(env: &Env) -> usize {
    env.elb
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .len()
}

#[tokio::test]
async fn alb_stack_is_built_then_a_second_ensure_mutates_nothing() {
    let env = start().await;
    let spec = alb();
    let status = env.provider.ensure(&spec).await.unwrap();
    assert!(status.id.0.starts_with("arn:aws:elasticloadbalancing:"));
    assert_eq!(status.groups.len(), 3);
    assert_eq!(lb_count(&env).await, 1);
    assert_eq!(tg_count(&env).await, 3);
    let listeners = listeners(&env.elb, &status.id.0).await;
    assert_eq!(listeners.len(), 2);
    let rules = rules(&env.elb, on_port(&listeners, 443)).await;
    assert_eq!(rules.len(), 3, "two rules and the default");
    // The managed group lets the listeners in and is let into the nodes' group.
    assert!(lets_a_group_in_on_8080(&env.ec2, NODES_SG).await);

    let again = env.ensure_again(&spec).await;
    assert_eq!(again.id, status.id);
}

#[tokio::test]
async fn an_internal_nlb_discovers_one_internal_subnet_per_zone() {
    let env = start().await;
    let spec = nlb("dns");
    let status = env.provider.ensure(&spec).await.unwrap();
    let lb = load_balancer(&env, &status.id.0).await;
    let subnets: Vec<_> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    assert_eq!(
        subnets.len(),
        3,
        "one internal subnet per zone: {subnets:?}"
    );
    assert!(subnets.contains(&PRIVATE_A));
}

#[tokio::test]
async fn drift_is_repaired() {
    let env = start().await;
    let spec = alb();
    let status = env.provider.ensure(&spec).await.unwrap();
    let listeners = listeners(&env.elb, &status.id.0).await;
    env.elb
        .delete_listener()
        .listener_arn(on_port(&listeners, 80).listener_arn().unwrap())
        .send()
        .await
        .unwrap();
    let rules = rules(&env.elb, on_port(&listeners, 443)).await;
    let rule = rules.iter().find(|r| r.priority() == Some("1")).unwrap();
    env.elb
        .delete_rule()
        .rule_arn(rule.rule_arn().unwrap())
        .send()
        .await
        .unwrap();

    let before = env.calls();
    env.provider.ensure(&spec).await.unwrap();
    let changed = env.mutating_since(&before);
    assert_eq!(
        changed,
        BTreeMap::from([
            ("elbv2:CreateListener".to_string(), 1),
            ("elbv2:CreateRule".to_string(), 1),
        ]),
        "exactly the missing parts are recreated"
    );
    env.ensure_again(&spec).await;
}

#[tokio::test]
async fn an_ensure_that_died_after_the_load_balancer_is_completed_without_duplicates() {
    let env = start().await;
    let spec = alb();
    let fault = env.fault(serde_json::json!({
        "service": "elbv2", "action": "CreateListener", "kind": "error", "status": 500
    }));
    let err = env.provider.ensure(&spec).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(lb_count(&env).await, 1, "the load balancer was made");
    env.mock.with_cloud(|c| c.faults.remove(fault));

    env.provider.ensure(&spec).await.unwrap();
    assert_eq!(lb_count(&env).await, 1);
    assert_eq!(tg_count(&env).await, 3, "groups adopted, not duplicated");
    env.ensure_again(&spec).await;
}

// Ensuring over a foreign load balancer under our name (a Conflict, nothing written) is a
// body of the provider suite (tests/tests/provider_suite) for every cloud.
#[tokio::test]
async fn a_foreign_load_balancer_with_our_name_is_neither_listed_nor_deleted() {
    let env = start().await;
    let spec = nlb("web");
    let name = load_balancer_name(&spec);
    env.elb
        .create_load_balancer()
        .name(&name)
        .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network)
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
        .subnets(PRIVATE_A)
        .send()
        .await
        .unwrap();
    // Garbage collection does not see it, nor does delete touch it.
    assert!(env.provider.list_owned().await.unwrap().is_empty());
    let arn = env
        .elb
        .describe_load_balancers()
        .names(&name)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let err = env.provider.delete(&LoadBalancerId(arn)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(lb_count(&env).await, 1);
}

#[tokio::test]
async fn targets_sync_in_batches_and_read_health_back() {
    let env = start_with(|c| c.target_batch = 2).await;
    let spec = nlb("api");
    let status = env.provider.ensure(&spec).await.unwrap();
    let key = "default/api:80";
    let t = |last: u8| Target {
        ip: format!("192.168.96.{last}").parse().unwrap(),
        port: 8080,
    };
    let want: Vec<Target> = (10..15).map(t).collect();
    let sync = env
        .provider
        .sync_targets(&status.id, key, &want)
        .await
        .unwrap();
    assert_eq!(sync.registered, 5);
    assert_eq!(sync.health.len(), 5);
    assert_eq!(env.count("elbv2:RegisterTargets"), 3, "batches of 2");

    let before = env.calls();
    let sync = env
        .provider
        .sync_targets(&status.id, key, &want)
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (0, 0));
    assert_eq!(env.mutating_since(&before), BTreeMap::new());

    let sync = env
        .provider
        .sync_targets(&status.id, key, &want[..3])
        .await
        .unwrap();
    assert_eq!(sync.deregistered, 2);
    let draining = sync
        .health
        .iter()
        .filter(|h| h.state == cloudnet_core::HealthState::Draining)
        .count();
    assert_eq!(draining, 2, "{:?}", sync.health);
}

#[tokio::test]
async fn instance_targets_are_found_by_node_ip() {
    let env = start().await;
    let spec = alb();
    let status = env.provider.ensure(&spec).await.unwrap();
    let ip = instance_ip(&env.ec2, NODE1).await;
    let sync = env
        .provider
        .sync_targets(&status.id, "shop/web:80", &[Target { ip, port: 30080 }])
        .await
        .unwrap();
    assert_eq!(sync.registered, 1);
    assert_eq!(sync.health[0].target.ip, ip);
}

#[tokio::test]
async fn delete_removes_the_stack_and_succeeds_when_already_gone() {
    let env = start().await;
    let status = env.provider.ensure(&alb()).await.unwrap();
    env.provider.ensure(&nlb("keep")).await.unwrap();
    let owned = env.provider.list_owned().await.unwrap();
    assert_eq!(owned.len(), 2);
    assert!(
        owned
            .iter()
            .any(|o| o.owner.name == "web" && o.kind == LoadBalancerKind::Application)
    );

    env.provider.delete(&status.id).await.unwrap();
    assert_eq!(lb_count(&env).await, 1);
    assert_eq!(
        tg_count(&env).await,
        1,
        "only the other stack's group is left"
    );
    let sgs = env
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(VPC)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let names: Vec<_> = sgs
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("k8s-")),
        "the managed group is gone: {names:?}"
    );
    let nodes = sgs
        .security_groups()
        .iter()
        .find(|g| g.group_id() == Some(NODES_SG))
        .unwrap();
    assert!(
        nodes
            .ip_permissions()
            .iter()
            .all(|p| p.user_id_group_pairs().is_empty()),
        "backend rule revoked"
    );
    env.provider.delete(&status.id).await.unwrap();
}

#[tokio::test]
async fn server_errors_are_retried_by_the_sdk() {
    let env = start().await;
    env.fault(serde_json::json!({
        "service": "elbv2", "action": "*", "kind": "error", "status": 503,
        "trigger": {"every_nth": 3}
    }));
    env.provider.ensure(&nlb("flaky")).await.unwrap();
    env.clear_faults();
    assert_eq!(lb_count(&env).await, 1);
    assert_eq!(tg_count(&env).await, 1);
}

#[tokio::test]
async fn a_throttling_storm_converges_within_the_budget() {
    use cloudnet_core::{Op, OpClass, Rate, Service};
    let (rate, burst) = (20.0, 5u32);
    let env = start_with(|c| {
        for class in [OpClass::Describe, OpClass::Mutate, OpClass::Targets] {
            c.budget.rates.insert(
                Op::new(Service::LoadBalancing, class),
                Rate::new(rate, burst),
            );
        }
    })
    .await;
    // The cloud allows less than the budget: it throttles until the budget slows down.
    env.fault(serde_json::json!({
        "service": "elbv2", "kind": "throttle", "rate_per_sec": 10.0, "burst": 3
    }));
    let start = Instant::now();
    let specs: Vec<_> = (0..4).map(|i| nlb(&format!("storm{i}"))).collect();
    let results = futures::future::join_all(specs.iter().map(|s| env.provider.ensure(s))).await;
    let took = start.elapsed().as_secs_f64();
    for r in results {
        r.unwrap();
    }
    env.clear_faults();
    assert_eq!(lb_count(&env).await, 4);
    let throttled = env.provider.metrics().totals().throttles;
    assert!(throttled > 0, "the storm throttled");
    assert!(
        env.provider.budget().current_rate(LB_DESCRIBE) < rate
            || env.provider.budget().current_rate(LB_MUTATE) < rate
    );
    let elb_calls: u64 = env
        .calls()
        .iter()
        .filter(|(k, _)| k.starts_with("elbv2:"))
        .map(|(_, n)| n)
        .sum();
    // Three buckets, each at most its burst plus its rate over the run.
    let allowed = 3.0 * (f64::from(burst) + rate * took);
    assert!(
        (elb_calls as f64) <= allowed,
        "{elb_calls} calls in {took:.2}s, budget allows {allowed:.0}"
    );
}

#[tokio::test]
async fn every_rule_condition_round_trips_through_the_cloud() {
    use cloudnet_core::{PathMatch, QueryPair, Rule, RuleCondition};
    let env = start().await;
    let mut spec = alb();
    let https = spec
        .listeners
        .iter_mut()
        .find(|l| l.port == 443)
        .expect("the fixture has an HTTPS listener");
    let action = https.rules[0].action.clone();
    https.rules.push(Rule {
        priority: 50,
        hosts: Vec::new(),
        paths: vec![PathMatch::Pattern("/v?/items/*".into())],
        conditions: vec![
            RuleCondition::HttpHeader {
                name: "X-Canary".into(),
                values: vec!["yes".into()],
            },
            RuleCondition::HttpRequestMethod {
                values: vec!["get".into()],
            },
        ],
        action: action.clone(),
    });
    https.rules.push(Rule {
        priority: 51,
        hosts: Vec::new(),
        paths: Vec::new(),
        conditions: vec![
            RuleCondition::QueryString {
                values: vec![
                    QueryPair {
                        key: Some("version".into()),
                        value: "v2".into(),
                    },
                    QueryPair {
                        key: None,
                        value: "beta".into(),
                    },
                ],
            },
            RuleCondition::SourceIp {
                values: vec!["10.0.0.0/16".parse().unwrap()],
            },
        ],
        action,
    });
    let status = env.provider.ensure(&spec).await.unwrap();
    let listeners = listeners(&env.elb, &status.id.0).await;
    let rules = rules(&env.elb, on_port(&listeners, 443)).await;
    let by_priority = |p: &str| {
        rules
            .iter()
            .find(|r| r.priority() == Some(p))
            .unwrap_or_else(|| panic!("rule {p} is missing"))
    };
    let fields = |p: &str| {
        let mut f: Vec<String> = by_priority(p)
            .conditions()
            .iter()
            .filter_map(|c| c.field().map(str::to_string))
            .collect();
        f.sort();
        f
    };
    assert_eq!(
        fields("50"),
        ["http-header", "http-request-method", "path-pattern"]
    );
    assert_eq!(fields("51"), ["query-string", "source-ip"]);
    let header = by_priority("50")
        .conditions()
        .iter()
        .find_map(|c| c.http_header_config())
        .unwrap();
    assert_eq!(header.http_header_name(), Some("X-Canary"));
    let method = by_priority("50")
        .conditions()
        .iter()
        .find_map(|c| c.http_request_method_config())
        .unwrap();
    assert_eq!(method.values(), ["GET"]);

    env.ensure_again(&spec).await;
}

#[tokio::test]
async fn subnets_by_tags_pick_the_matching_subnets_one_per_zone() {
    use cloudnet_core::Subnets;
    let env = start().await;
    let mut spec = alb();
    // The private subnets of two zones, by their Name tags: an ALB in those zones only.
    spec.subnets = Subnets::Tagged(BTreeMap::from([(
        "Name".to_string(),
        vec![
            "cloudnet-private-us-west-2a".to_string(),
            "cloudnet-private-us-west-2b".to_string(),
        ],
    )]));
    let before = env.calls();
    let status = env.provider.ensure(&spec).await.unwrap();
    assert_eq!(
        env.count("ec2:DescribeSubnets") - before.get("ec2:DescribeSubnets").copied().unwrap_or(0),
        1
    );
    let lb = load_balancer(&env, &status.id.0).await;
    assert_eq!(zone_names(&lb), ["us-west-2a", "us-west-2b"]);
    let subnets: Vec<_> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    assert!(subnets.contains(&PRIVATE_A), "{subnets:?}");
    env.ensure_again(&spec).await;

    // Tags no subnet carries: a clear error, nothing created.
    let mut none = specs::alb(7);
    none.subnets = Subnets::Tagged(BTreeMap::from([(
        "tier".to_string(),
        vec!["nowhere".to_string()],
    )]));
    let before = env.calls();
    let err = env.provider.ensure(&none).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("matching the tags"), "{err}");
    assert_eq!(env.mutating_since(&before), BTreeMap::new());
}
