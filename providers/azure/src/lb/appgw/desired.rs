//! The pure half of an Application Gateway's `ensure`: the whole gateway a spec describes, as
//! AGIC lays one out.
//!
//! ```text
//!  spec listener (port, protocol, certificates, rules with hosts and paths)
//!    └─ one "site" per set of hosts (host-less rules: the port's catch-all site)
//!         httpListener  listener-<port>[-<hash of hosts>]  hostNames, frontend, port, certificate
//!         requestRoutingRule  rule-...  Basic (no path rules) or PathBasedRouting (urlPathMap paths-...)
//!         priority: sites with hosts first, each port's catch-all last (ARM needs one per rule)
//!  spec group -> backendAddressPool pool-<hash>, backendHttpSettings settings-<hash>, probe probe-<hash>
//!  redirect   -> redirectConfiguration redirect-... to the same hosts' listener on the port
//! ```
//!
//! Pool members are `sync_targets` ([`cloudnet_core::LoadBalancers::sync_targets`])'s: the gateway built here
//! keeps the ones observed.

use std::collections::BTreeMap;

use azure_mgmt_network::models::ApplicationGateway;
use cloudnet_core::{
    Action, BackendGroup, CertificateRef, Error, HealthCheckPort, Listener, LoadBalancerSpec,
    PathMatch, Protocol, Redirect, Result, Scheme, ownership::short_hash,
};
use serde_json::{Value, json};

use super::attributes as attr;
use crate::lb::pool_name;

/// Where the gateway goes and what it is called: the impure inputs of [`desired`].
#[derive(Debug, Clone)]
pub struct Place {
    /// The gateway's ARM ID (its parts' IDs are under it).
    pub id: String,
    pub name: String,
    pub location: String,
    /// The gateway's dedicated subnet.
    pub subnet_id: String,
    /// The public IP of the public frontend.
    pub public_ip_id: String,
}

/// The empty pool a listener's default 404 goes to (AGIC's `defaultaddresspool`).
pub const DEFAULT_POOL: &str = "pool-default";
const DEFAULT_SETTINGS: &str = "settings-default";
pub const PUBLIC_FRONTEND: &str = "frontend-public";
pub const PRIVATE_FRONTEND: &str = "frontend-private";

fn settings_name(key: &str) -> String {
    format!("settings-{}", short_hash(&[key], 12))
}

fn probe_name(key: &str) -> String {
    format!("probe-{}", short_hash(&[key], 12))
}

fn cert_name(r: &str) -> String {
    format!("cert-{}", short_hash(&[r], 12))
}

/// A site's name suffix: `<port>` for the catch-all, `<port>-<hash of hosts>` otherwise.
fn site_suffix(port: u16, hosts: &[String]) -> String {
    if hosts.is_empty() {
        port.to_string()
    } else {
        let joined = hosts.join(",");
        format!("{port}-{}", short_hash(&[&joined], 10))
    }
}

/// The gateway uses its private frontend for listeners (internal scheme or `use-private-ip`).
pub fn private_listeners(spec: &LoadBalancerSpec) -> Result<bool> {
    Ok(spec.scheme == Scheme::Internal || flag(&spec.attributes, attr::USE_PRIVATE_IP)?)
}

fn flag(attrs: &BTreeMap<String, String>, key: &str) -> Result<bool> {
    match attrs.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(Error::invalid(format!("{key}: {v:?} is not true or false"))),
    }
}

fn seconds(attrs: &BTreeMap<String, String>, key: &str, max: u32) -> Result<Option<u32>> {
    match attrs.get(key) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Error::invalid(format!(
                "{key}: {v:?} is not a number of seconds from 1 to {max}"
            ))),
        },
    }
}

/// Azure's path patterns for a path match: `/x` and `/x/*` for a prefix, `None` for `/`
/// (everything: the site's default).
fn azure_paths(p: &PathMatch) -> Result<Option<Vec<String>>> {
    match p {
        PathMatch::Prefix(s) if s.trim_end_matches('/').is_empty() => Ok(None),
        PathMatch::Prefix(s) => {
            let s = s.trim_end_matches('/');
            Ok(Some(vec![s.to_string(), format!("{s}/*")]))
        }
        PathMatch::Exact(s) => Ok(Some(vec![s.clone()])),
        PathMatch::Pattern(s) if s == "/*" || s == "*" => Ok(None),
        PathMatch::Pattern(s) if !s.contains('?') && !s.trim_end_matches('*').contains('*') => {
            Ok(Some(vec![s.clone()]))
        }
        PathMatch::Pattern(s) => Err(Error::invalid(format!(
            "path {s:?}: Application Gateway path rules take '*' only at the end"
        ))),
    }
}

