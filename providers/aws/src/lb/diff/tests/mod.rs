//! Whole diffs, no cloud: a planned stack and an observed one in, the change set out.

use std::collections::BTreeMap;

use cloudnet_core::ownership::TAG_RESOURCE;
use cloudnet_core::{ErrorKind, IpAddressType, LoadBalancerSpec, Scheme};

use super::*;
use crate::lb::observe::{ObservedBackendSg, ObservedListener, ObservedLoadBalancer};
use crate::lb::plan::{PlanContext, plan};

mod shared_sg;

const NODES: &str = "sg-nodes";
const FRONT: &str = "sg-front";
const BACKEND: &str = "sg-backend";
const LB_ARN: &str = "arn:lb";

fn spec() -> LoadBalancerSpec {
    serde_json::from_str(include_str!("../../../../../core/testdata/alb_spec.json"))
        .expect("the core's ALB fixture parses")
}

fn owner() -> Owner {
    spec().owner
}

/// The fixture's ALB as planned, subnets resolved; `shared` switches the shared backend
/// security group on.
fn stack_with(shared: bool) -> DesiredStack {
    let ctx = PlanContext {
        vpc_cidrs: vec!["10.0.0.0/16".into()],
        node_security_group: Some(NODES.into()),
        backend_security_group: shared,
    };
    let mut stack = plan(&spec(), &ctx).expect("the fixture plans");
    stack.load_balancer.subnets = vec!["subnet-a".into(), "subnet-b".into()];
    stack
}

fn stack() -> DesiredStack {
    stack_with(false)
}

fn tg_arn(name: &str) -> String {
    format!("arn:tg/{name}")
}

fn listener_arn(port: u16) -> String {
    format!("arn:listener/{port}")
}

fn rule_arn(port: u16, priority: i32) -> String {
    format!("arn:rule/{port}/{priority}")
}

/// What AWS holds once `stack` is applied (with the IDs above).
fn applied(stack: &DesiredStack) -> ObservedStack {
    let arns: BTreeMap<String, String> = stack
        .target_groups
        .iter()
        .map(|t| (t.key.clone(), tg_arn(&t.name)))
        .collect();
    let resolved = |a: &ElbAction| resolve_action(a, &arns).expect("every key has a group");
    let mut groups = stack.load_balancer.security_groups.clone();
    if stack.security_group.is_some() {
        groups.push(FRONT.into());
    }
    if stack.backend_ports.is_some() {
        groups.push(BACKEND.into());
    }
    let d = &stack.load_balancer;
    let load_balancer = ObservedLoadBalancer {
        actual: ActualLoadBalancer {
            arn: LB_ARN.into(),
            name: d.name.clone(),
            kind: Some(d.kind),
            scheme: Some(d.scheme),
            ip_address_type: Some(d.ip_address_type),
            subnets: d.subnets.iter().rev().cloned().collect(),
            security_groups: groups,
            dns_name: Some("lb.example.com".into()),
            vpc_id: None,
        },
        tags: d.tags.clone(),
        attributes: d.attributes.clone(),
    };
    let target_groups = stack
        .target_groups
        .iter()
        .map(|t| ObservedTargetGroup {
            actual: ActualTargetGroup {
                arn: tg_arn(&t.name),
                name: t.name.clone(),
                protocol: Some(t.protocol.clone()),
                port: Some(t.port),
                target_type: Some(t.target_type.clone()),
                health_check: t.health_check.clone(),
                load_balancer_arns: vec![LB_ARN.into()],
            },
            tags: t.tags.clone(),
            attributes: t.attributes.clone(),
        })
        .collect();
    let listeners = stack
        .listeners
        .iter()
        .map(|l| ObservedListener {
            actual: ActualListener {
                arn: listener_arn(l.port),
                port: l.port,
                protocol: Some(l.protocol.clone()),
                certificates: l.certificates.clone(),
                ssl_policy: l.ssl_policy.clone(),
                default_actions: vec![resolved(&l.default_action)],
            },
            rules: l
                .rules
                .iter()
                .map(|r| ActualRule {
                    arn: rule_arn(l.port, r.priority),
                    priority: r.priority,
                    conditions: r.conditions.clone(),
                    actions: vec![resolved(&r.action)],
                })
                .collect(),
        })
        .collect();
    let security_group = stack.security_group.as_ref().map(|g| ActualSecurityGroup {
        id: FRONT.into(),
        name: g.name.clone(),
        vpc_id: None,
        tags: g.tags.clone(),
        ingress: g.ingress.iter().cloned().collect(),
    });
    let node_rules = stack
        .backend_access
        .as_ref()
        .map(|a| a.rules(FRONT).into_iter().collect())
        .unwrap_or_default();
    let backend_sg = stack.backend_ports.as_ref().map(|ports| {
        let planned = super::backend_sg(&owner().cluster);
        ObservedBackendSg {
            group: Some(ActualSecurityGroup {
                id: BACKEND.into(),
                name: planned.name,
                vpc_id: None,
                tags: planned.tags,
                ingress: Vec::new(),
            }),
            node_rules: ports
                .iter()
                .map(|p| PortRange::from_tuple(p).rule_from(BACKEND))
                .collect(),
        }
    });
    ObservedStack {
        load_balancer: Some(load_balancer),
        target_groups,
        listeners,
        security_group,
        node_rules,
        backend_sg,
    }
}

