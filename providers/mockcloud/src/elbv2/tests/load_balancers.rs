use super::*;

#[test]
fn arns_dns_names_and_zones_have_the_aws_shapes() {
    let mut w = World::new();
    let x = w.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "web"),
            ("Subnets.member.1", "subnet-a"),
            ("Subnets.member.2", "subnet-b"),
        ],
    );
    let arn = first(&x, "LoadBalancerArn");
    let id = arn
        .strip_prefix("arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/web/")
        .unwrap();
    assert_eq!(id.len(), 16);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let dns = first(&x, "DNSName");
    let digits = dns
        .strip_prefix("web-")
        .and_then(|d| d.strip_suffix(".us-west-2.elb.amazonaws.com"))
        .unwrap();
    assert_eq!(digits.len(), 10);
    assert!(digits.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(first(&x, "CanonicalHostedZoneId"), "Z1H1FL5HABSF5");
    assert_eq!(first(&x, "Scheme"), "internet-facing");
    assert_eq!(first(&x, "VpcId"), "vpc-1");
    assert_eq!(first(&x, "Code"), "active");
    assert_eq!(all(&x, "ZoneName"), vec!["us-west-2a", "us-west-2b"]);
    assert!(first(&x, "CreatedTime").ends_with('Z'));

    let x = w.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "edge"),
            ("Type", "network"),
            ("Scheme", "internal"),
            ("Subnets.member.1", "subnet-c"),
        ],
    );
    assert!(first(&x, "LoadBalancerArn").contains(":loadbalancer/net/edge/"));
    let dns = first(&x, "DNSName");
    assert!(dns.starts_with("internal-edge-"), "{dns}");
    assert!(dns.ends_with(".elb.us-west-2.amazonaws.com"), "{dns}");
    assert_eq!(first(&x, "CanonicalHostedZoneId"), "Z18D5FSROUN65G");
}

#[test]
fn names_types_and_schemes_are_validated() {
    let mut w = World::new();
    let long = "a".repeat(33);
    for name in [long.as_str(), "a_b", "-web", "web-", "internal-web"] {
        let code = w.err(
            "CreateLoadBalancer",
            &[
                ("Name", name),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-b"),
            ],
        );
        assert_eq!(code, "ValidationError", "{name}");
    }
    for (k, v) in [
        ("Type", "classic"),
        ("Scheme", "public"),
        ("IpAddressType", "v6"),
    ] {
        let code = w.err(
            "CreateLoadBalancer",
            &[
                ("Name", "web"),
                (k, v),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-b"),
            ],
        );
        assert_eq!(code, "ValidationError", "{k}={v}");
    }
    assert_eq!(w.err("CreateLoadBalancer", &[]), "ValidationError");
}

#[test]
fn subnets_must_exist_share_a_vpc_and_cover_two_zones_for_albs() {
    let mut w = World::new();
    let create = |w: &mut World, kind: &str, subnets: &[&str]| {
        let mut p: Vec<(String, String)> =
            vec![("Name".into(), "web".into()), ("Type".into(), kind.into())];
        for (i, s) in subnets.iter().enumerate() {
            p.push((format!("Subnets.member.{}", i + 1), s.to_string()));
        }
        let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        w.call("CreateLoadBalancer", &refs).map_err(|e| e.code)
    };
    assert_eq!(
        create(&mut w, "application", &["subnet-a"]).unwrap_err(),
        "ValidationError"
    );
    assert_eq!(
        create(&mut w, "application", &["subnet-a", "subnet-a2"]).unwrap_err(),
        "InvalidConfigurationRequest"
    );
    assert_eq!(
        create(&mut w, "application", &["subnet-a", "subnet-nope"]).unwrap_err(),
        "SubnetNotFound"
    );
    assert_eq!(
        create(&mut w, "application", &["subnet-a", "subnet-x"]).unwrap_err(),
        "InvalidSubnet"
    );
    assert_eq!(
        create(&mut w, "network", &[]).unwrap_err(),
        "ValidationError"
    );
    // One zone is enough for a Network Load Balancer.
    assert!(create(&mut w, "network", &["subnet-a"]).is_ok());
}