/// One listener, hosts and routing rule of the gateway.
struct Site<'a> {
    port: u16,
    hosts: Vec<String>,
    listener: &'a Listener,
    /// `(paths, action)` of the site's path rules, in rule priority order.
    paths: Vec<(Vec<String>, &'a Action)>,
    default: &'a Action,
    /// A rule took every path: it is the default, not the listener's.
    default_set: bool,
}

fn sites(spec: &LoadBalancerSpec) -> Result<Vec<Site<'_>>> {
    let mut out = Vec::new();
    for l in &spec.listeners {
        let mut rules: Vec<_> = l.rules.iter().collect();
        rules.sort_by_key(|r| r.priority);
        let mut by_hosts: Vec<Site<'_>> = Vec::new();
        let mut catch_all = Site {
            port: l.port,
            hosts: Vec::new(),
            listener: l,
            paths: Vec::new(),
            default: &l.default_action,
            default_set: false,
        };
        for r in rules {
            if !r.conditions.is_empty() {
                return Err(Error::invalid(format!(
                    "rule {} on port {}: Application Gateway matches hosts and paths only, \
                     not headers, methods, query strings or source addresses",
                    r.priority, l.port
                )));
            }
            let mut hosts = r.hosts.clone();
            hosts.sort();
            hosts.dedup();
            let site = if hosts.is_empty() {
                &mut catch_all
            } else if let Some(i) = by_hosts.iter().position(|s| s.hosts == hosts) {
                &mut by_hosts[i]
            } else {
                by_hosts.push(Site {
                    port: l.port,
                    hosts,
                    listener: l,
                    paths: Vec::new(),
                    default: &l.default_action,
                    default_set: false,
                });
                let last = by_hosts.len() - 1;
                &mut by_hosts[last]
            };
            let mut patterns = Vec::new();
            let mut everything = r.paths.is_empty();
            for p in &r.paths {
                match azure_paths(p)? {
                    Some(ps) => patterns.extend(ps),
                    None => everything = true,
                }
            }
            if !patterns.is_empty() {
                site.paths.push((patterns, &r.action));
            }
            // The first rule that takes every path is the site's default.
            if everything && !site.default_set {
                site.default = &r.action;
                site.default_set = true;
            }
        }
        out.extend(by_hosts);
        out.push(catch_all);
    }
    Ok(out)
}

