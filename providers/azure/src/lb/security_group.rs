//! The Service's allow rules on the cluster's network security group, written: the NSG
//! found ([`AzureLoadBalancers::security_group`]), read, planned
//! ([`super::security_rules::plan`]) and written back whole under its ETag.
//!
//! ```text
//!  ensure / delete ─> the NSG: AZURE_SECURITY_GROUP_NAME, else the node subnet's (read once)
//!                  ─> lock the NSG (one writer per NSG in this process)
//!                  ─> GET NSG ─> plan (pure) ─> nothing to do: done (no write)
//!                                           └─> PUT NSG, If-Match (412: read again)
//! ```
//!
//! A rule is a sub-resource of the NSG: the whole rule list is written back, every rule of
//! someone else's as it was read. Two writers of one NSG (two Services' ensures in this
//! process) would refuse each other (412) and read again; a lock per NSG serialises them
//! here, as the NIC writes of [`crate::addresses`] are. A writer outside this process is
//! met by the ETag.

use std::sync::Arc;

use azure_mgmt_network::models::NetworkSecurityGroup;
use cloudnet_core::{Error, LoadBalancerSpec, Result};
use tracing::{info, warn};

use super::security_rules::{RulePlan, WantedRule, plan, wanted};
use super::{AzureLoadBalancers, found};
use crate::call::with_if_match;
use crate::error::from_azure;

/// Reads again after this many 412s in a row before giving up.
const PRECONDITION_RETRIES: u32 = 5;

/// Where the Service rules go: the NSG's resource group and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRef {
    pub resource_group: String,
    pub name: String,
}

impl SecurityGroupRef {
    /// From an NSG's resource ID.
    fn from_id(id: &str) -> Option<SecurityGroupRef> {
        let s: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
        match s.as_slice() {
            [_, _, rgs, rg, _, _, kind, name]
                if rgs.eq_ignore_ascii_case("resourceGroups")
                    && kind.eq_ignore_ascii_case("networkSecurityGroups") =>
            {
                Some(SecurityGroupRef {
                    resource_group: (*rg).to_string(),
                    name: (*name).to_string(),
                })
            }
            _ => None,
        }
    }
}

impl AzureLoadBalancers {
    /// The cluster's NSG: the configured one (`AZURE_SECURITY_GROUP_NAME`, in the resource
    /// group), else the one on the node subnet, read once per process (an NSG moved to
    /// another subnet is seen after a restart). `None`: the subnet has none, so there is
    /// no rule to keep (and on Azure no traffic reaches a Standard Load Balancer's backends
    /// until the user attaches one).
    pub async fn security_group(&self) -> Result<Option<SecurityGroupRef>> {
        if let Some(name) = &self.cfg.security_group {
            return Ok(Some(SecurityGroupRef {
                resource_group: self.cfg.resource_group.clone(),
                name: name.clone(),
            }));
        }
        let mut cached = self.nsg.lock().await;
        if let Some(known) = cached.as_ref() {
            return Ok(known.clone());
        }
        let subnet = self
            .client
            .subnets_client()
            .get(
                &self.cfg.resource_group,
                &self.cfg.vnet,
                &self.cfg.subnet,
                &self.cfg.subscription,
            )
            .await
            .map_err(|e| from_azure(&e))?;
        let id = subnet
            .properties
            .and_then(|p| p.network_security_group)
            .and_then(|n| n.resource.id);
        let nsg = match id {
            None => {
                warn!(
                    subnet = %self.cfg.subnet,
                    "No network security group on the node subnet: Service rules are not kept"
                );
                None
            }
            Some(id) => Some(SecurityGroupRef::from_id(&id).ok_or_else(|| {
                Error::invalid(format!(
                    "the node subnet's security group {id:?} is not an NSG ID"
                ))
            })?),
        };
        *cached = Some(nsg.clone());
        Ok(nsg)
    }

    fn nsg_lock(&self, nsg: &SecurityGroupRef) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!("{}/{}", nsg.resource_group, nsg.name).to_lowercase();
        let mut locks = self.nsg_writes.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(key).or_default().clone()
    }

    async fn get_nsg(&self, nsg: &SecurityGroupRef) -> Result<Option<NetworkSecurityGroup>> {
        found(
            self.client
                .network_security_groups_client()
                .get(&nsg.resource_group, &nsg.name, &self.cfg.subscription)
                .await,
        )
    }

    /// The plan for the load balancer `lb_name`'s rules on the cluster's NSG (`None`: no
    /// NSG to keep them on). Reads only.
    pub async fn plan_security_rules(
        &self,
        spec: &LoadBalancerSpec,
        lb_name: &str,
    ) -> Result<Option<RulePlan>> {
        let want = wanted(spec, lb_name)?;
        let Some(nsg) = self.security_group().await? else {
            return Ok(None);
        };
        let current = self.get_nsg(&nsg).await?.ok_or_else(|| missing(&nsg))?;
        Ok(Some(plan(rules_of(&current), lb_name, &want)?))
    }

    /// Makes the NSG hold exactly `want` of the load balancer `lb_name` (empty: none of its
    /// rules); answers what changed.
    pub(super) async fn sync_security_rules(
        &self,
        lb_name: &str,
        want: &[WantedRule],
    ) -> Result<Vec<super::security_rules::RuleChange>> {
        let Some(nsg) = self.security_group().await? else {
            return Ok(Vec::new());
        };
        let lock = self.nsg_lock(&nsg);
        let _writing = lock.lock().await;
        let mut attempt = 0;
        loop {
            let Some(mut current) = self.get_nsg(&nsg).await? else {
                if want.is_empty() {
                    // The NSG is gone: so are the rules.
                    return Ok(Vec::new());
                }
                return Err(missing(&nsg));
            };
            let planned = plan(rules_of(&current), lb_name, want)?;
            if planned.is_empty() {
                return Ok(Vec::new());
            }
            let etag = current.etag.take();
            let p = current.properties.get_or_insert_with(Default::default);
            p.security_rules = planned.rules;
            // Read-only lists ARM fills in: not sent back.
            p.default_security_rules.clear();
            p.network_interfaces.clear();
            p.subnets.clear();
            p.flow_logs.clear();
            p.provisioning_state = None;
            p.resource_guid = None;
            let put = with_if_match(
                etag,
                self.client
                    .network_security_groups_client()
                    .create_or_update(
                        &nsg.resource_group,
                        &nsg.name,
                        current,
                        &self.cfg.subscription,
                    ),
            )
            .await;
            match put {
                Ok(_) => {
                    info!(
                        nsg = %nsg.name,
                        load_balancer = %lb_name,
                        changes = ?planned.changes,
                        "Security rules written"
                    );
                    return Ok(planned.changes);
                }
                Err(e) => {
                    let err = from_azure(&e);
                    if err.code() == "PreconditionFailed" && attempt < PRECONDITION_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }
}

fn rules_of(nsg: &NetworkSecurityGroup) -> &[azure_mgmt_network::models::SecurityRule] {
    nsg.properties
        .as_ref()
        .map_or(&[], |p| p.security_rules.as_slice())
}

fn missing(nsg: &SecurityGroupRef) -> Error {
    Error::NotFound {
        code: "NetworkSecurityGroupNotFound".into(),
        message: format!(
            "network security group {} in {} (AZURE_SECURITY_GROUP_NAME or the node subnet's)",
            nsg.name, nsg.resource_group
        ),
    }
}
