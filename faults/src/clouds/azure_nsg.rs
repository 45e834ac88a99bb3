//! Azure's network security groups in the state dump: the cluster's NSG (AKS's, on the node
//! subnet; not the cluster's resource), the Service rules the Azure backend keeps on it, and
//! whether it lets a load balancer's clients through to its backends.
//!
//! Reachability is what Azure does with a Standard Load Balancer's flows (ARM reports no
//! health for them; it is a metric): the load-balancing rules have floating IP off, so the
//! NSG of the backends' subnet sees each client flow to a backend address on the backend
//! port, and its Inbound rules decide in priority order, then Azure's default rules
//! (`AllowVnetInBound` 65000, `AllowAzureLoadBalancerInBound` 65001, `DenyAllInBound` 65500).
//! The health probes come from `AzureLoadBalancer` and pass whatever the user's rules say,
//! so a revoked allow rule is downtime with backends that look healthy. A public frontend's
//! clients are the Internet, a private one's the VNet. A subnet without an NSG lets no
//! client of a Standard Load Balancer in (Azure: "secure by default"). NSGs on NICs are not
//! read (the worlds put none there).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Value, json};

use super::azure::{lookup, node_subnet, resources_of};

/// Where a load balancer's clients come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    Internet,
    VirtualNetwork,
}

/// The NSG on the node subnet (the cluster's, AKS's `aks-agentpool-<id>-nsg`).
pub fn node_security_group(dump: &Value) -> Option<Value> {
    let subnet = node_subnet(dump)?;
    lookup(
        dump,
        subnet["properties"]["networkSecurityGroup"]["id"].as_str()?,
    )
    .cloned()
}

