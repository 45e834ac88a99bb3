//! ELBv2 behaviours the suite relies on, checked against the mock cloud and against moto with
//! the real aws-sdk-elasticloadbalancingv2.

mod common;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::SdkError;
use aws_sdk_elasticloadbalancingv2::operation::create_listener::{
    CreateListenerError, CreateListenerOutput,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
    ProtocolEnum, Rule, RuleCondition, RulePriorityPair, Tag, TargetDescription, TargetTypeEnum,
};
use cloudnet_tests::{CloudKind, CloudUnderTest, contract};
use common::{code, unique};

struct Net {
    vpc: String,
    subnets: Vec<String>,
}

async fn net(cloud: &CloudUnderTest) -> Net {
    let ec2 = cloud.ec2().await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .and_then(|v| v.vpc_id)
        .unwrap();
    let mut subnets = Vec::new();
    for (i, az) in ["us-west-2a", "us-west-2b"].iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.1.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap()
            .subnet
            .and_then(|s| s.subnet_id)
            .unwrap();
        subnets.push(s);
    }
    Net { vpc, subnets }
}

async fn alb(elb: &Client, n: &Net, name: &str) -> String {
    elb.create_load_balancer()
        .name(name)
        .r#type(LoadBalancerTypeEnum::Application)
        .scheme(LoadBalancerSchemeEnum::Internal)
        .set_subnets(Some(n.subnets.clone()))
        .tags(
            Tag::builder()
                .key("cloudnet.io/cluster")
                .value("c1")
                .build(),
        )
        .send()
        .await
        .expect("CreateLoadBalancer")
        .load_balancers()[0]
        .load_balancer_arn
        .clone()
        .unwrap()
}

async fn ip_target_group(elb: &Client, n: &Net, name: &str) -> String {
    elb.create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&n.vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .expect("CreateTargetGroup")
        .target_groups()[0]
        .target_group_arn
        .clone()
        .unwrap()
}

fn forward(tg: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build()
}

/// `CreateListener` of an HTTP listener on port 80 of `lb` whose default action is `action`.
async fn http_listener(
    elb: &Client,
    lb: &str,
    action: Action,
) -> Result<CreateListenerOutput, SdkError<CreateListenerError>> {
    elb.create_listener()
        .load_balancer_arn(lb)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(action)
        .send()
        .await
}

/// The ARN of the listener a `CreateListener` answered.
fn listener_arn(out: CreateListenerOutput) -> String {
    let listener = out.listeners().first().expect("a listener");
    listener.listener_arn().expect("a listener ARN").to_string()
}

/// The rules of `listener`, its default rule included.
async fn rules_of(elb: &Client, listener: &str) -> Vec<Rule> {
    let out = elb.describe_rules().listener_arn(listener).send().await;
    out.expect("DescribeRules").rules().to_vec()
}

/// The default rule among `rules`.
fn default_rule(rules: &[Rule]) -> &Rule {
    let found = rules.iter().find(|r| r.is_default() == Some(true));
    found.expect("a default rule")
}

async fn load_balancers(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let name = unique("lb");
    let arn = alb(&elb, &n, &name).await;
    let d = elb
        .describe_load_balancers()
        .names(&name)
        .send()
        .await
        .unwrap();
    let lb = &d.load_balancers()[0];
    assert_eq!(lb.load_balancer_arn(), Some(arn.as_str()));
    assert_eq!(lb.vpc_id(), Some(n.vpc.as_str()));
    let dns = lb.dns_name().unwrap_or_default();
    assert!(
        dns.contains(&name) && dns.ends_with(".us-west-2.elb.amazonaws.com"),
        "{dns}"
    );
    if cloud.kind == CloudKind::MockCloud {
        // AWS prefixes an internal load balancer's DNS name with `internal-`; moto does not.
        assert!(dns.starts_with(&format!("internal-{name}-")), "{dns}");
    }
    assert!(arn.contains(":loadbalancer/app/"), "{arn}");
    assert_eq!(lb.availability_zones().len(), 2);
    let dup = elb
        .create_load_balancer()
        .name(&name)
        .r#type(LoadBalancerTypeEnum::Network)
        .set_subnets(Some(n.subnets.clone()))
        .send()
        .await;
    if cloud.kind == CloudKind::MockCloud {
        // Same name, other settings (moto answers the existing load balancer).
        assert_eq!(code(dup), "DuplicateLoadBalancerName");
    }
    let missing = elb
        .describe_load_balancers()
        .names(unique("nope"))
        .send()
        .await;
    assert_eq!(code(missing), "LoadBalancerNotFound");
    elb.delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .unwrap();
    let gone = elb
        .describe_load_balancers()
        .load_balancer_arns(&arn)
        .send()
        .await;
    assert_eq!(code(gone), "LoadBalancerNotFound");
}
contract!(load_balancers);