/// The Application Gateway a spec describes, keeping the pool members `observed` has.
pub fn desired(
    spec: &LoadBalancerSpec,
    place: &Place,
    observed: Option<&ApplicationGateway>,
) -> Result<ApplicationGateway> {
    let me = &place.id;
    let part = |kind: &str, n: &str| json!({ "id": format!("{me}/{kind}/{n}") });
    let private = private_listeners(spec)?;
    let mut tags = spec.tags.clone();
    tags.extend(spec.owner.tags());

    let mut frontends = vec![json!({
        "name": PUBLIC_FRONTEND,
        "properties": {"publicIPAddress": {"id": place.public_ip_id}},
    })];
    if private {
        frontends.push(json!({
            "name": PRIVATE_FRONTEND,
            "properties": {"subnet": {"id": place.subnet_id}, "privateIPAllocationMethod": "Dynamic"},
        }));
    }
    let frontend = part(
        "frontendIPConfigurations",
        if private {
            PRIVATE_FRONTEND
        } else {
            PUBLIC_FRONTEND
        },
    );

    let members = |pool: &str| -> Value {
        observed
            .and_then(|g| g.properties.as_ref())
            .and_then(|p| {
                p.backend_address_pools
                    .iter()
                    .find(|b| b.name.as_deref() == Some(pool))
            })
            .and_then(|b| b.properties.as_ref())
            .map(|p| {
                let mut ips: Vec<&str> = p
                    .backend_addresses
                    .iter()
                    .filter_map(|a| a.ip_address.as_deref())
                    .collect();
                ips.sort_unstable();
                ips.dedup();
                Value::Array(ips.iter().map(|ip| json!({ "ipAddress": ip })).collect())
            })
            .unwrap_or_else(|| json!([]))
    };

    let mut pools = Vec::new();
    let mut settings = Vec::new();
    let mut probes = Vec::new();
    for g in &spec.groups {
        pools.push(json!({
            "name": pool_name(&g.key),
            "properties": {"backendAddresses": members(&pool_name(&g.key))},
        }));
        let (s, p) = group_parts(g, me)?;
        settings.push(s);
        probes.push(p);
    }
    let sites = sites(spec)?;
    let needs_default_pool = sites
        .iter()
        .flat_map(|s| std::iter::once(s.default).chain(s.paths.iter().map(|(_, a)| *a)))
        .any(|a| matches!(a, Action::FixedResponse(_)));
    if needs_default_pool {
        pools.push(json!({"name": DEFAULT_POOL, "properties": {"backendAddresses": []}}));
        settings.push(json!({"name": DEFAULT_SETTINGS, "properties": {
            "port": 80, "protocol": "Http", "cookieBasedAffinity": "Disabled", "requestTimeout": 30,
        }}));
    }

    let mut ports: Vec<u16> = spec.listeners.iter().map(|l| l.port).collect();
    ports.sort_unstable();
    ports.dedup();
    let frontend_ports: Vec<Value> = ports
        .iter()
        .map(|p| json!({"name": format!("port-{p}"), "properties": {"port": p}}))
        .collect();
    let mut certs: Vec<&str> = spec
        .listeners
        .iter()
        .flat_map(|l| l.certificates.iter().filter_map(CertificateRef::name))
        .collect();
    certs.sort_unstable();
    certs.dedup();
    let ssl_certificates: Vec<Value> = certs
        .iter()
        .map(|c| json!({"name": cert_name(c), "properties": {"keyVaultSecretId": c}}))
        .collect();

    // The listener a redirect to `port` goes to: the same hosts' site there, else its catch-all.
    let target_listener = |hosts: &[String], port: u16| -> Option<String> {
        let exact = sites.iter().find(|s| s.port == port && s.hosts == hosts);
        let any = sites.iter().find(|s| s.port == port && s.hosts.is_empty());
        exact
            .or(any)
            .map(|s| format!("listener-{}", site_suffix(s.port, &s.hosts)))
    };
    let mut listeners = Vec::new();
    let mut routing = Vec::new();
    let mut path_maps = Vec::new();
    let mut redirects = Vec::new();
    let mut ordered: Vec<&Site<'_>> = sites.iter().filter(|s| !s.hosts.is_empty()).collect();
    ordered.extend(sites.iter().filter(|s| s.hosts.is_empty()));
    for (i, site) in ordered.into_iter().enumerate() {
        let suffix = site_suffix(site.port, &site.hosts);
        let l = site.listener;
        let mut lp = json!({
            "frontendIPConfiguration": frontend,
            "frontendPort": part("frontendPorts", &format!("port-{}", l.port)),
            "protocol": protocol(l.protocol)?,
        });
        if !site.hosts.is_empty() {
            lp["hostNames"] = json!(site.hosts);
        }
        if l.protocol == Protocol::Https {
            let c = l
                .certificates
                .iter()
                .find_map(CertificateRef::name)
                .ok_or_else(|| {
                    Error::invalid(format!("HTTPS listener {} has no certificate", l.port))
                })?;
            lp["sslCertificate"] = part("sslCertificates", &cert_name(c));
            lp["requireServerNameIndication"] = json!(!site.hosts.is_empty());
        }
        listeners.push(json!({"name": format!("listener-{suffix}"), "properties": lp}));
        // Where an action goes, as the fields of a rule, path rule or path map default.
        let mut n_redirect = 0;
        // `default`: a path map's default fields; `site_default`: the site's default action,
        // the only place a 404 may be (as the empty pool).
        let mut target = |a: &Action, default: bool, site_default: bool| -> Result<Value> {
            let (pool, st, redir) = match a {
                Action::Forward { groups } if groups.len() == 1 => {
                    let k = &groups[0].group;
                    (pool_name(k), settings_name(k), None)
                }
                Action::Forward { .. } => {
                    return Err(Error::invalid(
                        "Application Gateway forwards to one backend pool per rule",
                    ));
                }
                Action::FixedResponse(f) if site_default && f.status_code == 404 => {
                    (DEFAULT_POOL.to_string(), DEFAULT_SETTINGS.to_string(), None)
                }
                Action::FixedResponse(f) => {
                    return Err(Error::invalid(format!(
                        "fixed response {}: Application Gateway has none (a listener's default \
                         404 goes to an empty pool)",
                        f.status_code
                    )));
                }
                Action::Redirect(r) => {
                    let name = format!("redirect-{suffix}-{n_redirect}");
                    n_redirect += 1;
                    redirects.push(redirect(
                        &name,
                        r,
                        l.port,
                        &site.hosts,
                        &target_listener,
                        me,
                    )?);
                    (String::new(), String::new(), Some(name))
                }
            };
            let (kp, ks, kr) = if default {
                (
                    "defaultBackendAddressPool",
                    "defaultBackendHttpSettings",
                    "defaultRedirectConfiguration",
                )
            } else {
                (
                    "backendAddressPool",
                    "backendHttpSettings",
                    "redirectConfiguration",
                )
            };
            Ok(match redir {
                Some(r) => json!({ kr: part("redirectConfigurations", &r) }),
                None => json!({
                    kp: part("backendAddressPools", &pool),
                    ks: part("backendHttpSettingsCollection", &st),
                }),
            })
        };
        let priority = 10 * (i as u64 + 1);
        let mut rp = json!({
            "httpListener": part("httpListeners", &format!("listener-{suffix}")),
            "priority": priority,
        });
        if site.paths.is_empty() {
            rp["ruleType"] = json!("Basic");
            merge(&mut rp, target(site.default, false, true)?);
        } else {
            rp["ruleType"] = json!("PathBasedRouting");
            rp["urlPathMap"] = part("urlPathMaps", &format!("paths-{suffix}"));
            let mut mp = target(site.default, true, true)?;
            let mut rules = Vec::new();
            for (j, (paths, a)) in site.paths.iter().enumerate() {
                let mut p = json!({ "paths": paths });
                merge(&mut p, target(a, false, false)?);
                rules.push(json!({"name": format!("path-{j}"), "properties": p}));
            }
            mp["pathRules"] = Value::Array(rules);
            path_maps.push(json!({"name": format!("paths-{suffix}"), "properties": mp}));
        }
        routing.push(json!({"name": format!("rule-{suffix}"), "properties": rp}));
    }
    let gw = json!({
        "name": place.name,
        "location": place.location,
        "tags": tags,
        "properties": {
            "sku": {"name": "Standard_v2", "tier": "Standard_v2", "capacity": 2},
            "gatewayIPConfigurations": [{"name": "gateway-ip", "properties": {"subnet": {"id": place.subnet_id}}}],
            "frontendIPConfigurations": frontends,
            "frontendPorts": frontend_ports,
            "sslCertificates": ssl_certificates,
            "httpListeners": listeners,
            "backendAddressPools": pools,
            "backendHttpSettingsCollection": settings,
            "probes": probes,
            "urlPathMaps": path_maps,
            "redirectConfigurations": redirects,
            "requestRoutingRules": routing,
        },
    });
    serde_json::from_value(gw).map_err(|e| Error::invalid(format!("application gateway: {e}")))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn protocol(p: Protocol) -> Result<&'static str> {
    match p {
        Protocol::Http => Ok("Http"),
        Protocol::Https => Ok("Https"),
        other => Err(Error::invalid(format!(
            "{other:?}: an Application Gateway listens and forwards on HTTP or HTTPS"
        ))),
    }
}