#[test]
fn subnet_mappings_pin_private_addresses_inside_the_subnet() {
    let mut w = World::new();
    let x = w.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "edge"),
            ("Type", "network"),
            ("SubnetMappings.member.1.SubnetId", "subnet-a"),
            ("SubnetMappings.member.1.PrivateIPv4Address", "10.0.0.50"),
        ],
    );
    assert_eq!(first(&x, "PrivateIPv4Address"), "10.0.0.50");
    let code = w.err(
        "CreateLoadBalancer",
        &[
            ("Name", "edge2"),
            ("Type", "network"),
            ("SubnetMappings.member.1.SubnetId", "subnet-a"),
            ("SubnetMappings.member.1.PrivateIPv4Address", "10.0.9.50"),
        ],
    );
    assert_eq!(code, "InvalidConfigurationRequest");
}

#[test]
fn security_groups_must_exist_in_the_vpc_and_never_on_gateways() {
    let mut w = World::new();
    for (sg, code) in [
        ("sg-nope", "InvalidSecurityGroup"),
        ("sg-x", "InvalidSecurityGroup"),
    ] {
        let got = w.err(
            "CreateLoadBalancer",
            &[
                ("Name", "web"),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-b"),
                ("SecurityGroups.member.1", sg),
            ],
        );
        assert_eq!(got, code, "{sg}");
    }
    let got = w.err(
        "CreateLoadBalancer",
        &[
            ("Name", "gw"),
            ("Type", "gateway"),
            ("Subnets.member.1", "subnet-a"),
            ("SecurityGroups.member.1", "sg-1"),
        ],
    );
    assert_eq!(got, "ValidationError");
    // NLBs may have security groups (since 2023).
    w.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "edge"),
            ("Type", "network"),
            ("Subnets.member.1", "subnet-a"),
            ("SecurityGroups.member.1", "sg-1"),
        ],
    );
}

#[test]
fn same_name_is_idempotent_with_same_settings_and_a_duplicate_otherwise() {
    let mut w = World::new();
    let a = w.alb("web");
    let b = w.alb("web");
    assert_eq!(a, b);
    let code = w.err(
        "CreateLoadBalancer",
        &[
            ("Name", "web"),
            ("Scheme", "internal"),
            ("Subnets.member.1", "subnet-a"),
            ("Subnets.member.2", "subnet-b"),
        ],
    );
    assert_eq!(code, "DuplicateLoadBalancerName");
}

#[test]
fn quota_of_load_balancers() {
    let mut w = World::with_quotas(|q| q.load_balancers = 2);
    w.alb("a");
    w.alb("b");
    let code = w.err(
        "CreateLoadBalancer",
        &[
            ("Name", "c"),
            ("Subnets.member.1", "subnet-a"),
            ("Subnets.member.2", "subnet-b"),
        ],
    );
    assert_eq!(code, "TooManyLoadBalancers");
}

#[test]
fn provisioning_turns_active_after_the_configured_delay() {
    let mut w = World::new();
    let mut config = w.elb.config().clone();
    config.provisioning_delay_ms = 1_000;
    w.elb.set_config(config);
    let arn = w.alb("web");
    let state = |w: &mut World| {
        first(
            &w.ok(
                "DescribeLoadBalancers",
                &[("LoadBalancerArns.member.1", &arn)],
            ),
            "Code",
        )
    };
    assert_eq!(state(&mut w), "provisioning");
    w.advance(1_000);
    assert_eq!(state(&mut w), "active");
}

#[test]
fn describe_by_arn_or_name_and_not_found() {
    let mut w = World::new();
    let a = w.alb("a");
    w.alb("b");
    let x = w.ok("DescribeLoadBalancers", &[("Names.member.1", "b")]);
    assert_eq!(all(&x, "LoadBalancerName"), vec!["b"]);
    let x = w.ok(
        "DescribeLoadBalancers",
        &[("LoadBalancerArns.member.1", &a)],
    );
    assert_eq!(all(&x, "LoadBalancerName"), vec!["a"]);
    assert_eq!(
        w.err("DescribeLoadBalancers", &[("Names.member.1", "ghost")]),
        "LoadBalancerNotFound"
    );
    let ghost = a.replace("/a/", "/ghost/");
    assert_eq!(
        w.err(
            "DescribeLoadBalancers",
            &[("LoadBalancerArns.member.1", &ghost)]
        ),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        w.err(
            "DescribeLoadBalancers",
            &[("LoadBalancerArns.member.1", "nope")]
        ),
        "ValidationError"
    );
    assert_eq!(
        w.err(
            "DescribeLoadBalancers",
            &[("Names.member.1", "a"), ("LoadBalancerArns.member.1", &a)]
        ),
        "ValidationError"
    );
}

