//! A Node's `spec.providerID` to the cloud's instance reference.

use cloudnet_core::NodeRef;

use crate::error::{Error, Result};

/// `aws:///us-west-2a/i-0123...` (the zone part may be empty) -> instance `i-0123...` in
/// zone `us-west-2a`. Other schemes are refused until their providers exist.
pub fn node_ref(node: &str, provider_id: &str) -> Result<NodeRef> {
    let bad = || Error::ProviderId {
        node: node.to_string(),
        provider_id: provider_id.to_string(),
    };
    let rest = provider_id.strip_prefix("aws://").ok_or_else(bad)?;
    let mut parts = rest.trim_start_matches('/').rsplitn(2, '/');
    let instance = parts
        .next()
        .filter(|i| i.starts_with("i-"))
        .ok_or_else(bad)?;
    let zone = parts.next().filter(|z| !z.is_empty()).map(str::to_string);
    Ok(NodeRef {
        name: node.to_string(),
        instance_id: instance.to_string(),
        zone,
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
            "gce://p/z/n",
            "aws:///us-west-2a/vol-1",
        ] {
            assert!(node_ref("n", bad).is_err(), "{bad}");
        }
    }
}
