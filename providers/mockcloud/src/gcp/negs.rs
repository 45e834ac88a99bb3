//! Zonal network endpoint groups (`GCE_VM_IP_PORT`, `GCE_VM_IP`): endpoints attached and
//! detached at most [`MAX_ENDPOINTS_PER_CALL`] per call, each on an instance in the NEG's
//! zone with an interface in the NEG's network (and subnetwork, when the NEG names one), at
//! the interface's primary address or, for `GCE_VM_IP_PORT`, an address of its alias ranges.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Map, Value, json};

use super::network::{default_network, str_of, zonal};
use super::{Call, GcpError, GcpResult, GcpState, Scope};

pub const MAX_ENDPOINTS_PER_CALL: usize = 500;

pub(super) fn prepare(
    state: &GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
) -> GcpResult<()> {
    let zone = zonal(scope, "network endpoint groups")?;
    let kind = str_of(obj, "networkEndpointType")
        .unwrap_or("GCE_VM_IP_PORT")
        .to_string();
    if !matches!(kind.as_str(), "GCE_VM_IP_PORT" | "GCE_VM_IP") {
        return Err(GcpError::invalid_field(
            "resource.networkEndpointType",
            &kind,
            "Only GCE_VM_IP_PORT and GCE_VM_IP are served by this cloud.",
        ));
    }
    obj.insert("networkEndpointType".into(), json!(kind));
    let network = default_network(state, obj)?;
    if let Some(s) = str_of(obj, "subnetwork").map(str::to_string) {
        let region = state.region_of_zone(zone).unwrap_or_default().to_string();
        let (url, sub) =
            super::network::subnet_in_region(state, &s, &region, "resource.subnetwork")?;
        if sub["network"].as_str() != Some(network.as_str()) {
            return Err(GcpError::invalid_field(
                "resource.subnetwork",
                &s,
                "The subnetwork is not in the NEG's network.",
            ));
        }
        obj.insert("subnetwork".into(), json!(url));
    }
    match (
        kind.as_str(),
        obj.get("defaultPort").and_then(Value::as_u64),
    ) {
        ("GCE_VM_IP", Some(_)) => {
            return Err(GcpError::invalid_field(
                "resource.defaultPort",
                "",
                "GCE_VM_IP endpoints have no port.",
            ));
        }
        (_, Some(p)) if !(1..=65535).contains(&p) => {
            return Err(GcpError::invalid_field(
                "resource.defaultPort",
                &p.to_string(),
                "Must be between 1 and 65535.",
            ));
        }
        _ => {}
    }
    obj.insert("size".into(), json!(0));
    Ok(())
}

/// An endpoint checked against its NEG and instance, in the stored form.
fn check(state: &GcpState, neg: &Value, zone: &str, ep: &Value, f: &str) -> GcpResult<Value> {
    let kind = neg["networkEndpointType"]
        .as_str()
        .unwrap_or("GCE_VM_IP_PORT");
    let inst_ref = ep["instance"]
        .as_str()
        .ok_or_else(|| GcpError::required(&format!("{f}.instance")))?;
    let path = state.resolve(inst_ref, "instances", &Scope::Zone(zone.to_string()))?;
    if !path.starts_with(&format!("zones/{zone}/")) {
        return Err(GcpError::invalid_field(
            &format!("{f}.instance"),
            inst_ref,
            &format!("The instance must be in the NEG's zone {zone}."),
        ));
    }
    let inst = state
        .resources
        .get(&path)
        .ok_or_else(|| GcpError::not_found(&state.rel(&path)))?;
    let nic = inst["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| {
            n["network"] == neg["network"]
                && (neg.get("subnetwork").is_none() || n["subnetwork"] == neg["subnetwork"])
        })
        .ok_or_else(|| {
            GcpError::invalid_field(
                &format!("{f}.instance"),
                inst_ref,
                "The instance has no interface in the NEG's network and subnetwork.",
            )
        })?;
    let primary = nic["networkIP"].as_str().unwrap_or_default();
    let ip = ep["ipAddress"].as_str().unwrap_or(primary);
    let addr: Ipv4Addr = ip.parse().map_err(|_| {
        GcpError::invalid_field(&format!("{f}.ipAddress"), ip, "Not a valid IPv4 address.")
    })?;
    let in_alias = nic["aliasIpRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| {
            r["ipCidrRange"]
                .as_str()
                .and_then(|c| c.parse::<Ipv4Net>().ok())
                .is_some_and(|n| n.contains(&addr))
        });
    let mut out = json!({"instance": state.url(&path), "ipAddress": ip});
    match kind {
        "GCE_VM_IP" => {
            if ip != primary {
                return Err(GcpError::invalid_field(
                    &format!("{f}.ipAddress"),
                    ip,
                    "A GCE_VM_IP endpoint is the instance's primary address.",
                ));
            }
            if ep.get("port").is_some_and(|p| !p.is_null()) {
                return Err(GcpError::invalid_field(
                    &format!("{f}.port"),
                    &ep["port"].to_string(),
                    "GCE_VM_IP endpoints have no port.",
                ));
            }
        }
        _ => {
            if ip != primary && !in_alias {
                return Err(GcpError::invalid_field(
                    &format!("{f}.ipAddress"),
                    ip,
                    "The address is neither the instance's primary address nor in its alias IP ranges.",
                ));
            }
            let port = ep["port"]
                .as_u64()
                .or(neg["defaultPort"].as_u64())
                .ok_or_else(|| GcpError::required(&format!("{f}.port")))?;
            if !(1..=65535).contains(&port) {
                return Err(GcpError::invalid_field(
                    &format!("{f}.port"),
                    &port.to_string(),
                    "Must be between 1 and 65535.",
                ));
            }
            out["port"] = json!(port);
        }
    }
    Ok(out)
}

