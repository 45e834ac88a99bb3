//! Load balancing: health checks, backend services (NEG and instance-group backends), URL
//! maps, target HTTP(S) proxies, SSL certificates, forwarding rules (global and regional),
//! and unmanaged instance groups. References must exist; what a resource references cannot
//! be deleted while it does (see `GcpState::delete`).

use serde_json::{Map, Value, json};

use super::network::{self, str_of};
use super::{Call, GcpError, GcpResult, GcpState, Scope};

/// A reference to a resource of `coll`, which may be global or regional: the scope comes
/// from the reference, bare names from `scope`.
fn existing_any(state: &GcpState, r: &str, coll: &str, scope: &Scope) -> GcpResult<String> {
    let default = match scope {
        Scope::Zone(z) => Scope::Region(state.region_of_zone(z).unwrap_or_default().to_string()),
        s => s.clone(),
    };
    state.existing(r, coll, &default)
}

/// The collection a reference names (`.../networkEndpointGroups/x` -> that).
pub(super) fn coll_of(r: &str) -> Option<&str> {
    let mut it = r.trim_end_matches('/').rsplit('/');
    it.next()?;
    it.next()
}

fn same_scope_kind(url: &str, scope: &Scope) -> bool {
    match scope {
        Scope::Global => url.contains("/global/"),
        Scope::Region(r) => url.contains(&format!("/regions/{r}/")),
        Scope::Zone(z) => url.contains(&format!("/zones/{z}/")),
    }
}

pub(super) fn prepare(
    state: &mut GcpState,
    scope: &Scope,
    coll: &str,
    obj: &mut Map<String, Value>,
    old: Option<&Value>,
) -> GcpResult<()> {
    match coll {
        "healthChecks" => health_check(obj),
        "backendServices" => backend_service(state, scope, obj, old),
        "urlMaps" => url_map(state, scope, obj, old),
        "targetHttpProxies" | "targetHttpsProxies" => proxy(state, scope, coll, obj),
        "sslCertificates" => ssl_certificate(obj),
        "forwardingRules" => forwarding_rule(state, scope, obj),
        "instanceGroups" => super::groups::instance_group(state, scope, obj),
        _ => Ok(()),
    }
}

fn health_check(obj: &mut Map<String, Value>) -> GcpResult<()> {
    let t = str_of(obj, "type")
        .ok_or_else(|| GcpError::required("resource.type"))?
        .to_string();
    let field = super::health::spec_field(&t).ok_or_else(|| {
        GcpError::invalid_field(
            "resource.type",
            &t,
            "Must be TCP, HTTP, HTTPS, HTTP2, SSL or GRPC.",
        )
    })?;
    let mut spec = obj
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !spec.contains_key("port") && !spec.contains_key("portName") {
        spec.insert(
            "portSpecification".into(),
            json!(
                spec.get("portSpecification")
                    .cloned()
                    .unwrap_or(json!("USE_FIXED_PORT"))
            ),
        );
        if spec["portSpecification"] == "USE_FIXED_PORT" {
            spec.insert("port".into(), json!(if t == "HTTPS" { 443 } else { 80 }));
        }
    }
    if matches!(t.as_str(), "HTTP" | "HTTPS" | "HTTP2") {
        spec.entry("requestPath").or_insert(json!("/"));
        if spec["requestPath"]
            .as_str()
            .is_some_and(|p| !p.starts_with('/'))
        {
            return Err(GcpError::invalid_field(
                &format!("resource.{field}.requestPath"),
                spec["requestPath"].as_str().unwrap_or(""),
                "Must start with '/'.",
            ));
        }
    }
    obj.insert(field.into(), Value::Object(spec));
    let interval = obj
        .get("checkIntervalSec")
        .and_then(Value::as_u64)
        .unwrap_or(5);
    let timeout = obj.get("timeoutSec").and_then(Value::as_u64).unwrap_or(5);
    if timeout > interval {
        return Err(GcpError::invalid_field(
            "resource.timeoutSec",
            &timeout.to_string(),
            "The timeout must not exceed the check interval.",
        ));
    }
    obj.insert("checkIntervalSec".into(), json!(interval));
    obj.insert("timeoutSec".into(), json!(timeout));
    obj.entry("healthyThreshold").or_insert(json!(2));
    obj.entry("unhealthyThreshold").or_insert(json!(2));
    Ok(())
}

