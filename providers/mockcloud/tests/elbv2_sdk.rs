//! ELBv2 through the real `aws-sdk-elasticloadbalancingv2` client against the mock cloud's
//! server: every action, the invariants the state machine keeps, pagination, health
//! transitions and throttling, all as the SDK parses them.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_elasticloadbalancingv2 as elb;
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::faults::{FaultKind, FaultRule, Trigger};
use cloudnet_mockcloud::server::{Config, Handle, MockCloud};
use elb::error::{ProvideErrorMetadata, SdkError};
use elb::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
    PathPatternConditionConfig, ProtocolEnum, QueryStringConditionConfig, QueryStringKeyValuePair,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition, RulePriorityPair,
    SourceIpConditionConfig, Tag, TargetDescription, TargetGroupAttribute, TargetGroupTuple,
    TargetTypeEnum,
};

const VPC: &str = "vpc-0c10d0e7000000001";
const SUBNET_A: &str = "subnet-0c10d0e70000000a1";
const SUBNET_B: &str = "subnet-0c10d0e70000000b1";
const SUBNET_C: &str = "subnet-0c10d0e70000000c1";
const SG: &str = "sg-0c10d0e7000000001";
const INSTANCE: &str = "i-0c10d0e7000000001";
const CERT: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/0f4e0a52-1111-2222-3333-444455556666";

struct Mock {
    handle: Handle,
    client: elb::Client,
}

/// The default world with fast health checks (300 ms) and the given extra `elbv2:` settings.
async fn start(elbv2_yaml: &str) -> Mock {
    let mut world = World::default();
    let yaml = format!("health_check_delay_ms: 300\n{elbv2_yaml}");
    world.elbv2 = Some(serde_yaml::from_str(&yaml).expect("elbv2 settings"));
    let handle = MockCloud::start(Config::ephemeral(world))
        .await
        .expect("mock cloud starts");
    let client = client(&handle, 3).await;
    Mock { handle, client }
}

async fn client(handle: &Handle, attempts: u32) -> elb::Client {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDMOCK", "secret", None, None, "test"))
        .endpoint_url(handle.endpoint_url())
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .load()
        .await;
    elb::Client::new(&conf)
}

/// The error code of a failed call (panics when it succeeded).
fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, SdkError<E, R>>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("<no code>").to_string(),
    }
}

fn forward(tg: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build()
}

fn path(p: &str) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().values(p).build())
        .build()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn target(id: &str) -> TargetDescription {
    TargetDescription::builder().id(id).build()
}

impl Mock {
    async fn alb(&self, name: &str) -> String {
        let out = self
            .client
            .create_load_balancer()
            .name(name)
            .subnets(SUBNET_A)
            .subnets(SUBNET_B)
            .security_groups(SG)
            .send()
            .await
            .expect("create ALB");
        out.load_balancers()[0]
            .load_balancer_arn()
            .unwrap_or_default()
            .to_string()
    }

