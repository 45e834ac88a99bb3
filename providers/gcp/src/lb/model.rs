//! Plain structs for the GCLB resources, desired and actual alike.
//!
//! The planner ([`super::plan`]) builds the desired ones from a spec; [`super::observe`] reads
//! the actual ones from the client library's types. The diff ([`super::diff`]) compares the
//! two and never sees a client type. References between resources are by name (every name of
//! a stack is known before anything is created); the cloud's URLs are cut to their last
//! segment when read.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::ownership::{TAG_CLUSTER, TAG_OWNER, TAG_OWNER_KIND, TAG_RESOURCE};
use cloudnet_core::{CertificateMaterial, LoadBalancerId, Owner};
use serde::Serialize;

pub use super::firewall::{Allow, FirewallDef};
use crate::ops::Scope;

/// A health check in Compute Engine's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckDef {
    pub name: String,
    /// `HTTP`, `HTTPS` or `TCP`.
    pub protocol: String,
    /// None: the serving port (`USE_SERVING_PORT`, each endpoint's own port).
    pub port: Option<u16>,
    /// For `HTTP` and `HTTPS` checks.
    pub request_path: Option<String>,
    pub interval_sec: i32,
    pub timeout_sec: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
}

/// A backend service: one per backend group (L7) or per protocol (L4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendServiceDef {
    pub name: String,
    /// `HTTP`, `HTTPS`, `TCP` or `UDP`.
    pub protocol: String,
    /// `EXTERNAL` or `INTERNAL`.
    pub scheme: String,
    /// The health check's name.
    pub health_check: String,
    /// The spec's group keys this service serves (one for L7; the protocol's for L4).
    pub groups: Vec<String>,
    /// `GCE_VM_IP_PORT` (L7) or `GCE_VM_IP` (L4): the type of this service's NEGs, which
    /// carry the service's name in every zone that has targets.
    pub neg_type: String,
    /// The NEGs' default port (L7).
    pub neg_port: Option<u16>,
    /// `timeoutSec` (a BackendConfig's, through [`super::plan::ATTR_TIMEOUT_SEC`]); None:
    /// whatever the cloud has (its default is 30).
    pub timeout_sec: Option<i32>,
    /// `connectionDraining.drainingTimeoutSec`
    /// ([`super::plan::ATTR_DRAINING_TIMEOUT_SEC`]); None: whatever the cloud has.
    pub draining_timeout_sec: Option<i32>,
}

/// A backend service as the cloud has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualBackendService {
    pub name: String,
    pub protocol: Option<String>,
    pub scheme: Option<String>,
    pub health_checks: Vec<String>,
    /// The backends' NEGs as `(zone, name)`; other backends as their URL with zone "".
    pub backends: BTreeSet<(String, String)>,
    pub timeout_sec: Option<i32>,
    pub draining_timeout_sec: Option<i32>,
}

/// A NEG as the cloud has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualNeg {
    pub name: String,
    pub zone: String,
    pub neg_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRuleDef {
    /// Sorted.
    pub hosts: Vec<String>,
    pub path_matcher: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathRuleDef {
    pub paths: Vec<String>,
    /// A backend service's name.
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathMatcherDef {
    pub name: String,
    pub default_service: String,
    pub path_rules: Vec<PathRuleDef>,
}

/// A URL map: one per listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlMapDef {
    pub name: String,
    pub default_service: String,
    /// Sorted by path matcher.
    pub host_rules: Vec<HostRuleDef>,
    pub path_matchers: Vec<PathMatcherDef>,
}

/// A self-managed SSL certificate the stack uploads (a Secret of an Ingress's `spec.tls`):
/// named after its content, so new content is a new certificate, never an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SslCertificateDef {
    pub name: String,
    /// Where the material came from (`ns/name` of the Secret).
    pub source: String,
    #[serde(skip)]
    pub material: CertificateMaterial,
}

/// A target HTTP or HTTPS proxy: one per listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyDef {
    pub name: String,
    pub https: bool,
    pub url_map: String,
    /// SSL certificate names (pre-shared ones and the stack's own), the first the default;
    /// empty for HTTP.
    pub certificates: Vec<String>,
}

/// A forwarding rule: one per listener (L7, global, to a proxy) or per protocol (L4,
/// regional, to a backend service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingRuleDef {
    pub name: String,
    /// `TCP` or `UDP`.
    pub ip_protocol: String,
    /// `EXTERNAL` or `INTERNAL`.
    pub scheme: String,
    /// L7: `80-80`.
    pub port_range: Option<String>,
    /// L4: the ports, sorted; empty with `all_ports`.
    pub ports: Vec<String>,
    pub all_ports: bool,
    /// L7: the proxy's name and whether it is an HTTPS one.
    pub target: Option<(String, bool)>,
    /// L4: the backend service's name.
    pub backend_service: Option<String>,
    /// Internal L4: the subnetwork's name.
    pub subnetwork: Option<String>,
    /// A fixed address (a named static IP, resolved); None: the cloud picks one, shared by
    /// the stack's rules.
    pub ip: Option<String>,
}