fn backend_service(
    state: &mut GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
    old: Option<&Value>,
) -> GcpResult<()> {
    let regional = matches!(scope, Scope::Region(_));
    let scheme = str_of(obj, "loadBalancingScheme")
        .unwrap_or("EXTERNAL")
        .to_string();
    let passthrough = regional && matches!(scheme.as_str(), "INTERNAL" | "EXTERNAL");
    let allowed = if regional {
        [
            "INTERNAL",
            "EXTERNAL",
            "INTERNAL_MANAGED",
            "EXTERNAL_MANAGED",
        ]
        .as_slice()
    } else {
        [
            "EXTERNAL",
            "EXTERNAL_MANAGED",
            "INTERNAL_MANAGED",
            "INTERNAL_SELF_MANAGED",
        ]
        .as_slice()
    };
    if !allowed.contains(&scheme.as_str()) {
        return Err(GcpError::invalid_field(
            "resource.loadBalancingScheme",
            &scheme,
            "Not a scheme of this kind of backend service.",
        ));
    }
    obj.insert("loadBalancingScheme".into(), json!(scheme));
    obj.entry("protocol")
        .or_insert(json!(if passthrough { "TCP" } else { "HTTP" }));
    let mut hcs = Vec::new();
    for (i, h) in obj
        .get("healthChecks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let r = h.as_str().ok_or_else(|| {
            GcpError::invalid_field(
                &format!("resource.healthChecks[{i}]"),
                &h.to_string(),
                "Must be a URL.",
            )
        })?;
        hcs.push(json!(existing_any(state, r, "healthChecks", scope)?));
    }
    if hcs.len() > 1 {
        return Err(GcpError::invalid_field(
            "resource.healthChecks",
            &hcs.len().to_string(),
            "At most one health check.",
        ));
    }
    obj.insert("healthChecks".into(), Value::Array(hcs));
    let mut backends = Vec::new();
    let mut groups = Vec::new();
    for (i, b) in obj
        .get("backends")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = format!("resource.backends[{i}].group");
        let r = b["group"].as_str().ok_or_else(|| GcpError::required(&f))?;
        let coll = coll_of(r).unwrap_or_default();
        if !matches!(coll, "networkEndpointGroups" | "instanceGroups") {
            return Err(GcpError::invalid_field(
                &f,
                r,
                "A backend is a network endpoint group or an instance group.",
            ));
        }
        let url = state.existing(r, coll, &Scope::Global)?;
        if groups.contains(&url) {
            return Err(GcpError::invalid_field(&f, r, "Duplicate backend group."));
        }
        groups.push(url.clone());
        let mut b = b.as_object().cloned().unwrap_or_default();
        b.insert("group".into(), json!(url));
        let default_mode = if coll == "networkEndpointGroups" {
            let t = state
                .get_url(&url)
                .and_then(|n| n["networkEndpointType"].as_str())
                .unwrap_or("GCE_VM_IP_PORT")
                .to_string();
            match (passthrough, t.as_str()) {
                (true, "GCE_VM_IP") | (false, "GCE_VM_IP_PORT") => {}
                _ => {
                    return Err(GcpError::invalid_field(
                        &f,
                        r,
                        &format!(
                            "A {t} network endpoint group cannot back a {} backend service.",
                            if passthrough { "passthrough" } else { "proxy" }
                        ),
                    ));
                }
            }
            if passthrough { "CONNECTION" } else { "RATE" }
        } else if passthrough {
            "CONNECTION"
        } else {
            "UTILIZATION"
        };
        let mode = b
            .get("balancingMode")
            .and_then(Value::as_str)
            .unwrap_or(default_mode)
            .to_string();
        if mode == "RATE"
            && !["maxRate", "maxRatePerInstance", "maxRatePerEndpoint"]
                .iter()
                .any(|k| b.contains_key(*k))
        {
            b.insert("maxRatePerEndpoint".into(), json!(1e9));
        }
        b.insert("balancingMode".into(), json!(mode));
        b.entry("capacityScaler").or_insert(json!(1.0));
        backends.push(Value::Object(b));
    }
    obj.insert("backends".into(), Value::Array(backends));
    obj.entry("timeoutSec").or_insert(json!(30));
    obj.entry("connectionDraining")
        .or_insert(json!({"drainingTimeoutSec": 0}));
    obj.entry("sessionAffinity").or_insert(json!("NONE"));
    if !passthrough {
        obj.entry("port").or_insert(json!(80));
        obj.entry("portName").or_insert(json!("http"));
    }
    if old.is_none() {
        obj.insert("fingerprint".into(), json!(state.next_fingerprint()));
    }
    Ok(())
}