fn changes(stack: &DesiredStack, observed: &ObservedStack) -> Vec<Change> {
    diff(&owner(), stack, observed, Some(NODES))
        .expect("a diff")
        .changes
}

fn summary(stack: &DesiredStack, observed: &ObservedStack) -> Vec<String> {
    changes(stack, observed)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn tcp(from: i32, to: i32) -> PortRange {
    PortRange {
        protocol: "tcp".into(),
        from_port: from,
        to_port: to,
    }
}

fn listener(stack: &DesiredStack, port: u16) -> DesiredListener {
    let l = stack.listeners.iter().find(|l| l.port == port);
    without_rules(l.expect("the fixture has the listener"))
}

#[test]
fn an_applied_stack_has_no_changes() {
    for shared in [false, true] {
        let s = stack_with(shared);
        let set = diff(&owner(), &s, &applied(&s), Some(NODES)).unwrap();
        assert_eq!(set.changes, Vec::<Change>::new(), "shared: {shared}");
        assert_eq!(set.load_balancer, Ref::Existing(LB_ARN.into()));
        assert_eq!(set.target_groups.len(), 3);
        assert!(
            set.target_groups
                .values()
                .all(|r| matches!(r, Ref::Existing(_)))
        );
    }
}

#[test]
fn creation_builds_every_part_in_dependency_order() {
    let s = stack();
    let sg = &s.security_group.as_ref().unwrap().name;
    let mut want = vec![
        format!("create security group {sg}"),
        format!("admit {sg} (new) on the nodes' group {NODES}"),
    ];
    want.extend(
        s.target_groups
            .iter()
            .map(|t| format!("create target group {}", t.name)),
    );
    want.extend([
        format!("create load balancer {}", s.load_balancer.name),
        "create listener 80".into(),
        "create listener 443".into(),
        "create rule 1 of listener 443".into(),
        "create rule 2 of listener 443".into(),
    ]);
    let set = diff(&owner(), &s, &ObservedStack::default(), Some(NODES)).unwrap();
    let got: Vec<String> = set.changes.iter().map(ToString::to_string).collect();
    assert_eq!(got, want);
    assert_eq!(
        set.changes.iter().filter(|c| c.is_create()).count(),
        set.len() - 1,
        "all but the nodes' rule create"
    );
    assert_eq!(set.load_balancer, Ref::New(s.load_balancer.name.clone()));
    let Some(Change::CreateLoadBalancer {
        security_groups, ..
    }) = set.changes.get(5)
    else {
        panic!("the load balancer sixth: {got:?}")
    };
    assert_eq!(
        security_groups,
        &vec![Ref::Existing("sg-0123".into()), Ref::New(sg.clone())]
    );
    assert_eq!(
        set.changes[1],
        Change::AdmitFrontend {
            node_security_group: NODES.into(),
            frontend: Ref::New(sg.clone()),
            authorize: vec![tcp(8080, 8080)],
            revoke: vec![],
        }
    );
    // It serialises for `cloudnet plan`, tagged with each change's kind.
    let json = serde_json::to_value(&set).unwrap();
    let kinds: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "createSecurityGroup",
            "admitFrontend",
            "createTargetGroup",
            "createTargetGroup",
            "createTargetGroup",
            "createLoadBalancer",
            "createListener",
            "createListener",
            "createRule",
            "createRule"
        ]
    );
}