fn redirect(
    name: &str,
    r: &Redirect,
    from_port: u16,
    hosts: &[String],
    target_listener: &dyn Fn(&[String], u16) -> Option<String>,
    me: &str,
) -> Result<Value> {
    let kind = match r.status_code {
        301 => "Permanent",
        302 => "Found",
        303 => "SeeOther",
        307 => "Temporary",
        other => {
            return Err(Error::invalid(format!(
                "redirect status {other}: Application Gateway redirects with 301, 302, 303 or 307"
            )));
        }
    };
    let mut p = json!({"redirectType": kind, "includePath": r.path.is_none(), "includeQueryString": r.query.is_none()});
    if r.host.is_none() && r.path.is_none() && r.query.is_none() {
        let port = r.port.unwrap_or(from_port);
        let to = target_listener(hosts, port).ok_or_else(|| {
            Error::invalid(format!(
                "redirect to port {port}: the gateway has no listener there"
            ))
        })?;
        p["targetListener"] = json!({"id": format!("{me}/httpListeners/{to}")});
    } else {
        let scheme = match r.protocol {
            Some(Protocol::Http) => "http",
            _ => "https",
        };
        let host = r
            .host
            .clone()
            .or_else(|| hosts.first().cloned())
            .ok_or_else(|| Error::invalid("a redirect to a URL needs a host"))?;
        let port = r.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = r.path.clone().unwrap_or_default();
        let query = r
            .query
            .as_ref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        p["targetUrl"] = json!(format!("{scheme}://{host}{port}{path}{query}"));
    }
    Ok(json!({"name": name, "properties": p}))
}

