//! ELBv2 through the real `aws-sdk-elasticloadbalancingv2` client against the mock cloud's
//! server: load balancers, pagination, target groups and listeners as the SDK parses them.
//! Rules, quotas, health, tags and throttling are in `elbv2_rules.rs`.

mod elbv2_support;

use elbv2_support::*;

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
