//! Spec -> [`DesiredStack`], pure: the names, the GCLB resources and their references.
//!
//! ```text
//!  L7 (Application):  forwarding rule (global, per listener) ─> target HTTP(S) proxy
//!                     ─> URL map (host rules, path matchers) ─> backend service per group
//!                     ─> zonal GCE_VM_IP_PORT NEGs (per zone with targets) + health check
//!  L4 (Network):      forwarding rule (regional, per protocol, with the ports)
//!                     ─> backend service (regional, per protocol, EXTERNAL / INTERNAL)
//!                     ─> zonal GCE_VM_IP NEGs (the nodes) + health check
//!  both:              firewall rules letting the traffic and health checks in
//!                     ([`super::firewall`])
//! ```
//!
//! Every name comes from [`derive_name`] of the owner and what tells the resource apart
//! (a group key, a listener port, a protocol), so a restart finds the same names. A group's
//! health check, backend service and NEGs share one name, as ingress-gce's do.

use std::collections::BTreeMap;

use cloudnet_core::ownership::{NameRules, derive_name};
use cloudnet_core::{
    Action, BackendGroup, CertificateRef, Error, HealthCheckPort, LoadBalancerId, LoadBalancerKind,
    LoadBalancerSpec, PathMatch, Protocol, Result, Rule, Scheme, TargetKind,
};

use super::model::*;
use crate::names::last_segment;
use crate::ops::Scope;

/// The spec attribute naming a reserved global address for an L7 stack (ingress-gce's
/// annotation, passed through).
pub const ATTR_STATIC_IP_NAME: &str = "kubernetes.io/ingress.global-static-ip-name";
/// The backend group attribute setting its backend service's `timeoutSec` (1 to 86400), as
/// the controllers carry a BackendConfig's `timeoutSec`.
pub const ATTR_TIMEOUT_SEC: &str = "timeoutSec";
/// The backend group attribute setting `connectionDraining.drainingTimeoutSec` (0 to 3600).
pub const ATTR_DRAINING_TIMEOUT_SEC: &str = "connectionDraining.drainingTimeoutSec";

/// A group attribute of the backend service, checked against the cloud's range.
fn service_attribute(g: &BackendGroup, key: &str, min: i32, max: i32) -> Result<Option<i32>> {
    let Some(raw) = g.attributes.get(key) else {
        return Ok(None);
    };
    match raw.trim().parse::<i32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => Err(Error::invalid(format!(
            "group {}: attribute {key} = {raw:?} must be a whole number between {min} and {max}",
            g.key
        ))),
    }
}

/// What planning needs besides the spec, read from the cloud before (the named static IP's
/// address, the subnetwork of an internal L4 stack).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanContext {
    pub region: String,
    /// The cluster's VPC network (the firewall rules' network).
    pub network: String,
    pub static_ip: Option<String>,
    pub subnetwork: Option<String>,
}

/// The stack's own name: [`derive_name`] of the owner alone.
pub fn base_name(spec: &LoadBalancerSpec) -> String {
    derive_name(NameRules::Gce, &spec.owner, &[])
}

/// The stack's ID: its scope and base name (`global/k8s-...`, `regions/R/k8s-...`).
pub fn stack_id(scope: &Scope, base: &str) -> LoadBalancerId {
    LoadBalancerId(format!("{}/{base}", scope_path(scope)))
}

/// `global` or `regions/R`.
pub fn scope_path(scope: &Scope) -> String {
    match scope {
        Scope::Global => "global".into(),
        Scope::Region(r) => format!("regions/{r}"),
        Scope::Zone(z) => format!("zones/{z}"),
    }
}

/// A stack ID back into its scope and base name.
pub fn parse_id(id: &LoadBalancerId) -> Result<(Scope, String)> {
    let parts: Vec<&str> = id.0.split('/').collect();
    match parts.as_slice() {
        ["global", base] if NameRules::Gce.is_valid(base) => Ok((Scope::Global, base.to_string())),
        ["regions", r, base] if NameRules::Gce.is_valid(base) && !r.is_empty() => {
            Ok((Scope::Region(r.to_string()), base.to_string()))
        }
        _ => Err(Error::invalid(format!(
            "{} is not a GCP load balancer ID (global/<name> or regions/<region>/<name>)",
            id.0
        ))),
    }
}

/// The regular expression every name of the stack matches (its readable part and any
/// hash): the list filter that finds a stack's resources in one read per kind.
pub fn name_pattern(base: &str) -> String {
    let readable = &base[..base.len().saturating_sub(12)];
    format!("{readable}[0-9a-f]{{12}}")
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::invalid(format!("not supported by this cloud: {what}"))
}

