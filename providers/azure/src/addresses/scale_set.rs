//! Pod addresses on a scale-set instance's NIC (AKS's default node pools). Such a NIC is shaped
//! by the instance's model, not by a Network API PUT: ipConfigurations are added and removed
//! with a per-instance model update (the Compute API, as cloud-provider-azure's
//! `EnsureHostInPool` does for backend pools), and the NIC, read through the Network API's
//! scale-set paths, then shows them with the addresses the platform picked.
//!
//! ```text
//!  assign(count) ─> per batch of 16: GET instance (model + ETag) ─> add cloudnet-<n> to its NIC
//!                                   PUT instance, If-Match (412: read again) ─> poll the operation
//!                                   GET the instance's NIC (Network API) ─> the new addresses
//!  release(blocks) ─> GET the NIC (names of the addresses) ─> per 16: GET instance, PUT without them
//! ```
//!
//! The batches of one instance are written one after another, as a standalone NIC's are.

use std::net::IpAddr;

use azure_mgmt_network::models::NetworkInterface;
use cloudnet_core::{AddressBlock, BlockKind, Error, NodeRef, Result};
use ipnet::IpNet;

use super::{AzureAddresses, BATCH, NAME_PREFIX, check_room, free_names};
use crate::compute::{IdRef, InstanceRef, ModelIpConfiguration, ModelIpConfigurationProperties};
use crate::error::from_azure;
use crate::nodes::{ip_configurations, ip_of, is_primary_ip, same_id};

const PRECONDITION_RETRIES: u32 = 5;

/// A scale-set instance's NIC, from its ID
/// (`.../virtualMachineScaleSets/{ss}/virtualMachines/{i}/networkInterfaces/{nic}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSetNic {
    pub instance: InstanceRef,
    pub nic: String,
}

impl ScaleSetNic {
    /// The NIC's parts, or None when `id` is not a scale-set instance's NIC.
    pub fn parse(id: &str) -> Option<ScaleSetNic> {
        let s: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
        let [
            sub_key,
            sub,
            rg_key,
            rg,
            prov,
            ns,
            ss_key,
            ss,
            vm_key,
            index,
            nic_key,
            nic,
        ] = s.as_slice()
        else {
            return None;
        };
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let shaped = is(sub_key, "subscriptions")
            && is(rg_key, "resourceGroups")
            && is(prov, "providers")
            && is(ns, "Microsoft.Compute")
            && is(ss_key, "virtualMachineScaleSets")
            && is(vm_key, "virtualMachines")
            && is(nic_key, "networkInterfaces");
        shaped.then(|| ScaleSetNic {
            instance: InstanceRef {
                subscription: (*sub).to_string(),
                resource_group: (*rg).to_string(),
                scale_set: (*ss).to_string(),
                index: (*index).to_string(),
            },
            nic: (*nic).to_string(),
        })
    }

    /// The instance's VM resource ID (what the Node's providerID names).
    pub fn instance_id(&self) -> String {
        let i = &self.instance;
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines/{}",
            i.subscription, i.resource_group, i.scale_set, i.index
        )
    }
}

/// Adds `count` ipConfigurations (`cloudnet-<n>`, the lowest free numbers) to a NIC of the
/// model, on its primary ipConfiguration's subnet; answers their names.
pub fn add_model_configs(
    configs: &mut Vec<ModelIpConfiguration>,
    count: u32,
) -> Result<Vec<String>> {
    check_room(configs.len(), count)?;
    let subnet = configs
        .iter()
        .find(|c| c.properties.primary == Some(true))
        .or_else(|| configs.first())
        .and_then(|c| c.properties.subnet.clone())
        .ok_or_else(|| Error::invalid("the NIC's primary ipConfiguration has no subnet"))?;
    let names = free_names(|n| configs.iter().any(|c| c.name == n), count);
    for name in &names {
        configs.push(ModelIpConfiguration {
            name: name.clone(),
            properties: ModelIpConfigurationProperties {
                primary: Some(false),
                subnet: Some(IdRef {
                    id: subnet.id.clone(),
                }),
                private_ip_address_version: Some("IPv4".into()),
                rest: Default::default(),
            },
        });
    }
    Ok(names)
}

impl AzureAddresses {
    /// The NIC as the Network API shows it (with the addresses).
    async fn read_instance_nic(&self, at: &ScaleSetNic) -> Result<NetworkInterface> {
        let i = &at.instance;
        self.client
            .network_interfaces_client()
            .get_virtual_machine_scale_set_network_interface(
                &i.resource_group,
                &i.scale_set,
                &i.index,
                &at.nic,
                &i.subscription,
            )
            .await
            .map_err(|e| from_azure(&e))
    }

