//! The cloud's name for a node, from `Node.spec.providerID`.
//!
//! | Cloud | providerID | instance |
//! |---|---|---|
//! | AWS | `aws:///us-west-2a/i-0123456789abcdef0` | `i-0123456789abcdef0` |
//! | GCE | `gce://project/us-central1-a/node-name` | `node-name` |
//! | Azure | `azure:///subscriptions/.../virtualMachines/vm-0` | the whole resource ID |

use cloudnet_core::NodeRef;

/// The instance part of a providerID, or None when it is not one of the three clouds' forms.
pub fn instance_id(provider_id: &str) -> Option<&str> {
    if let Some(rest) = provider_id.strip_prefix("aws://") {
        return rest.rsplit('/').next().filter(|id| id.starts_with("i-"));
    }
    if let Some(rest) = provider_id.strip_prefix("gce://") {
        return match rest.split('/').collect::<Vec<_>>()[..] {
            [project, zone, name] if ![project, zone, name].contains(&"") => Some(name),
            _ => None,
        };
    }
    if let Some(rest) = provider_id.strip_prefix("azure://") {
        return rest.starts_with("/subscriptions/").then_some(rest);
    }
    None
}

/// The zone part of a providerID, where the form carries one (AWS, GCE).
pub fn zone(provider_id: &str) -> Option<&str> {
    instance_id(provider_id)?;
    let parts: Vec<&str> = if let Some(rest) = provider_id.strip_prefix("aws:///") {
        rest.split('/').collect()
    } else if let Some(rest) = provider_id.strip_prefix("gce://") {
        rest.split('/').skip(1).collect()
    } else {
        return None;
    };
    match parts[..] {
        [zone, _] if !zone.is_empty() => Some(zone),
        _ => None,
    }
}

/// The [`NodeRef`] of a node named `name` with this providerID.
pub fn node_ref(name: &str, provider_id: &str) -> Option<NodeRef> {
    Some(NodeRef {
        name: name.to_string(),
        instance_id: instance_id(provider_id)?.to_string(),
        zone: zone(provider_id).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_of_the_three_clouds() {
        let cases = [
            (
                "aws:///us-west-2a/i-0123456789abcdef0",
                Some("i-0123456789abcdef0"),
                Some("us-west-2a"),
            ),
            ("aws:///i-0123", Some("i-0123"), None),
            ("aws:///us-west-2a/", None, None),
            (
                "gce://proj/us-central1-a/node-1",
                Some("node-1"),
                Some("us-central1-a"),
            ),
            ("gce://proj/node-1", None, None),
            (
                "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0",
                Some(
                    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0",
                ),
                None,
            ),
            ("kind://docker/kind/kind-control-plane", None, None),
            ("", None, None),
        ];
        for (id, instance, z) in cases {
            assert_eq!(instance_id(id), instance, "{id}");
            assert_eq!(zone(id), z, "{id}");
        }
        assert_eq!(
            node_ref("n1", "aws:///us-west-2a/i-1").map(|n| n.instance_id),
            Some("i-1".to_string())
        );
    }
}
