//! Elastic network interfaces: create, delete (never while attached), attach (the instance
//! type's interface count, one interface per device index, same zone), detach (never the
//! primary at device index 0), modify, and describe with the filters the suite uses.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::tags::{from_specs, tag_set};
use super::{Ctx, Ec2State, InstanceState, Tags, attribute_bool, ok_return};

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInterface {
    pub id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub description: String,
    pub groups: Vec<String>,
    pub mac: String,
    /// The primary address first, then the secondaries in assignment order.
    pub private_ips: Vec<PrivateIp>,
    pub prefixes: Vec<Prefix>,
    pub source_dest_check: bool,
    pub attachment: Option<Attachment>,
    pub interface_type: String,
    pub tags: Tags,
    /// Eventual consistency: `Describe*` does not see the interface before this moment.
    pub visible_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrivateIp {
    pub address: Ipv4Addr,
    pub primary: bool,
    pub visible_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prefix {
    pub prefix: Ipv4Net,
    pub visible_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub id: String,
    pub instance_id: String,
    pub device_index: i64,
    pub status: String,
    pub attach_time_ms: u64,
    pub delete_on_termination: bool,
}

impl NetworkInterface {
    pub fn primary_ip(&self) -> Option<Ipv4Addr> {
        self.private_ips.first().map(|p| p.address)
    }

    pub fn status(&self) -> &'static str {
        if self.attachment.is_some() {
            "in-use"
        } else {
            "available"
        }
    }

    /// Address slots in use: every IP (the primary too) and every /28 prefix counts as one,
    /// as AWS counts them against `ipv4AddressesPerInterface`.
    pub fn slots(&self) -> usize {
        self.private_ips.len() + self.prefixes.len()
    }

    pub fn visible(&self, now_ms: u64) -> bool {
        now_ms >= self.visible_at_ms
    }

    pub fn attached_to(&self, instance_id: &str) -> bool {
        self.attachment
            .as_ref()
            .is_some_and(|a| a.instance_id == instance_id)
    }
}

/// An interface as one `Describe*` call sees it at one moment.
struct Seen<'a> {
    eni: &'a NetworkInterface,
    now_ms: u64,
}

impl Filterable for Seen<'_> {
    fn filter_values(&self, name: &str) -> Vec<String> {
        let e = self.eni;
        let att = e.attachment.as_ref();
        match name {
            "network-interface-id" => vec![e.id.clone()],
            "subnet-id" => vec![e.subnet_id.clone()],
            "vpc-id" => vec![e.vpc_id.clone()],
            "availability-zone" => vec![e.availability_zone.clone()],
            "description" => vec![e.description.clone()],
            "status" => vec![e.status().to_string()],
            "mac-address" => vec![e.mac.clone()],
            "interface-type" => vec![e.interface_type.clone()],
            "requester-managed" => vec!["false".into()],
            "source-dest-check" => vec![e.source_dest_check.to_string()],
            "group-id" => e.groups.clone(),
            "private-ip-address" | "addresses.private-ip-address" => e
                .private_ips
                .iter()
                .filter(|p| self.now_ms >= p.visible_at_ms)
                .map(|p| p.address.to_string())
                .collect(),
            "addresses.primary" => vec!["true".into(), "false".into()],
            "ipv4-prefix" => e.prefixes.iter().map(|p| p.prefix.to_string()).collect(),
            "attachment.instance-id" => att.map(|a| a.instance_id.clone()).into_iter().collect(),
            "attachment.attachment-id" => att.map(|a| a.id.clone()).into_iter().collect(),
            "attachment.status" => att.map(|a| a.status.clone()).into_iter().collect(),
            "attachment.device-index" => att
                .map(|a| a.device_index.to_string())
                .into_iter()
                .collect(),
            "attachment.delete-on-termination" => att
                .map(|a| a.delete_on_termination.to_string())
                .into_iter()
                .collect(),
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        &self.eni.tags
    }
}

