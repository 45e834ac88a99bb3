//! Pure planning: a [`LoadBalancerSpec`] becomes the AWS resources it needs ([`DesiredStack`]).
//!
//! No I/O here. Subnets to be discovered and the managed security group's ID are filled in
//! later by the deployer; everything else (names, tags, rules, actions, attributes) is fixed
//! by the spec and the [`PlanContext`].

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::ownership::TAG_RESOURCE;
use cloudnet_core::{
    Action, BackendGroup, HealthCheck, HealthCheckPort, IpAddressType, Listener, LoadBalancerKind,
    LoadBalancerSpec, NameRules, PathMatch, Protocol, Result, Rule, RuleCondition, Scheme, Subnets,
    TargetKind, derive_name,
};

use super::model::*;

/// The TLS policy AWS picks when none is given; written explicitly so that AWS's echo of it
/// is not seen as drift.
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// What planning needs to know besides the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanContext {
    /// The VPC's IPv4 CIDRs: who may reach an internal ALB when the spec names no ranges.
    pub vpc_cidrs: Vec<String>,
    /// The nodes' security group, which lets the load balancers in.
    pub node_security_group: Option<String>,
    /// Load balancers reach the nodes through the cluster's shared backend security group (one rule
    /// on the nodes' group) instead of a rule per ALB from its managed group.
    pub backend_security_group: bool,
}

/// `HTTP`, `TCP_UDP`, ... as ELBv2 spells them.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "HTTP",
        Protocol::Https => "HTTPS",
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::TcpUdp => "TCP_UDP",
        Protocol::Tls => "TLS",
    }
}

pub fn target_type_name(k: TargetKind) -> &'static str {
    match k {
        TargetKind::PodIp => "ip",
        TargetKind::NodePort => "instance",
    }
}

pub fn kind_name(k: LoadBalancerKind) -> &'static str {
    match k {
        LoadBalancerKind::Application => "application",
        LoadBalancerKind::Network => "network",
    }
}

pub fn scheme_name(s: Scheme) -> &'static str {
    match s {
        Scheme::Internal => "internal",
        Scheme::InternetFacing => "internet-facing",
    }
}

pub fn ip_address_type_name(t: IpAddressType) -> &'static str {
    match t {
        IpAddressType::Ipv4 => "ipv4",
        IpAddressType::Dualstack => "dualstack",
    }
}

/// The load balancer's name. Kind and scheme are in the hash because AWS cannot change them
/// in place: a new kind or scheme is a new load balancer.
pub fn load_balancer_name(spec: &LoadBalancerSpec) -> String {
    derive_name(
        NameRules::Elbv2,
        &spec.owner,
        &["lb", kind_name(spec.kind), scheme_name(spec.scheme)],
    )
}

/// A target group's name. Protocol, port and target type are in the hash because AWS cannot
/// change them in place.
pub fn target_group_name(spec: &LoadBalancerSpec, group: &BackendGroup) -> String {
    let port = group.port.to_string();
    derive_name(
        NameRules::Elbv2,
        &spec.owner,
        &[
            "tg",
            &group.key,
            protocol_name(group.protocol),
            &port,
            target_type_name(group.target_kind),
        ],
    )
}

pub fn security_group_name(spec: &LoadBalancerSpec) -> String {
    derive_name(NameRules::Elbv2, &spec.owner, &["sg"])
}

/// Ownership tags with the user's tags under them (a user tag never overrides ownership).
fn tags_for(spec: &LoadBalancerSpec, resource: Option<&str>) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.extend(spec.owner.aws_tags());
    if let Some(r) = resource {
        tags.insert(TAG_RESOURCE.to_string(), r.to_string());
    }
    tags
}

pub fn health_check_settings(h: &HealthCheck) -> HealthCheckSettings {
    let l7 = h.protocol.is_l7();
    HealthCheckSettings {
        protocol: protocol_name(h.protocol).to_string(),
        port: match h.port {
            HealthCheckPort::TrafficPort => "traffic-port".to_string(),
            HealthCheckPort::Port(p) => p.to_string(),
        },
        path: if l7 {
            Some(h.path.clone().unwrap_or_else(|| "/".to_string()))
        } else {
            None
        },
        interval_seconds: clamp_i32(h.interval_seconds),
        timeout_seconds: clamp_i32(h.timeout_seconds),
        healthy_threshold: clamp_i32(h.healthy_threshold),
        unhealthy_threshold: clamp_i32(h.unhealthy_threshold),
        matcher: if l7 {
            Some(h.success_codes.clone().unwrap_or_else(|| "200".to_string()))
        } else {
            None
        },
    }
}

fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Kubernetes paths as ALB path patterns: `Prefix /api` matches `/api` and `/api/*`.
pub fn path_patterns(paths: &[PathMatch]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for p in paths {
        match p {
            PathMatch::Exact(v) => {
                out.insert(v.clone());
            }
            PathMatch::Prefix(v) => {
                let trimmed = v.trim_end_matches('/');
                if trimmed.is_empty() {
                    out.insert("/*".to_string());
                } else {
                    out.insert(trimmed.to_string());
                    out.insert(format!("{trimmed}/*"));
                }
            }
            PathMatch::Pattern(v) => {
                out.insert(v.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// A rule's conditions: host names, paths, the further conditions, or "any path" when none
/// is given (ELBv2 needs at least one condition on a non-default rule).
pub fn rule_conditions(rule: &Rule) -> Vec<ElbCondition> {
    let mut conditions = Vec::new();
    if !rule.hosts.is_empty() {
        conditions.push(ElbCondition::new(
            "host-header",
            rule.hosts.iter().map(|h| h.to_ascii_lowercase()),
        ));
    }
    for c in &rule.conditions {
        conditions.push(match c {
            RuleCondition::HttpHeader { name, values } => {
                ElbCondition::header(name, values.iter().cloned())
            }
            RuleCondition::HttpRequestMethod { values } => ElbCondition::new(
                "http-request-method",
                values.iter().map(|v| v.to_ascii_uppercase()),
            ),
            RuleCondition::QueryString { values } => {
                ElbCondition::query(values.iter().map(|q| (q.key.clone(), q.value.clone())))
            }
            RuleCondition::SourceIp { values } => {
                ElbCondition::new("source-ip", values.iter().map(|n| n.to_string()))
            }
        });
    }
    let paths = if rule.paths.is_empty() && conditions.is_empty() {
        vec!["/*".to_string()]
    } else {
        path_patterns(&rule.paths)
    };
    if !paths.is_empty() {
        conditions.push(ElbCondition::new("path-pattern", paths));
    }
    conditions.sort();
    conditions
}

/// An action with group keys for targets (resolved to ARNs by the deployer).
pub fn action(a: &Action) -> ElbAction {
    match a {
        Action::Forward { groups } => ElbAction::forward(
            groups
                .iter()
                .map(|g| TargetGroupWeight {
                    target_group: g.group.clone(),
                    weight: g.weight,
                })
                .collect(),
        ),
        Action::Redirect(r) => ElbAction::Redirect(RedirectSettings {
            protocol: r
                .protocol
                .map_or(RedirectSettings::DEFAULT_PROTOCOL.to_string(), |p| {
                    protocol_name(p).to_string()
                }),
            host: r
                .host
                .clone()
                .unwrap_or_else(|| RedirectSettings::DEFAULT_HOST.to_string()),
            port: r
                .port
                .map_or(RedirectSettings::DEFAULT_PORT.to_string(), |p| {
                    p.to_string()
                }),
            path: r
                .path
                .clone()
                .unwrap_or_else(|| RedirectSettings::DEFAULT_PATH.to_string()),
            query: r
                .query
                .clone()
                .unwrap_or_else(|| RedirectSettings::DEFAULT_QUERY.to_string()),
            status_code: format!("HTTP_{}", r.status_code),
        }),
        Action::FixedResponse(f) => ElbAction::FixedResponse(FixedResponseSettings {
            status_code: f.status_code.to_string(),
            content_type: f.content_type.clone(),
            message_body: f.body.clone(),
        }),
    }
}

fn listener(l: &Listener) -> DesiredListener {
    let mut rules: Vec<DesiredRule> = l
        .rules
        .iter()
        .map(|r| DesiredRule {
            priority: clamp_i32(r.priority),
            conditions: rule_conditions(r),
            action: action(&r.action),
        })
        .collect();
    rules.sort_by_key(|r| r.priority);
    DesiredListener {
        port: l.port,
        protocol: protocol_name(l.protocol).to_string(),
        certificates: l
            .certificates
            .iter()
            .filter_map(|c| c.name())
            .map(str::to_string)
            .collect(),
        ssl_policy: if l.protocol.needs_certificate() {
            Some(
                l.ssl_policy
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SSL_POLICY.to_string()),
            )
        } else {
            None
        },
        default_action: action(&l.default_action),
        rules,
    }
}

fn sg_protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "udp",
        Protocol::TcpUdp => "-1",
        _ => "tcp",
    }
}

/// The `(protocol, port, port)` the targets of the referenced groups listen on, health-check
/// ports included.
fn target_ports(
    spec: &LoadBalancerSpec,
    referenced: &BTreeSet<&str>,
) -> BTreeSet<(String, i32, i32)> {
    let mut ports = BTreeSet::new();
    for g in spec
        .groups
        .iter()
        .filter(|g| referenced.contains(g.key.as_str()))
    {
        let p = i32::from(g.port);
        ports.insert((sg_protocol(g.protocol).to_string(), p, p));
        if let HealthCheckPort::Port(hp) = g.health_check.port {
            let hp = i32::from(hp);
            ports.insert(("tcp".to_string(), hp, hp));
        }
    }
    ports
}

/// Turns a validated spec into the AWS resources it needs.
pub fn plan(spec: &LoadBalancerSpec, ctx: &PlanContext) -> Result<DesiredStack> {
    spec.validate()?;
    let mut subnets = match &spec.subnets {
        Subnets::Explicit(ids) => ids.clone(),
        Subnets::Discover | Subnets::Tagged(_) => Vec::new(),
    };
    subnets.sort();
    subnets.dedup();
    let mut security_groups = spec.security_groups.clone();
    security_groups.sort();
    security_groups.dedup();

    let load_balancer = DesiredLoadBalancer {
        name: load_balancer_name(spec),
        kind: spec.kind,
        scheme: spec.scheme,
        ip_address_type: spec.ip_address_type,
        subnets,
        security_groups,
        attributes: spec.attributes.clone(),
        tags: tags_for(spec, None),
    };

    // Only groups some action sends to become target groups: ELBv2 would report the others
    // `unused` forever.
    let referenced: BTreeSet<&str> = spec.referenced_groups().into_iter().collect();
    let target_groups: Vec<DesiredTargetGroup> = spec
        .groups
        .iter()
        .filter(|g| referenced.contains(g.key.as_str()))
        .map(|g| DesiredTargetGroup {
            key: g.key.clone(),
            name: target_group_name(spec, g),
            protocol: protocol_name(g.protocol).to_string(),
            port: g.port,
            target_type: target_type_name(g.target_kind).to_string(),
            health_check: health_check_settings(&g.health_check),
            attributes: g.attributes.clone(),
            tags: tags_for(spec, Some(&g.key)),
        })
        .collect();

    let mut listeners: Vec<DesiredListener> = spec.listeners.iter().map(listener).collect();
    listeners.sort_by_key(|l| l.port);

    let (security_group, backend_access) = if spec.kind == LoadBalancerKind::Application {
        let sources: Vec<String> = if !spec.source_ranges.is_empty() {
            spec.source_ranges.iter().map(|r| r.to_string()).collect()
        } else if spec.scheme == Scheme::InternetFacing {
            let mut all = vec!["0.0.0.0/0".to_string()];
            if spec.ip_address_type == IpAddressType::Dualstack {
                all.push("::/0".to_string());
            }
            all
        } else {
            ctx.vpc_cidrs.clone()
        };
        let ingress = spec
            .listeners
            .iter()
            .flat_map(|l| {
                sources.iter().map(move |s| SgRule {
                    protocol: "tcp".to_string(),
                    from_port: i32::from(l.port),
                    to_port: i32::from(l.port),
                    source: SgSource::Cidr(s.clone()),
                })
            })
            .collect();
        let sg = DesiredSecurityGroup {
            name: security_group_name(spec),
            description: format!(
                "cloudnet managed security group for {} {}",
                spec.owner.kind.as_str(),
                spec.owner.object_ref()
            ),
            tags: tags_for(spec, Some("security-group")),
            ingress,
        };
        let backend = ctx
            .node_security_group
            .as_ref()
            .filter(|_| !ctx.backend_security_group)
            .map(|node_sg| DesiredBackendAccess {
                node_security_group: node_sg.clone(),
                ports: target_ports(spec, &referenced),
            });
        (Some(sg), backend)
    } else {
        (None, None)
    };

    // The shared backend security group rides on every load balancer that has security groups: ALBs
    // always, NLBs only when created with some (AWS cannot add groups to an NLB later).
    let has_groups = spec.kind == LoadBalancerKind::Application || !spec.security_groups.is_empty();
    let backend_ports =
        (ctx.backend_security_group && ctx.node_security_group.is_some() && has_groups)
            .then(|| target_ports(spec, &referenced));

    Ok(DesiredStack {
        load_balancer,
        target_groups,
        listeners,
        security_group,
        backend_access,
        backend_ports,
    })
}

/// Replaces the group keys in an action by target group ARNs.
pub fn resolve_action(
    action: &ElbAction,
    arns: &BTreeMap<String, String>,
) -> Result<ElbAction, String> {
    match action {
        ElbAction::Forward { groups } => {
            let mut out = Vec::with_capacity(groups.len());
            for g in groups {
                let arn = arns
                    .get(&g.target_group)
                    .ok_or_else(|| g.target_group.clone())?;
                out.push(TargetGroupWeight {
                    target_group: arn.clone(),
                    weight: g.weight,
                });
            }
            Ok(ElbAction::forward(out))
        }
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
