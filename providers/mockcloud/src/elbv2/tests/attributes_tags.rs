use super::*;

#[test]
fn load_balancer_attributes_have_defaults_and_checks() {
    let mut w = World::new();
    let lb = w.alb("web");
    let x = w.ok(
        "DescribeLoadBalancerAttributes",
        &[("LoadBalancerArn", &lb)],
    );
    let keys = all(&x, "Key");
    let values = all(&x, "Value");
    let get = |k: &str| values[keys.iter().position(|x| x == k).unwrap()].clone();
    assert_eq!(get("idle_timeout.timeout_seconds"), "60");
    assert_eq!(get("deletion_protection.enabled"), "false");
    assert_eq!(get("routing.http2.enabled"), "true");
    let modify = |w: &mut World, k: &str, v: &str| {
        w.call(
            "ModifyLoadBalancerAttributes",
            &[
                ("LoadBalancerArn", &lb),
                ("Attributes.member.1.Key", k),
                ("Attributes.member.1.Value", v),
            ],
        )
        .map_err(|e| e.code)
    };
    let x = modify(&mut w, "idle_timeout.timeout_seconds", "120").unwrap();
    assert!(x.contains("<Key>idle_timeout.timeout_seconds</Key><Value>120</Value>"));
    for (k, v) in [
        ("idle_timeout.timeout_seconds", "0"),
        ("idle_timeout.timeout_seconds", "4001"),
        ("deletion_protection.enabled", "yes"),
        ("routing.http.desync_mitigation_mode", "lenient"),
        ("access_logs.s3.enabled", "true"),
        ("proxy_protocol_v2.enabled", "true"),
        ("made.up", "1"),
    ] {
        assert_eq!(
            modify(&mut w, k, v).unwrap_err(),
            "ValidationError",
            "{k}={v}"
        );
    }
    // A refused change leaves everything as it was.
    let x = w.ok(
        "DescribeLoadBalancerAttributes",
        &[("LoadBalancerArn", &lb)],
    );
    assert!(x.contains("<Key>idle_timeout.timeout_seconds</Key><Value>120</Value>"));
    let nlb = w.nlb("edge");
    let x = w.ok(
        "DescribeLoadBalancerAttributes",
        &[("LoadBalancerArn", &nlb)],
    );
    assert!(x.contains("<Key>load_balancing.cross_zone.enabled</Key><Value>false</Value>"));
    assert!(!x.contains("idle_timeout"));
}

#[test]
fn target_group_attributes_depend_on_protocol() {
    let mut w = World::new();
    let http = w.tg("http", "HTTP", "ip");
    let tcp = w.tg("tcp", "TCP", "ip");
    let modify = |w: &mut World, tg: &str, k: &str, v: &str| {
        w.outcome(
            "ModifyTargetGroupAttributes",
            &[
                ("TargetGroupArn", tg),
                ("Attributes.member.1.Key", k),
                ("Attributes.member.1.Value", v),
            ],
        )
    };
    assert_eq!(
        modify(&mut w, &tcp, "proxy_protocol_v2.enabled", "true"),
        Ok(())
    );
    assert_eq!(
        modify(&mut w, &tcp, "preserve_client_ip.enabled", "true"),
        Ok(())
    );
    assert_eq!(
        modify(&mut w, &http, "proxy_protocol_v2.enabled", "true"),
        Err("ValidationError".into())
    );
    assert_eq!(
        modify(
            &mut w,
            &http,
            "load_balancing.algorithm.type",
            "least_outstanding_requests"
        ),
        Ok(())
    );
    assert_eq!(
        modify(&mut w, &http, "load_balancing.algorithm.type", "random"),
        Err("ValidationError".into())
    );
    assert_eq!(
        modify(&mut w, &http, "stickiness.lb_cookie.duration_seconds", "0"),
        Err("ValidationError".into())
    );
    let x = w.ok("DescribeTargetGroupAttributes", &[("TargetGroupArn", &tcp)]);
    assert!(x.contains("<Key>proxy_protocol_v2.enabled</Key><Value>true</Value>"));
    assert!(x.contains("<Key>deregistration_delay.timeout_seconds</Key><Value>300</Value>"));
    assert!(x.contains("<Key>stickiness.type</Key><Value>source_ip</Value>"));
}