/// A group's backend HTTP settings and probe, from its protocol, health check and the AGIC
/// attributes it carries.
fn group_parts(g: &BackendGroup, me: &str) -> Result<(Value, Value)> {
    let a = &g.attributes;
    let backend = match a
        .get(attr::BACKEND_PROTOCOL)
        .map(|v| v.to_ascii_lowercase())
    {
        None => protocol(if g.protocol == Protocol::Https {
            Protocol::Https
        } else {
            Protocol::Http
        })?,
        Some(v) if v == "http" => "Http",
        Some(v) if v == "https" => "Https",
        Some(v) => {
            return Err(Error::invalid(format!(
                "{}: {v:?} is not http or https",
                attr::BACKEND_PROTOCOL
            )));
        }
    };
    let mut s = json!({
        "port": g.port,
        "protocol": backend,
        "cookieBasedAffinity": if flag(a, attr::COOKIE_BASED_AFFINITY)? { "Enabled" } else { "Disabled" },
        "requestTimeout": seconds(a, attr::REQUEST_TIMEOUT, 86_400)?.unwrap_or(30),
        "probe": {"id": format!("{me}/probes/{}", probe_name(&g.key))},
        "pickHostNameFromBackendAddress": false,
    });
    if let Some(prefix) = a.get(attr::BACKEND_PATH_PREFIX) {
        if !prefix.starts_with('/') {
            return Err(Error::invalid(format!(
                "{}: {prefix:?} does not start with '/'",
                attr::BACKEND_PATH_PREFIX
            )));
        }
        s["path"] = json!(prefix);
    }
    if flag(a, attr::CONNECTION_DRAINING)? {
        let timeout = seconds(a, attr::CONNECTION_DRAINING_TIMEOUT, 3600)?.unwrap_or(30);
        s["connectionDraining"] = json!({"enabled": true, "drainTimeoutInSec": timeout});
    }
    let hc = &g.health_check;
    let path = a
        .get(attr::HEALTH_PROBE_PATH)
        .cloned()
        .or_else(|| hc.path.clone())
        .unwrap_or_else(|| "/".into());
    if !path.starts_with('/') {
        return Err(Error::invalid(format!(
            "health probe path {path:?} does not start with '/'"
        )));
    }
    let mut p = json!({
        "protocol": backend,
        "host": "localhost",
        "path": path,
        "interval": hc.interval_seconds.clamp(1, 86_400),
        "timeout": hc.timeout_seconds.clamp(1, 86_400),
        "unhealthyThreshold": hc.unhealthy_threshold.clamp(1, 20),
        "match": {"statusCodes": [hc.success_codes.clone().unwrap_or_else(|| "200-399".into())]},
    });
    if let HealthCheckPort::Port(port) = hc.port {
        p["port"] = json!(port);
    }
    Ok((
        json!({"name": settings_name(&g.key), "properties": s}),
        json!({"name": probe_name(&g.key), "properties": p}),
    ))
}
