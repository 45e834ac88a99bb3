//! Network interfaces and their ipConfigurations: one to [`MAX_IP_CONFIGURATIONS`], exactly
//! one primary, all in one VNet, each with a private address from [`super::ipam`], and
//! references (subnet, public IP, backend pools, security group) that must exist. A NIC used
//! by a VM cannot be deleted (`NicInUse`).

use serde_json::{Value, json};

use super::ipam::{assign, named, used_in_vnet, vnet_key};
use super::{AzError, AzResult, AzureState, child_array, props, ref_id};

/// ipConfigurations per NIC.
pub const MAX_IP_CONFIGURATIONS: usize = 256;

pub(super) fn prepare(
    s: &mut AzureState,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    let key = id.to_lowercase();
    let count = child_array(new, "ipConfigurations").map_or(0, Vec::len);
    if count == 0 {
        return Err(AzError::bad(
            "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
            format!("Network interface {id} must have one or more IP configurations."),
        ));
    }
    if count > MAX_IP_CONFIGURATIONS {
        return Err(AzError::bad(
            "NetworkInterfaceIpConfigurationCountExceeded",
            format!(
                "Network interface {id} has {count} IP configurations; the limit is {MAX_IP_CONFIGURATIONS}."
            ),
        ));
    }
    // Read-only fields stay as the provider set them.
    let (mac, vm) = match old {
        Some(o) => (
            o["properties"]["macAddress"].clone(),
            o["properties"]["virtualMachine"].clone(),
        ),
        None => (Value::Null, Value::Null),
    };
    let p = props(new);
    p.remove("virtualMachine");
    p.remove("macAddress");
    if !vm.is_null() {
        p.insert("virtualMachine".into(), vm);
    }
    if !mac.is_null() {
        p.insert("macAddress".into(), mac);
    }
    if let Some(nsg) = ref_id(&new["properties"], "networkSecurityGroup")
        && s.lookup(nsg).is_none()
    {
        return Err(AzError::invalid_reference(nsg, id));
    }
    let mut cfgs = child_array(new, "ipConfigurations")
        .cloned()
        .unwrap_or_default();
    let primaries = cfgs
        .iter()
        .filter(|c| c["properties"]["primary"].as_bool() == Some(true))
        .count();
    match (cfgs.len(), primaries) {
        (1, _) => cfgs[0]["properties"]["primary"] = json!(true),
        (_, 1) => {}
        _ => {
            return Err(AzError::bad(
                "NetworkInterfaceMustHaveExactlyOnePrimaryIpConfiguration",
                format!(
                    "Network interface {id} must have exactly one primary IP configuration; it has {primaries}."
                ),
            ));
        }
    }
    let mut vnet: Option<String> = None;
    for c in &cfgs {
        let cid = c["id"].as_str().unwrap_or_default();
        let Some(subnet) = ref_id(&c["properties"], "subnet") else {
            return Err(AzError::bad(
                "SubnetIsRequired",
                format!("IP configuration {cid} must reference a subnet."),
            ));
        };
        if s.lookup(subnet).is_none() {
            return Err(AzError::invalid_reference(subnet, cid));
        }
        let v = vnet_key(subnet);
        if vnet.as_ref().is_some_and(|w| *w != v) {
            return Err(AzError::bad(
                "IpConfigurationsOfNicNotInSameVnet",
                format!(
                    "IP configurations of network interface {id} reference subnets of different virtual networks."
                ),
            ));
        }
        vnet = Some(v);
        if let Some(pip) = ref_id(&c["properties"], "publicIPAddress")
            && s.lookup(pip).is_none()
        {
            return Err(AzError::invalid_reference(pip, cid));
        }
        for pool in c["properties"]["loadBalancerBackendAddressPools"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(pid) = pool["id"].as_str()
                && s.lookup(pid).is_none()
            {
                return Err(AzError::invalid_reference(pid, cid));
            }
        }
    }
    let mut used = used_in_vnet(s, vnet.as_deref().unwrap_or_default(), &key);
    // Static addresses first, so a dynamic one never takes an address asked for statically.
    cfgs.sort_by_key(|c| {
        !c["properties"]["privateIPAllocationMethod"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("Static"))
    });
    let olds = old.and_then(|o| child_array(o, "ipConfigurations"));
    for c in &mut cfgs {
        let name = c["name"].as_str().unwrap_or_default().to_string();
        assign(s, id, c, named(olds, &name), &mut used)?;
    }
    // Back in the order the client sent.
    let order: Vec<String> = child_array(new, "ipConfigurations")
        .map(|a| {
            a.iter()
                .map(|c| c["name"].as_str().unwrap_or_default().to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    cfgs.sort_by_key(|c| {
        let n = c["name"].as_str().unwrap_or_default().to_lowercase();
        order.iter().position(|o| *o == n)
    });
    if new["properties"]["macAddress"].is_null() {
        let g = s.guid().replace('-', "").to_uppercase();
        let mac = format!("00-0D-3A-{}-{}-{}", &g[0..2], &g[2..4], &g[4..6]);
        props(new).insert("macAddress".into(), json!(mac));
    }
    props(new).insert("ipConfigurations".into(), Value::Array(cfgs));
    Ok(())
}

pub(super) fn check_delete(s: &AzureState, id: &str) -> AzResult<()> {
    match s
        .lookup(id)
        .and_then(|n| ref_id(&n["properties"], "virtualMachine"))
    {
        Some(vm) => Err(AzError::bad(
            "NicInUse",
            format!(
                "Network Interface {id} is used by existing resource {vm}. In order to delete the network interface, it must be dissociated from the resource."
            ),
        )),
        None => Ok(()),
    }
}
