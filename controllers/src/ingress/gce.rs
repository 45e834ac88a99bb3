//! The parts of an Ingress that ingress-gce's dialect reads differently
//! ([`super::IngressSettings::ingress_gce`]): the load balancer's front (scheme from the
//! class, listeners from `allow-http`, `pre-shared-cert` and the TLS Secrets of `spec.tls`
//! (which the GCP backend uploads as self-managed SSL certificates), the named static IP) and each
//! backend's group (NEG or not from the Service's `cloud.google.com/neg`, ingress-gce's NEG
//! health check, the port's BackendConfig). Rules, paths and default backends are read as
//! for every Ingress.

use std::collections::BTreeMap;

use cloudnet_core::{
    BackendGroup, CertificateMaterial, CertificateRef, Protocol, Scheme, TargetKind,
};
use cloudnet_crds::BackendConfig;
use k8s_openapi::api::core::v1::{Secret, Service, ServicePort};
use k8s_openapi::api::networking::v1::Ingress;
use serde::{Deserialize, Serialize};

use super::class::class_name;
use super::member::{Services, Shared, pod_ip_port};
use crate::gce::{
    self, ALLOW_HTTP, GLOBAL_STATIC_IP_NAME, PRE_SHARED_CERT, apply_backend_config, class_scheme,
    neg_health_check_defaults, read_ingress, read_service,
};
use crate::service::model::group_key;

/// The front of an ingress-gce Ingress: what it shares with its group, its listen ports and
/// certificates; or every reason it cannot be read.
pub(super) struct Front {
    pub(super) shared: Shared,
    pub(super) listen: Vec<(Protocol, u16)>,
    pub(super) certificates: Vec<CertificateRef>,
}

pub(super) fn front(
    ing: &Ingress,
    annotations: &BTreeMap<String, String>,
) -> Result<Front, Vec<String>> {
    let mut errors = super::annotations::foreign(
        annotations,
        "ingress-gce's classes, which read ingress-gce's annotations",
    );
    let g = match read_ingress(annotations) {
        Ok(g) => Some(g),
        Err(e) => {
            errors.extend(e.iter().map(ToString::to_string));
            None
        }
    };
    // Pre-shared certificates first (the first is the proxy's default), then the Secrets'.
    let mut certificates: Vec<CertificateRef> = g
        .as_ref()
        .map(|g| g.certificates.iter().map(CertificateRef::named).collect())
        .unwrap_or_default();
    let namespace = ing.metadata.namespace.as_deref().unwrap_or_default();
    let resolved = resolved_tls_secrets(ing);
    for name in tls_secret_names(ing) {
        let source = format!("{namespace}/{name}");
        match resolved.get(&name) {
            Some(TlsSecret::Found {
                certificate,
                private_key,
            }) => certificates.push(CertificateRef::Material(CertificateMaterial {
                source,
                certificate: certificate.clone(),
                private_key: private_key.clone(),
            })),
            Some(TlsSecret::Unusable { reason }) => {
                errors.push(format!("spec.tls: Secret {source} {reason}"));
            }
            None => errors.push(format!("spec.tls: Secret {source} does not exist")),
        }
    }
    if let Some(g) = g
        .as_ref()
        .filter(|g| !g.allow_http && certificates.is_empty())
    {
        errors.push(format!(
            "annotation {ALLOW_HTTP}: {:?}: with HTTP off the load balancer needs HTTPS: set \
             {PRE_SHARED_CERT} or spec.tls",
            g.allow_http.to_string()
        ));
    }
    let Some(g) = g.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    let scheme = class_name(ing)
        .and_then(class_scheme)
        .unwrap_or(Scheme::InternetFacing);
    let mut listen = Vec::new();
    if g.allow_http {
        listen.push((Protocol::Http, 80));
    }
    if !certificates.is_empty() {
        listen.push((Protocol::Https, 443));
    }
    Ok(Front {
        shared: Shared {
            scheme: Some(scheme),
            attributes: g
                .static_ip
                .map(|ip| BTreeMap::from([(GLOBAL_STATIC_IP_NAME.to_string(), ip)])),
            ..Shared::default()
        },
        listen,
        certificates,
    })
}

/// Where the controller leaves the TLS Secrets it read for an Ingress (by name, the
/// Ingress's namespace) on its copy of the Ingress, for the pure model to read. Only
/// [`with_tls_secrets`] sets it: a copy the Ingress brings itself is dropped.
pub const RESOLVED_TLS_SECRETS: &str = "tls.cloudnet.io/resolved";

/// A Secret named in `spec.tls`, as read: its certificate and key, or why it cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum TlsSecret {
    #[serde(rename_all = "camelCase")]
    Found {
        certificate: String,
        private_key: String,
    },
    Unusable {
        reason: String,
    },
}

