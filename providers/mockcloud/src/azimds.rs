//! Azure's instance metadata service on the mock cloud's main port: `/metadata/instance`
//! (the node's compute facts and its NICs with their ipConfigurations, as the Network
//! provider holds them now) and `/metadata/identity/oauth2/token` (a managed-identity token:
//! an unsigned JWT whose `oid` is the node's identity, which the ARM front logs as the
//! caller). Every request needs `Metadata: true` and an `api-version` IMDS serves (400
//! otherwise, as the real one).
//!
//! One server answers for all nodes: a request is for the VM or scale-set instance whose
//! computer name is in the `X-Mockcloud-Instance` header or the path prefix
//! `/_mockcloud/azure-imds/<computer-name>/metadata/...`; without either, the first node.
//! Sub-paths select into the document (`/metadata/instance/network/interface/0/ipv4`), and
//! `format=text` answers a leaf as plain text.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::azure::{AzureState, ipam::subnet_prefix, ref_id};
use crate::query::Params;
use crate::wire::{Received, Resp, Shared, respond};

pub const INSTANCE_HEADER: &str = "x-mockcloud-instance";
pub const PATH_PREFIX: &str = "/_mockcloud/azure-imds/";

/// The IMDS API versions served.
pub const API_VERSIONS: &[&str] = &[
    "2017-03-01",
    "2017-08-01",
    "2018-02-01",
    "2019-06-01",
    "2020-09-01",
    "2021-02-01",
    "2021-05-01",
    "2021-12-13",
    "2023-07-01",
];

fn bad(message: &str) -> Resp {
    respond(
        400,
        "application/json; charset=utf-8",
        json!({ "error": message, "newest-versions": API_VERSIONS.iter().rev().take(3).collect::<Vec<_>>() }).to_string(),
    )
}

/// A stable GUID-shaped identity for a resource id (the node pool's managed identity).
pub fn identity_of(seed: &str) -> String {
    let h = seed
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let a = crate::ids::splitmix64(h);
    let b = crate::ids::splitmix64(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

fn computer_name(v: &Value) -> &str {
    v["properties"]["osProfile"]["computerName"]
        .as_str()
        .unwrap_or_default()
}

/// The scale set a node belongs to (its id), or the VM's own id.
fn pool_id(node: &Value) -> String {
    let id = node["id"].as_str().unwrap_or_default();
    match id.to_lowercase().find("/virtualmachines/") {
        Some(i) if node["type"] != "Microsoft.Compute/virtualMachines" => id[..i].to_string(),
        _ => id.to_string(),
    }
}

fn instance_doc(s: &AzureState, node: &Value) -> Value {
    let id = node["id"].as_str().unwrap_or_default();
    let scale_set = node["type"] != "Microsoft.Compute/virtualMachines";
    let ss_name = if scale_set {
        pool_id(node)
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        String::new()
    };
    let mut interfaces = Vec::new();
    for n in node["properties"]["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(nic) = n["id"].as_str().and_then(|i| s.lookup(i)) else {
            continue;
        };
        let mut addrs = Vec::new();
        let mut subnets = Vec::new();
        for c in nic["properties"]["ipConfigurations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let public = ref_id(&c["properties"], "publicIPAddress")
                .and_then(|p| s.lookup(p))
                .and_then(|p| p["properties"]["ipAddress"].as_str())
                .unwrap_or_default();
            addrs.push(json!({
                "privateIpAddress": c["properties"]["privateIPAddress"],
                "publicIpAddress": public,
            }));
            if let Some(net) = ref_id(&c["properties"], "subnet")
                .and_then(|sn| s.lookup(sn))
                .and_then(subnet_prefix)
            {
                let entry = json!({"address": net.network().to_string(), "prefix": net.prefix_len().to_string()});
                if !subnets.contains(&entry) {
                    subnets.push(entry);
                }
            }
        }
        interfaces.push(json!({
            "ipv4": {"ipAddress": addrs, "subnet": subnets},
            "ipv6": {"ipAddress": []},
            "macAddress": nic["properties"]["macAddress"].as_str().unwrap_or_default().replace('-', ""),
        }));
    }
    json!({
        "compute": {
            "azEnvironment": "AzurePublicCloud",
            "location": s.location,
            "name": node["name"],
            "osProfile": {"computerName": computer_name(node)},
            "osType": "Linux",
            "resourceGroupName": id.split('/').nth(4).unwrap_or_default(),
            "resourceId": id,
            "subscriptionId": s.subscription,
            "vmId": node["properties"]["vmId"],
            "vmScaleSetName": ss_name,
            "vmSize": node["sku"]["name"].as_str().or_else(|| node["properties"]["hardwareProfile"]["vmSize"].as_str()).unwrap_or_default(),
            "tagsList": [],
            "zone": "",
            "platformFaultDomain": node["properties"]["platformFaultDomain"].as_u64().unwrap_or(0).to_string(),
        },
        "network": {"interface": interfaces},
    })
}

fn jwt(claims: &Value) -> String {
    let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        e(&json!({"typ": "JWT", "alg": "none"})),
        e(claims),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"mockcloud")
    )
}