const FILTERS: &[&str] = &[
    "network-interface-id",
    "subnet-id",
    "vpc-id",
    "availability-zone",
    "description",
    "status",
    "mac-address",
    "interface-type",
    "requester-managed",
    "source-dest-check",
    "group-id",
    "private-ip-address",
    "addresses.private-ip-address",
    "addresses.primary",
    "ipv4-prefix",
    "attachment.instance-id",
    "attachment.attachment-id",
    "attachment.status",
    "attachment.device-index",
    "attachment.delete-on-termination",
];

pub fn eni_not_found(id: &str) -> AwsError {
    AwsError::client(
        "InvalidNetworkInterfaceID.NotFound",
        format!("The networkInterface ID '{id}' does not exist"),
    )
}

fn private_dns(ip: Ipv4Addr, region: &str) -> String {
    let o = ip.octets();
    format!(
        "ip-{}-{}-{}-{}.{region}.compute.internal",
        o[0], o[1], o[2], o[3]
    )
}

impl Ec2State {
    pub(super) fn eni(&self, id: &str) -> Result<&NetworkInterface, AwsError> {
        self.network_interfaces
            .get(id)
            .ok_or_else(|| eni_not_found(id))
    }

    pub(super) fn eni_mut(&mut self, id: &str) -> Result<&mut NetworkInterface, AwsError> {
        self.network_interfaces
            .get_mut(id)
            .ok_or_else(|| eni_not_found(id))
    }

