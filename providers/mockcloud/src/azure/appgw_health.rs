//! `POST .../applicationGateways/{name}/backendhealth`: the health of every member of every
//! backend pool, per backend HTTP settings that a rule, path rule or path map default pairs
//! with the pool, in ARM's shape (`backendAddressPools[].backendHttpSettingsCollection[]
//! .servers[] {address, health, healthProbeLog}`), answered through an asynchronous
//! operation (202 and `Location`, as ARM answers this action).
//!
//! Health is decided as the ELBv2 mock decides a target's: a member is `Unknown` for
//! [`MemberHealth::delay_ms`] after it entered its pool (the probe has not finished; the ELBv2
//! mock's `initial`), then `Healthy`, or `Unhealthy` while a fault marks its address so
//! ([`super::AzureState::set_member_unhealthy`]). A pool no rule uses has no settings
//! entries, so no servers (ARM shows nothing probed for it either).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{AzResult, AzureState, Call, Reply, child_array, ops, ref_id};

/// How long a new member stays `Unknown` by default (the ELBv2 mock's health check delay).
pub const DEFAULT_DELAY_MS: u64 = 5_000;

/// When each gateway member entered its pool, and the addresses forced unhealthy.
#[derive(Debug, Clone)]
pub struct MemberHealth {
    /// `"<gateway key>|<pool name, lowercased>|<address>"` -> when it entered the pool (ms).
    since: BTreeMap<String, u64>,
    unhealthy: BTreeSet<String>,
    /// How long a new member stays `Unknown`.
    pub delay_ms: u64,
}

impl Default for MemberHealth {
    fn default() -> Self {
        MemberHealth {
            since: BTreeMap::new(),
            unhealthy: BTreeSet::new(),
            delay_ms: DEFAULT_DELAY_MS,
        }
    }
}

impl MemberHealth {
    pub(super) fn set_unhealthy(&mut self, address: &str, unhealthy: bool) {
        if unhealthy {
            self.unhealthy.insert(address.to_string());
        } else {
            self.unhealthy.remove(address);
        }
    }
}

fn members(gw: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pool in child_array(gw, "backendAddressPools").into_iter().flatten() {
        let name = pool["name"].as_str().unwrap_or_default().to_lowercase();
        for a in pool["properties"]["backendAddresses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(ip) = a["ipAddress"].as_str().or_else(|| a["fqdn"].as_str()) {
                out.push((name.clone(), ip.to_string()));
            }
        }
    }
    out
}

/// Notes when the members of gateway `key` (just written as `gw`) entered their pools: a new
/// member now, one kept keeps its time, one gone is forgotten (a new gateway starts afresh).
pub(super) fn note_members(s: &mut AzureState, key: &str, gw: &Value, now_ms: u64) {
    let prefix = format!("{key}|");
    let mut kept: BTreeMap<String, u64> = BTreeMap::new();
    for (pool, ip) in members(gw) {
        let k = format!("{prefix}{pool}|{ip}");
        let since = s.appgw_health.since.get(&k).copied().unwrap_or(now_ms);
        kept.insert(k, since);
    }
    s.appgw_health.since.retain(|k, _| !k.starts_with(&prefix));
    s.appgw_health.since.extend(kept);
}

/// Forgets the members of a deleted gateway.
pub(super) fn forget(s: &mut AzureState, key: &str) {
    let prefix = format!("{key}|");
    s.appgw_health.since.retain(|k, _| !k.starts_with(&prefix));
}

/// `(pool id, settings id)` pairs the gateway's rules use, in rule order, once each.
fn pairs(gw: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |p: &Value, pool: &str, settings: &str| {
        if let (Some(pool), Some(st)) = (ref_id(p, pool), ref_id(p, settings)) {
            let pair = (pool.to_lowercase(), st.to_string());
            if !out
                .iter()
                .any(|o| o.0 == pair.0 && o.1.eq_ignore_ascii_case(&pair.1))
            {
                out.push(pair);
            }
        }
    };
    for r in child_array(gw, "requestRoutingRules").into_iter().flatten() {
        add(
            &r["properties"],
            "backendAddressPool",
            "backendHttpSettings",
        );
    }
    for m in child_array(gw, "urlPathMaps").into_iter().flatten() {
        let p = &m["properties"];
        add(p, "defaultBackendAddressPool", "defaultBackendHttpSettings");
        for r in p["pathRules"].as_array().into_iter().flatten() {
            add(
                &r["properties"],
                "backendAddressPool",
                "backendHttpSettings",
            );
        }
    }
    out
}

/// The health of the members of gateway `key` (as stored: `gw`) at `now_ms`, in ARM's shape.
fn health(s: &AzureState, key: &str, gw: &Value, now_ms: u64) -> Value {
    let used = pairs(gw);
    let mut pools = Vec::new();
    for pool in child_array(gw, "backendAddressPools").into_iter().flatten() {
        let pid = pool["id"].as_str().unwrap_or_default();
        let name = pool["name"].as_str().unwrap_or_default().to_lowercase();
        let addresses: Vec<String> = pool["properties"]["backendAddresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["ipAddress"].as_str().or_else(|| a["fqdn"].as_str()))
            .map(str::to_string)
            .collect();
        let servers: Vec<Value> = addresses
            .iter()
            .map(|ip| {
                let since = s
                    .appgw_health
                    .since
                    .get(&format!("{key}|{name}|{ip}"))
                    .copied()
                    .unwrap_or(now_ms);
                let (state, log) = if s.appgw_health.unhealthy.contains(ip) {
                    (
                        "Unhealthy",
                        "Cannot connect to backend server. Check whether any NSG/UDR/Firewall is blocking access to the server.",
                    )
                } else if now_ms < since + s.appgw_health.delay_ms {
                    (
                        "Unknown",
                        "The health probe has not completed for this server yet.",
                    )
                } else {
                    ("Healthy", "Success. Received 200 status code")
                };
                json!({"address": ip, "health": state, "healthProbeLog": log})
            })
            .collect();
        let collection: Vec<Value> = used
            .iter()
            .filter(|(p, _)| p.eq_ignore_ascii_case(pid))
            .map(|(_, st)| json!({"backendHttpSettings": {"id": st}, "servers": servers}))
            .collect();
        pools.push(json!({
            "backendAddressPool": {"id": pid},
            "backendHttpSettingsCollection": collection,
        }));
    }
    json!({ "backendAddressPools": pools })
}

/// `POST .../backendhealth` on the existing gateway `key`: 202 and the operation's URLs.
pub(super) fn backend_health(
    s: &mut AzureState,
    call: &Call,
    key: &str,
    gw: &Value,
) -> AzResult<Reply> {
    let answer = health(s, key, gw, call.now_ms);
    let op = ops::begin_action(s, call, "Microsoft.Network", key, answer);
    Ok(Reply {
        status: 202,
        body: None,
        headers: ops::headers(s, &op, call),
    })
}
