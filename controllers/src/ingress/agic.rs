//! The parts of an Ingress that AGIC's dialect reads differently
//! ([`super::IngressSettings::agic`]): the front (listeners on 80, and 443 with a Key Vault
//! certificate; `ssl-redirect`; `use-private-ip`) and each backend's group (pod IPs, AGIC's
//! probe defaults, `backend-protocol`, `health-probe-path`, `backend-path-prefix`,
//! `request-timeout`, `connection-draining`, `cookie-based-affinity`). Rules, paths and default
//! backends are read as for every Ingress; the provider reads what is passed in the spec's and
//! groups' attributes under AGIC's own annotation names.
//!
//! One difference from AGIC: `appgw-ssl-certificate` names the certificate by its Key Vault
//! secret ID (`https://<vault>.vault.azure.net/secrets/<name>`), because the gateway is the
//! suite's, built whole on every change, not one a user installed certificates on.

use std::collections::BTreeMap;

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, HealthCheck, HealthCheckPort, PathMatch, Protocol,
    Scheme, TargetKind,
};
use k8s_openapi::api::core::v1::ServicePort;
use k8s_openapi::api::networking::v1::Ingress;

use super::gce::Front;
use super::group::MemberError;
use super::member::{Member, Shared, pod_ip_port};
use crate::annotations::{Annotations, Family};
use crate::service::model::group_key;

/// AGIC's IngressClass controller name.
pub const CONTROLLER: &str = "azure/application-gateway";
/// AGIC's class name.
pub const CLASS: &str = "azure-application-gateway";
/// The prefix of AGIC's annotations.
pub const PREFIX: &str = "appgw.ingress.kubernetes.io/";

/// The spec attribute naming the shared gateway (cloudnet-azure's
/// `attributes::GATEWAY_NAME`).
pub const GATEWAY_NAME: &str = "cloudnet.io/application-gateway-name";

/// The backend keys (after [`PREFIX`]), passed to the provider as group attributes.
const BACKEND_KEYS: &[&str] = &[
    "backend-path-prefix",
    "request-timeout",
    "connection-draining",
    "connection-draining-timeout",
    "cookie-based-affinity",
];

/// AGIC's annotations cloudnet reads.
const SUPPORTED: &[&str] = &[
    "ssl-redirect",
    "use-private-ip",
    "appgw-ssl-certificate",
    "backend-protocol",
    "health-probe-path",
    "backend-path-prefix",
    "request-timeout",
    "connection-draining",
    "connection-draining-timeout",
    "cookie-based-affinity",
];

/// AGIC's annotations recognised but not carried out yet.
const NOT_SUPPORTED: &[&str] = &[
    "backend-hostname",
    "health-probe-hostname",
    "health-probe-port",
    "health-probe-interval",
    "health-probe-timeout",
    "health-probe-unhealthy-threshold",
    "health-probe-status-codes",
    "override-frontend-port",
    "appgw-trusted-root-certificate",
    "appgw-ssl-profile",
    "waf-policy-for-path",
    "hostname-extension",
    "rewrite-rule-set",
    "rewrite-rule-set-custom-resource",
    "rule-priority",
];

static FAMILY: Family = Family {
    prefix: PREFIX,
    checked: "",
    supported: SUPPORTED,
    supported_prefixes: &[],
    not_supported: NOT_SUPPORTED,
};

/// The front of an AGIC Ingress, or every reason it cannot be read.
pub(super) fn front(
    ing: &Ingress,
    annotations: &BTreeMap<String, String>,
) -> Result<Front, Vec<String>> {
    let mut a = Annotations::new(&FAMILY, annotations);
    let mut errors = super::annotations::foreign(
        annotations,
        "AGIC's class, which reads appgw.ingress.kubernetes.io/* annotations",
    );
    let private = a.boolean("use-private-ip").unwrap_or(false);
    let redirect = a.boolean("ssl-redirect").unwrap_or(false);
    let certificate = a.string("appgw-ssl-certificate");
    if let Some(c) = &certificate
        && !(c.starts_with("https://") && c.contains(".vault.") && c.contains("/secrets/"))
    {
        a.reject(
            "appgw-ssl-certificate",
            "must be a Key Vault secret ID (https://<vault>.vault.azure.net/secrets/<name>)",
        );
    }
    if redirect && certificate.is_none() {
        a.reject(
            "ssl-redirect",
            format!("redirects to HTTPS on 443, which needs {PREFIX}appgw-ssl-certificate"),
        );
    }
    check_backend(&mut a);
    let has_tls = ing
        .spec
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some_and(|t| !t.is_empty());
    if has_tls && certificate.is_none() {
        errors.push(format!(
            "spec.tls: certificates from Secrets are not supported by cloudnet yet; name the \
             Key Vault secret with {PREFIX}appgw-ssl-certificate"
        ));
    }
    errors.extend(a.finish().iter().map(ToString::to_string));
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut listen = vec![(Protocol::Http, 80)];
    if certificate.is_some() {
        listen.push((Protocol::Https, 443));
    }
    let mut attributes = BTreeMap::new();
    if private {
        attributes.insert(format!("{PREFIX}use-private-ip"), "true".to_string());
    }
    Ok(Front {
        shared: Shared {
            scheme: Some(if private {
                Scheme::Internal
            } else {
                Scheme::InternetFacing
            }),
            attributes: Some(attributes),
            ssl_redirect: redirect.then_some(443),
            ..Shared::default()
        },
        listen,
        certificates: certificate.into_iter().map(CertificateRef::Named).collect(),
    })
}

