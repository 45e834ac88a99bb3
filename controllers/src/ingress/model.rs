//! An IngressGroup (its member Ingresses and the Services they name) -> the provider-neutral
//! L7 [`LoadBalancerSpec`] (an application load balancer on AWS).
//!
//! Pure. Kubernetes' semantics: each Ingress rule's paths are ordered Exact first, then Prefix
//! longest first, then ImplementationSpecific as written (a pattern with `*` and `?`), and
//! take listener rule priorities 1, 2, ... in the group's member order. One backend group per
//! distinct Service port. The AWS Load Balancer Controller's defaults: scheme `internal`,
//! `instance` targets, listener HTTP:80 (HTTPS:443 with a certificate), a 404 fixed response
//! when no rule and no `defaultBackend` matches, HTTP health checks of `/` every 15 s with a
//! 5 s timeout and thresholds of 2, success code 200. Target-group annotations on the Service
//! win over the Ingress's.
//!
//! Settings of the load balancer itself (scheme, subnets, attributes, ...) must agree across
//! the members that set them; a disagreement, like every other error, leaves the group
//! unchanged in the cloud and is reported on the Ingress that causes it.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, FixedResponse, HealthCheck, HealthCheckPort,
    IpAddressType, Listener, LoadBalancerKind, LoadBalancerSpec, PathMatch, Protocol, Redirect,
    Rule, Scheme, Subnets, TargetKind, WeightedGroup,
};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressBackend};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations::{
    ActionSpec, Annotations, ConditionSpec, FAMILY, PREFIX, parse_action, parse_conditions,
    parse_listen_ports,
};
use super::class::IngressSettings;
use super::group::{GroupId, MemberError, key, namespace, order_members};
use crate::service::model::group_key;

/// The Services the members name, by (namespace, name).
pub type Services = BTreeMap<(String, String), Service>;

/// The port name that sends a backend to an `actions.<service name>` annotation.
pub const USE_ANNOTATION: &str = "use-annotation";

/// Target-group annotations, which a Service may set to override its Ingresses'.
const TARGET_GROUP_KEYS: &[&str] = &[
    "target-type",
    "backend-protocol",
    "healthcheck-protocol",
    "healthcheck-port",
    "healthcheck-path",
    "healthcheck-interval-seconds",
    "healthcheck-timeout-seconds",
    "healthy-threshold-count",
    "unhealthy-threshold-count",
    "success-codes",
    "target-group-attributes",
];

