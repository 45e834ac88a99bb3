//! The one error type of every provider, and the tables that turn each cloud's error codes
//! into it.
//!
//! Callers act on the variant: wait and retry (`Throttled`, `Transient`), treat as done
//! (`NotFound` on delete), re-read and retry (`Conflict`), surface to the user
//! (`InvalidInput`, `Unauthorized`, `LimitExceeded`, `InsufficientCapacity`). Backends classify
//! by the cloud's *code* (and HTTP status when the code is unknown), never by message text.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which limit a `LimitExceeded` ran into, so a caller can say it plainly or plan around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Limit {
    InterfacesPerNode,
    AddressesPerInterface,
    RoutesPerTable,
    LoadBalancers,
    TargetGroups,
    ListenersPerLoadBalancer,
    RulesPerListener,
    TargetsPerGroup,
    TagsPerResource,
    SecurityGroupRules,
    SecurityGroups,
    Certificates,
    /// An account or project quota not named above.
    Quota,
}

/// A cloud failure, classified for the caller. `code` is the cloud's own error code, kept for
/// messages, Events and metrics (it is a small fixed set per cloud).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("throttled by the cloud ({code}): {message}")]
    Throttled {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("not found ({code}): {message}")]
    NotFound { code: String, message: String },
    #[error("conflict ({code}): {message}")]
    Conflict { code: String, message: String },
    #[error("limit exceeded: {limit:?} ({code}): {message}")]
    LimitExceeded {
        limit: Limit,
        code: String,
        message: String,
    },
    #[error("insufficient capacity ({code}): {message}")]
    InsufficientCapacity { code: String, message: String },
    #[error("invalid input ({code}): {message}")]
    InvalidInput { code: String, message: String },
    #[error("unauthorized ({code}): {message}")]
    Unauthorized { code: String, message: String },
    #[error("transient cloud failure ({code}): {message}")]
    Transient { code: String, message: String },
}

/// The variant of an [`Error`] without its fields: what a table maps a code to, and a
/// bounded label for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    Throttled,
    NotFound,
    Conflict,
    LimitExceeded(Limit),
    InsufficientCapacity,
    InvalidInput,
    Unauthorized,
    Transient,
}