/// Checks the backend annotations (once per Ingress, in [`front`]): a bad value is the
/// Ingress's error, not each backend's.
fn check_backend(a: &mut Annotations<'_>) {
    a.choice("backend-protocol", &["http", "https"]);
    for k in ["health-probe-path", "backend-path-prefix"] {
        if a.string(k).is_some_and(|p| !p.starts_with('/')) {
            a.reject(k, "must start with '/'");
        }
    }
    a.int("request-timeout", 1, 86_400);
    a.int("connection-draining-timeout", 1, 3600);
    a.boolean("connection-draining");
    a.boolean("cookie-based-affinity");
}

/// The group of a Service port behind an AGIC Ingress: pod IPs, AGIC's probe (every 30 s,
/// 30 s timeout, 3 failures, 200-399), the Ingress's backend annotations over it (checked by
/// [`front`]).
pub(super) fn backend_group(
    namespace: &str,
    service: &str,
    sp: &ServicePort,
    ingress_annotations: &BTreeMap<String, String>,
) -> BackendGroup {
    let mut a = Annotations::new(&FAMILY, ingress_annotations);
    let protocol = match a.choice("backend-protocol", &["http", "https"]) {
        Some("https") => Protocol::Https,
        _ => Protocol::Http,
    };
    let path = a.string("health-probe-path");
    let attributes = BACKEND_KEYS
        .iter()
        .filter_map(|k| {
            let key = format!("{PREFIX}{k}");
            let v = ingress_annotations.get(&key)?.trim().to_ascii_lowercase();
            // Booleans in Go's spellings, passed on as the provider reads them.
            let v = match v.as_str() {
                "1" | "t" => "true".to_string(),
                "0" | "f" => "false".to_string(),
                _ => v,
            };
            Some((key, v))
        })
        .collect();
    BackendGroup {
        key: group_key(namespace, service, sp),
        protocol,
        port: pod_ip_port(sp),
        target_kind: TargetKind::PodIp,
        health_check: HealthCheck {
            protocol,
            port: HealthCheckPort::TrafficPort,
            path: Some(path.unwrap_or_else(|| "/".into())),
            interval_seconds: 30,
            timeout_seconds: 30,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            success_codes: Some("200-399".into()),
        },
        attributes,
    }
}

/// What a host and path is matched as, for telling two rules that claim the same requests.
fn path_key(p: &PathMatch) -> String {
    match p {
        PathMatch::Prefix(s) if s.trim_end_matches('/').is_empty() => "/*".into(),
        PathMatch::Prefix(s) => format!("prefix {}", s.trim_end_matches('/')),
        PathMatch::Exact(s) => format!("exact {s}"),
        PathMatch::Pattern(s) if s == "/*" || s == "*" => "/*".into(),
        PathMatch::Pattern(s) => format!("pattern {s}"),
    }
}

fn shown_path(p: &PathMatch) -> &str {
    match p {
        PathMatch::Prefix(s) | PathMatch::Exact(s) | PathMatch::Pattern(s) => s,
    }
}

fn shown_action(a: &Action) -> String {
    match a {
        Action::Forward { groups } => groups
            .iter()
            .map(|g| g.group.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        Action::Redirect(_) => "a redirect".into(),
        Action::FixedResponse(f) => format!("a fixed {} response", f.status_code),
    }
}

/// AGIC's rule for Ingresses merged into one gateway: members in order (namespace/name),
/// the first to route a host and path keeps it; a later member's rule for the same host and
/// path is left out (a warning on that Ingress when it goes elsewhere, silently when it goes
/// to the same place, as one path map cannot hold a path twice). Rules of one Ingress are
/// not compared with each other.
pub(super) fn claim_paths(members: &mut [Member]) -> Vec<MemberError> {
    let mut claimed: BTreeMap<(Vec<String>, String), (String, Action)> = BTreeMap::new();
    let mut warnings = Vec::new();
    for m in members.iter_mut() {
        let mut kept = Vec::new();
        for mut r in std::mem::take(&mut m.rules) {
            let mut hosts = r.hosts.clone();
            hosts.sort();
            hosts.dedup();
            let everything = [PathMatch::Prefix("/".into())];
            let asked: Vec<PathMatch> = if r.paths.is_empty() {
                everything.to_vec()
            } else {
                r.paths.clone()
            };
            let mut paths = Vec::new();
            for p in asked {
                let k = (hosts.clone(), path_key(&p));
                match claimed.get(&k) {
                    Some((by, _)) if *by == m.key => paths.push(p),
                    Some((by, action)) => {
                        if *action != r.action {
                            let host = if hosts.is_empty() {
                                "every host".to_string()
                            } else {
                                format!("host {}", hosts.join(","))
                            };
                            warnings.push(MemberError {
                                ingress: m.key.clone(),
                                message: format!(
                                    "{host} path {}: already routed to {} by {by}, which comes \
                                     first (AGIC's order: namespace/name); this Ingress's rule \
                                     to {} is not applied",
                                    shown_path(&p),
                                    shown_action(action),
                                    shown_action(&r.action)
                                ),
                            });
                        }
                    }
                    None => {
                        claimed.insert(k, (m.key.clone(), r.action.clone()));
                        paths.push(p);
                    }
                }
            }
            if paths.is_empty() {
                continue;
            }
            if !r.paths.is_empty() {
                r.paths = paths;
            }
            kept.push(r);
        }
        m.rules = kept;
    }
    warnings
}

#[cfg(test)]
#[path = "agic_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "agic_shared_tests.rs"]
mod shared_tests;