    async fn nlb(&self, name: &str) -> String {
        let out = self
            .client
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Network)
            .subnets(SUBNET_C)
            .send()
            .await
            .expect("create NLB");
        out.load_balancers()[0]
            .load_balancer_arn()
            .unwrap_or_default()
            .to_string()
    }

    async fn tg(&self, name: &str, protocol: ProtocolEnum) -> String {
        let out = self
            .client
            .create_target_group()
            .name(name)
            .protocol(protocol)
            .port(8080)
            .vpc_id(VPC)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .expect("create target group");
        out.target_groups()[0]
            .target_group_arn()
            .unwrap_or_default()
            .to_string()
    }

    async fn listener(&self, lb: &str, protocol: ProtocolEnum, port: i32, tg: &str) -> String {
        let out = self
            .client
            .create_listener()
            .load_balancer_arn(lb)
            .protocol(protocol)
            .port(port)
            .default_actions(forward(tg))
            .send()
            .await
            .expect("create listener");
        out.listeners()[0]
            .listener_arn()
            .unwrap_or_default()
            .to_string()
    }

    async fn states(&self, tg: &str) -> Vec<(String, String, String)> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
            .expect("describe target health");
        let mut v: Vec<(String, String, String)> = out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let h = d.target_health();
                (
                    d.target()
                        .and_then(|t| t.id())
                        .unwrap_or_default()
                        .to_string(),
                    h.and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    h.and_then(|h| h.reason())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

#[tokio::test]
async fn load_balancers_lifecycle_and_rules_of_creation() {
    let m = start("").await;
    let c = &m.client;
    let out = c
        .create_load_balancer()
        .name("web")
        .subnets(SUBNET_A)
        .subnets(SUBNET_B)
        .security_groups(SG)
        .tags(tag("cluster", "c1"))
        .send()
        .await
        .unwrap();
    let lb = &out.load_balancers()[0];
    let arn = lb.load_balancer_arn().unwrap().to_string();
    assert!(
        arn.starts_with(
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/web/"
        )
    );
    assert!(
        lb.dns_name()
            .unwrap()
            .ends_with(".us-west-2.elb.amazonaws.com")
    );
    assert_eq!(lb.canonical_hosted_zone_id(), Some("Z1H1FL5HABSF5"));
    assert_eq!(lb.vpc_id(), Some(VPC));
    assert_eq!(lb.scheme(), Some(&LoadBalancerSchemeEnum::InternetFacing));
    assert_eq!(lb.r#type(), Some(&LoadBalancerTypeEnum::Application));
    assert_eq!(
        lb.state().and_then(|s| s.code()).map(|c| c.as_str()),
        Some("active")
    );
    assert_eq!(lb.security_groups(), [SG]);
    assert_eq!(lb.availability_zones().len(), 2);
    assert!(lb.created_time().is_some());

    // Same settings: the same load balancer; other settings: a duplicate.
    let again = m.alb("web").await;
    assert_eq!(again, arn);
    let dup = c
        .create_load_balancer()
        .name("web")
        .scheme(LoadBalancerSchemeEnum::Internal)
        .subnets(SUBNET_A)
        .subnets(SUBNET_B)
        .send()
        .await;
    assert_eq!(code(dup), "DuplicateLoadBalancerName");
    let one_zone = c
        .create_load_balancer()
        .name("one")
        .subnets(SUBNET_A)
        .send()
        .await;
    assert_eq!(code(one_zone), "ValidationError");
    let ghost = c
        .create_load_balancer()
        .name("ghost")
        .subnets(SUBNET_A)
        .subnets("subnet-ghost")
        .send()
        .await;
    assert_eq!(code(ghost), "SubnetNotFound");
    let bad_name = c
        .create_load_balancer()
        .name("internal-web")
        .subnets(SUBNET_A)
        .subnets(SUBNET_B)
        .send()
        .await;
    assert_eq!(code(bad_name), "ValidationError");
    let bad_sg = c
        .create_load_balancer()
        .name("sg")
        .subnets(SUBNET_A)
        .subnets(SUBNET_B)
        .security_groups("sg-ghost")
        .send()
        .await;
    assert_eq!(code(bad_sg), "InvalidSecurityGroup");

    let out = c
        .describe_load_balancers()
        .names("web")
        .send()
        .await
        .unwrap();
    assert_eq!(out.load_balancers().len(), 1);
    assert_eq!(
        code(c.describe_load_balancers().names("nope").send().await),
        "LoadBalancerNotFound"
    );

    let out = c
        .set_subnets()
        .load_balancer_arn(&arn)
        .subnets(SUBNET_B)
        .subnets(SUBNET_C)
        .send()
        .await
        .unwrap();
    let zones: Vec<&str> = out
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    assert_eq!(zones, ["us-west-2b", "us-west-2c"]);
    let out = c
        .set_security_groups()
        .load_balancer_arn(&arn)
        .security_groups(SG)
        .send()
        .await
        .unwrap();
    assert_eq!(out.security_group_ids(), [SG]);
    let out = c
        .set_ip_address_type()
        .load_balancer_arn(&arn)
        .ip_address_type(elb::types::IpAddressType::Dualstack)
        .send()
        .await
        .unwrap();
    assert_eq!(out.ip_address_type().map(|t| t.as_str()), Some("dualstack"));

    // Attributes: AWS's defaults, checked values, deletion protection.
    let out = c
        .describe_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .send()
        .await
        .unwrap();
    let idle = out
        .attributes()
        .iter()
        .find(|a| a.key() == Some("idle_timeout.timeout_seconds"))
        .and_then(|a| a.value());
    assert_eq!(idle, Some("60"));
    let attr = |k: &str, v: &str| LoadBalancerAttribute::builder().key(k).value(v).build();
    let bad = c
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(attr("idle_timeout.timeout_seconds", "0"))
        .send()
        .await;
    assert_eq!(code(bad), "ValidationError");
    let bad = c
        .modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(attr("no.such.key", "1"))
        .send()
        .await;
    assert_eq!(code(bad), "ValidationError");
    c.modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(attr("deletion_protection.enabled", "true"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            c.delete_load_balancer()
                .load_balancer_arn(&arn)
                .send()
                .await
        ),
        "OperationNotPermitted"
    );
    c.modify_load_balancer_attributes()
        .load_balancer_arn(&arn)
        .attributes(attr("deletion_protection.enabled", "false"))
        .send()
        .await
        .unwrap();
    c.delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .unwrap();
    // Deleting again succeeds, describing does not.
    c.delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            c.describe_load_balancers()
                .load_balancer_arns(&arn)
                .send()
                .await
        ),
        "LoadBalancerNotFound"
    );

    let nlb = m.nlb("edge").await;
    assert!(nlb.contains(":loadbalancer/net/edge/"));
    m.handle.shutdown().await;
}

