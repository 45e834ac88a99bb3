//! ARM's generic semantics, the same for every resource type: routing, `api-version`, resource
//! groups, PUT (create or replace the whole resource), GET, PATCH (tags), DELETE, lists with
//! `nextLink`, child resources (a subnet is PUT on its own but lives in its VNet), ETags and
//! the one-operation-at-a-time rule. What each type checks is in its own module, reached
//! through [`prepare`], [`check_delete`], [`after_put`], [`after_delete`] and [`render`].

use serde_json::{Map, Value, json};

use super::{
    ARM_BASE, AzError, AzResult, AzureState, COMPUTE_API_VERSIONS, Call, KINDS, Kind,
    NETWORK_API_VERSIONS, Reply, appgw, appgw_health, compute, kind_of, lb, network, nic, ops,
};

/// Top-level keys a PUT keeps from its body (the rest are read-only or unknown).
const WRITABLE_KEYS: &[&str] = &[
    "location",
    "tags",
    "properties",
    "sku",
    "zones",
    "identity",
    "extendedLocation",
    "plan",
];

pub(super) fn handle(s: &mut AzureState, call: &Call) -> AzResult<Reply> {
    let seg: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let m = call.method.as_str();
    match seg.as_slice() {
        [] if m == "GET" => {
            check_version(s, call, None, "subscriptions")?;
            Ok(Reply::ok(json!({
                "id": format!("/subscriptions/{}", s.subscription),
                "subscriptionId": s.subscription,
                "tenantId": s.tenant,
                "displayName": "cloudnet mock subscription",
                "state": "Enabled",
            })))
        }
        ["resourceGroups", rg] if m == "GET" => {
            check_version(s, call, None, "resourceGroups")?;
            let name = group(s, rg)?;
            Ok(Reply::ok(json!({
                "id": format!("/subscriptions/{}/resourceGroups/{name}", s.subscription),
                "name": name,
                "type": "Microsoft.Resources/resourceGroups",
                "location": s.location,
                "properties": {"provisioningState": "Succeeded"},
            })))
        }
        ["providers", ns, "locations", _, "operations", id] if m == "GET" => {
            check_version(s, call, Some(ns), "locations/operations")?;
            ops::status(s, id, call)
        }
        ["providers", ns, "locations", _, "operationResults", id] if m == "GET" => {
            check_version(s, call, Some(ns), "locations/operationResults")?;
            ops::result(s, id, call)
        }
        ["providers", ns, type_] if m == "GET" => {
            let kind = known_kind(ns, type_)?;
            check_version(s, call, Some(ns), type_)?;
            list(s, call, kind, None)
        }
        ["resourceGroups", rg, "providers", ns, type_, rest @ ..] => {
            let rg = group(s, rg)?;
            let kind = known_kind(ns, type_)?;
            let network_path = kind.type_ == "virtualMachineScaleSets"
                && rest
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case("networkInterfaces"));
            let ns_for_version = if network_path {
                "Microsoft.Network"
            } else {
                kind.namespace
            };
            check_version(s, call, Some(ns_for_version), kind.type_)?;
            scoped(s, call, kind, &rg, rest)
        }
        _ => Err(unknown_path(call)),
    }
}

