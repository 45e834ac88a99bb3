//! Finalizers on the objects the controllers own a cloud side for: added before the first
//! cloud change, removed once the cloud side is gone; and the status merge patches of
//! those objects. Written as a merge patch that carries
//! the object's resourceVersion, so a concurrent change of the list is a conflict (retried by
//! the caller), never lost.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

/// Adds `finalizer` to the object (a no-op when it is there).
pub async fn add<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if obj.finalizers().iter().any(|f| f == finalizer) {
        return Ok(());
    }
    let mut list = obj.finalizers().to_vec();
    list.push(finalizer.into());
    set(api, obj, list).await
}

/// Removes `finalizer` from the object; an object already gone is fine.
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let list: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    match set(api, obj, list).await {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other,
    }
}

async fn set<K>(api: &Api<K>, obj: &K, finalizers: Vec<String>) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": obj.resource_version(),
    }});
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}

/// Writes `patch` (`{"status": ...}`) to the object's status as a merge patch.
pub async fn merge_status<K>(api: &Api<K>, obj: &K, patch: &serde_json::Value) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await
    .map(|_| ())
}
