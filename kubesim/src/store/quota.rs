//! A per-namespace object quota, answered like a ResourceQuota: it bounds what one
//! namespace can hold (a Deployment of a billion replicas fills its own namespace up to the
//! quota and no further) while other namespaces carry on.

use super::{State, Store};
use crate::error::{Reason, StatusError};
use crate::resources::ResourceInfo;

/// The name the quota has in its error messages.
pub const QUOTA_NAME: &str = "kubesim-object-count";

/// Objects a namespace may hold unless configured otherwise. Every simulated component
/// passes over all pods, so tens of thousands of pods make the sandbox sluggish (a
/// billion-replica Deployment under a 50,000 quota took minutes to page through); a scale
/// test that needs more in one namespace raises `Config::max_objects_per_namespace`.
pub const DEFAULT_OBJECTS_PER_NAMESPACE: usize = 10_000;

/// Events are outside the quota, so a full namespace still says why it is full.
pub(super) fn counted(info: &ResourceInfo) -> bool {
    info.plural != "events"
}

impl State {
    pub(super) fn count_in(&mut self, info: &ResourceInfo, namespace: &str, added: bool) {
        if namespace.is_empty() || !counted(info) {
            return;
        }
        let count = self.per_namespace.entry(namespace.to_string()).or_default();
        if added {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
    }

    /// The quota's refusal of one more object named `name` (or its generateName prefix).
    pub(super) fn check_quota(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<(), StatusError> {
        let used = self.per_namespace.get(namespace).copied().unwrap_or(0);
        if namespace.is_empty() || used < self.quota || !counted(info) {
            return Ok(());
        }
        let resource = if info.group.is_empty() {
            info.plural.clone()
        } else {
            format!("{}.{}", info.plural, info.group)
        };
        Err(StatusError::new(
            Reason::Forbidden,
            format!(
                "{resource} {name:?} is forbidden: exceeded quota: {QUOTA_NAME}, requested: count/objects=1, used: count/objects={used}, limited: count/objects={}",
                self.quota
            ),
        ))
    }
}

impl Store {
    /// Sets how many objects one namespace may hold.
    pub fn set_namespace_quota(&self, objects: usize) {
        self.lock().quota = objects;
    }

    /// How many objects `namespace` holds, as the quota counts them (Events aside).
    pub fn objects_in(&self, namespace: &str) -> usize {
        self.lock()
            .per_namespace
            .get(namespace)
            .copied()
            .unwrap_or(0)
    }
}