async fn an_alb_needs_two_zones(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let r = elb
        .create_load_balancer()
        .name(unique("onezone"))
        .r#type(LoadBalancerTypeEnum::Application)
        .subnets(&n.subnets[0])
        .send()
        .await;
    assert_eq!(code(r), "ValidationError");
}
contract!(
    an_alb_needs_two_zones,
    mock_only = "moto creates an ALB in a single zone; AWS requires subnets in at least two"
);

async fn names_follow_the_rules(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    for bad in ["-lead", "trail-", "under_score", &"a".repeat(33)] {
        let r = elb
            .create_target_group()
            .name(bad)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(&n.vpc)
            .send()
            .await;
        assert_eq!(code(r), "ValidationError", "target group {bad}");
    }
    // Only load balancer names may not start with `internal-` (it marks internal DNS names).
    let r = elb
        .create_load_balancer()
        .name("internal-x")
        .r#type(LoadBalancerTypeEnum::Application)
        .set_subnets(Some(n.subnets.clone()))
        .send()
        .await;
    assert_eq!(code(r), "ValidationError", "load balancer internal-x");
}
contract!(
    names_follow_the_rules,
    mock_only = "moto accepts names AWS refuses (leading or trailing hyphens, internal- prefixes)"
);

async fn target_groups(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let name = unique("tg");
    let tg = ip_target_group(&elb, &n, &name).await;
    let d = elb
        .describe_target_groups()
        .names(&name)
        .send()
        .await
        .unwrap();
    let g = &d.target_groups()[0];
    assert_eq!(g.target_group_arn(), Some(tg.as_str()));
    assert_eq!(g.target_type(), Some(&TargetTypeEnum::Ip));
    assert_eq!(g.port(), Some(8080));
    let dup = elb
        .create_target_group()
        .name(&name)
        .protocol(ProtocolEnum::Http)
        .port(9090)
        .vpc_id(&n.vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await;
    assert_eq!(code(dup), "DuplicateTargetGroupName");
    elb.delete_target_group()
        .target_group_arn(&tg)
        .send()
        .await
        .unwrap();
    let gone = elb
        .describe_target_groups()
        .target_group_arns(&tg)
        .send()
        .await;
    assert_eq!(code(gone), "TargetGroupNotFound");
}
contract!(target_groups);

async fn listeners_and_rules(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let lb = alb(&elb, &n, &unique("lr")).await;
    let tg = ip_target_group(&elb, &n, &unique("lr")).await;
    let created = http_listener(&elb, &lb, forward(&tg)).await;
    let listener = listener_arn(created.expect("CreateListener"));
    // CreateListener is idempotent: the same settings again succeed and answer the same
    // listener; other settings on a taken port are a DuplicateListener.
    let same = http_listener(&elb, &lb, forward(&tg)).await;
    let same = same.expect("the same listener again succeeds");
    if cloud.kind == CloudKind::MockCloud {
        // moto makes a second listener on the port instead of answering the first.
        assert_eq!(same.listeners()[0].listener_arn(), Some(listener.as_str()));
    }
    let fixed = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                .status_code("404")
                .build(),
        )
        .build();
    let dup = http_listener(&elb, &lb, fixed).await;
    if cloud.kind == CloudKind::MockCloud {
        assert_eq!(code(dup), "DuplicateListener");
    }

    let path = |p: &str| {
        RuleCondition::builder()
            .field("path-pattern")
            .values(p)
            .build()
    };
    let rule = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(path("/api/*"))
        .actions(forward(&tg))
        .send()
        .await
        .expect("CreateRule")
        .rules()[0]
        .rule_arn
        .clone()
        .unwrap();
    let taken = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(path("/other"))
        .actions(forward(&tg))
        .send()
        .await;
    assert_eq!(code(taken), "PriorityInUse");

    elb.modify_rule()
        .rule_arn(&rule)
        .conditions(path("/v2/*"))
        .send()
        .await
        .expect("ModifyRule");
    elb.set_rule_priorities()
        .rule_priorities(
            RulePriorityPair::builder()
                .rule_arn(&rule)
                .priority(20)
                .build(),
        )
        .send()
        .await
        .expect("SetRulePriorities");
    let rules = rules_of(&elb, &listener).await;
    let mine = rules
        .iter()
        .find(|r| r.rule_arn() == Some(rule.as_str()))
        .unwrap();
    assert_eq!(mine.priority(), Some("20"));
    assert_eq!(mine.conditions()[0].values(), ["/v2/*"]);
    assert_eq!(default_rule(&rules).priority(), Some("default"));

    // A target group in use by a listener cannot be deleted (moto deletes it).
    if cloud.kind == CloudKind::MockCloud {
        let in_use = elb.delete_target_group().target_group_arn(&tg).send().await;
        assert_eq!(code(in_use), "ResourceInUse");
    }

    elb.delete_rule().rule_arn(&rule).send().await.unwrap();
    elb.delete_listener()
        .listener_arn(&listener)
        .send()
        .await
        .unwrap();
    let gone = elb
        .describe_listeners()
        .listener_arns(&listener)
        .send()
        .await;
    assert_eq!(code(gone), "ListenerNotFound");
}
contract!(listeners_and_rules);

