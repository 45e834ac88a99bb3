//! Application gateways (v2): one gateway IP configuration in a subnet, frontends (a public
//! IP, or a private address from [`super::ipam`]), frontend ports, listeners, request routing
//! rules (Basic or path-based, with a priority from api-version 2021-08-01 on), URL path
//! maps with path rules, redirect configurations, backend pools, backend HTTP settings and
//! probes. Every reference between them must name one of the gateway's own parts
//! (`InvalidResourceReference`), as AGIC's whole-gateway PUTs rely on; a rule, path rule or
//! path map default goes to a pool with its settings or to a redirect, not both. The gateway
//! subnet is the gateway's alone (`ApplicationGatewaySubnetCannotBeUsedByOtherResources`).

use serde_json::{Value, json};

use super::ipam::assign_frontend;
use super::network::subnet_users;
use super::{AzError, AzResult, AzureState, child_array, child_ids, own_ref, props, ref_id};

/// From this api-version on a request routing rule needs a priority.
pub const PRIORITY_REQUIRED_FROM: &str = "2021-08-01";

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
    api_version: &str,
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
        Some(subnet) if s.lookup(subnet).is_some() => {
            let prefix = format!("{}/", id.to_lowercase());
            if let Some(other) = subnet_users(s, subnet)
                .into_iter()
                .find(|u| !u.to_lowercase().starts_with(&prefix))
            {
                return Err(AzError::bad(
                    "ApplicationGatewaySubnetCannotBeUsedByOtherResources",
                    format!(
                        "Subnet {subnet} cannot be used for application gateway {id} since it has other resources deployed in it: {other}."
                    ),
                ));
            }
        }
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
    check_parts(new, api_version >= PRIORITY_REQUIRED_FROM)?;
    Ok(())
}

/// Where a rule, path rule or path map default sends requests: a pool with its settings, or
/// a redirect; `prefix` is `default` for a path map's default.
fn check_target(
    holder: &Value,
    prefix: &str,
    pools: &[String],
    settings: &[String],
    redirects: &[String],
) -> AzResult<()> {
    let field = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            let mut c = f.chars();
            let first = c.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
            format!("{prefix}{first}{}", c.as_str())
        }
    };
    let (pool, st, redirect) = (
        field("backendAddressPool"),
        field("backendHttpSettings"),
        field("redirectConfiguration"),
    );
    let p = &holder["properties"];
    let by = holder["id"].as_str().unwrap_or_default();
    let to_pool = ref_id(p, &pool).is_some() || ref_id(p, &st).is_some();
    let to_redirect = ref_id(p, &redirect).is_some();
    if to_pool && to_redirect {
        return Err(invalid(format!(
            "{by} has both a backend ({pool}) and a redirect configuration ({redirect}); it can have one of them."
        )));
    }
    if to_redirect {
        return own(holder, &redirect, redirects, true);
    }
    own(holder, &pool, pools, true)?;
    own(holder, &st, settings, true)
}

fn check_settings(st: &Value, probes: &[String]) -> AzResult<()> {
    own(st, "probe", probes, false)?;
    let p = &st["properties"];
    let sid = st["id"].as_str().unwrap_or_default();
    let port = p["port"].as_u64().unwrap_or(0);
    let protocol = p["protocol"].as_str().unwrap_or_default();
    let timeout = p["requestTimeout"].as_u64().unwrap_or(30);
    let affinity = p["cookieBasedAffinity"].as_str().unwrap_or("Disabled");
    let path_ok = p["path"].as_str().is_none_or(|x| x.starts_with('/'));
    let drain = &p["connectionDraining"];
    let drain_ok =
        drain.is_null() || (1..=3600).contains(&drain["drainTimeoutInSec"].as_u64().unwrap_or(0));
    if !(1..=65535).contains(&port)
        || !matches!(protocol, "Http" | "Https")
        || !(1..=86_400).contains(&timeout)
        || !matches!(affinity, "Enabled" | "Disabled")
        || !path_ok
        || !drain_ok
    {
        return Err(invalid(format!(
            "Backend HTTP settings {sid} need a port from 1 to 65535, protocol Http or Https, a requestTimeout from 1 to 86400, cookieBasedAffinity Enabled or Disabled, a path starting with '/' and a drainTimeoutInSec from 1 to 3600."
        )));
    }
    Ok(())
}

fn check_listener(
    l: &Value,
    fronts: &[String],
    ports: &[String],
    certs: &[String],
) -> AzResult<()> {
    own(l, "frontendIPConfiguration", fronts, true)?;
    own(l, "frontendPort", ports, true)?;
    let p = &l["properties"];
    let lid = l["id"].as_str().unwrap_or_default();
    let protocol = p["protocol"].as_str().unwrap_or_default();
    if !matches!(protocol, "Http" | "Https") {
        return Err(invalid(format!(
            "Listener {lid} has protocol '{protocol}'; it must be Http or Https."
        )));
    }
    own(l, "sslCertificate", certs, protocol == "Https")?;
    let names = p["hostNames"].as_array().map_or(0, Vec::len);
    if names > 5 || (names > 0 && p["hostName"].as_str().is_some()) {
        return Err(invalid(format!(
            "Listener {lid} may have at most 5 hostNames, and not both hostName and hostNames."
        )));
    }
    Ok(())
}

fn check_parts(new: &Value, priority_required: bool) -> AzResult<()> {
    let fronts = child_ids(new, "frontendIPConfigurations");
    let ports = child_ids(new, "frontendPorts");
    let certs = child_ids(new, "sslCertificates");
    let pools = child_ids(new, "backendAddressPools");
    let settings = child_ids(new, "backendHttpSettingsCollection");
    let probes = child_ids(new, "probes");
    let listeners = child_ids(new, "httpListeners");
    let maps = child_ids(new, "urlPathMaps");
    let redirects = child_ids(new, "redirectConfigurations");
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
        check_settings(st, &probes)?;
    }
    for l in child_array(new, "httpListeners").into_iter().flatten() {
        check_listener(l, &fronts, &ports, &certs)?;
    }
    for r in child_array(new, "redirectConfigurations")
        .into_iter()
        .flatten()
    {
        let rid = r["id"].as_str().unwrap_or_default();
        let p = &r["properties"];
        let to_listener = ref_id(p, "targetListener").is_some();
        if to_listener == p["targetUrl"].as_str().is_some()
            || !matches!(
                p["redirectType"].as_str(),
                Some("Permanent" | "Found" | "SeeOther" | "Temporary")
            )
        {
            return Err(invalid(format!(
                "Redirect configuration {rid} needs a redirectType (Permanent, Found, SeeOther, Temporary) and either a targetListener or a targetUrl."
            )));
        }
        own(r, "targetListener", &listeners, false)?;
    }
    for m in child_array(new, "urlPathMaps").into_iter().flatten() {
        check_target(m, "default", &pools, &settings, &redirects)?;
        for r in m["properties"]["pathRules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut r = r.clone();
            if r["id"].is_null() {
                r["id"] = m["id"].clone();
            }
            check_target(&r, "", &pools, &settings, &redirects)?;
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
            Some("Basic") => check_target(r, "", &pools, &settings, &redirects)?,
            Some("PathBasedRouting") => own(r, "urlPathMap", &maps, true)?,
            other => {
                return Err(invalid(format!(
                    "Request routing rule {rid} has rule type {other:?}; it must be Basic or PathBasedRouting."
                )));
            }
        }
        let priority = r["properties"]["priority"].as_u64().unwrap_or(0);
        if priority == 0 && !priority_required {
            continue;
        }
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
