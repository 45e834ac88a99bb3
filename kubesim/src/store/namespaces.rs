//! Namespace lifecycle as the real API keeps it: every namespace is created with the
//! `kubernetes` finalizer in `spec.finalizers`; deleting it only marks it `Terminating`; the
//! namespace controller ([`crate::sim::namespaces`]) empties it and then removes that
//! finalizer through the `finalize` subresource ([`Store::finalize_namespace`]), which is
//! when the namespace leaves. Nothing new may be created in a terminating namespace.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Part, Res, Store, WriteOptions};
use crate::error::{Reason, StatusError};
use crate::resources::ResourceInfo;

/// The finalizer of the namespace controller.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

pub(super) fn is_namespace(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == super::NAMESPACES
}

/// `spec.finalizers` of a namespace.
pub fn spec_finalizers(obj: &Value) -> Vec<String> {
    crate::meta::strings(&obj["spec"]["finalizers"])
}

/// On create: `spec.finalizers` gains `kubernetes` and the phase is `Active`.
pub(super) fn prepare_create(obj: &mut Value) {
    let mut finalizers = spec_finalizers(obj);
    if !finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
        finalizers.push(KUBERNETES_FINALIZER.to_string());
    }
    if !obj["spec"].is_object() {
        obj["spec"] = json!({});
    }
    obj["spec"]["finalizers"] = json!(finalizers);
    obj["status"] = json!({"phase": "Active"});
}

/// On an update of the object (not `finalize`): `spec.finalizers` stays as it was.
pub(super) fn keep_finalizers(old: &Value, new: &mut Value) {
    if !new["spec"].is_object() {
        new["spec"] = json!({});
    }
    match old["spec"].get("finalizers") {
        Some(f) => new["spec"]["finalizers"] = f.clone(),
        None => {
            if let Some(spec) = new["spec"].as_object_mut() {
                spec.remove("finalizers");
            }
        }
    }
}

/// On delete: the phase becomes `Terminating`.
pub(super) fn mark_terminating(obj: &mut Value) {
    if !obj["status"].is_object() {
        obj["status"] = json!({});
    }
    obj["status"]["phase"] = json!("Terminating");
}

/// The namespace lifecycle admission's answer to a create in a terminating namespace.
pub(super) fn terminating(info: &ResourceInfo, name: &str, namespace: &str) -> StatusError {
    let resource = if info.group.is_empty() {
        info.plural.clone()
    } else {
        format!("{}.{}", info.plural, info.group)
    };
    let why = format!(
        "unable to create new content in namespace {namespace} because it is being terminated"
    );
    let mut error = StatusError::new(
        Reason::Forbidden,
        format!("{resource} {name:?} is forbidden: {why}"),
    );
    error.details = Some(json!({
        "name": name,
        "group": info.group,
        "kind": info.plural,
        "causes": [{"reason": "NamespaceTerminating", "message": why, "field": "metadata.namespace"}],
    }));
    error
}

impl Store {
    /// The `finalize` subresource: sets a namespace's `spec.finalizers`; a terminating
    /// namespace with no finalizers left is removed.
    pub fn finalize_namespace(&self, name: &str, finalizers: Vec<String>) -> Res<Arc<Value>> {
        let info = self
            .resource("v1", "Namespace")
            .ok_or_else(|| StatusError::internal("v1 Namespace is not served"))?;
        let live = self.get(&info, None, name)?;
        let mut new = (*live).clone();
        if !new["spec"].is_object() {
            new["spec"] = json!({});
        }
        new["spec"]["finalizers"] = json!(finalizers);
        self.write(
            &info,
            None,
            name,
            new,
            Part::Finalize,
            &WriteOptions::default(),
        )
    }
}