fn scoped(
    s: &mut AzureState,
    call: &Call,
    kind: &Kind,
    rg: &str,
    rest: &[&str],
) -> AzResult<Reply> {
    let m = call.method.as_str();
    match rest {
        [] if m == "GET" => list(s, call, kind, Some(rg)),
        [name] => {
            let id = s.id_of(rg, kind, name);
            match m {
                "GET" => get(s, kind, &id),
                "PUT" => put(s, call, kind, &id, name),
                "PATCH" => patch(s, call, kind, &id),
                "DELETE" => delete(s, call, kind, &id),
                _ => Err(method_not_allowed(call)),
            }
        }
        [name, action]
            if m == "POST"
                && kind.type_ == "applicationGateways"
                && action.eq_ignore_ascii_case("backendhealth") =>
        {
            let id = s.id_of(rg, kind, name);
            let gw = existing(s, kind, &id)?.clone();
            appgw_health::backend_health(s, call, &id.to_lowercase(), &gw)
        }
        [name, sub, more @ ..] if kind.type_ == "virtualMachineScaleSets" => {
            let id = s.id_of(rg, kind, name);
            compute::scale_set_paths(s, call, &id, sub, more)
        }
        [name, child] if m == "GET" => {
            let id = s.id_of(rg, kind, name);
            let (seg, _) = kind.child(child).ok_or_else(|| unknown_path(call))?;
            let parent = existing(s, kind, &id)?;
            let items = super::child_array(parent, seg).cloned().unwrap_or_default();
            Ok(Reply::ok(json!({ "value": items })))
        }
        [name, child, cname] => {
            let id = s.id_of(rg, kind, name);
            let (seg, writable) = kind.child(child).ok_or_else(|| unknown_path(call))?;
            match m {
                "GET" => {
                    existing(s, kind, &id)?;
                    let cid = format!("{id}/{seg}/{cname}");
                    s.lookup(&cid)
                        .map(|v| Reply::ok(render(s, v)))
                        .ok_or_else(|| AzError::child_not_found(&cid))
                }
                "PUT" if writable => put_child(s, call, kind, &id, seg, cname),
                "DELETE" if writable => delete_child(s, call, kind, &id, seg, cname),
                _ => Err(method_not_allowed(call)),
            }
        }
        _ => Err(unknown_path(call)),
    }
}

fn known_kind(ns: &str, type_: &str) -> AzResult<&'static Kind> {
    if let Some(k) = kind_of(ns, type_) {
        return Ok(k);
    }
    if KINDS.iter().any(|k| k.namespace.eq_ignore_ascii_case(ns)) {
        Err(AzError::new(
            404,
            "InvalidResourceType",
            format!("The resource type '{type_}' could not be found in the namespace '{ns}'."),
        ))
    } else {
        Err(AzError::new(
            404,
            "InvalidResourceNamespace",
            format!("The resource namespace '{ns}' is invalid."),
        ))
    }
}

fn group(s: &AzureState, rg: &str) -> AzResult<String> {
    s.resource_groups
        .get(&rg.to_lowercase())
        .cloned()
        .ok_or_else(|| {
            AzError::new(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{rg}' could not be found."),
            )
        })
}

fn well_formed_version(v: &str) -> bool {
    let date = v.strip_suffix("-preview").unwrap_or(v);
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `api-version` is required; a malformed one is `InvalidApiVersionParameter`, one the
/// provider does not serve `NoRegisteredProviderFound`, both 400 as ARM answers them.
fn check_version(s: &AzureState, call: &Call, ns: Option<&str>, type_: &str) -> AzResult<()> {
    let Some(v) = call.api_version.as_deref() else {
        return Err(AzError::bad(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let served: &[&str] = match ns {
        Some(n) if n.eq_ignore_ascii_case("Microsoft.Network") => NETWORK_API_VERSIONS,
        Some(n) if n.eq_ignore_ascii_case("Microsoft.Compute") => COMPUTE_API_VERSIONS,
        _ => &[],
    };
    if !well_formed_version(v) {
        return Err(AzError::bad(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                served.join(",")
            ),
        ));
    }
    if ns.is_some() && !served.contains(&v) {
        return Err(AzError::bad(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location '{}' and API version '{v}' for type '{type_}'. The supported api-versions are '{}'. The supported locations are '{}'.",
                s.location,
                served.join(", "),
                s.location
            ),
        ));
    }
    Ok(())
}

pub(super) fn unknown_path(call: &Call) -> AzError {
    AzError::new(
        404,
        "InvalidRequestUri",
        format!(
            "The request URI '/subscriptions/.../{}' is not valid.",
            call.segments.join("/")
        ),
    )
}

fn method_not_allowed(call: &Call) -> AzError {
    AzError::new(
        405,
        "MethodNotAllowed",
        format!(
            "The requested resource does not support http method '{}'.",
            call.method
        ),
    )
}

/// The resource, or 404 `ResourceNotFound`.
pub(super) fn existing<'a>(s: &'a AzureState, kind: &Kind, id: &str) -> AzResult<&'a Value> {
    s.resources.get(&id.to_lowercase()).ok_or_else(|| {
        let (rg, name) = rg_and_name(id);
        AzError::not_found(&kind.full_type(), &name, &rg)
    })
}

fn rg_and_name(id: &str) -> (String, String) {
    let parts: Vec<&str> = id.split('/').collect();
    let rg = parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| parts.get(i + 1))
        .copied()
        .unwrap_or_default();
    (
        rg.to_string(),
        parts.last().copied().unwrap_or_default().to_string(),
    )
}

