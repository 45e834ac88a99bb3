//! Secondary private IPv4 addresses and /28 prefixes on interfaces:
//! `AssignPrivateIpAddresses` / `UnassignPrivateIpAddresses`, and the address part of
//! `CreateNetworkInterface`.
//!
//! Rules kept: every IP (the primary too) and every prefix takes one of the interface's
//! `ipv4AddressesPerInterface` slots; a call asks for IPs or prefixes, never both
//! (`InvalidParameterCombination`); a call is all or nothing; an address held by another
//! interface moves only with `AllowReassignment`, and never when it is that interface's
//! primary.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::network_interfaces::{Prefix, PrivateIp, parse_ip};
use super::subnets::insufficient_addresses;
use super::{Ctx, Ec2State, ok_return};

/// What a call asks for: explicit addresses or a count of them, explicit /28 prefixes or a
/// count of them.
#[derive(Debug, Clone, Default)]
pub struct AddressRequest {
    pub ips: Vec<Ipv4Addr>,
    pub count: usize,
    pub prefixes: Vec<Ipv4Net>,
    pub prefix_count: usize,
}

fn count(p: &Params, key: &str) -> Result<usize, AwsError> {
    match p.get_i64(key)? {
        None => Ok(0),
        Some(n) if (1..=1000).contains(&n) => Ok(n as usize),
        Some(n) => Err(AwsError::invalid_parameter_value(format!(
            "Value ({n}) for parameter {key} is invalid. It must be a positive number."
        ))),
    }
}

/// `Ipv4Prefix.N` (AssignPrivateIpAddresses) or `Ipv4Prefix.N.Ipv4Prefix`
/// (CreateNetworkInterface).
/// The `PrivateIpAddress.N` list of an Assign/UnassignPrivateIpAddresses.
fn private_ips(p: &Params) -> Result<Vec<Ipv4Addr>, AwsError> {
    p.list("PrivateIpAddress")
        .into_iter()
        .map(parse_ip)
        .collect()
}

fn prefixes(p: &Params) -> Result<Vec<Ipv4Net>, AwsError> {
    let mut raw: Vec<String> = p
        .list("Ipv4Prefix")
        .into_iter()
        .map(str::to_string)
        .collect();
    raw.extend(
        p.structs("Ipv4Prefix")
            .iter()
            .filter_map(|s| s.get("Ipv4Prefix").map(str::to_string)),
    );
    raw.iter()
        .map(|s| {
            s.parse::<Ipv4Net>().map_err(|_| {
                AwsError::invalid_parameter_value(format!("Invalid IPv4 prefix '{s}'"))
            })
        })
        .collect()
}

impl AddressRequest {
    pub fn parse(p: &Params, ips: Vec<Ipv4Addr>, _shape: &str) -> Result<AddressRequest, AwsError> {
        let r = AddressRequest {
            ips,
            count: count(p, "SecondaryPrivateIpAddressCount")?,
            prefixes: prefixes(p)?,
            prefix_count: count(p, "Ipv4PrefixCount")?,
        };
        let wants_ips = r.count > 0 || !r.ips.is_empty();
        let wants_prefixes = r.prefix_count > 0 || !r.prefixes.is_empty();
        if wants_ips && wants_prefixes {
            return Err(AwsError::client(
                "InvalidParameterCombination",
                "You cannot specify both secondary private IPv4 addresses and IPv4 prefixes in the same request.",
            ));
        }
        if r.count > 0 && !r.ips.is_empty() {
            return Err(AwsError::client(
                "InvalidParameterCombination",
                "You may specify either private IP addresses or a secondary private IP address count, not both.",
            ));
        }
        if r.prefix_count > 0 && !r.prefixes.is_empty() {
            return Err(AwsError::client(
                "InvalidParameterCombination",
                "You may specify either IPv4 prefixes or an IPv4 prefix count, not both.",
            ));
        }
        Ok(r)
    }

    fn slots(&self) -> usize {
        self.ips.len() + self.count + self.prefixes.len() + self.prefix_count
    }

    fn is_empty(&self) -> bool {
        self.slots() == 0
    }
}

/// Addresses a call took from a subnet.
#[derive(Debug, Default)]
pub struct Taken {
    pub ips: Vec<Ipv4Addr>,
    pub prefixes: Vec<Ipv4Net>,
}

