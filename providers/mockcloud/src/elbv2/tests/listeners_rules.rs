use super::*;

const CERT: &str = "arn:aws:acm:us-west-2:123456789012:certificate/abc";

#[test]
fn listener_and_rule_arns_extend_the_load_balancer_arn() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &tg);
    let lb_stem = lb.split_once(":loadbalancer/").unwrap().1;
    let rest = l
        .strip_prefix(&format!(
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/{lb_stem}/"
        ))
        .unwrap();
    assert_eq!(rest.len(), 16);
    let rule = w.rule(&l, "1", "/a", &tg).unwrap();
    let l_stem = l.split_once(":listener/").unwrap().1;
    assert!(rule.starts_with(&format!(
        "arn:aws:elasticloadbalancing:us-west-2:123456789012:listener-rule/{l_stem}/"
    )));
    let x = w.ok("DescribeListeners", &[("LoadBalancerArn", &lb)]);
    assert_eq!(first(&x, "Port"), "80");
    assert_eq!(first(&x, "Type"), "forward");
    assert_eq!(all(&x, "TargetGroupArn")[0], tg);
    assert_eq!(first(&x, "Weight"), "1");
}

#[test]
fn protocols_must_fit_the_load_balancer_type() {
    let mut w = World::new();
    let alb = w.alb("web");
    let nlb = w.nlb("edge");
    let http = w.tg("http", "HTTP", "ip");
    let tcp = w.tg("tcp", "TCP", "ip");
    let udp = w.tg("udp", "UDP", "ip");
    let try_listener = |w: &mut World, lb: &str, proto: &str, tg: &str| {
        w.outcome(
            "CreateListener",
            &[
                ("LoadBalancerArn", lb),
                ("Protocol", proto),
                ("Port", "81"),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", tg),
            ],
        )
    };
    assert_eq!(
        try_listener(&mut w, &alb, "TCP", &tcp),
        Err("UnsupportedProtocol".into())
    );
    assert_eq!(
        try_listener(&mut w, &nlb, "HTTP", &http),
        Err("UnsupportedProtocol".into())
    );
    assert_eq!(
        try_listener(&mut w, &alb, "HTTP", &tcp),
        Err("IncompatibleProtocols".into())
    );
    assert_eq!(
        try_listener(&mut w, &nlb, "TCP", &http),
        Err("IncompatibleProtocols".into())
    );
    assert_eq!(
        try_listener(&mut w, &nlb, "TCP", &udp),
        Err("IncompatibleProtocols".into())
    );
    assert_eq!(
        try_listener(&mut w, &nlb, "FTP", &tcp),
        Err("ValidationError".into())
    );
    assert_eq!(try_listener(&mut w, &nlb, "UDP", &udp), Ok(()));
    assert_eq!(try_listener(&mut w, &alb, "HTTP", &http), Ok(()));
}

#[test]
fn tls_listeners_need_certificates_and_known_policies() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut p = vec![
            ("Protocol", "HTTPS"),
            ("Port", "443"),
            ("DefaultActions.member.1.Type", "forward"),
        ];
        p.extend_from_slice(extra);
        p
    };
    let call = |w: &mut World, extra: &[(&'static str, &'static str)]| {
        let mut p = base(extra);
        p.push(("LoadBalancerArn", &lb));
        p.push(("DefaultActions.member.1.TargetGroupArn", &tg));
        w.call("CreateListener", &p).map_err(|e| e.code)
    };
    assert_eq!(call(&mut w, &[]).unwrap_err(), "ValidationError");
    assert_eq!(
        call(
            &mut w,
            &[("Certificates.member.1.CertificateArn", "cert-1")]
        )
        .unwrap_err(),
        "CertificateNotFound"
    );
    assert_eq!(
        call(
            &mut w,
            &[
                ("Certificates.member.1.CertificateArn", CERT),
                ("SslPolicy", "MyPolicy")
            ]
        )
        .unwrap_err(),
        "SSLPolicyNotFound"
    );
    let x = call(&mut w, &[("Certificates.member.1.CertificateArn", CERT)]).unwrap();
    assert_eq!(
        first(&x, "SslPolicy"),
        "ELBSecurityPolicy-TLS13-1-2-2021-06"
    );
    assert_eq!(first(&x, "CertificateArn"), CERT);
}

