//! Pod addresses on EC2: interfaces (ENIs), secondary IPs and /28 prefixes.
//!
//! Interfaces we create carry the node owner's tags plus `cloudnet.io/node` (instance ID)
//! and `cloudnet.io/created-at` (seconds since the epoch), set at creation through
//! `TagSpecifications`, so an interface is never untagged, not even between two calls.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, InstanceType, NetworkInterface};
use cloudnet_core::ownership::{TAG_CLUSTER, TAG_CREATED_AT, TAG_NODE};
use cloudnet_core::{
    AddressBlock, AddressCapabilities, AddressLimits, Addresses, AssignBlocks, AttachInterface,
    BlockKind, Error, Interface, InterfaceId, Limit, NodeInterfaces, NodeRef, OrphanInterface,
    Owner, Result,
};
use ipnet::IpNet;
use tracing::Instrument;

use crate::ec2_convert::{host_block, interface_from, prefix_block, used_slots};
use crate::lb::convert::ec2_tags;
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, InstanceFacts, ec2_filter, lock};

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn not_owned(what: &str) -> Error {
    Error::InvalidInput {
        code: "NotOwned".into(),
        message: format!(
            "{what} does not carry this cluster's ownership tags; refusing to change it"
        ),
    }
}

impl AwsProvider {
    async fn instance_limits(&self, instance_type: &str) -> Result<AddressLimits> {
        if let Some(l) = lock(&self.inner.cache.instance_types).get(instance_type) {
            return Ok(l.clone());
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeInstanceTypes, || {
                ec2.describe_instance_types()
                    .instance_types(InstanceType::from(instance_type))
                    .send()
            })
            .await?;
        let info = out
            .instance_types()
            .first()
            .ok_or_else(|| Error::NotFound {
                code: "InvalidInstanceType".into(),
                message: format!("instance type {instance_type} is not described"),
            })?;
        let net = info.network_info();
        let nitro = info.hypervisor().is_some_and(|h| h.as_str() == "nitro")
            || info.bare_metal() == Some(true);
        let limits = AddressLimits {
            max_interfaces: net
                .and_then(|n| n.maximum_network_interfaces())
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(1),
            max_blocks_per_interface: net
                .and_then(|n| n.ipv4_addresses_per_interface())
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(1),
            block_kinds: if nitro {
                vec![BlockKind::SecondaryIp, BlockKind::Prefix]
            } else {
                vec![BlockKind::SecondaryIp]
            },
        };
        lock(&self.inner.cache.instance_types).insert(instance_type.to_string(), limits.clone());
        Ok(limits)
    }

