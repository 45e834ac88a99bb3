//! Compute Engine errors as the real API sends them:
//! `{"error":{"code":404,"message":..,"errors":[{"message":..,"domain":"global","reason":"notFound"}]}}`.
//! Clients match on the HTTP status and `reason`; never on `message`.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpError {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for GcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for GcpError {}

impl GcpError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> GcpError {
        GcpError {
            code,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// 404 `notFound`: "The resource 'projects/p/zones/z/instances/x' was not found".
    pub fn not_found(path: &str) -> GcpError {
        GcpError::new(
            404,
            "notFound",
            format!("The resource '{path}' was not found"),
        )
    }

    /// 409 `alreadyExists`.
    pub fn already_exists(path: &str) -> GcpError {
        GcpError::new(
            409,
            "alreadyExists",
            format!("The resource '{path}' already exists"),
        )
    }

    /// 400 `resourceInUseByAnotherResource`.
    pub fn in_use(path: &str, by: &str) -> GcpError {
        GcpError::new(
            400,
            "resourceInUseByAnotherResource",
            format!(
                "The {} resource '{path}' is already being used by '{by}'",
                kind_word(path)
            ),
        )
    }

    /// 412 `conditionNotMet`: a stale fingerprint.
    pub fn stale_fingerprint() -> GcpError {
        GcpError::new(
            412,
            "conditionNotMet",
            "Supplied fingerprint does not match current metadata fingerprint.",
        )
    }

    /// 400 `invalid` about one field of the request.
    pub fn invalid_field(field: &str, value: &str, why: &str) -> GcpError {
        GcpError::new(
            400,
            "invalid",
            format!("Invalid value for field '{field}': '{value}'. {why}"),
        )
    }

    /// 400 `required`: a field the call cannot do without.
    pub fn required(field: &str) -> GcpError {
        GcpError::new(
            400,
            "required",
            format!("Required field '{field}' not specified"),
        )
    }

    /// 400 `badRequest`: the body or a parameter does not parse.
    pub fn bad_request(message: impl Into<String>) -> GcpError {
        GcpError::new(400, "badRequest", message)
    }

    /// 403 `QUOTA_EXCEEDED`, as Compute Engine reports a regional or global quota.
    pub fn quota_exceeded(metric: &str, limit: u64, scope: &str) -> GcpError {
        GcpError::new(
            403,
            "QUOTA_EXCEEDED",
            format!("Quota '{metric}' exceeded.  Limit: {limit} {scope}."),
        )
    }

    /// 403 `forbidden`: the caller's role lacks `permission` on `resource`
    /// (`projects/p/zones/z/instances/n`).
    pub fn forbidden(permission: &str, resource: &str) -> GcpError {
        GcpError::new(
            403,
            "forbidden",
            format!("Required '{permission}' permission for '{resource}'"),
        )
    }

    /// 429 `rateLimitExceeded`.
    pub fn rate_limited() -> GcpError {
        GcpError::new(
            429,
            "rateLimitExceeded",
            "Rate Limit Exceeded: compute.googleapis.com per-minute requests",
        )
    }

    /// A server-side failure (500 `backendError`, 503 `backendError`/`unavailable`).
    pub fn server(code: u16, reason: Option<&str>) -> GcpError {
        let reason = reason.unwrap_or(if code == 503 {
            "unavailable"
        } else {
            "backendError"
        });
        GcpError::new(
            code,
            reason,
            "Internal error. Please try again or contact Google Support.",
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{
                    "message": self.message,
                    "domain": "global",
                    "reason": self.reason,
                }],
            }
        })
    }
}

/// The resource kind named in a path's collection (`.../networks/x` -> `network`).
fn kind_word(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let coll = parts
        .len()
        .checked_sub(2)
        .map(|i| parts[i])
        .unwrap_or("resource");
    coll.strip_suffix("es")
        .filter(|s| s.ends_with("ss"))
        .or_else(|| coll.strip_suffix('s'))
        .unwrap_or(coll)
        .to_string()
}

pub type GcpResult<T> = Result<T, GcpError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_real_shape() {
        let v = GcpError::not_found("projects/p/global/networks/x").to_json();
        assert_eq!(v["error"]["code"], 404);
        assert_eq!(v["error"]["errors"][0]["reason"], "notFound");
        assert_eq!(v["error"]["errors"][0]["domain"], "global");
        assert_eq!(kind_word("projects/p/global/addresses/a"), "address");
        assert_eq!(kind_word("projects/p/global/networks/a"), "network");
    }
}