impl Ec2State {
    /// Takes what `r` asks for from a subnet for `owner`; on any error gives back everything
    /// it took, so the subnet is unchanged.
    pub(super) fn take_addresses(
        &mut self,
        subnet_id: &str,
        owner: &str,
        r: &AddressRequest,
    ) -> Result<Taken, AwsError> {
        let subnet = self.subnet_mut(subnet_id)?;
        let mut taken = Taken::default();
        let result = (|| {
            for &ip in &r.ips {
                subnet.reserve_ip(ip, owner)?;
                taken.ips.push(ip);
            }
            if subnet.available() < r.count as u64 {
                return Err(insufficient_addresses(&subnet.id));
            }
            for _ in 0..r.count {
                taken.ips.push(subnet.allocate_ip(owner)?);
            }
            for &net in &r.prefixes {
                subnet.reserve_prefix(net, owner)?;
                taken.prefixes.push(net);
            }
            for _ in 0..r.prefix_count {
                taken.prefixes.push(subnet.allocate_prefix(owner)?);
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(taken),
            Err(e) => {
                for ip in &taken.ips {
                    subnet.release_ip(*ip);
                }
                for net in &taken.prefixes {
                    subnet.release_prefix(*net);
                }
                Err(e)
            }
        }
    }

    pub(super) fn assign_private_ips(
        &mut self,
        p: &Params,
        ctx: &Ctx,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let eni_id = p.required("NetworkInterfaceId")?.to_string();
        let ips = private_ips(p)?;
        let request = AddressRequest::parse(p, ips, "Ipv4Prefix")?;
        if request.is_empty() {
            return Err(AwsError::missing_parameter(
                "PrivateIpAddress, SecondaryPrivateIpAddressCount, Ipv4Prefix or Ipv4PrefixCount",
            ));
        }
        let allow_reassignment = p.get_bool("AllowReassignment")?.unwrap_or(false);
        let eni = self.eni(&eni_id)?;
        let subnet_id = eni.subnet_id.clone();
        // Limits apply through the instance type of the instance the interface is on.
        if let Some(att) = &eni.attachment {
            let inst = self.instance(&att.instance_id)?;
            let itype = self.instance_type(&inst.instance_type)?;
            let wanted = eni.slots() + request.slots();
            if wanted > itype.ipv4_per_eni as usize {
                return Err(AwsError::client(
                    "PrivateIpAddressLimitExceeded",
                    format!(
                        "Number of private addresses will exceed limit: {wanted} > {} for {} on {eni_id}",
                        itype.ipv4_per_eni, itype.name
                    ),
                ));
            }
            if request.prefix_count + request.prefixes.len() > 0 && !itype.supports_prefixes() {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Instance type {} does not support IPv4 prefixes",
                    itype.name
                )));
            }
        }
        for ip in &request.ips {
            if eni.private_ips.iter().any(|q| q.address == *ip) {
                return Err(AwsError::client(
                    "InvalidParameterValue",
                    format!("Address {ip} is already assigned to {eni_id}"),
                ));
            }
        }
        if allow_reassignment {
            self.reclaim(&subnet_id, &request.ips)?;
        }
        let taken = self.take_addresses(&subnet_id, &eni_id, &request)?;
        let visible_at_ms = ctx.visible_at();
        let eni = self.eni_mut(&eni_id)?;
        eni.private_ips
            .extend(taken.ips.iter().map(|&address| PrivateIp {
                address,
                primary: false,
                visible_at_ms,
            }));
        eni.prefixes
            .extend(taken.prefixes.iter().map(|&prefix| Prefix {
                prefix,
                visible_at_ms,
            }));
        x.leaf("networkInterfaceId", &eni_id)
            .list(
                "assignedPrivateIpAddressesSet",
                "item",
                &taken.ips,
                |x, ip| {
                    x.leaf("privateIpAddress", ip);
                },
            )
            .list(
                "assignedIpv4PrefixSet",
                "item",
                &taken.prefixes,
                |x, net| {
                    x.leaf("ipv4Prefix", net);
                },
            );
        Ok(())
    }

    /// `AllowReassignment`: takes secondary addresses away from the interfaces holding them.
    fn reclaim(&mut self, subnet_id: &str, ips: &[Ipv4Addr]) -> Result<(), AwsError> {
        for ip in ips {
            let Some(holder) = self.subnet(subnet_id)?.used.get(ip).cloned() else {
                continue;
            };
            let Some(h) = self.network_interfaces.get(&holder) else {
                continue;
            };
            if h.primary_ip() == Some(*ip) || !h.private_ips.iter().any(|q| q.address == *ip) {
                return Err(AwsError::client(
                    "InvalidIPAddress.InUse",
                    format!("Address {ip} is in use as a primary address or part of a prefix"),
                ));
            }
        }
        for ip in ips {
            let Some(holder) = self.subnet(subnet_id)?.used.get(ip).cloned() else {
                continue;
            };
            if let Some(h) = self.network_interfaces.get_mut(&holder) {
                h.private_ips.retain(|q| q.address != *ip);
            }
            self.subnet_mut(subnet_id)?.release_ip(*ip);
        }
        Ok(())
    }

    pub(super) fn unassign_private_ips(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let eni_id = p.required("NetworkInterfaceId")?.to_string();
        let ips = private_ips(p)?;
        let nets = prefixes(p)?;
        if ips.is_empty() && nets.is_empty() {
            return Err(AwsError::missing_parameter(
                "PrivateIpAddress or Ipv4Prefix",
            ));
        }
        let eni = self.eni(&eni_id)?;
        for ip in &ips {
            match eni.private_ips.iter().find(|q| q.address == *ip) {
                None => {
                    return Err(AwsError::invalid_parameter_value(format!(
                        "Some of the specified addresses are not assigned to interface {eni_id}"
                    )));
                }
                Some(q) if q.primary => {
                    return Err(AwsError::invalid_parameter_value(format!(
                        "The primary address {ip} of {eni_id} cannot be unassigned"
                    )));
                }
                Some(_) => {}
            }
        }
        for net in &nets {
            if !eni.prefixes.iter().any(|q| q.prefix == *net) {
                return Err(AwsError::invalid_parameter_value(format!(
                    "Some of the specified prefixes are not assigned to interface {eni_id}"
                )));
            }
        }
        let subnet_id = eni.subnet_id.clone();
        let eni = self.eni_mut(&eni_id)?;
        eni.private_ips.retain(|q| !ips.contains(&q.address));
        eni.prefixes.retain(|q| !nets.contains(&q.prefix));
        let subnet = self.subnet_mut(&subnet_id)?;
        for ip in &ips {
            subnet.release_ip(*ip);
        }
        for net in &nets {
            subnet.release_prefix(*net);
        }
        ok_return(x);
        Ok(())
    }
}
