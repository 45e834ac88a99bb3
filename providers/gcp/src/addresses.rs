//! Node IPAM with alias IP ranges, as GKE's VPC-native clusters (cloud-provider-gcp's
//! CloudAllocator) do it: each node's interface gets a range (a /24 by default) from the
//! subnetwork's pods secondary range, and the node hands out pod addresses from it locally.
//!
//! ```text
//!  describe_node ── instances.get, subnetworks.get (cached) ──> interfaces, blocks, limits
//!  assign_blocks ── instances.get ─> updateNetworkInterface (fingerprint; ranges asked as
//!                   `/24` from `pods`: Compute Engine picks a free aligned block, so two
//!                   nodes can never be handed overlapping ranges) ─> instances.get (what it
//!                   picked)
//!  release_blocks ─ instances.get ─> updateNetworkInterface without those ranges
//! ```
//!
//! A stale fingerprint (412 `conditionNotMet`: someone changed the interface between our
//! read and write) is read again and decided again ([`crate::fingerprint`]). A write whose
//! answer was lost (5xx, dropped connection) is not sent again blind: the interface is read,
//! and when it has the ranges asked for beyond those it had, the write landed.
//!
//! Not served by GCE, and so refused or empty here:
//! - `attach_interface` / `detach_interface`: a VM's interfaces are fixed while it runs
//!   ([`AddressCapabilities::hot_plug_interfaces`] is false; callers do not ask).
//! - `list_orphans` is empty: alias ranges live on the instance and go with it; there is no
//!   detached interface to leak.
//! - Removing an interface's *last* alias range: `updateNetworkInterface` has PATCH
//!   semantics, and the Rust client (like the Python one) leaves an empty `aliasIpRanges`
//!   out of the request, which the API reads as "no change". A node keeps its range for its
//!   lifetime (as on GKE); such a release is refused with `InvalidInput`
//!   (`lastAliasRange`) instead of answering success for a change that did not happen.

use async_trait::async_trait;
use cloudnet_core::{
    AddressBlock, AddressCapabilities, AddressLimits, Addresses, AssignBlocks, AttachInterface,
    BlockKind, Error, Interface, InterfaceId, Limit, NodeInterfaces, NodeRef, OrphanInterface,
    Result,
};
use google_cloud_compute_v1::model::{AliasIpRange, Instance, NetworkInterface, Subnetwork};
use ipnet::IpNet;

use crate::call::methods;
use crate::fingerprint::{Step, is_stale, read_modify_write};
use crate::names::last_segment;
use crate::provider::{GcpProvider, SubnetRanges};

/// One interface as read, with what a write needs.
#[derive(Debug, Clone)]
struct NicState {
    zone: String,
    instance: String,
    nic: NetworkInterface,
}

impl NicState {
    fn name(&self) -> &str {
        self.nic.name.as_deref().unwrap_or("nic0")
    }

    fn ranges(&self) -> &[AliasIpRange] {
        &self.nic.alias_ip_ranges
    }
}

