//! The change set: what `ensure` does to one stack, as data, in the order it is applied
//! (creates and updates in dependency order, then deletes in reverse dependency order).

use std::fmt;

use cloudnet_core::LoadBalancerId;
use serde::Serialize;

use super::model::{
    BackendServiceDef, FirewallDef, ForwardingRuleDef, HealthCheckDef, ProxyDef, SslCertificateDef,
    UrlMapDef,
};

/// Where a new forwarding rule's address comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum IpSource {
    /// The cloud picks one (the stack's first rule).
    Cloud,
    /// This address (a named static IP, or the one the stack's rules already share).
    Literal(String),
    /// The address of the rule of this name, created earlier in the same set.
    SameAs(String),
}

/// One typed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "change")]
pub enum Change {
    /// Before any proxy names it.
    #[serde(rename_all = "camelCase")]
    CreateSslCertificate { certificate: SslCertificateDef },
    #[serde(rename_all = "camelCase")]
    CreateHealthCheck { health_check: HealthCheckDef },
    #[serde(rename_all = "camelCase")]
    ModifyHealthCheck { health_check: HealthCheckDef },
    /// With its backends: the group's NEGs as `(zone, name)`.
    #[serde(rename_all = "camelCase")]
    CreateBackendService {
        backend_service: BackendServiceDef,
        backends: Vec<(String, String)>,
    },
    #[serde(rename_all = "camelCase")]
    ModifyBackendService {
        backend_service: BackendServiceDef,
        backends: Vec<(String, String)>,
    },
    #[serde(rename_all = "camelCase")]
    CreateUrlMap { url_map: UrlMapDef },
    #[serde(rename_all = "camelCase")]
    ModifyUrlMap { url_map: UrlMapDef },
    #[serde(rename_all = "camelCase")]
    CreateProxy { proxy: ProxyDef },
    #[serde(rename_all = "camelCase")]
    SetProxyUrlMap { proxy: ProxyDef },
    #[serde(rename_all = "camelCase")]
    SetProxyCertificates { proxy: ProxyDef },
    /// A rule no longer wanted, or one to create again (its fields cannot change in place).
    #[serde(rename_all = "camelCase")]
    DeleteForwardingRule { name: String },
    #[serde(rename_all = "camelCase")]
    CreateForwardingRule {
        rule: ForwardingRuleDef,
        ip: IpSource,
    },
    /// An L7 rule pointed at another proxy: `(name, https)`.
    #[serde(rename_all = "camelCase")]
    SetForwardingRuleTarget {
        name: String,
        target: (String, bool),
    },
    #[serde(rename_all = "camelCase")]
    DeleteProxy { name: String, https: bool },
    #[serde(rename_all = "camelCase")]
    DeleteUrlMap { name: String },
    #[serde(rename_all = "camelCase")]
    DeleteBackendService { name: String },
    #[serde(rename_all = "camelCase")]
    DeleteNeg { name: String, zone: String },
    #[serde(rename_all = "camelCase")]
    DeleteHealthCheck { name: String },
    /// After no proxy names it any more.
    #[serde(rename_all = "camelCase")]
    DeleteSslCertificate { name: String },
    /// After the forwarding rules: `address` is the stack's, for a rule that names it.
    #[serde(rename_all = "camelCase")]
    CreateFirewall {
        firewall: FirewallDef,
        address: Option<IpSource>,
    },
    /// The whole rule written back (`firewalls.update`).
    #[serde(rename_all = "camelCase")]
    ModifyFirewall {
        firewall: FirewallDef,
        address: Option<IpSource>,
    },
    #[serde(rename_all = "camelCase")]
    DeleteFirewall { name: String },
}

impl Change {
    /// True for changes that delete something.
    pub fn is_delete(&self) -> bool {
        matches!(
            self,
            Change::DeleteForwardingRule { .. }
                | Change::DeleteProxy { .. }
                | Change::DeleteUrlMap { .. }
                | Change::DeleteBackendService { .. }
                | Change::DeleteNeg { .. }
                | Change::DeleteHealthCheck { .. }
                | Change::DeleteSslCertificate { .. }
                | Change::DeleteFirewall { .. }
        )
    }
}

fn proxy_kind(https: bool) -> &'static str {
    if https {
        "target HTTPS proxy"
    } else {
        "target HTTP proxy"
    }
}

/// A short name of the change and its resource, as errors and logs show it.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateSslCertificate { certificate } => write!(
                f,
                "create SSL certificate {} (from {})",
                certificate.name, certificate.source
            ),
            Change::DeleteSslCertificate { name } => write!(f, "delete SSL certificate {name}"),
            Change::CreateHealthCheck { health_check } => {
                write!(f, "create health check {}", health_check.name)
            }
            Change::ModifyHealthCheck { health_check } => {
                write!(f, "modify health check {}", health_check.name)
            }
            Change::CreateBackendService {
                backend_service, ..
            } => write!(f, "create backend service {}", backend_service.name),
            Change::ModifyBackendService {
                backend_service, ..
            } => write!(f, "modify backend service {}", backend_service.name),
            Change::CreateUrlMap { url_map } => write!(f, "create URL map {}", url_map.name),
            Change::ModifyUrlMap { url_map } => write!(f, "modify URL map {}", url_map.name),
            Change::CreateProxy { proxy } => {
                write!(f, "create {} {}", proxy_kind(proxy.https), proxy.name)
            }
            Change::SetProxyUrlMap { proxy } => {
                write!(
                    f,
                    "set the URL map of {} {}",
                    proxy_kind(proxy.https),
                    proxy.name
                )
            }
            Change::SetProxyCertificates { proxy } => {
                write!(
                    f,
                    "set the certificates of target HTTPS proxy {}",
                    proxy.name
                )
            }
            Change::DeleteForwardingRule { name } => write!(f, "delete forwarding rule {name}"),
            Change::CreateForwardingRule { rule, .. } => {
                write!(f, "create forwarding rule {}", rule.name)
            }
            Change::SetForwardingRuleTarget { name, .. } => {
                write!(f, "set the target of forwarding rule {name}")
            }
            Change::DeleteProxy { name, https } => {
                write!(f, "delete {} {name}", proxy_kind(*https))
            }
            Change::DeleteUrlMap { name } => write!(f, "delete URL map {name}"),
            Change::DeleteBackendService { name } => write!(f, "delete backend service {name}"),
            Change::DeleteNeg { name, zone } => {
                write!(f, "delete network endpoint group {name} in {zone}")
            }
            Change::DeleteHealthCheck { name } => write!(f, "delete health check {name}"),
            Change::CreateFirewall { firewall, .. } => {
                write!(f, "create firewall rule {}", firewall.name)
            }
            Change::ModifyFirewall { firewall, .. } => {
                write!(f, "modify firewall rule {}", firewall.name)
            }
            Change::DeleteFirewall { name } => write!(f, "delete firewall rule {name}"),
        }
    }
}

/// Everything `ensure` changes on one stack, in the order it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSet {
    pub id: LoadBalancerId,
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// Nothing to do: the stack is as planned.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }
}
