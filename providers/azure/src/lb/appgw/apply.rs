//! Writing gateways: the whole gateway in one PUT under its ETag, read again and decided
//! again on 412 (`PreconditionFailed`: someone wrote it since the read); `sync_targets`,
//! `delete` and the owned list.

use std::net::IpAddr;

use azure_mgmt_network::models::{ApplicationGateway, ApplicationGatewayBackendAddress};
use cloudnet_core::{
    Error, LoadBalancerId, LoadBalancerKind, LoadBalancerSpec, LoadBalancerStatus,
    OwnedLoadBalancer, Result, Target, TargetHealth, TargetSync,
};
use futures::StreamExt;

use super::desired::private_listeners;
use super::health::pool_health;
use super::observe::{members_of, name_of, pool_parts, unavailable};
use super::{desired, diff};
use crate::call::with_if_match;
use crate::error::{from_azure, gone_is_done};
use crate::lb::{AzureLoadBalancers, MemberDelta, pool_mut, pool_name};

/// Reads and decisions again after a 412 before giving up.
const PRECONDITION_RETRIES: u32 = 5;

fn precondition_failed(e: &Error) -> bool {
    e.code() == "PreconditionFailed"
}

impl AzureLoadBalancers {
    async fn put_gateway(
        &self,
        gw: ApplicationGateway,
        etag: Option<String>,
    ) -> Result<ApplicationGateway> {
        let name = gw.resource.name.clone().unwrap_or_default();
        with_if_match(
            etag,
            self.client.application_gateways_client().create_or_update(
                &self.cfg.resource_group,
                &name,
                gw,
                &self.cfg.subscription,
            ),
        )
        .await
        .map_err(|e| from_azure(&e))
    }

    /// observe -> desired -> diff -> apply, again from the read on 412.
    pub(crate) async fn ensure_gateway(
        &self,
        spec: &LoadBalancerSpec,
    ) -> Result<LoadBalancerStatus> {
        let place = self.place(spec)?;
        let private = private_listeners(spec)?;
        let pip_name = format!("{}-pip", place.name);
        let mut attempt = 0;
        loop {
            // Observe.
            let mut pip = self.get_pip(&pip_name).await?;
            let observed = self.get_gateway(&place.name).await?;
            // Decide.
            let want = desired(spec, &place, observed.as_ref())?;
            let seen = self.public_ip_seen(pip.as_ref(), None);
            let changes = diff(&spec.owner, observed.as_ref(), &want, seen)?;
            // Apply.
            if changes.put_public_ip {
                pip = Some(self.put_public_ip(spec, &pip_name, None).await?);
            }
            let gw = match observed {
                Some(o) if !changes.put_load_balancer => o,
                o => match self.put_gateway(want, o.and_then(|o| o.etag)).await {
                    Ok(gw) => gw,
                    Err(e) if precondition_failed(&e) && attempt < PRECONDITION_RETRIES => {
                        attempt += 1;
                        tracing::debug!(attempt, gateway = %place.name, "Gateway changed since read, again");
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            return Ok(Self::gateway_status(spec, &gw, pip.as_ref(), private));
        }
    }

    /// One PUT with the pool's addresses when they differ from `targets`, none otherwise.
    pub(crate) async fn gateway_sync_targets(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        let name = name_of(lb);
        let pool = pool_name(group);
        let mut attempt = 0;
        loop {
            let mut current = self.existing_gateway(&name).await?;
            self.check_ours(&current.resource.tags, "application gateway", &name)?;
            let delta = MemberDelta::new(targets, &members_of(&current, &pool));
            if delta.changes() {
                let b = pool_mut(
                    current
                        .properties
                        .as_mut()
                        .map(|p| &mut p.backend_address_pools),
                    |b| b.name.as_deref(),
                    &pool,
                    group,
                )?;
                b.properties
                    .get_or_insert_with(Default::default)
                    .backend_addresses = delta
                    .want
                    .iter()
                    .map(|ip| ApplicationGatewayBackendAddress {
                        fqdn: None,
                        ip_address: Some(ip.to_string()),
                    })
                    .collect();
                let etag = current.etag.clone();
                current = match self.put_gateway(current, etag).await {
                    Ok(gw) => gw,
                    Err(e) if precondition_failed(&e) && attempt < PRECONDITION_RETRIES => {
                        attempt += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            }
            let port_of = |ip: IpAddr| targets.iter().find(|t| t.ip == ip).map_or(0, |t| t.port);
            return Ok(delta.result(
                members_of(&current, &pool)
                    .into_iter()
                    .map(|ip| unavailable(ip, port_of(ip)))
                    .collect(),
            ));
        }
    }

    /// The pool's members (GET) with their health from `backendhealth` (one action, polled).
    pub(crate) async fn gateway_target_health(&self, group_id: &str) -> Result<Vec<TargetHealth>> {
        let (name, pool) = pool_parts(group_id)?;
        let gw = self.existing_gateway(&name).await?;
        let members: Vec<(IpAddr, u16)> = members_of(&gw, &pool)
            .into_iter()
            .map(|ip| (ip, 0))
            .collect();
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let answer = self.backend_health(&name).await?;
        Ok(pool_health(&answer, &pool, &members))
    }

    /// Deletes the gateway (this cluster's only) and the public IPs it used that the suite
    /// made; a user's public IP stays.
    pub(crate) async fn delete_gateway(&self, lb: &LoadBalancerId) -> Result<()> {
        let name = name_of(lb);
        let mut pips = vec![format!("{name}-pip")];
        if let Some(current) = self.get_gateway(&name).await? {
            self.check_ours(&current.resource.tags, "application gateway", &name)?;
            pips.extend(
                current
                    .properties
                    .iter()
                    .flat_map(|p| &p.frontend_ip_configurations)
                    .filter_map(|f| {
                        f.properties
                            .as_ref()?
                            .public_ip_address
                            .as_ref()?
                            .id
                            .as_deref()
                    })
                    .filter_map(|id| id.rsplit('/').next().map(str::to_string)),
            );
            gone_is_done(
                self.client
                    .application_gateways_client()
                    .delete(&self.cfg.resource_group, &name, &self.cfg.subscription)
                    .send()
                    .await
                    .map_err(|e| from_azure(&e)),
            )?;
        }
        self.delete_owned_public_ips(pips).await
    }

    pub(crate) async fn list_owned_gateways(&self, out: &mut Vec<OwnedLoadBalancer>) -> Result<()> {
        let mut pages = self
            .client
            .application_gateways_client()
            .list(&self.cfg.resource_group, &self.cfg.subscription)
            .into_stream();
        while let Some(page) = pages.next().await {
            for gw in page.map_err(|e| from_azure(&e))?.value {
                out.extend(self.owned(&gw.resource, LoadBalancerKind::Application));
            }
        }
        Ok(())
    }
}
