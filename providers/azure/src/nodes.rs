//! A node's NICs, found from its VM resource ID (the Node's providerID) through the Network
//! API alone (the Compute API is not called):
//!
//! - a scale-set instance (`.../virtualMachineScaleSets/{ss}/virtualMachines/{i}`, AKS's
//!   default): `networkInterfaces` of that instance, one list call;
//! - a standalone VM (`.../virtualMachines/{vm}`, availability-set pools): the resource
//!   group's NICs whose `virtualMachine.id` is the VM, one paged list call.

use std::net::IpAddr;

use azure_mgmt_network::Client;
use azure_mgmt_network::models::{NetworkInterface, NetworkInterfaceIpConfiguration};
use cloudnet_core::{Error, Result};
use futures::StreamExt;

use crate::config::AzureConfig;
use crate::error::from_azure;

/// The parts of a VM resource ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vm {
    ScaleSetInstance {
        resource_group: String,
        scale_set: String,
        index: String,
    },
    Standalone {
        resource_group: String,
        name: String,
    },
}

impl Vm {
    /// Reads `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/...`, with or
    /// without the providerID's `azure://` prefix.
    pub fn parse(id: &str) -> Result<Vm> {
        let bad = || Error::invalid(format!("not an Azure VM resource ID: {id:?}"));
        let trimmed = id.trim_start_matches("azure://");
        let s: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
        let at = |i: usize| s.get(i).copied().ok_or_else(bad);
        if !at(0)?.eq_ignore_ascii_case("subscriptions")
            || !at(2)?.eq_ignore_ascii_case("resourceGroups")
            || !at(5)?.eq_ignore_ascii_case("Microsoft.Compute")
        {
            return Err(bad());
        }
        let resource_group = at(3)?.to_string();
        match (at(6)?, s.len()) {
            (t, 10) if t.eq_ignore_ascii_case("virtualMachineScaleSets") => {
                if !at(8)?.eq_ignore_ascii_case("virtualMachines") {
                    return Err(bad());
                }
                Ok(Vm::ScaleSetInstance {
                    resource_group,
                    scale_set: at(7)?.to_string(),
                    index: at(9)?.to_string(),
                })
            }
            (t, 8) if t.eq_ignore_ascii_case("virtualMachines") => Ok(Vm::Standalone {
                resource_group,
                name: at(7)?.to_string(),
            }),
            _ => Err(bad()),
        }
    }
}

/// The NICs of a VM, the primary first.
pub async fn nics_of(
    client: &Client,
    cfg: &AzureConfig,
    id: &str,
) -> Result<Vec<NetworkInterface>> {
    let vm = Vm::parse(id)?;
    let nics = client.network_interfaces_client();
    let mut out = Vec::new();
    match &vm {
        Vm::ScaleSetInstance {
            resource_group,
            scale_set,
            index,
        } => {
            let mut pages = nics
                .list_virtual_machine_scale_set_vm_network_interfaces(
                    resource_group,
                    scale_set,
                    index,
                    &cfg.subscription,
                )
                .into_stream();
            while let Some(page) = pages.next().await {
                out.extend(page.map_err(|e| from_azure(&e))?.value);
            }
        }
        Vm::Standalone { resource_group, .. } => {
            let mut pages = nics.list(resource_group, &cfg.subscription).into_stream();
            while let Some(page) = pages.next().await {
                out.extend(
                    page.map_err(|e| from_azure(&e))?
                        .value
                        .into_iter()
                        .filter(|n| {
                            n.properties
                                .as_ref()
                                .and_then(|p| p.virtual_machine.as_ref())
                                .and_then(|v| v.id.as_deref())
                                .is_some_and(|v| same_id(v, id))
                        }),
                );
            }
        }
    }
    if out.is_empty() {
        return Err(Error::NotFound {
            code: "NetworkInterfaceNotFound".into(),
            message: format!("no network interface for {id}"),
        });
    }
    out.sort_by_key(|n| !is_primary_nic(n));
    Ok(out)
}

/// True when the NIC is the VM's primary (or the only one the API marks).
pub fn is_primary_nic(n: &NetworkInterface) -> bool {
    n.properties
        .as_ref()
        .and_then(|p| p.primary)
        .unwrap_or(false)
}

pub fn ip_configurations(n: &NetworkInterface) -> &[NetworkInterfaceIpConfiguration] {
    n.properties
        .as_ref()
        .map_or(&[][..], |p| p.ip_configurations.as_slice())
}

pub fn is_primary_ip(c: &NetworkInterfaceIpConfiguration) -> bool {
    c.properties
        .as_ref()
        .and_then(|p| p.primary)
        .unwrap_or(false)
}

pub fn ip_of(c: &NetworkInterfaceIpConfiguration) -> Option<IpAddr> {
    c.properties
        .as_ref()
        .and_then(|p| p.private_ip_address.as_deref())
        .and_then(|a| a.parse().ok())
}

/// The VM's primary address: the primary ipConfiguration of its primary NIC.
pub fn primary_ip(nics: &[NetworkInterface]) -> Result<IpAddr> {
    nics.first()
        .and_then(|n| {
            let cfgs = ip_configurations(n);
            cfgs.iter()
                .find(|c| is_primary_ip(c))
                .or_else(|| cfgs.first())
                .and_then(ip_of)
        })
        .ok_or_else(|| Error::NotFound {
            code: "PrivateIPAddressNotFound".into(),
            message: "the VM's primary NIC has no private address".into(),
        })
}

/// ARM IDs compare case-insensitively.
pub fn same_id(a: &str, b: &str) -> bool {
    a.trim_start_matches("azure://")
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_start_matches("azure://").trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_ids_parse() {
        assert_eq!(
            Vm::parse("azure:///subscriptions/s/resourceGroups/MC_g/providers/Microsoft.Compute/virtualMachineScaleSets/pool-vmss/virtualMachines/3").unwrap(),
            Vm::ScaleSetInstance { resource_group: "MC_g".into(), scale_set: "pool-vmss".into(), index: "3".into() }
        );
        assert_eq!(
            Vm::parse(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1"
            )
            .unwrap(),
            Vm::Standalone {
                resource_group: "g".into(),
                name: "vm1".into()
            }
        );
        for bad in [
            "",
            "i-0123",
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/n",
        ] {
            assert!(Vm::parse(bad).is_err(), "{bad}");
        }
        assert!(same_id("azure:///subscriptions/S/x", "/subscriptions/s/X"));
    }
}
