//! What of an Application Gateway `ensure` compares, and what it changes.
//!
//! The gateway is written whole (one PUT), so the diff only has to say whether anything the
//! suite sets differs: every field the desired gateway sets must be in the observed one with
//! the same value (IDs compared without case, as ARM does), every list must have the same
//! parts in the same order, and fields only ARM fills (`etag`, `provisioningState`, assigned
//! private addresses, part IDs and types) are left out.

use azure_mgmt_network::models::ApplicationGateway;
use cloudnet_core::ownership::TAG_CLUSTER;
use cloudnet_core::{Error, Owner, Result};
use serde_json::Value;

use crate::lb::diff::tags_of;
use crate::lb::{ChangeSet, PublicIpSeen};

/// Fields ARM fills or keeps to itself.
const SERVER_FIELDS: &[&str] = &[
    "etag",
    "provisioningState",
    "type",
    "resourceGuid",
    "operationalState",
    "publicCertData",
    "backendIPConfigurations",
    "privateIPAddress",
];

/// The observed value covers every field the desired value sets.
fn covers(observed: &Value, desired: &Value, key: Option<&str>) -> bool {
    match (observed, desired) {
        (_, Value::Null) => true,
        (Value::Object(o), Value::Object(d)) => d.iter().all(|(k, dv)| {
            if SERVER_FIELDS.contains(&k.as_str()) || (k == "id" && key.is_none()) {
                return true;
            }
            covers(o.get(k).unwrap_or(&Value::Null), dv, Some(k))
        }),
        (Value::Array(o), Value::Array(d)) => {
            o.len() == d.len() && o.iter().zip(d).all(|(o, d)| covers(o, d, None))
        }
        (Value::String(o), Value::String(d)) if key == Some("id") => o.eq_ignore_ascii_case(d),
        (Value::Null, Value::Array(d)) => d.is_empty(),
        (o, d) => o == d,
    }
}

/// The observed gateway has everything the desired one sets (IDs of parts aside).
pub fn matches(observed: &ApplicationGateway, desired: &ApplicationGateway) -> bool {
    let (Ok(o), Ok(d)) = (
        serde_json::to_value(observed),
        serde_json::to_value(desired),
    ) else {
        return false;
    };
    // Tags are compared whole: one the suite dropped must go.
    tags_of(&observed.resource.tags) == tags_of(&desired.resource.tags)
        && covers(&o["properties"], &d["properties"], Some("properties"))
}

/// What to change: a gateway under the suite's name that is not this owner's is a
/// `Conflict` and is left alone.
pub fn diff(
    owner: &Owner,
    observed: Option<&ApplicationGateway>,
    desired: &ApplicationGateway,
    public_ip: PublicIpSeen,
) -> Result<ChangeSet> {
    if let Some(o) = observed {
        let tags = tags_of(&o.resource.tags);
        if !owner.owns(&tags) {
            let name = o.resource.name.as_deref().unwrap_or_default();
            // A gateway without the suite's tags (one AKS's AGIC add-on or a user made) is
            // never taken over: its listeners, rules and pools are someone else's.
            let whose = if tags.contains_key(TAG_CLUSTER) {
                format!("is not {}'s", owner.object_ref())
            } else {
                "was not created by cloudnet (it has no cloudnet.io ownership tags); cloudnet \
                 does not share a gateway it did not create: name another gateway, or remove \
                 this one"
                    .to_string()
            };
            return Err(Error::Conflict {
                code: "ApplicationGatewayNotOwned".into(),
                message: format!("application gateway {name} exists and {whose}"),
            });
        }
    }
    Ok(ChangeSet {
        put_public_ip: public_ip.needs_put(true),
        put_load_balancer: observed.is_none_or(|o| !matches(o, desired)),
    })
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