#[test]
fn one_listener_per_port_and_a_quota() {
    let mut w = World::with_quotas(|q| q.listeners_per_load_balancer = 2);
    let lb = w.alb("web");
    let a = w.tg("a", "HTTP", "ip");
    let b = w.tg("b", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &a);
    // Same settings: the same listener.
    assert_eq!(l, w.listener(&lb, "HTTP", "80", &a));
    let dup = w.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &b),
        ],
    );
    assert_eq!(dup, "DuplicateListener");
    let l2 = w.listener(&lb, "HTTP", "8080", &b);
    let too_many = w.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "9090"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &b),
        ],
    );
    assert_eq!(too_many, "TooManyListeners");
    assert_eq!(
        w.err("ModifyListener", &[("ListenerArn", &l2), ("Port", "80")]),
        "DuplicateListener"
    );
    let x = w.ok("ModifyListener", &[("ListenerArn", &l2), ("Port", "81")]);
    assert_eq!(first(&x, "Port"), "81");
}

#[test]
fn target_groups_must_be_in_the_vpc_and_on_one_load_balancer() {
    let mut w = World::new();
    let lb1 = w.alb("one");
    let lb2 = w.alb("two");
    let tg = w.tg("pods", "HTTP", "ip");
    w.listener(&lb1, "HTTP", "80", &tg);
    let code = w.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb2),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(code, "TargetGroupAssociationLimit");
    // Another listener of the same load balancer may use it.
    w.listener(&lb1, "HTTP", "8080", &tg);

    let x = w.ok(
        "CreateTargetGroup",
        &[
            ("Name", "elsewhere"),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("VpcId", "vpc-2"),
            ("TargetType", "ip"),
        ],
    );
    let other = first(&x, "TargetGroupArn");
    let code = w.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb2),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &other),
        ],
    );
    assert_eq!(code, "InvalidConfigurationRequest");
    let ghost = tg.replace("/pods/", "/ghost/");
    let code = w.err(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb2),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &ghost),
        ],
    );
    assert_eq!(code, "TargetGroupNotFound");
}

#[test]
fn actions_are_validated() {
    let mut w = World::new();
    let lb = w.alb("web");
    let nlb = w.nlb("edge");
    let tgs: Vec<String> = (0..6)
        .map(|i| w.tg(&format!("t{i}"), "HTTP", "ip"))
        .collect();
    let act = |w: &mut World, lb: &str, proto: &str, extra: Vec<(String, String)>| {
        let mut p: Vec<(String, String)> = vec![
            ("LoadBalancerArn".into(), lb.into()),
            ("Protocol".into(), proto.into()),
            ("Port".into(), "80".into()),
        ];
        p.extend(extra);
        let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        w.call("CreateListener", &refs).map_err(|e| e.code)
    };
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    let weighted = |n: usize, weight: &str| {
        let mut v = vec![s("DefaultActions.member.1.Type", "forward")];
        for (i, t) in tgs.iter().take(n).enumerate() {
            v.push(s(
                &format!(
                    "DefaultActions.member.1.ForwardConfig.TargetGroups.member.{}.TargetGroupArn",
                    i + 1
                ),
                t,
            ));
            v.push(s(
                &format!(
                    "DefaultActions.member.1.ForwardConfig.TargetGroups.member.{}.Weight",
                    i + 1
                ),
                weight,
            ));
        }
        v
    };
    assert_eq!(
        act(&mut w, &lb, "HTTP", weighted(6, "1")).unwrap_err(),
        "TooManyTargetGroups"
    );
    assert_eq!(
        act(&mut w, &lb, "HTTP", weighted(2, "1000")).unwrap_err(),
        "ValidationError"
    );
    assert_eq!(
        act(
            &mut w,
            &lb,
            "HTTP",
            vec![s("DefaultActions.member.1.Type", "forward")]
        )
        .unwrap_err(),
        "ValidationError"
    );
    assert_eq!(
        act(
            &mut w,
            &lb,
            "HTTP",
            vec![s("DefaultActions.member.1.Type", "teleport")]
        )
        .unwrap_err(),
        "ValidationError"
    );
    let redirect_loop = vec![
        s("DefaultActions.member.1.Type", "redirect"),
        s(
            "DefaultActions.member.1.RedirectConfig.StatusCode",
            "HTTP_301",
        ),
    ];
    assert_eq!(
        act(&mut w, &lb, "HTTP", redirect_loop).unwrap_err(),
        "InvalidLoadBalancerAction"
    );
    let bad_fixed = vec![
        s("DefaultActions.member.1.Type", "fixed-response"),
        s(
            "DefaultActions.member.1.FixedResponseConfig.StatusCode",
            "302",
        ),
    ];
    assert_eq!(
        act(&mut w, &lb, "HTTP", bad_fixed).unwrap_err(),
        "ValidationError"
    );
    let fixed_on_nlb = vec![
        s("DefaultActions.member.1.Type", "fixed-response"),
        s(
            "DefaultActions.member.1.FixedResponseConfig.StatusCode",
            "404",
        ),
    ];
    assert_eq!(
        act(&mut w, &nlb, "TCP", fixed_on_nlb).unwrap_err(),
        "InvalidLoadBalancerAction"
    );

    let x = act(&mut w, &lb, "HTTP", weighted(5, "20")).unwrap();
    assert_eq!(all(&x, "Weight"), vec!["20"; 5]);
    // With several groups there is no top-level TargetGroupArn, only ForwardConfig.
    assert_eq!(all(&x, "TargetGroupArn").len(), 5);

    let redirect = [
        s("DefaultActions.member.1.Type", "redirect"),
        s("DefaultActions.member.1.RedirectConfig.Protocol", "HTTPS"),
        s("DefaultActions.member.1.RedirectConfig.Port", "443"),
        s(
            "DefaultActions.member.1.RedirectConfig.StatusCode",
            "HTTP_301",
        ),
    ];
    let x = w
        .call(
            "CreateListener",
            &[
                ("LoadBalancerArn", lb.as_str()),
                ("Protocol", "HTTP"),
                ("Port", "8081"),
                (&redirect[0].0, &redirect[0].1),
                (&redirect[1].0, &redirect[1].1),
                (&redirect[2].0, &redirect[2].1),
                (&redirect[3].0, &redirect[3].1),
            ],
        )
        .unwrap();
    assert_eq!(first(&x, "Host"), "#{host}");
    assert_eq!(first(&x, "StatusCode"), "HTTP_301");
}

