use super::*;

#[test]
fn target_group_shapes_and_defaults() {
    let mut w = World::new();
    let x = w.ok(
        "CreateTargetGroup",
        &[
            ("Name", "pods"),
            ("Protocol", "HTTP"),
            ("Port", "8080"),
            ("VpcId", "vpc-1"),
            ("TargetType", "ip"),
        ],
    );
    let arn = first(&x, "TargetGroupArn");
    let id = arn
        .strip_prefix("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/pods/")
        .unwrap();
    assert_eq!(id.len(), 16);
    assert_eq!(first(&x, "HealthCheckProtocol"), "HTTP");
    assert_eq!(first(&x, "HealthCheckPort"), "traffic-port");
    assert_eq!(first(&x, "HealthCheckPath"), "/");
    assert_eq!(first(&x, "HealthCheckIntervalSeconds"), "30");
    assert_eq!(first(&x, "HealthCheckTimeoutSeconds"), "5");
    assert_eq!(first(&x, "HttpCode"), "200");
    assert_eq!(first(&x, "ProtocolVersion"), "HTTP1");
    let x = w.ok(
        "CreateTargetGroup",
        &[
            ("Name", "nodes"),
            ("Protocol", "TCP"),
            ("Port", "30080"),
            ("VpcId", "vpc-1"),
        ],
    );
    assert_eq!(first(&x, "TargetType"), "instance");
    assert_eq!(first(&x, "HealthCheckTimeoutSeconds"), "10");
    assert_eq!(first(&x, "HealthCheckProtocol"), "TCP");
    assert!(all(&x, "HealthCheckPath").is_empty());
    let x = w.ok(
        "CreateTargetGroup",
        &[("Name", "fn"), ("TargetType", "lambda")],
    );
    assert_eq!(first(&x, "HealthCheckEnabled"), "false");
    assert!(all(&x, "VpcId").is_empty());
}

#[test]
fn target_group_parameters_are_validated() {
    let mut w = World::new();
    let base = [("Protocol", "HTTP"), ("Port", "80"), ("VpcId", "vpc-1")];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("Name", "a_b")], "ValidationError"),
        (
            vec![("Name", "t"), ("TargetType", "pod")],
            "ValidationError",
        ),
        (vec![("Name", "t"), ("Protocol", "SMTP")], "ValidationError"),
        (vec![("Name", "t"), ("Port", "0")], "ValidationError"),
        (
            vec![("Name", "t"), ("VpcId", "vpc-nope")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("TargetType", "lambda")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("TargetType", "alb")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("HealthCheckIntervalSeconds", "4")],
            "ValidationError",
        ),
        (
            vec![
                ("Name", "t"),
                ("HealthCheckIntervalSeconds", "10"),
                ("HealthCheckTimeoutSeconds", "10"),
            ],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("HealthyThresholdCount", "11")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("HealthCheckProtocol", "TCP")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("HealthCheckPath", "health")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("Matcher.HttpCode", "700")],
            "ValidationError",
        ),
        (
            vec![("Name", "t"), ("HealthCheckPort", "70000")],
            "ValidationError",
        ),
    ];
    for (overrides, code) in cases {
        let mut p: BTreeMap<&str, &str> = base.iter().copied().collect();
        p.extend(overrides.iter().copied());
        let pairs: Vec<(&str, &str)> = p.into_iter().collect();
        assert_eq!(w.err("CreateTargetGroup", &pairs), code, "{overrides:?}");
    }
    // A TCP group's health-check path needs an HTTP health check.
    assert_eq!(
        w.err(
            "CreateTargetGroup",
            &[
                ("Name", "t"),
                ("Protocol", "TCP"),
                ("Port", "80"),
                ("VpcId", "vpc-1"),
                ("HealthCheckPath", "/healthz"),
            ]
        ),
        "ValidationError"
    );
    // With an HTTP health check it is fine.
    w.ok(
        "CreateTargetGroup",
        &[
            ("Name", "t"),
            ("Protocol", "TCP"),
            ("Port", "80"),
            ("VpcId", "vpc-1"),
            ("HealthCheckProtocol", "HTTP"),
            ("HealthCheckPath", "/healthz"),
        ],
    );
}

