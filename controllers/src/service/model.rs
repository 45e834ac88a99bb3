//! A `type: LoadBalancer` Service -> the provider-neutral L4 [`LoadBalancerSpec`].
//!
//! Pure: the Service and the controller's settings in, the spec (or every reason it cannot be
//! built) out. Defaults are the AWS Load Balancer Controller's, so a Service written for it
//! gets the same load balancer: scheme `internal`, TCP health checks every 10 s with a 10 s
//! timeout and thresholds of 3; with `externalTrafficPolicy: Local` and instance targets,
//! HTTP `/healthz` on the Service's `healthCheckNodePort` every 10 s, timeout 6 s,
//! thresholds 2.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, HealthCheck, HealthCheckPort, IpAddressType, Listener,
    LoadBalancerKind, LoadBalancerSpec, Owner, OwnerKind, Protocol, Scheme, Subnets, TargetKind,
};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::annotations::{AWS_PREFIX, AnnotationError, Annotations, FAMILY};

/// The load balancer class cloudnet answers to by default.
pub const LOAD_BALANCER_CLASS: &str = "cloudnet.io/nlb";
/// The AWS Load Balancer Controller's class, answered too so its Services move unchanged.
pub const AWS_LOAD_BALANCER_CLASS: &str = "service.k8s.aws/nlb";

/// The Service controller's settings that shape the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    pub cluster: String,
    /// `spec.loadBalancerClass` values this controller serves.
    pub classes: Vec<String>,
    /// Serve LoadBalancer Services with no class, as a cluster's in-tree cloud provider does.
    pub serve_classless: bool,
    /// Target kind when the Service names none (the anchor's `--default-target-type`).
    pub default_target_kind: TargetKind,
    /// TLS policy for TLS listeners when the Service names none.
    pub default_ssl_policy: String,
    /// Read GKE's `networking.gke.io/load-balancer-type` ([`crate::gce`]): a Service is
    /// external unless it says `Internal`, as on GKE.
    pub ingress_gce: bool,
    /// Read cloud-provider-azure's `service.beta.kubernetes.io/azure-*` ([`crate::azure`]):
    /// a Service is external unless `azure-load-balancer-internal: "true"`, as on AKS.
    pub cloud_provider_azure: bool,
}

impl ServiceSettings {
    pub fn new(cluster: &str) -> ServiceSettings {
        ServiceSettings {
            cluster: cluster.to_string(),
            classes: vec![LOAD_BALANCER_CLASS.into(), AWS_LOAD_BALANCER_CLASS.into()],
            serve_classless: false,
            default_target_kind: TargetKind::NodePort,
            default_ssl_policy: "ELBSecurityPolicy-2016-08".into(),
            ingress_gce: false,
            cloud_provider_azure: false,
        }
    }

    /// GKE's dialect ([`ServiceSettings::ingress_gce`]), serving classless Services as GKE's
    /// own Service controller does.
    pub fn ingress_gce(cluster: &str) -> ServiceSettings {
        ServiceSettings {
            serve_classless: true,
            ingress_gce: true,
            ..ServiceSettings::new(cluster)
        }
    }

    /// AKS's dialect ([`ServiceSettings::cloud_provider_azure`]), serving classless Services
    /// as AKS's own Service controller does.
    pub fn cloud_provider_azure(cluster: &str) -> ServiceSettings {
        ServiceSettings {
            serve_classless: true,
            cloud_provider_azure: true,
            ..ServiceSettings::new(cluster)
        }
    }
}

/// Whether this controller serves the Service at all. A classless Service is served when the
/// settings say so, or when it asks for the AWS Load Balancer Controller by its `type`
/// annotation (`external`, `nlb-ip`), as that controller does.
pub fn is_served(svc: &Service, settings: &ServiceSettings) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return false;
    }
    match spec.load_balancer_class.as_deref() {
        Some(class) => settings.classes.iter().any(|c| c == class),
        None => {
            let lb_type = svc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("service.beta.kubernetes.io/aws-load-balancer-type"))
                .map(String::as_str);
            settings.serve_classless || matches!(lb_type, Some("external" | "nlb-ip"))
        }
    }
}

/// Why a Service cannot become a load balancer. `Display` is the Event's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    Annotation(AnnotationError),
    #[error("port {port}: {reason}")]
    Port { port: String, reason: String },
    #[error("{0}")]
    Service(String),
}

