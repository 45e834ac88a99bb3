//! State-machine tests with a fake EC2 network and a hand-driven clock.

use std::collections::BTreeMap;

use super::*;

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

#[test]
fn smoke() {
    let mut w = World::new();
    let x = w.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "web"),
            ("Subnets.member.1", "subnet-a"),
            ("Subnets.member.2", "subnet-b"),
        ],
    );
    assert!(
        first(&x, "LoadBalancerArn").starts_with(
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/web/"
        )
    );
    assert_eq!(w.err("Nope", &[]), "InvalidAction");
}

#[test]
fn target_turns_healthy_after_the_delay_once_in_use() {
    let mut w = World::new();
    let lb = first(
        &w.ok(
            "CreateLoadBalancer",
            &[
                ("Name", "web"),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-b"),
            ],
        ),
        "LoadBalancerArn",
    );
    let tg = first(
        &w.ok(
            "CreateTargetGroup",
            &[
                ("Name", "pods"),
                ("Protocol", "HTTP"),
                ("Port", "8080"),
                ("VpcId", "vpc-1"),
                ("TargetType", "ip"),
            ],
        ),
        "TargetGroupArn",
    );
    w.ok(
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg),
            ("Targets.member.1.Id", "10.0.0.10"),
        ],
    );
    let health = |w: &mut World| {
        first(
            &w.ok("DescribeTargetHealth", &[("TargetGroupArn", &tg)]),
            "State",
        )
    };
    assert_eq!(health(&mut w), "unused");
    w.ok(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(health(&mut w), "initial");
    w.advance(2_000);
    assert_eq!(health(&mut w), "healthy");
}
