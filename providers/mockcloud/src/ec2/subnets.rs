//! Subnets and their address accounting.
//!
//! AWS reserves five addresses in every subnet (the network address, the next three, and the
//! last), so a /28 offers 11. Every other address is free or held by exactly one network
//! interface, as a single IP or as part of a delegated /28 prefix; a prefix is only carved
//! from an aligned /28 whose sixteen addresses are all free (reserved ones count as taken).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::tags::{from_specs, tag_set};
use super::vpcs::parse_block;
use super::{Ec2State, Tags, ok_return};

#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    pub availability_zone_id: String,
    pub map_public_ip_on_launch: bool,
    pub tags: Tags,
    /// Every address in use, and the network interface holding it.
    pub used: BTreeMap<Ipv4Addr, String>,
    /// Where the next single-address search starts, so addresses spread over the subnet
    /// instead of always reusing the lowest.
    #[serde(skip)]
    cursor: u32,
}

pub fn insufficient_addresses(subnet_id: &str) -> AwsError {
    AwsError::client(
        "InsufficientFreeAddressesInSubnet",
        format!(
            "The specified subnet {subnet_id} does not have enough free addresses to satisfy the request."
        ),
    )
}

pub fn insufficient_cidr_blocks() -> AwsError {
    AwsError::client(
        "InsufficientCidrBlocks",
        "The specified subnet does not have enough free cidr blocks to satisfy the request.",
    )
}

impl Subnet {
    pub fn new(
        id: String,
        vpc_id: String,
        cidr: Ipv4Net,
        availability_zone: String,
        availability_zone_id: String,
        tags: Tags,
    ) -> Subnet {
        Subnet {
            id,
            vpc_id,
            cidr,
            availability_zone,
            availability_zone_id,
            map_public_ip_on_launch: false,
            tags,
            used: BTreeMap::new(),
            cursor: 0,
        }
    }

    fn first(&self) -> u32 {
        u32::from(self.cidr.network())
    }

    fn last(&self) -> u32 {
        u32::from(self.cidr.broadcast())
    }

    pub fn is_reserved(&self, a: u32) -> bool {
        a < self.first() + 4 || a == self.last()
    }

    /// Free addresses, as `availableIpAddressCount` reports them.
    pub fn available(&self) -> u64 {
        let size = u64::from(self.last() - self.first()) + 1;
        size.saturating_sub(5)
            .saturating_sub(self.used.len() as u64)
    }

    /// Takes one free address for `owner`.
    pub fn allocate_ip(&mut self, owner: &str) -> Result<Ipv4Addr, AwsError> {
        if self.available() == 0 {
            return Err(insufficient_addresses(&self.id));
        }
        let (lo, hi) = (self.first() + 4, self.last() - 1);
        let start = self.cursor.clamp(lo, hi);
        let candidates = (start..=hi).chain(lo..start);
        for a in candidates {
            let ip = Ipv4Addr::from(a);
            if let std::collections::btree_map::Entry::Vacant(slot) = self.used.entry(ip) {
                slot.insert(owner.to_string());
                self.cursor = if a >= hi { lo } else { a + 1 };
                return Ok(ip);
            }
        }
        Err(insufficient_addresses(&self.id))
    }

    /// Takes a given address for `owner`, or explains why it cannot be had.
    pub fn reserve_ip(&mut self, ip: Ipv4Addr, owner: &str) -> Result<(), AwsError> {
        let a = u32::from(ip);
        if !self.cidr.contains(&ip) {
            return Err(AwsError::invalid_parameter_value(format!(
                "Address {ip} does not fall within the subnet's address range"
            )));
        }
        if self.is_reserved(a) {
            return Err(AwsError::invalid_parameter_value(format!(
                "Address {ip} is reserved by AWS in subnet {}",
                self.id
            )));
        }
        if self.used.contains_key(&ip) {
            return Err(AwsError::client(
                "InvalidIPAddress.InUse",
                format!("Address {ip} is in use."),
            ));
        }
        self.used.insert(ip, owner.to_string());
        Ok(())
    }

    fn block_free(&self, start: u32) -> bool {
        let end = start + 15;
        !self.is_reserved(start)
            && !self.is_reserved(end)
            && self
                .used
                .range(Ipv4Addr::from(start)..=Ipv4Addr::from(end))
                .next()
                .is_none()
    }

    /// Carves the lowest wholly free, aligned /28 for `owner`.
    pub fn allocate_prefix(&mut self, owner: &str) -> Result<Ipv4Net, AwsError> {
        if self.cidr.prefix_len() > 28 {
            return Err(insufficient_cidr_blocks());
        }
        let mut start = self.first();
        while start + 15 <= self.last() {
            if self.block_free(start) {
                self.hold_block(start, owner);
                return Ipv4Net::new(Ipv4Addr::from(start), 28)
                    .map_err(|_| insufficient_cidr_blocks());
            }
            start += 16;
        }
        Err(insufficient_cidr_blocks())
    }