#[tokio::test]
async fn describe_calls_page_with_markers() {
    let m = start("").await;
    let c = &m.client;
    for i in 0..5 {
        m.nlb(&format!("nlb-{i}")).await;
        m.tg(&format!("tg-{i}"), ProtocolEnum::Tcp).await;
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .describe_load_balancers()
            .page_size(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(
            out.load_balancers()
                .iter()
                .filter_map(|l| l.load_balancer_name().map(str::to_string)),
        );
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["nlb-0", "nlb-1", "nlb-2", "nlb-3", "nlb-4"]);

    // The SDK's own paginator follows NextMarker too.
    let pages: Vec<_> = c
        .describe_target_groups()
        .page_size(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let total: usize = pages
        .iter()
        .map(|p| p.as_ref().map(|o| o.target_groups().len()).unwrap_or(0))
        .sum();
    assert_eq!(total, 5);
    assert_eq!(
        code(c.describe_load_balancers().page_size(401).send().await),
        "ValidationError"
    );
    m.handle.shutdown().await;
}

#[tokio::test]
async fn target_groups_and_their_attributes() {
    let m = start("").await;
    let c = &m.client;
    let out = c
        .create_target_group()
        .name("pods")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(VPC)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/healthz")
        .health_check_interval_seconds(10)
        .matcher(elb::types::Matcher::builder().http_code("200-299").build())
        .tags(tag("owner", "svc/a"))
        .send()
        .await
        .unwrap();
    let tg = &out.target_groups()[0];
    let arn = tg.target_group_arn().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/pods/")
    );
    assert_eq!(tg.health_check_path(), Some("/healthz"));
    assert_eq!(tg.health_check_interval_seconds(), Some(10));
    assert_eq!(tg.health_check_timeout_seconds(), Some(5));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200-299"));
    assert_eq!(tg.target_type(), Some(&TargetTypeEnum::Ip));

    let dup = c
        .create_target_group()
        .name("pods")
        .protocol(ProtocolEnum::Http)
        .port(9090)
        .vpc_id(VPC)
        .send()
        .await;
    assert_eq!(code(dup), "DuplicateTargetGroupName");
    let lambda = c
        .create_target_group()
        .name("fn")
        .target_type(TargetTypeEnum::Lambda)
        .protocol(ProtocolEnum::Http)
        .send()
        .await;
    assert_eq!(code(lambda), "ValidationError");
    let bad_vpc = c
        .create_target_group()
        .name("t")
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id("vpc-ghost")
        .send()
        .await;
    assert_eq!(code(bad_vpc), "ValidationError");

    let out = c
        .modify_target_group()
        .target_group_arn(&arn)
        .healthy_threshold_count(3)
        .send()
        .await
        .unwrap();
    assert_eq!(out.target_groups()[0].healthy_threshold_count(), Some(3));
    let out = c
        .describe_target_groups()
        .names("pods")
        .send()
        .await
        .unwrap();
    assert_eq!(out.target_groups().len(), 1);
    assert_eq!(
        code(c.describe_target_groups().names("nope").send().await),
        "TargetGroupNotFound"
    );

    let attr = |k: &str, v: &str| TargetGroupAttribute::builder().key(k).value(v).build();
    let out = c
        .modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(attr("deregistration_delay.timeout_seconds", "10"))
        .attributes(attr(
            "load_balancing.algorithm.type",
            "least_outstanding_requests",
        ))
        .send()
        .await
        .unwrap();
    assert!(out.attributes().iter().any(|a| {
        a.key() == Some("deregistration_delay.timeout_seconds") && a.value() == Some("10")
    }));
    let bad = c
        .modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(attr("proxy_protocol_v2.enabled", "true"))
        .send()
        .await;
    assert_eq!(code(bad), "ValidationError");
    let nlb_tg = m.tg("nodes", ProtocolEnum::Tcp).await;
    c.modify_target_group_attributes()
        .target_group_arn(&nlb_tg)
        .attributes(attr("proxy_protocol_v2.enabled", "true"))
        .send()
        .await
        .unwrap();
    let out = c
        .describe_target_group_attributes()
        .target_group_arn(&nlb_tg)
        .send()
        .await
        .unwrap();
    assert!(
        out.attributes().iter().any(|a| {
            a.key() == Some("preserve_client_ip.enabled") && a.value() == Some("false")
        })
    );

    // In use by a listener: cannot be deleted; afterwards it can.
    let lb = m.alb("web").await;
    let l = m.listener(&lb, ProtocolEnum::Http, 80, &arn).await;
    let out = c
        .describe_target_groups()
        .load_balancer_arn(&lb)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.target_groups()[0].load_balancer_arns(),
        std::slice::from_ref(&lb)
    );
    assert_eq!(
        code(c.delete_target_group().target_group_arn(&arn).send().await),
        "ResourceInUse"
    );
    c.delete_listener().listener_arn(&l).send().await.unwrap();
    c.delete_target_group()
        .target_group_arn(&arn)
        .send()
        .await
        .unwrap();
    m.handle.shutdown().await;
}