/// The group key of one Service port: stable, and what the provider names the target group
/// after.
pub fn group_key(namespace: &str, name: &str, port: &ServicePort) -> String {
    format!("{namespace}/{name}:{}", port.port)
}

/// Whether a Service's targets depend on Nodes (instance targets), read from the two
/// annotations that decide it, as [`build_spec`] reads them, without building the model: a
/// Node change need not wake Services whose targets are pod IPs. A value [`build_spec`] would
/// refuse counts as depending on Nodes (waking a Service costs a reconcile, nothing more).
pub fn targets_nodes(svc: &Service, settings: &ServiceSettings) -> bool {
    let get = |key: &str| {
        svc.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(&format!("{AWS_PREFIX}{key}")))
            .map(|v| v.trim())
    };
    let kind = match (get("nlb-target-type"), get("type")) {
        (Some("ip"), _) | (None, Some("nlb-ip")) => TargetKind::PodIp,
        (Some(_), _) | (None, Some("nlb")) => TargetKind::NodePort,
        (None, _) => settings.default_target_kind,
    };
    kind == TargetKind::NodePort
}

/// Builds the spec, or answers every reason it cannot be built (all bad annotations and
/// ports at once, so one Event lists them).
pub fn build_spec(
    svc: &Service,
    settings: &ServiceSettings,
) -> Result<LoadBalancerSpec, Vec<ModelError>> {
    let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let empty = BTreeMap::new();
    let annotations = svc.metadata.annotations.as_ref().unwrap_or(&empty);
    let Some(spec) = svc.spec.as_ref() else {
        return Err(vec![ModelError::Service("the Service has no spec".into())]);
    };
    let mut a = Annotations::new(&FAMILY, annotations);
    let mut errors: Vec<ModelError> = Vec::new();

    // The anchor's `type` values: `external` (the controller's own), `nlb-ip` (legacy, ip
    // targets), `nlb` (the in-tree NLB, instance targets).
    let lb_type = a.choice("aws-load-balancer-type", &["external", "nlb-ip", "nlb"]);
    let target_kind = match a.choice("aws-load-balancer-nlb-target-type", &["ip", "instance"]) {
        Some("ip") => TargetKind::PodIp,
        Some(_) => TargetKind::NodePort,
        None if lb_type == Some("nlb-ip") => TargetKind::PodIp,
        None if lb_type == Some("nlb") => TargetKind::NodePort,
        None => settings.default_target_kind,
    };

    let scheme = match a.choice("aws-load-balancer-scheme", &["internal", "internet-facing"]) {
        Some("internet-facing") => Scheme::InternetFacing,
        Some(_) => Scheme::Internal,
        None => match a.boolean("aws-load-balancer-internal") {
            Some(false) => Scheme::InternetFacing,
            _ => Scheme::Internal,
        },
    };
    // GKE's dialect: external unless `networking.gke.io/load-balancer-type: Internal`.
    let scheme = if settings.ingress_gce {
        match crate::gce::read_service(annotations) {
            Ok(g) => g.scheme.unwrap_or(Scheme::InternetFacing),
            Err(bad) => {
                errors.extend(bad.into_iter().map(ModelError::Annotation));
                scheme
            }
        }
    } else {
        scheme
    };
    // AKS's dialect: external unless `azure-load-balancer-internal: "true"`; the checked
    // values go to the Azure backend as attributes.
    let mut azure_attributes = BTreeMap::new();
    let scheme = if settings.cloud_provider_azure {
        match crate::azure::read_service(annotations) {
            Ok(az) => {
                azure_attributes = az.attributes;
                az.scheme
            }
            Err(bad) => {
                errors.extend(bad.into_iter().map(ModelError::Annotation));
                scheme
            }
        }
    } else {
        scheme
    };
    let ip_address_type =
        match a.choice("aws-load-balancer-ip-address-type", &["ipv4", "dualstack"]) {
            Some("dualstack") => IpAddressType::Dualstack,
            _ => IpAddressType::Ipv4,
        };
    let subnets = match a.list("aws-load-balancer-subnets") {
        Some(list) if !list.is_empty() => Subnets::Explicit(list),
        Some(_) => {
            a.reject("aws-load-balancer-subnets", "names no subnet");
            Subnets::Discover
        }
        None => Subnets::Discover,
    };

    let local = spec.external_traffic_policy.as_deref() == Some("Local");
    let health_check = health_check(&mut a, target_kind, local, spec.health_check_node_port);

    let mut group_attributes = a
        .map("aws-load-balancer-target-group-attributes")
        .unwrap_or_default();
    if let Some(raw) = a.raw("aws-load-balancer-proxy-protocol") {
        if raw.trim() == "*" {
            group_attributes.insert("proxy_protocol_v2.enabled".into(), "true".into());
        } else {
            a.reject(
                "aws-load-balancer-proxy-protocol",
                "only \"*\" (every port) is supported",
            );
        }
    }
    let mut attributes = a.map("aws-load-balancer-attributes").unwrap_or_default();
    attributes.extend(azure_attributes);
    let tags = a
        .map("aws-load-balancer-additional-resource-tags")
        .unwrap_or_default();
    let security_groups = a
        .list("aws-load-balancer-security-groups")
        .unwrap_or_default();

    let certificates: Vec<CertificateRef> = a
        .list("aws-load-balancer-ssl-cert")
        .unwrap_or_default()
        .into_iter()
        .map(CertificateRef::Named)
        .collect();
    let ssl_ports = a.list("aws-load-balancer-ssl-ports");
    if ssl_ports.is_some() && certificates.is_empty() {
        a.reject(
            "aws-load-balancer-ssl-ports",
            "needs service.beta.kubernetes.io/aws-load-balancer-ssl-cert",
        );
    }
    let ssl_policy = a
        .string("aws-load-balancer-ssl-negotiation-policy")
        .unwrap_or_else(|| settings.default_ssl_policy.clone());
    let tls_backend =
        a.choice("aws-load-balancer-backend-protocol", &["tcp", "ssl"]) == Some("ssl");

    let source_ranges = source_ranges(
        spec.load_balancer_source_ranges.as_deref(),
        &mut a,
        &mut errors,
    );

    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() {
        errors.push(ModelError::Service("the Service has no ports".into()));
    }
    if let Some(wanted) = &ssl_ports {
        for w in wanted {
            let known = ports
                .iter()
                .any(|p| p.port.to_string() == *w || p.name.as_deref() == Some(w.as_str()));
            if !known {
                a.reject(
                    "aws-load-balancer-ssl-ports",
                    format!("{w} is not a port of the Service"),
                );
            }
        }
    }

    let mut listeners = Vec::new();
    let mut groups = Vec::new();
    let mut seen = BTreeSet::new();
    for port in ports {
        let port_name = port.name.clone().unwrap_or_else(|| port.port.to_string());
        let port_error = |reason: String| ModelError::Port {
            port: port_name.clone(),
            reason,
        };
        let Ok(listen_port) = u16::try_from(port.port) else {
            errors.push(port_error(format!("{} is not a valid port", port.port)));
            continue;
        };
        let base = match port.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            other => {
                errors.push(port_error(format!(
                    "protocol {other} is not supported by network load balancers"
                )));
                continue;
            }
        };
        if !seen.insert((listen_port, base == Protocol::Udp)) {
            errors.push(port_error(format!("port {listen_port} is listed twice")));
            continue;
        }
        let tls = base == Protocol::Tcp
            && !certificates.is_empty()
            && ssl_ports.as_ref().is_none_or(|wanted| {
                wanted.iter().any(|w| {
                    w == "*"
                        || *w == port.port.to_string()
                        || Some(w.as_str()) == port.name.as_deref()
                })
            });
        let target_port = match target_kind {
            TargetKind::NodePort => match port.node_port.and_then(|p| u16::try_from(p).ok()) {
                Some(p) if p > 0 => p,
                _ => {
                    errors.push(port_error(
                        "instance targets need a node port (the Service has none yet)".into(),
                    ));
                    continue;
                }
            },
            // Each ip target carries the pod's own port; a named targetPort resolves per
            // endpoint, so the group's port is only a default.
            TargetKind::PodIp => match &port.target_port {
                Some(IntOrString::Int(p)) => u16::try_from(*p).unwrap_or(listen_port),
                Some(IntOrString::String(_)) => 1,
                None => listen_port,
            },
        };
        let key = group_key(namespace, name, port);
        groups.push(BackendGroup {
            key: key.clone(),
            protocol: if tls && tls_backend {
                Protocol::Tls
            } else {
                base
            },
            port: target_port,
            target_kind,
            health_check: health_check.clone(),
            attributes: group_attributes.clone(),
        });
        listeners.push(Listener {
            port: listen_port,
            protocol: if tls { Protocol::Tls } else { base },
            certificates: if tls {
                certificates.clone()
            } else {
                Vec::new()
            },
            ssl_policy: tls.then(|| ssl_policy.clone()),
            default_action: Action::forward_to(key),
            rules: Vec::new(),
        });
    }

    errors.extend(a.finish().into_iter().map(ModelError::Annotation));
    if !errors.is_empty() {
        return Err(errors);
    }
    let spec = LoadBalancerSpec {
        owner: Owner::namespaced(&settings.cluster, OwnerKind::Service, namespace, name),
        kind: LoadBalancerKind::Network,
        scheme,
        ip_address_type,
        listeners,
        groups,
        attributes,
        subnets,
        security_groups,
        source_ranges,
        tags,
    };
    spec.validate()
        .map_err(|e| vec![ModelError::Service(e.to_string())])?;
    Ok(spec)
}