/// Builds the group's spec, or answers every problem, each with the Ingress it belongs to.
pub fn build_group_spec(
    group: &GroupId,
    members: &[&Ingress],
    services: &Services,
    settings: &IngressSettings,
) -> Result<LoadBalancerSpec, Vec<MemberError>> {
    let ordered = order_members(members)?;
    if ordered.is_empty() {
        return Err(Vec::new());
    }
    let mut errors = Vec::new();
    let mut built = Vec::new();
    for ing in &ordered {
        match Member::read(ing, services, settings) {
            Ok(m) => built.push(m),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let spec = assemble(group, &built, settings)?;
    spec.validate().map_err(|e| {
        built
            .iter()
            .map(|m| MemberError {
                ingress: m.key.clone(),
                message: format!("{group}: {e}"),
            })
            .collect::<Vec<_>>()
    })?;
    Ok(spec)
}

/// Load-balancer-wide settings one member asks for (`None`: it does not say).
#[derive(Debug, Default)]
struct Shared {
    scheme: Option<Scheme>,
    ip_address_type: Option<IpAddressType>,
    subnets: Option<Vec<String>>,
    security_groups: Option<Vec<String>>,
    inbound_cidrs: Option<Vec<ipnet::IpNet>>,
    attributes: Option<BTreeMap<String, String>>,
    tags: Option<BTreeMap<String, String>>,
    ssl_redirect: Option<u16>,
}

/// One listener rule before it has a priority.
#[derive(Debug, Clone)]
struct MemberRule {
    hosts: Vec<String>,
    paths: Vec<PathMatch>,
    conditions: Vec<cloudnet_core::RuleCondition>,
    action: Action,
}

/// One Ingress, read.
#[derive(Debug)]
struct Member {
    key: String,
    shared: Shared,
    listen: Vec<(Protocol, u16)>,
    certificates: Vec<CertificateRef>,
    ssl_policy: Option<String>,
    rules: Vec<MemberRule>,
    default_action: Option<Action>,
    groups: Vec<BackendGroup>,
}

impl Member {
    fn read(
        ing: &Ingress,
        services: &Services,
        settings: &IngressSettings,
    ) -> Result<Member, Vec<MemberError>> {
        let ing_key = key(ing);
        let empty = BTreeMap::new();
        let annotations = ing.metadata.annotations.as_ref().unwrap_or(&empty);
        let mut a = Annotations::new(&FAMILY, annotations);
        let mut errors: Vec<String> = Vec::new();

        let shared = Shared {
            scheme: a
                .choice("scheme", &["internal", "internet-facing"])
                .map(|s| {
                    if s == "internet-facing" {
                        Scheme::InternetFacing
                    } else {
                        Scheme::Internal
                    }
                }),
            ip_address_type: a
                .choice("ip-address-type", &["ipv4", "dualstack"])
                .map(|t| {
                    if t == "dualstack" {
                        IpAddressType::Dualstack
                    } else {
                        IpAddressType::Ipv4
                    }
                }),
            subnets: a.list("subnets"),
            security_groups: a.list("security-groups"),
            inbound_cidrs: a.list("inbound-cidrs").map(|list| {
                let mut nets = Vec::new();
                for r in list {
                    match r.parse::<ipnet::IpNet>() {
                        Ok(n) => nets.push(n),
                        Err(_) => a.reject("inbound-cidrs", format!("{r} is not a CIDR")),
                    }
                }
                nets
            }),
            attributes: a.map("load-balancer-attributes"),
            tags: a.map("tags"),
            ssl_redirect: a.int("ssl-redirect", 1, 65535).map(|p| p as u16),
        };
        if shared.subnets.as_ref().is_some_and(Vec::is_empty) {
            a.reject("subnets", "names no subnet");
        }

        let certificates: Vec<CertificateRef> = a
            .list("certificate-arn")
            .unwrap_or_default()
            .into_iter()
            .map(CertificateRef)
            .collect();
        let listen = match a.raw("listen-ports") {
            Some(raw) => match parse_listen_ports(raw) {
                Ok(l) => l,
                Err(why) => {
                    a.reject("listen-ports", why);
                    Vec::new()
                }
            },
            None if certificates.is_empty() => vec![(Protocol::Http, 80)],
            None => vec![(Protocol::Https, 443)],
        };
        if certificates.is_empty() {
            for (p, port) in &listen {
                if *p == Protocol::Https {
                    a.reject(
                        "listen-ports",
                        format!("HTTPS port {port} needs {PREFIX}certificate-arn"),
                    );
                }
            }
        }
        let has_tls = ing
            .spec
            .as_ref()
            .and_then(|s| s.tls.as_ref())
            .is_some_and(|t| !t.is_empty());
        if has_tls && certificates.is_empty() {
            errors.push(format!(
                "spec.tls needs {PREFIX}certificate-arn: cloudnet does not discover certificates \
                 by host name yet"
            ));
        }
        let ssl_policy = a.string("ssl-policy");

        // Actions and conditions by name, read once each (and reported once each).
        let mut actions: BTreeMap<String, ActionSpec> = BTreeMap::new();
        for (suffix, raw) in a.with_prefix("actions.") {
            let name = &suffix["actions.".len()..];
            match parse_action(raw) {
                Ok(act) => {
                    actions.insert(name.to_string(), act);
                }
                Err(why) => a.reject(suffix, why),
            }
        }
        let mut conditions: BTreeMap<String, ConditionSpec> = BTreeMap::new();
        for (suffix, raw) in a.with_prefix("conditions.") {
            let name = &suffix["conditions.".len()..];
            match parse_conditions(raw) {
                Ok(c) => {
                    conditions.insert(name.to_string(), c);
                }
                Err(why) => a.reject(suffix, why),
            }
        }

        let mut ctx = Resolver {
            namespace: namespace(ing),
            ingress_annotations: annotations,
            services,
            settings,
            actions: &actions,
            groups: Vec::new(),
            errors: Vec::new(),
        };
        let mut rules = Vec::new();
        let spec = ing.spec.as_ref();
        for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
            let Some(http) = rule.http.as_ref() else {
                continue;
            };
            for path in sort_paths(&http.paths) {
                let Some(action) = ctx.backend(&path.backend) else {
                    continue;
                };
                let mut hosts: Vec<String> = rule.host.iter().cloned().collect();
                let mut paths: Vec<PathMatch> = path_match(path).into_iter().collect();
                let mut extra = Vec::new();
                let by = path.backend.service.as_ref().map(|s| s.name.as_str());
                if let Some(c) = by.and_then(|n| conditions.get(n)) {
                    hosts.extend(c.hosts.iter().cloned());
                    paths.extend(c.paths.iter().cloned().map(PathMatch::Pattern));
                    extra.extend(c.conditions.iter().cloned());
                }
                rules.push(MemberRule {
                    hosts,
                    paths,
                    conditions: extra,
                    action,
                });
            }
        }
        let default_action = spec
            .and_then(|s| s.default_backend.as_ref())
            .and_then(|b| ctx.backend(b));
        let Resolver {
            groups,
            errors: resolve_errors,
            ..
        } = ctx;
        errors.extend(resolve_errors);
        errors.extend(a.finish().into_iter().map(|e| e.to_string()));
        if !errors.is_empty() {
            return Err(errors
                .into_iter()
                .map(|message| MemberError {
                    ingress: ing_key.clone(),
                    message,
                })
                .collect());
        }
        Ok(Member {
            key: ing_key,
            shared,
            listen,
            certificates,
            ssl_policy,
            rules,
            default_action,
            groups,
        })
    }
}

/// Exact paths first, then Prefix paths longest first, then the rest as written (the
/// anchor's order, which is Kubernetes' precedence).
fn sort_paths(paths: &[HTTPIngressPath]) -> Vec<&HTTPIngressPath> {
    let rank = |p: &HTTPIngressPath| match p.path_type.as_str() {
        "Exact" => 0,
        "Prefix" => 1,
        _ => 2,
    };
    let mut out: Vec<&HTTPIngressPath> = paths.iter().collect();
    out.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            if rank(a) == 1 {
                let len = |p: &HTTPIngressPath| p.path.as_deref().unwrap_or("").len();
                len(b).cmp(&len(a))
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
    out
}

fn path_match(p: &HTTPIngressPath) -> Option<PathMatch> {
    let path = p.path.clone().filter(|s| !s.is_empty())?;
    Some(match p.path_type.as_str() {
        "Exact" => PathMatch::Exact(path),
        "Prefix" => PathMatch::Prefix(path),
        _ => PathMatch::Pattern(path),
    })
}

/// Turns backends into actions and the backend groups they need.
struct Resolver<'a> {
    namespace: &'a str,
    ingress_annotations: &'a BTreeMap<String, String>,
    services: &'a Services,
    settings: &'a IngressSettings,
    actions: &'a BTreeMap<String, ActionSpec>,
    groups: Vec<BackendGroup>,
    errors: Vec<String>,
}

impl Resolver<'_> {
    fn backend(&mut self, b: &IngressBackend) -> Option<Action> {
        if b.resource.is_some() {
            self.errors.push(
                "resource backends are not supported by load balancers; use a Service backend"
                    .into(),
            );
            return None;
        }
        let Some(svc) = b.service.as_ref() else {
            self.errors.push("a backend names no Service".into());
            return None;
        };
        let port = svc.port.as_ref();
        if port.and_then(|p| p.name.as_deref()) == Some(USE_ANNOTATION) {
            let Some(act) = self.actions.get(&svc.name) else {
                self.errors.push(format!(
                    "backend {}: port {USE_ANNOTATION} needs annotation {PREFIX}actions.{}",
                    svc.name, svc.name
                ));
                return None;
            };
            return match act.clone() {
                ActionSpec::Redirect(r) => Some(Action::Redirect(r)),
                ActionSpec::FixedResponse(f) => Some(Action::FixedResponse(f)),
                ActionSpec::Forward(targets) => {
                    let mut groups = Vec::new();
                    for t in targets {
                        let group = self.group(&t.service, &t.port)?;
                        groups.push(WeightedGroup {
                            group,
                            weight: t.weight,
                        });
                    }
                    Some(Action::Forward { groups })
                }
            };
        }
        let port = match port {
            Some(p) => match (&p.number, &p.name) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.clone(),
                (None, None) => String::new(),
            },
            None => String::new(),
        };
        let group = self.group(&svc.name, &port)?;
        Some(Action::Forward {
            groups: vec![WeightedGroup { group, weight: 1 }],
        })
    }

    /// The backend group of a Service port (by number or name), added once.
    fn group(&mut self, service: &str, port: &str) -> Option<String> {
        let Some(svc) = self
            .services
            .get(&(self.namespace.to_string(), service.to_string()))
        else {
            self.errors.push(format!(
                "backend service {}/{service} does not exist",
                self.namespace
            ));
            return None;
        };
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default();
        let Some(sp) = ports
            .iter()
            .find(|p| p.port.to_string() == port || p.name.as_deref() == Some(port))
        else {
            self.errors.push(format!(
                "backend service {}/{service} has no port {port:?}",
                self.namespace
            ));
            return None;
        };
        let group = match self.backend_group(service, svc, sp) {
            Ok(g) => g,
            Err(why) => {
                self.errors.push(format!(
                    "backend service {}/{service} port {}: {why}",
                    self.namespace, sp.port
                ));
                return None;
            }
        };
        let key = group.key.clone();
        if !self.groups.iter().any(|g| g.key == key) {
            self.groups.push(group);
        }
        Some(key)
    }

    fn backend_group(
        &self,
        service: &str,
        svc: &Service,
        sp: &ServicePort,
    ) -> Result<BackendGroup, String> {
        // The Ingress's target-group annotations, overridden by the Service's.
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        let svc_annotations = svc.metadata.annotations.clone().unwrap_or_default();
        for k in TARGET_GROUP_KEYS {
            let full = format!("{PREFIX}{k}");
            if let Some(v) = svc_annotations
                .get(&full)
                .or_else(|| self.ingress_annotations.get(&full))
            {
                merged.insert(full, v.clone());
            }
        }
        let mut a = Annotations::new(&FAMILY, &merged);
        let target_kind = match a.choice("target-type", &["instance", "ip"]) {
            Some("ip") => TargetKind::PodIp,
            Some(_) => TargetKind::NodePort,
            None => self.settings.default_target_kind,
        };
        let protocol = match a.choice("backend-protocol", &["HTTP", "HTTPS"]) {
            Some("HTTPS") => Protocol::Https,
            _ => Protocol::Http,
        };
        let mut hc = HealthCheck::defaults_for(Protocol::Http);
        hc.protocol = match a.choice("healthcheck-protocol", &["HTTP", "HTTPS"]) {
            Some("HTTPS") => Protocol::Https,
            Some(_) => Protocol::Http,
            None => protocol,
        };
        if let Some(raw) = a.string("healthcheck-port") {
            if raw == "traffic-port" {
                hc.port = HealthCheckPort::TrafficPort;
            } else if let Some(p) = a.int("healthcheck-port", 1, 65535) {
                hc.port = HealthCheckPort::Port(p as u16);
            }
        }
        if let Some(p) = a.string("healthcheck-path") {
            hc.path = Some(p);
        }
        if let Some(v) = a.int("healthcheck-interval-seconds", 5, 300) {
            hc.interval_seconds = v;
        }
        if let Some(v) = a.int("healthcheck-timeout-seconds", 2, 120) {
            hc.timeout_seconds = v;
        }
        if let Some(v) = a.int("healthy-threshold-count", 2, 10) {
            hc.healthy_threshold = v;
        }
        if let Some(v) = a.int("unhealthy-threshold-count", 2, 10) {
            hc.unhealthy_threshold = v;
        }
        if let Some(v) = a.string("success-codes") {
            hc.success_codes = Some(v);
        }
        let attributes = a.map("target-group-attributes").unwrap_or_default();
        let errors = a.finish();
        if !errors.is_empty() {
            return Err(errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "));
        }
        let port = match target_kind {
            TargetKind::NodePort => match sp.node_port.and_then(|p| u16::try_from(p).ok()) {
                Some(p) if p > 0 => p,
                _ => {
                    return Err(format!(
                        "instance targets need a node port (the Service is not NodePort or \
                         LoadBalancer); set {PREFIX}target-type: ip or change the Service's type"
                    ));
                }
            },
            // Each ip target carries the pod's own port; a named targetPort resolves per
            // endpoint, so the group's port is only a default.
            TargetKind::PodIp => match &sp.target_port {
                Some(IntOrString::Int(p)) => u16::try_from(*p).unwrap_or(1),
                Some(IntOrString::String(_)) => 1,
                None => u16::try_from(sp.port).unwrap_or(1),
            },
        };
        Ok(BackendGroup {
            key: group_key(self.namespace, service, sp),
            protocol,
            port,
            target_kind,
            health_check: hc,
            attributes,
        })
    }
}