#[test]
fn duplicate_names_quota_modify_and_delete() {
    let mut w = World::with_quotas(|q| q.target_groups = 2);
    let a = w.tg("pods", "HTTP", "ip");
    assert_eq!(a, w.tg("pods", "HTTP", "ip"));
    assert_eq!(
        w.err(
            "CreateTargetGroup",
            &[
                ("Name", "pods"),
                ("Protocol", "HTTP"),
                ("Port", "9090"),
                ("VpcId", "vpc-1"),
            ]
        ),
        "DuplicateTargetGroupName"
    );
    w.tg("two", "TCP", "ip");
    assert_eq!(
        w.err(
            "CreateTargetGroup",
            &[
                ("Name", "three"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("VpcId", "vpc-1"),
            ]
        ),
        "TooManyTargetGroups"
    );
    let x = w.ok(
        "ModifyTargetGroup",
        &[
            ("TargetGroupArn", &a),
            ("HealthCheckIntervalSeconds", "10"),
            ("HealthCheckPath", "/ready"),
        ],
    );
    assert_eq!(first(&x, "HealthCheckIntervalSeconds"), "10");
    assert_eq!(first(&x, "HealthCheckPath"), "/ready");
    assert_eq!(
        w.err(
            "ModifyTargetGroup",
            &[("TargetGroupArn", &a), ("HealthCheckTimeoutSeconds", "20")]
        ),
        "ValidationError"
    );
    let ghost = a.replace("/pods/", "/ghost/");
    assert_eq!(
        w.err("ModifyTargetGroup", &[("TargetGroupArn", &ghost)]),
        "TargetGroupNotFound"
    );
    assert_eq!(
        w.err("DescribeTargetGroups", &[("Names.member.1", "ghost")]),
        "TargetGroupNotFound"
    );

    let lb = w.alb("web");
    w.listener(&lb, "HTTP", "80", &a);
    assert_eq!(
        w.err("DeleteTargetGroup", &[("TargetGroupArn", &a)]),
        "ResourceInUse"
    );
    let x = w.ok("DescribeTargetGroups", &[("LoadBalancerArn", &lb)]);
    assert_eq!(all(&x, "TargetGroupName"), vec!["pods"]);
    assert_eq!(
        first(&x, "LoadBalancerArns"),
        format!("<member>{lb}</member>")
    );
    w.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]);
    w.ok("DeleteTargetGroup", &[("TargetGroupArn", &a)]);
    // Deleting again succeeds.
    w.ok("DeleteTargetGroup", &[("TargetGroupArn", &a)]);
}

#[test]
fn ip_targets_must_be_in_the_vpc_or_explicitly_outside() {
    let mut w = World::new();
    let tg = w.tg("pods", "HTTP", "ip");
    let reg = |w: &mut World, id: &str, az: Option<&str>| {
        let mut p = vec![("TargetGroupArn", tg.as_str()), ("Targets.member.1.Id", id)];
        if let Some(az) = az {
            p.push(("Targets.member.1.AvailabilityZone", az));
        }
        w.outcome("RegisterTargets", &p)
    };
    assert_eq!(reg(&mut w, "10.0.5.5", None), Ok(()));
    assert_eq!(reg(&mut w, "10.1.0.5", None), Err("ValidationError".into()));
    assert_eq!(reg(&mut w, "10.1.0.5", Some("all")), Ok(()));
    assert_eq!(
        reg(&mut w, "10.0.5.6", Some("all")),
        Err("ValidationError".into()),
        "an address inside the VPC cannot have its zone overridden to all"
    );
    assert_eq!(
        reg(&mut w, "8.8.8.8", Some("all")),
        Err("ValidationError".into())
    );
    assert_eq!(reg(&mut w, "not-an-ip", None), Err("InvalidTarget".into()));
    assert_eq!(reg(&mut w, "", None), Err("ValidationError".into()));
}

