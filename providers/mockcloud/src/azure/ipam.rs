//! Private addresses in a VNet: unique across the VNet, inside their subnet, never one of the
//! five Azure reserves in every subnet (the network address, `.1` the gateway, `.2`/`.3` DNS,
//! and the last address). Static ones are checked (`PrivateIPAddressNotInSubnet`,
//! `PrivateIPAddressInReservedRange`, `PrivateIPAddressIsAllocated`); dynamic ones keep the
//! address they had, or take the lowest free one (`SubnetIsFull` when none is).
//! NIC ipConfigurations and load-balancer frontends draw from the same pool.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::{AzError, AzResult, AzureState, props, ref_id};

/// Parses an address prefix (`10.0.0.0/16`); 400 `InvalidAddressPrefixFormat` otherwise.
pub fn parse_prefix(text: &str, whose: &str) -> AzResult<Ipv4Net> {
    text.parse::<Ipv4Net>().map_err(|_| {
        AzError::bad(
            "InvalidAddressPrefixFormat",
            format!("Address prefix {text} of resource {whose} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."),
        )
    })
}

/// A subnet's prefix (`addressPrefix`, or the first of `addressPrefixes`).
pub fn subnet_prefix(subnet: &Value) -> Option<Ipv4Net> {
    let p = &subnet["properties"];
    p["addressPrefix"]
        .as_str()
        .or_else(|| p["addressPrefixes"].get(0).and_then(Value::as_str))
        .and_then(|t| t.parse().ok())
}

/// The lowercased id of the VNet a subnet id is in.
pub fn vnet_key(subnet_id: &str) -> String {
    let lower = subnet_id.to_lowercase();
    match lower.find("/subnets/") {
        Some(i) => lower[..i].to_string(),
        None => lower,
    }
}

/// Whether Azure keeps `ip` for itself in `net`.
pub fn reserved(net: Ipv4Net, ip: Ipv4Addr) -> bool {
    let first = u32::from(net.network());
    let last = u32::from(net.broadcast());
    let n = u32::from(ip);
    n <= first + 3 || n == last
}

