//! Application gateways (v2): one gateway IP configuration in a subnet, frontends (a public
//! IP, or a private address from [`super::ipam`]), frontend ports, listeners, request routing
//! rules (Basic or path-based, with a priority), URL path maps with path rules, backend
//! pools, backend HTTP settings and probes. Every reference between them must name one of
//! the gateway's own parts (`InvalidResourceReference`), as AGIC's whole-gateway PUTs rely on.

use serde_json::{Value, json};

use super::ipam::assign_frontend;
use super::{AzError, AzResult, AzureState, child_array, child_ids, own_ref, props, ref_id};

/// Listeners per gateway (v2).
pub const MAX_LISTENERS: usize = 200;

/// `holder.properties[field].id` must be one of the gateway's `allowed` parts.
fn own(holder: &Value, field: &str, allowed: &[String], required: bool) -> AzResult<()> {
    own_ref(holder, field, allowed, required, "")
}

fn invalid(message: String) -> AzError {
    AzError::bad("InvalidRequestFormat", message)
}

pub(super) fn prepare(
    s: &mut AzureState,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    let key = id.to_lowercase();
    let sku = new["properties"]["sku"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !matches!(sku.as_str(), "Standard_v2" | "WAF_v2") {
        return Err(invalid(format!(
            "Application gateway {id} needs properties.sku.name Standard_v2 or WAF_v2, not '{sku}'."
        )));
    }
    let gw = child_array(new, "gatewayIPConfigurations")
        .cloned()
        .unwrap_or_default();
    if gw.len() != 1 {
        return Err(invalid(format!(
            "Application gateway {id} needs exactly one gateway IP configuration."
        )));
    }
    match ref_id(&gw[0]["properties"], "subnet") {
        Some(subnet) if s.lookup(subnet).is_some() => {}
        Some(subnet) => return Err(AzError::invalid_reference(subnet, id)),
        None => {
            return Err(invalid(format!(
                "The gateway IP configuration of {id} must reference a subnet."
            )));
        }
    }
    let mut fronts = child_array(new, "frontendIPConfigurations")
        .cloned()
        .unwrap_or_default();
    let olds = old.and_then(|o| child_array(o, "frontendIPConfigurations"));
    for f in &mut fronts {
        let fid = f["id"].as_str().unwrap_or_default().to_string();
        if let Some(pip) = ref_id(&f["properties"], "publicIPAddress") {
            if s.lookup(pip).is_none() {
                return Err(AzError::invalid_reference(pip, &fid));
            }
        } else if let Some(subnet) = ref_id(&f["properties"], "subnet").map(str::to_string) {
            assign_frontend(s, id, &key, f, &subnet, olds)?;
        } else {
            return Err(invalid(format!(
                "Frontend IP configuration {fid} must reference a public IP address or a subnet."
            )));
        }
    }
    props(new).insert("frontendIPConfigurations".into(), Value::Array(fronts));
    if let Some(pm) = new["properties"]
        .get_mut("urlPathMaps")
        .and_then(Value::as_array_mut)
    {
        // Path rules are children of their path map: give them ids too.
        for m in pm {
            let mid = m["id"].as_str().unwrap_or_default().to_string();
            if let Some(rules) = m["properties"]
                .get_mut("pathRules")
                .and_then(Value::as_array_mut)
            {
                for r in rules {
                    let name = r["name"].as_str().unwrap_or_default().to_string();
                    r["id"] = json!(format!("{mid}/pathRules/{name}"));
                }
            }
        }
    }
    // Certificates: the key material goes in, never out.
    if let Some(certs) = new["properties"]
        .get_mut("sslCertificates")
        .and_then(Value::as_array_mut)
    {
        for c in certs {
            let p = props(c);
            if p.remove("data").is_some() {
                p.insert("publicCertData".into(), json!("MIIB-mockcloud"));
            }
            p.remove("password");
        }
    }
    check_parts(new)?;
    Ok(())
}

fn check_parts(new: &Value) -> AzResult<()> {
    let fronts = child_ids(new, "frontendIPConfigurations");
    let ports = child_ids(new, "frontendPorts");
    let certs = child_ids(new, "sslCertificates");
    let pools = child_ids(new, "backendAddressPools");
    let settings = child_ids(new, "backendHttpSettingsCollection");
    let probes = child_ids(new, "probes");
    let listeners = child_ids(new, "httpListeners");
    let maps = child_ids(new, "urlPathMaps");
    if listeners.len() > MAX_LISTENERS {
        return Err(AzError::bad(
            "ApplicationGatewayListenerLimitReached",
            format!(
                "An application gateway can have at most {MAX_LISTENERS} listeners; this one has {}.",
                listeners.len()
            ),
        ));
    }
    for p in child_array(new, "probes").into_iter().flatten() {
        let path = p["properties"]["path"].as_str().unwrap_or_default();
        let host_ok = p["properties"]["host"].as_str().is_some()
            || p["properties"]["pickHostNameFromBackendHttpSettings"].as_bool() == Some(true);
        if !path.starts_with('/') || !host_ok {
            return Err(invalid(format!(
                "Probe {} needs a path starting with '/' and a host (or pickHostNameFromBackendHttpSettings).",
                p["id"].as_str().unwrap_or_default()
            )));
        }
    }
    for st in child_array(new, "backendHttpSettingsCollection")
        .into_iter()
        .flatten()
    {
        own(st, "probe", &probes, false)?;
    }
    for l in child_array(new, "httpListeners").into_iter().flatten() {
        own(l, "frontendIPConfiguration", &fronts, true)?;
        own(l, "frontendPort", &ports, true)?;
        let https = l["properties"]["protocol"].as_str() == Some("Https");
        own(l, "sslCertificate", &certs, https)?;
    }
    for m in child_array(new, "urlPathMaps").into_iter().flatten() {
        own(m, "defaultBackendAddressPool", &pools, false)?;
        own(m, "defaultBackendHttpSettings", &settings, false)?;
        for r in m["properties"]["pathRules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut r = r.clone();
            if r["id"].is_null() {
                r["id"] = m["id"].clone();
            }
            own(&r, "backendAddressPool", &pools, true)?;
            own(&r, "backendHttpSettings", &settings, true)?;
        }
    }
    let mut priorities = std::collections::BTreeSet::new();
    for r in child_array(new, "requestRoutingRules")
        .into_iter()
        .flatten()
    {
        let rid = r["id"].as_str().unwrap_or_default();
        own(r, "httpListener", &listeners, true)?;
        match r["properties"]["ruleType"].as_str() {
            Some("Basic") => {
                own(r, "backendAddressPool", &pools, true)?;
                own(r, "backendHttpSettings", &settings, true)?;
            }
            Some("PathBasedRouting") => own(r, "urlPathMap", &maps, true)?,
            other => {
                return Err(invalid(format!(
                    "Request routing rule {rid} has rule type {other:?}; it must be Basic or PathBasedRouting."
                )));
            }
        }
        let priority = r["properties"]["priority"].as_u64().unwrap_or(0);
        if !(1..=20_000).contains(&priority) {
            return Err(AzError::bad(
                "ApplicationGatewayRequestRoutingRulePriorityCannotBeEmpty",
                format!("Request routing rule {rid} needs a priority from 1 to 20000."),
            ));
        }
        if !priorities.insert(priority) {
            return Err(AzError::bad(
                "ApplicationGatewayRequestRoutingRulesWithSamePriority",
                format!(
                    "Request routing rule {rid} has priority {priority}, which another rule has."
                ),
            ));
        }
    }
    Ok(())
}