fn get(s: &AzureState, kind: &Kind, id: &str) -> AzResult<Reply> {
    existing(s, kind, id).map(|v| Reply::ok(render(s, v)))
}

/// `If-Match` and `If-None-Match` against the current ETag (`*` matches any).
pub(super) fn check_conditions(call: &Call, current: Option<&Value>, id: &str) -> AzResult<()> {
    let etag = current.and_then(|v| v["etag"].as_str());
    if let Some(want) = call.if_match.as_deref() {
        let ok = match etag {
            Some(e) => want == "*" || want == e,
            None => false,
        };
        if !ok {
            return Err(AzError::precondition_failed(id));
        }
    }
    if call.if_none_match.as_deref() == Some("*") && current.is_some() {
        return Err(AzError::precondition_failed(id));
    }
    Ok(())
}

pub(super) fn check_busy(s: &AzureState, key: &str, id: &str) -> AzResult<()> {
    match s.busy.get(key) {
        Some(op) => Err(AzError::another_operation(
            id,
            &format!(
                "{ARM_BASE}/subscriptions/{}/providers/Microsoft.Network/locations/{}/operations/{op}",
                s.subscription, s.location
            ),
        )),
        None => Ok(()),
    }
}

fn body_object(call: &Call) -> AzResult<Map<String, Value>> {
    match &call.body {
        Some(Value::Object(o)) => Ok(o.clone()),
        _ => Err(AzError::bad(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: the body must be a JSON object.",
        )),
    }
}

