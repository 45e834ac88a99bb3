//! ingress-gce's annotations, read as ingress-gce (and GKE's Service controller) reads them,
//! so manifests written for GKE work unchanged: the Ingress keys
//! (`kubernetes.io/ingress.allow-http`, `kubernetes.io/ingress.global-static-ip-name`,
//! `ingress.gcp.kubernetes.io/pre-shared-cert`), the Service keys (`cloud.google.com/neg`,
//! `cloud.google.com/backend-config`, `networking.gke.io/load-balancer-type`), the
//! IngressClass names `gce` and `gce-internal`, and a [`BackendConfig`]'s subset
//! (health check, `timeoutSec`, `connectionDraining`) applied to a backend group.
//!
//! Pure. Where ingress-gce quietly falls back (an `allow-http` that is not a boolean reads as
//! true there), this is stricter: a value that does not parse is an [`AnnotationError`], which
//! the controllers turn into a Warning Event and a condition, and the load balancer is left
//! unchanged until it is fixed.
//!
//! [`BackendConfig`]: cloudnet_crds::BackendConfig

use std::collections::BTreeMap;

use cloudnet_core::{HealthCheck, HealthCheckPort, Protocol, Scheme};
use cloudnet_crds::BackendConfigSpec;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use serde::Deserialize;

use crate::annotations::{AnnotationError, Annotations, Family};

/// `"false"`: the load balancer gets no HTTP listener (only HTTPS). True by default.
pub const ALLOW_HTTP: &str = "kubernetes.io/ingress.allow-http";
/// The name of a reserved global address for the load balancer's forwarding rules.
pub const GLOBAL_STATIC_IP_NAME: &str = "kubernetes.io/ingress.global-static-ip-name";
/// Regional external L7 only (`gce-regional-external`), which is not built.
pub const REGIONAL_STATIC_IP_NAME: &str = "kubernetes.io/ingress.regional-static-ip-name";
/// Comma-separated names of SSL certificates already in the project, the first the default.
pub const PRE_SHARED_CERT: &str = "ingress.gcp.kubernetes.io/pre-shared-cert";
/// On a Service: `{"ingress": true}` (container-native: pod IPs in NEGs) or `false`.
pub const NEG: &str = "cloud.google.com/neg";
/// On a Service: `{"default": "NAME", "ports": {"PORT-OR-NAME": "NAME"}}`.
pub const BACKEND_CONFIG: &str = "cloud.google.com/backend-config";
/// The beta spelling of [`BACKEND_CONFIG`], read when the GA one is absent.
pub const BETA_BACKEND_CONFIG: &str = "beta.cloud.google.com/backend-config";
/// On a Service of `type: LoadBalancer`: `Internal` makes an internal passthrough load
/// balancer (external by default).
pub const LOAD_BALANCER_TYPE: &str = "networking.gke.io/load-balancer-type";
/// The older spelling of [`LOAD_BALANCER_TYPE`].
pub const LEGACY_LOAD_BALANCER_TYPE: &str = "cloud.google.com/load-balancer-type";
/// The IngressClass (or legacy `kubernetes.io/ingress.class`) of an external L7.
pub const CLASS_EXTERNAL: &str = "gce";
/// The IngressClass of an internal L7.
pub const CLASS_INTERNAL: &str = "gce-internal";
/// ingress-gce's IngressClass controller name.
pub const CONTROLLER: &str = "k8s.io/ingress-gce";
/// The pod readiness gate ingress-gce injects into pods behind NEGs.
pub const NEG_READINESS_GATE: &str = "cloud.google.com/load-balancer-neg-ready";

/// The backend group attribute that carries a BackendConfig's `timeoutSec` to the GCP
/// backend (the backend service field of the same name).
pub const ATTR_TIMEOUT_SEC: &str = "timeoutSec";
/// The backend group attribute that carries `connectionDraining.drainingTimeoutSec`.
pub const ATTR_DRAINING_TIMEOUT_SEC: &str = "connectionDraining.drainingTimeoutSec";

