//! The namespace controller: empties each terminating namespace (deleting its objects, whose
//! finalizers are honoured), reports progress in the namespace's conditions as the real
//! controller does, and finalizes the namespace once nothing is left in it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::{Value, json};

use super::{info, list_all};
use crate::error::{Reason, StatusError};
use crate::meta;
use crate::resources::ResourceInfo;
use crate::store::namespaces::{KUBERNETES_FINALIZER, spec_finalizers};
use crate::store::{DeleteOptions, ListOptions, Store};

/// One pass over every namespace terminating for at least `grace`.
pub fn sync(store: &Store, grace: Duration) -> Result<(), StatusError> {
    let namespaces = info(store, "v1", "Namespace")?;
    let now = Utc::now();
    for ns in list_all(store, &namespaces)? {
        let since = ns["metadata"]["deletionTimestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        let waited = since.is_none_or(|t| {
            now.signed_duration_since(t)
                .to_std()
                .is_ok_and(|d| d >= grace)
        });
        if meta::is_deleting(&ns)
            && waited
            && spec_finalizers(&ns)
                .iter()
                .any(|f| f == KUBERNETES_FINALIZER)
        {
            empty(store, &namespaces, &ns)?;
        }
    }
    Ok(())
}

/// What is left in a namespace after a deletion pass.
#[derive(Debug, Default)]
struct Remaining {
    /// `configmaps.` / `deployments.apps` -> count.
    resources: BTreeMap<String, usize>,
    /// finalizer -> count of objects waiting on it.
    finalizers: BTreeMap<String, usize>,
}

fn empty(store: &Store, namespaces: &ResourceInfo, ns: &Value) -> Result<(), StatusError> {
    let name = meta::name(ns);
    let mut seen = BTreeSet::new();
    let resources: Vec<ResourceInfo> = store
        .registry()
        .all()
        // A view (events.k8s.io Events) holds nothing of its own: its storage is emptied.
        .filter(|r| {
            r.namespaced && !crate::events_v1::is_view(r) && seen.insert(r.group_resource())
        })
        .cloned()
        .collect();
    let mut remaining = Remaining::default();
    for resource in &resources {
        for obj in store
            .list(resource, Some(name), &ListOptions::default())?
            .items
        {
            if !meta::is_deleting(&obj) {
                match store.delete(
                    resource,
                    Some(name),
                    meta::name(&obj),
                    &DeleteOptions::default(),
                ) {
                    Ok(_) => {}
                    Err(e) if e.reason == Reason::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let left = store
            .list(resource, Some(name), &ListOptions::default())?
            .items;
        if !left.is_empty() {
            remaining.resources.insert(
                format!("{}.{}", resource.plural, resource.group),
                left.len(),
            );
        }
        for obj in &left {
            for f in meta::finalizers(obj) {
                *remaining.finalizers.entry(f).or_default() += 1;
            }
        }
    }
    report(store, namespaces, ns, &remaining)?;
    if remaining.resources.is_empty() {
        let rest: Vec<String> = spec_finalizers(ns)
            .into_iter()
            .filter(|f| f != KUBERNETES_FINALIZER)
            .collect();
        match store.finalize_namespace(name, rest) {
            Ok(_) => {}
            Err(e) if e.reason == Reason::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn condition(kind: &str, on: bool, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": if on { "True" } else { "False" }, "reason": reason, "message": message})
}

/// The conditions the real namespace controller writes, for `remaining`.
fn conditions(remaining: &Remaining) -> Vec<Value> {
    let content = if remaining.resources.is_empty() {
        condition(
            "NamespaceContentRemaining",
            false,
            "ContentRemoved",
            "All content successfully removed",
        )
    } else {
        let list: Vec<String> = remaining
            .resources
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        condition(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            &format!("Some resources are remaining: {}", list.join(", ")),
        )
    };
    let finalizers = if remaining.finalizers.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
        )
    } else {
        let list: Vec<String> = remaining
            .finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        condition(
            "NamespaceFinalizersRemaining",
            true,
            "SomeFinalizersRemain",
            &format!(
                "Some content in the namespace has finalizers remaining: {}",
                list.join(", ")
            ),
        )
    };
    vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        content,
        finalizers,
    ]
}

/// Writes the conditions when they changed, keeping each unchanged one's transition time.
fn report(
    store: &Store,
    namespaces: &ResourceInfo,
    ns: &Value,
    remaining: &Remaining,
) -> Result<(), StatusError> {
    let old = ns["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let now = meta::now();
    let mut changed = old.len() != 5;
    let new: Vec<Value> = conditions(remaining)
        .into_iter()
        .map(|mut c| {
            let before = old.iter().find(|o| o["type"] == c["type"]);
            match before {
                Some(b) if b["status"] == c["status"] && b["message"] == c["message"] => {
                    c["lastTransitionTime"] = b["lastTransitionTime"].clone();
                }
                _ => {
                    changed = true;
                    c["lastTransitionTime"] = json!(now);
                }
            }
            c
        })
        .collect();
    if !changed {
        return Ok(());
    }
    let mut updated = ns.clone();
    updated["status"]["conditions"] = json!(new);
    match store.update(namespaces, None, meta::name(ns), updated, true) {
        Ok(_) => Ok(()),
        // Raced with another write; the next pass reports again.
        Err(e) if matches!(e.reason, Reason::Conflict | Reason::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_name_what_remains_as_the_real_controller_does() {
        let mut remaining = Remaining::default();
        remaining.resources.insert("configmaps.".into(), 2);
        remaining.resources.insert("deployments.apps".into(), 1);
        remaining.finalizers.insert("example.com/hold".into(), 1);
        let c = conditions(&remaining);
        assert_eq!(c.len(), 5);
        assert_eq!(
            c[3]["message"],
            "Some resources are remaining: configmaps. has 2 resource instances, deployments.apps has 1 resource instances"
        );
        assert_eq!(
            c[4]["message"],
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        let done = conditions(&Remaining::default());
        assert_eq!(done[3]["reason"], "ContentRemoved");
        assert_eq!(done[4]["status"], "False");
    }
}
