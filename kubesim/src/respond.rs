//! Response bodies: the object as served from an endpoint, lists, `Status` errors, and the
//! choice between JSON and protobuf that the client's `Accept` asks for.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use crate::error::StatusError;
use crate::protobuf;
use crate::resources::ResourceInfo;

/// How a response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    /// The format the client prefers among those it accepts: the first media type of
    /// `Accept` that is served, as the real API's negotiation picks it. JSON is the default
    /// and what a client gets when it accepts neither explicitly.
    pub fn negotiate(headers: &HeaderMap) -> Format {
        for value in headers.get_all(header::ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut params = item.split(';').map(str::trim);
                let media = params.next().unwrap_or_default().to_ascii_lowercase();
                // A Table or metadata-only view is JSON; an unknown `as=` is not this entry.
                if params.any(|p| p.starts_with("as=")) {
                    continue;
                }
                match media.as_str() {
                    protobuf::MEDIA_TYPE => return Format::Protobuf,
                    "application/json" | "application/yaml" | "*/*" | "application/*" => {
                        return Format::Json;
                    }
                    _ => {}
                }
            }
        }
        Format::Json
    }
}

/// A JSON response.
pub fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    with_body(code, Body::from(bytes), "application/json")
}

fn with_body(code: u16, body: Body, content_type: &'static str) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// `body` in `format`; an object with no protobuf form (a custom resource) is answered in
/// JSON, which every client reading the Content-Type decodes.
pub fn object_response(code: u16, body: &Value, format: Format) -> Response {
    if format == Format::Protobuf {
        match protobuf::envelope::encode(body) {
            Ok(bytes) => return with_body(code, Body::from(bytes), protobuf::MEDIA_TYPE),
            Err(error) => {
                tracing::debug!(%error, "Answered in JSON an object with no protobuf form");
            }
        }
    }
    json_response(code, body)
}

/// A `Status` error, always JSON.
pub fn error_response(error: &StatusError) -> Response {
    json_response(error.code(), &error.to_status())
}

/// The object with the apiVersion of the endpoint it is served from.
pub fn render(info: &ResourceInfo, obj: &Value) -> Value {
    if crate::events_v1::is_view(info) && obj["apiVersion"] != crate::events_v1::API_VERSION {
        return crate::events_v1::from_core(obj);
    }
    let mut out = obj.clone();
    if out["apiVersion"].as_str() != Some(&info.api_version()) {
        out["apiVersion"] = json!(info.api_version());
    }
    out
}

/// A `<Kind>List` of `items` at resourceVersion `rv`.
pub fn list_doc(
    info: &ResourceInfo,
    items: &[std::sync::Arc<Value>],
    rv: u64,
    continue_token: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(n) = remaining {
        metadata["remainingItemCount"] = json!(n);
    }
    json!({
        "kind": format!("{}List", info.kind),
        "apiVersion": info.api_version(),
        "metadata": metadata,
        "items": items.iter().map(|i| render(info, i)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        Format::negotiate(&headers)
    }

    #[test]
    fn the_first_served_media_type_wins() {
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf, */*"),
            Format::Protobuf
        );
        assert_eq!(
            accept("application/json, application/vnd.kubernetes.protobuf"),
            Format::Json
        );
        assert_eq!(
            accept("text/html, application/vnd.kubernetes.protobuf"),
            Format::Protobuf
        );
        assert_eq!(
            accept(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json"
            ),
            Format::Json
        );
        assert_eq!(Format::negotiate(&HeaderMap::new()), Format::Json);
    }
}
