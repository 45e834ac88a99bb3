//! `InterfaceConfig`: where a node's additional interfaces go (custom networking), like the
//! VPC CNI's `ENIConfig`.
//!
//! A node picks one by, in order: its `NodeNetwork`'s `spec.interfaceConfig`; the node label
//! `cloudnet.io/interface-config`; the VPC CNI's label `k8s.amazonaws.com/eniConfig`; the
//! value of the label the allocator is told to read (`--interface-config-label`, like
//! `ENI_CONFIG_LABEL_DEF`, typically `topology.kubernetes.io/zone`). With none, new
//! interfaces go in the subnet and security groups of the node's primary interface.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    CustomResource, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "cloudnet.io",
    version = "v1alpha1",
    kind = "InterfaceConfig",
    plural = "interfaceconfigs",
    shortname = "ifc",
    printcolumn = r#"{"name":"Subnet","type":"string","jsonPath":".spec.subnet"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceConfigSpec {
    /// The subnet for new interfaces (`subnet-...` on AWS).
    pub subnet: String,
    /// Security groups for new interfaces; empty = those of the node's primary interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
}