    /// The interfaces attached to an instance, by device index.
    pub(super) fn instance_enis<'a>(
        &'a self,
        instance_id: &'a str,
    ) -> impl Iterator<Item = &'a NetworkInterface> + 'a {
        let mut v: Vec<&NetworkInterface> = self
            .network_interfaces
            .values()
            .filter(|e| e.attached_to(instance_id))
            .collect();
        v.sort_by_key(|e| e.attachment.as_ref().map(|a| a.device_index));
        v.into_iter()
    }

    /// One interface's description. `in_instance` selects the `InstanceNetworkInterface`
    /// shape of `DescribeInstances` (no zone, no tags, no instance id in the attachment).
    pub(super) fn eni_xml(
        &self,
        x: &mut Xml,
        e: &NetworkInterface,
        now_ms: u64,
        in_instance: bool,
    ) {
        let owner = &self.account_id;
        let ips: Vec<&PrivateIp> = e
            .private_ips
            .iter()
            .filter(|p| now_ms >= p.visible_at_ms)
            .collect();
        x.leaf("networkInterfaceId", &e.id)
            .leaf("subnetId", &e.subnet_id)
            .leaf("vpcId", &e.vpc_id);
        if !in_instance {
            x.leaf("availabilityZone", &e.availability_zone);
        }
        x.leaf("description", &e.description).leaf("ownerId", owner);
        if !in_instance {
            x.leaf("requesterManaged", false);
        }
        x.leaf("status", e.status())
            .leaf("macAddress", &e.mac)
            .opt_leaf("privateIpAddress", e.primary_ip())
            .opt_leaf(
                "privateDnsName",
                e.primary_ip().map(|ip| private_dns(ip, &self.region)),
            )
            .leaf("sourceDestCheck", e.source_dest_check)
            .list("groupSet", "item", &e.groups, |x, g| {
                x.leaf("groupId", g).opt_leaf(
                    "groupName",
                    self.security_groups.get(g).map(|g| g.name.as_str()),
                );
            });
        if let Some(a) = &e.attachment {
            x.elem("attachment", |x| {
                x.leaf("attachmentId", &a.id);
                if !in_instance {
                    x.leaf("instanceId", &a.instance_id)
                        .leaf("instanceOwnerId", owner);
                }
                x.leaf("deviceIndex", a.device_index)
                    .leaf("networkCardIndex", 0)
                    .leaf("status", &a.status)
                    .leaf("attachTime", self.timestamp(a.attach_time_ms))
                    .leaf("deleteOnTermination", a.delete_on_termination);
            });
        }
        if !in_instance {
            tag_set(x, &e.tags);
        }
        x.list("privateIpAddressesSet", "item", ips, |x, p| {
            x.leaf("privateIpAddress", p.address)
                .leaf("privateDnsName", private_dns(p.address, &self.region))
                .leaf("primary", p.primary);
        })
        .list(
            "ipv4PrefixSet",
            "item",
            e.prefixes.iter().filter(|p| now_ms >= p.visible_at_ms),
            |x, p| {
                x.leaf("ipv4Prefix", p.prefix);
            },
        )
        .elem("ipv6AddressesSet", |_| {})
        .leaf("interfaceType", &e.interface_type);
    }

    /// Creates an interface in a subnet with its addresses; nothing changes when it fails.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_eni(
        &mut self,
        subnet_id: &str,
        description: String,
        groups: Vec<String>,
        primary: Option<Ipv4Addr>,
        request: &super::addresses::AddressRequest,
        tags: Tags,
        ctx: &Ctx,
    ) -> Result<String, AwsError> {
        let subnet = self.subnet(subnet_id)?;
        let (vpc_id, az) = (subnet.vpc_id.clone(), subnet.availability_zone.clone());
        let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        self.check_groups(&group_refs, &vpc_id)?;
        let id = self.ids.id("eni");
        let subnet = self.subnet_mut(subnet_id)?;
        let primary = match primary {
            Some(ip) => {
                subnet.reserve_ip(ip, &id)?;
                ip
            }
            None => subnet.allocate_ip(&id)?,
        };
        let taken = match self.take_addresses(subnet_id, &id, request) {
            Ok(t) => t,
            Err(e) => {
                self.subnet_mut(subnet_id)?.release_ip(primary);
                return Err(e);
            }
        };
        let visible_at_ms = ctx.visible_at();
        let mut private_ips = vec![PrivateIp {
            address: primary,
            primary: true,
            visible_at_ms,
        }];
        private_ips.extend(taken.ips.iter().map(|&address| PrivateIp {
            address,
            primary: false,
            visible_at_ms,
        }));
        let mac = self.ids.mac();
        self.network_interfaces.insert(
            id.clone(),
            NetworkInterface {
                id: id.clone(),
                subnet_id: subnet_id.to_string(),
                vpc_id,
                availability_zone: az,
                description,
                groups,
                mac,
                private_ips,
                prefixes: taken
                    .prefixes
                    .iter()
                    .map(|&prefix| Prefix {
                        prefix,
                        visible_at_ms,
                    })
                    .collect(),
                source_dest_check: true,
                attachment: None,
                interface_type: "interface".into(),
                tags,
                visible_at_ms,
            },
        );
        Ok(id)
    }

    /// Removes an interface and gives its addresses back to the subnet.
    pub(super) fn remove_eni(&mut self, id: &str) {
        let Some(e) = self.network_interfaces.remove(id) else {
            return;
        };
        if let Some(s) = self.subnets.get_mut(&e.subnet_id) {
            for p in &e.private_ips {
                s.release_ip(p.address);
            }
            for p in &e.prefixes {
                s.release_prefix(p.prefix);
            }
        }
    }

    pub(super) fn create_network_interface(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let subnet_id = p.required("SubnetId")?.to_string();
        let vpc_id = self.subnet(&subnet_id)?.vpc_id.clone();
        let mut groups: Vec<String> = p
            .list("SecurityGroupId")
            .into_iter()
            .map(str::to_string)
            .collect();
        if groups.is_empty() {
            groups.extend(self.default_group(&vpc_id));
        }
        // The primary comes from PrivateIpAddress or the entry of PrivateIpAddresses marked
        // Primary; the other entries are explicit secondaries.
        let mut primary = p.get("PrivateIpAddress").map(parse_ip).transpose()?;
        let mut explicit = Vec::new();
        for spec in p.structs("PrivateIpAddresses") {
            let ip = parse_ip(spec.required("PrivateIpAddress")?)?;
            if spec.get_bool("Primary")?.unwrap_or(false) {
                if primary.is_some_and(|q| q != ip) {
                    return Err(AwsError::client(
                        "InvalidParameterCombination",
                        "Only one primary private IP address may be specified",
                    ));
                }
                primary = Some(ip);
            } else if Some(ip) != primary {
                explicit.push(ip);
            }
        }
        let request = super::addresses::AddressRequest::parse(p, explicit, "Ipv4Prefixes")?;
        let tags = from_specs(p, &["network-interface"], "network-interface")?;
        let description = p.get("Description").unwrap_or_default().to_string();
        let id = self.insert_eni(
            &subnet_id,
            description,
            groups,
            primary,
            &request,
            tags,
            ctx,
        )?;
        let e = self.eni(&id)?;
        x.elem("networkInterface", |x| self.eni_xml(x, e, u64::MAX, false));
        x.opt_leaf("clientToken", p.get("ClientToken"));
        Ok(())
    }

    pub(super) fn delete_network_interface(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let id = p.required("NetworkInterfaceId")?.to_string();
        let e = self.eni(&id)?;
        if e.attachment.is_some() {
            return Err(AwsError::client(
                "InvalidNetworkInterface.InUse",
                format!("The network interface '{id}' is currently in use."),
            ));
        }
        self.remove_eni(&id);
        ok_return(x);
        Ok(())
    }

    pub(super) fn attach_network_interface(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let eni_id = p.required("NetworkInterfaceId")?.to_string();
        let instance_id = p.required("InstanceId")?.to_string();
        let device_index = p
            .get_i64("DeviceIndex")?
            .ok_or_else(|| AwsError::missing_parameter("DeviceIndex"))?;
        if let Some(card) = p.get_i64("NetworkCardIndex")?
            && card != 0
        {
            return Err(AwsError::invalid_parameter_value(format!(
                "Network card index {card} is not supported by the instance type"
            )));
        }
        let inst = self.instance(&instance_id)?;
        if !matches!(
            inst.state,
            InstanceState::Pending | InstanceState::Running | InstanceState::Stopped
        ) {
            return Err(AwsError::client(
                "IncorrectInstanceState",
                format!("The instance '{instance_id}' is not in a valid state for this operation."),
            ));
        }
        let itype = self.instance_type(&inst.instance_type)?.clone();
        let inst_az = inst.availability_zone.clone();
        let inst_vpc = inst.vpc_id.clone();
        let e = self.eni(&eni_id)?;
        if e.attachment.is_some() {
            return Err(AwsError::client(
                "InvalidNetworkInterface.InUse",
                format!("Interface: [{eni_id}] in use."),
            ));
        }
        if e.availability_zone != inst_az || e.vpc_id != inst_vpc {
            return Err(AwsError::invalid_parameter_value(format!(
                "The network interface {eni_id} and instance {instance_id} are not in the same availability zone"
            )));
        }
        if !(0..=31).contains(&device_index) {
            return Err(AwsError::invalid_parameter_value(format!(
                "Invalid value '{device_index}' for deviceIndex"
            )));
        }
        if e.slots() > itype.ipv4_per_eni as usize {
            return Err(AwsError::client(
                "PrivateIpAddressLimitExceeded",
                format!(
                    "Number of private addresses on {eni_id} ({}) exceeds the limit of {} per interface for {}",
                    e.slots(),
                    itype.ipv4_per_eni,
                    itype.name
                ),
            ));
        }
        if !e.prefixes.is_empty() && !itype.supports_prefixes() {
            return Err(AwsError::invalid_parameter_value(format!(
                "Instance type {} does not support IPv4 prefixes",
                itype.name
            )));
        }
        let attached: Vec<i64> = self
            .instance_enis(&instance_id)
            .filter_map(|e| e.attachment.as_ref().map(|a| a.device_index))
            .collect();
        if attached.contains(&device_index) {
            return Err(AwsError::invalid_parameter_value(format!(
                "Instance '{instance_id}' already has an interface attached at device index '{device_index}'."
            )));
        }
        if attached.len() >= itype.max_enis as usize {
            return Err(AwsError::client(
                "AttachmentLimitExceeded",
                format!(
                    "Interface count {} exceeds the limit for {}",
                    attached.len() + 1,
                    itype.name
                ),
            ));
        }
        let attachment_id = self.ids.id("eni-attach");
        self.eni_mut(&eni_id)?.attachment = Some(Attachment {
            id: attachment_id.clone(),
            instance_id,
            device_index,
            status: "attached".into(),
            attach_time_ms: ctx.now_ms,
            delete_on_termination: false,
        });
        x.leaf("attachmentId", &attachment_id)
            .leaf("networkCardIndex", 0);
        Ok(())
    }

    fn eni_by_attachment(&self, attachment_id: &str) -> Result<String, AwsError> {
        self.network_interfaces
            .values()
            .find(|e| e.attachment.as_ref().is_some_and(|a| a.id == attachment_id))
            .map(|e| e.id.clone())
            .ok_or_else(|| {
                AwsError::client(
                    "InvalidAttachmentID.NotFound",
                    format!("The attachment ID '{attachment_id}' does not exist"),
                )
            })
    }

    pub(super) fn detach_network_interface(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let attachment_id = p.required("AttachmentId")?.to_string();
        let eni_id = self.eni_by_attachment(&attachment_id)?;
        let e = self.eni_mut(&eni_id)?;
        if e.attachment.as_ref().is_some_and(|a| a.device_index == 0) {
            return Err(AwsError::client(
                "OperationNotPermitted",
                format!(
                    "The network interface at device index 0 cannot be detached ({attachment_id})."
                ),
            ));
        }
        e.attachment = None;
        ok_return(x);
        Ok(())
    }

    pub(super) fn modify_network_interface(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let id = p.required("NetworkInterfaceId")?.to_string();
        let vpc_id = self.eni(&id)?.vpc_id.clone();
        let groups = p.list("SecurityGroupId");
        self.check_groups(&groups, &vpc_id)?;
        let sdc = attribute_bool(p, "SourceDestCheck")?;
        let description = p.get("Description.Value").map(str::to_string);
        let att = p.sub("Attachment");
        let dot = att.get_bool("DeleteOnTermination")?;
        if sdc.is_none() && description.is_none() && groups.is_empty() && att.is_empty() {
            return Err(AwsError::missing_parameter(
                "SourceDestCheck, Description, SecurityGroupId or Attachment",
            ));
        }
        if !att.is_empty() {
            let aid = att.required("AttachmentId")?;
            let owner = self.eni_by_attachment(aid)?;
            if owner != id {
                return Err(AwsError::client(
                    "InvalidAttachmentID.NotFound",
                    format!("The attachment ID '{aid}' does not exist"),
                ));
            }
        }
        let e = self.eni_mut(&id)?;
        if let Some(v) = sdc {
            e.source_dest_check = v;
        }
        if let Some(d) = description {
            e.description = d;
        }
        if !groups.is_empty() {
            e.groups = groups.iter().map(|g| g.to_string()).collect();
        }
        if let (Some(v), Some(a)) = (dot, e.attachment.as_mut()) {
            a.delete_on_termination = v;
        }
        ok_return(x);
        Ok(())
    }

    pub(super) fn describe_network_interfaces(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let filters = describe::filters(p, FILTERS)?;
        let ids = p.list("NetworkInterfaceId");
        let now_ms = ctx.now_ms;
        describe::check_ids(
            &ids,
            |id| {
                self.network_interfaces
                    .get(id)
                    .is_some_and(|e| e.visible(now_ms))
            },
            eni_not_found,
        )?;
        let items: Vec<&NetworkInterface> = self
            .network_interfaces
            .values()
            .filter(|e| e.visible(now_ms))
            .filter(|e| ids.is_empty() || ids.contains(&e.id.as_str()))
            .filter(|e| describe::matches(&Seen { eni: e, now_ms }, &filters))
            .collect();
        let page = describe::paginate(items, p, 1000, !ids.is_empty(), |e| e.id.as_str())?;
        x.list("networkInterfaceSet", "item", &page.items, |x, e| {
            self.eni_xml(x, e, now_ms, false)
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}

pub(super) fn parse_ip(s: &str) -> Result<Ipv4Addr, AwsError> {
    s.trim().parse().map_err(|_| {
        AwsError::client(
            "InvalidParameterValue",
            format!("Invalid private IP address '{s}'"),
        )
    })
}
