//! Virtual networks and their subnets, route tables, network security groups and public IP
//! addresses, with the Network provider's checks: subnets inside the VNet's address space
//! (`NetcfgSubnetRangeOutsideVnet`) and apart from each other (`NetcfgSubnetRangesOverlap`),
//! a subnet with addresses in use neither removed nor shrunk away from them
//! (`InUseSubnetCannotBeDeleted`), references that must exist (`InvalidResourceReference`),
//! at most [`MAX_ROUTES`] routes per table, and nothing deleted while another resource
//! refers to it.

use serde_json::{Value, json};

use super::ipam::parse_prefix;
use super::{AzError, AzResult, AzureState, Kind, child_array, props, ref_id, same_id};

/// Routes per route table.
pub const MAX_ROUTES: usize = 400;

const NEXT_HOP_TYPES: &[&str] = &[
    "VirtualNetworkGateway",
    "VnetLocal",
    "Internet",
    "VirtualAppliance",
    "None",
];

/// The NIC ipConfigurations, load-balancer and gateway frontends and gateway IP
/// configurations in a subnet.
pub fn subnet_users(s: &AzureState, subnet_id: &str) -> Vec<String> {
    let mut users = Vec::new();
    for v in s.resources.values() {
        for seg in [
            "ipConfigurations",
            "frontendIPConfigurations",
            "gatewayIPConfigurations",
        ] {
            for c in child_array(v, seg).into_iter().flatten() {
                if ref_id(&c["properties"], "subnet").is_some_and(|id| same_id(id, subnet_id)) {
                    users.push(c["id"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    users
}

fn in_use(name: &str, user: &str) -> AzError {
    AzError::bad(
        "InUseSubnetCannotBeDeleted",
        format!(
            "Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        ),
    )
}

/// Checks that `new.properties[field].id` names an existing resource.
fn check_ref(s: &AzureState, holder: &Value, field: &str, by: &str) -> AzResult<()> {
    match ref_id(&holder["properties"], field) {
        Some(target) if s.lookup(target).is_none() => Err(AzError::invalid_reference(target, by)),
        _ => Ok(()),
    }
}

pub(super) fn prepare_vnet(
    s: &mut AzureState,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    let vnet_name = new["name"].as_str().unwrap_or_default().to_string();
    let space: Vec<String> = new["properties"]["addressSpace"]["addressPrefixes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if space.is_empty() {
        return Err(AzError::bad(
            "InvalidRequestFormat",
            format!(
                "Virtual network {id} must have at least one address prefix in properties.addressSpace.addressPrefixes."
            ),
        ));
    }
    let space = space
        .iter()
        .map(|p| parse_prefix(p, id))
        .collect::<AzResult<Vec<_>>>()?;
    let subnets = child_array(new, "subnets").cloned().unwrap_or_default();
    let mut seen: Vec<(String, ipnet::Ipv4Net)> = Vec::new();
    for sn in &subnets {
        let name = sn["name"].as_str().unwrap_or_default().to_string();
        let sid = sn["id"].as_str().unwrap_or_default().to_string();
        let Some(text) = sn["properties"]["addressPrefix"].as_str().or_else(|| {
            sn["properties"]["addressPrefixes"]
                .get(0)
                .and_then(Value::as_str)
        }) else {
            return Err(AzError::bad(
                "InvalidRequestFormat",
                format!("Subnet {name} must have properties.addressPrefix."),
            ));
        };
        let net = parse_prefix(text, &sid)?;
        if !space.iter().any(|sp| sp.contains(&net)) {
            return Err(AzError::bad(
                "NetcfgSubnetRangeOutsideVnet",
                format!(
                    "Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'."
                ),
            ));
        }
        if seen
            .iter()
            .any(|(_, o)| o.contains(&net.network()) || net.contains(&o.network()))
        {
            return Err(AzError::bad(
                "NetcfgSubnetRangesOverlap",
                format!(
                    "Subnet '{name}' is not valid because its IP address range overlaps with that of an existing subnet in virtual network '{vnet_name}'."
                ),
            ));
        }
        seen.push((name.clone(), net));
        check_ref(s, sn, "routeTable", &sid)?;
        check_ref(s, sn, "networkSecurityGroup", &sid)?;
        // Addresses in use must stay inside the subnet.
        for user in subnet_users(s, &sid) {
            let ip = s
                .lookup(&user)
                .and_then(|c| c["properties"]["privateIPAddress"].as_str())
                .and_then(|t| t.parse::<std::net::Ipv4Addr>().ok());
            if ip.is_some_and(|ip| !net.contains(&ip)) {
                return Err(in_use(&name, &user));
            }
        }
    }
    for before in old
        .and_then(|o| child_array(o, "subnets"))
        .into_iter()
        .flatten()
    {
        let name = before["name"].as_str().unwrap_or_default();
        let kept = subnets.iter().any(|n| {
            n["name"]
                .as_str()
                .is_some_and(|m| m.eq_ignore_ascii_case(name))
        });
        if !kept {
            let sid = before["id"].as_str().unwrap_or_default();
            if let Some(user) = subnet_users(s, sid).first() {
                return Err(in_use(name, user));
            }
        }
    }
    Ok(())
}

pub(super) fn check_vnet_delete(s: &AzureState, id: &str) -> AzResult<()> {
    let Some(v) = s.lookup(id) else {
        return Ok(());
    };
    for sn in child_array(v, "subnets").into_iter().flatten() {
        let sid = sn["id"].as_str().unwrap_or_default();
        if let Some(user) = subnet_users(s, sid).first() {
            return Err(in_use(sn["name"].as_str().unwrap_or_default(), user));
        }
    }
    Ok(())
}

pub(super) fn render_vnet(s: &AzureState, v: &mut Value) {
    if let Some(items) = v["properties"]
        .get_mut("subnets")
        .and_then(Value::as_array_mut)
    {
        for sn in items {
            render_subnet(s, sn);
        }
    }
}

/// A subnet shows the configurations using it.
pub(super) fn render_subnet(s: &AzureState, sn: &mut Value) {
    let sid = sn["id"].as_str().unwrap_or_default().to_string();
    let users: Vec<Value> = subnet_users(s, &sid)
        .into_iter()
        .map(|id| json!({ "id": id }))
        .collect();
    if !users.is_empty() {
        props(sn).insert("ipConfigurations".into(), Value::Array(users));
    }
}

pub(super) fn prepare_route_table(new: &mut Value) -> AzResult<()> {
    let id = new["id"].as_str().unwrap_or_default().to_string();
    let routes = child_array(new, "routes").cloned().unwrap_or_default();
    if routes.len() > MAX_ROUTES {
        return Err(AzError::bad(
            "RouteTableRouteLimitReached",
            format!(
                "Route table {id} has {} routes; a route table can have at most {MAX_ROUTES}.",
                routes.len()
            ),
        ));
    }
    for r in &routes {
        let rid = r["id"].as_str().unwrap_or_default();
        let p = &r["properties"];
        let prefix = p["addressPrefix"].as_str().unwrap_or_default();
        // A service tag (`AzureCloud`) or a CIDR.
        if prefix.contains('/') || prefix.is_empty() {
            parse_prefix(prefix, rid)?;
        }
        let hop = p["nextHopType"].as_str().unwrap_or_default();
        if !NEXT_HOP_TYPES.contains(&hop) {
            return Err(AzError::bad(
                "InvalidRequestFormat",
                format!(
                    "Route {rid} has next hop type '{hop}'; it must be one of {NEXT_HOP_TYPES:?}."
                ),
            ));
        }
        let next = p["nextHopIpAddress"].as_str();
        if hop == "VirtualAppliance"
            && next
                .and_then(|t| t.parse::<std::net::Ipv4Addr>().ok())
                .is_none()
        {
            return Err(AzError::bad(
                "InvalidNextHopIpAddress",
                format!(
                    "Route {rid} with next hop type VirtualAppliance needs a valid nextHopIpAddress."
                ),
            ));
        }
        if hop != "VirtualAppliance" && next.is_some() {
            return Err(AzError::bad(
                "NextHopIpAddressNotAllowed",
                format!(
                    "Route {rid}: a next hop IP address is only allowed with next hop type VirtualAppliance."
                ),
            ));
        }
    }
    Ok(())
}

/// Security rules an NSG may hold (Azure's default limit).
pub const MAX_SECURITY_RULES: usize = 1000;

pub(super) fn prepare_nsg(new: &mut Value) -> AzResult<()> {
    let rules = child_array(new, "securityRules")
        .cloned()
        .unwrap_or_default();
    // ARM shows an NSG PUT without rules with an empty list.
    props(new)
        .entry("securityRules")
        .or_insert_with(|| json!([]));
    if rules.len() > MAX_SECURITY_RULES {
        return Err(AzError::bad(
            "SecurityRuleCountLimitReached",
            format!("A security group cannot have more than {MAX_SECURITY_RULES} security rules."),
        ));
    }
    let mut taken: Vec<(String, u64)> = Vec::new();
    for r in &rules {
        let rid = r["id"].as_str().unwrap_or_default();
        let p = &r["properties"];
        let priority = p["priority"].as_u64().unwrap_or(0);
        if !(100..=4096).contains(&priority) {
            return Err(AzError::bad(
                "SecurityRuleInvalidPriority",
                format!(
                    "Security rule {rid} has invalid priority {priority}. Value provided: {priority} Allowed range 100-4096."
                ),
            ));
        }
        let direction = p["direction"].as_str().unwrap_or("Inbound").to_string();
        if taken.contains(&(direction.clone(), priority)) {
            return Err(AzError::bad(
                "SecurityRuleConflict",
                format!(
                    "Security rule {rid} conflicts with another rule: two {direction} rules have priority {priority}."
                ),
            ));
        }
        taken.push((direction, priority));
    }
    Ok(())
}

pub(super) fn prepare_public_ip(
    s: &mut AzureState,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    let sku = new["sku"]["name"].as_str().unwrap_or("Basic").to_string();
    new["sku"] = json!({"name": sku, "tier": "Regional"});
    let standard = sku.eq_ignore_ascii_case("Standard");
    let method = new["properties"]["publicIPAllocationMethod"]
        .as_str()
        .unwrap_or(if standard { "Static" } else { "Dynamic" })
        .to_string();
    if standard && !method.eq_ignore_ascii_case("Static") {
        return Err(AzError::bad(
            "StandardSkuPublicIPAddressesMustBeStatic",
            "Standard sku publicIp addresses must have publicIPAllocationMethod set to Static.",
        ));
    }
    let location = s.location.clone();
    let kept = old.and_then(|o| o["properties"]["ipAddress"].as_str().map(str::to_string));
    let p = props(new);
    p.insert("publicIPAllocationMethod".into(), json!(method));
    p.insert("publicIPAddressVersion".into(), json!("IPv4"));
    p.remove("ipAddress");
    if method.eq_ignore_ascii_case("Static") {
        let ip = kept.unwrap_or_else(|| s.next_public_ip());
        props(new).insert("ipAddress".into(), json!(ip));
    }
    if let Some(label) = new["properties"]["dnsSettings"]["domainNameLabel"]
        .as_str()
        .map(str::to_string)
    {
        new["properties"]["dnsSettings"]["fqdn"] =
            json!(format!("{label}.{location}.cloudapp.azure.com"));
    }
    Ok(())
}

/// Whether `v` holds `{"id": target}` anywhere.
fn refers_to(v: &Value, target: &str) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, x)| {
            (k == "id" && x.as_str().is_some_and(|t| same_id(t, target))) || refers_to(x, target)
        }),
        Value::Array(a) => a.iter().any(|x| refers_to(x, target)),
        _ => false,
    }
}

/// The resources (other than `id` and its children) that refer to `id`.
pub fn referrers(s: &AzureState, id: &str) -> Vec<String> {
    let key = id.to_lowercase();
    s.resources
        .iter()
        .filter(|(k, _)| **k != key)
        .filter(|(_, v)| refers_to(&v["properties"], id))
        .map(|(_, v)| v["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub(super) fn check_referenced(s: &AzureState, kind: &Kind, id: &str) -> AzResult<()> {
    let Some(user) = referrers(s, id).into_iter().next() else {
        return Ok(());
    };
    let (code, what) = match kind.type_ {
        "routeTables" => ("InUseRouteTableCannotBeDeleted", "Route table"),
        "networkSecurityGroups" => (
            "InUseNetworkSecurityGroupCannotBeDeleted",
            "Network security group",
        ),
        _ => ("PublicIPAddressCannotBeDeleted", "Public IP address"),
    };
    Err(AzError::bad(
        code,
        format!(
            "{what} {id} is in use by {user} and cannot be deleted. In order to delete it, first remove the association."
        ),
    ))
}
