//! Asynchronous operations: every accepted PUT and DELETE starts one, answered with an
//! `Azure-AsyncOperation` header (the status URL, `{"status":"InProgress"|"Succeeded"}`), a
//! `Location` header (the result URL: 202 while running, then the resource or 204) and
//! `Retry-After`. An operation succeeds at once unless an `operation_running` fault keeps it
//! `InProgress`; until then its resource is busy (409 `AnotherOperationInProgress` for other
//! writes) and shows `provisioningState` `Updating` or `Deleting`. A POST action
//! (`applicationGateways/{name}/backendhealth`) is one too: 202 with `Location`, whose result
//! URL answers 202 while it runs and then the action's answer (200); it holds nothing busy.

use serde::Serialize;
use serde_json::{Value, json};

use super::{ARM_BASE, AzError, AzResult, AzureState, Call, Reply, props, resource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OpKind {
    Put,
    Delete,
    /// A POST action (`backendhealth`): its answer is kept with the operation.
    Action,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmOperation {
    pub id: String,
    /// Order of creation.
    pub seq: u64,
    pub namespace: String,
    /// The lowercased id of the top-level resource it holds busy.
    pub key: String,
    /// The id of what it writes (a child for child PUTs and DELETEs).
    pub target: String,
    pub kind: OpKind,
    pub start_ms: u64,
    pub done_at_ms: u64,
    pub finished: bool,
    /// An action's answer, served by its result URL once finished.
    #[serde(skip)]
    pub answer: Option<Value>,
}

/// Starts an operation on `key`; busy until done when it does not end at once.
pub(super) fn begin(
    s: &mut AzureState,
    call: &Call,
    namespace: &str,
    key: &str,
    target: &str,
    kind: OpKind,
) -> String {
    let id = s.guid();
    let seq = s.operations.len() as u64 + 1;
    let running = call.running_ms > 0;
    s.operations.insert(
        id.clone(),
        ArmOperation {
            id: id.clone(),
            seq,
            namespace: namespace.to_string(),
            key: key.to_string(),
            target: target.to_string(),
            kind,
            start_ms: call.now_ms,
            done_at_ms: call.now_ms + call.running_ms,
            finished: !running,
            answer: None,
        },
    );
    if running && kind != OpKind::Action {
        s.busy.insert(key.to_string(), id.clone());
    }
    id
}

/// Starts an action on `key` whose result URL answers `answer` (202 while it runs); the
/// resource is not held busy.
pub(super) fn begin_action(
    s: &mut AzureState,
    call: &Call,
    namespace: &str,
    key: &str,
    answer: Value,
) -> String {
    let id = begin(s, call, namespace, key, key, OpKind::Action);
    if let Some(op) = s.operations.get_mut(&id) {
        op.answer = Some(answer);
    }
    id
}

fn urls(s: &AzureState, op: &ArmOperation, call: &Call) -> (String, String) {
    let version = call.api_version.as_deref().unwrap_or_default();
    let base = format!(
        "{ARM_BASE}/subscriptions/{}/providers/{}/locations/{}",
        s.subscription, op.namespace, s.location
    );
    (
        format!("{base}/operations/{}?api-version={version}", op.id),
        format!("{base}/operationResults/{}?api-version={version}", op.id),
    )
}

/// The polling headers of an accepted call.
pub(super) fn headers(s: &AzureState, id: &str, call: &Call) -> Vec<(String, String)> {
    let Some(op) = s.operations.get(id) else {
        return Vec::new();
    };
    let (status, result) = urls(s, op, call);
    let mut h = vec![
        ("Azure-AsyncOperation".to_string(), status),
        ("Retry-After".to_string(), s.retry_after_s.to_string()),
    ];
    if matches!(op.kind, OpKind::Delete | OpKind::Action) {
        h.push(("Location".to_string(), result));
    }
    h
}

/// Ends the operations due by `now_ms`.
pub(super) fn advance(s: &mut AzureState, now_ms: u64) {
    let due: Vec<String> = s
        .operations
        .values()
        .filter(|o| !o.finished && o.done_at_ms <= now_ms)
        .map(|o| o.id.clone())
        .collect();
    for id in due {
        let Some(op) = s.operations.get_mut(&id) else {
            continue;
        };
        op.finished = true;
        let op = op.clone();
        if s.busy.get(&op.key) == Some(&op.id) {
            s.busy.remove(&op.key);
        }
        if op.kind == OpKind::Action {
            continue;
        }
        if op.kind == OpKind::Delete && op.target.eq_ignore_ascii_case(&op.key) {
            resource::remove(s, &op.key);
        } else if let Some(v) = s.resources.get_mut(&op.key) {
            props(v).insert("provisioningState".into(), json!("Succeeded"));
        }
    }
}

fn timestamp(now_ms: u64, at_ms: u64) -> String {
    let ago = chrono::Duration::milliseconds(now_ms.saturating_sub(at_ms) as i64);
    (chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn find<'a>(s: &'a AzureState, id: &str) -> AzResult<&'a ArmOperation> {
    s.operations.get(id).ok_or_else(|| {
        AzError::new(
            404,
            "OperationNotFound",
            format!("The operation '{id}' could not be found."),
        )
    })
}

/// `GET .../operations/{id}`: the operation's status.
pub(super) fn status(s: &AzureState, id: &str, call: &Call) -> AzResult<Reply> {
    let op = find(s, id)?;
    let mut v = json!({
        "name": op.id,
        "status": if op.finished { "Succeeded" } else { "InProgress" },
        "startTime": timestamp(call.now_ms, op.start_ms),
    });
    if op.finished {
        v["endTime"] = json!(timestamp(call.now_ms, op.done_at_ms));
    }
    let mut r = Reply::ok(v);
    if !op.finished {
        r.headers
            .push(("Retry-After".into(), s.retry_after_s.to_string()));
    }
    Ok(r)
}

/// `GET .../operationResults/{id}`: 202 while running, then the result.
pub(super) fn result(s: &AzureState, id: &str, call: &Call) -> AzResult<Reply> {
    let op = find(s, id)?;
    if !op.finished {
        let (_, location) = urls(s, op, call);
        return Ok(Reply {
            status: 202,
            body: None,
            headers: vec![
                ("Location".into(), location),
                ("Retry-After".into(), s.retry_after_s.to_string()),
            ],
        });
    }
    match op.kind {
        OpKind::Delete => Ok(Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
        }),
        OpKind::Action => Ok(Reply::ok(op.answer.clone().unwrap_or(Value::Null))),
        OpKind::Put => s
            .lookup(&op.target)
            .map(|v| Reply::ok(resource::render(s, v)))
            .ok_or_else(|| AzError::child_not_found(&op.target)),
    }
}

/// The operations as the state dump shows them, newest last.
pub fn summary(s: &AzureState) -> Vec<Value> {
    let mut ops: Vec<&ArmOperation> = s.operations.values().collect();
    ops.sort_by_key(|o| o.seq);
    ops.iter()
        .map(|o| json!({"id": o.id, "target": o.target, "kind": o.kind, "finished": o.finished}))
        .collect()
}
