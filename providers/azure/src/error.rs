//! azure_core errors as [`cloudnet_core::Error`]: ARM's `error.code` (the client library reads
//! it from the `x-ms-error-code` header or the error JSON) classified by the core's table,
//! then the HTTP status; never the message text.

use std::time::Duration;

use azure_core::error::ErrorKind as AzKind;
use azure_core::headers::Headers;
use cloudnet_core::Error;

/// What went wrong before the provider could start (configuration, discovery).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("azure configuration: {0}")]
    Invalid(String),
    #[error("azure instance metadata: {0}")]
    Metadata(String),
    #[error("azure credentials: {0}")]
    Credential(String),
}

pub type ConfigResult<T> = std::result::Result<T, ConfigError>;

/// Maps one client error.
pub fn from_azure(e: &azure_core::Error) -> Error {
    match e.kind() {
        AzKind::HttpResponse { status, error_code } => {
            let status = u16::from(*status);
            let code = error_code
                .clone()
                .unwrap_or_else(|| format!("Http{status}"));
            let message = e
                .as_http_error()
                .and_then(|h| h.error_message().map(str::to_string))
                .unwrap_or_else(|| e.to_string());
            Error::from_azure(&code, status, message, None)
        }
        AzKind::Io => Error::Transient {
            code: "ConnectionFailed".into(),
            message: e.to_string(),
        },
        AzKind::Credential => Error::Unauthorized {
            code: "CredentialUnavailable".into(),
            message: e.to_string(),
        },
        AzKind::DataConversion => Error::Transient {
            code: "UnreadableResponse".into(),
            message: e.to_string(),
        },
        // The client library's long-running-operation loop reports a `Failed` or `Canceled`
        // operation as `Other` without ARM's code.
        _ => Error::Transient {
            code: "OperationFailed".into(),
            message: e.to_string(),
        },
    }
}

/// True for a failure to reach the service at all (a dropped or refused connection).
pub fn is_io(e: &azure_core::Error) -> bool {
    matches!(e.kind(), AzKind::Io)
}

/// `Retry-After` (ARM sends whole seconds), or `retry-after-ms` / `x-ms-retry-after-ms`.
pub fn retry_after_of(headers: &Headers) -> Option<Duration> {
    let get = |name: &'static str| {
        headers
            .get_optional_str(&azure_core::headers::HeaderName::from_static(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    get("retry-after-ms")
        .or_else(|| get("x-ms-retry-after-ms"))
        .map(Duration::from_millis)
        .or_else(|| get("retry-after").map(Duration::from_secs))
}

/// A delete whose object is already gone has done its job: `NotFound` is success.
pub fn gone_is_done<T>(result: cloudnet_core::Result<T>) -> cloudnet_core::Result<()> {
    match result {
        Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use azure_core::StatusCode;
    use cloudnet_core::{ErrorKind, Limit};

    use super::*;

    fn http(status: StatusCode, code: &str) -> azure_core::Error {
        azure_core::Error::new(AzKind::http_response(status, Some(code.to_string())), "m")
    }

    #[test]
    fn arm_codes_map_by_code_then_status() {
        assert_eq!(
            from_azure(&http(StatusCode::PreconditionFailed, "PreconditionFailed")).kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            from_azure(&http(StatusCode::BadRequest, "SubnetIsFull")).kind(),
            ErrorKind::InsufficientCapacity
        );
        assert_eq!(
            from_azure(&http(
                StatusCode::BadRequest,
                "RouteTableCannotHaveMoreThanMaxRoutes"
            ))
            .kind(),
            ErrorKind::LimitExceeded(Limit::RoutesPerTable)
        );
        assert_eq!(
            from_azure(&http(StatusCode::NotFound, "ResourceNotFound")).kind(),
            ErrorKind::NotFound
        );
        let e = from_azure(&http(StatusCode::BadGateway, "SomethingNew"));
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert_eq!(e.code(), "SomethingNew");
        assert_eq!(
            from_azure(&azure_core::Error::message(AzKind::Io, "reset")).kind(),
            ErrorKind::Transient
        );
    }
}
