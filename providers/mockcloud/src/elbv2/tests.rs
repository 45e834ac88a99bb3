//! State-machine tests with a fake EC2 network and a hand-driven clock.

use std::collections::BTreeMap;

use super::*;

mod attributes_tags;
mod listeners_rules;
mod load_balancers;
mod targets;

/// An EC2 network: VPC `vpc-1` (10.0.0.0/16) with subnets in three zones, `vpc-2`
/// (10.1.0.0/16) with one subnet, security groups and instances.
#[derive(Default)]
pub(super) struct FakeNet {
    pub subnets: BTreeMap<String, SubnetInfo>,
    pub groups: BTreeMap<String, String>,
    pub vpcs: BTreeMap<String, Vec<ipnet::Ipv4Net>>,
    pub instances: BTreeMap<String, InstanceInfo>,
}

impl NetworkView for FakeNet {
    fn subnet(&self, id: &str) -> Option<SubnetInfo> {
        self.subnets.get(id).cloned()
    }
    fn security_group_vpc(&self, id: &str) -> Option<String> {
        self.groups.get(id).cloned()
    }
    fn vpc_cidrs(&self, vpc_id: &str) -> Vec<ipnet::Ipv4Net> {
        self.vpcs.get(vpc_id).cloned().unwrap_or_default()
    }
    fn instance(&self, id: &str) -> Option<InstanceInfo> {
        self.instances.get(id).cloned()
    }
}

fn net() -> FakeNet {
    let mut n = FakeNet::default();
    let cidr = |s: &str| s.parse::<ipnet::Ipv4Net>().unwrap();
    n.vpcs.insert("vpc-1".into(), vec![cidr("10.0.0.0/16")]);
    n.vpcs.insert("vpc-2".into(), vec![cidr("10.1.0.0/16")]);
    for (id, vpc, zone, c) in [
        ("subnet-a", "vpc-1", "us-west-2a", "10.0.0.0/24"),
        ("subnet-b", "vpc-1", "us-west-2b", "10.0.1.0/24"),
        ("subnet-c", "vpc-1", "us-west-2c", "10.0.2.0/24"),
        ("subnet-a2", "vpc-1", "us-west-2a", "10.0.3.0/24"),
        ("subnet-x", "vpc-2", "us-west-2b", "10.1.0.0/24"),
    ] {
        n.subnets.insert(
            id.into(),
            SubnetInfo {
                vpc_id: vpc.into(),
                availability_zone: zone.into(),
                cidr: cidr(c),
            },
        );
    }
    n.groups.insert("sg-1".into(), "vpc-1".into());
    n.groups.insert("sg-2".into(), "vpc-1".into());
    n.groups.insert("sg-x".into(), "vpc-2".into());
    for (id, vpc, running) in [
        ("i-run", "vpc-1", true),
        ("i-stopped", "vpc-1", false),
        ("i-other", "vpc-2", true),
    ] {
        n.instances.insert(
            id.into(),
            InstanceInfo {
                vpc_id: vpc.into(),
                running,
            },
        );
    }
    n
}

/// The ELBv2 state, its network and a clock the test moves.
pub(super) struct World {
    pub elb: Elbv2,
    pub net: FakeNet,
    pub now: Instant,
}

impl World {
    fn new() -> World {
        let config = Elbv2Config {
            health_check_delay_ms: 2_000,
            ..Elbv2Config::default()
        };
        World {
            elb: Elbv2::new("us-west-2", "123456789012", config),
            net: net(),
            now: Instant::now(),
        }
    }

    fn call(&mut self, action: &str, pairs: &[(&str, &str)]) -> Result<String, AwsError> {
        let p = Params::from_pairs(pairs.iter().copied());
        self.elb
            .handle(&self.net, action, &p, self.now)
            .map(Xml::into_string)
    }

    fn ok(&mut self, action: &str, pairs: &[(&str, &str)]) -> String {
        match self.call(action, pairs) {
            Ok(x) => x,
            Err(e) => panic!("{action} failed: {e}"),
        }
    }

    /// A call's outcome: `Ok` or the error's code.
    fn outcome(&mut self, action: &str, pairs: &[(&str, &str)]) -> Result<(), String> {
        self.call(action, pairs).map(|_| ()).map_err(|e| e.code)
    }