    /// Takes a given /28 for `owner`: aligned, inside the subnet, wholly free.
    pub fn reserve_prefix(&mut self, net: Ipv4Net, owner: &str) -> Result<(), AwsError> {
        if net.prefix_len() != 28 || net.trunc() != net {
            return Err(AwsError::invalid_parameter_value(format!(
                "The prefix {net} is not a valid /28 IPv4 prefix aligned on a /28 boundary"
            )));
        }
        if !self.cidr.contains(&net) {
            return Err(AwsError::invalid_parameter_value(format!(
                "The prefix {net} does not fall within the subnet {} ({})",
                self.id, self.cidr
            )));
        }
        let start = u32::from(net.network());
        if !self.block_free(start) {
            return Err(AwsError::client(
                "InvalidParameterValue",
                format!(
                    "The prefix {net} is already in use or overlaps reserved or assigned addresses"
                ),
            ));
        }
        self.hold_block(start, owner);
        Ok(())
    }

    fn hold_block(&mut self, start: u32, owner: &str) {
        for a in start..start + 16 {
            self.used.insert(Ipv4Addr::from(a), owner.to_string());
        }
    }

    pub fn release_ip(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
    }

    pub fn release_prefix(&mut self, net: Ipv4Net) {
        let start = u32::from(net.network());
        for a in start..start + 16 {
            self.used.remove(&Ipv4Addr::from(a));
        }
    }
}