#[test]
fn tags_on_every_resource_kind() {
    let mut w = World::new();
    let x = w.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "web"),
            ("Subnets.member.1", "subnet-a"),
            ("Subnets.member.2", "subnet-b"),
            ("Tags.member.1.Key", "cluster"),
            ("Tags.member.1.Value", "c1"),
        ],
    );
    let lb = first(&x, "LoadBalancerArn");
    let tg = w.tg("pods", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &tg);
    let rule = w.rule(&l, "1", "/a", &tg).unwrap();
    for arn in [&lb, &tg, &l, &rule] {
        w.ok(
            "AddTags",
            &[
                ("ResourceArns.member.1", arn),
                ("Tags.member.1.Key", "owner"),
                ("Tags.member.1.Value", "svc/a"),
            ],
        );
    }
    let x = w.ok(
        "DescribeTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("ResourceArns.member.2", &tg),
            ("ResourceArns.member.3", &l),
            ("ResourceArns.member.4", &rule),
        ],
    );
    assert_eq!(
        all(&x, "ResourceArn"),
        vec![lb.clone(), tg.clone(), l.clone(), rule.clone()]
    );
    assert_eq!(
        all(&x, "Key"),
        vec!["cluster", "owner", "owner", "owner", "owner"]
    );
    w.ok(
        "RemoveTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("TagKeys.member.1", "cluster"),
        ],
    );
    let x = w.ok("DescribeTags", &[("ResourceArns.member.1", &lb)]);
    assert_eq!(all(&x, "Key"), vec!["owner"]);
    // AddTags overwrites a value.
    w.ok(
        "AddTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("Tags.member.1.Key", "owner"),
            ("Tags.member.1.Value", "svc/b"),
        ],
    );
    let x = w.ok("DescribeTags", &[("ResourceArns.member.1", &lb)]);
    assert_eq!(all(&x, "Value"), vec!["svc/b"]);
}

#[test]
fn tag_limits_duplicates_and_unknown_resources() {
    let mut w = World::with_quotas(|q| q.tags_per_resource = 3);
    let lb = w.alb("web");
    let dup = w.err(
        "AddTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.2.Key", "a"),
        ],
    );
    assert_eq!(dup, "DuplicateTagKeys");
    w.ok(
        "AddTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.2.Key", "b"),
            ("Tags.member.3.Key", "c"),
        ],
    );
    // Overwriting keeps the count.
    w.ok(
        "AddTags",
        &[("ResourceArns.member.1", &lb), ("Tags.member.1.Key", "a")],
    );
    assert_eq!(
        w.err(
            "AddTags",
            &[("ResourceArns.member.1", &lb), ("Tags.member.1.Key", "d")]
        ),
        "TooManyTags"
    );
    assert_eq!(
        w.err(
            "CreateTargetGroup",
            &[
                ("Name", "pods"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("VpcId", "vpc-1"),
                ("Tags.member.1.Key", "a"),
                ("Tags.member.2.Key", "b"),
                ("Tags.member.3.Key", "c"),
                ("Tags.member.4.Key", "d"),
            ]
        ),
        "TooManyTags"
    );
    assert_eq!(
        w.err(
            "AddTags",
            &[
                ("ResourceArns.member.1", &lb),
                ("Tags.member.1.Key", "aws:x")
            ]
        ),
        "ValidationError"
    );
    let ghost = lb.replace("/web/", "/ghost/");
    assert_eq!(
        w.err("DescribeTags", &[("ResourceArns.member.1", &ghost)]),
        "LoadBalancerNotFound"
    );
    let tg_ghost =
        "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/x/0000000000000000";
    assert_eq!(
        w.err(
            "AddTags",
            &[
                ("ResourceArns.member.1", tg_ghost),
                ("Tags.member.1.Key", "a")
            ]
        ),
        "TargetGroupNotFound"
    );
    assert_eq!(
        w.err("DescribeTags", &[("ResourceArns.member.1", "nope")]),
        "ValidationError"
    );
}

#[test]
fn account_limits_reflect_the_quotas() {
    let mut w = World::with_quotas(|q| q.rules_per_listener = 7);
    let x = w.ok("DescribeAccountLimits", &[]);
    assert!(x.contains("<Name>rules-per-application-load-balancer</Name><Max>7</Max>"));
    let x = w.ok(
        "DescribeSSLPolicies",
        &[("Names.member.1", "ELBSecurityPolicy-2016-08")],
    );
    assert_eq!(first(&x, "Name"), "ELBSecurityPolicy-2016-08");
    assert_eq!(
        w.err("DescribeSSLPolicies", &[("Names.member.1", "nope")]),
        "SSLPolicyNotFound"
    );
}
