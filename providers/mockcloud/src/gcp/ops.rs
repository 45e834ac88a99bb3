//! Operations: every mutating call answers one, global, regional or zonal as its resource.
//! Clients poll `get` or call `wait` until `status` is `DONE`. An operation is `DONE` at
//! once unless an `operation_running` fault keeps it `RUNNING` for a while; `wait` answers
//! when it is done or after [`WAIT_CAP_MS`], as the real one answers after about two minutes.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Call, GcpError, GcpResult, GcpState, Scope};

/// The longest a `wait` holds before answering with the operation as it is.
pub const WAIT_CAP_MS: u64 = 120_000;

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// The operation as stored (status filled in when read).
    pub body: Value,
    pub inserted_ms: u64,
    pub done_at_ms: u64,
}

pub(super) fn create(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    kind: &str,
    path: &str,
) -> Value {
    let id = state.next_id();
    let name = format!(
        "operation-{}-{}",
        1_764_000_000_000 + call.now_ms,
        &super::fingerprint(id.parse::<u64>().unwrap_or(0)).replace(['+', '/', '=', '-', '_'], "")
    );
    let op_path = format!("{}/operations/{name}", scope.path());
    let target_id = state
        .resources
        .get(path)
        .and_then(|r| r.get("id"))
        .cloned()
        .unwrap_or(json!(state.next_id()));
    let mut body = json!({
        "kind": "compute#operation",
        "id": id,
        "name": name,
        "operationType": kind,
        "targetLink": state.url(path),
        "targetId": target_id,
        "user": call.user,
        "insertTime": state.timestamp(call.now_ms),
        "startTime": state.timestamp(call.now_ms),
        "selfLink": state.url(&op_path),
    });
    match scope {
        Scope::Region(r) => body["region"] = json!(state.url(&format!("regions/{r}"))),
        Scope::Zone(z) => body["zone"] = json!(state.url(&format!("zones/{z}"))),
        Scope::Global => {}
    }
    let op = Operation {
        body,
        inserted_ms: call.now_ms,
        done_at_ms: call.now_ms + call.running_ms,
    };
    let shown = render(state, &op, call.now_ms);
    state.operations.insert(op_path, op);
    shown
}

fn render(state: &GcpState, op: &Operation, now_ms: u64) -> Value {
    let mut v = op.body.clone();
    if now_ms >= op.done_at_ms {
        v["status"] = json!("DONE");
        v["progress"] = json!(100);
        v["endTime"] = json!(state.timestamp(op.done_at_ms));
    } else {
        v["status"] = json!("RUNNING");
        v["progress"] = json!(0);
    }
    v
}

/// When the operation at `path` is done (ms since the cloud started), if it exists.
pub fn done_at(state: &GcpState, path: &str) -> Option<u64> {
    state.operations.get(path).map(|o| o.done_at_ms)
}

pub(super) fn handle(
    state: &mut GcpState,
    call: &Call,
    scope: &Scope,
    rest: &[&str],
) -> GcpResult<Value> {
    match (call.method.as_str(), rest) {
        ("GET", []) => super::list::list_operations(state, call, scope),
        ("GET", [name]) | ("POST", [name, "wait"]) => {
            let path = format!("{}/operations/{name}", scope.path());
            let op = state
                .operations
                .get(&path)
                .ok_or_else(|| GcpError::not_found(&state.rel(&path)))?;
            Ok(render(state, op, call.now_ms))
        }
        ("DELETE", [name]) => {
            let path = format!("{}/operations/{name}", scope.path());
            state
                .operations
                .remove(&path)
                .map(|_| json!({}))
                .ok_or_else(|| GcpError::not_found(&state.rel(&path)))
        }
        _ => Err(super::unknown(call)),
    }
}

/// The operations of a scope, rendered at `now_ms`, by name.
pub(super) fn rendered(state: &GcpState, scope: &Scope, now_ms: u64) -> Vec<Value> {
    let prefix = format!("{}/operations/", scope.path());
    state
        .operations
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(_, op)| render(state, op, now_ms))
        .collect()
}