/// A forwarding rule as the cloud has it: the same fields, its `ip` the address it has, and
/// a protocol or scheme the cloud leaves out read as "" (which no desired rule has).
pub type ActualForwardingRule = ForwardingRuleDef;

/// Everything one spec becomes on GCP, before any call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredStack {
    pub id: LoadBalancerId,
    /// The stack's own name (`derive_name` of the owner alone); every name of the stack
    /// shares its readable part.
    pub base: String,
    #[serde(skip)]
    pub scope: Scope,
    pub owner: Owner,
    pub health_checks: Vec<HealthCheckDef>,
    pub backend_services: Vec<BackendServiceDef>,
    pub url_maps: Vec<UrlMapDef>,
    pub proxies: Vec<ProxyDef>,
    pub forwarding_rules: Vec<ForwardingRuleDef>,
    /// The self-managed certificates the proxies name (L7).
    pub ssl_certificates: Vec<SslCertificateDef>,
    /// The VPC firewall rules that let the load balancer's traffic and health checks in
    /// ([`super::firewall`]).
    pub firewalls: Vec<FirewallDef>,
}

impl DesiredStack {
    /// The backend service serving a group key.
    pub fn service_of(&self, group: &str) -> Option<&BackendServiceDef> {
        self.backend_services
            .iter()
            .find(|b| b.groups.iter().any(|g| g == group))
    }
}

/// What exists of a stack: every resource whose name has the stack's readable part, one
/// read per kind, each with who owns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStack {
    pub health_checks: Vec<Seen<HealthCheckDef>>,
    pub backend_services: Vec<Seen<ActualBackendService>>,
    pub negs: Vec<Seen<ActualNeg>>,
    pub url_maps: Vec<Seen<UrlMapDef>>,
    /// HTTP and HTTPS proxies (told apart by [`ProxyDef::https`]).
    pub proxies: Vec<Seen<ProxyDef>>,
    pub forwarding_rules: Vec<Seen<ActualForwardingRule>>,
    /// SSL certificates by name (global: L7 only).
    pub ssl_certificates: Vec<Seen<String>>,
    /// Firewall rules (global, for either kind).
    pub firewalls: Vec<Seen<FirewallDef>>,
}

/// Who a resource belongs to, read from its description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ownership {
    pub owner: Owner,
    /// What part of the stack it is (group keys, a listener).
    pub resource: Option<String>,
}

/// A resource read from the cloud with who owns it (None: nobody we know).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen<T> {
    pub actual: T,
    pub owned: Option<Ownership>,
}

/// The description that marks a resource as the owner's (GCE has no labels on load
/// balancing resources): `cloudnet.io/cluster=<c> cloudnet.io/owner-kind=<k>
/// cloudnet.io/owner=<ns/name> cloudnet.io/resource=<what>`.
pub fn ownership_description(owner: &Owner, resource: &str) -> String {
    let mut d = String::new();
    for (k, v) in owner.tags() {
        d.push_str(&format!("{k}={v} "));
    }
    d.push_str(&format!("{TAG_RESOURCE}={resource}"));
    d
}

/// Reads [`ownership_description`] back; None when the description is not (all) ours.
pub fn ownership_of(description: Option<&str>) -> Option<Ownership> {
    let tags: BTreeMap<String, String> = description?
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| [TAG_CLUSTER, TAG_OWNER_KIND, TAG_OWNER, TAG_RESOURCE].contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Ownership {
        owner: Owner::from_tags(&tags)?,
        resource: tags.get(TAG_RESOURCE).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use cloudnet_core::OwnerKind;

    use super::*;

    #[test]
    fn descriptions_round_trip_and_foreign_ones_are_nobodys() {
        let o = Owner::namespaced("prod", OwnerKind::Ingress, "shop", "web");
        let d = ownership_description(&o, "shop/web:80");
        assert_eq!(
            d,
            "cloudnet.io/cluster=prod cloudnet.io/owner=shop/web cloudnet.io/owner-kind=ingress cloudnet.io/resource=shop/web:80"
        );
        let back = ownership_of(Some(&d)).expect("ours");
        assert_eq!(back.owner, o);
        assert_eq!(back.resource.as_deref(), Some("shop/web:80"));
        assert_eq!(ownership_of(Some("made by hand")), None);
        assert_eq!(ownership_of(None), None);
        assert_eq!(ownership_of(Some("cloudnet.io/cluster=prod")), None);
    }
}
