//! Instances: `RunInstances` (each with its primary interface at device index 0),
//! `TerminateInstances` (interfaces with DeleteOnTermination go, others are detached),
//! `DescribeInstances`, `ModifyInstanceAttribute` (SourceDestCheck, which is the primary
//! interface's), and the state machine pending -> running -> shutting-down -> terminated,
//! timed by the world's [`super::Timing`].

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::addresses::AddressRequest;
use super::describe::{self, Filterable};
use super::network_interfaces::{Attachment, parse_ip};
use super::tags::{from_specs, tag_set};
use super::{Ctx, Ec2State, Tags, attribute_bool, ok_return};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    ShuttingDown,
    Terminated,
    Stopped,
}

impl InstanceState {
    pub fn code(self) -> u16 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopped => 80,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub reservation_id: String,
    pub instance_type: String,
    pub image_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub private_ip: Ipv4Addr,
    pub primary_eni: String,
    pub state: InstanceState,
    /// When the current state moves on by itself (pending -> running,
    /// shutting-down -> terminated).
    pub state_until_ms: u64,
    pub launch_time_ms: u64,
    pub tags: Tags,
}

/// What a new instance needs.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub id: Option<String>,
    pub instance_type: String,
    pub image_id: String,
    pub subnet_id: String,
    pub private_ip: Option<Ipv4Addr>,
    pub groups: Vec<String>,
    pub tags: Tags,
    pub eni_tags: Tags,
    pub reservation_id: Option<String>,
}

pub fn instance_not_found(id: &str) -> AwsError {
    AwsError::client(
        "InvalidInstanceID.NotFound",
        format!("The instance ID '{id}' does not exist"),
    )
}

struct Seen<'a> {
    inst: &'a Instance,
    state: &'a Ec2State,
}

impl Filterable for Seen<'_> {
    fn filter_values(&self, name: &str) -> Vec<String> {
        let i = self.inst;
        match name {
            "instance-id" => vec![i.id.clone()],
            "instance-type" => vec![i.instance_type.clone()],
            "instance-state-name" => vec![i.state.name().into()],
            "instance-state-code" => vec![i.state.code().to_string()],
            "subnet-id" => vec![i.subnet_id.clone()],
            "vpc-id" => vec![i.vpc_id.clone()],
            "availability-zone" => vec![i.availability_zone.clone()],
            "private-ip-address" => vec![i.private_ip.to_string()],
            "image-id" => vec![i.image_id.clone()],
            "reservation-id" => vec![i.reservation_id.clone()],
            "network-interface.network-interface-id" => self
                .state
                .instance_enis(&i.id)
                .map(|e| e.id.clone())
                .collect(),
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        &self.inst.tags
    }
}

impl Ec2State {
    pub(super) fn instance(&self, id: &str) -> Result<&Instance, AwsError> {
        self.instances.get(id).ok_or_else(|| instance_not_found(id))
    }

    /// Moves instances whose timed state has elapsed along (pending -> running,
    /// shutting-down -> terminated).
    pub fn advance(&mut self, now_ms: u64) {
        for i in self.instances.values_mut() {
            if now_ms >= i.state_until_ms {
                i.state = match i.state {
                    InstanceState::Pending => InstanceState::Running,
                    InstanceState::ShuttingDown => InstanceState::Terminated,
                    s => s,
                };
            }
        }
    }

    /// Starts one instance with its primary interface; nothing changes when it fails.
    pub fn launch(&mut self, l: Launch, ctx: &Ctx) -> Result<String, AwsError> {
        self.instance_type(&l.instance_type)?;
        let subnet = self.subnet(&l.subnet_id)?;
        let (vpc_id, az) = (subnet.vpc_id.clone(), subnet.availability_zone.clone());
        if let Some(id) = &l.id
            && self.instances.contains_key(id)
        {
            return Err(AwsError::invalid_parameter_value(format!(
                "The instance ID '{id}' already exists"
            )));
        }
        let mut groups = l.groups.clone();
        if groups.is_empty() {
            groups.extend(self.default_group(&vpc_id));
        }
        // The primary interface is visible at once: it is part of the instance.
        let eni_ctx = Ctx { hide_ms: 0, ..*ctx };
        let eni_id = self.insert_eni(
            &l.subnet_id,
            "Primary network interface".into(),
            groups,
            l.private_ip,
            &AddressRequest::default(),
            l.eni_tags.clone(),
            &eni_ctx,
        )?;
        let id = l.id.clone().unwrap_or_else(|| self.ids.id("i"));
        let reservation_id = l.reservation_id.clone().unwrap_or_else(|| self.ids.id("r"));
        let attachment_id = self.ids.id("eni-attach");
        let eni = self.eni_mut(&eni_id)?;
        eni.attachment = Some(Attachment {
            id: attachment_id,
            instance_id: id.clone(),
            device_index: 0,
            status: "attached".into(),
            attach_time_ms: ctx.now_ms,
            delete_on_termination: true,
        });
        let private_ip = eni.primary_ip().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let boot = self.timing.instance_boot_ms;
        self.instances.insert(
            id.clone(),
            Instance {
                id: id.clone(),
                reservation_id,
                instance_type: l.instance_type,
                image_id: l.image_id,
                subnet_id: l.subnet_id,
                vpc_id,
                availability_zone: az,
                private_ip,
                primary_eni: eni_id,
                state: if boot == 0 {
                    InstanceState::Running
                } else {
                    InstanceState::Pending
                },
                state_until_ms: ctx.now_ms + boot,
                launch_time_ms: ctx.now_ms,
                tags: l.tags,
            },
        );
        Ok(id)
    }

