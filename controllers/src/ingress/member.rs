//! One Ingress read into what its group's load balancer needs: the load-balancer-wide
//! settings it asks for, its listen ports and certificates, its rules in Kubernetes' path
//! precedence, its default backend, and the backend groups its Service ports become.
//! Annotation errors, missing Services and ports are collected, never silently dropped.

use std::collections::BTreeMap;

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, HealthCheck, HealthCheckPort, IpAddressType, PathMatch,
    Protocol, Scheme, TargetKind, WeightedGroup,
};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress, IngressBackend};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations::{
    ActionSpec, Annotations, ConditionSpec, FAMILY, PREFIX, TARGET_GROUP_KEYS, parse_action,
    parse_conditions, parse_listen_ports,
};
use super::class::IngressSettings;
use super::group::{MemberError, key, namespace};
use crate::service::model::group_key;

/// The Services the members name, by (namespace, name).
pub type Services = BTreeMap<(String, String), Service>;

/// The port name that sends a backend to an `actions.<service name>` annotation.
pub const USE_ANNOTATION: &str = "use-annotation";

/// Load-balancer-wide settings one member asks for (`None`: it does not say).
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) scheme: Option<Scheme>,
    pub(super) ip_address_type: Option<IpAddressType>,
    pub(super) subnets: Option<Vec<String>>,
    /// From the IngressClassParams' `subnets.tags` ([`super::params::SUBNET_TAGS`]).
    pub(super) subnet_tags: Option<BTreeMap<String, Vec<String>>>,
    pub(super) security_groups: Option<Vec<String>>,
    pub(super) inbound_cidrs: Option<Vec<ipnet::IpNet>>,
    pub(super) attributes: Option<BTreeMap<String, String>>,
    pub(super) tags: Option<BTreeMap<String, String>>,
    pub(super) ssl_redirect: Option<u16>,
}

/// One listener rule before it has a priority.
#[derive(Debug, Clone)]
pub(super) struct MemberRule {
    pub(super) hosts: Vec<String>,
    pub(super) paths: Vec<PathMatch>,
    pub(super) conditions: Vec<cloudnet_core::RuleCondition>,
    pub(super) action: Action,
}

/// One Ingress, read.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) key: String,
    pub(super) shared: Shared,
    pub(super) listen: Vec<(Protocol, u16)>,
    pub(super) certificates: Vec<CertificateRef>,
    pub(super) ssl_policy: Option<String>,
    pub(super) rules: Vec<MemberRule>,
    pub(super) default_action: Option<Action>,
    pub(super) groups: Vec<BackendGroup>,
}

impl Member {
    pub(super) fn read(
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
            subnet_tags: match annotations.get(super::params::SUBNET_TAGS) {
                Some(raw) => match serde_json::from_str(raw) {
                    Ok(tags) => Some(tags),
                    Err(e) => {
                        errors.push(format!("IngressClassParams subnets.tags: {e}"));
                        None
                    }
                },
                None => None,
            },
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
            .map(CertificateRef::Named)
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
        if has_tls && certificates.is_empty() && !settings.ingress_gce && !settings.agic {
            errors.push(format!(
                "spec.tls needs {PREFIX}certificate-arn: cloudnet does not discover certificates \
                 by host name yet"
            ));
        }
        let ssl_policy = a.string("ssl-policy");
        // ingress-gce's dialect: the front comes from its annotations and the class.
        let dialect_front = if settings.ingress_gce {
            Some(super::gce::front(ing, annotations))
        } else if settings.agic {
            Some(super::agic::front(ing, annotations))
        } else {
            None
        };
        let (shared, listen, certificates) = if let Some(front) = dialect_front {
            match front {
                Ok(f) => (f.shared, f.listen, f.certificates),
                Err(e) => {
                    errors.extend(e);
                    (Shared::default(), Vec::new(), Vec::new())
                }
            }
        } else {
            (shared, listen, certificates)
        };

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
        if self.settings.ingress_gce {
            return super::gce::backend_group(self.namespace, service, svc, sp);
        }
        if self.settings.agic {
            return Ok(super::agic::backend_group(
                self.namespace,
                service,
                sp,
                self.ingress_annotations,
            ));
        }
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
            TargetKind::PodIp => pod_ip_port(sp),
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

/// The port of a pod-IP group: the Service port's numeric target port. Each target carries
/// its pod's own port; a named target port resolves per endpoint, so this is only a default.
pub(super) fn pod_ip_port(sp: &ServicePort) -> u16 {
    match &sp.target_port {
        Some(IntOrString::Int(p)) => u16::try_from(*p).unwrap_or(1),
        Some(IntOrString::String(_)) => 1,
        None => u16::try_from(sp.port).unwrap_or(1),
    }
}
