//! Unmanaged instance groups (the backends of passthrough load balancers) and
//! `backendServices.getHealth`.

use serde_json::{Map, Value, json};

use super::lb::coll_of;
use super::network::{str_of, zonal};
use super::{Call, GcpError, GcpResult, GcpState, Scope};

pub(super) fn instance_group(
    state: &GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
) -> GcpResult<()> {
    zonal(scope, "unmanaged instance groups")?;
    if let Some(n) = str_of(obj, "network").map(str::to_string) {
        obj.insert(
            "network".into(),
            json!(state.existing(&n, "networks", &Scope::Global)?),
        );
    }
    obj.insert("size".into(), json!(0));
    obj.entry("namedPorts").or_insert(json!([]));
    obj.insert("fingerprint".into(), json!(super::fingerprint(7)));
    Ok(())
}

pub(super) fn group_verb(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    path: &str,
    verb: &str,
) -> GcpResult<Value> {
    let Scope::Zone(zone) = scope else {
        return Err(super::unknown(call));
    };
    let body = call.body.clone().unwrap_or(json!({}));
    let group = state.resources.get(path).cloned().unwrap_or_default();
    let mut members = state.group_members.get(path).cloned().unwrap_or_default();
    match verb {
        "addInstances" | "removeInstances" => {
            for (i, r) in body["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let f = format!("resource.instances[{i}].instance");
                let reference = r["instance"]
                    .as_str()
                    .ok_or_else(|| GcpError::required(&f))?;
                let url = state.existing(reference, "instances", &Scope::Zone(zone.clone()))?;
                if !url.contains(&format!("/zones/{zone}/")) {
                    return Err(GcpError::invalid_field(
                        &f,
                        reference,
                        "The instance must be in the group's zone.",
                    ));
                }
                let inst = state.get_url(&url).cloned().unwrap_or_default();
                if let Some(net) = group["network"].as_str()
                    && !inst["networkInterfaces"]
                        .as_array()
                        .is_some_and(|n| n.iter().any(|n| n["network"].as_str() == Some(net)))
                {
                    return Err(GcpError::invalid_field(
                        &f,
                        reference,
                        "The instance is not in the group's network.",
                    ));
                }
                match (verb, members.contains(&url)) {
                    ("addInstances", true) => {
                        return Err(GcpError::new(
                            400,
                            "memberAlreadyExists",
                            format!("The instance '{url}' is already a member of the group."),
                        ));
                    }
                    ("removeInstances", false) => {
                        return Err(GcpError::new(
                            400,
                            "memberNotFound",
                            format!("The instance '{url}' is not a member of the group."),
                        ));
                    }
                    ("addInstances", false) => members.push(url),
                    _ => members.retain(|m| m != &url),
                }
            }
            let n = members.len();
            state.group_members.insert(path.to_string(), members);
            if let Some(g) = state.resources.get_mut(path) {
                g["size"] = json!(n);
            }
            Ok(state.operation(call, scope, verb, path))
        }
        "listInstances" => {
            let items = members
                .into_iter()
                .map(|m| (m.clone(), json!({"instance": m, "status": "RUNNING"})))
                .collect();
            let (items, token) = super::list::page(call, items)?;
            let mut o = json!({"kind": "compute#instanceGroupsListInstances", "items": items});
            if let Some(t) = token {
                o["nextPageToken"] = json!(t);
            }
            Ok(o)
        }
        "setNamedPorts" => {
            if let Some(g) = state.resources.get_mut(path) {
                g["namedPorts"] = body["namedPorts"].clone();
            }
            Ok(state.operation(call, scope, verb, path))
        }
        _ => Err(super::unknown(call)),
    }
}

/// `backendServices.getHealth`: every endpoint of one NEG, healthy when the firewall lets
/// the health checkers reach it ([`super::health`]); every member of an instance group,
/// healthy.
pub(super) fn get_health(state: &GcpState, call: &Call, path: &str) -> GcpResult<Value> {
    let body = call.body.clone().unwrap_or(json!({}));
    let g = body["group"]
        .as_str()
        .ok_or_else(|| GcpError::required("resource.group"))?;
    let coll = coll_of(g).unwrap_or_default();
    let url = state.existing(g, coll, &Scope::Global)?;
    let bs = state.resources.get(path).cloned().unwrap_or_default();
    if !bs["backends"]
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["group"].as_str() == Some(url.as_str())))
    {
        return Err(GcpError::invalid_field(
            "resource.group",
            g,
            "The group is not a backend of this service.",
        ));
    }
    let gpath = state.path_of(&url).unwrap_or_default();
    let statuses: Vec<Value> = if coll == "networkEndpointGroups" {
        let neg = state.resources.get(&gpath).cloned().unwrap_or_default();
        let firewalls = state
            .resources
            .values()
            .filter(|r| r["kind"] == "compute#firewall");
        let lookup = |p: &str| state.resources.get(p);
        state.neg_endpoints.get(&gpath).into_iter().flatten().map(|e| {
            let health = super::health::endpoint_state(lookup, firewalls.clone(), &bs, &neg, e);
            let mut s = json!({"instance": e["instance"], "ipAddress": e["ipAddress"], "healthState": health});
            if let Some(p) = e.get("port") {
                s["port"] = p.clone();
            }
            s
        }).collect()
    } else {
        state
            .group_members
            .get(&gpath)
            .into_iter()
            .flatten()
            .map(|m| {
                let ip = state
                    .get_url(m)
                    .and_then(|i| {
                        i["networkInterfaces"][0]["networkIP"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                json!({"instance": m, "ipAddress": ip, "healthState": "HEALTHY"})
            })
            .collect()
    };
    Ok(json!({"kind": "compute#backendServiceGroupHealth", "healthStatus": statuses}))
}
