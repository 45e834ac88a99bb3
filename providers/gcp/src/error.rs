//! Compute Engine errors as [`cloudnet_core::Error`], and the errors of setting the provider
//! up.
//!
//! The client library parses Compute Engine's error JSON
//! (`{"error":{"code","message","errors":[{"reason",..}]}}`) into a status whose details
//! carry each `reason` as an `ErrorInfo`; the reason is what decides the kind (through the
//! core's [`codes::GCP`](cloudnet_core::error::codes::GCP) table) and stays the error's code.
//! An operation that finished with an error is mapped from its `error.errors[].code`
//! ([`from_operation`]). Failures before any answer (connect, timeout, a dropped connection)
//! are `Transient`; credential failures are `Unauthorized` unless the library calls them
//! transient.

use std::time::Duration;

use cloudnet_core::Error;
use google_cloud_compute_v1::model::Operation;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::StatusDetails;

/// Maps a client library error by the service's reason, then its HTTP status; never by
/// message text.
pub fn from_gax(err: &GaxError) -> Error {
    let status_code = err.http_status_code();
    let retry_after = err
        .http_headers()
        .and_then(|h| h.get("retry-after"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if let Some(status) = err.status() {
        let reason = status.details.iter().find_map(|d| match d {
            StatusDetails::ErrorInfo(info) if !info.reason.is_empty() => Some(info.reason.as_str()),
            _ => None,
        });
        let http = status_code.unwrap_or_else(|| http_of_rpc(status.code as i32));
        let code = reason.unwrap_or_else(|| status.code.name());
        return Error::from_gcp(code, http, status.message.clone(), retry_after);
    }
    if let Some(http) = status_code {
        // An answer without Compute Engine's error body (a proxy, a load balancer).
        let message = err
            .http_payload()
            .map(|b| {
                String::from_utf8_lossy(b)
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        return Error::from_gcp(&format!("http{http}"), http, message, retry_after);
    }
    let (code, transient) = if err.is_timeout() {
        ("RequestTimeout", true)
    } else if err.is_connect() || err.is_io() || err.is_transport() {
        ("DispatchFailure", true)
    } else if err.is_authentication() {
        ("authError", err.is_transient_and_before_rpc())
    } else if err.is_deserialization() {
        ("ResponseError", true)
    } else if err.is_binding() || err.is_serialization() {
        ("RequestMalformed", false)
    } else {
        ("Unknown", true)
    };
    let message = err.to_string();
    match (code, transient) {
        ("authError", false) => Error::Unauthorized {
            code: code.into(),
            message,
        },
        (_, true) => Error::Transient {
            code: code.into(),
            message,
        },
        (_, false) => Error::InvalidInput {
            code: code.into(),
            message,
        },
    }
}

/// The HTTP status Compute Engine answers for an RPC status code (when only that is known).
fn http_of_rpc(code: i32) -> u16 {
    match code {
        3 | 9 | 11 => 400,
        16 => 401,
        7 => 403,
        5 => 404,
        6 | 10 => 409,
        8 => 429,
        4 => 504,
        14 => 503,
        _ => 500,
    }
}

/// The error of an operation that finished `DONE` with `error` set: the first error's code
/// (`RESOURCE_NOT_FOUND`, `QUOTA_EXCEEDED`, `RESOURCE_IN_USE_BY_ANOTHER_RESOURCE`, ...) and
/// the operation's HTTP status. None when the operation succeeded.
pub fn from_operation(op: &Operation) -> Option<Error> {
    let first = op.error.as_ref().and_then(|e| e.errors.first());
    if first.is_none() && op.http_error_status_code.is_none() {
        return None;
    }
    let code = first
        .and_then(|e| e.code.as_deref())
        .unwrap_or("operationFailed");
    let status = op
        .http_error_status_code
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(400);
    let message = first
        .and_then(|e| e.message.clone())
        .or_else(|| op.http_error_message.clone())
        .unwrap_or_default();
    Some(Error::from_gcp(code, status, message, None))
}

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the cluster name is empty")]
    NoClusterName,
    #[error("{what} not given and the metadata server did not answer it")]
    Metadata {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the metadata server answered {what} in a form not understood: {value:?}")]
    MetadataValue { what: &'static str, value: String },
    #[error("the credentials could not be set up")]
    Credentials(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the {service} client could not be built")]
    Client {
        service: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type ConfigResult<T> = Result<T, ConfigError>;

#[cfg(test)]
mod tests {
    use cloudnet_core::{ErrorKind, Limit};
    use google_cloud_compute_v1::model::operation;

    use super::*;

    fn rest_error(status: u16, reason: &str) -> GaxError {
        let body = format!(
            r#"{{"error":{{"code":{status},"message":"m-{reason}","errors":[{{"message":"m","domain":"global","reason":"{reason}"}}]}}}}"#
        );
        let parsed =
            google_cloud_gax::error::rpc::Status::try_from(&bytes_of(&body)).expect("parses");
        GaxError::service_with_http_metadata(parsed, Some(status), None)
    }

    fn bytes_of(s: &str) -> bytes::Bytes {
        bytes::Bytes::from(s.to_string())
    }

    #[test]
    fn reasons_decide_the_kind_and_stay_the_code() {
        let cases = [
            (404, "notFound", ErrorKind::NotFound),
            (409, "alreadyExists", ErrorKind::Conflict),
            (412, "conditionNotMet", ErrorKind::Conflict),
            (400, "resourceInUseByAnotherResource", ErrorKind::Conflict),
            (
                403,
                "QUOTA_EXCEEDED",
                ErrorKind::LimitExceeded(Limit::Quota),
            ),
            (400, "invalid", ErrorKind::InvalidInput),
            (429, "rateLimitExceeded", ErrorKind::Throttled),
            (503, "backendError", ErrorKind::Transient),
            (403, "forbidden", ErrorKind::Unauthorized),
        ];
        for (status, reason, kind) in cases {
            let e = from_gax(&rest_error(status, reason));
            assert_eq!(e.kind(), kind, "{reason}");
            assert_eq!(e.code(), reason);
            assert!(e.to_string().contains(&format!("m-{reason}")), "{e}");
        }
    }

    #[test]
    fn an_unknown_reason_falls_back_to_the_status() {
        let e = from_gax(&rest_error(412, "somethingNew"));
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.code(), "somethingNew");
        let e = from_gax(&GaxError::http(
            502,
            http::HeaderMap::new(),
            bytes_of("<html>bad gateway</html>"),
        ));
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert_eq!(e.code(), "http502");
    }

    #[test]
    fn retry_after_is_kept() {
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", http::HeaderValue::from_static("3"));
        let parsed = google_cloud_gax::error::rpc::Status::try_from(&bytes_of(
            r#"{"error":{"code":429,"message":"slow","errors":[{"reason":"rateLimitExceeded"}]}}"#,
        ))
        .expect("parses");
        let e = from_gax(&GaxError::service_with_http_metadata(
            parsed,
            Some(429),
            Some(headers),
        ));
        assert_eq!(
            e,
            Error::Throttled {
                code: "rateLimitExceeded".into(),
                message: "slow".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
    }

    #[test]
    fn transport_failures_are_transient() {
        let e = from_gax(&GaxError::io("connection reset"));
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Transient, "DispatchFailure")
        );
        let e = from_gax(&GaxError::timeout("slow"));
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Transient, "RequestTimeout")
        );
    }

    #[test]
    fn operation_errors_keep_the_operation_code() {
        let done = Operation::new().set_status(operation::Status::Done);
        assert_eq!(from_operation(&done), None);
        let failed = done.clone().set_http_error_status_code(403).set_error(
            operation::Error::new().set_errors([operation::error::Errors::new()
                .set_code("QUOTA_EXCEEDED")
                .set_message("Quota 'ROUTES' exceeded.")]),
        );
        let e = from_operation(&failed).expect("an error");
        assert_eq!(e.kind(), ErrorKind::LimitExceeded(Limit::Quota));
        assert_eq!(e.code(), "QUOTA_EXCEEDED");
        assert!(e.to_string().contains("ROUTES"));
    }
}