async fn the_default_rule_cannot_be_deleted(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let lb = alb(&elb, &n, &unique("dr")).await;
    let tg = ip_target_group(&elb, &n, &unique("dr")).await;
    let created = http_listener(&elb, &lb, forward(&tg)).await;
    let listener = listener_arn(created.expect("CreateListener"));
    let rules = rules_of(&elb, &listener).await;
    let default = default_rule(&rules).rule_arn().expect("a rule ARN");
    let r = elb.delete_rule().rule_arn(default).send().await;
    assert_eq!(code(r), "OperationNotPermitted");
}
contract!(
    the_default_rule_cannot_be_deleted,
    mock_only = "moto deletes a listener's default rule"
);

/// The targets of `tg` as (id, health state), in the order DescribeTargetHealth gives them.
async fn health(elb: &aws_sdk_elasticloadbalancingv2::Client, tg: &str) -> Vec<(String, String)> {
    let out = elb
        .describe_target_health()
        .target_group_arn(tg)
        .send()
        .await;
    let described = out.expect("DescribeTargetHealth");
    let of = |d: &aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription| {
        let id = d.target().and_then(|t| t.id()).unwrap_or_default();
        let state = d.target_health().and_then(|t| t.state());
        (
            id.to_string(),
            state.map(|s| s.as_str()).unwrap_or_default().to_string(),
        )
    };
    described
        .target_health_descriptions()
        .iter()
        .map(of)
        .collect()
}

async fn targets(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let tg = ip_target_group(&elb, &n, &unique("tgt")).await;
    let t = |ip: &str| TargetDescription::builder().id(ip).port(8080).build();
    elb.register_targets()
        .target_group_arn(&tg)
        .targets(t("10.1.0.10"))
        .targets(t("10.1.1.11"))
        .send()
        .await
        .expect("RegisterTargets");
    let mut ids: Vec<_> = health(&elb, &tg).await.into_iter().map(|t| t.0).collect();
    ids.sort();
    assert_eq!(ids, vec!["10.1.0.10", "10.1.1.11"]);
    elb.deregister_targets()
        .target_group_arn(&tg)
        .targets(t("10.1.0.10"))
        .send()
        .await
        .expect("DeregisterTargets");
    let remaining: Vec<_> = health(&elb, &tg)
        .await
        .into_iter()
        .filter(|(_, state)| state != "draining")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(remaining, vec!["10.1.1.11"]);
}
contract!(targets);