/// The Secrets an Ingress's `spec.tls` names, in order, once each.
pub fn tls_secret_names(ing: &Ingress) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let tls = ing.spec.as_ref().and_then(|s| s.tls.as_ref());
    for n in tls
        .into_iter()
        .flatten()
        .filter_map(|t| t.secret_name.clone())
    {
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// A Secret as a TLS certificate: `tls.crt` and `tls.key`, both non-empty UTF-8 (PEM), as
/// ingress-gce reads them (the type is not checked, the keys are).
pub fn read_tls_secret(secret: &Secret) -> TlsSecret {
    let data = secret.data.as_ref();
    let field = |key: &str| -> Result<String, String> {
        let bytes = data
            .and_then(|d| d.get(key))
            .filter(|b| !b.0.is_empty())
            .ok_or_else(|| format!("has no {key}"))?;
        String::from_utf8(bytes.0.clone()).map_err(|_| format!("{key} is not PEM text"))
    };
    match (field("tls.crt"), field("tls.key")) {
        (Ok(certificate), Ok(private_key)) => TlsSecret::Found {
            certificate,
            private_key,
        },
        (Err(a), Err(b)) => TlsSecret::Unusable {
            reason: format!("{a} and {}", b.trim_start_matches("has ")),
        },
        (Err(reason), _) | (_, Err(reason)) => TlsSecret::Unusable { reason },
    }
}

/// A copy of the Ingress carrying the Secrets of its `spec.tls` as `lookup` finds them
/// ([`RESOLVED_TLS_SECRETS`]; a Secret `lookup` does not find is left out, and the model
/// reports it missing).
pub fn with_tls_secrets(ing: &Ingress, lookup: impl Fn(&str, &str) -> Option<Secret>) -> Ingress {
    let mut out = ing.clone();
    let namespace = ing.metadata.namespace.clone().unwrap_or_default();
    let found: BTreeMap<String, TlsSecret> = tls_secret_names(ing)
        .into_iter()
        .filter_map(|n| lookup(&namespace, &n).map(|s| (n, read_tls_secret(&s))))
        .collect();
    let annotations = out.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(RESOLVED_TLS_SECRETS);
    if !found.is_empty() {
        let json = serde_json::to_string(&found).unwrap_or_default();
        annotations.insert(RESOLVED_TLS_SECRETS.into(), json);
    }
    out
}

/// The Secrets [`with_tls_secrets`] left on an Ingress, by name.
fn resolved_tls_secrets(ing: &Ingress) -> BTreeMap<String, TlsSecret> {
    ing.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESOLVED_TLS_SECRETS))
        .and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or_default()
}

/// The backend group of a Service port under ingress-gce: pod IPs in NEGs unless the
/// Service's `cloud.google.com/neg` turns them off for Ingress, ingress-gce's NEG health
/// check, the port's BackendConfig (the ones the controller found for the Service,
/// [`gce::resolved_backend_configs`]) over it.
pub(super) fn backend_group(
    namespace: &str,
    service: &str,
    svc: &Service,
    sp: &ServicePort,
) -> Result<BackendGroup, String> {
    let empty = BTreeMap::new();
    let annotations = svc.metadata.annotations.as_ref().unwrap_or(&empty);
    let read = read_service(annotations).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let target_kind = match &read.neg {
        Some(neg) if !neg.ingress => TargetKind::NodePort,
        _ => TargetKind::PodIp,
    };
    let mut health_check = neg_health_check_defaults();
    let mut attributes = BTreeMap::new();
    if let Some(name) = read.backend_configs.as_ref().and_then(|r| r.for_port(sp)) {
        let found = gce::resolved_backend_configs(svc);
        let Some(spec) = found.get(name) else {
            return Err(format!(
                "BackendConfig {namespace}/{name} does not exist (named by {})",
                gce::BACKEND_CONFIG
            ));
        };
        apply_backend_config(spec, &mut health_check, &mut attributes)
            .map_err(|e| format!("BackendConfig {namespace}/{name}: {}", e.join("; ")))?;
    }
    // A port the annotation names no BackendConfig for keeps the defaults, as in ingress-gce
    // (dropping a port from the annotation is how a user takes its BackendConfig off).
    let port = match target_kind {
        TargetKind::NodePort => sp
            .node_port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                format!(
                    "{} turns NEGs off, and instance-group backends need a node port",
                    gce::NEG
                )
            })?,
        TargetKind::PodIp => pod_ip_port(sp),
    };
    Ok(BackendGroup {
        key: group_key(namespace, service, sp),
        protocol: Protocol::Http,
        port,
        target_kind,
        health_check,
        attributes,
    })
}

/// The Services with the BackendConfigs their annotations name, read from the API server
/// (one get each; the model reports a missing one on the Ingress). A Service's changes wake
/// its Ingresses; a BackendConfig's own changes are picked up at the next resync.
pub(super) async fn resolve_backend_configs(client: &kube::Client, services: Services) -> Services {
    let mut out = Services::new();
    for ((ns, name), svc) in services {
        let api: kube::Api<BackendConfig> = kube::Api::namespaced(client.clone(), &ns);
        let mut found = BTreeMap::new();
        for bc in gce::backend_config_names(&svc) {
            match api.get_opt(&bc).await {
                Ok(Some(obj)) => {
                    found.insert(bc, obj.spec);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(namespace = %ns, backend_config = %bc, error = %e,
                    "Reading a BackendConfig failed"),
            }
        }
        let resolved = gce::with_backend_configs(&svc, &found);
        out.insert((ns, name), resolved);
    }
    out
}

#[cfg(test)]
#[path = "gce_tests.rs"]
mod tests;
