//! Load balancers: frontends (a public IP, or a subnet and a private address from
//! [`super::ipam`]), backend pools (filled by NIC ipConfigurations that name them, or
//! listing addresses in a VNet), probes, and at most [`MAX_RULES`] load-balancing rules whose
//! frontend, pool and probe must be this load balancer's own (`InvalidResourceReference`).

use serde_json::{Value, json};

use super::ipam::assign_frontend;
use super::{
    AzError, AzResult, AzureState, child_array, child_ids, own_ref, props, ref_id, same_id,
};

/// Load-balancing rules per load balancer.
pub const MAX_RULES: usize = 250;

pub(super) fn prepare(
    s: &mut AzureState,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    let key = id.to_lowercase();
    let sku = new["sku"]["name"].as_str().unwrap_or("Basic").to_string();
    new["sku"] = json!({"name": sku, "tier": "Regional"});
    let mut fronts = child_array(new, "frontendIPConfigurations")
        .cloned()
        .unwrap_or_default();
    let olds = old.and_then(|o| child_array(o, "frontendIPConfigurations"));
    for f in &mut fronts {
        let fid = f["id"].as_str().unwrap_or_default().to_string();
        let public = ref_id(&f["properties"], "publicIPAddress").map(str::to_string);
        let subnet = ref_id(&f["properties"], "subnet").map(str::to_string);
        match (public, subnet) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(AzError::bad(
                    "InvalidRequestFormat",
                    format!(
                        "Frontend IP configuration {fid} must reference either a public IP address or a subnet."
                    ),
                ));
            }
            (Some(pip), None) => {
                if s.lookup(&pip).is_none() {
                    return Err(AzError::invalid_reference(&pip, &fid));
                }
            }
            (None, Some(subnet)) => assign_frontend(s, id, &key, f, &subnet, olds)?,
        }
    }
    props(new).insert("frontendIPConfigurations".into(), Value::Array(fronts));
    for pool in child_array(new, "backendAddressPools")
        .into_iter()
        .flatten()
    {
        let pid = pool["id"].as_str().unwrap_or_default();
        for a in pool["properties"]["loadBalancerBackendAddresses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let ip = a["properties"]["ipAddress"].as_str().unwrap_or_default();
            if ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(AzError::bad(
                    "InvalidRequestFormat",
                    format!("Backend address '{ip}' of pool {pid} is not a valid IPv4 address."),
                ));
            }
            if let Some(vnet) = ref_id(&a["properties"], "virtualNetwork")
                && s.lookup(vnet).is_none()
            {
                return Err(AzError::invalid_reference(vnet, pid));
            }
        }
    }
    for probe in child_array(new, "probes").into_iter().flatten() {
        let pid = probe["id"].as_str().unwrap_or_default();
        let p = &probe["properties"];
        let protocol = p["protocol"].as_str().unwrap_or_default();
        let port = p["port"].as_u64().unwrap_or(0);
        let ok = match protocol {
            "Tcp" => true,
            "Http" | "Https" => p["requestPath"]
                .as_str()
                .is_some_and(|r| r.starts_with('/')),
            _ => false,
        };
        if !ok || !(1..=65535).contains(&port) {
            return Err(AzError::bad(
                "InvalidRequestFormat",
                format!(
                    "Probe {pid} needs protocol Tcp, Http or Https (with a requestPath), and a port from 1 to 65535."
                ),
            ));
        }
    }
    let rules = child_array(new, "loadBalancingRules")
        .cloned()
        .unwrap_or_default();
    if rules.len() > MAX_RULES {
        return Err(AzError::bad(
            "LoadBalancerRulesLimitExceeded",
            format!(
                "Load balancer {id} has {} load balancing rules; the limit is {MAX_RULES}.",
                rules.len()
            ),
        ));
    }
    let (fronts, pools, probes) = (
        child_ids(new, "frontendIPConfigurations"),
        child_ids(new, "backendAddressPools"),
        child_ids(new, "probes"),
    );
    let mut ports = std::collections::BTreeSet::new();
    for r in &rules {
        own_ref(
            r,
            "frontendIPConfiguration",
            &fronts,
            true,
            "Load balancing rule ",
        )?;
        own_ref(
            r,
            "backendAddressPool",
            &pools,
            false,
            "Load balancing rule ",
        )?;
        own_ref(r, "probe", &probes, false, "Load balancing rule ")?;
        let p = &r["properties"];
        let front = ref_id(p, "frontendIPConfiguration")
            .unwrap_or_default()
            .to_lowercase();
        let protocol = p["protocol"].as_str().unwrap_or("Tcp").to_lowercase();
        let port = p["frontendPort"].as_u64().unwrap_or(0);
        if !ports.insert((front, protocol, port)) {
            return Err(AzError::bad(
                "LoadBalancingRuleFrontendPortConflict",
                format!(
                    "Load balancing rule {} uses frontend port {port} that another rule on the same frontend IP configuration and protocol already uses.",
                    r["id"].as_str().unwrap_or_default()
                ),
            ));
        }
    }
    // A pool a NIC still names cannot go.
    for before in old
        .and_then(|o| child_array(o, "backendAddressPools"))
        .into_iter()
        .flatten()
    {
        let bid = before["id"].as_str().unwrap_or_default();
        if !pools.iter().any(|p| same_id(p, bid))
            && let Some(user) = pool_members(s, bid).first()
        {
            return Err(in_use(bid, user));
        }
    }
    Ok(())
}

fn in_use(pool: &str, user: &str) -> AzError {
    AzError::bad(
        "InUseBackendAddressPoolCannotBeDeleted",
        format!("Backend address pool {pool} is in use by {user} and cannot be deleted."),
    )
}

/// The NIC ipConfigurations naming a backend pool.
pub fn pool_members(s: &AzureState, pool: &str) -> Vec<String> {
    s.nics()
        .flat_map(|n| child_array(n, "ipConfigurations").into_iter().flatten())
        .filter(|c| {
            c["properties"]["loadBalancerBackendAddressPools"]
                .as_array()
                .is_some_and(|a| {
                    a.iter()
                        .any(|p| p["id"].as_str().is_some_and(|i| same_id(i, pool)))
                })
        })
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub(super) fn check_delete(s: &AzureState, id: &str) -> AzResult<()> {
    let Some(v) = s.lookup(id) else {
        return Ok(());
    };
    for pool in child_ids(v, "backendAddressPools") {
        if let Some(user) = pool_members(s, &pool).first() {
            return Err(in_use(&pool, user));
        }
    }
    Ok(())
}

/// Pools show the NIC ipConfigurations in them.
pub(super) fn render(s: &AzureState, v: &mut Value) {
    if let Some(pools) = v["properties"]
        .get_mut("backendAddressPools")
        .and_then(Value::as_array_mut)
    {
        for pool in pools {
            render_pool(s, pool);
        }
    }
}

/// A pool (read on its own or in its load balancer) with its NIC ipConfigurations.
pub(super) fn render_pool(s: &AzureState, pool: &mut Value) {
    let pid = pool["id"].as_str().unwrap_or_default().to_string();
    let members: Vec<Value> = pool_members(s, &pid)
        .into_iter()
        .map(|id| json!({ "id": id }))
        .collect();
    if !members.is_empty() {
        props(pool).insert("backendIPConfigurations".into(), Value::Array(members));
    }
}