fn health_check(
    a: &mut Annotations<'_>,
    target_kind: TargetKind,
    local: bool,
    health_check_node_port: Option<i32>,
) -> HealthCheck {
    let local_instance = local && target_kind == TargetKind::NodePort;
    let mut hc = HealthCheck::defaults_for(Protocol::Tcp);
    if local_instance {
        hc.protocol = Protocol::Http;
        hc.path = Some("/healthz".into());
        hc.timeout_seconds = 6;
        hc.healthy_threshold = 2;
        hc.unhealthy_threshold = 2;
        if let Some(p) = health_check_node_port.and_then(|p| u16::try_from(p).ok()) {
            hc.port = HealthCheckPort::Port(p);
        }
    }
    match a.choice(
        "aws-load-balancer-healthcheck-protocol",
        &["tcp", "http", "https"],
    ) {
        Some("http") => hc.protocol = Protocol::Http,
        Some("https") => hc.protocol = Protocol::Https,
        Some(_) => hc.protocol = Protocol::Tcp,
        None => {}
    }
    let l7 = hc.protocol.is_l7();
    if l7 {
        hc.path = Some(
            a.string("aws-load-balancer-healthcheck-path")
                .unwrap_or_else(|| hc.path.clone().unwrap_or_else(|| "/".into())),
        );
        hc.success_codes = Some(
            a.string("aws-load-balancer-healthcheck-success-codes")
                .unwrap_or_else(|| "200-399".into()),
        );
    } else {
        hc.path = None;
        hc.success_codes = None;
        for key in [
            "aws-load-balancer-healthcheck-path",
            "aws-load-balancer-healthcheck-success-codes",
        ] {
            if a.has(key) {
                a.reject(key, "needs an HTTP or HTTPS health check");
            }
        }
    }
    if let Some(raw) = a.string("aws-load-balancer-healthcheck-port") {
        if raw == "traffic-port" {
            hc.port = HealthCheckPort::TrafficPort;
        } else if let Some(p) = a.int("aws-load-balancer-healthcheck-port", 1, 65535) {
            hc.port = HealthCheckPort::Port(p as u16);
        }
    }
    if let Some(v) = a.int("aws-load-balancer-healthcheck-interval", 5, 300) {
        hc.interval_seconds = v;
    }
    if let Some(v) = a.int("aws-load-balancer-healthcheck-timeout", 2, 120) {
        hc.timeout_seconds = v;
    }
    if let Some(v) = a.int("aws-load-balancer-healthcheck-healthy-threshold", 2, 10) {
        hc.healthy_threshold = v;
    }
    if let Some(v) = a.int("aws-load-balancer-healthcheck-unhealthy-threshold", 2, 10) {
        hc.unhealthy_threshold = v;
    }
    hc
}

/// `spec.loadBalancerSourceRanges` wins over the annotation, as in Kubernetes.
fn source_ranges(
    field: Option<&[String]>,
    a: &mut Annotations<'_>,
    errors: &mut Vec<ModelError>,
) -> Vec<ipnet::IpNet> {
    let mut out = Vec::new();
    match field {
        Some(list) if !list.is_empty() => {
            for r in list {
                match r.trim().parse::<ipnet::IpNet>() {
                    Ok(net) => out.push(net),
                    Err(_) => errors.push(ModelError::Service(format!(
                        "spec.loadBalancerSourceRanges: {r:?} is not a CIDR"
                    ))),
                }
            }
        }
        _ => {
            for r in a.list("load-balancer-source-ranges").unwrap_or_default() {
                match r.parse::<ipnet::IpNet>() {
                    Ok(net) => out.push(net),
                    Err(_) => {
                        a.reject("load-balancer-source-ranges", format!("{r} is not a CIDR"));
                    }
                }
            }
        }
    }
    out
}