    /// Reads the instance's model, lets `change` edit the NIC's ipConfigurations, and PUTs
    /// the model under the ETag read (again from the read on 412). `change` answers None
    /// when there is nothing to write.
    async fn update_instance<T>(
        &self,
        node: &NodeRef,
        at: &ScaleSetNic,
        mut change: impl FnMut(&mut Vec<ModelIpConfiguration>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        if !same_id(&at.instance_id(), &node.instance_id) {
            return Err(Error::invalid(format!(
                "{} is not a network interface of {} ({})",
                at.nic, node.name, node.instance_id
            )));
        }
        // The whole instance model is written: its NICs' batches take one turn.
        let mut turn = self.write_turn(&at.instance_id()).await;
        if let Some(e) = turn.refused_meanwhile() {
            return Err(e);
        }
        let mut attempt = 0;
        loop {
            let mut vm = self.compute.get_instance(&at.instance).await?;
            let etag = vm.etag.clone();
            let Some(nic) = vm.nic_mut(&at.nic) else {
                return Err(Error::invalid(format!(
                    "the model of {} has no network interface {}",
                    at.instance_id(),
                    at.nic
                )));
            };
            let Some(out) = change(&mut nic.properties.ip_configurations)? else {
                return Ok(None);
            };
            match self
                .compute
                .put_instance(&at.instance, &vm, etag.as_deref())
                .await
            {
                Ok(()) => return Ok(Some(out)),
                Err(e) if e.code() == "PreconditionFailed" && attempt < PRECONDITION_RETRIES => {
                    attempt += 1;
                }
                Err(e) => {
                    turn.note(&e);
                    return Err(e);
                }
            }
        }
    }

    /// `assign_blocks` on a scale-set instance's NIC.
    pub(crate) async fn assign_on_instance(
        &self,
        node: &NodeRef,
        at: &ScaleSetNic,
        count: u32,
    ) -> Result<Vec<AddressBlock>> {
        let mut out = Vec::new();
        let mut left = count;
        while left > 0 {
            let batch = left.min(BATCH);
            let written = self
                .update_instance(node, at, |configs| {
                    add_model_configs(configs, batch).map(Some)
                })
                .await;
            let names = match written {
                Ok(names) => names.unwrap_or_default(),
                // Batches already written stay: the caller gets what was added.
                Err(e) if !out.is_empty() => {
                    tracing::warn!(error = %e, added = out.len(), "Assigned fewer addresses than asked");
                    return Ok(out);
                }
                Err(e) => return Err(e),
            };
            let nic = self.read_instance_nic(at).await?;
            for c in ip_configurations(&nic) {
                let name = c.name.as_deref().unwrap_or_default();
                if names.iter().any(|n| n == name) {
                    let ip = ip_of(c).ok_or_else(|| Error::Transient {
                        code: "PrivateIPAddressPending".into(),
                        message: format!("ipConfiguration {name} has no address yet"),
                    })?;
                    out.push(AddressBlock {
                        cidr: IpNet::from(ip),
                        kind: BlockKind::IpConfiguration,
                        primary: false,
                    });
                }
            }
            left -= batch;
        }
        Ok(out)
    }

    /// `release_blocks` on a scale-set instance's NIC: the names of the addresses from the
    /// NIC, then one model update per 16 of them (none when they are already gone).
    pub(crate) async fn release_on_instance(
        &self,
        node: &NodeRef,
        at: &ScaleSetNic,
        blocks: &[IpNet],
    ) -> Result<()> {
        let nic = self.read_instance_nic(at).await?;
        let hit = |ip: IpAddr| blocks.iter().any(|b| b.contains(&ip));
        let mut names = Vec::new();
        for c in ip_configurations(&nic) {
            if !ip_of(c).is_some_and(hit) {
                continue;
            }
            let name = c.name.clone().unwrap_or_default();
            if is_primary_ip(c) || !name.starts_with(NAME_PREFIX) {
                return Err(Error::invalid(format!(
                    "ipConfiguration {name} is not one the suite added; it is left alone"
                )));
            }
            names.push(name);
        }
        for batch in names.chunks(BATCH as usize) {
            self.update_instance(node, at, |configs| {
                let before = configs.len();
                configs.retain(|c| !batch.contains(&c.name));
                Ok((configs.len() < before).then_some(()))
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_set_nic_ids_parse() {
        let id = "/subscriptions/s/resourceGroups/MC_g/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3/networkInterfaces/nic";
        let n = ScaleSetNic::parse(id).unwrap();
        assert_eq!(n.nic, "nic");
        assert_eq!(n.instance.index, "3");
        assert_eq!(
            n.instance_id(),
            "/subscriptions/s/resourceGroups/MC_g/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3"
        );
        assert!(
            ScaleSetNic::parse(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/n"
            )
            .is_none()
        );
    }

    #[test]
    fn model_configs_take_free_names_on_the_primary_subnet() {
        let primary = ModelIpConfiguration {
            name: "ipconfig1".into(),
            properties: ModelIpConfigurationProperties {
                primary: Some(true),
                subnet: Some(IdRef {
                    id: "/s/subnet".into(),
                }),
                ..Default::default()
            },
        };
        let mut configs = vec![primary];
        assert_eq!(
            add_model_configs(&mut configs, 2).unwrap(),
            ["cloudnet-0", "cloudnet-1"]
        );
        configs.remove(1);
        assert_eq!(add_model_configs(&mut configs, 1).unwrap(), ["cloudnet-0"]);
        assert_eq!(
            configs[2].properties.subnet.as_ref().unwrap().id,
            "/s/subnet"
        );
        assert_eq!(
            add_model_configs(&mut configs, 254).unwrap_err().code(),
            "NetworkInterfaceIpConfigurationCountExceedsLimit"
        );
    }
}
