//! The GCE metadata server, `/computeMetadata/v1/...`: every request must carry
//! `Metadata-Flavor: Google` (403 otherwise, as the real one), and every answer carries it.
//!
//! One server answers for all instances. A request is for the instance named by the
//! `X-Mockcloud-Instance` header (`zones/Z/instances/N` or `N`), or by the path prefix
//! `/_mockcloud/gce-metadata/<zone>/<name>/computeMetadata/v1/...` (for clients that cannot
//! add headers: point `GCE_METADATA_HOST` at it); without either, the first instance.
//!
//! Served: `project/{project-id,numeric-project-id}`, `instance/{id,name,hostname,zone,
//! machine-type,tags,attributes/...}`, `instance/network-interfaces/N/{ip,network,
//! subnetmask,gateway,mac,ip-aliases/}`, and `instance/service-accounts/{default,EMAIL}/
//! {email,scopes,token,aliases}` (a token the Compute front maps back to the service
//! account for its call log), with `?recursive=true` on directories.

use serde_json::{Value, json};

use crate::gce::TOKEN_PREFIX;
use crate::wire::{Received, Resp, Shared, respond};

pub const INSTANCE_HEADER: &str = "x-mockcloud-instance";
pub const PATH_PREFIX: &str = "/_mockcloud/gce-metadata/";

fn answer(status: u16, content_type: &str, body: String) -> Resp {
    let mut r = respond(status, content_type, body);
    r.headers_mut()
        .insert("metadata-flavor", http::HeaderValue::from_static("Google"));
    r
}

/// An entry of the metadata tree: a value or a directory.
enum Node {
    Text(String),
    Dir(Vec<(String, Node)>),
}

impl Node {
    fn to_json(&self) -> Value {
        match self {
            Node::Text(t) => t
                .parse::<i64>()
                .map(|n| json!(n))
                .unwrap_or_else(|_| json!(t)),
            Node::Dir(entries) => {
                // Numbered directories (network-interfaces) are arrays.
                if !entries.is_empty() && entries.iter().all(|(k, _)| k.parse::<usize>().is_ok()) {
                    return Value::Array(entries.iter().map(|(_, n)| n.to_json()).collect());
                }
                let mut o = serde_json::Map::new();
                for (k, n) in entries {
                    o.insert(camel(k), n.to_json());
                }
                Value::Object(o)
            }
        }
    }

    fn get(&self, path: &[&str]) -> Option<&Node> {
        match path.split_first() {
            None => Some(self),
            Some((first, rest)) => match self {
                Node::Dir(entries) => entries
                    .iter()
                    .find(|(k, _)| k == first)
                    .and_then(|(_, n)| n.get(rest)),
                Node::Text(_) => None,
            },
        }
    }
}

