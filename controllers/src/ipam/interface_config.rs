//! Where a node's new interfaces go: the `InterfaceConfig` it names, else its primary
//! interface's subnet. The lookup order is the CRD's (see `cloudnet_crds::interface_config`).

use std::collections::BTreeMap;

use cloudnet_core::NodeInterfaces;
use cloudnet_crds::{InterfaceConfigSpec, NodeNetworkSpec};

use super::plan::NewInterface;

/// The node label that names an `InterfaceConfig`.
pub const LABEL: &str = "cloudnet.io/interface-config";
/// The VPC CNI's label for its `ENIConfig`, read the same way.
pub const VPC_CNI_LABEL: &str = "k8s.amazonaws.com/eniConfig";

/// The name of the `InterfaceConfig` a node uses, if any.
pub fn config_name(
    spec: &NodeNetworkSpec,
    node_labels: &BTreeMap<String, String>,
    label_def: Option<&str>,
) -> Option<String> {
    spec.interface_config
        .clone()
        .or_else(|| node_labels.get(LABEL).cloned())
        .or_else(|| node_labels.get(VPC_CNI_LABEL).cloned())
        .or_else(|| label_def.and_then(|l| node_labels.get(l).cloned()))
}

/// Where new interfaces go. `Err` names a config that does not exist.
pub fn new_interface(
    name: Option<&str>,
    lookup: impl Fn(&str) -> Option<InterfaceConfigSpec>,
    node: &NodeInterfaces,
) -> Result<Option<NewInterface>, String> {
    match name {
        Some(n) => match lookup(n) {
            Some(c) => Ok(Some(NewInterface {
                subnet_id: c.subnet,
                security_groups: c.security_groups,
            })),
            None => Err(format!("InterfaceConfig {n} does not exist")),
        },
        None => Ok(node
            .interfaces
            .iter()
            .find(|i| i.is_primary())
            .map(|p| NewInterface {
                subnet_id: p.subnet_id.clone(),
                security_groups: p.security_groups.clone(),
            })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_order_is_spec_label_vpc_cni_label_then_the_configured_label() {
        let spec = |c: Option<&str>| NodeNetworkSpec {
            interface_config: c.map(str::to_string),
            ..Default::default()
        };
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let zone = "topology.kubernetes.io/zone";
        let all = labels(&[(LABEL, "a"), (VPC_CNI_LABEL, "b"), (zone, "us-west-2a")]);
        assert_eq!(
            config_name(&spec(Some("s")), &all, Some(zone)).as_deref(),
            Some("s")
        );
        assert_eq!(
            config_name(&spec(None), &all, Some(zone)).as_deref(),
            Some("a")
        );
        let l = labels(&[(VPC_CNI_LABEL, "b"), (zone, "us-west-2a")]);
        assert_eq!(
            config_name(&spec(None), &l, Some(zone)).as_deref(),
            Some("b")
        );
        let l = labels(&[(zone, "us-west-2a")]);
        assert_eq!(
            config_name(&spec(None), &l, Some(zone)).as_deref(),
            Some("us-west-2a")
        );
        assert_eq!(config_name(&spec(None), &l, None), None);
    }
}
