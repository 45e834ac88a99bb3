//! Small helpers over `metadata` of JSON objects.

use serde_json::{Map, Value};

use crate::error::StatusError;

/// `metadata` as a mutable map, created when missing. Callers check [`check_shape`] first, so
/// a non-object `metadata` never reaches here; if it does, it is replaced.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(root) = obj else {
        unreachable!("just made an object")
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

pub fn str_field<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

pub fn name(obj: &Value) -> &str {
    str_field(obj, "name")
}

pub fn namespace(obj: &Value) -> &str {
    str_field(obj, "namespace")
}

pub fn uid(obj: &Value) -> &str {
    str_field(obj, "uid")
}

pub fn resource_version(obj: &Value) -> &str {
    str_field(obj, "resourceVersion")
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    strings(&obj["metadata"]["finalizers"])
}

/// The strings of a JSON array (nothing when it is not one).
pub fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// The request body must be an object whose `metadata` fields have the types the API decodes;
/// anything else is the 400 a decode error gives.
pub fn check_shape(obj: &Value) -> Result<(), StatusError> {
    let bad = |what: &str| {
        StatusError::bad_request(format!(
            "Object is not decodable: {what} has the wrong type"
        ))
    };
    if !obj.is_object() {
        return Err(StatusError::bad_request(
            "Object is not decodable: the body is not a JSON object",
        ));
    }
    for f in ["apiVersion", "kind"] {
        if !(obj[f].is_null() || obj[f].is_string()) {
            return Err(bad(f));
        }
    }
    let meta = &obj["metadata"];
    if meta.is_null() {
        return Ok(());
    }
    if !meta.is_object() {
        return Err(bad("metadata"));
    }
    for f in [
        "name",
        "generateName",
        "namespace",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        if !(meta[f].is_null() || meta[f].is_string()) {
            return Err(bad(&format!("metadata.{f}")));
        }
    }
    for f in ["labels", "annotations"] {
        let v = &meta[f];
        let ok = v.is_null()
            || v.as_object()
                .is_some_and(|m| m.values().all(|x| x.is_string()));
        if !ok {
            return Err(bad(&format!("metadata.{f}")));
        }
    }
    for f in ["finalizers", "ownerReferences", "managedFields"] {
        if !(meta[f].is_null() || meta[f].is_array()) {
            return Err(bad(&format!("metadata.{f}")));
        }
    }
    if !meta["finalizers"]
        .as_array()
        .is_none_or(|a| a.iter().all(Value::is_string))
    {
        return Err(bad("metadata.finalizers"));
    }
    Ok(())
}

/// The object without `metadata` and `status`: what `metadata.generation` tracks.
pub fn spec_part(obj: &Value) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// RFC 3339 time to the second, as metadata timestamps are written.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
