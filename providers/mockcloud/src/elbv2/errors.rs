//! ELBv2's error codes. Each exception shape of the API model carries its `error.code` and
//! `httpStatusCode` (botocore `elbv2/2015-12-01/service-2.json`): all of the ones below are
//! sender faults with HTTP 400. Input that fails validation is `ValidationError`, as AWS sends
//! it (e.g. "At least two subnets in two different Availability Zones must be specified").

use crate::awserror::AwsError;

pub(super) fn validation(message: impl Into<String>) -> AwsError {
    AwsError::client("ValidationError", message)
}

pub(super) fn invalid_configuration(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidConfigurationRequest", message)
}

pub(super) fn load_balancer_not_found() -> AwsError {
    AwsError::client(
        "LoadBalancerNotFound",
        "One or more load balancers not found",
    )
}

pub(super) fn target_group_not_found() -> AwsError {
    AwsError::client("TargetGroupNotFound", "One or more target groups not found")
}

pub(super) fn listener_not_found() -> AwsError {
    AwsError::client("ListenerNotFound", "One or more listeners not found")
}

pub(super) fn rule_not_found() -> AwsError {
    AwsError::client("RuleNotFound", "One or more rules not found")
}

pub(super) fn operation_not_permitted(message: impl Into<String>) -> AwsError {
    AwsError::client("OperationNotPermitted", message)
}

pub(super) fn resource_in_use(message: impl Into<String>) -> AwsError {
    AwsError::client("ResourceInUse", message)
}

pub(super) fn too_many(code: &str, message: impl Into<String>) -> AwsError {
    AwsError::client(code, message)
}

pub(super) fn invalid_target(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidTarget", message)
}

pub(super) fn incompatible_protocols(message: impl Into<String>) -> AwsError {
    AwsError::client("IncompatibleProtocols", message)
}

pub(super) fn invalid_action(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidLoadBalancerAction", message)
}

/// An enum-valued parameter outside its value set, worded like AWS's request validation.
pub(super) fn not_in_enum(value: &str, field: &str, allowed: &[&str]) -> AwsError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy \
         constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    ))
}

/// An integer parameter out of its range.
pub(super) fn out_of_range(field: &str, value: i64, min: i64, max: i64) -> AwsError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy \
         constraint: Member must have value between {min} and {max}"
    ))
}

/// Reads an optional integer parameter and checks its range.
pub(super) fn int_in(
    params: &crate::query::Params,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, AwsError> {
    match params.get_i64(key).map_err(|e| validation(e.message))? {
        Some(v) if v < min || v > max => Err(out_of_range(key, v, min, max)),
        other => Ok(other),
    }
}

/// Reads an optional enum parameter and checks it against AWS's value set.
pub(super) fn enum_in<'a>(
    params: &'a crate::query::Params,
    key: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, AwsError> {
    match params.get(key) {
        Some(v) if !allowed.contains(&v) => Err(not_in_enum(v, key, allowed)),
        other => Ok(other),
    }
}

/// A parameter the action cannot do without, refused the way AWS's request validation does.
pub(super) fn required<'a>(
    params: &'a crate::query::Params,
    key: &str,
) -> Result<&'a str, AwsError> {
    match params.get(key) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(validation(format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: \
             Member must not be null"
        ))),
    }
}

/// Reads an optional boolean parameter (`true`/`false`).
pub(super) fn bool_of(params: &crate::query::Params, key: &str) -> Result<Option<bool>, AwsError> {
    params.get_bool(key).map_err(|e| validation(e.message))
}