    fn err(&mut self, action: &str, pairs: &[(&str, &str)]) -> String {
        match self.call(action, pairs) {
            Ok(x) => panic!("{action} succeeded but should fail: {x}"),
            Err(e) => e.code,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }
}

/// The text of every `<tag>` in a document, in order.
fn all(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

fn first(xml: &str, tag: &str) -> String {
    all(xml, tag).into_iter().next().unwrap_or_default()
}

impl World {
    fn with_quotas(f: impl FnOnce(&mut Quotas)) -> World {
        let mut w = World::new();
        let mut config = w.elb.config().clone();
        f(&mut config.quotas);
        w.elb.set_config(config);
        w
    }

    /// An internet-facing ALB in subnets a and b of vpc-1.
    fn alb(&mut self, name: &str) -> String {
        let x = self.ok(
            "CreateLoadBalancer",
            &[
                ("Name", name),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-b"),
                ("SecurityGroups.member.1", "sg-1"),
            ],
        );
        first(&x, "LoadBalancerArn")
    }

    fn nlb(&mut self, name: &str) -> String {
        let x = self.ok(
            "CreateLoadBalancer",
            &[
                ("Name", name),
                ("Type", "network"),
                ("Subnets.member.1", "subnet-a"),
            ],
        );
        first(&x, "LoadBalancerArn")
    }

    fn tg(&mut self, name: &str, protocol: &str, target_type: &str) -> String {
        let x = self.ok(
            "CreateTargetGroup",
            &[
                ("Name", name),
                ("Protocol", protocol),
                ("Port", "8080"),
                ("VpcId", "vpc-1"),
                ("TargetType", target_type),
            ],
        );
        first(&x, "TargetGroupArn")
    }

    fn listener(&mut self, lb: &str, protocol: &str, port: &str, tg: &str) -> String {
        let x = self.ok(
            "CreateListener",
            &[
                ("LoadBalancerArn", lb),
                ("Protocol", protocol),
                ("Port", port),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", tg),
            ],
        );
        first(&x, "ListenerArn")
    }

    fn rule(
        &mut self,
        listener: &str,
        priority: &str,
        path: &str,
        tg: &str,
    ) -> Result<String, AwsError> {
        self.call(
            "CreateRule",
            &[
                ("ListenerArn", listener),
                ("Priority", priority),
                ("Conditions.member.1.Field", "path-pattern"),
                (
                    "Conditions.member.1.PathPatternConfig.Values.member.1",
                    path,
                ),
                ("Actions.member.1.Type", "forward"),
                ("Actions.member.1.TargetGroupArn", tg),
            ],
        )
        .map(|x| first(&x, "RuleArn"))
    }

    /// RegisterTargets of these ids (no port) to `tg`.
    fn register(&mut self, tg: &str, ids: &[&str]) -> String {
        self.targets("RegisterTargets", tg, ids)
    }

    /// DeregisterTargets of these ids (no port) from `tg`.
    fn deregister(&mut self, tg: &str, ids: &[&str]) -> String {
        self.targets("DeregisterTargets", tg, ids)
    }

    fn targets(&mut self, action: &str, tg: &str, ids: &[&str]) -> String {
        let keys: Vec<String> = (1..=ids.len())
            .map(|i| format!("Targets.member.{i}.Id"))
            .collect();
        let mut params = vec![("TargetGroupArn", tg)];
        params.extend(keys.iter().map(String::as_str).zip(ids.iter().copied()));
        self.ok(action, &params)
    }

    fn health(&mut self, tg: &str) -> Vec<String> {
        let x = self.ok("DescribeTargetHealth", &[("TargetGroupArn", tg)]);
        all(&x, "State")
    }
}

#[test]
fn unknown_actions_are_invalid_action() {
    let mut w = World::new();
    assert_eq!(w.err("CreateBucket", &[]), "InvalidAction");
}

#[test]
fn state_serialises_for_the_dump() {
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    w.listener(&lb, "HTTP", "80", &tg);
    let dbg = format!("{:?}", w.elb);
    assert!(dbg.contains("pods"));
    // Serialize is derived for the whole state; make sure it is usable as a trait object.
    fn is_serialize<T: Serialize>(_: &T) {}
    is_serialize(&w.elb);
}

/// Every action answers an empty or garbled request with an AWS error, never a panic.
#[test]
fn malformed_requests_get_errors_not_panics() {
    const ACTIONS: [&str; 31] = [
        "CreateLoadBalancer",
        "DescribeLoadBalancers",
        "DeleteLoadBalancer",
        "SetSecurityGroups",
        "SetSubnets",
        "SetIpAddressType",
        "DescribeLoadBalancerAttributes",
        "ModifyLoadBalancerAttributes",
        "CreateTargetGroup",
        "DescribeTargetGroups",
        "ModifyTargetGroup",
        "DeleteTargetGroup",
        "DescribeTargetGroupAttributes",
        "ModifyTargetGroupAttributes",
        "RegisterTargets",
        "DeregisterTargets",
        "DescribeTargetHealth",
        "CreateListener",
        "DescribeListeners",
        "ModifyListener",
        "DeleteListener",
        "CreateRule",
        "DescribeRules",
        "ModifyRule",
        "DeleteRule",
        "SetRulePriorities",
        "AddTags",
        "RemoveTags",
        "DescribeTags",
        "DescribeAccountLimits",
        "DescribeSSLPolicies",
    ];
    let mut w = World::new();
    let lb = w.alb("web");
    let tg = w.tg("pods", "HTTP", "ip");
    let l = w.listener(&lb, "HTTP", "80", &tg);
    let garbage: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![
            ("LoadBalancerArn", "x"),
            ("TargetGroupArn", ""),
            ("ListenerArn", "arn:aws:elasticloadbalancing:::"),
        ],
        vec![
            ("LoadBalancerArn", &lb),
            ("TargetGroupArn", &tg),
            ("ListenerArn", &l),
            (
                "RuleArn",
                "arn:aws:elasticloadbalancing:us-west-2:1:listener-rule/app/x",
            ),
            ("Port", "99999999999999999999"),
            ("Priority", "-1"),
            ("PageSize", "abc"),
            ("Marker", "mkr-zz"),
            ("Name", "\u{1}\u{2}"),
            ("Protocol", "HTTPS"),
            ("Subnets.member.1", ""),
            ("Targets.member.1.Id", ""),
            ("Targets.member.1.Port", "0"),
            ("Attributes.member.1.Key", ""),
            ("Tags.member.1.Value", "v"),
            ("Conditions.member.1.Field", "host-header"),
            ("Actions.member.1.Type", "forward"),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "x",
            ),
            ("DefaultActions.member.1.Type", "redirect"),
            ("RulePriorities.member.1.Priority", "1"),
            (
                "ResourceArns.member.1",
                "arn:aws:elasticloadbalancing:a:b:targetgroup",
            ),
            ("Certificates.member.1.CertificateArn", ""),
        ],
    ];
    for action in ACTIONS {
        for g in &garbage {
            // Only the absence of a panic matters; describes without scope may succeed.
            let _ = w.call(action, g);
        }
    }
    assert_eq!(w.err("CreateRule", &garbage[0]), "ValidationError");
}