#[test]
fn instance_targets_must_exist_run_and_be_in_the_vpc() {
    let mut w = World::new();
    let tg = w.tg("nodes", "TCP", "instance");
    for (id, code) in [
        ("i-nope", Some("InvalidTarget")),
        ("i-stopped", Some("InvalidTarget")),
        ("i-other", Some("InvalidTarget")),
        ("i-run", None),
    ] {
        let r = w.call(
            "RegisterTargets",
            &[
                ("TargetGroupArn", &tg),
                ("Targets.member.1.Id", id),
                ("Targets.member.1.Port", "30080"),
            ],
        );
        assert_eq!(r.err().map(|e| e.code), code.map(str::to_string), "{id}");
    }
    // An instance that stops after registration is reported, not dropped.
    w.net.instances.get_mut("i-run").unwrap().running = false;
    let x = w.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    assert_eq!(first(&x, "Reason"), "Target.InvalidState");
}

#[test]
fn targets_per_group_quota() {
    let mut w = World::with_quotas(|q| q.targets_per_target_group = 3);
    let tg = w.tg("pods", "HTTP", "ip");
    w.register(&tg, &["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    // Registering a registered target again is a no-op, not a new target.
    w.register(&tg, &["10.0.0.1"]);
    assert_eq!(
        w.err(
            "RegisterTargets",
            &[("TargetGroupArn", &tg), ("Targets.member.1.Id", "10.0.0.4")]
        ),
        "TooManyTargets"
    );
    // The same address on another port is another target.
    assert_eq!(
        w.err(
            "RegisterTargets",
            &[
                ("TargetGroupArn", &tg),
                ("Targets.member.1.Id", "10.0.0.1"),
                ("Targets.member.1.Port", "9000"),
            ]
        ),
        "TooManyTargets"
    );
}

#[test]
fn health_moves_from_unused_to_initial_to_healthy() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    w.register(&tg, &["10.0.0.10"]);
    let x = w.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    assert_eq!(first(&x, "State"), "unused");
    assert_eq!(first(&x, "Reason"), "Target.NotInUse");
    assert_eq!(first(&x, "HealthCheckPort"), "8080");
    w.advance(5_000);
    // Health checks start when the group starts receiving traffic, not at registration.
    w.listener(&lb, "HTTP", "80", &tg);
    let x = w.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    assert_eq!(first(&x, "State"), "initial");
    assert_eq!(first(&x, "Reason"), "Elb.RegistrationInProgress");
    w.advance(1_999);
    assert_eq!(w.health(&tg), vec!["initial"]);
    w.advance(1);
    let x = w.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    assert_eq!(first(&x, "State"), "healthy");
    assert!(all(&x, "Reason").is_empty());
    // A target registered later starts its own clock.
    w.register(&tg, &["10.0.0.11"]);
    let mut states = w.health(&tg);
    states.sort();
    assert_eq!(states, vec!["healthy", "initial"]);
}

#[test]
fn deregistration_drains_for_the_delay_then_forgets() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    w.listener(&lb, "HTTP", "80", &tg);
    w.ok(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "3"),
        ],
    );
    w.register(&tg, &["10.0.0.10", "10.0.0.11"]);
    w.deregister(&tg, &["10.0.0.10"]);
    let x = w.ok(
        "DescribeTargetHealth",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.10"),
        ],
    );
    assert_eq!(first(&x, "State"), "draining");
    assert_eq!(first(&x, "Reason"), "Target.DeregistrationInProgress");
    w.advance(2_999);
    assert_eq!(w.health(&tg).len(), 2);
    w.advance(1);
    assert_eq!(w.health(&tg).len(), 1);
    let x = w.ok(
        "DescribeTargetHealth",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.10"),
        ],
    );
    assert_eq!(first(&x, "Reason"), "Target.NotRegistered");
    assert_eq!(
        w.err(
            "DeregisterTargets",
            &[
                ("TargetGroupArn", &tg),
                ("Targets.member.1.Id", "10.0.0.99")
            ]
        ),
        "InvalidTarget"
    );
}

