//! Table tests of the pure planning: specs -> the AWS resources they need.

use cloudnet_core::{
    BackendGroup, FixedResponse, Owner, OwnerKind, Redirect, WeightedGroup, ownership::TAG_CLUSTER,
};

use super::*;

fn alb_spec() -> LoadBalancerSpec {
    let json = include_str!("../../../core/testdata/alb_spec.json");
    serde_json::from_str(json).expect("the core's ALB fixture parses")
}

fn nlb_spec() -> LoadBalancerSpec {
    LoadBalancerSpec {
        owner: Owner::namespaced("prod", OwnerKind::Service, "default", "dns"),
        kind: LoadBalancerKind::Network,
        scheme: Scheme::Internal,
        ip_address_type: IpAddressType::Ipv4,
        listeners: vec![Listener {
            port: 53,
            protocol: Protocol::Udp,
            certificates: vec![],
            ssl_policy: None,
            default_action: Action::forward_to("default/dns:53"),
            rules: vec![],
        }],
        groups: vec![BackendGroup::new(
            "default/dns:53",
            Protocol::Udp,
            30053,
            TargetKind::NodePort,
        )],
        attributes: BTreeMap::new(),
        subnets: Subnets::Explicit(vec!["subnet-b".into(), "subnet-a".into()]),
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}

fn ctx() -> PlanContext {
    PlanContext {
        vpc_cidrs: vec!["10.0.0.0/16".into()],
        node_security_group: Some("sg-nodes".into()),
        backend_security_group: false,
    }
}

fn shared_ctx() -> PlanContext {
    PlanContext {
        backend_security_group: true,
        ..ctx()
    }
}

#[test]
fn shared_backend_sg_replaces_the_per_alb_rule() {
    let alb = plan(&alb_spec(), &shared_ctx()).unwrap();
    assert!(alb.backend_access.is_none(), "no rule per ALB");
    assert!(alb.security_group.is_some(), "the frontend group stays");
    assert_eq!(
        alb.backend_ports,
        Some(BTreeSet::from([("tcp".to_string(), 8080, 8080)]))
    );
    assert_eq!(plan(&alb_spec(), &ctx()).unwrap().backend_ports, None);

    // An NLB carries it only when it has security groups at all.
    let nlb = plan(&nlb_spec(), &shared_ctx()).unwrap();
    assert_eq!(nlb.backend_ports, None);
    let mut with_groups = nlb_spec();
    with_groups.security_groups = vec!["sg-user".into()];
    with_groups.groups[0].health_check.port = HealthCheckPort::Port(10254);
    assert_eq!(
        plan(&with_groups, &shared_ctx()).unwrap().backend_ports,
        Some(BTreeSet::from([
            ("tcp".to_string(), 10254, 10254),
            ("udp".to_string(), 30053, 30053),
        ]))
    );

    // Without a nodes' group there is nothing to let the backend security group into.
    let no_nodes = PlanContext {
        node_security_group: None,
        ..shared_ctx()
    };
    assert_eq!(plan(&alb_spec(), &no_nodes).unwrap().backend_ports, None);
}

#[test]
fn alb_fixture_becomes_the_full_stack() {
    let spec = alb_spec();
    let stack = plan(&spec, &ctx()).unwrap();
    let lb = &stack.load_balancer;
    assert_eq!(lb.kind, LoadBalancerKind::Application);
    assert!(NameRules::Elbv2.is_valid(&lb.name), "{}", lb.name);
    assert_eq!(lb.tags[TAG_CLUSTER], "prod");
    assert_eq!(lb.tags["team"], "shop");
    assert_eq!(lb.tags["kubernetes.io/cluster/prod"], "owned");
    assert_eq!(lb.attributes["idle_timeout.timeout_seconds"], "60");
    assert!(lb.subnets.is_empty(), "discovered later");

    assert_eq!(stack.target_groups.len(), 3);
    let names: BTreeSet<_> = stack.target_groups.iter().map(|t| &t.name).collect();
    assert_eq!(names.len(), 3, "one name per group");
    let web = stack.target_group("shop/web:80").unwrap();
    assert_eq!(web.target_type, "instance");
    assert_eq!(web.tags[TAG_RESOURCE], "shop/web:80");
    assert_eq!(web.health_check.port, "traffic-port");
    assert_eq!(web.health_check.matcher.as_deref(), Some("200"));
    assert_eq!(stack.target_group("shop/api:80").unwrap().target_type, "ip");

    let [http, https] = stack.listeners.as_slice() else {
        panic!("two listeners: {:?}", stack.listeners);
    };
    assert_eq!((http.port, https.port), (80, 443));
    assert_eq!(
        http.default_action,
        ElbAction::Redirect(RedirectSettings {
            protocol: "HTTPS".into(),
            host: "#{host}".into(),
            port: "443".into(),
            path: "/#{path}".into(),
            query: "#{query}".into(),
            status_code: "HTTP_301".into(),
        })
    );
    assert_eq!(
        https.ssl_policy.as_deref(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(https.rules.len(), 2);
    let r1 = &https.rules[0];
    assert_eq!(r1.priority, 1);
    assert_eq!(
        r1.conditions,
        vec![
            ElbCondition::new("host-header", ["shop.example.com".to_string()]),
            ElbCondition::new("path-pattern", ["/api".to_string(), "/api/*".to_string()]),
        ]
    );
    assert_eq!(
        r1.action,
        ElbAction::Forward {
            groups: vec![
                TargetGroupWeight {
                    target_group: "shop/api-canary:80".into(),
                    weight: 10
                },
                TargetGroupWeight {
                    target_group: "shop/api:80".into(),
                    weight: 90
                },
            ]
        }
    );

    let sg = stack.security_group.as_ref().unwrap();
    assert!(sg.tags.contains_key(TAG_CLUSTER));
    // Source ranges from the spec, on both listener ports.
    let want: BTreeSet<SgRule> = [80, 443]
        .into_iter()
        .map(|p| SgRule {
            protocol: "tcp".into(),
            from_port: p,
            to_port: p,
            source: SgSource::Cidr("10.0.0.0/8".into()),
        })
        .collect();
    assert_eq!(sg.ingress, want);
    let backend = stack.backend_access.as_ref().unwrap();
    assert_eq!(backend.node_security_group, "sg-nodes");
    assert_eq!(
        backend.ports,
        BTreeSet::from([("tcp".to_string(), 8080, 8080)])
    );
    assert_eq!(
        backend.rules("sg-lb").into_iter().next().unwrap().source,
        SgSource::Group("sg-lb".into())
    );
}

#[test]
fn nlb_has_no_security_group_and_sorted_explicit_subnets() {
    let stack = plan(&nlb_spec(), &ctx()).unwrap();
    assert_eq!(stack.load_balancer.subnets, vec!["subnet-a", "subnet-b"]);
    assert!(stack.security_group.is_none());
    assert!(stack.backend_access.is_none());
    let tg = &stack.target_groups[0];
    assert_eq!(tg.protocol, "UDP");
    assert_eq!(tg.health_check.protocol, "TCP");
    assert_eq!(tg.health_check.path, None);
    assert_eq!(tg.health_check.matcher, None);
    assert_eq!(stack.listeners[0].ssl_policy, None);
}

#[test]
fn names_change_with_what_aws_cannot_modify() {
    let spec = nlb_spec();
    let base = plan(&spec, &ctx()).unwrap();
    let mut other = spec.clone();
    other.scheme = Scheme::InternetFacing;
    assert_ne!(
        plan(&other, &ctx()).unwrap().load_balancer.name,
        base.load_balancer.name
    );
    let mut other = spec.clone();
    other.groups[0].port = 30054;
    assert_ne!(
        plan(&other, &ctx()).unwrap().target_groups[0].name,
        base.target_groups[0].name
    );
    let mut other = spec.clone();
    other.groups[0].health_check.interval_seconds = 30;
    let replanned = plan(&other, &ctx()).unwrap();
    assert_eq!(
        replanned.target_groups[0].name, base.target_groups[0].name,
        "health checks are modified in place"
    );
    assert_eq!(
        plan(&spec, &ctx()).unwrap(),
        base,
        "planning is deterministic"
    );
}

#[test]
fn user_tags_never_override_ownership() {
    let mut spec = nlb_spec();
    spec.tags.insert(TAG_CLUSTER.into(), "someone-else".into());
    let stack = plan(&spec, &ctx()).unwrap();
    assert_eq!(stack.load_balancer.tags[TAG_CLUSTER], "prod");
}

#[test]
fn path_patterns_table() {
    let cases: &[(&[PathMatch], &[&str])] = &[
        (
            &[PathMatch::Pattern("/v?/items/*".into())],
            &["/v?/items/*"],
        ),
        (&[PathMatch::Prefix("/".into())], &["/*"]),
        (&[PathMatch::Prefix("/api".into())], &["/api", "/api/*"]),
        (&[PathMatch::Prefix("/api/".into())], &["/api", "/api/*"]),
        (&[PathMatch::Exact("/x".into())], &["/x"]),
        (
            &[PathMatch::Exact("/b".into()), PathMatch::Exact("/a".into())],
            &["/a", "/b"],
        ),
        (&[], &[]),
    ];
    for (input, want) in cases {
        assert_eq!(path_patterns(input), *want, "{input:?}");
    }
}

#[test]
fn conditions_table() {
    let rule = |hosts: &[&str], paths: Vec<PathMatch>| Rule {
        priority: 1,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        paths,
        conditions: Vec::new(),
        action: Action::FixedResponse(FixedResponse {
            status_code: 200,
            content_type: None,
            body: None,
        }),
    };
    let cases = [
        (
            rule(&[], vec![]),
            vec![ElbCondition::new("path-pattern", ["/*".to_string()])],
        ),
        (
            rule(&["A.example.com"], vec![]),
            vec![ElbCondition::new(
                "host-header",
                ["a.example.com".to_string()],
            )],
        ),
        (
            rule(&["b", "a"], vec![PathMatch::Exact("/x".into())]),
            vec![
                ElbCondition::new("host-header", ["a".to_string(), "b".to_string()]),
                ElbCondition::new("path-pattern", ["/x".to_string()]),
            ],
        ),
        (
            Rule {
                conditions: vec![RuleCondition::HttpRequestMethod {
                    values: vec!["post".into()],
                }],
                ..rule(&[], vec![])
            },
            vec![ElbCondition::new(
                "http-request-method",
                ["POST".to_string()],
            )],
        ),
        (
            Rule {
                conditions: vec![
                    RuleCondition::SourceIp {
                        values: vec!["10.1.0.0/16".parse().unwrap()],
                    },
                    RuleCondition::HttpHeader {
                        name: "X-Env".into(),
                        values: vec!["b".into(), "a".into()],
                    },
                ],
                ..rule(&[], vec![PathMatch::Prefix("/api".into())])
            },
            vec![
                ElbCondition::header("X-Env", ["a".to_string(), "b".to_string()]),
                ElbCondition::new("path-pattern", ["/api".to_string(), "/api/*".to_string()]),
                ElbCondition::new("source-ip", ["10.1.0.0/16".to_string()]),
            ],
        ),
    ];
    for (r, want) in cases {
        assert_eq!(rule_conditions(&r), want, "{r:?}");
    }
}

#[test]
fn actions_normalise_like_aws_describes_them() {
    let single = action(&Action::Forward {
        groups: vec![WeightedGroup {
            group: "g".into(),
            weight: 7,
        }],
    });
    assert_eq!(
        single,
        ElbAction::Forward {
            groups: vec![TargetGroupWeight {
                target_group: "g".into(),
                weight: 1
            }]
        }
    );
    let redirect = action(&Action::Redirect(Redirect {
        protocol: None,
        host: Some("example.com".into()),
        port: None,
        path: None,
        query: None,
        status_code: 302,
    }));
    let ElbAction::Redirect(r) = redirect else {
        panic!("a redirect")
    };
    assert_eq!(r.protocol, "#{protocol}");
    assert_eq!(r.host, "example.com");
    assert_eq!(r.status_code, "HTTP_302");
}

#[test]
fn resolve_action_swaps_keys_for_arns_or_names_the_missing_key() {
    let arns = BTreeMap::from([("g".to_string(), "arn:tg/g".to_string())]);
    let a = ElbAction::forward(vec![TargetGroupWeight {
        target_group: "g".into(),
        weight: 1,
    }]);
    assert_eq!(
        resolve_action(&a, &arns)
            .unwrap()
            .target_groups()
            .collect::<Vec<_>>(),
        vec!["arn:tg/g"]
    );
    let missing = ElbAction::forward(vec![TargetGroupWeight {
        target_group: "h".into(),
        weight: 1,
    }]);
    assert_eq!(resolve_action(&missing, &arns), Err("h".to_string()));
}

#[test]
fn internal_alb_without_ranges_admits_the_vpc() {
    let mut spec = alb_spec();
    spec.scheme = Scheme::Internal;
    spec.source_ranges.clear();
    let stack = plan(&spec, &ctx()).unwrap();
    let sources: BTreeSet<_> = stack
        .security_group
        .unwrap()
        .ingress
        .into_iter()
        .map(|r| r.source)
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from([SgSource::Cidr("10.0.0.0/16".into())])
    );
}

#[test]
fn invalid_specs_are_refused() {
    let mut spec = nlb_spec();
    spec.listeners.clear();
    assert!(plan(&spec, &ctx()).is_err());
}
