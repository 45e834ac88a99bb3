//! [`cloudnet_core::Addresses`] with secondary ipConfigurations on the node's NIC (Azure CNI's
//! model): each batch of up to 16 (Azure CNI's batch) is one NIC PUT of the whole NIC under
//! its ETag; ARM picks the addresses (`Dynamic`) from the NIC's subnet. Released the same
//! way, 16 a PUT. A VM's NICs are fixed while it runs: `hot_plug_interfaces` is false and
//! interfaces are never created, attached or deleted.
//!
//! ```text
//!  assign(count) ─> per batch of 16: GET NIC (ETag) ─> add ipConfigurations cloudnet-<n>
//!                                   PUT NIC, If-Match (412: read again) ─> the new addresses
//! ```
//!
//! The batches of one NIC are written one after another (the allocator may ask for several
//! at once): under one ETag only one of them could land.
//!
//! Only ipConfigurations named `cloudnet-<n>` are the suite's; the primary and any other
//! ipConfiguration are never released. A scale-set instance's NIC (AKS's default pools) is
//! shaped by the instance's model, not by a NIC PUT: the same batches go through a
//! per-instance model update of the Compute API instead ([`scale_set`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_mgmt_network::Client;
use azure_mgmt_network::models::{
    IpAllocationMethod, IpVersion, NetworkInterface, NetworkInterfaceIpConfiguration,
    NetworkInterfaceIpConfigurationPropertiesFormat, SubResource, Subnet,
};
use cloudnet_core::{
    AddressBlock, AddressCapabilities, AddressLimits, Addresses, AssignBlocks, AttachInterface,
    BlockKind, Error, Interface, InterfaceId, Limit, NodeInterfaces, NodeRef, OrphanInterface,
    Result,
};
use ipnet::IpNet;

use crate::call::with_if_match;
use crate::compute::ComputeClient;
use crate::config::AzureConfig;
use crate::error::from_azure;
use crate::nodes::{ip_configurations, ip_of, is_primary_ip, nics_of, same_id};

pub mod scale_set;

use scale_set::ScaleSetNic;

/// ipConfigurations one NIC PUT adds or removes at most (Azure CNI's batch).
pub const BATCH: u32 = 16;
/// ipConfigurations per NIC (Azure's limit).
pub const MAX_IP_CONFIGURATIONS: u32 = 256;
/// The name prefix of the suite's ipConfigurations.
pub const NAME_PREFIX: &str = "cloudnet-";
const PRECONDITION_RETRIES: u32 = 5;

/// Pod addresses as NIC ipConfigurations.
#[derive(Clone)]
pub struct AzureAddresses {
    client: Client,
    /// Scale-set instances' models (the Compute API), on the same policy as `client`.
    compute: ComputeClient,
    cfg: Arc<AzureConfig>,
    /// Subnet ID -> its prefix (subnets do not move).
    subnets: Arc<Mutex<BTreeMap<String, IpNet>>>,
    /// Lowercased NIC (or scale-set instance) ID -> the lock its read-modify-write PUTs
    /// take: a PUT replaces the whole NIC (instance model) under its ETag, so two batches on
    /// one NIC at once (the allocator runs a node's steps in parallel) would have all but one
    /// refused (412) and read and PUT again; one after another each lands on its first PUT.
    nic_writes: Arc<Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<Writes>>>>>,
}

/// What one NIC's writes remember while they wait for each other: the last batch the
/// subnet refused for want of addresses. A batch that queued behind it fails with the same
/// error without a call (the subnet did not grow while it waited; the allocator's next
/// round tries again), so a full subnet costs one refused PUT per round, not one per batch.
#[derive(Default)]
pub(crate) struct Writes {
    refused: Option<(tokio::time::Instant, Error)>,
}

/// One NIC's turn to write: the lock held, and when it was asked for.
pub(crate) struct Turn {
    guard: tokio::sync::OwnedMutexGuard<Writes>,
    asked: tokio::time::Instant,
}