#[test]
fn rules_priorities_quota_and_default_rule() {
    let mut w = World::with_quotas(|q| q.rules_per_listener = 3);
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &tg);
    let r10 = w.rule(&l, "10", "/a/*", &tg).unwrap();
    assert_eq!(
        w.rule(&l, "10", "/b/*", &tg).unwrap_err().code,
        "PriorityInUse"
    );
    let r5 = w.rule(&l, "5", "/b/*", &tg).unwrap();
    w.rule(&l, "7", "/c/*", &tg).unwrap();
    assert_eq!(
        w.rule(&l, "8", "/d/*", &tg).unwrap_err().code,
        "TooManyRules"
    );
    assert_eq!(
        w.rule(&l, "0", "/d/*", &tg).unwrap_err().code,
        "ValidationError"
    );
    assert_eq!(
        w.rule(&l, "50001", "/d/*", &tg).unwrap_err().code,
        "ValidationError"
    );

    let x = w.ok("DescribeRules", &[("ListenerArn", &l)]);
    assert_eq!(all(&x, "Priority"), vec!["5", "7", "10", "default"]);
    assert_eq!(
        all(&x, "IsDefault"),
        vec!["false", "false", "false", "true"]
    );
    let default_rule = all(&x, "RuleArn").pop().unwrap();
    assert_eq!(
        w.err("DeleteRule", &[("RuleArn", &default_rule)]),
        "OperationNotPermitted"
    );
    assert_eq!(
        w.err(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &default_rule),
                ("RulePriorities.member.1.Priority", "1"),
            ]
        ),
        "OperationNotPermitted"
    );

    // Swap 5 and 10 in one call.
    let x = w.ok(
        "SetRulePriorities",
        &[
            ("RulePriorities.member.1.RuleArn", &r10),
            ("RulePriorities.member.1.Priority", "5"),
            ("RulePriorities.member.2.RuleArn", &r5),
            ("RulePriorities.member.2.Priority", "10"),
        ],
    );
    assert_eq!(all(&x, "Priority"), vec!["5", "10"]);
    assert_eq!(
        w.err(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &r10),
                ("RulePriorities.member.1.Priority", "7"),
            ]
        ),
        "PriorityInUse"
    );
    assert_eq!(
        w.err(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &r10),
                ("RulePriorities.member.1.Priority", "1"),
                ("RulePriorities.member.2.RuleArn", &r5),
                ("RulePriorities.member.2.Priority", "1"),
            ]
        ),
        "ValidationError"
    );

    w.ok("DeleteRule", &[("RuleArn", &r5)]);
    assert_eq!(w.err("DeleteRule", &[("RuleArn", &r5)]), "RuleNotFound");
    // Deleting the listener deletes its rules.
    w.ok("DeleteListener", &[("ListenerArn", &l)]);
    assert_eq!(
        w.err("DescribeRules", &[("RuleArns.member.1", &r10)]),
        "RuleNotFound"
    );
    assert_eq!(
        w.err("DeleteListener", &[("ListenerArn", &l)]),
        "ListenerNotFound"
    );
    assert_eq!(
        w.err("DescribeRules", &[("ListenerArn", &l)]),
        "ListenerNotFound"
    );
}

