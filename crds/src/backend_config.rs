//! `BackendConfig` (`cloud.google.com/v1`): ingress-gce's per-Service-port settings of a GCP
//! backend service, the subset cloudnet carries out. A Service names its BackendConfigs with
//! `cloud.google.com/backend-config: {"default": "NAME", "ports": {"PORT-OR-NAME": "NAME"}}`;
//! the Ingress controller reads the one of each backend's port into the port's backend group.
//!
//! | Field | Becomes |
//! |---|---|
//! | `healthCheck.{checkIntervalSec, timeoutSec, healthyThreshold, unhealthyThreshold, type, requestPath, port}` | the group's health check |
//! | `timeoutSec` | the backend service's `timeoutSec` |
//! | `connectionDraining.drainingTimeoutSec` | the backend service's `connectionDraining.drainingTimeoutSec` |
//!
//! Field names and types are ingress-gce's own, so its objects apply unchanged; the other
//! fields of ingress-gce's BackendConfig (cdn, iap, securityPolicy, sessionAffinity, logging,
//! customRequestHeaders, ...) are not in this subset: the API server prunes them from an
//! object applied with this CRD, and the controller does not carry them out.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The backend service settings of the Service ports that name this object.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "cloud.google.com",
    version = "v1",
    kind = "BackendConfig",
    plural = "backendconfigs",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct BackendConfigSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// How long the load balancer waits for a backend's response, in seconds (1 to 86400;
    /// the cloud's default is 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_sec: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_draining: Option<ConnectionDrainingConfig>,
}

/// The health check's parameters, as Compute Engine names them; unset ones keep the
/// controller's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval_sec: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_sec: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<i64>,
    /// `HTTP`, `HTTPS` or `HTTP2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// A fixed port to probe (else each endpoint's serving port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_path: Option<String>,
}

/// How long a removed backend keeps its open connections, in seconds (0 to 3600).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionDrainingConfig {
    #[serde(default)]
    pub draining_timeout_sec: i64,
}