type Drift = (
    &'static str,
    fn(&mut ObservedStack),
    fn(&DesiredStack) -> Vec<Change>,
);

fn modify_lb(f: impl FnOnce(&mut Change)) -> Vec<Change> {
    let mut c = Change::ModifyLoadBalancer {
        name: stack().load_balancer.name,
        arn: LB_ARN.into(),
        subnets: None,
        security_groups: None,
        ip_address_type: None,
        tags: TagChanges::default(),
        attributes: BTreeMap::new(),
    };
    f(&mut c);
    vec![c]
}

fn modify_tg(s: &DesiredStack, f: impl FnOnce(&mut Change)) -> Vec<Change> {
    let t = &s.target_groups[0];
    let mut c = Change::ModifyTargetGroup {
        key: t.key.clone(),
        name: t.name.clone(),
        arn: tg_arn(&t.name),
        health_check: None,
        tags: TagChanges::default(),
        attributes: BTreeMap::new(),
    };
    f(&mut c);
    vec![c]
}

fn listener_443(o: &mut ObservedStack) -> &mut ObservedListener {
    o.listeners
        .iter_mut()
        .find(|l| l.actual.port == 443)
        .unwrap()
}

fn attr(k: &str, v: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(k.to_string(), v.to_string())])
}

#[test]
fn drift_per_field_is_one_typed_change() {
    let cases: Vec<Drift> = vec![
        (
            "subnets",
            |o| o.load_balancer.as_mut().unwrap().actual.subnets = vec!["subnet-a".into()],
            |_| {
                modify_lb(|c| {
                    if let Change::ModifyLoadBalancer { subnets, .. } = c {
                        *subnets = Some(vec!["subnet-a".into(), "subnet-b".into()]);
                    }
                })
            },
        ),
        (
            "security groups",
            |o| o.load_balancer.as_mut().unwrap().actual.security_groups = vec!["sg-0123".into()],
            |_| {
                modify_lb(|c| {
                    if let Change::ModifyLoadBalancer {
                        security_groups, ..
                    } = c
                    {
                        *security_groups = Some(vec![
                            Ref::Existing("sg-0123".into()),
                            Ref::Existing(FRONT.into()),
                        ]);
                    }
                })
            },
        ),
        (
            "ip address type",
            |o| {
                o.load_balancer.as_mut().unwrap().actual.ip_address_type =
                    Some(IpAddressType::Dualstack)
            },
            |_| {
                modify_lb(|c| {
                    if let Change::ModifyLoadBalancer {
                        ip_address_type, ..
                    } = c
                    {
                        *ip_address_type = Some(IpAddressType::Ipv4);
                    }
                })
            },
        ),
        (
            "load balancer tag",
            |o| {
                let lb = o.load_balancer.as_mut().unwrap();
                lb.tags.insert("team".into(), "other".into());
                lb.tags.insert("stray".into(), "x".into());
            },
            |_| {
                modify_lb(|c| {
                    if let Change::ModifyLoadBalancer { tags, .. } = c {
                        tags.add = attr("team", "shop");
                        tags.remove = vec!["stray".into()];
                    }
                })
            },
        ),
        (
            "load balancer attribute",
            |o| {
                o.load_balancer.as_mut().unwrap().attributes =
                    attr("idle_timeout.timeout_seconds", "120")
            },
            |_| {
                modify_lb(|c| {
                    if let Change::ModifyLoadBalancer { attributes, .. } = c {
                        *attributes = attr("idle_timeout.timeout_seconds", "60");
                    }
                })
            },
        ),
        (
            "health check",
            |o| o.target_groups[0].actual.health_check.interval_seconds = 30,
            |s| {
                modify_tg(s, |c| {
                    if let Change::ModifyTargetGroup { health_check, .. } = c {
                        *health_check = Some(s.target_groups[0].health_check.clone());
                    }
                })
            },
        ),
        (
            "target group attribute",
            |o| o.target_groups[0].attributes.clear(),
            |s| {
                modify_tg(s, |c| {
                    if let Change::ModifyTargetGroup { attributes, .. } = c {
                        *attributes = attr("deregistration_delay.timeout_seconds", "30");
                    }
                })
            },
        ),
        (
            "target group tag",
            |o| {
                o.target_groups[0].tags.remove("team");
            },
            |s| {
                modify_tg(s, |c| {
                    if let Change::ModifyTargetGroup { tags, .. } = c {
                        tags.add = attr("team", "shop");
                    }
                })
            },
        ),
        (
            "certificate",
            |o| listener_443(o).actual.certificates = vec!["arn:cert/other".into()],
            |s| {
                vec![Change::ModifyListener {
                    port: 443,
                    arn: listener_arn(443),
                    changed: ListenerChanges {
                        certificate: true,
                        ..Default::default()
                    },
                    listener: listener(s, 443),
                }]
            },
        ),
        (
            "default action",
            |o| {
                o.listeners[0].actual.default_actions =
                    vec![ElbAction::FixedResponse(FixedResponseSettings {
                        status_code: "503".into(),
                        content_type: None,
                        message_body: None,
                    })]
            },
            |s| {
                vec![Change::ModifyListener {
                    port: 80,
                    arn: listener_arn(80),
                    changed: ListenerChanges {
                        default_action: true,
                        ..Default::default()
                    },
                    listener: listener(s, 80),
                }]
            },
        ),
        (
            "rule conditions",
            |o| {
                listener_443(o).rules[0].conditions =
                    vec![ElbCondition::new("path-pattern", ["/x".to_string()])]
            },
            |s| {
                vec![Change::ModifyRule {
                    listener: 443,
                    arn: rule_arn(443, 1),
                    conditions: true,
                    action: false,
                    rule: s.listeners[1].rules[0].clone(),
                }]
            },
        ),
        (
            "a rule nobody wants",
            |o| {
                let l = listener_443(o);
                let mut extra = l.rules[0].clone();
                extra.priority = 9;
                extra.arn = rule_arn(443, 9);
                l.rules.push(extra);
            },
            |_| {
                vec![Change::DeleteRule {
                    listener: 443,
                    priority: 9,
                    arn: rule_arn(443, 9),
                }]
            },
        ),
        (
            "a listener nobody wants",
            |o| {
                let mut extra = o.listeners[0].clone();
                extra.actual.port = 8443;
                extra.actual.arn = listener_arn(8443);
                o.listeners.push(extra);
            },
            |_| {
                vec![Change::DeleteListener {
                    port: 8443,
                    arn: listener_arn(8443),
                }]
            },
        ),
        (
            "a target group of ours nobody wants",
            |o| {
                let mut old = o.target_groups[0].clone();
                old.actual.name = "k8s-old".into();
                old.actual.arn = tg_arn("k8s-old");
                o.target_groups.push(old);
            },
            |_| {
                vec![Change::DeleteTargetGroup {
                    name: "k8s-old".into(),
                    arn: tg_arn("k8s-old"),
                }]
            },
        ),
        (
            "someone else's target group on our load balancer is left alone",
            |o| {
                let mut foreign = o.target_groups[0].clone();
                foreign.actual.name = "theirs".into();
                foreign.tags = attr("team", "other");
                o.target_groups.push(foreign);
            },
            |_| vec![],
        ),
        (
            "frontend ingress",
            |o| {
                let g = o.security_group.as_mut().unwrap();
                g.ingress.push(SgRule {
                    protocol: "tcp".into(),
                    from_port: 22,
                    to_port: 22,
                    source: SgSource::Cidr("0.0.0.0/0".into()),
                });
            },
            |s| {
                vec![Change::ModifySecurityGroup {
                    name: s.security_group.as_ref().unwrap().name.clone(),
                    id: FRONT.into(),
                    authorize: vec![],
                    revoke: vec![SgRule {
                        protocol: "tcp".into(),
                        from_port: 22,
                        to_port: 22,
                        source: SgSource::Cidr("0.0.0.0/0".into()),
                    }],
                    tags: TagChanges::default(),
                }]
            },
        ),
        (
            "the nodes' rule removed behind our back",
            |o| o.node_rules.clear(),
            |_| {
                vec![Change::AdmitFrontend {
                    node_security_group: NODES.into(),
                    frontend: Ref::Existing(FRONT.into()),
                    authorize: vec![tcp(8080, 8080)],
                    revoke: vec![],
                }]
            },
        ),
    ];
    let s = stack();
    for (name, drift, want) in cases {
        let mut observed = applied(&s);
        drift(&mut observed);
        assert_eq!(changes(&s, &observed), want(&s), "{name}");
    }
}