    /// The node's type, limits and primary security groups (cached: none change while the
    /// instance lives).
    pub(crate) async fn instance_facts(&self, instance_id: &str) -> Result<InstanceFacts> {
        if let Some(f) = lock(&self.inner.cache.instances).get(instance_id) {
            return Ok(f.clone());
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeInstances, || {
                ec2.describe_instances().instance_ids(instance_id).send()
            })
            .await?;
        let instance = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .ok_or_else(|| Error::NotFound {
                code: "InvalidInstanceID.NotFound".into(),
                message: format!("instance {instance_id} not found"),
            })?;
        let instance_type = instance
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        let security_groups = instance
            .network_interfaces()
            .iter()
            .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0))
            .map(|n| {
                n.groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| {
                instance
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect()
            });
        let limits = self.instance_limits(&instance_type).await?;
        let facts = InstanceFacts {
            instance_type,
            limits,
            security_groups,
        };
        lock(&self.inner.cache.instances).insert(instance_id.to_string(), facts.clone());
        Ok(facts)
    }

    pub(crate) async fn subnet_cidrs(&self, ids: &[String]) -> Result<BTreeMap<String, IpNet>> {
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.inner.cache.subnet_cidrs);
            for id in ids {
                match cache.get(id) {
                    Some(c) => {
                        out.insert(id.clone(), *c);
                    }
                    None if !missing.contains(id) => missing.push(id.clone()),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let ec2 = &self.inner.ec2;
        let resp = self
            .call(AwsOp::DescribeSubnets, || {
                ec2.describe_subnets()
                    .set_subnet_ids(Some(missing.clone()))
                    .send()
            })
            .await?;
        let mut cache = lock(&self.inner.cache.subnet_cidrs);
        for s in resp.subnets() {
            if let (Some(id), Some(Ok(cidr))) = (s.subnet_id(), s.cidr_block().map(str::parse)) {
                cache.insert(id.to_string(), cidr);
                out.insert(id.to_string(), cidr);
            }
        }
        Ok(out)
    }

    pub(crate) async fn describe_interface(&self, id: &str) -> Result<Option<NetworkInterface>> {
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeNetworkInterfaces, || {
                ec2.describe_network_interfaces()
                    .network_interface_ids(id)
                    .send()
            })
            .await;
        crate::call::absent_if_not_found(out.map(|o| o.network_interfaces().first().cloned()))
    }

    /// Interfaces attached to an instance, as Describe shows them.
    async fn attached_interfaces(&self, instance_id: &str) -> Result<Vec<NetworkInterface>> {
        let ec2 = &self.inner.ec2;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(AwsOp::DescribeNetworkInterfaces, || {
                    ec2.describe_network_interfaces()
                        .filters(
                            Filter::builder()
                                .name("attachment.instance-id")
                                .values(instance_id)
                                .build(),
                        )
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            out.extend(page.network_interfaces().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    pub(crate) fn remember_interface(&self, instance_id: &str, interface: Interface) {
        lock(&self.inner.cache.recent_interfaces)
            .entry(instance_id.to_string())
            .or_default()
            .push((Instant::now(), interface));
    }

    fn forget_interface(&self, id: &InterfaceId) {
        for list in lock(&self.inner.cache.recent_interfaces).values_mut() {
            list.retain(|(_, i)| &i.id != id);
        }
    }

    /// Adds interfaces we created that Describe does not show yet (EC2 is eventually
    /// consistent), so nobody attaches a second one at the same index.
    fn merge_recent(&self, instance_id: &str, interfaces: &mut Vec<Interface>) {
        let window = self.inner.config.consistency_window;
        let mut recent = lock(&self.inner.cache.recent_interfaces);
        let Some(list) = recent.get_mut(instance_id) else {
            return;
        };
        list.retain(|(at, i)| {
            at.elapsed() < window && !interfaces.iter().any(|seen| seen.id == i.id)
        });
        for (_, i) in list.iter() {
            interfaces.push(i.clone());
        }
    }

    pub(crate) async fn node_interfaces(&self, node: &NodeRef) -> Result<NodeInterfaces> {
        let facts = self.instance_facts(&node.instance_id).await?;
        let enis = self.attached_interfaces(&node.instance_id).await?;
        let cluster = &self.inner.config.cluster_name;
        let mut interfaces: Vec<Interface> = enis
            .iter()
            .filter_map(|e| interface_from(e, cluster))
            .collect();
        self.merge_recent(&node.instance_id, &mut interfaces);
        let subnet_ids: Vec<String> = interfaces.iter().map(|i| i.subnet_id.clone()).collect();
        let cidrs = self.subnet_cidrs(&subnet_ids).await?;
        for i in &mut interfaces {
            i.subnet_cidr = cidrs.get(&i.subnet_id).copied();
        }
        interfaces.sort_by_key(|i| i.index);
        self.inner
            .cache
            .device_indexes
            .observe(&node.instance_id, interfaces.iter().map(|i| i.index));
        Ok(NodeInterfaces {
            node: node.clone(),
            instance_type: facts.instance_type,
            limits: facts.limits,
            interfaces,
        })
    }

    pub(crate) async fn delete_interface(&self, id: &str) -> Result<()> {
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DeleteNetworkInterface, || {
                ec2.delete_network_interface()
                    .network_interface_id(id)
                    .send()
            })
            .await;
        match out {
            Ok(_) | Err(Error::NotFound { .. }) => {
                self.forget_interface(&InterfaceId(id.to_string()));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Addresses for AwsProvider {
    fn capabilities(&self) -> AddressCapabilities {
        AddressCapabilities {
            hot_plug_interfaces: true,
            block_kinds: vec![BlockKind::SecondaryIp, BlockKind::Prefix],
            // One AssignPrivateIpAddresses call fills every free slot of an interface.
            max_blocks_per_call: 49,
        }
    }

    async fn describe_node(&self, node: &NodeRef) -> Result<NodeInterfaces> {
        self.node_interfaces(node).await
    }

    async fn attach_interface(
        &self,
        node: &NodeRef,
        request: &AttachInterface,
    ) -> Result<Interface> {
        let span = tracing::info_span!("attach_interface", node = %node.name, instance = %node.instance_id);
        self.attach(node, request).instrument(span).await
    }

    async fn detach_interface(&self, node: &NodeRef, interface: &InterfaceId) -> Result<()> {
        let Some(eni) = self.describe_interface(&interface.0).await? else {
            self.forget_interface(interface);
            return Ok(());
        };
        if !Owner::cluster_owns(&self.inner.config.cluster_name, &ec2_tags(eni.tag_set())) {
            return Err(not_owned(&format!("interface {interface}")));
        }
        let ec2 = &self.inner.ec2;
        if let Some(att) = eni.attachment() {
            if att.instance_id().is_some_and(|i| i != node.instance_id) {
                return Err(Error::invalid(format!(
                    "interface {interface} is attached to {:?}, not {}",
                    att.instance_id(),
                    node.instance_id
                )));
            }
            if let Some(att_id) = att.attachment_id() {
                let out = self
                    .call(AwsOp::DetachNetworkInterface, || {
                        ec2.detach_network_interface().attachment_id(att_id).send()
                    })
                    .await;
                crate::call::gone_is_done(out)?;
            }
            // Detaching takes a moment; the interface can be deleted once it is available.
            let mut wait = Duration::from_millis(100);
            let mut available = false;
            for _ in 0..12 {
                match self.describe_interface(&interface.0).await? {
                    None => {
                        self.forget_interface(interface);
                        return Ok(());
                    }
                    Some(e) if e.status().is_some_and(|s| s.as_str() == "available") => {
                        available = true;
                        break;
                    }
                    Some(_) => {}
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            if !available {
                return Err(Error::Transient {
                    code: "DetachPending".into(),
                    message: format!("interface {interface} is still detaching"),
                });
            }
            if let Some(index) = att.device_index().and_then(|i| u32::try_from(i).ok()) {
                self.inner
                    .cache
                    .device_indexes
                    .freed(&node.instance_id, index);
            }
        }
        self.delete_interface(&interface.0).await
    }

    async fn assign_blocks(
        &self,
        node: &NodeRef,
        request: &AssignBlocks,
    ) -> Result<Vec<AddressBlock>> {
        if request.count == 0 {
            return Ok(Vec::new());
        }
        let facts = self.instance_facts(&node.instance_id).await?;
        match request.kind {
            BlockKind::SecondaryIp => {}
            BlockKind::Prefix if facts.limits.block_kinds.contains(&BlockKind::Prefix) => {}
            kind => {
                return Err(Error::invalid(format!(
                    "{kind:?} blocks are not available on instance type {}",
                    facts.instance_type
                )));
            }
        }
        let eni = self
            .describe_interface(&request.interface.0)
            .await?
            .ok_or_else(|| Error::NotFound {
                code: "InvalidNetworkInterfaceID.NotFound".into(),
                message: format!("interface {} not found", request.interface),
            })?;
        let attached_to = eni.attachment().and_then(|a| a.instance_id());
        if attached_to != Some(node.instance_id.as_str()) {
            return Err(Error::invalid(format!(
                "interface {} is not attached to {}",
                request.interface, node.instance_id
            )));
        }
        let free = facts
            .limits
            .max_blocks_per_interface
            .saturating_sub(used_slots(&eni));
        if free == 0 {
            return Err(Error::LimitExceeded {
                limit: Limit::AddressesPerInterface,
                code: "PrivateIpAddressLimitExceeded".into(),
                message: format!(
                    "interface {} holds {} of {} addresses ({})",
                    request.interface,
                    used_slots(&eni),
                    facts.limits.max_blocks_per_interface,
                    facts.instance_type
                ),
            });
        }
        // As many as fit, in one call.
        let n = i32::try_from(request.count.min(free)).unwrap_or(i32::MAX);
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::AssignPrivateIpAddresses, || {
                let b = ec2
                    .assign_private_ip_addresses()
                    .network_interface_id(&request.interface.0);
                match request.kind {
                    BlockKind::Prefix => b.ipv4_prefix_count(n),
                    _ => b.secondary_private_ip_address_count(n),
                }
                .send()
            })
            .await?;
        let mut blocks: Vec<AddressBlock> = out
            .assigned_private_ip_addresses()
            .iter()
            .filter_map(|a| host_block(a.private_ip_address()?, false))
            .collect();
        blocks.extend(
            out.assigned_ipv4_prefixes()
                .iter()
                .filter_map(|p| prefix_block(p.ipv4_prefix()?)),
        );
        Ok(blocks)
    }

    async fn release_blocks(
        &self,
        node: &NodeRef,
        interface: &InterfaceId,
        blocks: &[IpNet],
    ) -> Result<()> {
        let _ = node;
        let Some(eni) = self.describe_interface(&interface.0).await? else {
            return Ok(());
        };
        let secondary: Vec<String> = eni
            .private_ip_addresses()
            .iter()
            .filter(|a| a.primary() != Some(true))
            .filter_map(|a| a.private_ip_address().map(str::to_string))
            .collect();
        let prefixes: Vec<String> = eni
            .ipv4_prefixes()
            .iter()
            .filter_map(|p| p.ipv4_prefix().map(str::to_string))
            .collect();
        let mut ips = Vec::new();
        let mut pfx = Vec::new();
        for b in blocks {
            let host = b.addr().to_string();
            if b.prefix_len() == b.max_prefix_len() && secondary.contains(&host) {
                ips.push(host);
            } else if prefixes.contains(&b.to_string()) {
                pfx.push(b.to_string());
            }
        }
        let ec2 = &self.inner.ec2;
        // AWS takes addresses or prefixes in one call, not both.
        for (list, prefix) in [(ips, false), (pfx, true)] {
            if list.is_empty() {
                continue;
            }
            self.call(AwsOp::UnassignPrivateIpAddresses, || {
                let b = ec2
                    .unassign_private_ip_addresses()
                    .network_interface_id(&interface.0);
                if prefix {
                    b.set_ipv4_prefixes(Some(list.clone()))
                } else {
                    b.set_private_ip_addresses(Some(list.clone()))
                }
                .send()
            })
            .await?;
        }
        Ok(())
    }

    async fn list_orphans(&self, grace: Duration) -> Result<Vec<OrphanInterface>> {
        let ec2 = &self.inner.ec2;
        let cluster = &self.inner.config.cluster_name;
        let now = now_secs();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(AwsOp::DescribeNetworkInterfaces, || {
                    ec2.describe_network_interfaces()
                        .filters(
                            Filter::builder()
                                .name(format!("tag:{TAG_CLUSTER}"))
                                .values(cluster)
                                .build(),
                        )
                        .filters(ec2_filter("status", "available"))
                        .filters(self.in_vpc())
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for eni in page.network_interfaces() {
                let tags = ec2_tags(eni.tag_set());
                // Filters are the cloud's; ownership is checked here too.
                if !Owner::cluster_owns(cluster, &tags)
                    || eni.attachment().is_some_and(|a| a.instance_id().is_some())
                {
                    continue;
                }
                let created_at = tags.get(TAG_CREATED_AT).and_then(|v| v.parse::<u64>().ok());
                // Without a creation time it is treated as old: it is ours and unattached.
                if created_at.is_some_and(|c| now.saturating_sub(c) < grace.as_secs()) {
                    continue;
                }
                let Some(id) = eni.network_interface_id() else {
                    continue;
                };
                out.push(OrphanInterface {
                    id: InterfaceId(id.to_string()),
                    subnet_id: eni.subnet_id().unwrap_or_default().to_string(),
                    node: tags.get(TAG_NODE).cloned(),
                    created_at,
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn delete_orphan(&self, interface: &InterfaceId) -> Result<()> {
        let Some(eni) = self.describe_interface(&interface.0).await? else {
            return Ok(());
        };
        if !Owner::cluster_owns(&self.inner.config.cluster_name, &ec2_tags(eni.tag_set())) {
            return Err(not_owned(&format!("interface {interface}")));
        }
        if eni.status().is_some_and(|s| s.as_str() != "available") {
            return Err(Error::Conflict {
                code: "InvalidNetworkInterface.InUse".into(),
                message: format!("interface {interface} is attached again; not an orphan"),
            });
        }
        self.delete_interface(&interface.0).await
    }
}