/// Plans the stack. Errors name what GCLB (or this backend) cannot do.
pub fn plan(spec: &LoadBalancerSpec, ctx: &PlanContext) -> Result<DesiredStack> {
    spec.validate()?;
    let base = base_name(spec);
    let mut stack = match spec.kind {
        LoadBalancerKind::Application => plan_l7(spec, ctx)?,
        LoadBalancerKind::Network => plan_l4(spec, ctx)?,
    };
    stack.id = stack_id(&stack.scope, &base);
    stack.base = base;
    stack.firewalls = super::firewall::plan_firewalls(spec, &stack, &ctx.network)?;
    Ok(stack)
}

fn empty(spec: &LoadBalancerSpec, scope: Scope) -> DesiredStack {
    DesiredStack {
        id: LoadBalancerId(String::new()),
        base: String::new(),
        scope,
        owner: spec.owner.clone(),
        health_checks: Vec::new(),
        backend_services: Vec::new(),
        url_maps: Vec::new(),
        proxies: Vec::new(),
        forwarding_rules: Vec::new(),
        ssl_certificates: Vec::new(),
        firewalls: Vec::new(),
    }
}

fn name(spec: &LoadBalancerSpec, parts: &[&str]) -> String {
    derive_name(NameRules::Gce, &spec.owner, parts)
}

fn health_check(name: String, g: &BackendGroup, fixed_port: Option<u16>) -> Result<HealthCheckDef> {
    let h = &g.health_check;
    let protocol = match h.protocol {
        Protocol::Http => "HTTP",
        Protocol::Https => "HTTPS",
        Protocol::Tcp | Protocol::Tls => "TCP",
        other => {
            return Err(unsupported(format!(
                "{other:?} health checks (group {})",
                g.key
            )));
        }
    };
    if h.timeout_seconds > h.interval_seconds {
        return Err(Error::invalid(format!(
            "group {}: the health check timeout ({}s) must not exceed its interval ({}s) on GCP",
            g.key, h.timeout_seconds, h.interval_seconds
        )));
    }
    let port = match h.port {
        HealthCheckPort::Port(p) => Some(p),
        HealthCheckPort::TrafficPort => fixed_port,
    };
    let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    Ok(HealthCheckDef {
        name,
        protocol: protocol.into(),
        port,
        request_path: (protocol != "TCP").then(|| h.path.clone().unwrap_or_else(|| "/".into())),
        interval_sec: int(h.interval_seconds),
        timeout_sec: int(h.timeout_seconds),
        healthy_threshold: int(h.healthy_threshold),
        unhealthy_threshold: int(h.unhealthy_threshold),
    })
}

fn forward_target<'a>(action: &'a Action, what: &str) -> Result<&'a str> {
    match action {
        Action::Forward { groups } if groups.len() == 1 => Ok(&groups[0].group),
        Action::Forward { .. } => Err(unsupported(format!(
            "weighted forwarding to several groups ({what})"
        ))),
        Action::Redirect(_) => Err(unsupported(format!("redirect actions ({what})"))),
        Action::FixedResponse(_) => Err(unsupported(format!("fixed-response actions ({what})"))),
    }
}

fn plan_l7(spec: &LoadBalancerSpec, ctx: &PlanContext) -> Result<DesiredStack> {
    if spec.scheme == Scheme::Internal {
        return Err(unsupported(
            "internal application load balancers (regional INTERNAL_MANAGED); use an external one",
        ));
    }
    let mut stack = empty(spec, Scope::Global);
    let mut service_names: BTreeMap<&str, String> = BTreeMap::new();
    for g in &spec.groups {
        if g.target_kind != TargetKind::PodIp {
            return Err(unsupported(format!(
                "{:?} targets behind an application load balancer (group {}); GCLB here is container-native: pod IP targets in NEGs",
                g.target_kind, g.key
            )));
        }
        let n = name(spec, &["group", &g.key]);
        stack.health_checks.push(health_check(n.clone(), g, None)?);
        stack.backend_services.push(BackendServiceDef {
            name: n.clone(),
            protocol: if g.protocol == Protocol::Https {
                "HTTPS".into()
            } else {
                "HTTP".into()
            },
            scheme: "EXTERNAL".into(),
            health_check: n.clone(),
            groups: vec![g.key.clone()],
            neg_type: "GCE_VM_IP_PORT".into(),
            neg_port: Some(g.port),
            timeout_sec: service_attribute(g, ATTR_TIMEOUT_SEC, 1, 86400)?,
            draining_timeout_sec: service_attribute(g, ATTR_DRAINING_TIMEOUT_SEC, 0, 3600)?,
        });
        service_names.insert(&g.key, n);
    }
    let service = |key: &str| -> Result<String> {
        service_names
            .get(key)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("backend group {key} is not defined")))
    };
    for l in &spec.listeners {
        let port = l.port.to_string();
        let what = format!("listener {}", l.port);
        let default = service(forward_target(&l.default_action, &what)?)?;
        let url_map = url_map(name(spec, &["urlmap", &port]), default, &l.rules, &service)?;
        let https = l.protocol == Protocol::Https;
        let proxy = ProxyDef {
            name: name(spec, &["proxy", &port]),
            https,
            url_map: url_map.name.clone(),
            certificates: if https {
                certificate_names(spec, &l.certificates, &mut stack.ssl_certificates)
            } else {
                Vec::new()
            },
        };
        stack.forwarding_rules.push(ForwardingRuleDef {
            name: name(spec, &["fr", &port]),
            ip_protocol: "TCP".into(),
            scheme: "EXTERNAL".into(),
            port_range: Some(format!("{port}-{port}")),
            ports: Vec::new(),
            all_ports: false,
            target: Some((proxy.name.clone(), https)),
            backend_service: None,
            subnetwork: None,
            ip: ctx.static_ip.clone(),
        });
        stack.url_maps.push(url_map);
        stack.proxies.push(proxy);
    }
    Ok(stack)
}