/// One value the members must agree on: the agreed value, or an error on each member that
/// set it.
fn agree<T: Clone + PartialEq + std::fmt::Debug>(
    what: &str,
    members: &[Member],
    get: impl Fn(&Member) -> Option<&T>,
    errors: &mut Vec<MemberError>,
) -> Option<T> {
    let set: Vec<(&str, &T)> = members
        .iter()
        .filter_map(|m| get(m).map(|v| (m.key.as_str(), v)))
        .collect();
    let first = set.first()?;
    if set.iter().all(|(_, v)| *v == first.1) {
        return Some(first.1.clone());
    }
    let said: Vec<String> = set.iter().map(|(k, v)| format!("{k} says {v:?}")).collect();
    for (k, _) in &set {
        errors.push(MemberError {
            ingress: k.to_string(),
            message: format!(
                "{PREFIX}{what} differs within the group ({}); make them agree",
                said.join(", ")
            ),
        });
    }
    None
}

struct ListenerDraft {
    protocol: Protocol,
    certificates: Vec<CertificateRef>,
    ssl_policy: Option<(String, String)>,
    default_action: Option<(String, Action)>,
    rules: Vec<MemberRule>,
}

fn assemble(
    group: &GroupId,
    members: &[Member],
    settings: &IngressSettings,
) -> Result<LoadBalancerSpec, Vec<MemberError>> {
    let mut errors = Vec::new();
    let scheme = agree("scheme", members, |m| m.shared.scheme.as_ref(), &mut errors);
    let ip_type = agree(
        "ip-address-type",
        members,
        |m| m.shared.ip_address_type.as_ref(),
        &mut errors,
    );
    let subnets = agree(
        "subnets",
        members,
        |m| m.shared.subnets.as_ref(),
        &mut errors,
    );
    let security_groups = agree(
        "security-groups",
        members,
        |m| m.shared.security_groups.as_ref(),
        &mut errors,
    );
    let inbound = agree(
        "inbound-cidrs",
        members,
        |m| m.shared.inbound_cidrs.as_ref(),
        &mut errors,
    );
    let attributes = agree(
        "load-balancer-attributes",
        members,
        |m| m.shared.attributes.as_ref(),
        &mut errors,
    );
    let tags = agree("tags", members, |m| m.shared.tags.as_ref(), &mut errors);
    let ssl_redirect = agree(
        "ssl-redirect",
        members,
        |m| m.shared.ssl_redirect.as_ref(),
        &mut errors,
    );

    let mut listeners: BTreeMap<u16, ListenerDraft> = BTreeMap::new();
    for m in members {
        for (protocol, port) in &m.listen {
            let l = listeners.entry(*port).or_insert_with(|| ListenerDraft {
                protocol: *protocol,
                certificates: Vec::new(),
                ssl_policy: None,
                default_action: None,
                rules: Vec::new(),
            });
            if l.protocol != *protocol {
                errors.push(MemberError {
                    ingress: m.key.clone(),
                    message: format!(
                        "{PREFIX}listen-ports: port {port} is {protocol:?} here but {:?} in \
                         another Ingress of {group}",
                        l.protocol
                    ),
                });
                continue;
            }
            if *protocol == Protocol::Https {
                for c in &m.certificates {
                    if !l.certificates.contains(c) {
                        l.certificates.push(c.clone());
                    }
                }
                if let Some(p) = &m.ssl_policy {
                    match &l.ssl_policy {
                        Some((other, by)) if other != p => errors.push(MemberError {
                            ingress: m.key.clone(),
                            message: format!(
                                "{PREFIX}ssl-policy: {p:?} for port {port}, but {by} says \
                                 {other:?}; make them agree"
                            ),
                        }),
                        Some(_) => {}
                        None => l.ssl_policy = Some((p.clone(), m.key.clone())),
                    }
                }
            }
            if let Some(d) = &m.default_action {
                match &l.default_action {
                    Some((by, _)) => errors.push(MemberError {
                        ingress: m.key.clone(),
                        message: format!(
                            "spec.defaultBackend: port {port} of {group} already has the default \
                             backend of {by}; only one Ingress of a group may set one"
                        ),
                    }),
                    None => l.default_action = Some((m.key.clone(), d.clone())),
                }
            }
            l.rules.extend(m.rules.iter().cloned());
        }
    }
    if let Some(port) = ssl_redirect {
        let https = listeners
            .get(&port)
            .is_some_and(|l| l.protocol == Protocol::Https);
        if !https {
            for m in members.iter().filter(|m| m.shared.ssl_redirect.is_some()) {
                errors.push(MemberError {
                    ingress: m.key.clone(),
                    message: format!(
                        "{PREFIX}ssl-redirect: port {port} is not an HTTPS listen port of {group}"
                    ),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let not_found = Action::FixedResponse(FixedResponse {
        status_code: 404,
        content_type: Some("text/plain".into()),
        body: None,
    });
    let listeners: Vec<Listener> = listeners
        .into_iter()
        .map(|(port, l)| {
            let redirect = l.protocol == Protocol::Http && ssl_redirect.is_some();
            let (default_action, rules) = if let Some(to) = ssl_redirect.filter(|_| redirect) {
                let r = Action::Redirect(Redirect {
                    protocol: Some(Protocol::Https),
                    host: None,
                    port: Some(to),
                    path: None,
                    query: None,
                    status_code: 301,
                });
                (r, Vec::new())
            } else {
                let rules = l
                    .rules
                    .into_iter()
                    .zip(1u32..)
                    .map(|(r, priority)| Rule {
                        priority,
                        hosts: r.hosts,
                        paths: r.paths,
                        conditions: r.conditions,
                        action: r.action,
                    })
                    .collect();
                let default = l
                    .default_action
                    .map(|(_, a)| a)
                    .unwrap_or_else(|| not_found.clone());
                (default, rules)
            };
            let tls = l.protocol == Protocol::Https;
            Listener {
                port,
                protocol: l.protocol,
                certificates: if tls { l.certificates } else { Vec::new() },
                ssl_policy: tls.then(|| {
                    l.ssl_policy
                        .map(|(p, _)| p)
                        .unwrap_or_else(|| settings.default_ssl_policy.clone())
                }),
                default_action,
                rules,
            }
        })
        .collect();

    // Groups in first-use order; one Service port's group must mean one thing group-wide.
    let mut groups: Vec<BackendGroup> = Vec::new();
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for m in members {
        for g in &m.groups {
            match groups.iter().find(|x| x.key == g.key) {
                Some(existing) if existing != g => errors.push(MemberError {
                    ingress: m.key.clone(),
                    message: format!(
                        "backend {}: its target-group settings differ from those {} gives it \
                         (annotations on the Service apply to both)",
                        g.key, by_key[&g.key]
                    ),
                }),
                Some(_) => {}
                None => {
                    by_key.insert(g.key.clone(), m.key.clone());
                    groups.push(g.clone());
                }
            }
        }
    }
    // A group only a redirected listener referred to is not wanted.
    let spec_groups_used: BTreeSet<String> = listeners
        .iter()
        .flat_map(|l| std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action)))
        .filter_map(|a| match a {
            Action::Forward { groups } => Some(groups.iter().map(|g| g.group.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    groups.retain(|g| spec_groups_used.contains(&g.key));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(LoadBalancerSpec {
        owner: group.owner(&settings.cluster),
        kind: LoadBalancerKind::Application,
        scheme: scheme.unwrap_or_default(),
        ip_address_type: ip_type.unwrap_or_default(),
        listeners,
        groups,
        attributes: attributes.unwrap_or_default(),
        subnets: match subnets {
            Some(list) => Subnets::Explicit(list),
            None => Subnets::Discover,
        },
        security_groups: security_groups.unwrap_or_default(),
        source_ranges: inbound.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
    })
}