/// The CIDR of an alias range as read (a single address reads as `a.b.c.d/32`).
fn cidr_of(r: &AliasIpRange) -> Option<IpNet> {
    let s = r.ip_cidr_range.as_deref()?;
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// Ranges in `after` that are not in `before`, from `range_name`, of `prefix_len`.
fn added(
    before: &[AliasIpRange],
    after: &[AliasIpRange],
    range_name: &str,
    prefix_len: u8,
) -> Vec<IpNet> {
    let had: Vec<IpNet> = before.iter().filter_map(cidr_of).collect();
    after
        .iter()
        .filter(|r| r.subnetwork_range_name.as_deref() == Some(range_name))
        .filter_map(cidr_of)
        .filter(|c| c.prefix_len() == prefix_len && !had.contains(c))
        .collect()
}

fn not_supported(what: &str) -> Error {
    Error::InvalidInput {
        code: "NotSupported".into(),
        message: format!(
            "{what}: Compute Engine cannot change a running VM's interfaces \
             (hot_plug_interfaces is false)"
        ),
    }
}

impl GcpProvider {
    async fn locate_node(&self, node: &NodeRef) -> Result<(String, String)> {
        match &node.zone {
            Some(zone) if !node.instance_id.contains('/') => {
                Ok((zone.clone(), node.instance_id.clone()))
            }
            _ => self.locate_instance(&node.instance_id).await,
        }
    }

    async fn read_nic(&self, zone: &str, instance: &str, nic: &InterfaceId) -> Result<NicState> {
        let inst = self.get_instance(zone, instance).await?;
        let found = inst
            .network_interfaces
            .iter()
            .find(|n| n.name.as_deref() == Some(nic.0.as_str()))
            .cloned()
            .ok_or_else(|| Error::InvalidInput {
                code: "NoSuchInterface".into(),
                message: format!("instance {instance} has no interface {nic}"),
            })?;
        Ok(NicState {
            zone: zone.to_string(),
            instance: instance.to_string(),
            nic: found,
        })
    }

    /// Writes the interface's alias ranges under the fingerprint read with it, and waits for
    /// the operation. A transient failure comes back (see [`crate::call::Caller::call_no_replay`]).
    async fn write_ranges(&self, st: &NicState, ranges: Vec<AliasIpRange>) -> Result<()> {
        if ranges.is_empty() {
            return Err(Error::InvalidInput {
                code: "lastAliasRange".into(),
                message: format!(
                    "cannot remove the last alias range of {}/{}: an empty list is left out \
                     of the request and read as no change",
                    st.instance,
                    st.name()
                ),
            });
        }
        let body = NetworkInterface::new()
            .set_or_clear_fingerprint(st.nic.fingerprint.clone())
            .set_alias_ip_ranges(ranges);
        let project = self.project();
        let op = self
            .caller()
            .call_no_replay(methods::INSTANCES_UPDATE_NETWORK_INTERFACE, || {
                self.clients()
                    .instances
                    .update_network_interface()
                    .set_project(project)
                    .set_zone(&st.zone)
                    .set_instance(&st.instance)
                    .set_network_interface(st.name())
                    .set_body(body.clone())
                    .send()
            })
            .await?;
        self.wait(op).await
    }

    /// A subnetwork's ranges, read once.
    async fn subnet_ranges(&self, url: &str) -> Result<SubnetRanges> {
        if let Some(r) = self.known_subnet(url) {
            return Ok(r);
        }
        let parts: Vec<&str> = url.split('/').collect();
        let region = parts
            .iter()
            .position(|p| *p == "regions")
            .and_then(|i| parts.get(i + 1))
            .copied()
            .unwrap_or(self.location().region.as_str());
        let name = last_segment(url);
        let project = self.project();
        let sub: Subnetwork = self
            .caller()
            .call(methods::SUBNETWORKS_GET, || {
                self.clients()
                    .subnetworks
                    .get()
                    .set_project(project)
                    .set_region(region)
                    .set_subnetwork(name)
                    .send()
            })
            .await?;
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<IpNet>().ok());
        let primary = parse(sub.ip_cidr_range.as_deref()).ok_or_else(|| Error::Transient {
            code: "ResponseError".into(),
            message: format!("subnetwork {name} has no primary range"),
        })?;
        let ranges = SubnetRanges {
            primary,
            secondary: sub
                .secondary_ip_ranges
                .iter()
                .filter_map(|r| Some((r.range_name.clone()?, parse(r.ip_cidr_range.as_deref())?)))
                .collect(),
        };
        self.remember_subnet(url, ranges.clone());
        Ok(ranges)
    }

    fn limits(&self, inst: &Instance) -> AddressLimits {
        AddressLimits {
            max_interfaces: u32::try_from(inst.network_interfaces.len()).unwrap_or(u32::MAX),
            max_blocks_per_interface: 1 + self.config().max_alias_ranges,
            block_kinds: vec![BlockKind::AliasRange],
        }
    }

    /// One interface in the model. Alias ranges from the pods range are pod blocks; the
    /// primary address and alias ranges from any other range (someone else's) are marked
    /// `primary`: never handed to a pod, never released.
    fn interface_of(
        &self,
        index: u32,
        nic: &NetworkInterface,
        subnet: Option<&SubnetRanges>,
    ) -> Interface {
        let pods = &self.config().pod_range_name;
        let mut blocks = Vec::new();
        if let Some(ip) = nic
            .network_ip
            .as_deref()
            .and_then(|s| s.parse::<std::net::IpAddr>().ok())
        {
            blocks.push(AddressBlock {
                cidr: IpNet::from(ip),
                kind: BlockKind::AliasRange,
                primary: true,
            });
        }
        for r in &nic.alias_ip_ranges {
            if let Some(cidr) = cidr_of(r) {
                blocks.push(AddressBlock {
                    cidr,
                    kind: BlockKind::AliasRange,
                    primary: r.subnetwork_range_name.as_deref() != Some(pods.as_str()),
                });
            }
        }
        Interface {
            id: InterfaceId(nic.name.clone().unwrap_or_else(|| format!("nic{index}"))),
            index,
            subnet_id: nic
                .subnetwork
                .as_deref()
                .map(last_segment)
                .unwrap_or_default()
                .to_string(),
            subnet_cidr: subnet.map(|s| s.primary),
            mac: None,
            security_groups: Vec::new(),
            blocks,
            owned: false,
        }
    }

    /// Checks an assign request against what the cloud serves.
    fn check_assign(&self, request: &AssignBlocks) -> Result<u8> {
        if request.kind != BlockKind::AliasRange {
            return Err(Error::invalid(format!(
                "Compute Engine hands out alias ranges, not {:?} blocks",
                request.kind
            )));
        }
        if request.count == 0 || request.count > self.config().max_alias_ranges {
            return Err(Error::invalid(format!(
                "asked for {} alias ranges; one call adds 1 to {}",
                request.count,
                self.config().max_alias_ranges
            )));
        }
        let len = request.prefix_len.unwrap_or(self.config().node_prefix_len);
        if !(8..=32).contains(&len) {
            return Err(Error::invalid(format!(
                "alias range size /{len} is not /8 to /32"
            )));
        }
        Ok(len)
    }
}