pub(super) fn refresh_sizes(state: &mut GcpState) {
    let sizes: Vec<(String, usize)> = state
        .neg_endpoints
        .iter()
        .map(|(k, v)| (k.clone(), v.len()))
        .collect();
    for (k, n) in sizes {
        if let Some(neg) = state.resources.get_mut(&k) {
            neg["size"] = json!(n);
        }
    }
}

pub(super) fn verb(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    path: &str,
    verb: &str,
) -> GcpResult<Value> {
    let Scope::Zone(zone) = scope else {
        return Err(super::unknown(call));
    };
    let neg = state.resources.get(path).cloned().unwrap_or_default();
    let body = call.body.clone().unwrap_or(json!({}));
    match verb {
        "attachNetworkEndpoints" | "detachNetworkEndpoints" => {
            let eps = body["networkEndpoints"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if eps.len() > MAX_ENDPOINTS_PER_CALL {
                return Err(GcpError::invalid_field(
                    "resource.networkEndpoints",
                    &eps.len().to_string(),
                    &format!(
                        "The number of network endpoints in one request must not exceed {MAX_ENDPOINTS_PER_CALL}."
                    ),
                ));
            }
            let mut checked: Vec<Value> = Vec::new();
            for (i, ep) in eps.iter().enumerate() {
                let f = format!("resource.networkEndpoints[{i}]");
                let e = check(state, &neg, zone, ep, &f)?;
                if checked.contains(&e) {
                    return Err(GcpError::invalid_field(
                        &f,
                        &e.to_string(),
                        "The endpoint appears twice in the request.",
                    ));
                }
                checked.push(e);
            }
            let current = state.neg_endpoints.get(path).cloned().unwrap_or_default();
            let list = if verb == "attachNetworkEndpoints" {
                let mut l = current;
                for e in checked {
                    if !l.contains(&e) {
                        l.push(e);
                    }
                }
                l
            } else {
                if let Some((i, e)) = checked
                    .iter()
                    .enumerate()
                    .find(|(_, e)| !current.contains(e))
                {
                    return Err(GcpError::invalid_field(
                        &format!("resource.networkEndpoints[{i}]"),
                        &e.to_string(),
                        "The endpoint is not in the network endpoint group.",
                    ));
                }
                current
                    .into_iter()
                    .filter(|e| !checked.contains(e))
                    .collect()
            };
            state.neg_endpoints.insert(path.to_string(), list);
            refresh_sizes(state);
            Ok(state.operation(call, scope, verb, path))
        }
        "listNetworkEndpoints" => {
            let show = body["healthStatus"].as_str() == Some("SHOW");
            // With SHOW: one health per backend service the NEG is a backend of.
            let url = state.url(path);
            let services: Vec<&Value> = state
                .resources
                .values()
                .filter(|r| r["kind"] == "compute#backendService")
                .filter(|r| {
                    r["backends"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|b| b["group"].as_str() == Some(url.as_str()))
                })
                .collect();
            let neg = state.resources.get(path).cloned().unwrap_or_default();
            let firewalls = state
                .resources
                .values()
                .filter(|r| r["kind"] == "compute#firewall");
            let lookup = |p: &str| state.resources.get(p);
            let healths = |e: &Value| -> Value {
                services
                    .iter()
                    .map(|bs| {
                        let h = super::health::endpoint_state(lookup, firewalls.clone(), bs, &neg, e);
                        json!({"backendService": {"backendService": bs["selfLink"]}, "healthState": h})
                    })
                    .collect()
            };
            let items = state
                .neg_endpoints
                .get(path)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    let mut item = json!({"networkEndpoint": e});
                    if show {
                        item["healths"] = healths(&e);
                    }
                    (format!("{i:08}"), item)
                })
                .collect();
            let (items, token) = super::list::page(call, items)?;
            let mut o = json!({"kind": "compute#networkEndpointGroupsListNetworkEndpoints", "items": items});
            if let Some(t) = token {
                o["nextPageToken"] = json!(t);
            }
            Ok(o)
        }
        _ => Err(super::unknown(call)),
    }
}