/// Addresses in use in a VNet -> the ipConfiguration or frontend holding each, leaving out
/// those of `except` (the resource being replaced, lowercased id).
pub fn used_in_vnet(s: &AzureState, vnet: &str, except: &str) -> BTreeMap<Ipv4Addr, String> {
    let mut used = BTreeMap::new();
    for (key, v) in &s.resources {
        if key == except {
            continue;
        }
        for cfgs in [
            super::child_array(v, "ipConfigurations"),
            super::child_array(v, "frontendIPConfigurations"),
        ] {
            for c in cfgs.into_iter().flatten() {
                let Some(subnet) = ref_id(&c["properties"], "subnet") else {
                    continue;
                };
                if vnet_key(subnet) != vnet {
                    continue;
                }
                if let Some(ip) = c["properties"]["privateIPAddress"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                {
                    used.insert(ip, c["id"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    used
}

/// The configuration named `name` (case-insensitively) among `olds`.
pub fn named<'a>(olds: Option<&'a Vec<Value>>, name: &str) -> Option<&'a Value> {
    olds?.iter().find(|o| {
        o["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// Gives frontend `f` of resource `id` (`key` lowercased) its private address in `subnet`,
/// which must exist; the frontend of the same name in `olds` (before this write) keeps its.
pub fn assign_frontend(
    s: &AzureState,
    id: &str,
    key: &str,
    f: &mut Value,
    subnet: &str,
    olds: Option<&Vec<Value>>,
) -> AzResult<()> {
    if s.lookup(subnet).is_none() {
        let fid = f["id"].as_str().unwrap_or_default();
        return Err(AzError::invalid_reference(subnet, fid));
    }
    let mut used = used_in_vnet(s, &vnet_key(subnet), key);
    let name = f["name"].as_str().unwrap_or_default().to_string();
    assign(s, id, f, named(olds, &name), &mut used)
}

/// Gives `cfg` (an ipConfiguration or a frontend with a `subnet`) its private address,
/// recording it in `used`. `old` is the same configuration before this write, if any.
pub fn assign(
    s: &AzureState,
    owner: &str,
    cfg: &mut Value,
    old: Option<&Value>,
    used: &mut BTreeMap<Ipv4Addr, String>,
) -> AzResult<()> {
    let cid = cfg["id"].as_str().unwrap_or(owner).to_string();
    let Some(subnet_id) = ref_id(&cfg["properties"], "subnet").map(str::to_string) else {
        return Ok(());
    };
    let subnet = s
        .lookup(&subnet_id)
        .ok_or_else(|| AzError::invalid_reference(&subnet_id, owner))?;
    let net = subnet_prefix(subnet).ok_or_else(|| AzError::invalid_reference(&subnet_id, owner))?;
    let subnet_name = subnet["name"].as_str().unwrap_or_default().to_string();
    let p = props(cfg);
    let method = p
        .get("privateIPAllocationMethod")
        .and_then(Value::as_str)
        .unwrap_or("Dynamic")
        .to_string();
    let ip = if method.eq_ignore_ascii_case("Static") {
        let text = p
            .get("privateIPAddress")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ip: Ipv4Addr = text.parse().map_err(|_| {
            AzError::bad(
                "InvalidPrivateIPAddressFormat",
                format!("Private static IP address '{text}' of {cid} is not a valid IPv4 address."),
            )
        })?;
        if !net.contains(&ip) {
            return Err(AzError::bad(
                "PrivateIPAddressNotInSubnet",
                format!(
                    "IP configuration {cid} is referencing a private IP address {ip} which does not belong to the subnet {subnet_id} address prefix {net}."
                ),
            ));
        }
        if reserved(net, ip) {
            return Err(AzError::bad(
                "PrivateIPAddressInReservedRange",
                format!(
                    "Private static IP address {ip} falls within reserved IP range of subnet prefix {net}."
                ),
            ));
        }
        if let Some(holder) = used.get(&ip) {
            return Err(AzError::bad(
                "PrivateIPAddressIsAllocated",
                format!(
                    "IP configuration {cid} is using the private IP address {ip} which is already allocated to resource {holder}."
                ),
            ));
        }
        ip
    } else {
        let kept = old
            .filter(|o| {
                ref_id(&o["properties"], "subnet").is_some_and(|o| super::same_id(o, &subnet_id))
            })
            .and_then(|o| o["properties"]["privateIPAddress"].as_str())
            .and_then(|t| t.parse::<Ipv4Addr>().ok())
            .filter(|ip| !used.contains_key(ip) && net.contains(ip));
        match kept {
            Some(ip) => ip,
            None => net
                .hosts()
                .find(|ip| !reserved(net, *ip) && !used.contains_key(ip))
                .ok_or_else(|| {
                    AzError::bad(
                        "SubnetIsFull",
                        format!("Subnet {subnet_name} with address prefix {net} does not have enough capacity for 1 IP addresses."),
                    )
                })?,
        }
    };
    let p = props(cfg);
    p.insert("privateIPAddress".into(), json!(ip.to_string()));
    p.insert(
        "privateIPAllocationMethod".into(),
        json!(if method.eq_ignore_ascii_case("Static") {
            "Static"
        } else {
            "Dynamic"
        }),
    );
    p.insert("privateIPAddressVersion".into(), json!("IPv4"));
    used.insert(ip, cid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_addresses_are_reserved() {
        let net: Ipv4Net = "10.0.0.0/29".parse().unwrap_or_else(|_| unreachable!());
        let free: Vec<String> = net
            .hosts()
            .chain([net.broadcast()])
            .filter(|ip| !reserved(net, *ip))
            .map(|ip| ip.to_string())
            .collect();
        assert_eq!(free, ["10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    }
}
