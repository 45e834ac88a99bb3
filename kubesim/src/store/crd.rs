//! CustomResourceDefinitions as the store accepts them.

use serde_json::{Value, json};

use super::Res;
use crate::error::StatusError;
use crate::meta;

/// A CRD must be named `<plural>.<group>`; it is accepted and established at once.
pub(super) fn prepare_crd(obj: &mut Value, name: &str) -> Res<()> {
    let spec = &obj["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let invalid = |field: &str, why: &str| {
        StatusError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            field,
            why,
        )
    };
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(invalid(
            "spec",
            "Required value: spec.group, spec.names.plural and spec.names.kind are required",
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            "metadata.name",
            &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        return Err(invalid(
            "spec.versions",
            "Required value: must have at least one version",
        ));
    }
    let stored: Vec<Value> = versions
        .iter()
        .filter(|v| v["storage"].as_bool().unwrap_or(false))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut accepted = spec["names"].clone();
    if accepted.get("singular").is_none() {
        accepted["singular"] = json!(kind.to_lowercase());
    }
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let now = meta::now();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    obj["status"] = json!({
        "acceptedNames": accepted,
        "storedVersions": stored,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    });
    Ok(())
}