#[test]
fn foreign_resources_under_our_names_are_conflicts() {
    type Case = (&'static str, bool, fn(&mut ObservedStack), &'static str);
    let cases: Vec<Case> = vec![
        (
            "load balancer",
            false,
            |o| o.load_balancer.as_mut().unwrap().tags = attr("team", "shop"),
            "load balancer",
        ),
        (
            "managed security group",
            false,
            |o| o.security_group.as_mut().unwrap().tags.clear(),
            "security group",
        ),
        (
            "target group under a planned name",
            false,
            |o| o.target_groups[1].tags.clear(),
            "target group",
        ),
        (
            "a scheme AWS cannot change",
            false,
            |o| o.load_balancer.as_mut().unwrap().actual.scheme = Some(Scheme::Internal),
            "cannot be changed in place",
        ),
        (
            "shared backend security group",
            true,
            |o| {
                let b = o.backend_sg.as_mut().unwrap();
                b.group.as_mut().unwrap().tags = attr("team", "shop");
            },
            "shared backend security group",
        ),
    ];
    for (name, shared, foreign, says) in cases {
        let s = stack_with(shared);
        let mut observed = applied(&s);
        foreign(&mut observed);
        let err = diff(&owner(), &s, &observed, Some(NODES)).expect_err(name);
        assert_eq!(err.kind(), ErrorKind::Conflict, "{name}");
        assert_eq!(err.code(), "NotOwned", "{name}");
        assert!(err.to_string().contains(says), "{name}: {err}");
    }
}

