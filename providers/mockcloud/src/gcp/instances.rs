//! Instances: insert (interfaces on subnetworks of the zone's region, primary addresses,
//! alias ranges), and `updateNetworkInterface`, which changes an interface's alias IP
//! ranges under its fingerprint.

use serde_json::{Map, Value, json};

use super::alias::{self, Wanted};
use super::network::{self, str_of};
use super::{Call, GcpError, GcpResult, GcpState, Scope};

fn wanted_of(nic: &Value) -> Vec<Wanted> {
    nic["aliasIpRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Wanted {
            range_name: r["subnetworkRangeName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            cidr: r["ipCidrRange"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

fn alias_json(chosen: &[(Option<String>, ipnet::Ipv4Net)]) -> Value {
    Value::Array(
        chosen
            .iter()
            .map(|(name, net)| match name {
                Some(n) => json!({"ipCidrRange": net.to_string(), "subnetworkRangeName": n}),
                None => json!({"ipCidrRange": net.to_string()}),
            })
            .collect(),
    )
}

pub(super) fn prepare(
    state: &mut GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
    _now_ms: u64,
) -> GcpResult<()> {
    let Scope::Zone(zone) = scope else {
        return Err(GcpError::bad_request("instances are zonal"));
    };
    let region = state.region_of_zone(zone).unwrap_or_default().to_string();
    let mt =
        str_of(obj, "machineType").ok_or_else(|| GcpError::required("resource.machineType"))?;
    let mt_name = mt.rsplit('/').next().unwrap_or_default();
    if mt.contains('/') && !mt.contains(&format!("zones/{zone}/machineTypes/")) {
        return Err(GcpError::invalid_field(
            "resource.machineType",
            mt,
            &format!("The machine type must be in zone {zone}."),
        ));
    }
    if !super::valid_name(mt_name) {
        return Err(GcpError::invalid_field(
            "resource.machineType",
            mt,
            "Not a machine type.",
        ));
    }
    obj.insert(
        "machineType".into(),
        json!(state.url(&format!("zones/{zone}/machineTypes/{mt_name}"))),
    );
    let nics = obj
        .get("networkInterfaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if nics.is_empty() {
        return Err(GcpError::required("resource.networkInterfaces"));
    }
    if nics.len() > 8 {
        return Err(GcpError::invalid_field(
            "resource.networkInterfaces",
            &nics.len().to_string(),
            "At most 8 network interfaces.",
        ));
    }
    let name = str_of(obj, "name").unwrap_or_default().to_string();
    let self_url = state.url(&format!("zones/{zone}/instances/{name}"));
    let mut out = Vec::new();
    let mut networks = Vec::new();
    let mut extra_taken: Vec<alias::Taken> = Vec::new();
    for (i, nic) in nics.iter().enumerate() {
        let f = format!("resource.networkInterfaces[{i}]");
        let sub_ref = nic["subnetwork"]
            .as_str()
            .ok_or_else(|| GcpError::required(&format!("{f}.subnetwork")))?;
        let (sub_url, subnet) =
            network::subnet_in_region(state, sub_ref, &region, &format!("{f}.subnetwork"))?;
        let net_url = subnet["network"].as_str().unwrap_or_default().to_string();
        if let Some(n) = nic["network"].as_str() {
            let given = state.existing(n, "networks", &Scope::Global)?;
            if given != net_url {
                return Err(GcpError::invalid_field(
                    &format!("{f}.network"),
                    n,
                    "The subnetwork is not in this network.",
                ));
            }
        }
        if networks.contains(&net_url) {
            return Err(GcpError::invalid_field(
                &format!("{f}.network"),
                &net_url,
                "Each interface must be in a different network.",
            ));
        }
        networks.push(net_url.clone());
        let ranges = network::ranges_of(&subnet)
            .ok_or_else(|| GcpError::bad_request("subnetwork without ranges"))?;
        let mut taken = network::taken_in_subnet(state, &sub_url, None);
        taken.extend(extra_taken.iter().cloned());
        let ip = match nic["networkIP"].as_str() {
            Some(a) => {
                alias::resolve(
                    &ranges,
                    &[Wanted {
                        range_name: None,
                        cidr: a.to_string(),
                    }],
                    &taken,
                    &format!("{f}.networkIP"),
                )?;
                a.parse().map_err(|_| {
                    GcpError::invalid_field(
                        &format!("{f}.networkIP"),
                        a,
                        "Not a valid IPv4 address.",
                    )
                })?
            }
            None => alias::free_address(ranges.primary, &taken).ok_or_else(|| {
                GcpError::new(
                    400,
                    "IP_SPACE_EXHAUSTED",
                    format!("The subnetwork '{sub_url}' has no free address."),
                )
            })?,
        };
        taken.push(alias::Taken {
            net: ipnet::Ipv4Net::new(ip, 32).unwrap_or_default(),
            by: format!("{f}.networkIP"),
        });
        let chosen = alias::resolve(
            &ranges,
            &wanted_of(nic),
            &taken,
            &format!("{f}.aliasIpRanges"),
        )?;
        extra_taken.push(alias::Taken {
            net: ipnet::Ipv4Net::new(ip, 32).unwrap_or_default(),
            by: format!("'{self_url}'"),
        });
        for (_, net) in &chosen {
            extra_taken.push(alias::Taken {
                net: *net,
                by: format!("an alias IP range of '{self_url}'"),
            });
        }
        let mut access = Vec::new();
        for ac in nic["accessConfigs"].as_array().into_iter().flatten() {
            let mut ac = ac.as_object().cloned().unwrap_or_default();
            ac.insert("kind".into(), json!("compute#accessConfig"));
            ac.entry("type").or_insert(json!("ONE_TO_ONE_NAT"));
            ac.entry("name").or_insert(json!("External NAT"));
            ac.entry("networkTier").or_insert(json!("PREMIUM"));
            if !ac.contains_key("natIP") {
                let ip = network::allocate_external(state, &Scope::Region(region.clone()))?;
                ac.insert("natIP".into(), json!(ip.to_string()));
            }
            access.push(Value::Object(ac));
        }
        let mut n = json!({
            "kind": "compute#networkInterface",
            "name": format!("nic{i}"),
            "network": net_url,
            "subnetwork": sub_url,
            "networkIP": ip.to_string(),
            "stackType": "IPV4_ONLY",
            "fingerprint": state.next_fingerprint(),
        });
        if !chosen.is_empty() {
            n["aliasIpRanges"] = alias_json(&chosen);
        }
        if !access.is_empty() {
            n["accessConfigs"] = Value::Array(access);
        }
        out.push(n);
    }
    obj.insert("networkInterfaces".into(), Value::Array(out));
    obj.insert("status".into(), json!("RUNNING"));
    obj.entry("canIpForward").or_insert(json!(false));
    obj.entry("cpuPlatform")
        .or_insert(json!("Intel Cascade Lake"));
    obj.entry("deletionProtection").or_insert(json!(false));
    obj.insert("fingerprint".into(), json!(state.next_fingerprint()));
    obj.insert("labelFingerprint".into(), json!(state.next_fingerprint()));
    let sa = state.default_service_account.clone();
    obj.entry("serviceAccounts").or_insert(
        json!([{"email": sa, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]),
    );
    let mut md = obj
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    md.insert("kind".into(), json!("compute#metadata"));
    md.insert("fingerprint".into(), json!(state.next_fingerprint()));
    obj.insert("metadata".into(), Value::Object(md));
    let mut tags = obj
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    tags.insert("fingerprint".into(), json!(state.next_fingerprint()));
    obj.insert("tags".into(), Value::Object(tags));
    Ok(())
}

/// `instances.updateNetworkInterface?networkInterface=nicN`: PATCH semantics on the
/// interface; only `aliasIpRanges` change (given, even empty, it replaces the interface's
/// ranges). The interface's current `fingerprint` is required.
pub(super) fn update_network_interface(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    path: &str,
) -> GcpResult<Value> {
    let nic_name = call
        .query
        .get("networkInterface")
        .cloned()
        .ok_or_else(|| GcpError::required("networkInterface"))?;
    let body = match &call.body {
        Some(Value::Object(o)) => o.clone(),
        _ => return Err(GcpError::required("resource")),
    };
    let inst = state.resources.get(path).cloned().unwrap_or_default();
    let self_url = state.url(path);
    let nics = inst["networkInterfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(idx) = nics
        .iter()
        .position(|n| n["name"].as_str() == Some(nic_name.as_str()))
    else {
        return Err(GcpError::invalid_field(
            "networkInterface",
            &nic_name,
            "The instance has no such network interface.",
        ));
    };
    let nic = &nics[idx];
    match body.get("fingerprint").and_then(Value::as_str) {
        None => return Err(GcpError::required("resource.fingerprint")),
        Some(fp) if Some(fp) != nic["fingerprint"].as_str() => {
            return Err(GcpError::stale_fingerprint());
        }
        Some(_) => {}
    }
    for k in ["network", "subnetwork"] {
        if let Some(v) = body.get(k).and_then(Value::as_str) {
            let given = state
                .resolve(
                    v,
                    if k == "network" {
                        "networks"
                    } else {
                        "subnetworks"
                    },
                    &Scope::Global,
                )
                .map(|p| state.url(&p))
                .unwrap_or_default();
            if Some(given.as_str()) != nic[k].as_str() {
                return Err(GcpError::invalid_field(
                    &format!("resource.{k}"),
                    v,
                    "Moving an interface to another network is not served by this cloud.",
                ));
            }
        }
    }
    if let Some(ip) = body.get("networkIP").and_then(Value::as_str)
        && Some(ip) != nic["networkIP"].as_str()
    {
        return Err(GcpError::invalid_field(
            "resource.networkIP",
            ip,
            "The primary address cannot be changed.",
        ));
    }
    let mut new_nic = nic.clone();
    if body.contains_key("aliasIpRanges") {
        let sub_url = nic["subnetwork"].as_str().unwrap_or_default().to_string();
        let subnet = state
            .get_url(&sub_url)
            .cloned()
            .ok_or_else(|| GcpError::not_found(&sub_url))?;
        let ranges = network::ranges_of(&subnet)
            .ok_or_else(|| GcpError::bad_request("subnetwork without ranges"))?;
        let taken = network::taken_in_subnet(state, &sub_url, Some((&self_url, &nic_name)));
        let wanted = wanted_of(&Value::Object(body.clone()));
        let chosen = alias::resolve(&ranges, &wanted, &taken, "resource.aliasIpRanges")?;
        if chosen.is_empty() {
            new_nic.as_object_mut().map(|o| o.remove("aliasIpRanges"));
        } else {
            new_nic["aliasIpRanges"] = alias_json(&chosen);
        }
    }
    new_nic["fingerprint"] = json!(state.next_fingerprint());
    let fp = state.next_fingerprint();
    if let Some(v) = state.resources.get_mut(path) {
        v["networkInterfaces"][idx] = new_nic;
        v["fingerprint"] = json!(fp);
    }
    Ok(state.operation(call, scope, "updateNetworkInterface", path))
}
