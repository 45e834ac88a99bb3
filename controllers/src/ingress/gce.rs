//! The parts of an Ingress that ingress-gce's dialect reads differently
//! ([`super::IngressSettings::ingress_gce`]): the load balancer's front (scheme from the
//! class, listeners from `allow-http` and `pre-shared-cert`, the named static IP) and each
//! backend's group (NEG or not from the Service's `cloud.google.com/neg`, ingress-gce's NEG
//! health check, the port's BackendConfig). Rules, paths and default backends are read as
//! for every Ingress.

use std::collections::BTreeMap;

use cloudnet_core::{BackendGroup, CertificateRef, Protocol, Scheme, TargetKind};
use cloudnet_crds::BackendConfig;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::networking::v1::Ingress;

use super::annotations::PREFIX;
use super::class::class_name;
use super::member::{Services, Shared, pod_ip_port};
use crate::gce::{
    self, GLOBAL_STATIC_IP_NAME, PRE_SHARED_CERT, apply_backend_config, class_scheme,
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
    let mut errors: Vec<String> = annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .map(|k| {
            format!(
                "annotation {k}: an AWS Load Balancer Controller annotation on an Ingress of \
                 ingress-gce's classes, which read ingress-gce's annotations"
            )
        })
        .collect();
    let g = match read_ingress(annotations) {
        Ok(g) => Some(g),
        Err(e) => {
            errors.extend(e.iter().map(ToString::to_string));
            None
        }
    };
    let has_tls = ing
        .spec
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some_and(|t| !t.is_empty());
    if has_tls {
        errors.push(format!(
            "spec.tls: certificates from Secrets are not supported by cloudnet yet; name SSL \
             certificates already in the project with {PRE_SHARED_CERT}"
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
    if !g.certificates.is_empty() {
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
        certificates: g.certificates.into_iter().map(CertificateRef).collect(),
    })
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
