//! The load balancer specs the tests and the ensure bench build, and the minimal number of
//! calls creating them takes (the count is explained in the crate docs). The bench includes
//! this file by path, so both measure the same stacks the same way.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cloudnet_aws::lb::plan::{PlanContext, plan};
use cloudnet_core::{
    Action, BackendGroup, HealthCheck, IpAddressType, Listener, LoadBalancerKind, LoadBalancerSpec,
    Owner, OwnerKind, Protocol, Result, Scheme, Subnets, TargetKind,
};

/// The core's ALB fixture (three target groups with attributes, two listeners, two rules),
/// without its user security group, which the mock cloud does not have.
pub fn alb_fixture() -> LoadBalancerSpec {
    let mut spec: LoadBalancerSpec =
        serde_json::from_str(include_str!("../../../core/testdata/alb_spec.json"))
            .expect("the core's ALB fixture parses");
    spec.security_groups.clear();
    spec
}

/// The ALB fixture for Ingress `shop/web<i>`.
pub fn alb(i: usize) -> LoadBalancerSpec {
    let mut spec = alb_fixture();
    spec.owner = Owner::namespaced("prod", OwnerKind::Ingress, "shop", &format!("web{i}"));
    spec
}

/// An internal NLB for Service `default/<name>`: TCP 80 to pod IPs on 8080.
pub fn nlb(name: &str) -> LoadBalancerSpec {
    let key = format!("default/{name}:80");
    LoadBalancerSpec {
        owner: Owner::namespaced("prod", OwnerKind::Service, "default", name),
        kind: LoadBalancerKind::Network,
        scheme: Scheme::Internal,
        ip_address_type: IpAddressType::Ipv4,
        listeners: vec![Listener {
            port: 80,
            protocol: Protocol::Tcp,
            certificates: vec![],
            ssl_policy: None,
            default_action: Action::forward_to(key.clone()),
            rules: vec![],
        }],
        groups: vec![BackendGroup {
            key,
            protocol: Protocol::Tcp,
            port: 8080,
            target_kind: TargetKind::PodIp,
            // The mock refuses a timeout equal to the interval (the core's NLB defaults).
            health_check: HealthCheck {
                timeout_seconds: 6,
                ..HealthCheck::defaults_for(Protocol::Tcp)
            },
            attributes: BTreeMap::new(),
        }],
        attributes: BTreeMap::new(),
        subnets: Subnets::Discover,
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}

/// `albs` ALBs and `nlbs` NLBs, the ALBs first.
pub fn stacks(albs: usize, nlbs: usize) -> Vec<LoadBalancerSpec> {
    (0..albs)
        .map(alb)
        .chain((0..nlbs).map(|i| nlb(&format!("svc{i}"))))
        .collect()
}

/// The shared backend security group, once per cluster: one read to learn it is absent,
/// its creation, and the one rule on the nodes' group.
pub const BACKEND_SG_MINIMUM: u64 = 3;

/// Mutations a new stack needs.
pub fn minimal_calls(spec: &LoadBalancerSpec, node_sg: &str, backend_sg: bool) -> Result<u64> {
    let ctx = PlanContext {
        vpc_cidrs: Vec::new(),
        node_security_group: Some(node_sg.into()),
        backend_security_group: backend_sg,
    };
    let stack = plan(spec, &ctx)?;
    let mut n = 1; // CreateLoadBalancer
    if let Some(sg) = &stack.security_group {
        n += 1 + u64::from(!sg.ingress.is_empty());
    }
    // Without the shared group: each ALB's rule on the nodes' group.
    n += u64::from(stack.backend_access.is_some());
    n += stack.target_groups.len() as u64;
    n += stack
        .target_groups
        .iter()
        .filter(|t| !t.attributes.is_empty())
        .count() as u64;
    n += u64::from(!stack.load_balancer.attributes.is_empty());
    n += stack.listeners.len() as u64;
    n += stack
        .listeners
        .iter()
        .map(|l| l.rules.len() as u64)
        .sum::<u64>();
    Ok(n)
}

/// The minimum for creating all of `specs`: one read that finds them all absent (the
/// provider's first listing of the stacks, `lb/inventory.rs`), their mutations, and the
/// backend security group's once when an ALB carries it.
pub fn minimum_for(specs: &[LoadBalancerSpec], node_sg: &str, backend_sg: bool) -> Result<u64> {
    let any_alb = specs
        .iter()
        .any(|s| s.kind == LoadBalancerKind::Application);
    let mut n = 1 + if any_alb && backend_sg {
        BACKEND_SG_MINIMUM
    } else {
        0
    };
    for s in specs {
        n += minimal_calls(s, node_sg, backend_sg)?;
    }
    Ok(n)
}

/// True for a `service:Action` that changes state (every action but `Describe*`).
pub fn is_mutating(key: &str) -> bool {
    let action = key.split_once(':').map_or(key, |(_, a)| a);
    !action.starts_with("Describe")
}

/// Calls per `service:Action` made between two snapshots of the mock cloud's call log.
pub fn calls_since(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// The sum of the mutating entries.
pub fn mutating(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(k, _)| is_mutating(k))
        .map(|(_, n)| n)
        .sum()
}