impl Turn {
    /// The subnet's refusal of a batch that wrote while this one waited.
    pub(crate) fn refused_meanwhile(&self) -> Option<Error> {
        self.guard
            .refused
            .as_ref()
            .filter(|(at, _)| *at >= self.asked)
            .map(|(_, e)| e.clone())
    }

    /// Remembers `e` when it is the subnet running out of addresses.
    pub(crate) fn note(&mut self, e: &Error) {
        if matches!(e, Error::InsufficientCapacity { .. }) {
            self.guard.refused = Some((tokio::time::Instant::now(), e.clone()));
        }
    }
}

fn not_supported(what: &str) -> Error {
    Error::InvalidInput {
        code: "NotSupported".into(),
        message: format!(
            "{what}: an Azure VM's network interfaces are fixed while it runs (hot_plug_interfaces = false)"
        ),
    }
}

/// The NIC an address call names: a standalone NIC or a scale-set instance's.
enum Nic {
    Standalone,
    ScaleSet(ScaleSetNic),
}

fn nic_kind(id: &str) -> Result<Nic> {
    if let Some(n) = ScaleSetNic::parse(id) {
        return Ok(Nic::ScaleSet(n));
    }
    nic_parts(id).map(|_| Nic::Standalone)
}

/// `(resource group, NIC name)` of a standalone NIC's ID.
fn nic_parts(id: &str) -> Result<(String, String)> {
    let s: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
    match s.as_slice() {
        [sub, _, rg_key, rg, prov, ns, ty, name]
            if sub.eq_ignore_ascii_case("subscriptions")
                && rg_key.eq_ignore_ascii_case("resourceGroups")
                && prov.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.Network")
                && ty.eq_ignore_ascii_case("networkInterfaces") =>
        {
            Ok(((*rg).to_string(), (*name).to_string()))
        }
        _ => Err(Error::invalid(format!(
            "not a network interface ID: {id:?}"
        ))),
    }
}

fn name_of(c: &NetworkInterfaceIpConfiguration) -> &str {
    c.name.as_deref().unwrap_or_default()
}

fn subnet_of(c: &NetworkInterfaceIpConfiguration) -> Option<&str> {
    c.properties
        .as_ref()?
        .subnet
        .as_ref()?
        .sub_resource
        .id
        .as_deref()
}