#[tokio::test]
async fn listeners_keep_ports_protocols_and_certificates_straight() {
    let m = start("").await;
    let c = &m.client;
    let lb = m.alb("web").await;
    let http = m.tg("http", ProtocolEnum::Http).await;
    let tcp = m.tg("tcp", ProtocolEnum::Tcp).await;
    let l = m.listener(&lb, ProtocolEnum::Http, 80, &http).await;
    assert!(l.contains(":listener/app/web/"));

    let http2 = m.tg("http2", ProtocolEnum::Http).await;
    let dup = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(forward(&http2))
        .send()
        .await;
    assert_eq!(code(dup), "DuplicateListener");
    let tcp_on_alb = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Tcp)
        .port(81)
        .default_actions(forward(&tcp))
        .send()
        .await;
    assert_eq!(code(tcp_on_alb), "UnsupportedProtocol");
    let incompatible = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(81)
        .default_actions(forward(&tcp))
        .send()
        .await;
    assert_eq!(code(incompatible), "IncompatibleProtocols");
    let no_cert = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .default_actions(forward(&http))
        .send()
        .await;
    assert_eq!(code(no_cert), "ValidationError");
    let bad_cert = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .certificates(Certificate::builder().certificate_arn("not-a-cert").build())
        .default_actions(forward(&http))
        .send()
        .await;
    assert_eq!(code(bad_cert), "CertificateNotFound");
    let out = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .certificates(Certificate::builder().certificate_arn(CERT).build())
        .default_actions(forward(&http))
        .send()
        .await
        .unwrap();
    let https = &out.listeners()[0];
    assert_eq!(https.certificates()[0].certificate_arn(), Some(CERT));
    assert!(https.ssl_policy().is_some());

    // Another load balancer cannot share the target group.
    let other = m.alb("other").await;
    let shared = c
        .create_listener()
        .load_balancer_arn(&other)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(forward(&http))
        .send()
        .await;
    assert_eq!(code(shared), "TargetGroupAssociationLimit");

    let out = c
        .modify_listener()
        .listener_arn(&l)
        .port(8080)
        .send()
        .await
        .unwrap();
    assert_eq!(out.listeners()[0].port(), Some(8080));
    let out = c
        .describe_listeners()
        .load_balancer_arn(&lb)
        .send()
        .await
        .unwrap();
    let ports: Vec<i32> = out.listeners().iter().filter_map(|l| l.port()).collect();
    assert_eq!(ports, [8080, 443]);
    let action = &out.listeners()[0].default_actions()[0];
    assert_eq!(action.r#type(), Some(&ActionTypeEnum::Forward));
    assert_eq!(action.target_group_arn(), Some(http.as_str()));

    // NLB listeners: TCP to TCP groups, no redirects.
    let nlb = m.nlb("edge").await;
    let tcp2 = m.tg("tcp2", ProtocolEnum::Tcp).await;
    m.listener(&nlb, ProtocolEnum::Tcp, 80, &tcp2).await;
    let redirect = Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build();
    let bad = c
        .create_listener()
        .load_balancer_arn(&nlb)
        .protocol(ProtocolEnum::Tcp)
        .port(81)
        .default_actions(redirect)
        .send()
        .await;
    assert_eq!(code(bad), "InvalidLoadBalancerAction");

    c.delete_listener().listener_arn(&l).send().await.unwrap();
    assert_eq!(
        code(c.describe_listeners().listener_arns(&l).send().await),
        "ListenerNotFound"
    );
    m.handle.shutdown().await;
}