#[test]
fn partial_stacks_left_by_a_crash_are_completed() {
    type Case = (
        &'static str,
        fn(&mut ObservedStack),
        fn(&DesiredStack) -> Vec<String>,
    );
    let cases: Vec<Case> = vec![
        (
            "died after the load balancer, before its listeners",
            |o| o.listeners.clear(),
            |_| {
                vec![
                    "create listener 80".into(),
                    "create listener 443".into(),
                    "create rule 1 of listener 443".into(),
                    "create rule 2 of listener 443".into(),
                ]
            },
        ),
        (
            "died after the security group, before the load balancer",
            |o| {
                o.load_balancer = None;
                o.target_groups.clear();
                o.listeners.clear();
            },
            |s| {
                let mut want: Vec<String> = s
                    .target_groups
                    .iter()
                    .map(|t| format!("create target group {}", t.name))
                    .collect();
                want.extend([
                    format!("create load balancer {}", s.load_balancer.name),
                    "create listener 80".into(),
                    "create listener 443".into(),
                    "create rule 1 of listener 443".into(),
                    "create rule 2 of listener 443".into(),
                ]);
                want
            },
        ),
        (
            "died between two target groups",
            |o| {
                o.target_groups
                    .retain(|t| t.tags.get(TAG_RESOURCE).map(String::as_str) != Some("shop/web:80"))
            },
            |s| {
                let web = s.target_group("shop/web:80").unwrap();
                vec![
                    format!("create target group {}", web.name),
                    "modify rule 2 of listener 443".into(),
                ]
            },
        ),
        (
            "died between two rules",
            |o| listener_443(o).rules.truncate(1),
            |_| vec!["create rule 2 of listener 443".into()],
        ),
    ];
    let s = stack();
    for (name, crash, want) in cases {
        let mut observed = applied(&s);
        crash(&mut observed);
        assert_eq!(summary(&s, &observed), want(&s), "{name}");
    }
}

#[test]
fn rules_of_a_new_listener_and_of_a_new_group_are_resolved_at_apply() {
    let s = stack();
    let mut observed = applied(&s);
    observed.listeners.retain(|l| l.actual.port != 443);
    let set = diff(&owner(), &s, &observed, Some(NODES)).unwrap();
    let Change::CreateRule {
        listener_ref, rule, ..
    } = &set.changes[1]
    else {
        panic!("{:?}", set.changes)
    };
    assert_eq!(listener_ref, &Ref::New("443".into()));
    // Actions keep group keys; apply resolves them to ARNs.
    assert_eq!(
        rule.action.target_groups().collect::<Vec<_>>(),
        ["shop/api-canary:80", "shop/api:80"]
    );
}