impl ErrorKind {
    /// A short fixed label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::LimitExceeded(_) => "limit_exceeded",
            ErrorKind::InsufficientCapacity => "insufficient_capacity",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Transient => "transient",
        }
    }

    /// The kind an unknown code falls back to, from the HTTP status alone.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            429 => ErrorKind::Throttled,
            500..=599 => ErrorKind::Transient,
            _ => ErrorKind::InvalidInput,
        }
    }

    /// Builds the error of this kind.
    pub fn into_error(
        self,
        code: impl Into<String>,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Error {
        let (code, message) = (code.into(), message.into());
        match self {
            ErrorKind::Throttled => Error::Throttled {
                code,
                message,
                retry_after,
            },
            ErrorKind::NotFound => Error::NotFound { code, message },
            ErrorKind::Conflict => Error::Conflict { code, message },
            ErrorKind::LimitExceeded(limit) => Error::LimitExceeded {
                limit,
                code,
                message,
            },
            ErrorKind::InsufficientCapacity => Error::InsufficientCapacity { code, message },
            ErrorKind::InvalidInput => Error::InvalidInput { code, message },
            ErrorKind::Unauthorized => Error::Unauthorized { code, message },
            ErrorKind::Transient => Error::Transient { code, message },
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Throttled { .. } => ErrorKind::Throttled,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::LimitExceeded { limit, .. } => ErrorKind::LimitExceeded(*limit),
            Error::InsufficientCapacity { .. } => ErrorKind::InsufficientCapacity,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Transient { .. } => ErrorKind::Transient,
        }
    }

    /// The cloud's own code (or a suite-chosen one for errors found before any call).
    pub fn code(&self) -> &str {
        match self {
            Error::Throttled { code, .. }
            | Error::NotFound { code, .. }
            | Error::Conflict { code, .. }
            | Error::LimitExceeded { code, .. }
            | Error::InsufficientCapacity { code, .. }
            | Error::InvalidInput { code, .. }
            | Error::Unauthorized { code, .. }
            | Error::Transient { code, .. } => code,
        }
    }

    /// True when the same call may succeed later without any change of input.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Throttled { .. } | Error::Transient { .. })
    }

    /// The same error with `step` (what was being done) in front of its message; kind, code
    /// and retry hint stay, so callers still decide on them. A change set names the change
    /// that failed this way.
    pub fn during(self, step: impl std::fmt::Display) -> Error {
        let mut e = self;
        match &mut e {
            Error::Throttled { message, .. }
            | Error::NotFound { message, .. }
            | Error::Conflict { message, .. }
            | Error::LimitExceeded { message, .. }
            | Error::InsufficientCapacity { message, .. }
            | Error::InvalidInput { message, .. }
            | Error::Unauthorized { message, .. }
            | Error::Transient { message, .. } => *message = format!("{step}: {message}"),
        }
        e
    }

    /// An input problem found by the suite before calling the cloud.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidInput {
            code: "InvalidSpec".into(),
            message: message.into(),
        }
    }

    /// Classifies an AWS error (EC2 or ELBv2) by code, then by HTTP status.
    pub fn from_aws(
        code: &str,
        status: u16,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Error {
        classify(codes::AWS, code, status).into_error(code, message, retry_after)
    }

    /// Classifies a Google Cloud error by its `reason` (or operation error `code`), then status.
    pub fn from_gcp(
        reason: &str,
        status: u16,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Error {
        classify(codes::GCP, reason, status).into_error(reason, message, retry_after)
    }

    /// Classifies an Azure Resource Manager error by `error.code`, then status.
    pub fn from_azure(
        code: &str,
        status: u16,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Error {
        classify(codes::AZURE, code, status).into_error(code, message, retry_after)
    }
}

/// Looks a code up in a table: exact match first, then AWS's `*.NotFound` / `*.Duplicate`
/// families, then the HTTP status.
pub fn classify(table: &[(&str, ErrorKind)], code: &str, status: u16) -> ErrorKind {
    if let Some((_, kind)) = table.iter().find(|(c, _)| *c == code) {
        return *kind;
    }
    if code.ends_with(".NotFound") {
        return ErrorKind::NotFound;
    }
    if code.ends_with(".Duplicate") || code.ends_with(".InUse") {
        return ErrorKind::Conflict;
    }
    if code.ends_with(".Malformed") {
        return ErrorKind::InvalidInput;
    }
    ErrorKind::from_status(status)
}

/// The clouds' error codes and what they mean to a caller.
///
/// Sources: the EC2 API error-code reference, the ELBv2 API reference's per-action errors,
/// the Compute Engine error reasons and operation error codes, and Azure Resource Manager's
/// network error codes. Unknown codes fall back to the HTTP status ([`ErrorKind::from_status`]).
pub mod codes {
    use super::ErrorKind::{self, *};
    use super::Limit;

    pub const AWS: &[(&str, ErrorKind)] = &[
        // Throttling, EC2 and ELBv2 (and the SDK's generic names).
        ("RequestLimitExceeded", Throttled),
        ("Throttling", Throttled),
        ("ThrottlingException", Throttled),
        ("RequestThrottled", Throttled),
        ("RequestThrottledException", Throttled),
        ("TooManyRequestsException", Throttled),
        ("BandwidthLimitExceeded", Throttled),
        // The rest of the AWS SDK's throttling codes: the SDK tells throttling apart by
        // these, and the AWS backend retries what it calls throttling through the budget,
        // so both lists must agree.
        ("ThrottledException", Throttled),
        ("EC2ThrottledException", Throttled),
        ("ProvisionedThroughputExceededException", Throttled),
        ("TransactionInProgressException", Throttled),
        ("LimitExceededException", Throttled),
        ("SlowDown", Throttled),
        ("PriorRequestNotComplete", Throttled),
        // Not found.
        ("LoadBalancerNotFound", NotFound),
        ("TargetGroupNotFound", NotFound),
        ("ListenerNotFound", NotFound),
        ("RuleNotFound", NotFound),
        ("InvalidNetworkInterfaceID.NotFound", NotFound),
        ("InvalidInstanceID.NotFound", NotFound),
        ("InvalidAttachmentID.NotFound", NotFound),
        ("InvalidRoute.NotFound", NotFound),
        // Conflicts: state that another writer (or an earlier attempt) already changed.
        ("RouteAlreadyExists", Conflict),
        ("DuplicateLoadBalancerName", Conflict),
        ("DuplicateTargetGroupName", Conflict),
        ("DuplicateListener", Conflict),
        ("DuplicateTagKeys", InvalidInput),
        ("PriorityInUse", Conflict),
        ("ResourceInUse", Conflict),
        ("InvalidNetworkInterface.InUse", Conflict),
        ("InvalidIPAddress.InUse", Conflict),
        ("IncorrectState", Conflict),
        ("IncorrectInstanceState", Conflict),
        ("DependencyViolation", Conflict),
        ("OperationNotPermitted", Conflict),
        ("InvalidPermission.Duplicate", Conflict),
        ("InvalidGroup.Duplicate", Conflict),
        // Limits.
        (
            "AttachmentLimitExceeded",
            LimitExceeded(Limit::InterfacesPerNode),
        ),
        ("NetworkInterfaceLimitExceeded", LimitExceeded(Limit::Quota)),
        (
            "PrivateIpAddressLimitExceeded",
            LimitExceeded(Limit::AddressesPerInterface),
        ),
        ("RouteLimitExceeded", LimitExceeded(Limit::RoutesPerTable)),
        ("TooManyLoadBalancers", LimitExceeded(Limit::LoadBalancers)),
        ("TooManyTargetGroups", LimitExceeded(Limit::TargetGroups)),
        (
            "TooManyListeners",
            LimitExceeded(Limit::ListenersPerLoadBalancer),
        ),
        ("TooManyRules", LimitExceeded(Limit::RulesPerListener)),
        ("TooManyTargets", LimitExceeded(Limit::TargetsPerGroup)),
        (
            "TooManyRegistrationsForTargetId",
            LimitExceeded(Limit::TargetsPerGroup),
        ),
        ("TooManyTags", LimitExceeded(Limit::TagsPerResource)),
        ("TagLimitExceeded", LimitExceeded(Limit::TagsPerResource)),
        ("TooManyCertificates", LimitExceeded(Limit::Certificates)),
        ("TooManyActions", LimitExceeded(Limit::RulesPerListener)),
        (
            "RulesPerSecurityGroupLimitExceeded",
            LimitExceeded(Limit::SecurityGroupRules),
        ),
        (
            "SecurityGroupLimitExceeded",
            LimitExceeded(Limit::SecurityGroups),
        ),
        ("VcpuLimitExceeded", LimitExceeded(Limit::Quota)),
        // Capacity: the subnet (or the zone) has run out.
        ("InsufficientFreeAddressesInSubnet", InsufficientCapacity),
        ("InsufficientCidrBlocks", InsufficientCapacity),
        ("InsufficientInstanceCapacity", InsufficientCapacity),
        ("InsufficientAddressCapacity", InsufficientCapacity),
        // The request itself is wrong.
        ("InvalidParameterValue", InvalidInput),
        ("InvalidParameter", InvalidInput),
        ("InvalidParameterCombination", InvalidInput),
        ("MissingParameter", InvalidInput),
        ("UnknownParameter", InvalidInput),
        ("ValidationError", InvalidInput),
        ("InvalidConfigurationRequest", InvalidInput),
        ("InvalidTarget", InvalidInput),
        ("InvalidSubnet", InvalidInput),
        ("InvalidSecurityGroup", InvalidInput),
        ("InvalidScheme", InvalidInput),
        ("InvalidLoadBalancerAction", InvalidInput),
        ("UnsupportedProtocol", InvalidInput),
        ("CertificateNotFound", InvalidInput),
        ("SSLPolicyNotFound", InvalidInput),
        ("SubnetNotFound", InvalidInput),
        ("AvailabilityZoneNotSupported", InvalidInput),
        ("InvalidAction", InvalidInput),
        ("InvalidSubnetID.NotFound", InvalidInput),
        ("InvalidGroup.NotFound", InvalidInput),
        ("InvalidVpcID.NotFound", InvalidInput),
        ("InvalidRouteTableID.NotFound", InvalidInput),
        // Credentials and permissions.
        ("UnauthorizedOperation", Unauthorized),
        ("AuthFailure", Unauthorized),
        ("AccessDenied", Unauthorized),
        ("AccessDeniedException", Unauthorized),
        ("InvalidClientTokenId", Unauthorized),
        ("SignatureDoesNotMatch", Unauthorized),
        ("ExpiredToken", Unauthorized),
        ("OptInRequired", Unauthorized),
        // The cloud's own trouble.
        ("InternalError", Transient),
        ("InternalFailure", Transient),
        ("ServiceUnavailable", Transient),
        ("Unavailable", Transient),
        ("RequestTimeout", Transient),
        ("RequestExpired", Transient),
    ];

    /// Compute Engine: API `errors[].reason` values and operation `error.errors[].code` values.
    pub const GCP: &[(&str, ErrorKind)] = &[
        ("rateLimitExceeded", Throttled),
        ("userRateLimitExceeded", Throttled),
        ("RATE_LIMIT_EXCEEDED", Throttled),
        ("notFound", NotFound),
        ("RESOURCE_NOT_FOUND", NotFound),
        ("alreadyExists", Conflict),
        ("RESOURCE_ALREADY_EXISTS", Conflict),
        ("resourceInUseByAnotherResource", Conflict),
        ("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", Conflict),
        ("conditionNotMet", Conflict),
        ("fingerprintMismatch", Conflict),
        ("resourceNotReady", Transient),
        ("RESOURCE_NOT_READY", Transient),
        ("quotaExceeded", LimitExceeded(Limit::Quota)),
        ("QUOTA_EXCEEDED", LimitExceeded(Limit::Quota)),
        ("limitExceeded", LimitExceeded(Limit::Quota)),
        ("IP_SPACE_EXHAUSTED", InsufficientCapacity),
        ("ipSpaceExhausted", InsufficientCapacity),
        ("ZONE_RESOURCE_POOL_EXHAUSTED", InsufficientCapacity),
        ("invalid", InvalidInput),
        ("badRequest", InvalidInput),
        ("required", InvalidInput),
        ("invalidParameter", InvalidInput),
        ("INVALID_USAGE", InvalidInput),
        ("forbidden", Unauthorized),
        ("insufficientPermissions", Unauthorized),
        ("authError", Unauthorized),
        ("unauthorized", Unauthorized),
        ("backendError", Transient),
        ("internalError", Transient),
        ("serviceUnavailable", Transient),
    ];

    /// Azure Resource Manager (Microsoft.Network) `error.code` values.
    pub const AZURE: &[(&str, ErrorKind)] = &[
        ("TooManyRequests", Throttled),
        ("SubscriptionRequestsThrottled", Throttled),
        ("TenantRequestsThrottled", Throttled),
        ("RetryableError", Transient),
        ("NotFound", NotFound),
        ("ResourceNotFound", NotFound),
        ("ResourceGroupNotFound", NotFound),
        ("Conflict", Conflict),
        ("AnotherOperationInProgress", Conflict),
        ("InUseSubnetCannotBeDeleted", Conflict),
        ("PrivateIPAddressInUse", Conflict),
        ("InUseNetworkInterfaceCannotBeDeleted", Conflict),
        ("PreconditionFailed", Conflict),
        ("QuotaExceeded", LimitExceeded(Limit::Quota)),
        ("OperationNotAllowed", LimitExceeded(Limit::Quota)),
        (
            "NetworkInterfaceIpConfigurationCountExceedsLimit",
            LimitExceeded(Limit::AddressesPerInterface),
        ),
        (
            "MaxNumberOfNetworkInterfacesPerVmReached",
            LimitExceeded(Limit::InterfacesPerNode),
        ),
        (
            "RouteTableCannotHaveMoreThanMaxRoutes",
            LimitExceeded(Limit::RoutesPerTable),
        ),
        (
            "SecurityRuleCountLimitReached",
            LimitExceeded(Limit::SecurityGroupRules),
        ),
        ("SubnetIsFull", InsufficientCapacity),
        ("PrivateIPAddressNotAvailable", InsufficientCapacity),
        ("InvalidParameter", InvalidInput),
        ("InvalidRequestFormat", InvalidInput),
        ("InvalidResourceName", InvalidInput),
        ("BadRequest", InvalidInput),
        ("AuthorizationFailed", Unauthorized),
        ("LinkedAuthorizationFailed", Unauthorized),
        ("InvalidAuthenticationToken", Unauthorized),
        ("AuthenticationFailed", Unauthorized),
        ("InternalServerError", Transient),
        ("ServerTimeout", Transient),
        ("GatewayTimeout", Transient),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn during_names_the_step_and_keeps_kind_and_code() {
        let e = Error::from_aws(
            "Throttling",
            400,
            "Rate exceeded",
            Some(Duration::from_secs(2)),
        )
        .during("create listener 443");
        assert_eq!(e.kind(), ErrorKind::Throttled);
        assert_eq!(e.code(), "Throttling");
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "throttled by the cloud (Throttling): create listener 443: Rate exceeded"
        );
        let Error::Throttled { retry_after, .. } = e else {
            panic!("still throttled")
        };
        assert_eq!(retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn aws_codes_classify_by_code_then_status() {
        let cases: &[(&str, u16, ErrorKind)] = &[
            ("RequestLimitExceeded", 503, ErrorKind::Throttled),
            ("Throttling", 400, ErrorKind::Throttled),
            (
                "InvalidNetworkInterfaceID.NotFound",
                400,
                ErrorKind::NotFound,
            ),
            ("InvalidAllocationID.NotFound", 400, ErrorKind::NotFound),
            ("InvalidSubnetID.NotFound", 400, ErrorKind::InvalidInput),
            ("InvalidNetworkInterface.InUse", 400, ErrorKind::Conflict),
            ("InvalidSomething.InUse", 400, ErrorKind::Conflict),
            (
                "AttachmentLimitExceeded",
                400,
                ErrorKind::LimitExceeded(Limit::InterfacesPerNode),
            ),
            (
                "PrivateIpAddressLimitExceeded",
                400,
                ErrorKind::LimitExceeded(Limit::AddressesPerInterface),
            ),
            (
                "TooManyRules",
                400,
                ErrorKind::LimitExceeded(Limit::RulesPerListener),
            ),
            (
                "InsufficientFreeAddressesInSubnet",
                400,
                ErrorKind::InsufficientCapacity,
            ),
            (
                "InsufficientCidrBlocks",
                400,
                ErrorKind::InsufficientCapacity,
            ),
            ("UnauthorizedOperation", 403, ErrorKind::Unauthorized),
            ("InternalError", 500, ErrorKind::Transient),
            ("SomethingNew", 503, ErrorKind::Transient),
            ("SomethingNew", 400, ErrorKind::InvalidInput),
            ("SomethingNew", 429, ErrorKind::Throttled),
            ("SomethingNew", 403, ErrorKind::Unauthorized),
        ];
        for (code, status, want) in cases {
            let e = Error::from_aws(code, *status, "m", None);
            assert_eq!(e.kind(), *want, "{code} {status}");
            assert_eq!(e.code(), *code);
        }
    }

    #[test]
    fn gcp_and_azure_codes_classify() {
        assert_eq!(
            Error::from_gcp("rateLimitExceeded", 403, "", None).kind(),
            ErrorKind::Throttled
        );
        assert_eq!(
            Error::from_gcp("IP_SPACE_EXHAUSTED", 400, "", None).kind(),
            ErrorKind::InsufficientCapacity
        );
        assert_eq!(
            Error::from_gcp("notFound", 404, "", None).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            Error::from_gcp("forbidden", 403, "", None).kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            Error::from_azure("SubscriptionRequestsThrottled", 429, "", None).kind(),
            ErrorKind::Throttled
        );
        assert_eq!(
            Error::from_azure("SubnetIsFull", 400, "", None).kind(),
            ErrorKind::InsufficientCapacity
        );
        assert_eq!(
            Error::from_azure("AnotherOperationInProgress", 409, "", None).kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            Error::from_azure("Whatever", 502, "", None).kind(),
            ErrorKind::Transient
        );
    }

    #[test]
    fn tables_have_no_duplicate_codes() {
        for table in [codes::AWS, codes::GCP, codes::AZURE] {
            let mut seen = std::collections::HashSet::new();
            for (code, _) in table {
                assert!(seen.insert(*code), "duplicate code {code}");
            }
        }
    }

    #[test]
    fn throttled_keeps_retry_after_and_only_throttled_and_transient_retry() {
        let e = Error::from_azure(
            "TooManyRequests",
            429,
            "slow down",
            Some(Duration::from_secs(7)),
        );
        assert!(
            matches!(e, Error::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(7))
        );
        assert!(e.is_retryable());
        assert!(Error::from_aws("InternalError", 500, "", None).is_retryable());
        assert!(!Error::from_aws("RouteAlreadyExists", 400, "", None).is_retryable());
        assert!(!Error::invalid("bad").is_retryable());
    }
}
