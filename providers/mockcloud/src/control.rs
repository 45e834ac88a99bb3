//! The control endpoint, `/_mockcloud/...`, for tests and operators:
//!
//! | request | does |
//! |---|---|
//! | `GET state` | the whole state as JSON |
//! | `GET calls` | calls per `service:Action` |
//! | `GET calls?by=caller` | calls per caller (SigV4 access key id, or `anonymous`), then per `service:Action` |
//! | `GET call-log[?since=SEQ]` | the calls in order with their callers, after `SEQ` (see [`crate::calllog`]) |
//! | `POST reset` | back to the world file (state, faults, counters) |
//! | `GET faults` | the fault rules with their match and fire counts |
//! | `POST faults` | adds one rule or a list (JSON, see [`crate::faults`]); answers their ids |
//! | `DELETE faults`, `DELETE faults/<id>` | removes all rules, or one |
//! | `POST instances` | launches an instance (`{"instance_type", "subnet", ...}` as in the world file) |
//! | `PUT gcp/iam` | Compute Engine's roles and bindings (JSON, as the world file's `gcp.iam`, see [`crate::grants`]); until a reset |
//! | `DELETE gcp/iam` | every Compute Engine call allowed again |
//! | `PUT azure/rbac` | Resource Manager's roles and bindings (JSON, as the world file's `azure.rbac`); until a reset |
//! | `DELETE azure/rbac` | every Resource Manager call allowed again |
//! | `GET ca.pem` | the CA of the HTTPS (Azure Resource Manager) port, PEM |
//! | `GET healthz` | `ok` |

use serde_json::{Value, json};

use crate::ec2::world::InstanceSpec;
use crate::faults;
use crate::grants::{GrantSpec, Granted, Grants};
use crate::query::Params;
use crate::wire::{Received, Resp, Shared, respond};

fn json_resp(status: u16, v: &Value) -> Resp {
    respond(status, "application/json", v.to_string())
}

fn bad(status: u16, msg: impl std::fmt::Display) -> Resp {
    json_resp(status, &json!({ "error": msg.to_string() }))
}

/// Roles and bindings from a request body (a [`GrantSpec`] as JSON).
fn grants_from(
    body: &[u8],
    at: &str,
    parse: fn(&str) -> Result<Granted, String>,
) -> Result<Grants, String> {
    let spec: GrantSpec = serde_json::from_slice(body).map_err(|e| format!("{at}: {e}"))?;
    Grants::compile(&spec, at, parse)
}

pub(crate) fn handle(shared: &Shared, rx: &Received) -> Resp {
    let path = rx
        .path
        .trim_start_matches("/_mockcloud/")
        .trim_end_matches('/');
    let method = rx.method.as_str();
    let mut cloud = shared.lock();
    match (method, path) {
        ("GET", "healthz") => respond(200, "text/plain", "ok"),
        ("GET", "ca.pem") => respond(200, "application/x-pem-file", shared.ca_pem.clone()),
        ("GET", "state") => match serde_json::to_string(&cloud.dump()) {
            Ok(s) => respond(200, "application/json", s),
            Err(e) => bad(500, e),
        },
        ("GET", "calls") => match Params::parse(rx.query.as_bytes()).get("by") {
            None => json_resp(200, &json!(cloud.calls)),
            Some("caller") => json_resp(200, &json!(cloud.call_log.by_caller())),
            Some(other) => bad(400, format!("calls by {other:?}: only by=caller is known")),
        },
        ("GET", "call-log") => {
            let since = Params::parse(rx.query.as_bytes())
                .get("since")
                .map(str::parse::<u64>)
                .transpose();
            match since {
                Ok(since) => json_resp(200, &json!(cloud.call_log.page(since.unwrap_or(0)))),
                Err(e) => bad(400, format!("since: {e}")),
            }
        }
        ("POST", "reset") => match cloud.reset() {
            Ok(()) => json_resp(200, &json!({ "reset": true })),
            Err(e) => bad(500, e),
        },
        ("GET", "faults") => json_resp(200, &json!(cloud.faults.rules())),
        ("POST", "faults") => {
            let rules = match faults::rules_from_json(&rx.body, "POST /_mockcloud/faults") {
                Ok(r) => r,
                Err(e) => {
                    return json_resp(
                        400,
                        &json!({ "error": e.to_string(), "key": e.unknown_key() }),
                    );
                }
            };
            let ids: Vec<u64> = rules.into_iter().map(|r| cloud.faults.add(r)).collect();
            json_resp(200, &json!({ "ids": ids }))
        }
        ("DELETE", "faults") => {
            cloud.faults.clear();
            json_resp(200, &json!({ "deleted": "all" }))
        }
        ("DELETE", p) if p.starts_with("faults/") => match p["faults/".len()..].parse::<u64>() {
            Ok(id) if cloud.faults.remove(id) => json_resp(200, &json!({ "deleted": id })),
            _ => bad(404, "no such fault rule"),
        },
        ("POST", "instances") => {
            let spec: InstanceSpec = match serde_json::from_slice(&rx.body) {
                Ok(s) => s,
                Err(e) => return bad(400, e),
            };
            let now_ms = cloud.now_ms(std::time::Instant::now());
            match cloud.ec2.launch_spec(&spec, now_ms) {
                Ok(id) => json_resp(200, &json!({ "instance_id": id })),
                Err(e) => bad(400, e),
            }
        }
        ("PUT", "gcp/iam") => match grants_from(&rx.body, "gcp.iam", Granted::from_gcp_role) {
            Ok(g) => {
                cloud.gcp.iam = Some(g);
                json_resp(200, &json!({ "set": "gcp/iam" }))
            }
            Err(e) => bad(400, e),
        },
        ("DELETE", "gcp/iam") => {
            cloud.gcp.iam = None;
            json_resp(200, &json!({ "deleted": "gcp/iam" }))
        }
        ("PUT", "azure/rbac") => {
            match grants_from(&rx.body, "azure.rbac", Granted::from_azure_role) {
                Ok(g) => {
                    cloud.azure.rbac = Some(g);
                    json_resp(200, &json!({ "set": "azure/rbac" }))
                }
                Err(e) => bad(400, e),
            }
        }
        ("DELETE", "azure/rbac") => {
            cloud.azure.rbac = None;
            json_resp(200, &json!({ "deleted": "azure/rbac" }))
        }
        _ => bad(
            404,
            format!("no control endpoint {method} /_mockcloud/{path}"),
        ),
    }
}