#[tokio::test]
async fn rules_conditions_actions_and_priorities() {
    let m = start("").await;
    let c = &m.client;
    let lb = m.alb("web").await;
    let a = m.tg("a", ProtocolEnum::Http).await;
    let b = m.tg("b", ProtocolEnum::Http).await;
    let l = m.listener(&lb, ProtocolEnum::Http, 80, &a).await;

    let weighted = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&a)
                        .weight(80)
                        .build(),
                )
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&b)
                        .weight(20)
                        .build(),
                )
                .build(),
        )
        .build();
    let out = c
        .create_rule()
        .listener_arn(&l)
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .values("*.example.com")
                        .build(),
                )
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("http-header")
                .http_header_config(
                    HttpHeaderConditionConfig::builder()
                        .http_header_name("X-Env")
                        .values("prod")
                        .build(),
                )
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("query-string")
                .query_string_config(
                    QueryStringConditionConfig::builder()
                        .values(
                            QueryStringKeyValuePair::builder()
                                .key("v")
                                .value("2")
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("http-request-method")
                .http_request_method_config(
                    HttpRequestMethodConditionConfig::builder()
                        .values("GET")
                        .build(),
                )
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("source-ip")
                .source_ip_config(
                    SourceIpConditionConfig::builder()
                        .values("10.0.0.0/8")
                        .build(),
                )
                .build(),
        )
        .actions(weighted)
        .tags(tag("k", "v"))
        .send()
        .await
        .unwrap();
    let rule = &out.rules()[0];
    let r10 = rule.rule_arn().unwrap().to_string();
    assert!(r10.contains(":listener-rule/app/web/"));
    assert_eq!(rule.priority(), Some("10"));
    assert_eq!(rule.conditions().len(), 5);
    let header = rule.conditions()[1].http_header_config().unwrap();
    assert_eq!(header.http_header_name(), Some("X-Env"));
    let q = rule.conditions()[2].query_string_config().unwrap();
    assert_eq!(q.values()[0].key(), Some("v"));
    let fc = rule.actions()[0].forward_config().unwrap();
    let weights: Vec<i32> = fc
        .target_groups()
        .iter()
        .filter_map(|t| t.weight())
        .collect();
    assert_eq!(weights, [80, 20]);

    let in_use = c
        .create_rule()
        .listener_arn(&l)
        .priority(10)
        .conditions(path("/x"))
        .actions(forward(&a))
        .send()
        .await;
    assert_eq!(code(in_use), "PriorityInUse");
    let too_many_values = c
        .create_rule()
        .listener_arn(&l)
        .priority(11)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some((1..=6).map(|i| format!("/p{i}")).collect()))
                        .build(),
                )
                .build(),
        )
        .actions(forward(&a))
        .send()
        .await;
    assert_eq!(code(too_many_values), "ValidationError");

    let fixed = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("503")
                .content_type("text/plain")
                .message_body("down")
                .build(),
        )
        .build();
    let out = c
        .create_rule()
        .listener_arn(&l)
        .priority(5)
        .conditions(path("/maintenance"))
        .actions(fixed)
        .send()
        .await
        .unwrap();
    let r5 = out.rules()[0].rule_arn().unwrap().to_string();
    let redirect = Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port("443")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build();
    let out = c
        .create_rule()
        .listener_arn(&l)
        .priority(7)
        .conditions(path("/old/*"))
        .actions(redirect)
        .send()
        .await
        .unwrap();
    let rc = out.rules()[0].actions()[0].redirect_config().unwrap();
    assert_eq!(rc.host(), Some("#{host}"));
    assert_eq!(
        rc.status_code(),
        Some(&RedirectActionStatusCodeEnum::Http301)
    );

    let out = c.describe_rules().listener_arn(&l).send().await.unwrap();
    let prios: Vec<&str> = out.rules().iter().filter_map(|r| r.priority()).collect();
    assert_eq!(prios, ["5", "7", "10", "default"]);
    let default_rule = out.rules()[3].rule_arn().unwrap().to_string();
    assert_eq!(out.rules()[3].is_default(), Some(true));
    assert_eq!(
        code(c.delete_rule().rule_arn(&default_rule).send().await),
        "OperationNotPermitted"
    );

    let out = c
        .set_rule_priorities()
        .rule_priorities(
            RulePriorityPair::builder()
                .rule_arn(&r10)
                .priority(5)
                .build(),
        )
        .rule_priorities(
            RulePriorityPair::builder()
                .rule_arn(&r5)
                .priority(10)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.rules().len(), 2);
    let clash = c
        .set_rule_priorities()
        .rule_priorities(
            RulePriorityPair::builder()
                .rule_arn(&r10)
                .priority(7)
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(clash), "PriorityInUse");

    let out = c
        .modify_rule()
        .rule_arn(&r5)
        .conditions(path("/api/*"))
        .actions(forward(&b))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.rules()[0].conditions()[0]
            .path_pattern_config()
            .map(|p| p.values().to_vec()),
        Some(vec!["/api/*".to_string()])
    );
    c.delete_rule().rule_arn(&r5).send().await.unwrap();
    assert_eq!(
        code(c.describe_rules().rule_arns(&r5).send().await),
        "RuleNotFound"
    );
    // Deleting the listener deletes its rules.
    c.delete_listener().listener_arn(&l).send().await.unwrap();
    assert_eq!(
        code(c.describe_rules().rule_arns(&r10).send().await),
        "RuleNotFound"
    );
    m.handle.shutdown().await;
}