fn host(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

impl AzureAddresses {
    /// `compute` is the Compute calls' client on `client`'s policy
    /// ([`crate::client::compute_client`]).
    pub fn new(client: Client, compute: ComputeClient, cfg: Arc<AzureConfig>) -> AzureAddresses {
        AzureAddresses {
            client,
            compute,
            cfg,
            subnets: Arc::new(Mutex::new(BTreeMap::new())),
            nic_writes: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Waits for the turn of one NIC's (or instance's) writes (see `nic_writes`).
    pub(crate) async fn write_turn(&self, id: &str) -> Turn {
        let asked = tokio::time::Instant::now();
        let lock = lock(&self.nic_writes)
            .entry(id.to_lowercase())
            .or_default()
            .clone();
        Turn {
            guard: lock.lock_owned().await,
            asked,
        }
    }

    async fn subnet_cidr(&self, id: &str) -> Result<Option<IpNet>> {
        if let Some(n) = lock(&self.subnets).get(&id.to_lowercase()) {
            return Ok(Some(*n));
        }
        let s: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
        let [_, sub, _, rg, _, _, _, vnet, _, name] = s.as_slice() else {
            return Ok(None);
        };
        let subnet = self
            .client
            .subnets_client()
            .get(*rg, *vnet, *name, *sub)
            .await
            .map_err(|e| from_azure(&e))?;
        let cidr = subnet
            .properties
            .and_then(|p| p.address_prefix)
            .and_then(|p| p.parse().ok());
        if let Some(c) = cidr {
            lock(&self.subnets).insert(id.to_lowercase(), c);
        }
        Ok(cidr)
    }

    async fn read_nic(&self, id: &str) -> Result<(String, String, NetworkInterface)> {
        let (rg, name) = nic_parts(id)?;
        let nic = self
            .client
            .network_interfaces_client()
            .get(&rg, &name, &self.cfg.subscription)
            .await
            .map_err(|e| from_azure(&e))?;
        Ok((rg, name, nic))
    }

    /// Reads the NIC, lets `change` edit its ipConfigurations, and PUTs it under the ETag
    /// read (again from the read on 412). `change` answers false when there is nothing to
    /// write.
    async fn update_nic<T>(
        &self,
        node: &NodeRef,
        id: &str,
        mut change: impl FnMut(&mut Vec<NetworkInterfaceIpConfiguration>) -> Result<Option<T>>,
    ) -> Result<(Option<T>, NetworkInterface)> {
        let mut turn = self.write_turn(id).await;
        if let Some(e) = turn.refused_meanwhile() {
            return Err(e);
        }
        let mut attempt = 0;
        loop {
            let (rg, name, mut nic) = self.read_nic(id).await?;
            let vm = nic
                .properties
                .as_ref()
                .and_then(|p| p.virtual_machine.as_ref())
                .and_then(|v| v.id.clone());
            if !vm.as_deref().is_some_and(|v| same_id(v, &node.instance_id)) {
                return Err(Error::invalid(format!(
                    "{id} is not a network interface of {} ({})",
                    node.name, node.instance_id
                )));
            }
            let etag = nic.etag.clone();
            let props = nic.properties.get_or_insert_with(Default::default);
            let Some(out) = change(&mut props.ip_configurations)? else {
                return Ok((None, nic));
            };
            let put = with_if_match(
                etag,
                self.client.network_interfaces_client().create_or_update(
                    &rg,
                    &name,
                    nic,
                    &self.cfg.subscription,
                ),
            )
            .await;
            match put {
                Ok(nic) => return Ok((Some(out), nic)),
                Err(e) => {
                    let err = from_azure(&e);
                    if err.code() == "PreconditionFailed" && attempt < PRECONDITION_RETRIES {
                        attempt += 1;
                        continue;
                    }
                    turn.note(&err);
                    return Err(err);
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Refuses `count` more ipConfigurations on a NIC that has `len`, past Azure's 256.
fn check_room(len: usize, count: u32) -> Result<()> {
    let room = MAX_IP_CONFIGURATIONS.saturating_sub(u32::try_from(len).unwrap_or(u32::MAX));
    if count > room {
        return Err(Error::LimitExceeded {
            limit: Limit::AddressesPerInterface,
            code: "NetworkInterfaceIpConfigurationCountExceedsLimit".into(),
            message: format!("the NIC has room for {room} more ipConfigurations, {count} asked"),
        });
    }
    Ok(())
}

/// The `count` lowest `cloudnet-<n>` names not `taken`.
fn free_names(taken: impl Fn(&str) -> bool, count: u32) -> Vec<String> {
    (0u32..)
        .map(|n| format!("{NAME_PREFIX}{n}"))
        .filter(|name| !taken(name))
        .take(count as usize)
        .collect()
}

/// Adds `count` new ipConfigurations (`cloudnet-<n>`, the lowest free numbers) on the
/// primary's subnet; answers their names.
fn add_configs(
    configs: &mut Vec<NetworkInterfaceIpConfiguration>,
    count: u32,
) -> Result<Vec<String>> {
    check_room(configs.len(), count)?;
    let subnet = configs
        .iter()
        .find(|c| is_primary_ip(c))
        .or_else(|| configs.first())
        .and_then(subnet_of)
        .ok_or_else(|| Error::invalid("the NIC's primary ipConfiguration has no subnet"))?
        .to_string();
    let names = free_names(|n| configs.iter().any(|c| name_of(c) == n), count);
    for name in &names {
        let props = NetworkInterfaceIpConfigurationPropertiesFormat {
            subnet: Some(Subnet {
                sub_resource: SubResource {
                    id: Some(subnet.clone()),
                },
                ..Default::default()
            }),
            private_ip_allocation_method: Some(IpAllocationMethod::Dynamic),
            private_ip_address_version: Some(IpVersion::IPv4),
            primary: Some(false),
            ..Default::default()
        };
        configs.push(NetworkInterfaceIpConfiguration {
            name: Some(name.clone()),
            properties: Some(props),
            ..Default::default()
        });
    }
    Ok(names)
}

#[async_trait]
impl Addresses for AzureAddresses {
    fn capabilities(&self) -> AddressCapabilities {
        AddressCapabilities {
            hot_plug_interfaces: false,
            block_kinds: vec![BlockKind::IpConfiguration],
            max_blocks_per_call: BATCH,
        }
    }

    async fn describe_node(&self, node: &NodeRef) -> Result<NodeInterfaces> {
        let nics = nics_of(&self.client, &self.cfg, &node.instance_id).await?;
        let mut interfaces = Vec::new();
        for (index, nic) in nics.iter().enumerate() {
            let configs = ip_configurations(nic);
            let subnet_id = configs
                .iter()
                .find(|c| is_primary_ip(c))
                .or_else(|| configs.first())
                .and_then(subnet_of)
                .unwrap_or_default()
                .to_string();
            let subnet_cidr = if subnet_id.is_empty() {
                None
            } else {
                self.subnet_cidr(&subnet_id).await?
            };
            let props = nic.properties.as_ref();
            interfaces.push(Interface {
                id: InterfaceId(nic.resource.id.clone().unwrap_or_default()),
                index: u32::try_from(index).unwrap_or(u32::MAX),
                subnet_id,
                subnet_cidr,
                mac: props.and_then(|p| p.mac_address.clone()),
                security_groups: props
                    .and_then(|p| p.network_security_group.as_ref())
                    .and_then(|g| g.resource.id.clone())
                    .into_iter()
                    .collect(),
                blocks: configs
                    .iter()
                    .filter_map(|c| {
                        ip_of(c).map(|ip| AddressBlock {
                            cidr: host(ip),
                            kind: BlockKind::IpConfiguration,
                            primary: is_primary_ip(c),
                        })
                    })
                    .collect(),
                owned: false,
            });
        }
        Ok(NodeInterfaces {
            node: node.clone(),
            // The VM size is the Compute API's, which the provider does not call.
            instance_type: String::new(),
            limits: AddressLimits {
                max_interfaces: u32::try_from(nics.len()).unwrap_or(u32::MAX),
                max_blocks_per_interface: MAX_IP_CONFIGURATIONS,
                block_kinds: vec![BlockKind::IpConfiguration],
            },
            interfaces,
        })
    }

    async fn attach_interface(&self, _: &NodeRef, _: &AttachInterface) -> Result<Interface> {
        Err(not_supported("attach_interface"))
    }

    async fn detach_interface(&self, _: &NodeRef, _: &InterfaceId) -> Result<()> {
        Err(not_supported("detach_interface"))
    }

    async fn assign_blocks(
        &self,
        node: &NodeRef,
        request: &AssignBlocks,
    ) -> Result<Vec<AddressBlock>> {
        if request.kind != BlockKind::IpConfiguration {
            return Err(Error::invalid(format!(
                "Azure hands out ipConfigurations, not {:?}",
                request.kind
            )));
        }
        if let Nic::ScaleSet(at) = nic_kind(&request.interface.0)? {
            return self.assign_on_instance(node, &at, request.count).await;
        }
        let mut out = Vec::new();
        let mut left = request.count;
        while left > 0 {
            let batch = left.min(BATCH);
            let updated = self
                .update_nic(node, &request.interface.0, |configs| {
                    add_configs(configs, batch).map(Some)
                })
                .await;
            let (names, nic) = match updated {
                Ok(u) => u,
                // Batches already written stay: the caller gets what was added.
                Err(e) if !out.is_empty() => {
                    tracing::warn!(error = %e, added = out.len(), "Assigned fewer addresses than asked");
                    return Ok(out);
                }
                Err(e) => return Err(e),
            };
            let names = names.unwrap_or_default();
            for c in ip_configurations(&nic) {
                if names.iter().any(|n| n == name_of(c)) {
                    let ip = ip_of(c).ok_or_else(|| Error::Transient {
                        code: "PrivateIPAddressPending".into(),
                        message: format!("ipConfiguration {} has no address yet", name_of(c)),
                    })?;
                    out.push(AddressBlock {
                        cidr: host(ip),
                        kind: BlockKind::IpConfiguration,
                        primary: false,
                    });
                }
            }
            left -= batch;
        }
        Ok(out)
    }

    async fn release_blocks(
        &self,
        node: &NodeRef,
        interface: &InterfaceId,
        blocks: &[IpNet],
    ) -> Result<()> {
        if let Nic::ScaleSet(at) = nic_kind(&interface.0)? {
            return self.release_on_instance(node, &at, blocks).await;
        }
        loop {
            let (removed, _) = self
                .update_nic(node, &interface.0, |configs| {
                    let mut removed = 0u32;
                    let mut refused = None;
                    configs.retain(|c| {
                        let hit = ip_of(c).is_some_and(|ip| blocks.iter().any(|b| b.contains(&ip)));
                        if !hit || removed >= BATCH {
                            return true;
                        }
                        if is_primary_ip(c) || !name_of(c).starts_with(NAME_PREFIX) {
                            refused.get_or_insert_with(|| name_of(c).to_string());
                            return true;
                        }
                        removed += 1;
                        false
                    });
                    if let Some(name) = refused {
                        return Err(Error::invalid(format!(
                            "ipConfiguration {name} is not one the suite added; it is left alone"
                        )));
                    }
                    Ok((removed > 0).then_some(removed))
                })
                .await?;
            match removed {
                Some(n) if n == BATCH => continue,
                _ => return Ok(()),
            }
        }
    }

    async fn list_orphans(&self, _grace: Duration) -> Result<Vec<OrphanInterface>> {
        // The suite creates no interfaces, so none can be left behind.
        Ok(Vec::new())
    }

    async fn delete_orphan(&self, _: &InterfaceId) -> Result<()> {
        Err(not_supported("delete_orphan"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary() -> NetworkInterfaceIpConfiguration {
        let props = NetworkInterfaceIpConfigurationPropertiesFormat {
            primary: Some(true),
            subnet: Some(Subnet {
                sub_resource: SubResource {
                    id: Some("/s/subnet".into()),
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        NetworkInterfaceIpConfiguration {
            name: Some("ipconfig1".into()),
            properties: Some(props),
            ..Default::default()
        }
    }

    #[test]
    fn new_configs_take_free_names_on_the_primary_subnet_within_the_limit() {
        let mut configs = vec![primary()];
        let names = add_configs(&mut configs, 3).unwrap();
        assert_eq!(names, ["cloudnet-0", "cloudnet-1", "cloudnet-2"]);
        configs.remove(2);
        assert_eq!(
            add_configs(&mut configs, 2).unwrap(),
            ["cloudnet-1", "cloudnet-3"]
        );
        assert_eq!(subnet_of(&configs[4]), Some("/s/subnet"));
        let e = add_configs(&mut configs, 252).unwrap_err();
        assert_eq!(
            e.kind(),
            cloudnet_core::ErrorKind::LimitExceeded(Limit::AddressesPerInterface)
        );
        assert_eq!(add_configs(&mut configs, 251).unwrap().len(), 251);
    }

    #[test]
    fn nics_are_told_apart_by_their_ids() {
        assert!(matches!(
            nic_kind(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/p/virtualMachines/0/networkInterfaces/n"
            ),
            Ok(Nic::ScaleSet(_))
        ));
        assert!(nic_kind("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/p").is_err());
        assert_eq!(
            nic_parts(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkInterfaces/n"
            )
            .unwrap(),
            ("g".to_string(), "n".to_string())
        );
    }
}