fn url_map(
    state: &mut GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
    old: Option<&Value>,
) -> GcpResult<()> {
    let bs = |state: &GcpState, r: &str| -> GcpResult<String> {
        let url = existing_any(state, r, "backendServices", scope)?;
        if !same_scope_kind(&url, scope) {
            return Err(GcpError::invalid_field(
                "resource.defaultService",
                r,
                "The backend service must be in the URL map's scope.",
            ));
        }
        Ok(url)
    };
    let d = str_of(obj, "defaultService")
        .ok_or_else(|| GcpError::required("resource.defaultService"))?
        .to_string();
    obj.insert("defaultService".into(), json!(bs(state, &d)?));
    let mut matchers = obj
        .get("pathMatchers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut names = Vec::new();
    for m in matchers.iter_mut() {
        let name = m["name"]
            .as_str()
            .ok_or_else(|| GcpError::required("resource.pathMatchers[].name"))?
            .to_string();
        names.push(name);
        if let Some(ds) = m["defaultService"].as_str().map(str::to_string) {
            m["defaultService"] = json!(bs(state, &ds)?);
        }
        if let Some(rules) = m["pathRules"].as_array_mut() {
            for r in rules {
                let s = r["service"]
                    .as_str()
                    .ok_or_else(|| {
                        GcpError::required("resource.pathMatchers[].pathRules[].service")
                    })?
                    .to_string();
                r["service"] = json!(bs(state, &s)?);
            }
        }
    }
    obj.insert("pathMatchers".into(), Value::Array(matchers));
    for h in obj
        .get("hostRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let pm = h["pathMatcher"].as_str().unwrap_or_default();
        if !names.iter().any(|n| n == pm) {
            return Err(GcpError::invalid_field(
                "resource.hostRules[].pathMatcher",
                pm,
                "No path matcher has this name.",
            ));
        }
    }
    if old.is_none() {
        obj.insert("fingerprint".into(), json!(state.next_fingerprint()));
    }
    Ok(())
}

fn proxy(
    state: &GcpState,
    scope: &Scope,
    coll: &str,
    obj: &mut Map<String, Value>,
) -> GcpResult<()> {
    let um = str_of(obj, "urlMap")
        .ok_or_else(|| GcpError::required("resource.urlMap"))?
        .to_string();
    let url = existing_any(state, &um, "urlMaps", scope)?;
    obj.insert("urlMap".into(), json!(url));
    if coll == "targetHttpsProxies" {
        let certs = ssl_certificates(state, scope, obj.get("sslCertificates"))?;
        obj.insert("sslCertificates".into(), certs);
    }
    Ok(())
}

/// A proxy's certificates (1 to 15), each resolved to its URL.
fn ssl_certificates(state: &GcpState, scope: &Scope, certs: Option<&Value>) -> GcpResult<Value> {
    let certs = certs.and_then(Value::as_array).cloned().unwrap_or_default();
    if certs.is_empty() || certs.len() > 15 {
        return Err(GcpError::invalid_field(
            "resource.sslCertificates",
            &certs.len().to_string(),
            "Between 1 and 15 certificates.",
        ));
    }
    let mut out = Vec::new();
    for c in &certs {
        let reference = c.as_str().unwrap_or_default();
        out.push(json!(existing_any(
            state,
            reference,
            "sslCertificates",
            scope
        )?));
    }
    Ok(Value::Array(out))
}

fn ssl_certificate(obj: &mut Map<String, Value>) -> GcpResult<()> {
    let t = str_of(obj, "type")
        .unwrap_or(if obj.contains_key("managed") {
            "MANAGED"
        } else {
            "SELF_MANAGED"
        })
        .to_string();
    match t.as_str() {
        "SELF_MANAGED" => {
            let cert = str_of(obj, "certificate")
                .ok_or_else(|| GcpError::required("resource.certificate"))?
                .to_string();
            if !cert.contains("-----BEGIN CERTIFICATE-----") {
                return Err(GcpError::invalid_field(
                    "resource.certificate",
                    "",
                    "The certificate is not PEM.",
                ));
            }
            // The key is checked against the certificate, then never stored or shown.
            let key = match obj.remove("privateKey") {
                Some(Value::String(k)) => k,
                _ => return Err(GcpError::required("resource.privateKey")),
            };
            if let Err(e) = cloudnet_tlsca::check_key_pair(&cert, &key) {
                return Err(GcpError::invalid_field(
                    "resource.privateKey",
                    "",
                    &format!(
                        "The SSL key could not be parsed or does not match the certificate: {e}."
                    ),
                ));
            }
        }
        "MANAGED" => {
            let domains = obj
                .get("managed")
                .and_then(|m| m.get("domains"))
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if domains == 0 {
                return Err(GcpError::required("resource.managed.domains"));
            }
            if let Some(m) = obj.get_mut("managed") {
                m["status"] = json!("PROVISIONING");
            }
        }
        _ => {
            return Err(GcpError::invalid_field(
                "resource.type",
                &t,
                "Must be SELF_MANAGED or MANAGED.",
            ));
        }
    }
    obj.insert("type".into(), json!(t));
    Ok(())
}

fn forwarding_rule(state: &GcpState, scope: &Scope, obj: &mut Map<String, Value>) -> GcpResult<()> {
    let target = str_of(obj, "target").map(str::to_string);
    let bs = str_of(obj, "backendService").map(str::to_string);
    let scheme = str_of(obj, "loadBalancingScheme")
        .unwrap_or("EXTERNAL")
        .to_string();
    obj.insert("loadBalancingScheme".into(), json!(scheme));
    obj.entry("IPProtocol").or_insert(json!("TCP"));
    match (&target, &bs, scope) {
        (Some(t), None, _) => {
            let coll = coll_of(t).unwrap_or_default();
            if !matches!(coll, "targetHttpProxies" | "targetHttpsProxies") {
                return Err(GcpError::invalid_field(
                    "resource.target",
                    t,
                    "The target must be a target HTTP or HTTPS proxy.",
                ));
            }
            let url = existing_any(state, t, coll, scope)?;
            obj.insert("target".into(), json!(url));
            let default_port = if coll == "targetHttpsProxies" {
                "443-443"
            } else {
                "80-80"
            };
            let pr = str_of(obj, "portRange").unwrap_or(default_port).to_string();
            let pr = if pr.contains('-') {
                pr
            } else {
                format!("{pr}-{pr}")
            };
            obj.insert("portRange".into(), json!(pr));
        }
        (None, Some(b), Scope::Region(_)) => {
            let url = existing_any(state, b, "backendServices", scope)?;
            let bsv = state.get_url(&url).cloned().unwrap_or_default();
            if bsv["loadBalancingScheme"].as_str() != Some(scheme.as_str()) {
                return Err(GcpError::invalid_field(
                    "resource.backendService",
                    b,
                    "The backend service's loadBalancingScheme differs from the forwarding rule's.",
                ));
            }
            obj.insert("backendService".into(), json!(url));
            let ports = obj
                .get("ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let all = obj.get("allPorts").and_then(Value::as_bool) == Some(true);
            if ports > 5 {
                return Err(GcpError::invalid_field(
                    "resource.ports",
                    &ports.to_string(),
                    "At most 5 ports; use allPorts.",
                ));
            }
            if ports == 0 && !all && !obj.contains_key("portRange") {
                return Err(GcpError::required("resource.ports"));
            }
        }
        _ => {
            return Err(GcpError::invalid_field(
                "resource",
                "",
                "Exactly one of target and backendService (regional rules only) must be given.",
            ));
        }
    }
    let internal = scheme.starts_with("INTERNAL");
    if internal {
        let Scope::Region(region) = scope else {
            return Err(GcpError::invalid_field(
                "resource.loadBalancingScheme",
                &scheme,
                "Internal global forwarding rules are not served by this cloud.",
            ));
        };
        let sub = str_of(obj, "subnetwork")
            .ok_or_else(|| GcpError::required("resource.subnetwork"))?
            .to_string();
        let (url, subnet) = network::subnet_in_region(state, &sub, region, "resource.subnetwork")?;
        obj.insert("subnetwork".into(), json!(url));
        obj.insert("network".into(), subnet["network"].clone());
    }
    let ip = match str_of(obj, "IPAddress").map(str::to_string) {
        Some(a) if a.parse::<std::net::Ipv4Addr>().is_ok() => a,
        Some(r) => {
            let url = state.existing(&r, "addresses", scope)?;
            let addr = state.get_url(&url).cloned().unwrap_or_default();
            if addr["users"].as_array().is_some_and(|u| !u.is_empty()) {
                return Err(GcpError::in_use(
                    &state.rel(&state.path_of(&url).unwrap_or_default()),
                    addr["users"][0].as_str().unwrap_or_default(),
                ));
            }
            addr["address"].as_str().unwrap_or_default().to_string()
        }
        None if internal => {
            let sub = str_of(obj, "subnetwork").unwrap_or_default().to_string();
            let ranges = state
                .get_url(&sub)
                .and_then(network::ranges_of)
                .ok_or_else(|| GcpError::not_found(&sub))?;
            super::alias::free_address(ranges.primary, &network::taken_in_subnet(state, &sub, None))
                .ok_or_else(|| {
                    GcpError::new(
                        400,
                        "IP_SPACE_EXHAUSTED",
                        "The subnetwork has no free address.",
                    )
                })?
                .to_string()
        }
        None => network::allocate_external(state, scope)?.to_string(),
    };
    obj.insert("IPAddress".into(), json!(ip));
    obj.entry("networkTier").or_insert(json!("PREMIUM"));
    obj.insert(
        "labelFingerprint".into(),
        json!(super::fingerprint(ip.len() as u64)),
    );
    Ok(())
}

/// The reserved address (in the rule's scope) a forwarding rule uses, if any.
fn address_of_rule(state: &GcpState, rule_path: &str) -> Option<String> {
    let rule = state.resources.get(rule_path)?;
    let ip = rule["IPAddress"].as_str()?;
    let scope_prefix = rule_path.split("/forwardingRules/").next()?;
    let prefix = format!("{scope_prefix}/addresses/");
    state
        .resources
        .iter()
        .find(|(p, a)| p.starts_with(&prefix) && a["address"].as_str() == Some(ip))
        .map(|(p, _)| p.clone())
}

pub(super) fn claim_address(state: &mut GcpState, rule_path: &str) {
    let user = state.url(rule_path);
    if let Some(a) = address_of_rule(state, rule_path)
        && let Some(addr) = state.resources.get_mut(&a)
    {
        addr["status"] = json!("IN_USE");
        addr["users"] = json!([user]);
    }
}

pub(super) fn release_address(state: &mut GcpState, rule_path: &str) {
    if let Some(a) = address_of_rule(state, rule_path)
        && let Some(addr) = state.resources.get_mut(&a)
    {
        addr["status"] = json!("RESERVED");
        addr.as_object_mut().map(|o| o.remove("users"));
    }
}

pub(super) fn proxy_verb(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    coll: &str,
    path: &str,
    verb: &str,
) -> GcpResult<Value> {
    let body = call.body.clone().unwrap_or(json!({}));
    let (field, value) = match verb {
        "setUrlMap" => {
            let r = body["urlMap"]
                .as_str()
                .ok_or_else(|| GcpError::required("resource.urlMap"))?;
            ("urlMap", json!(existing_any(state, r, "urlMaps", scope)?))
        }
        "setSslCertificates" if coll == "targetHttpsProxies" => (
            "sslCertificates",
            ssl_certificates(state, scope, body.get("sslCertificates"))?,
        ),
        _ => return Err(super::unknown(call)),
    };
    if let Some(p) = state.resources.get_mut(path) {
        p[field] = value;
    }
    Ok(state.operation(call, scope, verb, path))
}

pub(super) fn set_target(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    path: &str,
) -> GcpResult<Value> {
    let body = call.body.clone().unwrap_or(json!({}));
    let t = body["target"]
        .as_str()
        .ok_or_else(|| GcpError::required("resource.target"))?;
    let coll = coll_of(t).unwrap_or_default();
    if !matches!(coll, "targetHttpProxies" | "targetHttpsProxies") {
        return Err(GcpError::invalid_field(
            "resource.target",
            t,
            "The target must be a target HTTP or HTTPS proxy.",
        ));
    }
    let url = existing_any(state, t, coll, scope)?;
    if let Some(r) = state.resources.get_mut(path) {
        r["target"] = json!(url);
    }
    Ok(state.operation(call, scope, "setTarget", path))
}
