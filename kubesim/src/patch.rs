//! The four PATCH kinds: JSON merge patch (RFC 7386, `json_patch::merge`), JSON patch,
//! strategic merge patch and server-side apply.
//!
//! Strategic merge patch covers what kubectl sends for the served built-in kinds: lists merged
//! by key (`containers`, `initContainers`, `volumes`, `env`, `imagePullSecrets` by `name`;
//! container `ports` by `containerPort`; service `ports` by `port`; `volumeMounts` by
//! `mountPath`; `conditions` by `type`; `taints` by `key`; `ownerReferences` by `uid`),
//! `finalizers` merged as a set, the `$patch: delete|replace` directives,
//! `$deleteFromPrimitiveList/<field>`; `$setElementOrder` and `$retainKeys` are accepted and
//! ignored. Every other list is replaced, and maps follow merge-patch rules.
//!
//! Server-side apply is a merge-apply: the applied configuration is merged into the live object
//! (lists by the keys above), the fields it names are recorded for its manager in
//! `managedFields` (FieldsV1), fields the same manager applied before and no longer applies are
//! removed unless another manager owns them, and a field another *Apply* manager owns with a
//! different value is a 409 conflict unless `force=true`. Update operations are not recorded as
//! managers.

use serde_json::{Map, Value, json};

use crate::error::{Reason, StatusError};

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), StatusError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| StatusError::bad_request(format!("invalid JSON patch: {e}")))?;
    // As in the real API (evanphx/json-patch), `test` for null passes on a missing path;
    // kube-runtime's finalizer helper relies on it.
    let ops: Vec<json_patch::PatchOperation> = ops
        .0
        .into_iter()
        .filter(|op| match op {
            json_patch::PatchOperation::Test(t) => {
                !(t.value.is_null() && target.pointer(t.path.as_str()).is_none())
            }
            _ => true,
        })
        .collect();
    json_patch::patch(target, &ops).map_err(|e| {
        StatusError::new(
            Reason::Invalid,
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ListKind {
    Keyed(&'static str),
    Set,
    Atomic,
}

fn list_kind(path: &[String], field: &str) -> ListKind {
    let in_container = path.iter().any(|p| {
        matches!(
            p.as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        )
    });
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => ListKind::Keyed("name"),
        "volumeMounts" => ListKind::Keyed("mountPath"),
        "volumeDevices" => ListKind::Keyed("devicePath"),
        "conditions" => ListKind::Keyed("type"),
        "taints" => ListKind::Keyed("key"),
        "ownerReferences" => ListKind::Keyed("uid"),
        "hostAliases" => ListKind::Keyed("ip"),
        "topologySpreadConstraints" => ListKind::Keyed("topologyKey"),
        "ports" if in_container => ListKind::Keyed("containerPort"),
        "ports" if path.last().is_some_and(|p| p == "spec") => ListKind::Keyed("port"),
        "finalizers" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

fn is_directive(key: &str) -> bool {
    key == "$patch"
        || key == "$retainKeys"
        || key.starts_with("$setElementOrder/")
        || key.starts_with("$deleteFromPrimitiveList/")
}

/// A copy of `v` with every patch directive removed.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|i| i.get("$patch").is_none())
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Strategic merge patch of `patch` into `target` (see the module docs for what is covered).
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), StatusError> {
    if !patch.is_object() {
        return Err(StatusError::bad_request(
            "strategic merge patch must be a JSON object",
        ));
    }
    smp(target, patch, &mut Vec::new());
    Ok(())
}

fn smp(target: &mut Value, patch: &Value, path: &mut Vec<String>) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") || !target.is_object() {
        *target = clean(patch);
        return;
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (t.get_mut(field), v) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if is_directive(k) {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(o) if o.get("$patch").and_then(Value::as_str) == Some("delete") => {
                t.remove(k);
            }
            Value::Object(_) => {
                path.push(k.clone());
                smp(t.entry(k.clone()).or_insert(Value::Null), v, path);
                path.pop();
            }
            Value::Array(items) => {
                let kind = list_kind(path, k);
                let entry = t.entry(k.clone()).or_insert(Value::Null);
                path.push(k.clone());
                merge_list(entry, items, kind, path);
                path.pop();
            }
            scalar => {
                t.insert(k.clone(), scalar.clone());
            }
        }
    }
}

fn merge_list(target: &mut Value, items: &[Value], kind: ListKind, path: &mut Vec<String>) {
    let replace_all = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let kind = match kind {
        ListKind::Keyed(_) if !items.iter().all(Value::is_object) => ListKind::Atomic,
        other => other,
    };
    if replace_all || kind == ListKind::Atomic || !target.is_array() {
        *target = clean(&Value::Array(items.to_vec()));
        return;
    }
    let Value::Array(t) = target else { return };
    match kind {
        ListKind::Set => {
            for i in items {
                if !t.contains(i) {
                    t.push(i.clone());
                }
            }
        }
        ListKind::Keyed(key) => {
            for item in items {
                let Some(id) = item.get(key) else {
                    t.push(clean(item));
                    continue;
                };
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.retain(|x| x.get(key) != Some(id));
                    continue;
                }
                match t.iter_mut().find(|x| x.get(key) == Some(id)) {
                    Some(existing) => smp(existing, item, path),
                    None => t.push(clean(item)),
                }
            }
        }
        ListKind::Atomic => {}
    }
}

// ---- server-side apply ----

/// Fields of `v` as a FieldsV1 set (`f:name`, `k:{"name":"x"}`, `v:"x"`; `{}` is a leaf).
pub fn field_set(v: &Value) -> Value {
    let mut path = Vec::new();
    let mut set = fields_of(v, &mut path);
    if let Some(m) = set.as_object_mut()
        && let Some(Value::Object(meta)) = m.get_mut("f:metadata")
    {
        for skip in [
            "f:name",
            "f:namespace",
            "f:resourceVersion",
            "f:managedFields",
            "f:uid",
            "f:creationTimestamp",
            "f:generation",
        ] {
            meta.remove(skip);
        }
    }
    if let Some(m) = set.as_object_mut() {
        m.remove("f:apiVersion");
        m.remove("f:kind");
    }
    set
}

fn fields_of(v: &Value, path: &mut Vec<String>) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = v {
        for (k, child) in m {
            let entry = match child {
                Value::Object(c) if !c.is_empty() => {
                    path.push(k.clone());
                    let f = fields_of(child, path);
                    path.pop();
                    f
                }
                Value::Array(items) => {
                    path.push(k.clone());
                    let f = list_fields(items, list_kind(&path[..path.len() - 1], k), path);
                    path.pop();
                    f
                }
                _ => json!({}),
            };
            out.insert(format!("f:{k}"), entry);
        }
    }
    Value::Object(out)
}

