//! A Node's `spec.providerID` to the cloud's instance reference, as the allocator's error.

use cloudnet_core::NodeRef;

use crate::error::{Error, Result};

/// [`crate::node_ref::node_ref`], with a providerID that names no instance as an
/// [`Error::ProviderId`].
pub fn node_ref(node: &str, provider_id: &str) -> Result<NodeRef> {
    crate::node_ref::node_ref(node, provider_id).ok_or_else(|| Error::ProviderId {
        node: node.to_string(),
        provider_id: provider_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids() {
        let r = node_ref("n", "aws:///us-west-2a/i-0abc").expect("valid");
        assert_eq!(r.instance_id, "i-0abc");
        assert_eq!(r.zone.as_deref(), Some("us-west-2a"));
        let r = node_ref("n", "aws:////i-0abc").expect("valid without a zone");
        assert_eq!((r.instance_id.as_str(), r.zone), ("i-0abc", None));
        for bad in [
            "",
            "aws:///us-west-2a/",
            "aws:///us-west-2a/vol-1",
            "kind://x/y/z",
        ] {
            assert!(node_ref("n", bad).is_err(), "{bad}");
        }
    }
}