#[test]
fn describe_pages_with_next_marker() {
    let mut w = World::new();
    for n in ["a", "b", "c", "d", "e"] {
        w.alb(n);
    }
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut p = vec![("PageSize", "2")];
        if let Some(m) = &marker {
            p.push(("Marker", m));
        }
        let x = w.ok("DescribeLoadBalancers", &p);
        names.extend(all(&x, "LoadBalancerName"));
        pages += 1;
        marker = all(&x, "NextMarker").into_iter().next();
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, vec!["a", "b", "c", "d", "e"]);
    assert_eq!(
        w.err("DescribeLoadBalancers", &[("PageSize", "401")]),
        "ValidationError"
    );
}

#[test]
fn delete_is_idempotent_respects_protection_and_cascades() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &tg);
    let rule = w.rule(&l, "10", "/api/*", &tg).unwrap();
    w.ok(
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb),
            ("Attributes.member.1.Key", "deletion_protection.enabled"),
            ("Attributes.member.1.Value", "true"),
        ],
    );
    assert_eq!(
        w.err("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]),
        "OperationNotPermitted"
    );
    w.ok(
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb),
            ("Attributes.member.1.Key", "deletion_protection.enabled"),
            ("Attributes.member.1.Value", "false"),
        ],
    );
    w.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]);
    w.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]);
    assert_eq!(
        w.err("DescribeListeners", &[("ListenerArns.member.1", &l)]),
        "ListenerNotFound"
    );
    assert_eq!(
        w.err("DescribeRules", &[("RuleArns.member.1", &rule)]),
        "RuleNotFound"
    );
    // The target group outlives the load balancer, no longer in use.
    let x = w.ok("DescribeTargetGroups", &[("TargetGroupArns.member.1", &tg)]);
    assert!(all(&x, "LoadBalancerArns").iter().all(|s| s.is_empty()));
    w.ok("DeleteTargetGroup", &[("TargetGroupArn", &tg)]);
}

#[test]
fn set_security_groups_subnets_and_ip_address_type() {
    let mut w = World::new();
    let lb = w.alb("web");
    let x = w.ok(
        "SetSecurityGroups",
        &[
            ("LoadBalancerArn", &lb),
            ("SecurityGroups.member.1", "sg-1"),
            ("SecurityGroups.member.2", "sg-2"),
        ],
    );
    assert_eq!(all(&x, "member"), vec!["sg-1", "sg-2"]);
    assert_eq!(
        w.err(
            "SetSecurityGroups",
            &[
                ("LoadBalancerArn", &lb),
                ("SecurityGroups.member.1", "sg-x")
            ]
        ),
        "InvalidSecurityGroup"
    );
    let nlb = w.nlb("edge");
    assert_eq!(
        w.err(
            "SetSecurityGroups",
            &[
                ("LoadBalancerArn", &nlb),
                ("SecurityGroups.member.1", "sg-1")
            ]
        ),
        "InvalidConfigurationRequest"
    );

    let x = w.ok(
        "SetSubnets",
        &[
            ("LoadBalancerArn", &lb),
            ("Subnets.member.1", "subnet-b"),
            ("Subnets.member.2", "subnet-c"),
        ],
    );
    assert_eq!(all(&x, "ZoneName"), vec!["us-west-2b", "us-west-2c"]);
    assert_eq!(
        w.err(
            "SetSubnets",
            &[("LoadBalancerArn", &lb), ("Subnets.member.1", "subnet-b")]
        ),
        "ValidationError"
    );
    assert_eq!(
        w.err(
            "SetSubnets",
            &[
                ("LoadBalancerArn", &lb),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-x"),
            ]
        ),
        "InvalidSubnet"
    );

    let x = w.ok(
        "SetIpAddressType",
        &[("LoadBalancerArn", &lb), ("IpAddressType", "dualstack")],
    );
    assert_eq!(first(&x, "IpAddressType"), "dualstack");
    assert_eq!(
        w.err(
            "SetIpAddressType",
            &[
                ("LoadBalancerArn", &nlb),
                ("IpAddressType", "dualstack-without-public-ipv4")
            ]
        ),
        "ValidationError"
    );
}
