//! The `k8s\0` envelope around every protobuf object: the magic prefix and a
//! `runtime.Unknown` carrying the TypeMeta and the object's message.

use prost::Message;
use prost_reflect::{DynamicMessage, Value};
use serde_json::{Value as Json, json};

use super::{convert, message, pool};
use crate::error::StatusError;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

fn bad(message: impl std::fmt::Display) -> StatusError {
    StatusError::bad_request(format!("the protobuf body is not valid: {message}"))
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The object in a protobuf body, as JSON with its apiVersion and kind.
pub fn decode(body: &[u8]) -> Result<Json, StatusError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("it does not start with the k8s\\0 prefix"))?;
    let unknown_descriptor = pool()?
        .get_message_by_name(UNKNOWN)
        .ok_or_else(|| StatusError::internal("runtime.Unknown is missing from the schemas"))?;
    let unknown = DynamicMessage::decode(unknown_descriptor, rest).map_err(bad)?;
    let encoding = string_field(&unknown, "contentEncoding");
    if !encoding.is_empty() {
        return Err(bad(format!(
            "content encoding {encoding:?} is not supported"
        )));
    }
    let type_meta = unknown
        .get_field_by_name("typeMeta")
        .and_then(|v| v.as_message().cloned())
        .ok_or_else(|| bad("it has no typeMeta"))?;
    let api_version = string_field(&type_meta, "apiVersion");
    let kind = string_field(&type_meta, "kind");
    if api_version.is_empty() || kind.is_empty() {
        return Err(bad("typeMeta needs apiVersion and kind"));
    }
    let raw = unknown
        .get_field_by_name("raw")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    let descriptor = message(&api_version, &kind)?;
    let object = DynamicMessage::decode(descriptor, raw).map_err(bad)?;
    let mut json = convert::to_json(&object)?;
    let Some(fields) = json.as_object_mut() else {
        return Err(bad(format!("{kind} is not an object")));
    };
    fields.insert("apiVersion".into(), json!(api_version));
    fields.insert("kind".into(), json!(kind));
    Ok(json)
}

/// `object` (JSON with apiVersion and kind) as a protobuf body.
pub fn encode(object: &Json) -> Result<Vec<u8>, StatusError> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let descriptor = message(api_version, kind)?;
    let raw = convert::from_json(&descriptor, object)?.encode_to_vec();
    let pool = pool()?;
    let missing = |name: &str| StatusError::internal(format!("{name} is missing from the schemas"));
    let mut type_meta = DynamicMessage::new(
        pool.get_message_by_name("k8s.io.apimachinery.pkg.runtime.TypeMeta")
            .ok_or_else(|| missing("runtime.TypeMeta"))?,
    );
    type_meta.set_field_by_name("apiVersion", Value::String(api_version.into()));
    type_meta.set_field_by_name("kind", Value::String(kind.into()));
    let mut unknown = DynamicMessage::new(
        pool.get_message_by_name(UNKNOWN)
            .ok_or_else(|| missing(UNKNOWN))?,
    );
    unknown.set_field_by_name("typeMeta", Value::Message(type_meta));
    unknown.set_field_by_name("raw", Value::Bytes(raw.into()));
    unknown.set_field_by_name("contentEncoding", Value::String(String::new()));
    unknown.set_field_by_name("contentType", Value::String(String::new()));
    let mut out = MAGIC.to_vec();
    unknown
        .encode(&mut out)
        .map_err(|e| StatusError::internal(format!("encoding {kind}: {e}")))?;
    Ok(out)
}

/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// One frame of a protobuf watch stream, as the real API server writes it: a 4-byte
/// big-endian length, then a `meta.v1.WatchEvent` message without the envelope whose
/// `object.raw` is the object with the envelope ([`encode`]).
pub fn watch_frame(event_type: &str, object: &Json) -> Result<Vec<u8>, StatusError> {
    let pool = pool()?;
    let missing = |name: &str| StatusError::internal(format!("{name} is missing from the schemas"));
    let mut raw = DynamicMessage::new(
        pool.get_message_by_name("k8s.io.apimachinery.pkg.runtime.RawExtension")
            .ok_or_else(|| missing("runtime.RawExtension"))?,
    );
    raw.set_field_by_name("raw", Value::Bytes(encode(object)?.into()));
    let mut event = DynamicMessage::new(
        pool.get_message_by_name("k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent")
            .ok_or_else(|| missing("meta.v1.WatchEvent"))?,
    );
    event.set_field_by_name("type", Value::String(event_type.into()));
    event.set_field_by_name("object", Value::Message(raw));
    let body = event.encode_to_vec();
    let len =
        u32::try_from(body.len()).map_err(|_| StatusError::internal("a watch event over 4 GiB"))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_object_decodes_to_itself() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["sleep", "1"]}]}});
        let body = encode(&pod).unwrap();
        assert!(body.starts_with(MAGIC));
        assert_eq!(decode(&body).unwrap(), pod);
    }

    #[test]
    fn bodies_without_the_envelope_or_with_unknown_kinds_are_refused() {
        assert_eq!(decode(b"{}").unwrap_err().code(), 400);
        assert_eq!(decode(b"k8s\0\xff\xff").unwrap_err().code(), 400);
        assert_eq!(decode(MAGIC).unwrap_err().code(), 400);
        let crd =
            json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}});
        assert_eq!(encode(&crd).unwrap_err().code(), 415);
    }
}
