//! The names of things: the collections served in each scope, their kinds, and the API
//! method a request calls (`instances.get`, `regionBackendServices.insert`), which the call
//! log, the fault rules and permissions use.

use super::Scope;

/// The collections served, with their scopes. A (scope, collection) pair not here is 404.
pub fn collection_allowed(scope: &Scope, coll: &str) -> bool {
    // The load-balancing collections, served both globally and per region.
    const LOAD_BALANCING: &[&str] = &[
        "addresses",
        "healthChecks",
        "backendServices",
        "urlMaps",
        "targetHttpProxies",
        "targetHttpsProxies",
        "sslCertificates",
        "forwardingRules",
    ];
    const GLOBAL: &[&str] = &["networks", "routes", "firewalls"];
    const REGIONAL: &[&str] = &["subnetworks"];
    const ZONAL: &[&str] = &["instances", "networkEndpointGroups", "instanceGroups"];
    match scope {
        Scope::Global => GLOBAL.contains(&coll) || LOAD_BALANCING.contains(&coll),
        Scope::Region(_) => REGIONAL.contains(&coll) || LOAD_BALANCING.contains(&coll),
        Scope::Zone(_) => ZONAL.contains(&coll),
    }
}

/// The singular kind of a collection (`compute#<kind>`).
pub fn kind_of(coll: &str) -> &'static str {
    match coll {
        "instances" => "instance",
        "networks" => "network",
        "subnetworks" => "subnetwork",
        "routes" => "route",
        "firewalls" => "firewall",
        "addresses" => "address",
        "healthChecks" => "healthCheck",
        "backendServices" => "backendService",
        "urlMaps" => "urlMap",
        "targetHttpProxies" => "targetHttpProxy",
        "targetHttpsProxies" => "targetHttpsProxy",
        "sslCertificates" => "sslCertificate",
        "forwardingRules" => "forwardingRule",
        "networkEndpointGroups" => "networkEndpointGroup",
        "instanceGroups" => "instanceGroup",
        "operations" => "operation",
        "zones" => "zone",
        "regions" => "region",
        _ => "resource",
    }
}

/// The API's name for a collection in a scope, as in method and permission names
/// (`globalAddresses`, `regionBackendServices`, `zoneOperations`).
pub fn api_resource(scope: &Scope, coll: &str) -> String {
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    match (scope, coll) {
        (
            Scope::Global,
            "addresses" | "forwardingRules" | "networkEndpointGroups" | "operations",
        ) => {
            format!("global{}", cap(coll))
        }
        (Scope::Region(_), "operations" | "networkEndpointGroups") => {
            format!("region{}", cap(coll))
        }
        (Scope::Zone(_), "operations") => "zoneOperations".into(),
        (
            Scope::Region(_),
            "healthChecks" | "backendServices" | "urlMaps" | "targetHttpProxies"
            | "targetHttpsProxies" | "sslCertificates",
        ) => format!("region{}", cap(coll)),
        _ => coll.to_string(),
    }
}

/// The API method a request calls (`instances.get`, `zoneOperations.wait`,
/// `regionBackendServices.insert`), for the call log, faults and permissions.
pub fn method_name(method: &str, segments: &[String]) -> String {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (scope, rest): (Option<Scope>, &[&str]) = match s.as_slice() {
        [] => return "projects.get".into(),
        ["aggregated", coll, ..] => return format!("{coll}.aggregatedList"),
        ["global", rest @ ..] => (Some(Scope::Global), rest),
        ["regions", r, rest @ ..] => (Some(Scope::Region((*r).into())), rest),
        ["zones", z, rest @ ..] => (Some(Scope::Zone((*z).into())), rest),
        [c @ ("targetHttpProxies" | "targetHttpsProxies"), _, verb] => {
            return format!("{c}.{verb}");
        }
        ["regions"] => return "regions.list".into(),
        ["zones"] => return "zones.list".into(),
        _ => (None, &[]),
    };
    let Some(scope) = scope else {
        return "unknown".into();
    };
    match rest {
        [] => match scope {
            Scope::Region(_) => "regions.get".into(),
            Scope::Zone(_) => "zones.get".into(),
            Scope::Global => "unknown".into(),
        },
        [coll] => {
            let verb = if method == "POST" { "insert" } else { "list" };
            format!("{}.{verb}", api_resource(&scope, coll))
        }
        [coll, _] => {
            let verb = match method {
                "DELETE" => "delete",
                "PATCH" => "patch",
                "PUT" => "update",
                _ => "get",
            };
            format!("{}.{verb}", api_resource(&scope, coll))
        }
        [coll, _, verb, ..] => format!("{}.{verb}", api_resource(&scope, coll)),
    }
}

/// A resource name as Compute Engine accepts it: RFC 1035, 1..63 characters.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}
