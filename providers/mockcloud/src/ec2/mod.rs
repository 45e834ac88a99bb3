//! EC2 as a state machine with AWS's own rules: instance types and their interface and
//! address limits, subnets that run out of addresses, /28 prefixes, route tables, security
//! groups, tags, and EC2's error codes.
//!
//! ```text
//! server ──(action, Params, Ctx)──▶ Ec2State::handle ──▶ vpcs / subnets / network_interfaces
//!                                                        addresses / instances / routes / ...
//!        ◀────────── Xml body or AwsError ──────────────┘
//! ```
//!
//! Time only moves through [`Ctx::now_ms`] (milliseconds since the cloud started), so
//! instance boot, eventual consistency and timestamps are deterministic in tests.

mod addresses;
pub mod describe;
pub mod instance_types;
mod instances;
mod network_interfaces;
mod network_view;
mod routes;
mod security_groups;
mod subnets;
mod tags;
mod vpcs;
pub mod world;
mod zones;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::awserror::AwsError;
use crate::ids::IdGen;
use crate::query::Params;
use crate::xml::Xml;

pub use instance_types::InstanceTypeInfo;
pub use instances::{Instance, InstanceState};
pub use network_interfaces::{Attachment, NetworkInterface};
pub use routes::{Route, RouteTable, RouteTarget};
pub use security_groups::{Permission, SecurityGroup};
pub use subnets::Subnet;
pub use tags::resource_type as tags_resource_type;
pub use vpcs::Vpc;
pub use world::{Timing, World};
pub use zones::Zone;

/// Tags of one resource, by key.
pub type Tags = BTreeMap<String, String>;

/// What a call needs to know besides its parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx {
    /// Milliseconds since the cloud started.
    pub now_ms: u64,
    /// Eventual consistency: what this call creates or assigns stays invisible to
    /// `Describe*` for this many milliseconds.
    pub hide_ms: u64,
}

impl Ctx {
    fn visible_at(&self) -> u64 {
        self.now_ms + self.hide_ms
    }
}

/// The whole EC2 state of the cloud.
#[derive(Debug, Clone, Serialize)]
pub struct Ec2State {
    pub region: String,
    pub account_id: String,
    pub zones: Vec<Zone>,
    pub timing: Timing,
    pub instance_types: BTreeMap<String, InstanceTypeInfo>,
    pub vpcs: BTreeMap<String, Vpc>,
    pub subnets: BTreeMap<String, Subnet>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    pub route_tables: BTreeMap<String, RouteTable>,
    pub instances: BTreeMap<String, Instance>,
    pub network_interfaces: BTreeMap<String, NetworkInterface>,
    #[serde(skip)]
    ids: IdGen,
    #[serde(skip)]
    wall_epoch: SystemTime,
}