    fn instance_xml(&self, x: &mut Xml, i: &Instance, now_ms: u64, state: InstanceState) {
        let eni = self.network_interfaces.get(&i.primary_eni);
        let groups: Vec<String> = eni.map(|e| e.groups.clone()).unwrap_or_default();
        let ip = i.private_ip.octets();
        let dns = format!(
            "ip-{}-{}-{}-{}.{}.compute.internal",
            ip[0], ip[1], ip[2], ip[3], self.region
        );
        let live = state != InstanceState::Terminated;
        x.leaf("instanceId", &i.id)
            .leaf("imageId", &i.image_id)
            .elem("instanceState", |x| {
                x.leaf("code", state.code()).leaf("name", state.name());
            })
            .leaf("privateDnsName", if live { dns.as_str() } else { "" })
            .leaf("dnsName", "")
            .leaf("reason", "")
            .leaf("amiLaunchIndex", 0)
            .elem("productCodes", |_| {})
            .leaf("instanceType", &i.instance_type)
            .leaf("launchTime", self.timestamp(i.launch_time_ms))
            .elem("placement", |x| {
                x.leaf("availabilityZone", &i.availability_zone)
                    .leaf("groupName", "")
                    .leaf("tenancy", "default");
            })
            .elem("monitoring", |x| {
                x.leaf("state", "disabled");
            });
        if live {
            x.leaf("subnetId", &i.subnet_id)
                .leaf("vpcId", &i.vpc_id)
                .leaf("privateIpAddress", i.private_ip);
        }
        x.opt_leaf("sourceDestCheck", eni.map(|e| e.source_dest_check))
            .list("groupSet", "item", &groups, |x, g| {
                x.leaf("groupId", g).opt_leaf(
                    "groupName",
                    self.security_groups.get(g).map(|g| g.name.as_str()),
                );
            })
            .leaf("architecture", "x86_64")
            .leaf("rootDeviceType", "ebs")
            .leaf("rootDeviceName", "/dev/xvda")
            .elem("blockDeviceMapping", |_| {})
            .leaf("virtualizationType", "hvm")
            .leaf("hypervisor", "xen")
            .leaf("ebsOptimized", true)
            .leaf("enaSupport", true);
        tag_set(x, &i.tags);
        x.list(
            "networkInterfaceSet",
            "item",
            self.instance_enis(&i.id).filter(|e| e.visible(now_ms)),
            |x, e| self.eni_xml(x, e, now_ms, true),
        );
        x.elem("metadataOptions", |x| {
            x.leaf("state", "applied")
                .leaf("httpTokens", "required")
                .leaf("httpPutResponseHopLimit", 2)
                .leaf("httpEndpoint", "enabled");
        });
    }

    pub(super) fn run_instances(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let image_id = p.required("ImageId")?.to_string();
        let instance_type = p.get("InstanceType").unwrap_or("m5.large").to_string();
        self.instance_type(&instance_type)?;
        let min = p
            .get_i64("MinCount")?
            .ok_or_else(|| AwsError::missing_parameter("MinCount"))?;
        let max = p
            .get_i64("MaxCount")?
            .ok_or_else(|| AwsError::missing_parameter("MaxCount"))?;
        if min < 1 || max < min || max > 100 {
            return Err(AwsError::invalid_parameter_value(format!(
                "Invalid MinCount/MaxCount: {min}/{max}"
            )));
        }
        let subnet_id = match p.get("SubnetId") {
            Some(s) => s.to_string(),
            None => {
                return Err(AwsError::client(
                    "VPCIdNotSpecified",
                    "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
                ));
            }
        };
        let vpc_id = self.subnet(&subnet_id)?.vpc_id.clone();
        let groups: Vec<String> = p
            .list("SecurityGroupId")
            .into_iter()
            .map(str::to_string)
            .collect();
        let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        self.check_groups(&refs, &vpc_id)?;
        let private_ip = p.get("PrivateIpAddress").map(parse_ip).transpose()?;
        if private_ip.is_some() && max > 1 {
            return Err(AwsError::client(
                "InvalidParameterCombination",
                "A private IP address can only be given when launching a single instance",
            ));
        }
        let allowed = ["instance", "network-interface", "volume"];
        let tags = from_specs(p, &allowed, "instance")?;
        let eni_tags = from_specs(p, &allowed, "network-interface")?;
        let available = self.subnet(&subnet_id)?.available() as i64;
        if available < min {
            return Err(super::subnets::insufficient_addresses(&subnet_id));
        }
        let reservation_id = self.ids.id("r");
        let mut launched = Vec::new();
        for _ in 0..max.min(available) {
            let id = self.launch(
                Launch {
                    id: None,
                    instance_type: instance_type.clone(),
                    image_id: image_id.clone(),
                    subnet_id: subnet_id.clone(),
                    private_ip,
                    groups: groups.clone(),
                    tags: tags.clone(),
                    eni_tags: eni_tags.clone(),
                    reservation_id: Some(reservation_id.clone()),
                },
                ctx,
            )?;
            launched.push(id);
        }
        x.leaf("reservationId", &reservation_id)
            .leaf("ownerId", &self.account_id)
            .elem("groupSet", |_| {})
            .list("instancesSet", "item", &launched, |x, id| {
                if let Some(i) = self.instances.get(id) {
                    // RunInstances always answers `pending`, as AWS does.
                    self.instance_xml(x, i, ctx.now_ms, InstanceState::Pending);
                }
            });
        Ok(())
    }