fn list_fields(items: &[Value], kind: ListKind, path: &mut Vec<String>) -> Value {
    let mut out = Map::new();
    match kind {
        ListKind::Keyed(key) if items.iter().all(|i| i.get(key).is_some()) => {
            for item in items {
                let id = json!({ key: item[key].clone() });
                let mut f = fields_of(item, path);
                if let Some(m) = f.as_object_mut() {
                    m.insert(".".into(), json!({}));
                }
                out.insert(format!("k:{id}"), f);
            }
        }
        ListKind::Set => {
            for item in items {
                out.insert(format!("v:{item}"), json!({}));
            }
        }
        _ => {}
    }
    Value::Object(out)
}

/// Where a field-set segment points inside `v`.
fn child<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    if let Some(name) = seg.strip_prefix("f:") {
        return v.get(name);
    }
    let items = v.as_array()?;
    if let Some(id) = seg.strip_prefix("k:") {
        let id: Map<String, Value> = serde_json::from_str(id).ok()?;
        return items
            .iter()
            .find(|i| id.iter().all(|(k, want)| i.get(k) == Some(want)));
    }
    if let Some(raw) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(raw).ok()?;
        return items.iter().find(|i| **i == want);
    }
    None
}

fn remove_child(v: &mut Value, seg: &str) {
    if let Some(name) = seg.strip_prefix("f:") {
        if let Value::Object(m) = v {
            m.remove(name);
        }
        return;
    }
    let Value::Array(items) = v else { return };
    if let Some(id) = seg.strip_prefix("k:") {
        if let Ok(id) = serde_json::from_str::<Map<String, Value>>(id) {
            items.retain(|i| !id.iter().all(|(k, want)| i.get(k) == Some(want)));
        }
    } else if let Some(raw) = seg.strip_prefix("v:")
        && let Ok(want) = serde_json::from_str::<Value>(raw)
    {
        items.retain(|i| *i != want);
    }
}

