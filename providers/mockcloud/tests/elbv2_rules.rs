//! ELBv2 through the real SDK, continued: rule conditions, actions and priorities, quotas,
//! target health transitions, tags, throttling and SSL policies.

mod elbv2_support;

use elbv2_support::*;

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
    let nodes = m
        .tg_of("nodes", ProtocolEnum::Tcp, 30080, TargetTypeEnum::Instance)
        .await;
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