/// A listener's certificates as SSL certificate names: a pre-shared one by its name, material
/// as the stack's own certificate (added to `own` once), named after the owner and a digest of
/// its content (ingress-gce names its own `k8s2-cr-...-<hash>` the same way).
fn certificate_names(
    spec: &LoadBalancerSpec,
    refs: &[CertificateRef],
    own: &mut Vec<SslCertificateDef>,
) -> Vec<String> {
    let mut names = Vec::new();
    for c in refs {
        let n = match c.as_material() {
            Some(m) => {
                let n = name(spec, &["cert", &m.digest(16)]);
                if !own.iter().any(|d| d.name == n) {
                    own.push(SslCertificateDef {
                        name: n.clone(),
                        source: m.source.clone(),
                        material: m.clone(),
                    });
                }
                n
            }
            None => last_segment(c.name().unwrap_or_default()).to_string(),
        };
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// A neutral path as URL map paths (`/a` exact; `/a` and `/a/*` for a prefix); None for a
/// match of every path.
fn gce_paths(p: &PathMatch) -> Result<Option<Vec<String>>> {
    let check = |s: &str| -> Result<()> {
        if !s.starts_with('/') {
            return Err(Error::invalid(format!("path {s} must start with /")));
        }
        Ok(())
    };
    match p {
        PathMatch::Exact(s) => {
            check(s)?;
            Ok(Some(vec![s.clone()]))
        }
        PathMatch::Prefix(s) => {
            check(s)?;
            let t = s.trim_end_matches('/');
            if t.is_empty() {
                Ok(None)
            } else {
                Ok(Some(vec![t.to_string(), format!("{t}/*")]))
            }
        }
        PathMatch::Pattern(s) => {
            check(s)?;
            let body = s.strip_suffix("/*").unwrap_or(s);
            if body.contains(['*', '?']) {
                return Err(unsupported(format!(
                    "the path pattern {s} (URL maps take a * only at the end, after a /)"
                )));
            }
            if s == "/*" {
                Ok(None)
            } else {
                Ok(Some(vec![s.clone()]))
            }
        }
    }
}

/// The URL map of one listener: rules grouped by their host list into path matchers (in
/// priority order; a path already taken by a higher-priority rule is left out, as GCLB
/// refuses a path twice in one matcher); rules for any host go into every matcher and into
/// one for `*`.
fn url_map(
    name: String,
    default: String,
    rules: &[Rule],
    service: &dyn Fn(&str) -> Result<String>,
) -> Result<UrlMapDef> {
    let mut rules: Vec<&Rule> = rules.iter().collect();
    rules.sort_by_key(|r| r.priority);
    for r in &rules {
        if !r.conditions.is_empty() {
            return Err(unsupported(format!(
                "header, method, query or source conditions (rule {}); URL maps match hosts and paths",
                r.priority
            )));
        }
    }
    let mut host_sets: Vec<Vec<String>> = Vec::new();
    for r in &rules {
        let mut hosts = r.hosts.clone();
        hosts.sort();
        hosts.dedup();
        if !hosts.is_empty() && !host_sets.contains(&hosts) {
            host_sets.push(hosts);
        }
    }
    let any_host: Vec<&Rule> = rules
        .iter()
        .copied()
        .filter(|r| r.hosts.is_empty())
        .collect();
    let matcher = |pm_name: String, own: Vec<&Rule>| -> Result<PathMatcherDef> {
        let mut pm = PathMatcherDef {
            name: pm_name,
            default_service: String::new(),
            path_rules: Vec::new(),
        };
        let mut taken: Vec<String> = Vec::new();
        let mut default: Option<String> = None;
        for r in own.iter().chain(any_host.iter()) {
            let what = format!("rule {}", r.priority);
            let svc = service(forward_target(&r.action, &what)?)?;
            let mut paths = Vec::new();
            let mut every_path = r.paths.is_empty();
            for p in &r.paths {
                match gce_paths(p)? {
                    None => every_path = true,
                    Some(ps) => paths.extend(ps),
                }
            }
            if every_path && default.is_none() {
                default = Some(svc.clone());
            }
            paths.retain(|p| !taken.contains(p));
            paths.dedup();
            if !paths.is_empty() {
                taken.extend(paths.iter().cloned());
                pm.path_rules.push(PathRuleDef {
                    paths,
                    service: svc,
                });
            }
        }
        pm.default_service = default.unwrap_or_default();
        Ok(pm)
    };
    let mut host_rules = Vec::new();
    let mut path_matchers = Vec::new();
    for (i, hosts) in host_sets.iter().enumerate() {
        let own: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| {
                let mut h = r.hosts.clone();
                h.sort();
                h.dedup();
                &h == hosts
            })
            .collect();
        let pm = matcher(format!("host{}", i + 1), own)?;
        host_rules.push(HostRuleDef {
            hosts: hosts.clone(),
            path_matcher: pm.name.clone(),
        });
        path_matchers.push(pm);
    }
    if !any_host.is_empty() {
        let pm = matcher("anyhost".into(), Vec::new())?;
        host_rules.push(HostRuleDef {
            hosts: vec!["*".into()],
            path_matcher: pm.name.clone(),
        });
        path_matchers.push(pm);
    }
    for pm in &mut path_matchers {
        if pm.default_service.is_empty() {
            pm.default_service = default.clone();
        }
    }
    host_rules.sort_by(|a, b| a.path_matcher.cmp(&b.path_matcher));
    path_matchers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(UrlMapDef {
        name,
        default_service: default,
        host_rules,
        path_matchers,
    })
}

fn l4_protocol(p: Protocol) -> Result<&'static str> {
    match p {
        Protocol::Tcp => Ok("TCP"),
        Protocol::Udp => Ok("UDP"),
        other => Err(unsupported(format!(
            "{other:?} listeners on a passthrough network load balancer"
        ))),
    }
}

