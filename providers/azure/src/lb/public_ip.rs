//! The Standard static public IPs the suite makes for internet-facing frontends (load
//! balancers and application gateways): read, created, and deleted only when they carry this
//! cluster's tags.

use azure_mgmt_network::models::{
    IpAllocationMethod, PublicIpAddress, PublicIpAddressDnsSettings,
    PublicIpAddressPropertiesFormat, PublicIpAddressSku, Resource, public_ip_address_sku,
};
use cloudnet_core::{LoadBalancerSpec, Owner, Result};
use serde_json::json;

use super::diff::tags_of;
use super::{AzureLoadBalancers, PublicIpSeen, found};
use crate::error::{from_azure, gone_is_done};

fn dns_label(p: &PublicIpAddress) -> Option<&str> {
    p.properties
        .as_ref()?
        .dns_settings
        .as_ref()?
        .domain_name_label
        .as_deref()
}

impl AzureLoadBalancers {
    /// The public IP as `diff` needs to see it.
    pub(super) fn public_ip_seen(
        &self,
        pip: Option<&PublicIpAddress>,
        want_label: Option<&str>,
    ) -> PublicIpSeen {
        PublicIpSeen {
            exists: pip.is_some(),
            owned: pip.is_some_and(|p| {
                Owner::cluster_owns(&self.cfg.cluster, &tags_of(&p.resource.tags))
            }),
            dns_label_matches: pip.and_then(dns_label) == want_label,
        }
    }

    /// Creates (or updates) the suite's Standard static public IP for a spec.
    pub(super) async fn put_public_ip(
        &self,
        spec: &LoadBalancerSpec,
        name: &str,
        label: Option<String>,
    ) -> Result<PublicIpAddress> {
        let mut tags = spec.tags.clone();
        tags.extend(spec.owner.tags());
        let body = PublicIpAddress {
            resource: Resource {
                location: Some(self.cfg.location.clone()),
                tags: Some(json!(tags)),
                ..Default::default()
            },
            sku: Some(PublicIpAddressSku {
                name: Some(public_ip_address_sku::Name::Standard),
                tier: Some(public_ip_address_sku::Tier::Regional),
            }),
            properties: Some(Box::new(PublicIpAddressPropertiesFormat {
                public_ip_allocation_method: Some(IpAllocationMethod::Static),
                dns_settings: label.map(|l| PublicIpAddressDnsSettings {
                    domain_name_label: Some(l),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.client
            .public_ip_addresses_client()
            .create_or_update(&self.cfg.resource_group, name, body, &self.cfg.subscription)
            .await
            .map_err(|e| from_azure(&e))
    }

    /// Deletes the named public IPs that carry this cluster's tags (a user's stays; gone is
    /// done).
    pub(super) async fn delete_owned_public_ips(&self, mut pips: Vec<String>) -> Result<()> {
        pips.sort();
        pips.dedup();
        for pip in pips {
            if let Some(p) = self.get_pip(&pip).await?
                && Owner::cluster_owns(&self.cfg.cluster, &tags_of(&p.resource.tags))
            {
                gone_is_done(
                    self.client
                        .public_ip_addresses_client()
                        .delete(&self.cfg.resource_group, &pip, &self.cfg.subscription)
                        .send()
                        .await
                        .map_err(|e| from_azure(&e)),
                )?;
            }
        }
        Ok(())
    }

    pub(super) async fn get_pip(&self, name: &str) -> Result<Option<PublicIpAddress>> {
        found(
            self.client
                .public_ip_addresses_client()
                .get(&self.cfg.resource_group, name, &self.cfg.subscription)
                .await,
        )
    }
}