fn token(s: &AzureState, node: &Value, params: &Params) -> Resp {
    let Some(resource) = params.get("resource") else {
        return respond(
            400,
            "application/json; charset=utf-8",
            json!({"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"}).to_string(),
        );
    };
    let pool = pool_id(node);
    let client_id = params
        .get("client_id")
        .map(str::to_string)
        .unwrap_or_else(|| identity_of(&format!("client:{pool}")));
    let oid = identity_of(&format!("object:{pool}:{client_id}"));
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{}/", s.tenant),
        "iat": now, "nbf": now, "exp": now + 86_399,
        "appid": client_id,
        "oid": oid,
        "sub": oid,
        "tid": s.tenant,
        "xms_mirid": pool,
    });
    respond(
        200,
        "application/json; charset=utf-8",
        json!({
            "access_token": jwt(&claims),
            "client_id": client_id,
            "expires_in": "86399",
            "expires_on": (now + 86_399).to_string(),
            "ext_expires_in": "86399",
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        })
        .to_string(),
    )
}

pub(crate) fn handle(shared: &Shared, rx: &Received) -> Resp {
    let (from_path, path) = match rx.path.strip_prefix(PATH_PREFIX) {
        Some(rest) => {
            let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
            (Some(name.to_string()), format!("/{tail}"))
        }
        None => (None, rx.path.clone()),
    };
    let metadata = rx.headers.get("metadata").and_then(|v| v.to_str().ok());
    if !metadata.is_some_and(|m| m.eq_ignore_ascii_case("true")) {
        return bad("Bad request. Required metadata header not specified");
    }
    if rx.method != http::Method::GET {
        return respond(405, "text/plain", "Method Not Allowed");
    }
    let params = Params::parse(rx.query.as_bytes());
    match params.get("api-version") {
        None => {
            return bad(
                "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds",
            );
        }
        Some(v) if !API_VERSIONS.contains(&v) => {
            return bad(
                "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
            );
        }
        Some(_) => {}
    }
    let cloud = shared.lock();
    let s = &cloud.azure;
    let wanted = from_path.or_else(|| {
        rx.headers
            .get(INSTANCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let node = match &wanted {
        Some(w) => s.nodes().find(|n| computer_name(n).eq_ignore_ascii_case(w)),
        None => s.nodes().next(),
    };
    let Some(node) = node else {
        return respond(
            404,
            "application/json; charset=utf-8",
            json!({"error": format!("No node {}", wanted.unwrap_or_default())}).to_string(),
        );
    };
    if path == "/metadata/identity/oauth2/token" {
        return token(s, node, &params);
    }
    let Some(rel) = path.strip_prefix("/metadata/instance") else {
        return respond(404, "text/plain", "Not Found");
    };
    let doc = instance_doc(s, node);
    let mut at = &doc;
    for seg in rel.split('/').filter(|p| !p.is_empty()) {
        let next = match at {
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::Object(o) => o.get(seg),
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => return respond(404, "text/plain", "Not Found"),
        }
    }
    if params.get("format") == Some("text") {
        return match at {
            Value::String(t) => respond(200, "text/plain; charset=utf-8", t.clone()),
            Value::Object(_) | Value::Array(_) => {
                bad("Bad request. format=text is only for leaf values")
            }
            other => respond(200, "text/plain; charset=utf-8", other.to_string()),
        };
    }
    respond(200, "application/json; charset=utf-8", at.to_string())
}