    pub(super) fn terminate_instances(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let ids: Vec<String> = p
            .list("InstanceId")
            .into_iter()
            .map(str::to_string)
            .collect();
        if ids.is_empty() {
            return Err(AwsError::missing_parameter("InstanceId"));
        }
        describe::check_ids(
            &ids.iter().map(String::as_str).collect::<Vec<_>>(),
            |id| self.instances.contains_key(id),
            instance_not_found,
        )?;
        let shutdown = self.timing.instance_shutdown_ms;
        let mut changes = Vec::new();
        for id in &ids {
            let Some(inst) = self.instances.get_mut(id) else {
                continue;
            };
            let previous = inst.state;
            if matches!(
                previous,
                InstanceState::Terminated | InstanceState::ShuttingDown
            ) {
                changes.push((id.clone(), previous, previous));
                continue;
            }
            inst.state = if shutdown == 0 {
                InstanceState::Terminated
            } else {
                InstanceState::ShuttingDown
            };
            inst.state_until_ms = ctx.now_ms + shutdown;
            changes.push((id.clone(), InstanceState::ShuttingDown, previous));
            let enis: Vec<(String, bool)> = self
                .instance_enis(id)
                .map(|e| {
                    (
                        e.id.clone(),
                        e.attachment
                            .as_ref()
                            .is_some_and(|a| a.delete_on_termination),
                    )
                })
                .collect();
            for (eni, delete) in enis {
                if delete {
                    self.remove_eni(&eni);
                } else if let Some(e) = self.network_interfaces.get_mut(&eni) {
                    e.attachment = None;
                }
            }
        }
        x.list(
            "instancesSet",
            "item",
            &changes,
            |x, (id, current, previous)| {
                x.leaf("instanceId", id)
                    .elem("currentState", |x| {
                        x.leaf("code", current.code()).leaf("name", current.name());
                    })
                    .elem("previousState", |x| {
                        x.leaf("code", previous.code())
                            .leaf("name", previous.name());
                    });
            },
        );
        Ok(())
    }

    pub(super) fn describe_instances(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let filters = describe::filters(
            p,
            &[
                "instance-id",
                "instance-type",
                "instance-state-name",
                "instance-state-code",
                "subnet-id",
                "vpc-id",
                "availability-zone",
                "private-ip-address",
                "image-id",
                "reservation-id",
                "network-interface.network-interface-id",
            ],
        )?;
        let ids = p.list("InstanceId");
        describe::check_ids(
            &ids,
            |id| self.instances.contains_key(id),
            instance_not_found,
        )?;
        let items: Vec<&Instance> = self
            .instances
            .values()
            .filter(|i| ids.is_empty() || ids.contains(&i.id.as_str()))
            .filter(|i| {
                describe::matches(
                    &Seen {
                        inst: i,
                        state: self,
                    },
                    &filters,
                )
            })
            .collect();
        let page = describe::paginate(items, p, 1000, !ids.is_empty(), |i| i.id.as_str())?;
        // One reservation per instance keeps pages exact; RunInstances' shared reservation id
        // is still reported.
        x.list("reservationSet", "item", &page.items, |x, i| {
            x.leaf("reservationId", &i.reservation_id)
                .leaf("ownerId", &self.account_id)
                .elem("groupSet", |_| {})
                .list("instancesSet", "item", [i], |x, i| {
                    self.instance_xml(x, i, ctx.now_ms, i.state)
                });
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }

    pub(super) fn modify_instance_attribute(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let id = p.required("InstanceId")?.to_string();
        let inst = self.instance(&id)?;
        if inst.state == InstanceState::Terminated {
            return Err(AwsError::client(
                "IncorrectInstanceState",
                format!("The instance '{id}' is not in a valid state for this operation."),
            ));
        }
        let eni = inst.primary_eni.clone();
        let sdc = match attribute_bool(p, "SourceDestCheck")? {
            Some(v) => Some(v),
            None if p.get("Attribute") == Some("sourceDestCheck") => p.get_bool("Value")?,
            None => None,
        };
        let Some(v) = sdc else {
            return Err(AwsError::invalid_parameter_value(
                "Only the SourceDestCheck attribute can be modified in this cloud",
            ));
        };
        self.eni_mut(&eni)?.source_dest_check = v;
        ok_return(x);
        Ok(())
    }
}