#[async_trait]
impl Addresses for GcpProvider {
    fn capabilities(&self) -> AddressCapabilities {
        AddressCapabilities {
            hot_plug_interfaces: false,
            block_kinds: vec![BlockKind::AliasRange],
            max_blocks_per_call: self.config().max_alias_ranges,
        }
    }

    async fn describe_node(&self, node: &NodeRef) -> Result<NodeInterfaces> {
        let (zone, name) = self.locate_node(node).await?;
        let inst = self.get_instance(&zone, &name).await?;
        let mut interfaces = Vec::new();
        for (i, nic) in inst.network_interfaces.iter().enumerate() {
            let subnet = match nic.subnetwork.as_deref() {
                Some(url) => Some(self.subnet_ranges(url).await?),
                None => None,
            };
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            interfaces.push(self.interface_of(index, nic, subnet.as_ref()));
        }
        Ok(NodeInterfaces {
            node: node.clone(),
            instance_type: inst
                .machine_type
                .as_deref()
                .map(last_segment)
                .unwrap_or_default()
                .to_string(),
            limits: self.limits(&inst),
            interfaces,
        })
    }

    async fn attach_interface(
        &self,
        _node: &NodeRef,
        _request: &AttachInterface,
    ) -> Result<Interface> {
        Err(not_supported("adding an interface"))
    }

    async fn detach_interface(&self, _node: &NodeRef, _interface: &InterfaceId) -> Result<()> {
        Err(not_supported("removing an interface"))
    }