impl Filterable for Subnet {
    fn filter_values(&self, name: &str) -> Vec<String> {
        match name {
            "subnet-id" => vec![self.id.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "cidr-block" | "cidr" | "cidrBlock" => vec![self.cidr.to_string()],
            "availability-zone" | "availabilityZone" => vec![self.availability_zone.clone()],
            "availability-zone-id" => vec![self.availability_zone_id.clone()],
            "available-ip-address-count" => vec![self.available().to_string()],
            "state" => vec!["available".into()],
            "default-for-az" => vec!["false".into()],
            "map-public-ip-on-launch" => vec![self.map_public_ip_on_launch.to_string()],
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub(super) fn subnet_xml(x: &mut Xml, s: &Subnet, owner: &str, region: &str) {
    x.leaf("subnetId", &s.id)
        .leaf(
            "subnetArn",
            format!("arn:aws:ec2:{region}:{owner}:subnet/{}", s.id),
        )
        .leaf("state", "available")
        .leaf("ownerId", owner)
        .leaf("vpcId", &s.vpc_id)
        .leaf("cidrBlock", s.cidr)
        .elem("ipv6CidrBlockAssociationSet", |_| {})
        .leaf("availableIpAddressCount", s.available())
        .leaf("availabilityZone", &s.availability_zone)
        .leaf("availabilityZoneId", &s.availability_zone_id)
        .leaf("defaultForAz", false)
        .leaf("mapPublicIpOnLaunch", s.map_public_ip_on_launch)
        .leaf("assignIpv6AddressOnCreation", false);
    tag_set(x, &s.tags);
}

impl Ec2State {
    pub(super) fn subnet(&self, id: &str) -> Result<&Subnet, AwsError> {
        self.subnets.get(id).ok_or_else(|| subnet_not_found(id))
    }

    pub(super) fn subnet_mut(&mut self, id: &str) -> Result<&mut Subnet, AwsError> {
        self.subnets.get_mut(id).ok_or_else(|| subnet_not_found(id))
    }

    /// Adds a subnet after checking it against its VPC and its neighbours.
    pub(super) fn insert_subnet(
        &mut self,
        id: Option<String>,
        vpc_id: &str,
        cidr: Ipv4Net,
        zone: &str,
        tags: Tags,
    ) -> Result<String, AwsError> {
        let vpc = self.vpc(vpc_id)?;
        if !vpc.cidr_blocks.iter().any(|b| b.contains(&cidr)) {
            return Err(AwsError::client(
                "InvalidSubnet.Range",
                format!("The CIDR '{cidr}' is invalid."),
            ));
        }
        if self
            .subnets
            .values()
            .any(|s| s.vpc_id == vpc_id && (s.cidr.contains(&cidr) || cidr.contains(&s.cidr)))
        {
            return Err(AwsError::client(
                "InvalidSubnet.Conflict",
                format!("The CIDR '{cidr}' conflicts with another subnet"),
            ));
        }
        let z = self
            .zones
            .iter()
            .find(|z| z.name == zone || z.zone_id == zone)
            .ok_or_else(|| {
                AwsError::invalid_parameter_value(format!(
                    "Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
                    self.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?
            .clone();
        let id = id.unwrap_or_else(|| self.ids.id("subnet"));
        self.subnets.insert(
            id.clone(),
            Subnet::new(
                id.clone(),
                vpc_id.to_string(),
                cidr,
                z.name,
                z.zone_id,
                tags,
            ),
        );
        Ok(id)
    }

    pub(super) fn create_subnet(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let vpc_id = p.required("VpcId")?.to_string();
        let cidr = parse_block(p.required("CidrBlock")?)?;
        let zone = match p.get("AvailabilityZone").or(p.get("AvailabilityZoneId")) {
            Some(z) => z.to_string(),
            None => self
                .zones
                .first()
                .map(|z| z.name.clone())
                .unwrap_or_default(),
        };
        let tags = from_specs(p, &["subnet"], "subnet")?;
        let id = self.insert_subnet(None, &vpc_id, cidr, &zone, tags)?;
        let s = self.subnet(&id)?;
        x.elem("subnet", |x| {
            subnet_xml(x, s, &self.account_id, &self.region)
        });
        Ok(())
    }

    pub(super) fn delete_subnet(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let id = p.required("SubnetId")?.to_string();
        self.subnet(&id)?;
        if self.network_interfaces.values().any(|e| e.subnet_id == id) {
            return Err(AwsError::client(
                "DependencyViolation",
                format!("The subnet '{id}' has dependencies and cannot be deleted."),
            ));
        }
        for rt in self.route_tables.values_mut() {
            rt.associations
                .retain(|a| a.subnet_id.as_deref() != Some(id.as_str()));
        }
        self.subnets.remove(&id);
        ok_return(x);
        Ok(())
    }

    pub(super) fn describe_subnets(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let filters = describe::filters(
            p,
            &[
                "subnet-id",
                "vpc-id",
                "cidr-block",
                "cidr",
                "cidrBlock",
                "availability-zone",
                "availabilityZone",
                "availability-zone-id",
                "available-ip-address-count",
                "state",
                "default-for-az",
                "map-public-ip-on-launch",
            ],
        )?;
        let ids = p.list("SubnetId");
        describe::check_ids(&ids, |id| self.subnets.contains_key(id), subnet_not_found)?;
        let items: Vec<&Subnet> = self
            .subnets
            .values()
            .filter(|s| ids.is_empty() || ids.contains(&s.id.as_str()))
            .filter(|s| describe::matches(*s, &filters))
            .collect();
        let page = describe::paginate(items, p, 1000, !ids.is_empty(), |s| s.id.as_str())?;
        let (owner, region) = (&self.account_id, &self.region);
        x.list("subnetSet", "item", &page.items, |x, s| {
            subnet_xml(x, s, owner, region)
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}

pub fn subnet_not_found(id: &str) -> AwsError {
    AwsError::client(
        "InvalidSubnetID.NotFound",
        format!("The subnet ID '{id}' does not exist"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(cidr: &str) -> Subnet {
        Subnet::new(
            "subnet-1".into(),
            "vpc-1".into(),
            cidr.parse().unwrap(),
            "us-west-2a".into(),
            "usw2-az1".into(),
            Tags::new(),
        )
    }

    #[test]
    fn a_slash_28_has_eleven_addresses_then_runs_out() {
        let mut s = subnet("10.0.0.0/28");
        assert_eq!(s.available(), 11);
        let got: Vec<Ipv4Addr> = (0..11).map(|_| s.allocate_ip("eni-1").unwrap()).collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 0, 0, 4));
        assert_eq!(got[10], Ipv4Addr::new(10, 0, 0, 14));
        assert_eq!(
            s.allocate_ip("eni-1").unwrap_err().code,
            "InsufficientFreeAddressesInSubnet"
        );
        assert!(s.reserve_ip(Ipv4Addr::new(10, 0, 0, 15), "x").is_err());
    }

    #[test]
    fn prefixes_are_aligned_and_skip_reserved_and_used_blocks() {
        let mut s = subnet("10.0.0.0/26");
        // The first /28 holds reserved addresses and the last holds the broadcast address.
        assert_eq!(s.allocate_prefix("e").unwrap().to_string(), "10.0.0.16/28");
        s.reserve_ip(Ipv4Addr::new(10, 0, 0, 33), "e").unwrap();
        assert_eq!(
            s.allocate_prefix("e").unwrap_err().code,
            "InsufficientCidrBlocks"
        );
        assert!(
            s.reserve_prefix("10.0.0.40/28".parse().unwrap(), "e")
                .is_err()
        );
        assert_eq!(s.available(), 64 - 5 - 17);
    }
}