fn child_mut<'a>(v: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
    if let Some(name) = seg.strip_prefix("f:") {
        return v.get_mut(name);
    }
    let items = v.as_array_mut()?;
    if let Some(id) = seg.strip_prefix("k:") {
        let id: Map<String, Value> = serde_json::from_str(id).ok()?;
        return items
            .iter_mut()
            .find(|i| id.iter().all(|(k, want)| i.get(k) == Some(want)));
    }
    None
}

/// Leaf paths of a field set.
fn leaves(set: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(m) = set.as_object() else { return };
    let children: Vec<_> = m.iter().filter(|(k, _)| *k != ".").collect();
    if children.is_empty() {
        out.push(prefix.clone());
        return;
    }
    for (k, v) in children {
        prefix.push(k.clone());
        leaves(v, prefix, out);
        prefix.pop();
    }
}

fn set_contains(set: &Value, path: &[String]) -> bool {
    let mut node = set;
    for seg in path {
        match node.get(seg) {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

fn set_remove(set: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = set;
    for seg in parents {
        match node.get_mut(seg) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Value::Object(m) = node {
        m.remove(last);
    }
}

fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |node, seg| child(node, seg))
}

/// Removes from `obj` what `old` owned and `new` no longer does, unless one of `others` owns it.
fn prune(obj: &mut Value, old: &Value, new: Option<&Value>, others: &[&Value]) {
    let Some(old) = old.as_object() else { return };
    for (seg, old_child) in old {
        if seg == "." {
            continue;
        }
        let new_child = new.and_then(|n| n.get(seg));
        let others_child: Vec<&Value> = others.iter().filter_map(|o| o.get(seg)).collect();
        if new_child.is_none() && others_child.is_empty() {
            remove_child(obj, seg);
            continue;
        }
        let leaf = old_child
            .as_object()
            .is_none_or(|m| m.keys().all(|k| k == "."));
        if !leaf && let Some(c) = child_mut(obj, seg) {
            prune(c, old_child, new_child, &others_child);
        }
    }
}

/// What one apply request asks for.
pub struct ApplyRequest<'a> {
    pub applied: &'a Value,
    pub manager: &'a str,
    pub force: bool,
    /// Lists merge by key (built-in kinds); otherwise they are replaced whole (custom kinds).
    pub keyed_lists: bool,
    pub api_version: &'a str,
    pub now: &'a str,
}

/// Server-side apply of `req.applied` onto `live` (or a new object when `live` is `None`).
pub fn apply(live: Option<&Value>, req: &ApplyRequest<'_>) -> Result<Value, StatusError> {
    let new_set = field_set(req.applied);
    let mut managed: Vec<Value> = live
        .and_then(|l| l["metadata"]["managedFields"].as_array().cloned())
        .unwrap_or_default();
    managed.retain(|e| e.is_object() && e["fieldsV1"].is_object());
    let mine = |e: &Value| e["manager"].as_str() == Some(req.manager) && e["operation"] == "Apply";
    let mut result = match live {
        None => {
            let mut obj = clean(req.applied);
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            obj
        }
        Some(live) => {
            let old_set = managed
                .iter()
                .find(|e| mine(e))
                .map(|e| e["fieldsV1"].clone())
                .unwrap_or_else(|| json!({}));
            let mut new_leaves = Vec::new();
            leaves(&new_set, &mut Vec::new(), &mut new_leaves);
            let mut conflicts = Vec::new();
            for entry in managed.iter_mut().filter(|e| !mine(e)) {
                let owner = entry["manager"].as_str().unwrap_or_default().to_string();
                for leaf in &new_leaves {
                    if set_contains(&entry["fieldsV1"], leaf)
                        && value_at(live, leaf) != value_at(req.applied, leaf)
                    {
                        if req.force {
                            set_remove(&mut entry["fieldsV1"], leaf);
                        } else {
                            let field: String = leaf
                                .iter()
                                .map(|s| format!(".{}", s.trim_start_matches("f:")))
                                .collect();
                            conflicts.push(format!("conflict with \"{owner}\": {field}"));
                        }
                    }
                }
            }
            if !conflicts.is_empty() {
                let n = conflicts.len();
                let plural = if n == 1 { "" } else { "s" };
                return Err(StatusError::new(
                    Reason::Conflict,
                    format!(
                        "Apply failed with {n} conflict{plural}: {}",
                        conflicts.join("\n")
                    ),
                ));
            }
            let mut merged = live.clone();
            let mut applied = req.applied.clone();
            if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in [
                    "managedFields",
                    "resourceVersion",
                    "uid",
                    "creationTimestamp",
                ] {
                    meta.remove(k);
                }
            }
            if req.keyed_lists {
                smp(&mut merged, &applied, &mut Vec::new());
            } else {
                json_patch::merge(&mut merged, &applied);
            }
            let others: Vec<&Value> = managed
                .iter()
                .filter(|e| !mine(e))
                .map(|e| &e["fieldsV1"])
                .collect();
            prune(&mut merged, &old_set, Some(&new_set), &others);
            merged
        }
    };
    let previous_time = managed
        .iter()
        .find(|e| mine(e) && e["fieldsV1"] == new_set)
        .and_then(|e| e["time"].as_str().map(str::to_string));
    managed.retain(|e| !mine(e) && e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty()));
    managed.push(json!({
        "manager": req.manager,
        "operation": "Apply",
        "apiVersion": req.api_version,
        "time": previous_time.as_deref().unwrap_or(req.now),
        "fieldsType": "FieldsV1",
        "fieldsV1": new_set,
    }));
    if let Some(meta) = result.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("managedFields".into(), Value::Array(managed));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_containers_by_name() {
        let mut t = json!({"spec": {"containers": [
            {"name": "a", "image": "x:1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "y:1"}
        ], "tolerations": [{"key": "k"}]}, "metadata": {"finalizers": ["f1"]}});
        let p = json!({
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "spec": {"containers": [
                {"name": "a", "image": "x:2", "ports": [{"containerPort": 443}]},
                {"name": "b", "$patch": "delete"},
                {"name": "c", "image": "z"}
            ], "tolerations": [{"key": "j"}]},
            "metadata": {"finalizers": ["f2"], "$deleteFromPrimitiveList/finalizers": ["f1"]}
        });
        strategic_merge(&mut t, &p).ok();
        assert_eq!(
            t,
            json!({"spec": {"containers": [
                {"name": "a", "image": "x:2", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                {"name": "c", "image": "z"}
            ], "tolerations": [{"key": "j"}]}, "metadata": {"finalizers": ["f2"]}})
        );
    }

    #[test]
    fn strategic_replace_and_delete_directives() {
        let mut t = json!({"spec": {"selector": {"a": "1", "b": "2"}, "x": {"y": 1}}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"selector": {"$patch": "replace", "c": "3"}, "x": {"$patch": "delete"}}}),
        )
        .ok();
        assert_eq!(t, json!({"spec": {"selector": {"c": "3"}}}));
    }

    #[test]
    fn apply_prunes_and_conflicts() {
        let req = |applied: &Value,
                   manager: &'static str,
                   force: bool|
         -> (Value, &'static str, bool) { (applied.clone(), manager, force) };
        let run = |live: Option<&Value>, (applied, manager, force): (Value, &str, bool)| {
            apply(
                live,
                &ApplyRequest {
                    applied: &applied,
                    manager,
                    force,
                    keyed_lists: true,
                    api_version: "v1",
                    now: "2024-01-01T00:00:00Z",
                },
            )
        };
        let first =
            json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
        let live = run(None, req(&first, "m1", false)).ok();
        let live = live.as_ref();
        assert_eq!(
            live.map(|l| l["metadata"]["labels"]["b"].clone()),
            Some(json!("2"))
        );
        // m1 stops applying label b: it goes.
        let second = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v"}});
        let live2 = run(live, req(&second, "m1", false)).ok();
        assert_eq!(
            live2.as_ref().map(|l| l["metadata"]["labels"].clone()),
            Some(json!({"a": "1"}))
        );
        // m2 sets data.k to another value: conflict unless forced.
        let third = json!({"metadata": {"name": "x"}, "data": {"k": "other"}});
        let conflict = run(live2.as_ref(), req(&third, "m2", false));
        assert_eq!(conflict.err().map(|e| e.code()), Some(409));
        let forced = run(live2.as_ref(), req(&third, "m2", true)).ok();
        assert_eq!(
            forced.as_ref().map(|l| l["data"]["k"].clone()),
            Some(json!("other"))
        );
    }
}