pub(super) fn check_location(s: &AzureState, loc: Option<&Value>) -> AzResult<String> {
    let Some(loc) = loc.and_then(Value::as_str) else {
        return Err(AzError::bad(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let norm = loc.to_lowercase().replace(' ', "");
    if norm != s.location {
        return Err(AzError::bad(
            "LocationNotAvailableForResourceType",
            format!(
                "The provided location '{loc}' is not available for resource type in this subscription. List of available regions is '{}'.",
                s.location
            ),
        ));
    }
    Ok(norm)
}

fn put(s: &mut AzureState, call: &Call, kind: &Kind, id: &str, name: &str) -> AzResult<Reply> {
    let key = id.to_lowercase();
    let old = s.resources.get(&key).cloned();
    check_conditions(call, old.as_ref(), id)?;
    check_busy(s, &key, id)?;
    let body = body_object(call)?;
    let location = check_location(s, body.get("location"))?;
    let mut new = json!({});
    for k in WRITABLE_KEYS {
        if let Some(v) = body.get(*k) {
            new[*k] = v.clone();
        }
    }
    new["id"] = json!(id);
    new["name"] = json!(name);
    new["type"] = json!(kind.full_type());
    new["location"] = json!(location);
    if !new["properties"].is_object() {
        new["properties"] = json!({});
    }
    write_resource(s, call, kind, id, old, new, None)
}

/// Checks, stores and answers a new version of a top-level resource (from a PUT of it or of
/// one of its children, `child` naming that child).
fn write_resource(
    s: &mut AzureState,
    call: &Call,
    kind: &Kind,
    id: &str,
    old: Option<Value>,
    mut new: Value,
    child: Option<(&str, &str)>,
) -> AzResult<Reply> {
    let key = id.to_lowercase();
    let p = super::props(&mut new);
    p.remove("provisioningState");
    let guid = old
        .as_ref()
        .and_then(|o| o["properties"]["resourceGuid"].as_str().map(str::to_string));
    let guid = guid.unwrap_or_else(|| s.guid());
    super::props(&mut new).insert("resourceGuid".into(), json!(guid));
    fill_children(s, kind, id, old.as_ref(), &mut new)?;
    prepare(
        s,
        kind,
        id,
        old.as_ref(),
        &mut new,
        call.api_version.as_deref(),
    )?;
    let state = if call.running_ms > 0 {
        "Updating"
    } else {
        "Succeeded"
    };
    super::props(&mut new).insert("provisioningState".into(), json!(state));
    new["etag"] = json!(s.etag());
    if kind.type_ == "applicationGateways" {
        if old.is_none() {
            appgw_health::forget(s, &key);
        }
        appgw_health::note_members(s, &key, &new, call.now_ms);
    }
    s.resources.insert(key.clone(), new);
    after_put(s, kind, id, old.as_ref())?;
    let target = match child {
        Some((seg, name)) => format!("{id}/{seg}/{name}"),
        None => id.to_string(),
    };
    let op = ops::begin(s, call, kind.namespace, &key, &target, ops::OpKind::Put);
    let shown = s
        .lookup(&target)
        .map(|v| render(s, v))
        .unwrap_or(Value::Null);
    let status = match (child, &old) {
        (None, None) => 201,
        (Some((seg, name)), Some(o)) => {
            let existed = super::child_array(o, seg).is_some_and(|a| {
                a.iter().any(|c| {
                    c["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            });
            if existed { 200 } else { 201 }
        }
        _ => 200,
    };
    Ok(Reply {
        status,
        body: Some(shown),
        headers: ops::headers(s, &op, call),
    })
}

/// Gives each child its id, type, ETag (kept while unchanged) and `provisioningState`.
fn fill_children(
    s: &mut AzureState,
    kind: &Kind,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
) -> AzResult<()> {
    for (seg, _) in kind.children {
        let Some(items) = new["properties"]
            .get_mut(*seg)
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let mut seen = std::collections::BTreeSet::new();
        for item in items.iter_mut() {
            let name = item["name"].as_str().unwrap_or_default().to_string();
            if name.is_empty() {
                return Err(AzError::bad(
                    "InvalidRequestFormat",
                    format!("Cannot parse the request: every item of '{seg}' needs a name."),
                ));
            }
            if !seen.insert(name.to_lowercase()) {
                return Err(AzError::bad(
                    "InvalidRequestFormat",
                    format!("Cannot parse the request: duplicate name '{name}' in '{seg}'."),
                ));
            }
            let cid = format!("{id}/{seg}/{name}");
            let before = old.and_then(|o| super::child_array(o, seg)).and_then(|a| {
                a.iter().find(|c| {
                    c["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                })
            });
            if !item["properties"].is_object() {
                item["properties"] = json!({});
            }
            if let Some(p) = item["properties"].as_object_mut() {
                p.remove("provisioningState");
            }
            let unchanged = before.is_some_and(|b| {
                let mut bp = b["properties"].clone();
                if let Some(o) = bp.as_object_mut() {
                    o.remove("provisioningState");
                }
                strip_derived(&mut bp);
                let mut ip = item["properties"].clone();
                strip_derived(&mut ip);
                bp == ip
            });
            let etag = match before.and_then(|b| b["etag"].as_str()) {
                Some(e) if unchanged => e.to_string(),
                _ => s.etag(),
            };
            item["id"] = json!(cid);
            item["type"] = json!(format!("{}/{seg}", kind.full_type()));
            item["etag"] = json!(etag);
            super::props(item).insert("provisioningState".into(), json!("Succeeded"));
        }
    }
    Ok(())
}

/// Read-only fields derived at render time, removed before comparing or storing.
fn strip_derived(p: &mut Value) {
    if let Some(o) = p.as_object_mut() {
        for k in ["ipConfigurations", "backendIPConfigurations", "subnets"] {
            if o.get(k).is_some_and(|v| {
                v.as_array().is_some_and(|a| {
                    a.iter()
                        .all(|x| x.as_object().is_some_and(|m| m.len() == 1))
                })
            }) {
                o.remove(k);
            }
        }
    }
}

fn put_child(
    s: &mut AzureState,
    call: &Call,
    kind: &Kind,
    id: &str,
    seg: &str,
    cname: &str,
) -> AzResult<Reply> {
    let key = id.to_lowercase();
    let old = existing(s, kind, id)?.clone();
    let cid = format!("{id}/{seg}/{cname}");
    check_conditions(call, s.lookup(&cid), &cid)?;
    check_busy(s, &key, &cid)?;
    let body = body_object(call)?;
    let mut item =
        json!({"name": cname, "properties": body.get("properties").cloned().unwrap_or(json!({}))});
    let mut new = old.clone();
    let p = super::props(&mut new);
    let arr = p.entry(seg.to_string()).or_insert_with(|| json!([]));
    if !arr.is_array() {
        *arr = json!([]);
    }
    let items = arr.as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut replaced = false;
    let mut out = Vec::new();
    for c in items {
        if c["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(cname))
        {
            out.push(std::mem::take(&mut item));
            replaced = true;
        } else {
            out.push(c);
        }
    }
    if !replaced {
        out.push(item);
    }
    super::props(&mut new).insert(seg.to_string(), Value::Array(out));
    write_resource(s, call, kind, id, Some(old), new, Some((seg, cname)))
}

fn delete_child(
    s: &mut AzureState,
    call: &Call,
    kind: &Kind,
    id: &str,
    seg: &str,
    cname: &str,
) -> AzResult<Reply> {
    let key = id.to_lowercase();
    let old = existing(s, kind, id)?.clone();
    let cid = format!("{id}/{seg}/{cname}");
    if s.lookup(&cid).is_none() {
        return Ok(no_content());
    }
    check_conditions(call, s.lookup(&cid), &cid)?;
    check_busy(s, &key, &cid)?;
    let mut new = old.clone();
    if let Some(a) = new["properties"].get_mut(seg).and_then(Value::as_array_mut) {
        a.retain(|c| {
            !c["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(cname))
        });
    }
    let mut reply = write_resource(s, call, kind, id, Some(old), new, None)?;
    // The operation is the child's deletion: its result is 204, not the parent.
    if let Some(op) = s.busy.get(&key).cloned().or_else(|| last_op(s, &key))
        && let Some(o) = s.operations.get_mut(&op)
    {
        o.kind = ops::OpKind::Delete;
        o.target = cid;
    }
    reply.status = 202;
    reply.body = None;
    Ok(reply)
}

fn last_op(s: &AzureState, key: &str) -> Option<String> {
    s.operations
        .values()
        .filter(|o| o.key == key)
        .max_by_key(|o| o.seq)
        .map(|o| o.id.clone())
}

fn no_content() -> Reply {
    Reply {
        status: 204,
        body: None,
        headers: Vec::new(),
    }
}

fn patch(s: &mut AzureState, call: &Call, kind: &Kind, id: &str) -> AzResult<Reply> {
    let key = id.to_lowercase();
    let current = existing(s, kind, id)?.clone();
    check_conditions(call, Some(&current), id)?;
    check_busy(s, &key, id)?;
    let body = body_object(call)?;
    let extra: Vec<&String> = body.keys().filter(|k| *k != "tags").collect();
    if !extra.is_empty() {
        return Err(AzError::bad(
            "InvalidRequestFormat",
            format!("Only tags can be updated with PATCH; the body also has {extra:?}."),
        ));
    }
    let tags = match body.get("tags") {
        Some(Value::Object(t)) if t.values().all(Value::is_string) => Value::Object(t.clone()),
        Some(Value::Null) | None => json!({}),
        Some(_) => {
            return Err(AzError::bad(
                "InvalidRequestFormat",
                "Tags must be an object of string values.",
            ));
        }
    };
    let etag = s.etag();
    let stored = s
        .resources
        .get_mut(&key)
        .ok_or_else(|| AzError::child_not_found(id))?;
    stored["tags"] = tags;
    stored["etag"] = json!(etag);
    let shown = render(s, &s.resources[&key]);
    Ok(Reply::ok(shown))
}

fn delete(s: &mut AzureState, call: &Call, kind: &Kind, id: &str) -> AzResult<Reply> {
    let key = id.to_lowercase();
    let Some(current) = s.resources.get(&key).cloned() else {
        return Ok(no_content());
    };
    check_conditions(call, Some(&current), id)?;
    check_busy(s, &key, id)?;
    check_delete(s, kind, id)?;
    let op = ops::begin(s, call, kind.namespace, &key, id, ops::OpKind::Delete);
    if call.running_ms > 0 {
        if let Some(v) = s.resources.get_mut(&key) {
            super::props(v).insert("provisioningState".into(), json!("Deleting"));
        }
    } else {
        remove(s, &key);
    }
    Ok(Reply {
        status: 202,
        body: None,
        headers: ops::headers(s, &op, call),
    })
}

/// Removes a resource and what goes with it.
pub(super) fn remove(s: &mut AzureState, key: &str) {
    let Some(v) = s.resources.remove(key) else {
        return;
    };
    let id = v["id"].as_str().unwrap_or_default().to_string();
    match v["type"].as_str().unwrap_or_default() {
        "Microsoft.Compute/virtualMachines" => compute::after_vm_delete(s, &id),
        "Microsoft.Compute/virtualMachineScaleSets" => compute::after_scale_set_delete(s, &id),
        "Microsoft.Network/applicationGateways" => appgw_health::forget(s, key),
        _ => {}
    }
}

fn list(s: &AzureState, call: &Call, kind: &Kind, rg: Option<&str>) -> AzResult<Reply> {
    let type_ = kind.full_type();
    let prefix = match rg {
        Some(rg) => {
            format!("/subscriptions/{}/resourcegroups/{}/", s.subscription, rg).to_lowercase()
        }
        None => format!("/subscriptions/{}/", s.subscription).to_lowercase(),
    };
    let all: Vec<&Value> = s
        .resources
        .iter()
        // Top-level resources only: a scale set's NICs are listed through the scale set.
        .filter(|(k, v)| {
            k.starts_with(&prefix) && k.matches('/').count() == 8 && v["type"] == type_.as_str()
        })
        .map(|(_, v)| v)
        .collect();
    page(s, call, all)
}

/// One page of `items`, with `nextLink` when more follow (`$skipToken` is the offset).
pub(super) fn page(s: &AzureState, call: &Call, items: Vec<&Value>) -> AzResult<Reply> {
    let skip = match call.query.get("$skipToken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| {
            AzError::bad(
                "InvalidSkipToken",
                format!("The skip token '{t}' is invalid."),
            )
        })?,
    };
    let value: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(s.page_size)
        .map(|v| render(s, v))
        .collect();
    let mut out = json!({ "value": value });
    if skip + s.page_size < items.len() {
        out["nextLink"] = json!(format!(
            "{ARM_BASE}/subscriptions/{}/{}?api-version={}&$skipToken={}",
            s.subscription,
            call.segments.join("/"),
            call.api_version.as_deref().unwrap_or_default(),
            skip + s.page_size
        ));
    }
    Ok(Reply::ok(out))
}

fn prepare(
    s: &mut AzureState,
    kind: &Kind,
    id: &str,
    old: Option<&Value>,
    new: &mut Value,
    api_version: Option<&str>,
) -> AzResult<()> {
    match kind.type_ {
        "virtualNetworks" => network::prepare_vnet(s, id, old, new),
        "networkInterfaces" => nic::prepare(s, id, old, new),
        "routeTables" => network::prepare_route_table(new),
        "networkSecurityGroups" => network::prepare_nsg(new),
        "publicIPAddresses" => network::prepare_public_ip(s, old, new),
        "loadBalancers" => lb::prepare(s, id, old, new),
        "applicationGateways" => appgw::prepare(s, id, old, new, api_version.unwrap_or_default()),
        "virtualMachines" => compute::prepare_vm(s, id, old, new),
        "virtualMachineScaleSets" => compute::prepare_scale_set(s, id, new),
        _ => Ok(()),
    }
}

fn after_put(s: &mut AzureState, kind: &Kind, id: &str, old: Option<&Value>) -> AzResult<()> {
    match kind.type_ {
        "virtualMachines" => {
            compute::after_vm_put(s, id, old);
            Ok(())
        }
        "virtualMachineScaleSets" => compute::sync_instances(s, id),
        _ => Ok(()),
    }
}

fn check_delete(s: &AzureState, kind: &Kind, id: &str) -> AzResult<()> {
    match kind.type_ {
        "virtualNetworks" => network::check_vnet_delete(s, id),
        "networkInterfaces" => nic::check_delete(s, id),
        "routeTables" | "networkSecurityGroups" | "publicIPAddresses" => {
            network::check_referenced(s, kind, id)
        }
        "loadBalancers" => lb::check_delete(s, id),
        _ => Ok(()),
    }
}

/// The resource as GET shows it: derived read-only fields filled in.
pub(super) fn render(s: &AzureState, v: &Value) -> Value {
    let mut out = v.clone();
    match v["type"].as_str().unwrap_or_default() {
        "Microsoft.Network/virtualNetworks" => network::render_vnet(s, &mut out),
        "Microsoft.Network/virtualNetworks/subnets" => network::render_subnet(s, &mut out),
        "Microsoft.Network/loadBalancers" => lb::render(s, &mut out),
        "Microsoft.Network/loadBalancers/backendAddressPools" => lb::render_pool(s, &mut out),
        _ => {}
    }
    out
}