#[tokio::test]
async fn quotas_answer_too_many() {
    let m = start("quotas: {rules_per_listener: 1, listeners_per_load_balancer: 1, targets_per_target_group: 2}").await;
    let c = &m.client;
    let lb = m.alb("web").await;
    let tg = m.tg("pods", ProtocolEnum::Http).await;
    let l = m.listener(&lb, ProtocolEnum::Http, 80, &tg).await;
    let second = c
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(81)
        .default_actions(forward(&tg))
        .send()
        .await;
    assert_eq!(code(second), "TooManyListeners");
    c.create_rule()
        .listener_arn(&l)
        .priority(1)
        .conditions(path("/a"))
        .actions(forward(&tg))
        .send()
        .await
        .unwrap();
    let rule = c
        .create_rule()
        .listener_arn(&l)
        .priority(2)
        .conditions(path("/b"))
        .actions(forward(&tg))
        .send()
        .await;
    assert_eq!(code(rule), "TooManyRules");
    let targets = c
        .register_targets()
        .target_group_arn(&tg)
        .targets(target("192.168.100.1"))
        .targets(target("192.168.100.2"))
        .targets(target("192.168.100.3"))
        .send()
        .await;
    assert_eq!(code(targets), "TooManyTargets");
    let out = c.describe_account_limits().send().await.unwrap();
    assert!(
        out.limits().iter().any(
            |l| l.name() == Some("rules-per-application-load-balancer") && l.max() == Some("1")
        )
    );
    m.handle.shutdown().await;
}