/// The keys this module reads, whole (the family's prefix is empty, and no key is checked for
/// spelling: these keys share their prefixes with many that are not load balancer settings).
static GCE: Family = Family {
    prefix: "",
    checked: "\u{0}",
    supported: &[
        ALLOW_HTTP,
        GLOBAL_STATIC_IP_NAME,
        PRE_SHARED_CERT,
        NEG,
        BACKEND_CONFIG,
        BETA_BACKEND_CONFIG,
        LOAD_BALANCER_TYPE,
        LEGACY_LOAD_BALANCER_TYPE,
    ],
    supported_prefixes: &[],
    not_supported: &[],
};

/// What an Ingress's ingress-gce annotations ask of its load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GceIngress {
    pub allow_http: bool,
    /// Pre-shared SSL certificate names, the first the default; empty: no HTTPS listener.
    pub certificates: Vec<String>,
    pub static_ip: Option<String>,
}

/// The scheme an ingress-gce class name means (None: not an ingress-gce class).
pub fn class_scheme(class: &str) -> Option<Scheme> {
    match class {
        CLASS_EXTERNAL => Some(Scheme::InternetFacing),
        CLASS_INTERNAL => Some(Scheme::Internal),
        _ => None,
    }
}

/// A Compute Engine resource name: 1-63 of `[a-z0-9-]`, a letter first, no `-` last.
pub fn is_gce_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Reads an Ingress's ingress-gce annotations; every bad one is reported at once.
pub fn read_ingress(map: &BTreeMap<String, String>) -> Result<GceIngress, Vec<AnnotationError>> {
    let mut a = Annotations::new(&GCE, map);
    let allow_http = a.boolean(ALLOW_HTTP).unwrap_or(true);
    let certificates = a.list(PRE_SHARED_CERT).unwrap_or_default();
    if a.has(PRE_SHARED_CERT) && certificates.is_empty() {
        a.reject(PRE_SHARED_CERT, "names no certificate");
    }
    if let Some(bad) = certificates.iter().find(|c| !is_gce_name(c)) {
        a.reject(
            PRE_SHARED_CERT,
            format!("{bad:?} is not an SSL certificate name ([a-z]([-a-z0-9]{{0,61}}[a-z0-9])?)"),
        );
    }
    let static_ip = a
        .string(GLOBAL_STATIC_IP_NAME)
        .map(|s| s.trim().to_string());
    if let Some(ip) = static_ip.as_deref().filter(|ip| !is_gce_name(ip)) {
        a.reject(
            GLOBAL_STATIC_IP_NAME,
            format!("{ip:?} is not an address name ([a-z]([-a-z0-9]{{0,61}}[a-z0-9])?)"),
        );
    }
    // `allow-http: false` without any certificate is checked with spec.tls's Secrets
    // (ingress::gce::front), which this function does not see.
    let mut errors = a.finish();
    if let Some(v) = map.get(REGIONAL_STATIC_IP_NAME) {
        errors.push(AnnotationError {
            key: REGIONAL_STATIC_IP_NAME.into(),
            value: v.clone(),
            reason: "regional external application load balancers are not supported by \
                     cloudnet yet; use a global address"
                .into(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(GceIngress {
        allow_http,
        certificates,
        static_ip,
    })
}

/// `cloud.google.com/neg`, the part that shapes a load balancer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NegAnnotation {
    /// NEGs for Ingress backends (container-native load balancing).
    #[serde(default)]
    pub ingress: bool,
    /// Standalone NEGs by Service port; read, not carried out.
    #[serde(default)]
    pub exposed_ports: BTreeMap<i32, serde_json::Value>,
}

/// `cloud.google.com/backend-config`: the BackendConfig of each Service port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BackendConfigRefs {
    #[serde(default)]
    pub default: Option<String>,
    /// By port name or number.
    #[serde(default)]
    pub ports: BTreeMap<String, String>,
}

impl BackendConfigRefs {
    /// The BackendConfig of a Service port: by its name, then its number, then the default
    /// (ingress-gce's `BackendConfigName`).
    pub fn for_port(&self, port: &ServicePort) -> Option<&str> {
        port.name
            .as_ref()
            .and_then(|n| self.ports.get(n))
            .or_else(|| self.ports.get(&port.port.to_string()))
            .or(self.default.as_ref())
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }
}

/// What a Service's ingress-gce annotations say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GceService {
    pub neg: Option<NegAnnotation>,
    pub backend_configs: Option<BackendConfigRefs>,
    /// `networking.gke.io/load-balancer-type`: Internal or External.
    pub scheme: Option<Scheme>,
}

/// Reads a Service's ingress-gce annotations; every bad one is reported at once, with
/// ingress-gce's own wording where it has one.
pub fn read_service(map: &BTreeMap<String, String>) -> Result<GceService, Vec<AnnotationError>> {
    let mut a = Annotations::new(&GCE, map);
    let neg = a.raw(NEG).and_then(|raw| {
        serde_json::from_str::<NegAnnotation>(raw)
            .map_err(|e| a.reject(NEG, format!("NEG annotation is invalid: {e}")))
            .ok()
    });
    let bc_key = if a.has(BACKEND_CONFIG) {
        BACKEND_CONFIG
    } else {
        BETA_BACKEND_CONFIG
    };
    let backend_configs =
        a.raw(bc_key)
            .and_then(|raw| match serde_json::from_str::<BackendConfigRefs>(raw) {
                Err(e) => {
                    a.reject(
                        bc_key,
                        format!("BackendConfig annotation is invalid json: {e}"),
                    );
                    None
                }
                Ok(r) if r.default.as_deref().unwrap_or("").is_empty() && r.ports.is_empty() => {
                    a.reject(bc_key, "no BackendConfig's found in annotation");
                    None
                }
                Ok(r) => Some(r),
            });
    let type_key = if a.has(LOAD_BALANCER_TYPE) {
        LOAD_BALANCER_TYPE
    } else {
        LEGACY_LOAD_BALANCER_TYPE
    };
    let scheme = match a.raw(type_key).map(str::trim) {
        None => None,
        Some("Internal") => Some(Scheme::Internal),
        Some("External") => Some(Scheme::InternetFacing),
        Some(_) => {
            a.reject(type_key, "must be Internal or External");
            None
        }
    };
    let errors = a.finish();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(GceService {
        neg,
        backend_configs,
        scheme,
    })
}

/// ingress-gce's health check of a NEG backend: HTTP `/` on the serving port every 15 s,
/// 15 s timeout, healthy after 1 success, unhealthy after 2 failures.
pub fn neg_health_check_defaults() -> HealthCheck {
    HealthCheck {
        protocol: Protocol::Http,
        port: HealthCheckPort::TrafficPort,
        path: Some("/".into()),
        interval_seconds: 15,
        timeout_seconds: 15,
        healthy_threshold: 1,
        unhealthy_threshold: 2,
        success_codes: None,
    }
}

/// Applies a BackendConfig's subset to a backend group's health check and attributes
/// ([`ATTR_TIMEOUT_SEC`], [`ATTR_DRAINING_TIMEOUT_SEC`]); answers every value out of the
/// cloud's range, each naming its field.
pub fn apply_backend_config(
    spec: &BackendConfigSpec,
    hc: &mut HealthCheck,
    attributes: &mut BTreeMap<String, String>,
) -> Result<(), Vec<String>> {
    let errors = std::cell::RefCell::new(Vec::new());
    let ranged = |field: &str, v: i64, min: i64, max: i64| -> Option<u32> {
        if (min..=max).contains(&v) {
            u32::try_from(v).ok()
        } else {
            errors
                .borrow_mut()
                .push(format!("{field}: {v} must be between {min} and {max}"));
            None
        }
    };
    if let Some(h) = &spec.health_check {
        let field = |v: Option<i64>, name: &str, min: i64, max: i64| {
            v.and_then(|v| ranged(&format!("healthCheck.{name}"), v, min, max))
        };
        if let Some(v) = field(h.check_interval_sec, "checkIntervalSec", 1, 300) {
            hc.interval_seconds = v;
        }
        if let Some(v) = field(h.timeout_sec, "timeoutSec", 1, 300) {
            hc.timeout_seconds = v;
        }
        if let Some(v) = field(h.healthy_threshold, "healthyThreshold", 1, 10) {
            hc.healthy_threshold = v;
        }
        if let Some(v) = field(h.unhealthy_threshold, "unhealthyThreshold", 1, 10) {
            hc.unhealthy_threshold = v;
        }
        if let Some(p) = field(h.port, "port", 1, 65535) {
            hc.port = HealthCheckPort::Port(p as u16);
        }
        if let Some(path) = &h.request_path {
            if path.starts_with('/') {
                hc.path = Some(path.clone());
            } else {
                errors.borrow_mut().push(format!(
                    "healthCheck.requestPath: {path:?} must start with /"
                ));
            }
        }
        match h.r#type.as_deref() {
            None => {}
            Some("HTTP") => hc.protocol = Protocol::Http,
            Some("HTTPS") => hc.protocol = Protocol::Https,
            Some(other) => errors.borrow_mut().push(format!(
                "healthCheck.type: {other:?} must be HTTP or HTTPS (HTTP2 is not supported by \
                 cloudnet yet)"
            )),
        }
    }
    if let Some(t) = spec
        .timeout_sec
        .and_then(|v| ranged("timeoutSec", v, 1, 86400))
    {
        attributes.insert(ATTR_TIMEOUT_SEC.into(), t.to_string());
    }
    if let Some(t) = spec.connection_draining.as_ref().and_then(|d| {
        ranged(
            "connectionDraining.drainingTimeoutSec",
            d.draining_timeout_sec,
            0,
            3600,
        )
    }) {
        attributes.insert(ATTR_DRAINING_TIMEOUT_SEC.into(), t.to_string());
    }
    let errors = errors.into_inner();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Where the controller leaves the BackendConfigs it found for a Service (by name, the
/// Service's namespace) on its copy of the Service, for the pure model to read. Only
/// [`with_backend_configs`] sets it: a copy the Service brings itself is dropped.
pub const RESOLVED_BACKEND_CONFIGS: &str = "backendconfigs.cloudnet.io/resolved";

/// The names of every BackendConfig a Service's annotation refers to (none when the
/// annotation does not parse: the model reports that).
pub fn backend_config_names(svc: &Service) -> Vec<String> {
    let empty = BTreeMap::new();
    let map = svc.metadata.annotations.as_ref().unwrap_or(&empty);
    let Ok(GceService {
        backend_configs: Some(refs),
        ..
    }) = read_service(map)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = refs
        .default
        .into_iter()
        .chain(refs.ports.into_values())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A copy of the Service carrying the BackendConfigs found for it
/// ([`RESOLVED_BACKEND_CONFIGS`]).
pub fn with_backend_configs(svc: &Service, found: &BTreeMap<String, BackendConfigSpec>) -> Service {
    let mut out = svc.clone();
    let annotations = out.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(RESOLVED_BACKEND_CONFIGS);
    if !found.is_empty() {
        let json = serde_json::to_string(found).unwrap_or_default();
        annotations.insert(RESOLVED_BACKEND_CONFIGS.into(), json);
    }
    out
}

/// The BackendConfigs [`with_backend_configs`] left on a Service, by name.
pub fn resolved_backend_configs(svc: &Service) -> BTreeMap<String, BackendConfigSpec> {
    svc.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESOLVED_BACKEND_CONFIGS))
        .and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "gce_tests.rs"]
mod tests;