/// Whether `name` has the shape of a Service rule of the Azure backend:
/// `k8s-<...>-<12 hex>-TCP` or `-UDP` (the load balancer's name and the protocol).
pub fn is_service_rule_name(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix("-TCP")
        .or_else(|| name.strip_suffix("-UDP"))
    else {
        return false;
    };
    let hash = stem.rsplit('-').next().unwrap_or_default();
    stem.starts_with("k8s-") && hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the rule `name` is one of the load balancer `lb_name`'s.
fn is_rule_of(lb_name: &str, name: &str) -> bool {
    ["TCP", "UDP"]
        .iter()
        .any(|p| name.eq_ignore_ascii_case(&format!("{lb_name}-{p}")))
}

fn rules(nsg: &Value) -> impl Iterator<Item = &Value> {
    nsg["properties"]["securityRules"]
        .as_array()
        .into_iter()
        .flatten()
}

/// The rules of `nsg` that are the load balancer `lb_name`'s, as the dump shows them.
pub fn service_rules(nsg: &Value, lb_name: &str) -> Vec<Value> {
    rules(nsg)
        .filter(|r| r["name"].as_str().is_some_and(|n| is_rule_of(lb_name, n)))
        .cloned()
        .collect()
}

/// The names of the cluster's load balancers in the dump.
fn cluster_load_balancers(dump: &Value) -> Vec<String> {
    resources_of(dump, "Microsoft.Network/loadBalancers")
        .filter(|lb| super::azure::owned(lb))
        .filter_map(|lb| lb["name"].as_str().map(str::to_string))
        .collect()
}

/// Drops from every NSG of `dump` the rules of the cluster's load balancers: the cluster's
/// own change to a resource that is not its own (the ownership invariant compares the rest).
pub fn strip_service_rules(dump: &Value, resources: &mut [(&String, Value)]) {
    let lbs = cluster_load_balancers(dump);
    for (_, r) in resources.iter_mut() {
        if r["type"] != "Microsoft.Network/networkSecurityGroups" {
            continue;
        }
        if let Some(list) = r
            .get_mut("properties")
            .and_then(|p| p.get_mut("securityRules"))
            .and_then(Value::as_array_mut)
        {
            list.retain(|rule| {
                !rule["name"]
                    .as_str()
                    .is_some_and(|n| lbs.iter().any(|lb| is_rule_of(lb, n)))
            });
        }
    }
}

/// Service rules left on any NSG (after teardown: none may be).
pub fn leftover_rules(dump: &Value) -> Vec<String> {
    resources_of(dump, "Microsoft.Network/networkSecurityGroups")
        .flat_map(|nsg| {
            let id = nsg["id"].as_str().unwrap_or_default().to_string();
            rules(nsg)
                .filter_map(|r| r["name"].as_str())
                .filter(|n| is_service_rule_name(n))
                .map(move |n| format!("azure {id}/securityRules/{n}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One value or several, as one sorted list.
fn list(p: &Value, one: &str, many: &str) -> Vec<String> {
    let mut all: Vec<String> = p[one]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .chain(
            p[many]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string)),
        )
        .collect();
    all.sort();
    all
}

/// What a rule lets through: its name, protocol, access, direction, addresses and ports
/// (its priority, ID, ETag and state aside).
fn content(r: &Value) -> Value {
    let p = &r["properties"];
    json!({
        "name": r["name"].as_str().map(str::to_lowercase),
        "protocol": p["protocol"],
        "access": p["access"],
        "direction": p["direction"],
        "sources": list(p, "sourceAddressPrefix", "sourceAddressPrefixes"),
        "destinations": list(p, "destinationAddressPrefix", "destinationAddressPrefixes"),
        "ports": list(p, "destinationPortRange", "destinationPortRanges"),
    })
}

/// Whether the NSG `nsg` (its resource ID) holds every rule of `want` (by name, with the
/// same content; priorities aside: a rule made again may take another free one).
pub fn rules_hold(dump: &Value, nsg: &str, want: &Value) -> bool {
    let Some(have) = lookup(dump, nsg) else {
        return false;
    };
    let have: Vec<Value> = rules(have).map(content).collect();
    want.as_array()
        .into_iter()
        .flatten()
        .all(|w| have.contains(&content(w)))
}

/// The VNets' address prefixes.
fn vnet_prefixes(dump: &Value) -> Vec<Ipv4Net> {
    resources_of(dump, "Microsoft.Network/virtualNetworks")
        .flat_map(|v| {
            v["properties"]["addressSpace"]["addressPrefixes"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|p| p.as_str()?.parse().ok())
        .collect()
}

/// Whether an address prefix of a rule covers the clients.
fn source_matches(prefix: &str, clients: Clients, vnet: &[Ipv4Net]) -> bool {
    match prefix.to_ascii_lowercase().as_str() {
        "*" | "any" | "0.0.0.0/0" => true,
        "internet" => clients == Clients::Internet,
        "virtualnetwork" => clients == Clients::VirtualNetwork,
        _ => prefix.parse::<Ipv4Net>().is_ok_and(|net| {
            let inside = vnet.iter().any(|v| v.contains(&net) || net.contains(v));
            // Some client of the kind is in the range.
            (clients == Clients::VirtualNetwork) == inside
        }),
    }
}

/// Whether an address prefix of a rule covers the backend `member`.
fn destination_matches(prefix: &str, member: Ipv4Addr, vnet: &[Ipv4Net]) -> bool {
    match prefix.to_ascii_lowercase().as_str() {
        "*" | "any" => true,
        "virtualnetwork" => vnet.iter().any(|v| v.contains(&member)),
        _ => prefix
            .parse::<Ipv4Net>()
            .map(|n| n.contains(&member))
            .or_else(|_| prefix.parse::<Ipv4Addr>().map(|a| a == member))
            .unwrap_or(false),
    }
}

fn port_matches(range: &str, port: u64) -> bool {
    if range == "*" {
        return true;
    }
    match range.split_once('-') {
        Some((a, b)) => {
            a.parse::<u64>().is_ok_and(|a| a <= port) && b.parse::<u64>().is_ok_and(|b| port <= b)
        }
        None => range.parse::<u64>().is_ok_and(|p| p == port),
    }
}

/// Whether `nsg` (`None`: the subnet has none) lets `clients` reach `port` over `protocol`
/// (`Tcp`, `Udp`, `All`) on the backend `member`: the first Inbound rule that matches, by
/// priority, decides; then Azure's default rules.
pub fn admits(
    nsg: Option<&Value>,
    clients: Clients,
    protocol: &str,
    port: u64,
    member: Ipv4Addr,
    vnet: &[Ipv4Net],
) -> bool {
    let Some(nsg) = nsg else {
        return false;
    };
    let mut inbound: Vec<&Value> = rules(nsg)
        .filter(|r| r["properties"]["direction"] == "Inbound")
        .collect();
    inbound.sort_by_key(|r| r["properties"]["priority"].as_u64().unwrap_or(u64::MAX));
    for r in inbound {
        let p = &r["properties"];
        let proto = p["protocol"].as_str().unwrap_or_default();
        let proto_ok = proto == "*"
            || protocol.eq_ignore_ascii_case("All")
            || proto.eq_ignore_ascii_case(protocol);
        if proto_ok
            && list(p, "sourceAddressPrefix", "sourceAddressPrefixes")
                .iter()
                .any(|s| source_matches(s, clients, vnet))
            && list(p, "destinationAddressPrefix", "destinationAddressPrefixes")
                .iter()
                .any(|d| destination_matches(d, member, vnet))
            && list(p, "destinationPortRange", "destinationPortRanges")
                .iter()
                .any(|r| port_matches(r, port))
        {
            return p["access"] == "Allow";
        }
    }
    // AllowVnetInBound, then DenyAllInBound (AllowAzureLoadBalancerInBound is the probes').
    clients == Clients::VirtualNetwork
}

/// Whether the load balancer `lb` lets its clients reach a member of its pool `pool` (a
/// lowercased pool ID) through one of the rules that use the pool.
pub fn pool_reachable(dump: &Value, lb: &Value, pool: &str, members: &BTreeSet<String>) -> bool {
    let p = &lb["properties"];
    let public = p["frontendIPConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["properties"]["publicIPAddress"]["id"].is_string());
    let clients = if public {
        Clients::Internet
    } else {
        Clients::VirtualNetwork
    };
    let nsg = node_security_group(dump);
    let vnet = vnet_prefixes(dump);
    let members: Vec<Ipv4Addr> = members.iter().filter_map(|m| m.parse().ok()).collect();
    p["loadBalancingRules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["properties"]["backendAddressPool"]["id"]
                .as_str()
                .is_some_and(|id| id.to_lowercase() == pool)
        })
        .any(|r| {
            let rp = &r["properties"];
            let protocol = rp["protocol"].as_str().unwrap_or("Tcp");
            let port = rp["backendPort"].as_u64().unwrap_or(0);
            members
                .iter()
                .any(|m| admits(nsg.as_ref(), clients, protocol, port, *m, &vnet))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, priority: u64, access: &str, source: &str, port: &str) -> Value {
        json!({"name": name, "properties": {"protocol": "Tcp", "access": access,
            "direction": "Inbound", "priority": priority, "sourceAddressPrefix": source,
            "sourcePortRange": "*", "destinationAddressPrefix": "VirtualNetwork",
            "destinationPortRange": port}})
    }

    #[test]
    fn the_first_matching_rule_decides_then_azures_defaults() {
        let vnet: Vec<Ipv4Net> = vec!["10.224.0.0/12".parse().unwrap()];
        let pod: Ipv4Addr = "10.224.0.9".parse().unwrap();
        let nsg = |rules: Vec<Value>| json!({"properties": {"securityRules": rules}});
        let empty = nsg(vec![]);
        // Closed to the Internet by default, open to the VNet; no NSG: closed.
        assert!(!admits(
            Some(&empty),
            Clients::Internet,
            "Tcp",
            8080,
            pod,
            &vnet
        ));
        assert!(admits(
            Some(&empty),
            Clients::VirtualNetwork,
            "Tcp",
            8080,
            pod,
            &vnet
        ));
        assert!(!admits(None, Clients::Internet, "Tcp", 8080, pod, &vnet));
        let allow = rule(
            "k8s-shop-web-0123456789ab-TCP",
            501,
            "Allow",
            "Internet",
            "8080",
        );
        assert!(admits(
            Some(&nsg(vec![allow.clone()])),
            Clients::Internet,
            "Tcp",
            8080,
            pod,
            &vnet
        ));
        assert!(!admits(
            Some(&nsg(vec![allow.clone()])),
            Clients::Internet,
            "Tcp",
            80,
            pod,
            &vnet
        ));
        assert!(!admits(
            Some(&nsg(vec![allow.clone()])),
            Clients::Internet,
            "Udp",
            8080,
            pod,
            &vnet
        ));
        // A deny before it wins; after it, not.
        let deny = |p| rule("deny-all", p, "Deny", "*", "*");
        assert!(!admits(
            Some(&nsg(vec![allow.clone(), deny(400)])),
            Clients::Internet,
            "Tcp",
            8080,
            pod,
            &vnet
        ));
        assert!(admits(
            Some(&nsg(vec![deny(600), allow.clone()])),
            Clients::Internet,
            "Tcp",
            8080,
            pod,
            &vnet
        ));
        // A range and a CIDR source outside the VNet.
        let ranged = rule("r", 100, "Allow", "203.0.113.0/24", "8000-8100");
        assert!(admits(
            Some(&nsg(vec![ranged])),
            Clients::Internet,
            "Tcp",
            8080,
            pod,
            &vnet
        ));
    }

    #[test]
    fn service_rules_are_told_by_name_and_compared_without_priorities() {
        assert!(is_service_rule_name("k8s-shop-web-0123456789ab-TCP"));
        assert!(is_service_rule_name("k8s-shop-web-0123456789ab-UDP"));
        assert!(!is_service_rule_name("k8s-shop-web-0123456789ab"));
        assert!(!is_service_rule_name("allow-ssh-TCP"));
        let mine = rule(
            "k8s-shop-web-0123456789ab-TCP",
            501,
            "Allow",
            "Internet",
            "8080",
        );
        let nsg = json!({"properties": {"securityRules": [
            rule("ssh", 500, "Allow", "*", "22"), mine.clone()]}});
        assert_eq!(
            service_rules(&nsg, "k8s-shop-web-0123456789ab"),
            std::slice::from_ref(&mine)
        );
        let mut moved = mine.clone();
        moved["properties"]["priority"] = json!(777);
        let dump = |r: Value| json!({"azure": {"resources": {"/n": {"properties": {"securityRules": [r]}}}}});
        assert!(rules_hold(&dump(moved), "/n", &json!([mine.clone()])));
        let mut edited = mine.clone();
        edited["properties"]["destinationPortRange"] = json!("9999");
        assert!(!rules_hold(&dump(edited), "/n", &json!([mine])));
    }
}