#[test]
fn rule_conditions_are_validated_and_written_back() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &tg);
    let x = w.ok(
        "CreateRule",
        &[
            ("ListenerArn", &l),
            ("Priority", "1"),
            ("Conditions.member.1.Field", "host-header"),
            (
                "Conditions.member.1.HostHeaderConfig.Values.member.1",
                "a.example.com",
            ),
            ("Conditions.member.2.Field", "http-header"),
            (
                "Conditions.member.2.HttpHeaderConfig.HttpHeaderName",
                "X-Env",
            ),
            (
                "Conditions.member.2.HttpHeaderConfig.Values.member.1",
                "prod",
            ),
            ("Conditions.member.3.Field", "query-string"),
            (
                "Conditions.member.3.QueryStringConfig.Values.member.1.Key",
                "v",
            ),
            (
                "Conditions.member.3.QueryStringConfig.Values.member.1.Value",
                "2",
            ),
            ("Conditions.member.4.Field", "http-request-method"),
            (
                "Conditions.member.4.HttpRequestMethodConfig.Values.member.1",
                "GET",
            ),
            ("Conditions.member.5.Field", "source-ip"),
            (
                "Conditions.member.5.SourceIpConfig.Values.member.1",
                "10.0.0.0/8",
            ),
            ("Actions.member.1.Type", "fixed-response"),
            ("Actions.member.1.FixedResponseConfig.StatusCode", "503"),
            (
                "Actions.member.1.FixedResponseConfig.ContentType",
                "text/plain",
            ),
            ("Actions.member.1.FixedResponseConfig.MessageBody", "down"),
        ],
    );
    assert_eq!(
        all(&x, "Field"),
        vec![
            "host-header",
            "http-header",
            "query-string",
            "http-request-method",
            "source-ip"
        ]
    );
    assert_eq!(first(&x, "HttpHeaderName"), "X-Env");
    assert_eq!(first(&x, "MessageBody"), "down");
    let rule = first(&x, "RuleArn");
    // Six values are one too many.
    let code = w.err(
        "ModifyRule",
        &[
            ("RuleArn", &rule),
            ("Conditions.member.1.Field", "path-pattern"),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.1",
                "/1",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.2",
                "/2",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.3",
                "/3",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.4",
                "/4",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.5",
                "/5",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.6",
                "/6",
            ),
        ],
    );
    assert_eq!(code, "ValidationError");
    let x = w.ok(
        "ModifyRule",
        &[
            ("RuleArn", &rule),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/api/*"),
        ],
    );
    assert_eq!(all(&x, "Field"), vec!["path-pattern"]);
    assert_eq!(
        w.err("ModifyRule", &[("RuleArn", &rule)]),
        "ValidationError"
    );
    // A rule needs a condition.
    let code = w.err(
        "CreateRule",
        &[
            ("ListenerArn", &l),
            ("Priority", "2"),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(code, "ValidationError");
}

#[test]
fn rules_are_for_application_load_balancers() {
    let mut w = World::new();
    let nlb = w.nlb("edge");
    let tg = w.tg("nodes", "TCP", "ip");
    let l = w.listener(&nlb, "TCP", "80", &tg);
    assert_eq!(
        w.rule(&l, "1", "/a", &tg).unwrap_err().code,
        "InvalidConfigurationRequest"
    );
}

#[test]
fn rules_move_health_and_usage() {
    let mut w = World::new();
    let lb = w.alb("web");
    let a = w.tg("a", "HTTP", "ip");
    let b = w.tg("b", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &a);
    w.register(&b, &["10.0.0.10"]);
    assert_eq!(w.health(&b), vec!["unused"]);
    let r = w.rule(&l, "1", "/b/*", &b).unwrap();
    assert_eq!(w.health(&b), vec!["initial"]);
    assert_eq!(
        w.err("DeleteTargetGroup", &[("TargetGroupArn", &b)]),
        "ResourceInUse"
    );
    w.ok(
        "ModifyRule",
        &[
            ("RuleArn", &r),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", &a),
        ],
    );
    assert_eq!(w.health(&b), vec!["unused"]);
    w.ok("DeleteTargetGroup", &[("TargetGroupArn", &b)]);
}

#[test]
fn describe_listeners_pages_and_needs_a_scope() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    for port in ["80", "81", "82"] {
        w.listener(&lb, "HTTP", port, &tg);
    }
    let x = w.ok(
        "DescribeListeners",
        &[("LoadBalancerArn", &lb), ("PageSize", "2")],
    );
    assert_eq!(all(&x, "Port"), vec!["80", "81"]);
    let m = first(&x, "NextMarker");
    let x = w.ok(
        "DescribeListeners",
        &[("LoadBalancerArn", &lb), ("PageSize", "2"), ("Marker", &m)],
    );
    assert_eq!(all(&x, "Port"), vec!["82"]);
    assert!(all(&x, "NextMarker").is_empty());
    assert_eq!(w.err("DescribeListeners", &[]), "ValidationError");
}
