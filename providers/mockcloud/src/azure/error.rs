//! Azure Resource Manager errors as ARM sends them: `{"error":{"code":..,"message":..}}` with
//! the HTTP status. Clients (the Azure SDKs, cloud-provider-azure) match on the status and
//! `code`, never on `message`.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for AzError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AzError {}

pub type AzResult<T> = Result<T, AzError>;

impl AzError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AzError {
        AzError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn bad(code: &str, message: impl Into<String>) -> AzError {
        AzError::new(400, code, message)
    }

    /// 404 `ResourceNotFound` for a top-level resource.
    pub fn not_found(type_: &str, name: &str, group: &str) -> AzError {
        AzError::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource '{type_}/{name}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// 404 `NotFound` for a child resource (a subnet, a route), as the Network provider says it.
    pub fn child_not_found(id: &str) -> AzError {
        AzError::new(404, "NotFound", format!("Resource {id} not found."))
    }

    /// 400 `InvalidResourceReference`: a reference to something that does not exist.
    pub fn invalid_reference(target: &str, by: &str) -> AzError {
        AzError::bad(
            "InvalidResourceReference",
            format!(
                "Resource {target} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
            ),
        )
    }

    /// 412 `PreconditionFailed`: a stale `If-Match`.
    pub fn precondition_failed(id: &str) -> AzError {
        AzError::new(
            412,
            "PreconditionFailed",
            format!(
                "Precondition failed for resource {id}: the etag in the If-Match header does not match the current etag."
            ),
        )
    }

    /// 409 `AnotherOperationInProgress`.
    pub fn another_operation(id: &str, op: &str) -> AzError {
        AzError::new(
            409,
            "AnotherOperationInProgress",
            format!(
                "Another operation on this or dependent resource is in progress. To retry later, please check the status of the operation: {op}. Resource: {id}"
            ),
        )
    }

    /// 429 `TooManyRequests` (the `Retry-After` header goes with it).
    pub fn throttled(kind: &str) -> AzError {
        AzError::new(
            429,
            "TooManyRequests",
            format!(
                "The request is being throttled as the limit has been reached for operation type - {kind}."
            ),
        )
    }

    /// A server-side failure: 500 `InternalServerError`, 503 `ServiceUnavailable`.
    pub fn server(status: u16, code: Option<&str>) -> AzError {
        let code = code.unwrap_or(if status == 503 {
            "ServiceUnavailable"
        } else {
            "InternalServerError"
        });
        AzError::new(
            status,
            code,
            "An error occurred while processing the request (injected fault).",
        )
    }

    pub fn to_json(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_arms_shape() {
        let v = AzError::not_found("Microsoft.Network/virtualNetworks", "v", "rg").to_json();
        assert_eq!(v["error"]["code"], "ResourceNotFound");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("'Microsoft.Network/virtualNetworks/v'"))
        );
        assert_eq!(AzError::server(503, None).code, "ServiceUnavailable");
    }
}
