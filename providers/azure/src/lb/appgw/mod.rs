//! [`cloudnet_core::LoadBalancers`] for Ingresses (L7) on an Application Gateway v2, one per
//! Ingress (or IngressGroup), laid out as AGIC lays out its gateway ([`desired()`]).
//!
//! ```text
//!  ensure(spec) ─> observe: GET public IP, GET application gateway          (observe.rs)
//!              ─> desired(spec, place, observed pools' members)           (pure, desired.rs)
//!              ─> diff(owner, observed, desired, public IP) -> ChangeSet  (pure, diff.rs)
//!              ─> apply: PUT public IP if missing; PUT the whole gateway (If-Match) if it
//!                 differs; 412: read again, decide again, PUT again       (apply.rs)
//! ```
//!
//! The gateway sits in its own dedicated subnet of the cluster's VNet (Azure refuses other
//! resources in it): the spec's first explicit subnet, else
//! [`AzureLoadBalancers::with_gateway_subnet`]'s, else [`DEFAULT_SUBNET`]. A v2 gateway
//! always has a public frontend, so the suite makes `<gateway>-pip` for it even when the
//! listeners use the private frontend (`internal` scheme or `use-private-ip`). Certificates
//! are Key Vault secret IDs (`keyVaultSecretId`); the gateway's identity that reads them is
//! the user's to grant, not built here. Members are pod IPs in the backend pools
//! (`sync_targets`: one PUT when they differ, none otherwise). ARM keeps no per-member health
//! in the resource: `ensure` and `sync_targets` report members `Unavailable`, and
//! `target_health` asks the `backendhealth` action ([`health`]).
//!
//! With [`attributes::GATEWAY_NAME`] (AGIC's `appgw.name`: one gateway every Ingress of the
//! class is merged into) the gateway takes that name instead of the owner's. A gateway of
//! that name without the suite's ownership tags (AKS's AGIC add-on made it, or a user) is
//! refused (`Conflict`, `ApplicationGatewayNotOwned`) before anything is written: the suite
//! does not share a gateway it did not create (AGIC's "shared" mode is not built).

use cloudnet_core::{Error, LoadBalancerSpec, NameRules, Owner, Result, Subnets, derive_name};

use super::AzureLoadBalancers;

mod apply;
pub mod desired;
pub mod diff;
pub mod health;
mod observe;

pub use desired::{Place, desired};
pub use diff::diff;

/// The dedicated subnet's name when neither the spec nor the provider names one.
pub const DEFAULT_SUBNET: &str = "appgw-subnet";

/// Spec and backend-group attributes the gateway reads, named as AGIC's Ingress annotations
/// (the controllers pass them through; [`desired()`] checks them again).
pub mod attributes {
    /// Spec: `true` puts the listeners on the private frontend.
    pub const USE_PRIVATE_IP: &str = "appgw.ingress.kubernetes.io/use-private-ip";
    /// Group: the path the backend HTTP settings put in front of (instead of) the matched one.
    pub const BACKEND_PATH_PREFIX: &str = "appgw.ingress.kubernetes.io/backend-path-prefix";
    /// Group: the probe's path.
    pub const HEALTH_PROBE_PATH: &str = "appgw.ingress.kubernetes.io/health-probe-path";
    /// Group: `http` or `https` to the pods.
    pub const BACKEND_PROTOCOL: &str = "appgw.ingress.kubernetes.io/backend-protocol";
    /// Group: seconds, 1 to 86400 (default 30).
    pub const REQUEST_TIMEOUT: &str = "appgw.ingress.kubernetes.io/request-timeout";
    /// Group: `true` turns connection draining on.
    pub const CONNECTION_DRAINING: &str = "appgw.ingress.kubernetes.io/connection-draining";
    /// Group: seconds, 1 to 3600 (default 30).
    pub const CONNECTION_DRAINING_TIMEOUT: &str =
        "appgw.ingress.kubernetes.io/connection-draining-timeout";
    /// Group: `true` turns cookie-based affinity on.
    pub const COOKIE_BASED_AFFINITY: &str = "appgw.ingress.kubernetes.io/cookie-based-affinity";
    /// Spec: the gateway's name when it is the one shared by every Ingress of the class
    /// (AGIC's `appgw.name`), instead of the name derived from the owner.
    pub const GATEWAY_NAME: &str = "cloudnet.io/application-gateway-name";
}

/// Checks a gateway name against ARM's rules for application gateways: 1 to 80 letters,
/// digits, `_`, `.` and `-`, starting with a letter or digit and ending with a letter, digit
/// or `_`.
pub fn check_gateway_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "application gateway name {name:?}: 1 to 80 letters, digits, '_', '.' and '-', \
             starting with a letter or digit and ending with a letter, digit or '_'"
        )))
    }
}

/// Whether a load balancer ID names an application gateway (else a load balancer).
pub(crate) fn is_gateway(id: &str) -> bool {
    id.to_ascii_lowercase()
        .contains("/providers/microsoft.network/applicationgateways/")
}

impl AzureLoadBalancers {
    /// The gateway's name: `k8s-<namespace>-<name>-<hash>`.
    pub fn gateway_name(&self, owner: &Owner) -> String {
        derive_name(NameRules::Azure, owner, &["agw"])
    }

    /// The gateway's name for a spec: the shared gateway's ([`attributes::GATEWAY_NAME`]),
    /// else [`Self::gateway_name`].
    pub fn spec_gateway_name(&self, spec: &LoadBalancerSpec) -> Result<String> {
        match spec.attributes.get(attributes::GATEWAY_NAME) {
            Some(name) => {
                check_gateway_name(name)?;
                Ok(name.clone())
            }
            None => Ok(self.gateway_name(&spec.owner)),
        }
    }

    fn gateway_id(&self, name: &str) -> String {
        self.cfg.network_id(&format!("applicationGateways/{name}"))
    }

    /// Where a spec's gateway goes.
    pub fn place(&self, spec: &LoadBalancerSpec) -> Result<Place> {
        let name = self.spec_gateway_name(spec)?;
        let subnet = match &spec.subnets {
            Subnets::Explicit(list) if !list.is_empty() => list[0].clone(),
            _ => self.gateway_subnet.clone(),
        };
        let subnet_id = if subnet.starts_with('/') {
            subnet
        } else {
            self.cfg.network_id(&format!(
                "virtualNetworks/{}/subnets/{subnet}",
                self.cfg.vnet
            ))
        };
        Ok(Place {
            id: self.gateway_id(&name),
            public_ip_id: self
                .cfg
                .network_id(&format!("publicIPAddresses/{name}-pip")),
            name,
            location: self.cfg.location.clone(),
            subnet_id,
        })
    }
}
