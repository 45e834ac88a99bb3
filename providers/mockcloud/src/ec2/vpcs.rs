//! VPCs: `CreateVpc` (with its main route table and `default` security group), `DeleteVpc`
//! (only once nothing depends on it) and `DescribeVpcs`.

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::tags::{from_specs, tag_set};
use super::{Ec2State, Tags, ok_return};

#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    pub id: String,
    pub cidr_blocks: Vec<Ipv4Net>,
    pub tags: Tags,
}

impl Filterable for Vpc {
    fn filter_values(&self, name: &str) -> Vec<String> {
        match name {
            "vpc-id" => vec![self.id.clone()],
            "cidr" | "cidr-block-association.cidr-block" => {
                self.cidr_blocks.iter().map(|c| c.to_string()).collect()
            }
            "state" => vec!["available".into()],
            "is-default" => vec!["false".into()],
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// A CIDR block for a VPC or subnet: a valid IPv4 network between /16 and /28, given in its
/// canonical form.
pub(super) fn parse_block(s: &str) -> Result<Ipv4Net, AwsError> {
    let net: Ipv4Net = s.parse().map_err(|_| {
        AwsError::invalid_parameter_value(format!(
            "Value ({s}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
        ))
    })?;
    if !(16..=28).contains(&net.prefix_len()) {
        return Err(AwsError::invalid_parameter_value(format!(
            "The CIDR '{s}' is invalid: the netmask must be between /16 and /28"
        )));
    }
    if net.trunc() != net {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({s}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
        )));
    }
    Ok(net)
}

pub(super) fn vpc_xml(x: &mut Xml, v: &Vpc, owner: &str) {
    x.leaf("vpcId", &v.id)
        .leaf("ownerId", owner)
        .leaf("state", "available")
        .opt_leaf("cidrBlock", v.cidr_blocks.first())
        .list(
            "cidrBlockAssociationSet",
            "item",
            v.cidr_blocks.iter().enumerate(),
            |x, (i, c)| {
                x.leaf("associationId", format!("{}-cidr-assoc-{i}", v.id))
                    .leaf("cidrBlock", c)
                    .elem("cidrBlockState", |x| {
                        x.leaf("state", "associated");
                    });
            },
        )
        .leaf("dhcpOptionsId", "default")
        .leaf("instanceTenancy", "default")
        .leaf("isDefault", false);
    tag_set(x, &v.tags);
}

impl Ec2State {
    pub(super) fn vpc(&self, id: &str) -> Result<&Vpc, AwsError> {
        self.vpcs.get(id).ok_or_else(|| {
            AwsError::client(
                "InvalidVpcID.NotFound",
                format!("The vpc ID '{id}' does not exist"),
            )
        })
    }

    /// Adds a VPC with its main route table and default security group.
    pub(super) fn insert_vpc(
        &mut self,
        id: Option<String>,
        cidr_blocks: Vec<Ipv4Net>,
        tags: Tags,
    ) -> String {
        let id = id.unwrap_or_else(|| self.ids.id("vpc"));
        self.vpcs.insert(
            id.clone(),
            Vpc {
                id: id.clone(),
                cidr_blocks,
                tags,
            },
        );
        self.insert_route_table(&id, true, Tags::new());
        self.insert_security_group(
            None,
            &id,
            "default",
            "default VPC security group",
            Tags::new(),
        );
        id
    }

    pub(super) fn create_vpc(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let cidr = parse_block(p.required("CidrBlock")?)?;
        let tags = from_specs(p, &["vpc"], "vpc")?;
        let id = self.insert_vpc(None, vec![cidr], tags);
        let owner = self.account_id.clone();
        let vpc = self.vpc(&id)?;
        x.elem("vpc", |x| vpc_xml(x, vpc, &owner));
        Ok(())
    }

    pub(super) fn delete_vpc(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let id = p.required("VpcId")?.to_string();
        self.vpc(&id)?;
        let depends = self.subnets.values().any(|s| s.vpc_id == id)
            || self
                .security_groups
                .values()
                .any(|g| g.vpc_id == id && g.name != "default")
            || self
                .route_tables
                .values()
                .any(|r| r.vpc_id == id && !r.is_main())
            || self.network_interfaces.values().any(|e| e.vpc_id == id);
        if depends {
            return Err(AwsError::client(
                "DependencyViolation",
                format!("The vpc '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.security_groups.retain(|_, g| g.vpc_id != id);
        self.route_tables.retain(|_, r| r.vpc_id != id);
        self.vpcs.remove(&id);
        ok_return(x);
        Ok(())
    }

    pub(super) fn describe_vpcs(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let filters = describe::filters(
            p,
            &[
                "vpc-id",
                "cidr",
                "cidr-block-association.cidr-block",
                "state",
                "is-default",
            ],
        )?;
        let ids = p.list("VpcId");
        describe::check_ids(
            &ids,
            |id| self.vpcs.contains_key(id),
            |id| {
                AwsError::client(
                    "InvalidVpcID.NotFound",
                    format!("The vpc ID '{id}' does not exist"),
                )
            },
        )?;
        let items: Vec<&Vpc> = self
            .vpcs
            .values()
            .filter(|v| ids.is_empty() || ids.contains(&v.id.as_str()))
            .filter(|v| describe::matches(*v, &filters))
            .collect();
        let page = describe::paginate(items, p, 1000, !ids.is_empty(), |v| v.id.as_str())?;
        let owner = &self.account_id;
        x.list("vpcSet", "item", &page.items, |x, v| vpc_xml(x, v, owner));
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}
