//! `TargetGroupBinding`: fills a target group created outside Kubernetes (Terraform, the
//! console, another team's stack) with the endpoints or nodes of one Service port, like the
//! AWS Load Balancer Controller's `elbv2.k8s.aws` TargetGroupBinding.
//!
//! ```text
//!  TargetGroupBinding ──serviceRef──> Service port ──> EndpointSlices (ip) / Nodes (instance)
//!          │                                                   │
//!          └── targetGroupARN ──> target group (not ours) <── register / deregister
//! ```
//!
//! The controller only registers and deregisters the targets it computes; it never creates,
//! modifies or deletes the target group, and never deregisters a member it did not register
//! (`status.registeredTargets` keeps what it did, and in which group). A binding moved to
//! another group or target type first takes its targets out of the old group; deleting the
//! binding deregisters its targets (a finalizer holds the object until then).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which Service port's members to register, and where.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "cloudnet.io",
    version = "v1alpha1",
    kind = "TargetGroupBinding",
    plural = "targetgroupbindings",
    shortname = "tgb",
    namespaced,
    status = "TargetGroupBindingStatus",
    printcolumn = r#"{"name":"Service-Name","type":"string","jsonPath":".spec.serviceRef.name"}"#,
    printcolumn = r#"{"name":"Service-Port","type":"string","jsonPath":".spec.serviceRef.port"}"#,
    printcolumn = r#"{"name":"Target-Type","type":"string","jsonPath":".spec.targetType"}"#,
    printcolumn = r#"{"name":"Targets","type":"integer","jsonPath":".status.targets"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBindingSpec {
    /// The target group's ARN. The group must exist and take `targetType` targets.
    #[serde(rename = "targetGroupARN")]
    pub target_group_arn: String,
    /// `ip`: the Service's ready endpoints on the port's target port; `instance`: the nodes
    /// on the port's node port. Required here (the AWS Load Balancer Controller reads it
    /// from the group when unset).
    pub target_type: BindingTargetType,
    /// The Service (in the binding's namespace) and its port, by number or name.
    pub service_ref: ServiceReference,
}

/// What the group's members are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BindingTargetType {
    Ip,
    Instance,
}

/// A port of a Service in the binding's namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReference {
    pub name: String,
    /// The Service port's `port` number or its `name`.
    pub port: IntOrString,
}

/// What the controller did (written only by it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBindingStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Targets registered by this binding now.
    #[serde(default)]
    pub targets: u32,
    /// `ip:port` of every target this binding registered (and so may deregister), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered_targets: Vec<String>,
    /// The group `registeredTargets` are in (the spec's may have changed since).
    #[serde(
        rename = "targetGroupARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub target_group_arn: Option<String>,
    /// The type `registeredTargets` were registered as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<BindingTargetType>,
    /// `Ready`: the group's members match the Service (`False` with the reason otherwise:
    /// `ServiceNotFound`, `PortNotFound`, `TargetGroupNotFound`, `TargetTypeMismatch`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