    async fn assign_blocks(
        &self,
        node: &NodeRef,
        request: &AssignBlocks,
    ) -> Result<Vec<AddressBlock>> {
        let prefix_len = self.check_assign(request)?;
        let (zone, instance) = self.locate_node(node).await?;
        let pods = self.config().pod_range_name.clone();
        let count = request.count as usize;
        let attempts = self.config().fingerprint_attempts.max(1);
        // The ranges before our first write that may have landed unseen.
        let mut unsure_since: Option<Vec<AliasIpRange>> = None;
        let mut writes = 0u32;
        let written_against = loop {
            let st = self.read_nic(&zone, &instance, &request.interface).await?;
            if let Some(before) = &unsure_since {
                let mut new = added(before, st.ranges(), &pods, prefix_len);
                if new.len() >= count {
                    new.truncate(count);
                    return Ok(blocks(new));
                }
                unsure_since = None;
            }
            let have = st.ranges().len();
            if have + count > self.config().max_alias_ranges as usize {
                return Err(Error::LimitExceeded {
                    limit: Limit::AddressesPerInterface,
                    code: "aliasRangeLimit".into(),
                    message: format!(
                        "{instance}/{} has {have} alias ranges; {count} more exceed {}",
                        request.interface,
                        self.config().max_alias_ranges
                    ),
                });
            }
            let mut ranges = st.ranges().to_vec();
            ranges.extend((0..count).map(|_| {
                AliasIpRange::new()
                    .set_ip_cidr_range(format!("/{prefix_len}"))
                    .set_subnetwork_range_name(pods.clone())
            }));
            writes += 1;
            match self.write_ranges(&st, ranges).await {
                Ok(()) => break st,
                Err(e) if is_stale(&e) && writes < attempts => {
                    tracing::debug!(writes, node = %node.name, "Stale fingerprint, reading again");
                }
                Err(e @ Error::Transient { .. }) if writes < attempts => {
                    tracing::debug!(error = %e, node = %node.name, "Alias range write unsure, reading again");
                    unsure_since = Some(st.ranges().to_vec());
                    tokio::time::sleep(self.config().retry.backoff(writes - 1)).await;
                }
                Err(e) => return Err(e),
            }
        };
        // What Compute Engine picked for the netmask-only ranges.
        let after = self.read_nic(&zone, &instance, &request.interface).await?;
        let mut new = added(written_against.ranges(), after.ranges(), &pods, prefix_len);
        new.truncate(count);
        Ok(blocks(new))
    }

    async fn release_blocks(
        &self,
        node: &NodeRef,
        interface: &InterfaceId,
        release: &[IpNet],
    ) -> Result<()> {
        if release.is_empty() {
            return Ok(());
        }
        let (zone, instance) = self.locate_node(node).await?;
        read_modify_write(
            self.config().fingerprint_attempts,
            || self.read_nic(&zone, &instance, interface),
            |st: NicState| {
                let keep: Vec<AliasIpRange> = st
                    .ranges()
                    .iter()
                    .filter(|r| cidr_of(r).is_none_or(|c| !release.contains(&c)))
                    .cloned()
                    .collect();
                if keep.len() == st.ranges().len() {
                    // Already gone (or never there): nothing to do.
                    Ok(Step::Done(()))
                } else {
                    Ok(Step::Write((st, keep), ()))
                }
            },
            |(st, keep)| async move { self.write_ranges(&st, keep).await },
        )
        .await
        .map(|_| ())
    }

    /// Always empty: alias ranges live on the instance and are deleted with it; GCE has no
    /// detached interface that could leak.
    async fn list_orphans(&self, _grace: std::time::Duration) -> Result<Vec<OrphanInterface>> {
        Ok(Vec::new())
    }

    async fn delete_orphan(&self, interface: &InterfaceId) -> Result<()> {
        Err(Error::InvalidInput {
            code: "NotSupported".into(),
            message: format!("{interface}: Compute Engine has no orphan interfaces to delete"),
        })
    }
}

fn blocks(cidrs: Vec<IpNet>) -> Vec<AddressBlock> {
    cidrs
        .into_iter()
        .map(|cidr| AddressBlock {
            cidr,
            kind: BlockKind::AliasRange,
            primary: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(cidr: &str, name: Option<&str>) -> AliasIpRange {
        AliasIpRange::new()
            .set_ip_cidr_range(cidr)
            .set_or_clear_subnetwork_range_name(name.map(str::to_string))
    }

    #[test]
    fn added_ranges_are_the_new_ones_of_the_size_and_range_asked() {
        let before = [range("10.4.0.0/24", Some("pods"))];
        let after = [
            range("10.4.0.0/24", Some("pods")),
            range("10.4.1.0/24", Some("pods")),
            range("10.4.2.0/25", Some("pods")),
            range("10.0.0.9/32", None),
            range("10.4.3.0/24", Some("other")),
        ];
        assert_eq!(
            added(&before, &after, "pods", 24),
            vec!["10.4.1.0/24".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            cidr_of(&range("10.0.0.9", None)),
            Some("10.0.0.9/32".parse().unwrap())
        );
    }
}
