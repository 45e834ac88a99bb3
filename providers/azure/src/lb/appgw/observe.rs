//! Reading gateways: one GET, the members of a pool, the status `ensure` answers with.

use std::net::IpAddr;

use azure_mgmt_network::models::{ApplicationGateway, PublicIpAddress};
use cloudnet_core::{
    Error, GroupStatus, HealthState, LoadBalancerId, LoadBalancerSpec, LoadBalancerStatus, Result,
    Target, TargetHealth,
};

use crate::lb::{AzureLoadBalancers, found, pool_name};

/// Azure keeps backend health out of the resource (`backendHealth` is an action, read by
/// `target_health` only).
pub(super) fn unavailable(ip: IpAddr, port: u16) -> TargetHealth {
    TargetHealth {
        target: Target { ip, port },
        state: HealthState::Unavailable,
        reason: Some("Azure reports backend health through backendHealth (target_health)".into()),
    }
}

/// The addresses in a gateway's pool, sorted.
pub(super) fn members_of(gw: &ApplicationGateway, pool: &str) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = gw
        .properties
        .as_ref()
        .and_then(|p| {
            p.backend_address_pools
                .iter()
                .find(|b| b.name.as_deref() == Some(pool))
        })
        .and_then(|b| b.properties.as_ref())
        .map(|p| {
            p.backend_addresses
                .iter()
                .filter_map(|a| a.ip_address.as_deref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ips.sort();
    ips
}

/// `(gateway name, pool name)` of a gateway pool's ID.
pub(super) fn pool_parts(id: &str) -> Result<(String, String)> {
    let s: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
    match s.as_slice() {
        [.., gws, gw, pools, pool]
            if gws.eq_ignore_ascii_case("applicationGateways")
                && pools.eq_ignore_ascii_case("backendAddressPools") =>
        {
            Ok(((*gw).into(), (*pool).into()))
        }
        _ => Err(Error::NotFound {
            code: "TargetGroupNotFound".into(),
            message: format!("not an application gateway backend pool ID: {id}"),
        }),
    }
}

/// The gateway's name from its ID.
pub(super) fn name_of(id: &LoadBalancerId) -> String {
    id.0.rsplit('/').next().unwrap_or_default().to_string()
}

impl AzureLoadBalancers {
    pub(super) async fn get_gateway(&self, name: &str) -> Result<Option<ApplicationGateway>> {
        found(
            self.client
                .application_gateways_client()
                .get(&self.cfg.resource_group, name, &self.cfg.subscription)
                .await,
        )
    }

    /// The gateway or `NotFound`.
    pub(super) async fn existing_gateway(&self, name: &str) -> Result<ApplicationGateway> {
        self.get_gateway(name)
            .await?
            .ok_or_else(|| Error::NotFound {
                code: "ResourceNotFound".into(),
                message: format!("application gateway {name}"),
            })
    }

    pub(super) fn gateway_status(
        spec: &LoadBalancerSpec,
        gw: &ApplicationGateway,
        pip: Option<&PublicIpAddress>,
        private: bool,
    ) -> LoadBalancerStatus {
        let id = gw.resource.id.clone().unwrap_or_default();
        let ips: Vec<IpAddr> = if private {
            gw.properties
                .iter()
                .flat_map(|p| &p.frontend_ip_configurations)
                .filter_map(|f| {
                    f.properties
                        .as_ref()?
                        .private_ip_address
                        .as_deref()?
                        .parse()
                        .ok()
                })
                .collect()
        } else {
            pip.and_then(|p| p.properties.as_ref())
                .and_then(|p| p.ip_address.as_deref())
                .and_then(|a| a.parse().ok())
                .into_iter()
                .collect()
        };
        LoadBalancerStatus {
            id: LoadBalancerId(id.clone()),
            dns_name: None,
            ips,
            groups: spec
                .groups
                .iter()
                .map(|g| {
                    let pool = pool_name(&g.key);
                    GroupStatus {
                        key: g.key.clone(),
                        id: format!("{id}/backendAddressPools/{pool}"),
                        targets: members_of(gw, &pool)
                            .into_iter()
                            .map(|ip| unavailable(ip, g.port))
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}