#[test]
fn deregistering_from_an_unused_group_is_immediate() {
    let mut w = World::new();
    let tg = w.tg("pods", "HTTP", "ip");
    w.register(&tg, &["10.0.0.10"]);
    w.deregister(&tg, &["10.0.0.10"]);
    assert!(w.health(&tg).is_empty());
}

#[test]
fn reregistering_a_draining_target_restarts_it() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    w.listener(&lb, "HTTP", "80", &tg);
    let t = [
        ("TargetGroupArn", tg.as_str()),
        ("Targets.member.1.Id", "10.0.0.10"),
    ];
    w.ok("RegisterTargets", &t);
    w.ok("DeregisterTargets", &t);
    assert_eq!(w.health(&tg), vec!["draining"]);
    w.ok("RegisterTargets", &t);
    assert_eq!(w.health(&tg), vec!["initial"]);
}

#[test]
fn fault_knob_marks_targets_unhealthy() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    w.listener(&lb, "HTTP", "80", &tg);
    w.register(&tg, &["10.0.0.10"]);
    w.advance(2_000);
    w.elb.set_target_unhealthy("10.0.0.10", true);
    let x = w.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]);
    assert_eq!(first(&x, "State"), "unhealthy");
    assert_eq!(first(&x, "Reason"), "Target.FailedHealthChecks");
    w.elb.set_target_unhealthy("10.0.0.10", false);
    assert_eq!(w.health(&tg), vec!["healthy"]);
}

#[test]
fn lambda_and_alb_targets() {
    let mut w = World::new();
    let x = w.ok(
        "CreateTargetGroup",
        &[("Name", "fn"), ("TargetType", "lambda")],
    );
    let tg = first(&x, "TargetGroupArn");
    let f = "arn:aws:lambda:us-west-2:123456789012:function:f";
    assert_eq!(
        w.err(
            "RegisterTargets",
            &[("TargetGroupArn", &tg), ("Targets.member.1.Id", "10.0.0.1")]
        ),
        "InvalidTarget"
    );
    w.ok(
        "RegisterTargets",
        &[("TargetGroupArn", &tg), ("Targets.member.1.Id", f)],
    );
    assert_eq!(
        w.err(
            "RegisterTargets",
            &[
                ("TargetGroupArn", &tg),
                ("Targets.member.1.Id", &format!("{f}2"))
            ]
        ),
        "TooManyTargets"
    );

    let alb = w.alb("web");
    let albtg = w.tg("to-alb", "TCP", "alb");
    w.ok(
        "RegisterTargets",
        &[
            ("TargetGroupArn", &albtg),
            ("Targets.member.1.Id", &alb),
            ("Targets.member.1.Port", "8080"),
        ],
    );
    let nlb = w.nlb("edge");
    assert_eq!(
        w.err(
            "RegisterTargets",
            &[("TargetGroupArn", &albtg), ("Targets.member.1.Id", &nlb)]
        ),
        "InvalidTarget"
    );
}

#[test]
fn network_target_groups_accept_a_timeout_equal_to_the_interval() {
    let mut w = World::new();
    let equal = |protocol: &'static str, name: &'static str| {
        vec![
            ("Name", name),
            ("Protocol", protocol),
            ("Port", "80"),
            ("VpcId", "vpc-1"),
            ("HealthCheckIntervalSeconds", "10"),
            ("HealthCheckTimeoutSeconds", "10"),
        ]
    };
    w.ok("CreateTargetGroup", &equal("TCP", "tcp"));
    assert_eq!(
        w.call("CreateTargetGroup", &equal("HTTP", "http"))
            .map_err(|e| e.code),
        Err("ValidationError".to_string())
    );
    let mut longer = equal("TCP", "tcp2");
    longer[5].1 = "11";
    assert_eq!(
        w.call("CreateTargetGroup", &longer).map_err(|e| e.code),
        Err("ValidationError".to_string())
    );
}
