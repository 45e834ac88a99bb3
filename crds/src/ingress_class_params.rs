//! `IngressClassParams`: settings an IngressClass imposes on all its Ingresses, like the AWS
//! Load Balancer Controller's `elbv2.k8s.aws` IngressClassParams with the same field names.
//! An IngressClass points at one through `spec.parameters` (`apiGroup: cloudnet.io` or
//! `elbv2.k8s.aws`, `kind: IngressClassParams`, `name`); cluster-scoped.
//!
//! ```text
//!  IngressClass.spec.parameters ──> IngressClassParams ──overrides──> the Ingress's
//!                                                                    alb.ingress.kubernetes.io/*
//! ```
//!
//! Every field set here wins over the matching annotation of the class's Ingresses (`tags`
//! and `loadBalancerAttributes` are merged key by key, these winning); `group.name` puts
//! every Ingress of the class in one IngressGroup; an Ingress in a namespace the
//! `namespaceSelector` does not select is refused.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an IngressClass imposes on its Ingresses.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "cloudnet.io",
    version = "v1alpha1",
    kind = "IngressClassParams",
    plural = "ingressclassparams",
    printcolumn = r#"{"name":"Group-Name","type":"string","jsonPath":".spec.group.name"}"#,
    printcolumn = r#"{"name":"Scheme","type":"string","jsonPath":".spec.scheme"}"#,
    printcolumn = r#"{"name":"Ip-Address-Type","type":"string","jsonPath":".spec.ipAddressType"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct IngressClassParamsSpec {
    /// Namespaces whose Ingresses may use the class; unset: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Every Ingress of the class joins this IngressGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IngressGroupParams>,
    /// `internal` or `internet-facing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// `ipv4` or `dualstack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<String>,
    /// The load balancer's subnets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<SubnetSelector>,
    /// `ip` or `instance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    /// The TLS policy of HTTPS listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    /// Tags on the load balancer's resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Attribute>,
    /// Load balancer attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_attributes: Vec<Attribute>,
}

/// The IngressGroup of a class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngressGroupParams {
    pub name: String,
}

/// Subnets by ID, or by tags (the anchor's `matchTags`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubnetSelector {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<SubnetTag>,
}

/// A tag key and the values a subnet's tag may have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubnetTag {
    pub key: String,
    pub values: Vec<String>,
}

/// A key and its value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}
