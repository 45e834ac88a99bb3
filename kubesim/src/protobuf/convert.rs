//! Objects between their protobuf messages and the JSON the API stores and serves.
//!
//! Field names of the Kubernetes messages are the JSON names, so most of the mapping is
//! structural. The exceptions are the apimachinery types whose JSON is not their message:
//! timestamps are RFC 3339 strings, `IntOrString` is a number or a string, `Quantity` a
//! string, `FieldsV1`/`RawExtension` embedded JSON, and `bytes` base64.
//!
//! Go writes every non-pointer string of a message, empty or not, where its JSON leaves
//! them out (`omitempty`); empty strings are therefore dropped when decoding, which is what
//! the API's defaulting (`== ""` means unset) sees either way.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value,
};
use serde_json::{Map, Value as Json, json};

use crate::error::StatusError;

const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";

/// Deepest nesting accepted, so a hostile message cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

fn bad(message: impl std::fmt::Display) -> StatusError {
    StatusError::bad_request(format!("the protobuf object is not valid: {message}"))
}

/// The JSON form of a decoded message (without apiVersion/kind, which the envelope holds).
pub fn to_json(message: &DynamicMessage) -> Result<Json, StatusError> {
    message_to_json(message, 0)
}

fn message_to_json(message: &DynamicMessage, depth: usize) -> Result<Json, StatusError> {
    if depth > MAX_DEPTH {
        return Err(bad("the object is nested too deeply"));
    }
    if let Some(special) = special_to_json(message)? {
        return Ok(special);
    }
    let mut out = Map::new();
    for (field, value) in message.fields() {
        let json = if field.is_map() {
            map_to_json(&field, value, depth)?
        } else if field.is_list() {
            let items = value.as_list().unwrap_or_default();
            Json::Array(
                items
                    .iter()
                    .map(|v| value_to_json(v, depth))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        } else {
            value_to_json(value, depth)?
        };
        if !omitted(&json) {
            out.insert(field.name().to_string(), json);
        }
    }
    Ok(Json::Object(out))
}

fn omitted(json: &Json) -> bool {
    match json {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn map_to_json(field: &FieldDescriptor, value: &Value, depth: usize) -> Result<Json, StatusError> {
    let mut out = Map::new();
    if let Some(map) = value.as_map() {
        for (key, v) in map {
            let key = match key {
                MapKey::String(s) => s.clone(),
                MapKey::Bool(b) => b.to_string(),
                MapKey::I32(n) => n.to_string(),
                MapKey::I64(n) => n.to_string(),
                MapKey::U32(n) => n.to_string(),
                MapKey::U64(n) => n.to_string(),
            };
            out.insert(key, value_to_json(v, depth)?);
        }
    }
    let _ = field;
    Ok(Json::Object(out))
}

fn value_to_json(value: &Value, depth: usize) -> Result<Json, StatusError> {
    Ok(match value {
        Value::Bool(b) => json!(b),
        Value::I32(n) => json!(n),
        Value::I64(n) => json!(n),
        Value::U32(n) => json!(n),
        Value::U64(n) => json!(n),
        Value::F32(n) => json!(n),
        Value::F64(n) => json!(n),
        Value::String(s) => json!(s),
        Value::Bytes(b) => json!(BASE64.encode(b)),
        Value::EnumNumber(n) => json!(n),
        Value::Message(m) => message_to_json(m, depth + 1)?,
        Value::List(items) => Json::Array(
            items
                .iter()
                .map(|v| value_to_json(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Map(_) => return Err(bad("a map inside a list")),
    })
}

fn get(message: &DynamicMessage, name: &str) -> Option<Value> {
    message
        .descriptor()
        .get_field_by_name(name)
        .filter(|f| message.has_field(f))
        .map(|f| message.get_field(&f).into_owned())
}

fn timestamp(message: &DynamicMessage, micros: bool) -> Result<Json, StatusError> {
    let seconds = get(message, "seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let nanos = get(message, "nanos").and_then(|v| v.as_i32()).unwrap_or(0);
    if seconds == 0 && nanos == 0 {
        // Go's zero time, which its JSON writes as null.
        return Ok(Json::Null);
    }
    let nanos = u32::try_from(nanos).map_err(|_| bad("a timestamp has negative nanos"))?;
    let at = DateTime::<Utc>::from_timestamp(seconds, nanos)
        .ok_or_else(|| bad(format!("timestamp {seconds} is out of range")))?;
    let format = if micros {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Secs
    };
    Ok(json!(at.to_rfc3339_opts(format, true)))
}

fn embedded_json(bytes: Option<Value>) -> Result<Json, StatusError> {
    match bytes.as_ref().and_then(Value::as_bytes) {
        Some(raw) if !raw.is_empty() => {
            serde_json::from_slice(raw).map_err(|e| bad(format!("embedded JSON: {e}")))
        }
        _ => Ok(Json::Null),
    }
}

fn special_to_json(message: &DynamicMessage) -> Result<Option<Json>, StatusError> {
    let descriptor = message.descriptor();
    Ok(Some(match descriptor.full_name() {
        TIME => timestamp(message, false)?,
        MICRO_TIME => timestamp(message, true)?,
        FIELDS_V1 => embedded_json(get(message, "Raw"))?,
        RAW_EXTENSION => embedded_json(get(message, "raw"))?,
        QUANTITY => json!(
            get(message, "string")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        INT_OR_STRING => match get(message, "type").and_then(|v| v.as_i64()) {
            Some(1) => json!(
                get(message, "strVal")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            _ => json!(get(message, "intVal").and_then(|v| v.as_i32()).unwrap_or(0)),
        },
        _ => return Ok(None),
    }))
}

/// The message of `descriptor` holding the fields of `object` that the schema knows (the
/// real API drops unknown fields the same way); a field of the wrong JSON type is an error.
pub fn from_json(
    descriptor: &MessageDescriptor,
    object: &Json,
) -> Result<DynamicMessage, StatusError> {
    message_from_json(descriptor, object, 0)
}

fn message_from_json(
    descriptor: &MessageDescriptor,
    object: &Json,
    depth: usize,
) -> Result<DynamicMessage, StatusError> {
    if depth > MAX_DEPTH {
        return Err(bad("the object is nested too deeply"));
    }
    let mut message = DynamicMessage::new(descriptor.clone());
    if special_from_json(&mut message, object)? {
        return Ok(message);
    }
    let Some(fields) = object.as_object() else {
        return Err(bad(format!("{} must be a JSON object", descriptor.name())));
    };
    for (name, json) in fields {
        let Some(field) = descriptor.get_field_by_name(name) else {
            continue;
        };
        if json.is_null() {
            continue;
        }
        let value = field_from_json(&field, json, depth)?;
        message
            .try_set_field(&field, value)
            .map_err(|e| bad(format!("{name}: {e}")))?;
    }
    Ok(message)
}

fn field_from_json(
    field: &FieldDescriptor,
    json: &Json,
    depth: usize,
) -> Result<Value, StatusError> {
    let name = field.name();
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Err(bad(format!("{name}: a map without an entry type")));
        };
        let value_field = entry.map_entry_value_field();
        let object = json
            .as_object()
            .ok_or_else(|| bad(format!("{name} must be an object")))?;
        let mut map = std::collections::HashMap::new();
        for (k, v) in object {
            if v.is_null() {
                continue;
            }
            map.insert(
                MapKey::String(k.clone()),
                single_from_json(&value_field, v, depth)?,
            );
        }
        return Ok(Value::Map(map));
    }
    if field.is_list() {
        let items = json
            .as_array()
            .ok_or_else(|| bad(format!("{name} must be an array")))?;
        return Ok(Value::List(
            items
                .iter()
                .map(|v| single_from_json(field, v, depth))
                .collect::<Result<_, _>>()?,
        ));
    }
    single_from_json(field, json, depth)
}

fn single_from_json(
    field: &FieldDescriptor,
    json: &Json,
    depth: usize,
) -> Result<Value, StatusError> {
    let name = field.name();
    let wrong = |want: &str| bad(format!("{name} must be {want}, not {json}"));
    let int = || {
        json.as_i64()
            .or_else(|| json.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| wrong("an integer"))
    };
    Ok(match field.kind() {
        Kind::Bool => Value::Bool(json.as_bool().ok_or_else(|| wrong("a boolean"))?),
        Kind::String => Value::String(json.as_str().ok_or_else(|| wrong("a string"))?.to_string()),
        Kind::Bytes => Value::Bytes(
            BASE64
                .decode(json.as_str().ok_or_else(|| wrong("a base64 string"))?)
                .map_err(|_| wrong("a base64 string"))?
                .into(),
        ),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(i32::try_from(int()?).map_err(|_| wrong("a 32-bit integer"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int()?),
        Kind::Uint32 | Kind::Fixed32 => {
            Value::U32(u32::try_from(int()?).map_err(|_| wrong("a 32-bit unsigned integer"))?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            Value::U64(u64::try_from(int()?).map_err(|_| wrong("an unsigned integer"))?)
        }
        Kind::Double => Value::F64(json.as_f64().ok_or_else(|| wrong("a number"))?),
        Kind::Float => Value::F32(json.as_f64().ok_or_else(|| wrong("a number"))? as f32),
        Kind::Enum(_) => {
            Value::EnumNumber(i32::try_from(int()?).map_err(|_| wrong("an enum number"))?)
        }
        Kind::Message(descriptor) => {
            Value::Message(message_from_json(&descriptor, json, depth + 1)?)
        }
    })
}

fn set(message: &mut DynamicMessage, name: &str, value: Value) -> Result<(), StatusError> {
    let field = message
        .descriptor()
        .get_field_by_name(name)
        .ok_or_else(|| {
            bad(format!(
                "{} has no field {name}",
                message.descriptor().name()
            ))
        })?;
    message
        .try_set_field(&field, value)
        .map_err(|e| bad(format!("{name}: {e}")))
}

fn special_from_json(message: &mut DynamicMessage, json: &Json) -> Result<bool, StatusError> {
    let kind = message.descriptor().full_name().to_string();
    match kind.as_str() {
        TIME | MICRO_TIME => {
            let text = json
                .as_str()
                .ok_or_else(|| bad(format!("a timestamp must be a string, not {json}")))?;
            let at = DateTime::parse_from_rfc3339(text)
                .map_err(|e| bad(format!("timestamp {text:?}: {e}")))?;
            set(message, "seconds", Value::I64(at.timestamp()))?;
            let nanos = at.timestamp_subsec_nanos();
            if nanos != 0 {
                let nanos = i32::try_from(nanos).map_err(|_| bad("nanos out of range"))?;
                set(message, "nanos", Value::I32(nanos))?;
            }
        }
        FIELDS_V1 | RAW_EXTENSION => {
            let raw = serde_json::to_vec(json).map_err(|e| bad(e.to_string()))?;
            let field = if kind == FIELDS_V1 { "Raw" } else { "raw" };
            set(message, field, Value::Bytes(raw.into()))?;
        }
        QUANTITY => {
            let text = match json {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                other => return Err(bad(format!("a quantity must be a string, not {other}"))),
            };
            set(message, "string", Value::String(text))?;
        }
        INT_OR_STRING => match json {
            Json::String(s) => {
                set(message, "type", Value::I64(1))?;
                set(message, "strVal", Value::String(s.clone()))?;
            }
            Json::Number(n) => {
                let n = n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| bad(format!("{n} is not a 32-bit integer")))?;
                set(message, "type", Value::I64(0))?;
                set(message, "intVal", Value::I32(n))?;
            }
            other => return Err(bad(format!("an int-or-string must be one, not {other}"))),
        },
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::message;

    fn round_trip(api_version: &str, kind: &str, object: Json) -> Json {
        let descriptor = message(api_version, kind).unwrap();
        let encoded = from_json(&descriptor, &object).unwrap();
        let bytes = prost::Message::encode_to_vec(&encoded);
        let decoded = DynamicMessage::decode(descriptor, bytes.as_slice()).unwrap();
        to_json(&decoded).unwrap()
    }

    #[test]
    fn a_deployment_survives_the_round_trip() {
        let deployment = json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                "creationTimestamp": "2026-11-30T20:00:00Z", "generation": 2,
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
                    "time": "2026-11-30T20:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}]}}},
            "status": {"conditions": [{"type": "Available", "status": "True",
                "lastUpdateTime": "2026-11-30T20:00:01Z", "reason": "MinimumReplicasAvailable"}]}
        });
        assert_eq!(
            round_trip("apps/v1", "Deployment", deployment.clone()),
            deployment
        );
    }

    #[test]
    fn secrets_bytes_and_micro_times_keep_their_json_form() {
        let secret =
            json!({"metadata": {"name": "s"}, "data": {"k": "dmFsdWU="}, "type": "Opaque"});
        assert_eq!(round_trip("v1", "Secret", secret.clone()), secret);
        let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a",
            "renewTime": "2026-11-30T20:00:00.123456Z", "leaseDurationSeconds": 15}});
        assert_eq!(
            round_trip("coordination.k8s.io/v1", "Lease", lease.clone()),
            lease
        );
    }

    #[test]
    fn unknown_fields_are_dropped_and_wrong_types_rejected() {
        let descriptor = message("v1", "ConfigMap").unwrap();
        let object = json!({"metadata": {"name": "c"}, "data": {"a": "b"}, "extra": 1});
        let decoded = to_json(&from_json(&descriptor, &object).unwrap()).unwrap();
        assert_eq!(
            decoded,
            json!({"metadata": {"name": "c"}, "data": {"a": "b"}})
        );
        for bad_object in [
            json!({"metadata": {"name": 7}}),
            json!({"metadata": "x"}),
            json!({"data": {"a": 1}}),
            json!({"metadata": {"creationTimestamp": "yesterday"}}),
            json!({"binaryData": {"a": "not base64!"}}),
        ] {
            let error = from_json(&descriptor, &bad_object).unwrap_err();
            assert_eq!(error.code(), 400, "{bad_object}");
        }
    }
}