/// `ip-aliases` -> `ipAliases`, as the recursive JSON names keys.
fn camel(k: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in k.chars() {
        if c == '-' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn text(s: impl Into<String>) -> Node {
    Node::Text(s.into())
}

fn last(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}

fn tree(gcp: &crate::gcp::GcpState, inst: &Value) -> Node {
    let (project, number) = (gcp.project.as_str(), gcp.project_number);
    let zone = last(inst["zone"].as_str().unwrap_or_default()).to_string();
    let name = inst["name"].as_str().unwrap_or_default().to_string();
    let nics: Vec<(String, Node)> = inst["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, nic)| {
            let ip = nic["networkIP"].as_str().unwrap_or_default().to_string();
            let subnet = nic["subnetwork"]
                .as_str()
                .and_then(|u| gcp.get_url(u))
                .cloned()
                .unwrap_or_default();
            let prefix = subnet["ipCidrRange"]
                .as_str()
                .and_then(|c| c.parse::<ipnet::Ipv4Net>().ok())
                .map_or(32, |n| n.prefix_len());
            let mask = ipnet::Ipv4Net::new(std::net::Ipv4Addr::UNSPECIFIED, prefix)
                .map(|n| n.netmask().to_string())
                .unwrap_or_default();
            let aliases: Vec<(String, Node)> = nic["aliasIpRanges"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(j, r)| {
                    (
                        j.to_string(),
                        text(r["ipCidrRange"].as_str().unwrap_or_default()),
                    )
                })
                .collect();
            let ip_num = ip.parse::<std::net::Ipv4Addr>().map(u32::from).unwrap_or(0);
            let mac = format!(
                "42:01:{:02x}:{:02x}:{:02x}:{:02x}",
                ip_num >> 24,
                (ip_num >> 16) & 0xff,
                (ip_num >> 8) & 0xff,
                ip_num & 0xff
            );
            (
                i.to_string(),
                Node::Dir(vec![
                    (
                        "gateway".into(),
                        text(subnet["gatewayAddress"].as_str().unwrap_or_default()),
                    ),
                    ("ip".into(), text(ip.clone())),
                    ("ip-aliases".into(), Node::Dir(aliases)),
                    ("mac".into(), text(mac)),
                    ("mtu".into(), text("1460")),
                    (
                        "network".into(),
                        text(format!(
                            "projects/{number}/networks/{}",
                            last(nic["network"].as_str().unwrap_or_default())
                        )),
                    ),
                    ("subnetmask".into(), text(mask)),
                ]),
            )
        })
        .collect();
    let accounts: Vec<(String, Node)> = inst["serviceAccounts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sa| {
            let email = sa["email"].as_str().unwrap_or_default().to_string();
            let scopes: Vec<String> = sa["scopes"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect();
            let node = |alias: &str| {
                Node::Dir(vec![
                    ("aliases".into(), text(alias)),
                    ("email".into(), text(email.clone())),
                    ("scopes".into(), text(scopes.join("\n"))),
                    (
                        "token".into(),
                        text(json!({"access_token": format!("{TOKEN_PREFIX}{email}"), "expires_in": 3599, "token_type": "Bearer"}).to_string()),
                    ),
                ])
            };
            vec![("default".to_string(), node("default")), (email.clone(), node(&email))]
        })
        .collect();
    let attrs: Vec<(String, Node)> = inst["metadata"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|it| {
            (
                it["key"].as_str().unwrap_or_default().to_string(),
                text(it["value"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    let tags: Vec<String> = inst["tags"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    Node::Dir(vec![
        (
            "instance".into(),
            Node::Dir(vec![
                ("attributes".into(), Node::Dir(attrs)),
                (
                    "hostname".into(),
                    text(format!("{name}.{zone}.c.{project}.internal")),
                ),
                ("id".into(), text(inst["id"].as_str().unwrap_or_default())),
                (
                    "machine-type".into(),
                    text(format!(
                        "projects/{number}/machineTypes/{}",
                        last(inst["machineType"].as_str().unwrap_or_default())
                    )),
                ),
                ("name".into(), text(name.clone())),
                ("network-interfaces".into(), Node::Dir(nics)),
                ("service-accounts".into(), Node::Dir(accounts)),
                ("tags".into(), text(json!(tags).to_string())),
                (
                    "zone".into(),
                    text(format!("projects/{number}/zones/{zone}")),
                ),
            ]),
        ),
        (
            "project".into(),
            Node::Dir(vec![
                ("numeric-project-id".into(), text(number.to_string())),
                ("project-id".into(), text(project)),
            ]),
        ),
    ])
}

pub(crate) fn handle(shared: &Shared, rx: &Received) -> Resp {
    let (from_path, path) = match rx.path.strip_prefix(PATH_PREFIX) {
        Some(rest) => {
            let mut parts = rest.splitn(3, '/');
            let zone = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            (
                Some(format!("zones/{zone}/instances/{name}")),
                format!("/{}", parts.next().unwrap_or_default()),
            )
        }
        None => (None, rx.path.clone()),
    };
    let flavor = rx
        .headers
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok());
    if flavor != Some("Google") {
        return answer(
            403,
            "text/html; charset=UTF-8",
            "Missing Metadata-Flavor:Google header.".into(),
        );
    }
    if rx.method != http::Method::GET {
        return answer(405, "text/html; charset=UTF-8", "Method Not Allowed".into());
    }
    let Some(rel) = path.strip_prefix("/computeMetadata/v1") else {
        return answer(404, "text/html; charset=UTF-8", "Not Found".into());
    };
    let cloud = shared.lock();
    let gcp = &cloud.gcp;
    let wanted = from_path.or_else(|| {
        rx.headers
            .get(INSTANCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let inst = gcp
        .resources
        .iter()
        .filter(|(p, _)| p.contains("/instances/"))
        .find(|(p, _)| match &wanted {
            None => true,
            Some(w) if w.contains('/') => p.as_str() == w,
            Some(w) => p.ends_with(&format!("/instances/{w}")),
        });
    let Some((_, inst)) = inst else {
        return answer(404, "text/html; charset=UTF-8", "Not Found".into());
    };
    let root = tree(gcp, inst);
    let trimmed = rel.trim_matches('/');
    let segs: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let Some(node) = root.get(&segs) else {
        return answer(404, "text/html; charset=UTF-8", "Not Found".into());
    };
    let params = crate::query::Params::parse(rx.query.as_bytes());
    let recursive = params.get("recursive") == Some("true");
    let alt_json = params.get("alt") == Some("json");
    match node {
        Node::Dir(_) if recursive || alt_json => {
            answer(200, "application/json", node.to_json().to_string())
        }
        Node::Dir(entries) => {
            if !rel.ends_with('/') {
                // The real server redirects a directory without its slash.
                let mut r = answer(301, "text/html; charset=UTF-8", String::new());
                if let Ok(v) = http::HeaderValue::from_str(&format!("{}/", rx.path)) {
                    r.headers_mut().insert(http::header::LOCATION, v);
                }
                return r;
            }
            let body: Vec<String> = entries
                .iter()
                .map(|(k, n)| {
                    if matches!(n, Node::Dir(_)) {
                        format!("{k}/")
                    } else {
                        k.clone()
                    }
                })
                .collect();
            answer(200, "application/text", body.join("\n") + "\n")
        }
        Node::Text(_) if alt_json => answer(200, "application/json", node.to_json().to_string()),
        Node::Text(t) if segs.last() == Some(&"token") => {
            answer(200, "application/json", t.clone())
        }
        Node::Text(t) => answer(200, "application/text", t.clone()),
    }
}
