//! List calls: `filter`, `maxResults` (0..=500, default 500), `pageToken`, and
//! `aggregatedList` (items grouped by scope, a warning on the scopes without any).
//! A page token is opaque to clients; here it names the last item of the previous page, so
//! pages stay consistent while resources come and go.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::filter::Filter;
use super::{Call, GcpError, GcpResult, GcpState, Scope, kind_of, ops, query_u64};

pub const MAX_RESULTS: u64 = 500;

/// One page of `items` (each with its sort key), after `filter`: the items and the next token.
pub fn page(call: &Call, items: Vec<(String, Value)>) -> GcpResult<(Vec<Value>, Option<String>)> {
    let filter = Filter::parse(call.query.get("filter").map(String::as_str).unwrap_or(""))?;
    let max = query_u64(call, "maxResults", MAX_RESULTS, MAX_RESULTS)?;
    let max = if max == 0 { MAX_RESULTS } else { max } as usize;
    let after = match call.query.get("pageToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| GcpError::invalid_field("pageToken", t, "Invalid page token."))?,
        ),
    };
    let mut selected: Vec<(String, Value)> = items
        .into_iter()
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .filter(|(_, v)| filter.matches(v))
        .collect();
    selected.sort_by(|a, b| a.0.cmp(&b.0));
    let more = selected.len() > max;
    selected.truncate(max);
    let token = more
        .then(|| {
            selected
                .last()
                .map(|(k, _)| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k))
        })
        .flatten();
    Ok((selected.into_iter().map(|(_, v)| v).collect(), token))
}

fn list_json(
    kind: &str,
    id: String,
    self_link: String,
    items: Vec<Value>,
    token: Option<String>,
) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), json!(format!("compute#{kind}List")));
    o.insert("id".into(), json!(id));
    if !items.is_empty() {
        o.insert("items".into(), Value::Array(items));
    }
    if let Some(t) = token {
        o.insert("nextPageToken".into(), json!(t));
    }
    o.insert("selfLink".into(), json!(self_link));
    Value::Object(o)
}

/// The resources of one collection in one scope.
pub(super) fn list(state: &GcpState, call: &Call, scope: &Scope, coll: &str) -> GcpResult<Value> {
    let prefix = format!("{}/{coll}/", scope.path());
    let items = state
        .resources
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, v)| (k[prefix.len()..].to_string(), v.clone()))
        .collect();
    let (items, token) = page(call, items)?;
    let path = format!("{}/{coll}", scope.path());
    Ok(list_json(
        kind_of(coll),
        state.rel(&path),
        state.url(&path),
        items,
        token,
    ))
}

pub(super) fn list_operations(state: &GcpState, call: &Call, scope: &Scope) -> GcpResult<Value> {
    let items = ops::rendered(state, scope, call.now_ms)
        .into_iter()
        .map(|v| (v["name"].as_str().unwrap_or_default().to_string(), v))
        .collect();
    let (items, token) = page(call, items)?;
    let path = format!("{}/operations", scope.path());
    Ok(list_json(
        "operation",
        state.rel(&path),
        state.url(&path),
        items,
        token,
    ))
}

pub(super) fn list_places(state: &GcpState, call: &Call, what: &str) -> GcpResult<Value> {
    let items = if what == "regions" {
        state
            .regions
            .keys()
            .filter_map(|r| state.region_json(r).ok().map(|v| (r.clone(), v)))
            .collect()
    } else {
        state
            .regions
            .values()
            .flatten()
            .filter_map(|z| state.zone_json(z).ok().map(|v| (z.clone(), v)))
            .collect()
    };
    let (items, token) = page(call, items)?;
    Ok(list_json(
        kind_of(what),
        state.rel(what),
        state.url(what),
        items,
        token,
    ))
}

/// `aggregated/{coll}`: every scope's items, grouped by scope.
pub(super) fn aggregated(state: &GcpState, call: &Call, coll: &str) -> GcpResult<Value> {
    let scopes: Vec<Scope> = {
        let mut v = Vec::new();
        if super::collection_allowed(&Scope::Global, coll) {
            v.push(Scope::Global);
        }
        for (r, zones) in &state.regions {
            if super::collection_allowed(&Scope::Region(r.clone()), coll) {
                v.push(Scope::Region(r.clone()));
            }
            for z in zones {
                if super::collection_allowed(&Scope::Zone(z.clone()), coll) {
                    v.push(Scope::Zone(z.clone()));
                }
            }
        }
        v
    };
    if scopes.is_empty() {
        return Err(super::unknown(call));
    }
    let mut items = Vec::new();
    for s in &scopes {
        let prefix = format!("{}/{coll}/", s.path());
        for (k, v) in state
            .resources
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            items.push((k.clone(), v.clone()));
        }
    }
    let (page_items, token) = page(call, items)?;
    let mut grouped: Map<String, Value> = Map::new();
    for s in &scopes {
        let prefix = format!("{}/{coll}/", s.path());
        let mine: Vec<Value> = page_items
            .iter()
            .filter(|v| {
                v["selfLink"]
                    .as_str()
                    .and_then(|u| state.path_of(u))
                    .is_some_and(|p| p.starts_with(&prefix))
            })
            .cloned()
            .collect();
        let scope_name = s.path();
        let entry = if mine.is_empty() {
            json!({"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": format!("There are no results for scope '{scope_name}' on this page."),
                "data": [{"key": "scope", "value": scope_name}],
            }})
        } else {
            json!({ coll: mine })
        };
        grouped.insert(scope_name, entry);
    }
    let mut o = Map::new();
    o.insert(
        "kind".into(),
        json!(format!("compute#{}AggregatedList", kind_of(coll))),
    );
    o.insert("id".into(), json!(state.rel(&format!("aggregated/{coll}"))));
    o.insert("items".into(), Value::Object(grouped));
    if let Some(t) = token {
        o.insert("nextPageToken".into(), json!(t));
    }
    o.insert(
        "selfLink".into(),
        json!(state.url(&format!("aggregated/{coll}"))),
    );
    Ok(Value::Object(o))
}