#[tokio::test]
async fn target_health_moves_with_traffic_time_and_deregistration() {
    let m = start("").await;
    let c = &m.client;
    let lb = m.alb("web").await;
    let tg = m.tg("pods", ProtocolEnum::Http).await;
    c.modify_target_group_attributes()
        .target_group_arn(&tg)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.register_targets()
        .target_group_arn(&tg)
        .targets(target("192.168.100.10"))
        .targets(target("192.168.100.11"))
        .send()
        .await
        .unwrap();
    let outside = c
        .register_targets()
        .target_group_arn(&tg)
        .targets(target("10.9.9.9"))
        .send()
        .await;
    assert_eq!(code(outside), "ValidationError");
    // Outside the VPC only with AvailabilityZone=all, as for peered networks.
    c.register_targets()
        .target_group_arn(&tg)
        .targets(
            TargetDescription::builder()
                .id("10.9.9.9")
                .availability_zone("all")
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.deregister_targets()
        .target_group_arn(&tg)
        .targets(target("10.9.9.9"))
        .send()
        .await
        .unwrap();

    let st = m.states(&tg).await;
    assert!(
        st.iter()
            .all(|(_, s, r)| s == "unused" && r == "Target.NotInUse"),
        "{st:?}"
    );
    m.listener(&lb, ProtocolEnum::Http, 80, &tg).await;
    let st = m.states(&tg).await;
    assert!(
        st.iter()
            .all(|(_, s, r)| s == "initial" && r == "Elb.RegistrationInProgress"),
        "{st:?}"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let st = m.states(&tg).await;
    assert!(st.iter().all(|(_, s, _)| s == "healthy"), "{st:?}");

    m.handle
        .with_cloud(|cloud| cloud.elbv2.set_target_unhealthy("192.168.100.11", true));
    let st = m.states(&tg).await;
    assert_eq!(st[1].1, "unhealthy");
    assert_eq!(st[1].2, "Target.FailedHealthChecks");

    c.deregister_targets()
        .target_group_arn(&tg)
        .targets(target("192.168.100.10"))
        .send()
        .await
        .unwrap();
    let st = m.states(&tg).await;
    assert_eq!(
        st[0],
        (
            "192.168.100.10".into(),
            "draining".into(),
            "Target.DeregistrationInProgress".into()
        )
    );
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let st = m.states(&tg).await;
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(
        code(
            c.deregister_targets()
                .target_group_arn(&tg)
                .targets(target("192.168.100.10"))
                .send()
                .await
        ),
        "InvalidTarget"
    );

    // Instance targets: the instance must exist and run in the group's VPC.
    let out = c
        .create_target_group()
        .name("nodes")
        .protocol(ProtocolEnum::Tcp)
        .port(30080)
        .vpc_id(VPC)
        .send()
        .await
        .unwrap();
    let nodes = out.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    c.register_targets()
        .target_group_arn(&nodes)
        .targets(target(INSTANCE))
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(
            c.register_targets()
                .target_group_arn(&nodes)
                .targets(target("i-0123456789abcdef0"))
                .send()
                .await
        ),
        "InvalidTarget"
    );
    let out = c
        .describe_target_health()
        .target_group_arn(&nodes)
        .send()
        .await
        .unwrap();
    let d = &out.target_health_descriptions()[0];
    assert_eq!(d.target().and_then(|t| t.port()), Some(30080));
    assert_eq!(d.health_check_port(), Some("30080"));
    m.handle.shutdown().await;
}

#[tokio::test]
async fn tags_on_load_balancers_groups_listeners_and_rules() {
    let m = start("").await;
    let c = &m.client;
    let lb = m.alb("web").await;
    let tg = m.tg("pods", ProtocolEnum::Http).await;
    let l = m.listener(&lb, ProtocolEnum::Http, 80, &tg).await;
    let out = c
        .create_rule()
        .listener_arn(&l)
        .priority(1)
        .conditions(path("/a"))
        .actions(forward(&tg))
        .send()
        .await
        .unwrap();
    let rule = out.rules()[0].rule_arn().unwrap().to_string();
    for arn in [&lb, &tg, &l, &rule] {
        c.add_tags()
            .resource_arns(arn)
            .tags(tag("cluster", "c1"))
            .tags(tag("owner", "svc/a"))
            .send()
            .await
            .unwrap();
    }
    let out = c
        .describe_tags()
        .resource_arns(&lb)
        .resource_arns(&tg)
        .resource_arns(&l)
        .resource_arns(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(out.tag_descriptions().len(), 4);
    for d in out.tag_descriptions() {
        let keys: Vec<&str> = d.tags().iter().filter_map(|t| t.key()).collect();
        assert_eq!(keys, ["cluster", "owner"]);
    }
    c.remove_tags()
        .resource_arns(&lb)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let out = c.describe_tags().resource_arns(&lb).send().await.unwrap();
    assert_eq!(out.tag_descriptions()[0].tags().len(), 1);

    let dup = c
        .add_tags()
        .resource_arns(&lb)
        .tags(tag("a", "1"))
        .tags(tag("a", "2"))
        .send()
        .await;
    assert_eq!(code(dup), "DuplicateTagKeys");
    let mut many = c.add_tags().resource_arns(&tg);
    for i in 0..50 {
        many = many.tags(tag(&format!("k{i}"), "v"));
    }
    assert_eq!(code(many.send().await), "TooManyTags");
    let ghost = lb.replace("/web/", "/ghost/");
    assert_eq!(
        code(c.describe_tags().resource_arns(&ghost).send().await),
        "LoadBalancerNotFound"
    );
    // The control endpoint's state dump carries the ELBv2 state.
    let dump = m
        .handle
        .with_cloud(|cloud| serde_json::to_value(cloud.dump()).expect("state serialises"));
    let lbs = &dump["elbv2"]["load_balancers"];
    assert_eq!(lbs[lb.as_str()]["name"], "web");
    assert_eq!(lbs[lb.as_str()]["tags"]["cluster"], "c1");
    assert_eq!(dump["elbv2"]["rules"][rule.as_str()]["priority"], 1);
    m.handle.shutdown().await;
}

#[tokio::test]
async fn throttling_answers_in_elbv2s_format() {
    let m = start("").await;
    m.handle.with_cloud(|cloud| {
        cloud.faults.add(FaultRule {
            service: "elbv2".into(),
            action: "DescribeLoadBalancers".into(),
            kind: FaultKind::Throttle {
                rate_per_sec: 0.001,
                burst: 1,
            },
            trigger: Trigger::default(),
        })
    });
    let once = client(&m.handle, 1).await;
    once.describe_load_balancers().send().await.unwrap();
    let err = once.describe_load_balancers().send().await.unwrap_err();
    assert_eq!(err.code(), Some("Throttling"));
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(400));
    // Other actions are not throttled.
    once.describe_target_groups().send().await.unwrap();
    m.handle.shutdown().await;
}

#[tokio::test]
async fn ssl_policies_are_listed() {
    let m = start("").await;
    let out = m
        .client
        .describe_ssl_policies()
        .names("ELBSecurityPolicy-TLS13-1-2-2021-06")
        .send()
        .await
        .unwrap();
    assert_eq!(out.ssl_policies().len(), 1);
    assert_eq!(
        code(m.client.describe_ssl_policies().names("nope").send().await),
        "SSLPolicyNotFound"
    );
    m.handle.shutdown().await;
}
