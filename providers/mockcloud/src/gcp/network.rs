//! Networks, subnetworks (primary and secondary ranges, fingerprints), routes, firewalls and
//! addresses: their checks and defaults at insert and update, and the address space in use
//! in a subnetwork.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Map, Value, json};

use super::alias::{self, SubnetRanges, Taken};
use super::{GcpError, GcpResult, GcpState, Scope, valid_name};

pub fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

/// A CIDR with its host bits zero, or 400 `invalid` naming `field`.
pub fn parse_cidr(field: &str, v: &str) -> GcpResult<Ipv4Net> {
    let net: Ipv4Net = v
        .parse()
        .map_err(|_| GcpError::invalid_field(field, v, "Not a valid IPv4 CIDR range."))?;
    if net.network() != net.addr() {
        return Err(GcpError::invalid_field(
            field,
            v,
            "The IP range's host bits must be zero.",
        ));
    }
    Ok(net)
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

pub(super) fn prepare_network(state: &GcpState, obj: &mut Map<String, Value>) -> GcpResult<()> {
    let _ = state;
    if obj.contains_key("IPv4Range") {
        return Err(GcpError::invalid_field(
            "resource.IPv4Range",
            str_of(obj, "IPv4Range").unwrap_or(""),
            "Legacy networks are not supported; set autoCreateSubnetworks.",
        ));
    }
    if obj.get("autoCreateSubnetworks").and_then(Value::as_bool) != Some(false) {
        return Err(GcpError::invalid_field(
            "resource.autoCreateSubnetworks",
            "true",
            "Only custom-mode networks (autoCreateSubnetworks: false) are served by this cloud.",
        ));
    }
    obj.entry("routingConfig")
        .or_insert(json!({"routingMode": "REGIONAL"}));
    obj.entry("mtu").or_insert(json!(1460));
    obj.entry("networkFirewallPolicyEnforcementOrder")
        .or_insert(json!("AFTER_CLASSIC_FIREWALL"));
    Ok(())
}

/// The ranges of a subnetwork resource.
pub fn ranges_of(subnet: &Value) -> Option<SubnetRanges> {
    let primary = subnet["ipCidrRange"].as_str()?.parse().ok()?;
    let secondary = subnet["secondaryIpRanges"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    Some((
                        r["rangeName"].as_str()?.to_string(),
                        r["ipCidrRange"].as_str()?.parse().ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(SubnetRanges { primary, secondary })
}

pub(super) fn prepare_subnetwork(
    state: &mut GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
    old: Option<&Value>,
) -> GcpResult<()> {
    let network = str_of(obj, "network").ok_or_else(|| GcpError::required("resource.network"))?;
    let network = state.existing(network, "networks", &Scope::Global)?;
    obj.insert("network".into(), json!(network));
    let cidr =
        str_of(obj, "ipCidrRange").ok_or_else(|| GcpError::required("resource.ipCidrRange"))?;
    let primary = parse_cidr("resource.ipCidrRange", cidr)?;
    if !(8..=29).contains(&primary.prefix_len()) {
        return Err(GcpError::invalid_field(
            "resource.ipCidrRange",
            cidr,
            "The prefix length must be between /8 and /29.",
        ));
    }
    let mut mine: Vec<(String, Ipv4Net)> = vec![("primary range".into(), primary)];
    let mut names = Vec::new();
    let secondary = obj
        .get("secondaryIpRanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, r) in secondary.iter().enumerate() {
        let f = format!("resource.secondaryIpRanges[{i}]");
        let name = r["rangeName"]
            .as_str()
            .ok_or_else(|| GcpError::required(&format!("{f}.rangeName")))?;
        if !valid_name(name) {
            return Err(GcpError::invalid_field(
                &format!("{f}.rangeName"),
                name,
                "Must be a valid resource name.",
            ));
        }
        if names.contains(&name) {
            return Err(GcpError::invalid_field(
                &format!("{f}.rangeName"),
                name,
                "Duplicate secondary range name.",
            ));
        }
        names.push(name);
        let c = r["ipCidrRange"]
            .as_str()
            .ok_or_else(|| GcpError::required(&format!("{f}.ipCidrRange")))?;
        mine.push((
            format!("secondary range '{name}'"),
            parse_cidr(&format!("{f}.ipCidrRange"), c)?,
        ));
    }
    if secondary.len() > 170 {
        return Err(GcpError::invalid_field(
            "resource.secondaryIpRanges",
            "",
            "At most 170 secondary ranges per subnetwork.",
        ));
    }
    for (i, (a_name, a)) in mine.iter().enumerate() {
        if let Some((b_name, b)) = mine[i + 1..].iter().find(|(_, b)| overlaps(*a, *b)) {
            return Err(GcpError::invalid_field(
                "resource.secondaryIpRanges",
                &b.to_string(),
                &format!("The {b_name} ({b}) overlaps with the {a_name} ({a})."),
            ));
        }
    }
    let name = str_of(obj, "name").unwrap_or_default().to_string();
    let self_path = format!("{}/subnetworks/{name}", scope.path());
    for (p, other) in state
        .resources
        .iter()
        .filter(|(p, _)| p.contains("/subnetworks/") && **p != self_path)
    {
        if other["network"].as_str() != Some(network.as_str()) {
            continue;
        }
        let Some(r) = ranges_of(other) else { continue };
        let theirs = std::iter::once(r.primary).chain(r.secondary.iter().map(|(_, n)| *n));
        for t in theirs {
            if let Some((what, m)) = mine.iter().find(|(_, m)| overlaps(*m, t)) {
                return Err(GcpError::invalid_field(
                    "resource.ipCidrRange",
                    &m.to_string(),
                    &format!(
                        "The {what} conflicts with {t} of subnetwork '{}'.",
                        state.rel(p)
                    ),
                ));
            }
        }
    }
    match old {
        None => {
            obj.insert("fingerprint".into(), json!(state.next_fingerprint()));
        }
        Some(old) => {
            if old["ipCidrRange"].as_str() != Some(cidr) {
                return Err(GcpError::invalid_field(
                    "resource.ipCidrRange",
                    cidr,
                    "The primary range cannot be changed this way.",
                ));
            }
            if old["network"].as_str() != Some(network.as_str()) {
                return Err(GcpError::invalid_field(
                    "resource.network",
                    &network,
                    "The network cannot be changed.",
                ));
            }
            let old_ranges = ranges_of(old).map(|r| r.secondary).unwrap_or_default();
            for (n, net) in &old_ranges {
                match mine
                    .iter()
                    .find(|(w, _)| *w == format!("secondary range '{n}'"))
                {
                    Some((_, m)) if m != net => {
                        return Err(GcpError::invalid_field(
                            "resource.secondaryIpRanges",
                            &m.to_string(),
                            &format!(
                                "Secondary range '{n}' cannot be changed, only added or removed."
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        let subnet_url = state.url(&self_path);
                        if let Some(user) = alias_users(state, &subnet_url, n).first() {
                            return Err(GcpError::in_use(
                                &format!("{}/secondaryIpRanges/{n}", state.rel(&self_path)),
                                user,
                            ));
                        }
                    }
                }
            }
        }
    }
    obj.insert(
        "gatewayAddress".into(),
        json!(Ipv4Addr::from(u32::from(primary.network()) + 1).to_string()),
    );
    obj.entry("privateIpGoogleAccess").or_insert(json!(false));
    obj.entry("stackType").or_insert(json!("IPV4_ONLY"));
    obj.entry("purpose").or_insert(json!("PRIVATE"));
    Ok(())
}

/// The instances with an alias range from `range` of the subnetwork.
fn alias_users(state: &GcpState, subnet_url: &str, range: &str) -> Vec<String> {
    state
        .resources
        .values()
        .filter(|v| v["kind"] == "compute#instance")
        .filter(|v| {
            v["networkInterfaces"].as_array().is_some_and(|nics| {
                nics.iter().any(|n| {
                    n["subnetwork"].as_str() == Some(subnet_url)
                        && n["aliasIpRanges"].as_array().is_some_and(|a| {
                            a.iter()
                                .any(|r| r["subnetworkRangeName"].as_str() == Some(range))
                        })
                })
            })
        })
        .filter_map(|v| v["selfLink"].as_str().map(str::to_string))
        .collect()
}

/// Address space in use in a subnetwork: instances' primary addresses and alias ranges,
/// internal addresses and internal forwarding rules. `skip_aliases_of` leaves out one
/// interface's alias ranges (instance URL, interface name): the update replaces them.
pub fn taken_in_subnet(
    state: &GcpState,
    subnet_url: &str,
    skip_aliases_of: Option<(&str, &str)>,
) -> Vec<Taken> {
    let mut out = Vec::new();
    for v in state.resources.values() {
        let self_link = v["selfLink"].as_str().unwrap_or_default();
        match v["kind"].as_str() {
            Some("compute#instance") => {
                for nic in v["networkInterfaces"].as_array().into_iter().flatten() {
                    if nic["subnetwork"].as_str() != Some(subnet_url) {
                        continue;
                    }
                    if let Some(ip) = nic["networkIP"]
                        .as_str()
                        .and_then(|a| a.parse::<Ipv4Addr>().ok())
                    {
                        out.push(Taken {
                            net: Ipv4Net::new(ip, 32).unwrap_or_default(),
                            by: format!("the primary address of '{self_link}'"),
                        });
                    }
                    if skip_aliases_of
                        == Some((self_link, nic["name"].as_str().unwrap_or_default()))
                    {
                        continue;
                    }
                    for r in nic["aliasIpRanges"].as_array().into_iter().flatten() {
                        if let Some(net) = r["ipCidrRange"]
                            .as_str()
                            .and_then(|c| c.parse::<Ipv4Net>().ok())
                        {
                            out.push(Taken {
                                net,
                                by: format!("an alias IP range of '{self_link}'"),
                            });
                        }
                    }
                }
            }
            Some("compute#address" | "compute#forwardingRule") => {
                if v["subnetwork"].as_str() != Some(subnet_url) {
                    continue;
                }
                let ip = v["address"].as_str().or(v["IPAddress"].as_str());
                if let Some(ip) = ip.and_then(|a| a.parse::<Ipv4Addr>().ok()) {
                    out.push(Taken {
                        net: Ipv4Net::new(ip, 32).unwrap_or_default(),
                        by: format!("'{self_link}'"),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// A subnetwork in `region` (by reference), its URL and resource.
pub fn subnet_in_region(
    state: &GcpState,
    reference: &str,
    region: &str,
    field: &str,
) -> GcpResult<(String, Value)> {
    let url = state.existing(reference, "subnetworks", &Scope::Region(region.to_string()))?;
    let v = state.get_url(&url).cloned().unwrap_or_default();
    if !url.contains(&format!("/regions/{region}/")) {
        return Err(GcpError::invalid_field(
            field,
            reference,
            &format!("The subnetwork must be in region {region}."),
        ));
    }
    Ok((url, v))
}

/// `priority` (1000 unless given) must be 0 to 65535.
fn priority(obj: &mut Map<String, Value>) -> GcpResult<()> {
    let priority = obj.get("priority").and_then(Value::as_u64).unwrap_or(1000);
    if priority > 65535 {
        return Err(GcpError::invalid_field(
            "resource.priority",
            &priority.to_string(),
            "Must be between 0 and 65535.",
        ));
    }
    obj.insert("priority".into(), json!(priority));
    Ok(())
}

/// Resolves `network` (the `default` network unless given) to its URL, which it answers.
pub(super) fn default_network(state: &GcpState, obj: &mut Map<String, Value>) -> GcpResult<String> {
    let network = str_of(obj, "network").unwrap_or("global/networks/default");
    let network = state.existing(network, "networks", &Scope::Global)?;
    obj.insert("network".into(), json!(network));
    Ok(network)
}

/// The zone of a zonal `scope`; `what` (only zonal ones are served) otherwise.
pub(super) fn zonal<'a>(scope: &'a Scope, what: &str) -> GcpResult<&'a str> {
    match scope {
        Scope::Zone(zone) => Ok(zone),
        _ => Err(GcpError::bad_request(format!(
            "only zonal {what} are served"
        ))),
    }
}

pub(super) fn prepare_route(state: &GcpState, obj: &mut Map<String, Value>) -> GcpResult<()> {
    let network = str_of(obj, "network").ok_or_else(|| GcpError::required("resource.network"))?;
    let network = state.existing(network, "networks", &Scope::Global)?;
    obj.insert("network".into(), json!(network));
    let dest = str_of(obj, "destRange").ok_or_else(|| GcpError::required("resource.destRange"))?;
    let dest = parse_cidr("resource.destRange", dest)?;
    priority(obj)?;
    let hops: Vec<&str> = [
        "nextHopInstance",
        "nextHopIp",
        "nextHopGateway",
        "nextHopIlb",
        "nextHopVpnTunnel",
    ]
    .into_iter()
    .filter(|k| obj.get(*k).is_some_and(|v| !v.is_null()))
    .collect();
    if hops.len() != 1 {
        return Err(GcpError::invalid_field(
            "resource",
            &hops.join(","),
            "Exactly one next hop must be specified.",
        ));
    }
    match hops[0] {
        "nextHopInstance" => {
            let r = str_of(obj, "nextHopInstance").unwrap_or_default();
            let url = state
                .existing(r, "instances", &Scope::Global)
                .map_err(|e| {
                    if e.code == 400 {
                        GcpError::invalid_field(
                            "resource.nextHopInstance",
                            r,
                            "Must name an instance as zones/ZONE/instances/NAME or its URL.",
                        )
                    } else {
                        e
                    }
                })?;
            let inst = state.get_url(&url).cloned().unwrap_or_default();
            let on_network = inst["networkInterfaces"].as_array().is_some_and(|n| {
                n.iter()
                    .any(|n| n["network"].as_str() == Some(network.as_str()))
            });
            if !on_network {
                return Err(GcpError::invalid_field(
                    "resource.nextHopInstance",
                    r,
                    "The instance has no interface in the route's network.",
                ));
            }
            obj.insert("nextHopInstance".into(), json!(url));
        }
        "nextHopIp" => {
            let ip = str_of(obj, "nextHopIp").unwrap_or_default();
            ip.parse::<Ipv4Addr>().map_err(|_| {
                GcpError::invalid_field("resource.nextHopIp", ip, "Not a valid IPv4 address.")
            })?;
        }
        "nextHopGateway" => {
            let g = str_of(obj, "nextHopGateway").unwrap_or_default();
            if !g.ends_with("global/gateways/default-internet-gateway") {
                return Err(GcpError::invalid_field(
                    "resource.nextHopGateway",
                    g,
                    "The only gateway is global/gateways/default-internet-gateway.",
                ));
            }
            obj.insert(
                "nextHopGateway".into(),
                json!(state.url("global/gateways/default-internet-gateway")),
            );
        }
        "nextHopIlb" => {
            let r = str_of(obj, "nextHopIlb").unwrap_or_default();
            let url = state.existing(r, "forwardingRules", &Scope::Global)?;
            obj.insert("nextHopIlb".into(), json!(url));
        }
        other => {
            return Err(GcpError::invalid_field(
                &format!("resource.{other}"),
                "",
                "This next hop is not served by this cloud.",
            ));
        }
    }
    for sub in state.resources.values().filter(|v| {
        v["kind"] == "compute#subnetwork" && v["network"].as_str() == Some(network.as_str())
    }) {
        let Some(r) = ranges_of(sub) else { continue };
        for net in std::iter::once(r.primary).chain(r.secondary.iter().map(|(_, n)| *n)) {
            if net.contains(&dest) {
                return Err(GcpError::invalid_field(
                    "resource.destRange",
                    &dest.to_string(),
                    &format!(
                        "The destination range is within subnetwork range {net}; a custom route cannot be as specific as a subnet route."
                    ),
                ));
            }
        }
    }
    obj.entry("routeType").or_insert(json!("STATIC"));
    Ok(())
}

pub(super) fn prepare_firewall(state: &GcpState, obj: &mut Map<String, Value>) -> GcpResult<()> {
    default_network(state, obj)?;
    let direction = str_of(obj, "direction").unwrap_or("INGRESS").to_string();
    if !matches!(direction.as_str(), "INGRESS" | "EGRESS") {
        return Err(GcpError::invalid_field(
            "resource.direction",
            &direction,
            "Must be INGRESS or EGRESS.",
        ));
    }
    obj.insert("direction".into(), json!(direction));
    priority(obj)?;
    let allowed = obj
        .get("allowed")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let denied = obj
        .get("denied")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if (allowed == 0) == (denied == 0) {
        return Err(GcpError::invalid_field(
            "resource",
            "",
            "Exactly one of allowed and denied must be given.",
        ));
    }
    let which = if allowed > 0 { "allowed" } else { "denied" };
    for (i, rule) in obj[which]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let f = format!("resource.{which}[{i}]");
        let proto = rule["IPProtocol"]
            .as_str()
            .ok_or_else(|| GcpError::required(&format!("{f}.IPProtocol")))?;
        let named = ["tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"];
        if !named.contains(&proto) && proto.parse::<u8>().is_err() {
            return Err(GcpError::invalid_field(
                &format!("{f}.IPProtocol"),
                proto,
                "Not a known protocol.",
            ));
        }
        for p in rule["ports"].as_array().into_iter().flatten() {
            let p = p.as_str().unwrap_or_default();
            if !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(GcpError::invalid_field(
                    &format!("{f}.ports"),
                    p,
                    "Ports are only allowed for tcp, udp and sctp.",
                ));
            }
            let ok = match p.split_once('-') {
                Some((a, b)) => {
                    matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a <= b)
                }
                None => p.parse::<u16>().is_ok(),
            };
            if !ok {
                return Err(GcpError::invalid_field(
                    &format!("{f}.ports"),
                    p,
                    "Must be a port or a range PORT-PORT.",
                ));
            }
        }
    }
    for key in ["sourceRanges", "destinationRanges"] {
        for c in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            let c = c.as_str().unwrap_or_default();
            let ok = c.parse::<Ipv4Net>().is_ok() || c.parse::<Ipv4Addr>().is_ok();
            if !ok {
                return Err(GcpError::invalid_field(
                    &format!("resource.{key}"),
                    c,
                    "Not a valid IPv4 CIDR range.",
                ));
            }
        }
    }
    let has_source = ["sourceRanges", "sourceTags", "sourceServiceAccounts"]
        .iter()
        .any(|k| {
            obj.get(*k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        });
    if direction == "INGRESS" && !has_source {
        obj.insert("sourceRanges".into(), json!(["0.0.0.0/0"]));
    }
    obj.entry("disabled").or_insert(json!(false));
    obj.entry("logConfig").or_insert(json!({"enable": false}));
    Ok(())
}

/// The pool external addresses come from: global, or per region.
pub fn external_pool(scope: &Scope) -> Ipv4Net {
    match scope {
        Scope::Global => Ipv4Net::new(Ipv4Addr::new(34, 149, 0, 0), 16),
        _ => Ipv4Net::new(Ipv4Addr::new(35, 199, 0, 0), 16),
    }
    .unwrap_or_default()
}

/// External addresses in use (reserved addresses, forwarding rules, instances' NAT IPs).
pub fn taken_external(state: &GcpState) -> Vec<Taken> {
    let mut out = Vec::new();
    for v in state.resources.values() {
        let mut ips: Vec<&str> = Vec::new();
        if v["addressType"].as_str().unwrap_or("EXTERNAL") == "EXTERNAL" {
            ips.extend(v["address"].as_str());
            ips.extend(v["IPAddress"].as_str());
        }
        for nic in v["networkInterfaces"].as_array().into_iter().flatten() {
            for ac in nic["accessConfigs"].as_array().into_iter().flatten() {
                ips.extend(ac["natIP"].as_str());
            }
        }
        for ip in ips.into_iter().filter_map(|a| a.parse::<Ipv4Addr>().ok()) {
            out.push(Taken {
                net: Ipv4Net::new(ip, 32).unwrap_or_default(),
                by: format!("'{}'", v["selfLink"].as_str().unwrap_or_default()),
            });
        }
    }
    out
}

pub fn allocate_external(state: &GcpState, scope: &Scope) -> GcpResult<Ipv4Addr> {
    alias::free_address(external_pool(scope), &taken_external(state))
        .ok_or_else(|| GcpError::quota_exceeded("STATIC_ADDRESSES", 65532, "in the address pool"))
}

pub(super) fn prepare_address(
    state: &GcpState,
    scope: &Scope,
    obj: &mut Map<String, Value>,
) -> GcpResult<()> {
    let kind = str_of(obj, "addressType").unwrap_or("EXTERNAL").to_string();
    obj.insert("addressType".into(), json!(kind));
    obj.entry("ipVersion").or_insert(json!("IPV4"));
    match (kind.as_str(), scope) {
        ("EXTERNAL", _) => {
            obj.entry("networkTier").or_insert(json!("PREMIUM"));
            match str_of(obj, "address") {
                Some(a) => {
                    let ip: Ipv4Addr = a.parse().map_err(|_| {
                        GcpError::invalid_field("resource.address", a, "Not a valid IPv4 address.")
                    })?;
                    let n = Ipv4Net::new(ip, 32).unwrap_or_default();
                    if let Some(t) = taken_external(state).iter().find(|t| t.net == n) {
                        return Err(GcpError::invalid_field(
                            "resource.address",
                            a,
                            &format!("The address is in use by {}.", t.by),
                        ));
                    }
                }
                None => {
                    let ip = allocate_external(state, scope)?;
                    obj.insert("address".into(), json!(ip.to_string()));
                }
            }
        }
        ("INTERNAL", Scope::Region(region)) => {
            let sub = str_of(obj, "subnetwork")
                .ok_or_else(|| GcpError::required("resource.subnetwork"))?
                .to_string();
            let (url, subnet) = subnet_in_region(state, &sub, region, "resource.subnetwork")?;
            obj.insert("subnetwork".into(), json!(url));
            let ranges = ranges_of(&subnet)
                .ok_or_else(|| GcpError::bad_request("subnetwork without ranges"))?;
            let taken = taken_in_subnet(state, &url, None);
            let ip = match str_of(obj, "address") {
                Some(a) => {
                    let ip: Ipv4Addr = a.parse().map_err(|_| {
                        GcpError::invalid_field("resource.address", a, "Not a valid IPv4 address.")
                    })?;
                    alias::resolve(
                        &ranges,
                        &[alias::Wanted {
                            range_name: None,
                            cidr: a.to_string(),
                        }],
                        &taken,
                        "resource.address",
                    )?;
                    ip
                }
                None => alias::free_address(ranges.primary, &taken).ok_or_else(|| {
                    GcpError::new(
                        400,
                        "IP_SPACE_EXHAUSTED",
                        format!("The subnetwork '{url}' has no free address."),
                    )
                })?,
            };
            obj.insert("address".into(), json!(ip.to_string()));
            obj.insert(
                "purpose".into(),
                json!(str_of(obj, "purpose").unwrap_or("GCE_ENDPOINT")),
            );
        }
        (other, _) => {
            return Err(GcpError::invalid_field(
                "resource.addressType",
                other,
                "Must be EXTERNAL, or INTERNAL for a regional address.",
            ));
        }
    }
    obj.insert("status".into(), json!("RESERVED"));
    obj.remove("users");
    Ok(())
}