fn plan_l4(spec: &LoadBalancerSpec, ctx: &PlanContext) -> Result<DesiredStack> {
    let mut stack = empty(spec, Scope::Region(ctx.region.clone()));
    let scheme = match spec.scheme {
        Scheme::Internal => "INTERNAL",
        Scheme::InternetFacing => "EXTERNAL",
    };
    if spec.scheme == Scheme::Internal && ctx.subnetwork.is_none() {
        return Err(Error::invalid(
            "an internal network load balancer needs a subnetwork; none was named or found",
        ));
    }
    // Protocol -> (ports, group keys), in listener order.
    let mut by_protocol: BTreeMap<&str, (Vec<u16>, Vec<String>)> = BTreeMap::new();
    for l in &spec.listeners {
        let p = l4_protocol(l.protocol)?;
        let group = forward_target(&l.default_action, &format!("listener {}", l.port))?;
        let entry = by_protocol.entry(p).or_default();
        entry.0.push(l.port);
        if !entry.1.iter().any(|g| g == group) {
            entry.1.push(group.to_string());
        }
    }
    for (protocol, (mut ports, groups)) in by_protocol {
        let n = name(spec, &["l4", protocol]);
        let first = spec
            .group(&groups[0])
            .ok_or_else(|| Error::invalid(format!("backend group {} is not defined", groups[0])))?;
        // Passthrough: the check reaches the node at the group's port (the node port, or
        // the pod port that the node forwards).
        stack
            .health_checks
            .push(health_check(n.clone(), first, Some(first.port))?);
        stack.backend_services.push(BackendServiceDef {
            name: n.clone(),
            protocol: protocol.into(),
            scheme: scheme.into(),
            health_check: n.clone(),
            groups,
            neg_type: "GCE_VM_IP".into(),
            neg_port: None,
            timeout_sec: None,
            draining_timeout_sec: None,
        });
        ports.sort_unstable();
        ports.dedup();
        let all_ports = ports.len() > 5;
        stack.forwarding_rules.push(ForwardingRuleDef {
            name: n.clone(),
            ip_protocol: protocol.into(),
            scheme: scheme.into(),
            port_range: None,
            ports: if all_ports {
                Vec::new()
            } else {
                ports.iter().map(u16::to_string).collect()
            },
            all_ports,
            target: None,
            backend_service: Some(n),
            subnetwork: (spec.scheme == Scheme::Internal)
                .then(|| ctx.subnetwork.clone())
                .flatten(),
            ip: None,
        });
    }
    Ok(stack)
}