async fn ip_targets_must_be_in_the_vpc(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let tg = ip_target_group(&elb, &n, &unique("outside")).await;
    let r = elb
        .register_targets()
        .target_group_arn(&tg)
        .targets(
            TargetDescription::builder()
                .id("172.16.0.1")
                .port(80)
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(r), "ValidationError");
}
contract!(
    ip_targets_must_be_in_the_vpc,
    mock_only = "moto registers IP targets outside the VPC"
);

async fn health_moves_from_initial_to_healthy(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let lb = alb(&elb, &n, &unique("hl")).await;
    let tg = ip_target_group(&elb, &n, &unique("hl")).await;
    let t = TargetDescription::builder()
        .id("10.1.0.20")
        .port(8080)
        .build();
    elb.register_targets()
        .target_group_arn(&tg)
        .targets(t.clone())
        .send()
        .await
        .unwrap();
    // The one target's health state.
    let state = async || health(&elb, &tg).await[0].1.clone();
    assert_eq!(
        state().await,
        "unused",
        "no listener sends to the group yet"
    );
    http_listener(&elb, &lb, forward(&tg))
        .await
        .expect("CreateListener");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match state().await.as_str() {
            "healthy" => break,
            "initial" => {}
            other => panic!("unexpected state {other:?}"),
        }
        assert!(std::time::Instant::now() < deadline, "never became healthy");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    elb.deregister_targets()
        .target_group_arn(&tg)
        .targets(t)
        .send()
        .await
        .unwrap();
    assert_eq!(state().await, "draining");
}
contract!(
    health_moves_from_initial_to_healthy,
    mock_only = "moto reports every target healthy at once and never drains"
);

async fn attributes_and_tags(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let lb = alb(&elb, &n, &unique("attr")).await;
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(&lb)
        .attributes(
            LoadBalancerAttribute::builder()
                .key("idle_timeout.timeout_seconds")
                .value("120")
                .build(),
        )
        .send()
        .await
        .expect("ModifyLoadBalancerAttributes");
    let a = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb)
        .send()
        .await
        .unwrap();
    let idle = a
        .attributes()
        .iter()
        .find(|x| x.key() == Some("idle_timeout.timeout_seconds"))
        .and_then(|x| x.value());
    assert_eq!(idle, Some("120"));

    elb.add_tags()
        .resource_arns(&lb)
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .unwrap();
    let t = elb.describe_tags().resource_arns(&lb).send().await.unwrap();
    let mut keys: Vec<_> = t.tag_descriptions()[0]
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .collect();
    keys.sort();
    assert_eq!(keys, vec!["cloudnet.io/cluster", "team"]);
    elb.remove_tags()
        .resource_arns(&lb)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let t = elb.describe_tags().resource_arns(&lb).send().await.unwrap();
    assert_eq!(t.tag_descriptions()[0].tags().len(), 1);
}
contract!(attributes_and_tags);

async fn pagination(cloud: CloudUnderTest) {
    let elb = cloud.elbv2().await;
    let n = net(&cloud).await;
    let prefix = unique("pg");
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(ip_target_group(&elb, &n, &format!("{prefix}-{i}")).await);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = elb
            .describe_target_groups()
            .page_size(3)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert!(page.target_groups().len() <= 3);
        seen.extend(
            page.target_groups()
                .iter()
                .filter(|g| {
                    g.target_group_name()
                        .unwrap_or_default()
                        .starts_with(&prefix)
                })
                .filter_map(|g| g.target_group_arn.clone()),
        );
        marker = page.next_marker.clone();
        if marker.is_none() {
            break;
        }
    }
    seen.sort();
    created.sort();
    assert_eq!(seen, created);
}
contract!(
    pagination,
    mock_only = "moto ignores PageSize on DescribeTargetGroups and answers everything in one page"
);
