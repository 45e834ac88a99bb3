//! Adding an interface to an instance: create it (tagged, with its first addresses), attach it
//! at a device index no other attach holds ([`crate::device_index`]), mark it
//! delete-on-termination. Several attaches to one instance run at once.
//!
//! An interface we created is never left behind by a failed attach: when the cloud refuses
//! the index because another client took it, the same interface is attached at the next free
//! index; any other failure deletes it.

use aws_sdk_ec2::types::{NetworkInterfaceAttachmentChanges, ResourceType};
use cloudnet_core::ownership::{TAG_CREATED_AT, TAG_NODE};
use cloudnet_core::{
    AttachInterface, BlockKind, Error, Interface, Limit, NodeRef, Owner, OwnerKind, Result,
};

use crate::device_index::{Pick, Reservation, VIEW_TTL};
use crate::ec2_convert::interface_from;
use crate::lb::convert::to_ec2_tag_spec;
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, InstanceFacts};

/// How many times an attach moves on to another index the cloud says is taken.
const INDEX_RETRIES: u32 = 3;

/// The cloud's code when the device index is in use (also its code for other bad values,
/// so the caller describes the instance before concluding the index was the problem).
const INDEX_TAKEN_CODE: &str = "InvalidParameterValue";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AwsProvider {
    /// Holds a free device index on the node's instance, describing it first when the
    /// provider's view of it is missing or older than [`VIEW_TTL`].
    async fn reserve_index(&self, node: &NodeRef, facts: &InstanceFacts) -> Result<Reservation> {
        let book = &self.inner.cache.device_indexes;
        let max = facts.limits.max_interfaces;
        let mut pick = book.reserve(&node.instance_id, max, Some(VIEW_TTL));
        if matches!(pick, Pick::Stale) {
            self.node_interfaces(node).await?;
            pick = book.reserve(&node.instance_id, max, None);
        }
        match pick {
            Pick::Got(r) => Ok(r),
            Pick::Full { in_use, held } => Err(Error::LimitExceeded {
                limit: Limit::InterfacesPerNode,
                code: "AttachmentLimitExceeded".into(),
                message: format!(
                    "instance {} ({}) already has {in_use} of {max} interfaces ({held} more being attached)",
                    node.instance_id, facts.instance_type
                ),
            }),
            Pick::Stale => Err(Error::Transient {
                code: "NoInstanceView".into(),
                message: format!("instance {} could not be described", node.instance_id),
            }),
        }
    }

    pub(crate) async fn attach(
        &self,
        node: &NodeRef,
        request: &AttachInterface,
    ) -> Result<Interface> {
        let facts = self.instance_facts(&node.instance_id).await?;
        if request.block_kind == BlockKind::Prefix
            && !facts.limits.block_kinds.contains(&BlockKind::Prefix)
        {
            return Err(Error::invalid(format!(
                "instance type {} does not support /28 prefixes",
                facts.instance_type
            )));
        }
        // Held before anything is created: a node at its limit costs no call.
        let reservation = self.reserve_index(node, &facts).await?;
        let initial = request
            .initial_blocks
            .min(facts.limits.max_blocks_per_interface.saturating_sub(1));
        let groups = if request.security_groups.is_empty() {
            facts.security_groups.clone()
        } else {
            request.security_groups.clone()
        };
        let cluster = &self.inner.config.cluster_name;
        let owner = Owner::cluster_scoped(cluster, OwnerKind::Node, &node.name);
        let mut tags = owner.aws_tags();
        tags.insert(TAG_NODE.to_string(), node.instance_id.clone());
        tags.insert(TAG_CREATED_AT.to_string(), now_secs().to_string());
        // One token for this attach: an SDK retry of a create that did reach EC2 gets the
        // same interface back instead of a second one.
        let token = uuid::Uuid::new_v4().to_string();
        let initial_i32 = i32::try_from(initial).unwrap_or(i32::MAX);
        let ec2 = &self.inner.ec2;
        let created = self
            .inner
            .caller
            .call(AwsOp::CreateNetworkInterface, || {
                let mut b = ec2
                    .create_network_interface()
                    .subnet_id(&request.subnet_id)
                    .set_groups(Some(groups.clone()))
                    .description(&request.description)
                    .tag_specifications(to_ec2_tag_spec(ResourceType::NetworkInterface, &tags))
                    .client_token(&token);
                if initial > 0 {
                    b = match request.block_kind {
                        BlockKind::Prefix => b.ipv4_prefix_count(initial_i32),
                        _ => b.secondary_private_ip_address_count(initial_i32),
                    };
                }
                b.send()
            })
            .await?;
        let eni = created
            .network_interface()
            .ok_or_else(|| Error::Transient {
                code: "EmptyResponse".into(),
                message: "CreateNetworkInterface answered no interface".into(),
            })?;
        let mut interface = interface_from(eni, cluster).ok_or_else(|| Error::Transient {
            code: "EmptyResponse".into(),
            message: "CreateNetworkInterface answered no interface ID".into(),
        })?;
        let eni_id = interface.id.0.clone();
        tracing::info!(interface = %eni_id, index = reservation.index(), "Interface created");

        let (attachment_id, index) = match self
            .attach_at_free_index(node, &facts, &eni_id, reservation)
            .await
        {
            Ok(done) => done,
            Err(err) => {
                tracing::warn!(interface = %eni_id, error = %err, "Attach failed, deleting the interface");
                if let Err(del) = self.delete_interface(&eni_id).await {
                    tracing::error!(interface = %eni_id, error = %del, "Could not delete the unattached interface; orphan collection will");
                }
                return Err(err);
            }
        };
        // Remembered before the next call, so a failure below still leaves it visible.
        interface.index = index;
        interface.subnet_cidr = self
            .subnet_cidrs(std::slice::from_ref(&interface.subnet_id))
            .await
            .ok()
            .and_then(|m| m.get(&interface.subnet_id).copied());
        self.remember_interface(&node.instance_id, interface.clone());
        self.inner
            .caller
            .call(AwsOp::ModifyNetworkInterfaceAttribute, || {
                ec2.modify_network_interface_attribute()
                    .network_interface_id(&eni_id)
                    .attachment(
                        NetworkInterfaceAttachmentChanges::builder()
                            .attachment_id(&attachment_id)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .send()
            })
            .await?;
        Ok(interface)
    }

    /// Attaches the interface at the reserved index; when the cloud answers that the index is
    /// taken (another client attached there since our last describe), describes the instance
    /// and tries the next free index with the same interface. Answers the attachment ID and
    /// the index it got.
    async fn attach_at_free_index(
        &self,
        node: &NodeRef,
        facts: &InstanceFacts,
        eni_id: &str,
        mut reservation: Reservation,
    ) -> Result<(String, u32)> {
        let ec2 = &self.inner.ec2;
        let mut moved = 0;
        loop {
            let index = reservation.index();
            let index_i32 = i32::try_from(index).unwrap_or(i32::MAX);
            let attached = self
                .inner
                .caller
                .call(AwsOp::AttachNetworkInterface, || {
                    ec2.attach_network_interface()
                        .network_interface_id(eni_id)
                        .instance_id(&node.instance_id)
                        .device_index(index_i32)
                        .send()
                })
                .await;
            let err = match attached {
                Ok(out) => {
                    reservation.attached();
                    return Ok((out.attachment_id().unwrap_or_default().to_string(), index));
                }
                Err(e) => e,
            };
            if err.code() != INDEX_TAKEN_CODE || moved >= INDEX_RETRIES {
                return Err(err);
            }
            // Is the index really taken? Only then is another one worth a try.
            let now = self.node_interfaces(node).await?;
            let taken = now
                .interfaces
                .iter()
                .any(|i| i.index == index && i.id.0 != eni_id);
            if !taken {
                return Err(err);
            }
            tracing::info!(interface = %eni_id, index, "Device index taken by another client; trying the next");
            // The new one is reserved while the old is still held, so it differs.
            reservation = self.reserve_index(node, facts).await?;
            moved += 1;
        }
    }
}