impl Ec2State {
    /// Answers one EC2 action; the body is what goes inside `<{Action}Response>`.
    pub fn handle(&mut self, action: &str, p: &Params, ctx: &Ctx) -> Result<Xml, AwsError> {
        self.advance(ctx.now_ms);
        let mut x = Xml::new();
        match action {
            "DescribeAvailabilityZones" => self.describe_availability_zones(p, &mut x)?,
            "DescribeInstanceTypes" => self.describe_instance_types(p, &mut x)?,
            "CreateVpc" => self.create_vpc(p, &mut x)?,
            "DeleteVpc" => self.delete_vpc(p, &mut x)?,
            "DescribeVpcs" => self.describe_vpcs(p, &mut x)?,
            "CreateSubnet" => self.create_subnet(p, &mut x)?,
            "DeleteSubnet" => self.delete_subnet(p, &mut x)?,
            "DescribeSubnets" => self.describe_subnets(p, &mut x)?,
            "CreateSecurityGroup" => self.create_security_group(p, &mut x)?,
            "DeleteSecurityGroup" => self.delete_security_group(p, &mut x)?,
            "DescribeSecurityGroups" => self.describe_security_groups(p, &mut x)?,
            "AuthorizeSecurityGroupIngress" => self.change_ingress(p, true, &mut x)?,
            "RevokeSecurityGroupIngress" => self.change_ingress(p, false, &mut x)?,
            "CreateRouteTable" => self.create_route_table(p, &mut x)?,
            "DeleteRouteTable" => self.delete_route_table(p, &mut x)?,
            "DescribeRouteTables" => self.describe_route_tables(p, &mut x)?,
            "AssociateRouteTable" => self.associate_route_table(p, &mut x)?,
            "DisassociateRouteTable" => self.disassociate_route_table(p, &mut x)?,
            "CreateRoute" => self.create_route(p, false, &mut x)?,
            "ReplaceRoute" => self.create_route(p, true, &mut x)?,
            "DeleteRoute" => self.delete_route(p, &mut x)?,
            "CreateNetworkInterface" => self.create_network_interface(p, ctx, &mut x)?,
            "DeleteNetworkInterface" => self.delete_network_interface(p, &mut x)?,
            "DescribeNetworkInterfaces" => self.describe_network_interfaces(p, ctx, &mut x)?,
            "AttachNetworkInterface" => self.attach_network_interface(p, ctx, &mut x)?,
            "DetachNetworkInterface" => self.detach_network_interface(p, &mut x)?,
            "ModifyNetworkInterfaceAttribute" => self.modify_network_interface(p, &mut x)?,
            "AssignPrivateIpAddresses" => self.assign_private_ips(p, ctx, &mut x)?,
            "UnassignPrivateIpAddresses" => self.unassign_private_ips(p, &mut x)?,
            "RunInstances" => self.run_instances(p, ctx, &mut x)?,
            "TerminateInstances" => self.terminate_instances(p, ctx, &mut x)?,
            "DescribeInstances" => self.describe_instances(p, ctx, &mut x)?,
            "ModifyInstanceAttribute" => self.modify_instance_attribute(p, &mut x)?,
            "CreateTags" => self.create_tags(p, &mut x)?,
            "DeleteTags" => self.delete_tags(p, &mut x)?,
            "DescribeTags" => self.describe_tags(p, &mut x)?,
            other => return Err(AwsError::invalid_action(other)),
        }
        Ok(x)
    }

    /// The actions [`Ec2State::handle`] answers.
    pub const ACTIONS: &'static [&'static str] = &[
        "DescribeAvailabilityZones",
        "DescribeInstanceTypes",
        "CreateVpc",
        "DeleteVpc",
        "DescribeVpcs",
        "CreateSubnet",
        "DeleteSubnet",
        "DescribeSubnets",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
        "DescribeSecurityGroups",
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "CreateRouteTable",
        "DeleteRouteTable",
        "DescribeRouteTables",
        "AssociateRouteTable",
        "DisassociateRouteTable",
        "CreateRoute",
        "ReplaceRoute",
        "DeleteRoute",
        "CreateNetworkInterface",
        "DeleteNetworkInterface",
        "DescribeNetworkInterfaces",
        "AttachNetworkInterface",
        "DetachNetworkInterface",
        "ModifyNetworkInterfaceAttribute",
        "AssignPrivateIpAddresses",
        "UnassignPrivateIpAddresses",
        "RunInstances",
        "TerminateInstances",
        "DescribeInstances",
        "ModifyInstanceAttribute",
        "CreateTags",
        "DeleteTags",
        "DescribeTags",
    ];

    /// An ISO 8601 timestamp for a moment of the cloud's clock.
    fn timestamp(&self, ms: u64) -> String {
        let t = self.wall_epoch + Duration::from_millis(ms);
        let dt: chrono::DateTime<chrono::Utc> = t.into();
        dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    fn instance_type(&self, name: &str) -> Result<&InstanceTypeInfo, AwsError> {
        self.instance_types.get(name).ok_or_else(|| {
            AwsError::invalid_parameter_value(format!("The instance type '{name}' does not exist"))
        })
    }
}

/// `<return>true</return>`, the body of most mutating EC2 calls.
fn ok_return(x: &mut Xml) {
    x.leaf("return", true);
}

/// A required boolean in EC2's `Name.Value` shape (`SourceDestCheck.Value=false`).
fn attribute_bool(p: &Params, name: &str) -> Result<Option<bool>, AwsError> {
    match p.get_bool(&format!("{name}.Value"))? {
        Some(v) => Ok(Some(v)),
        None => p.get_bool(name),
    }
}
