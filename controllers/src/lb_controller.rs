//! What the load balancer controllers (Service and Ingress) run with: one settings struct,
//! the controller's own settings inside it; and the steps both take for each Service or
//! Ingress group:
//!
//! ```text
//!  spec ──> ensure_unless_fresh (skipped when the spec is unchanged within `resync`)
//!       ──> sync_changed (only the target groups whose members changed)
//!       ──> AppliedLog::remember (and the pod-IP groups published to the readiness gates)
//! ```
//!
//! and, when the object is gone or no longer served, [`delete_owned`] (with its Events) and
//! [`clear_ingress`]; [`write_ingress`] writes `status.loadBalancer` for both kinds.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudnet_core::{
    LoadBalancerId, LoadBalancerSpec, LoadBalancerStatus, LoadBalancers, Owner, Target,
};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use kube::runtime::events::{EventType, Recorder};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::info;

use crate::events::{RECONCILE, publish};
use crate::finalizers;

use crate::leader::Leadership;
use crate::metrics::Reconciles;
use crate::readiness::Gates;
use crate::readiness::gates::pod_ip_groups;

/// The default full `ensure` and target sync period per object.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(600);

/// Everything a Service or Ingress controller's `run` needs besides its shutdown signal.
#[derive(Clone)]
pub struct LbControllerSettings<S> {
    pub client: Client,
    pub load_balancers: Arc<dyn LoadBalancers>,
    /// The controller's own settings (cluster, classes, defaults).
    pub settings: S,
    /// `None`: this replica always leads (a single replica, or tests).
    pub leadership: Option<Leadership>,
    /// A full `ensure` and target sync at least this often per object, to repair drift.
    pub resync: Duration,
    /// Reconciles, their durations and the objects waiting.
    pub metrics: Reconciles,
    /// Readiness gates: endpoints of pods waiting for a gate are targets, and the pod-IP
    /// groups ensured are published here.
    pub gates: Gates,
}

impl<S> LbControllerSettings<S> {
    /// A single replica (no election) resyncing every [`DEFAULT_RESYNC`], with readiness
    /// gates nobody feeds; change the fields for anything else.
    pub fn new(
        client: Client,
        load_balancers: Arc<dyn LoadBalancers>,
        settings: S,
        metrics: Reconciles,
    ) -> LbControllerSettings<S> {
        LbControllerSettings {
            client,
            load_balancers,
            settings,
            leadership: None,
            resync: DEFAULT_RESYNC,
            metrics,
            gates: Gates::default(),
        }
    }
}

/// Why a Service or TargetGroupBinding reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cloud: {0}")]
    Cloud(#[from] cloudnet_core::Error),
}

/// A mutex's guard; a panic elsewhere while holding it leaves plain data, still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What was last applied for one Service or Ingress group.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    spec: LoadBalancerSpec,
    status: LoadBalancerStatus,
    members: BTreeMap<String, Vec<Target>>,
    at: tokio::time::Instant,
}

/// A load balancer as [`ensure_unless_fresh`] left it.
pub(crate) struct Ensured<'a> {
    pub status: LoadBalancerStatus,
    /// When it was last ensured.
    pub at: tokio::time::Instant,
    /// The record that made the `ensure` unneeded: the same spec, ensured within `resync`.
    pub fresh: Option<&'a Applied>,
    /// Whether the spec differs from the one last applied (an Event says it is ready).
    pub changed: bool,
}

/// Ensures the load balancer of `spec`, unless `previous` applied the same spec within
/// `resync` (the hot path: endpoint churn never causes an `ensure`).
pub(crate) async fn ensure_unless_fresh<'a>(
    load_balancers: &dyn LoadBalancers,
    spec: &LoadBalancerSpec,
    previous: Option<&'a Applied>,
    resync: Duration,
) -> Result<Ensured<'a>, cloudnet_core::Error> {
    let fresh = previous.filter(|p| &p.spec == spec && p.at.elapsed() < resync);
    if let Some(p) = fresh {
        return Ok(Ensured {
            status: p.status.clone(),
            at: p.at,
            fresh,
            changed: false,
        });
    }
    let status = load_balancers.ensure(spec).await?;
    Ok(Ensured {
        status,
        at: tokio::time::Instant::now(),
        fresh: None,
        changed: previous.is_none_or(|p| &p.spec != spec),
    })
}

/// `load balancer <id> ready[ at <dns name>]`.
pub(crate) fn ready_note(status: &LoadBalancerStatus) -> String {
    format!(
        "load balancer {} ready{}",
        status.id.0,
        status
            .dns_name
            .as_deref()
            .map(|d| format!(" at {d}"))
            .unwrap_or_default()
    )
}

/// Syncs, in order, each target group of `wanted` whose members differ from those `fresh`
/// recorded (every group when there is no record), stopping at the first failure: the
/// groups synced, and the failure with its group.
pub(crate) async fn sync_changed(
    load_balancers: &dyn LoadBalancers,
    id: &LoadBalancerId,
    wanted: &BTreeMap<String, Vec<Target>>,
    fresh: Option<&Applied>,
) -> (
    BTreeMap<String, Vec<Target>>,
    Option<(String, cloudnet_core::Error)>,
) {
    let mut synced = BTreeMap::new();
    for (group, members) in wanted {
        let unchanged = fresh.is_some_and(|p| p.members.get(group) == Some(members));
        if !unchanged && let Err(error) = load_balancers.sync_targets(id, group, members).await {
            return (synced, Some((group.clone(), error)));
        }
        synced.insert(group.clone(), members.clone());
    }
    (synced, None)
}

/// What a load balancer controller last applied, per Service or Ingress group.
pub(crate) struct AppliedLog<K> {
    applied: Mutex<HashMap<K, Applied>>,
}

impl<K: Eq + Hash + Clone> AppliedLog<K> {
    pub(crate) fn new() -> AppliedLog<K> {
        AppliedLog {
            applied: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<Applied> {
        lock(&self.applied).get(key).cloned()
    }

    pub(crate) fn remove(&self, key: &K) {
        lock(&self.applied).remove(key);
    }

    /// Records what `ensured` and the target groups `members` (those synced) applied for
    /// `key`, and publishes the spec's pod-IP groups under `publisher` in `gates`.
    pub(crate) fn remember(
        &self,
        gates: &Gates,
        key: &K,
        publisher: String,
        spec: &LoadBalancerSpec,
        ensured: &Ensured<'_>,
        members: BTreeMap<String, Vec<Target>>,
    ) {
        gates.publish(publisher, pod_ip_groups(spec, &ensured.status));
        lock(&self.applied).insert(
            key.clone(),
            Applied {
                spec: spec.clone(),
                status: ensured.status.clone(),
                members,
                at: ensured.at,
            },
        );
    }

    /// Forgets `key`, and withdraws its pod-IP groups published under `publisher`.
    pub(crate) fn forget(&self, gates: &Gates, key: &K, publisher: String) {
        self.remove(key);
        gates.publish(publisher, Vec::new());
    }
}

/// Deletes every load balancer of this cluster's that `owned_by` picks, with a Normal
/// `DeletedLoadBalancer` Event on `regarding` for each; the first failure is a Warning
/// `FailedCleanup` Event and the error. `prefix` starts every note (the Ingress group's name)
/// and `why` ends the `DeletedLoadBalancer` ones.
pub(crate) async fn delete_owned(
    load_balancers: &dyn LoadBalancers,
    recorder: &Recorder,
    regarding: &ObjectReference,
    owned_by: impl Fn(&Owner) -> bool,
    prefix: &str,
    why: &str,
) -> Result<(), cloudnet_core::Error> {
    let owned = load_balancers.list_owned().await?;
    for lb in owned.into_iter().filter(|lb| owned_by(&lb.owner)) {
        if let Err(error) = load_balancers.delete(&lb.id).await {
            let text = format!("{prefix}deleting {}: {} ({})", lb.id.0, error, error.code());
            publish(
                recorder,
                regarding,
                EventType::Warning,
                "FailedCleanup",
                RECONCILE,
                &text,
            )
            .await;
            return Err(error);
        }
        info!(id = %lb.id.0, "Deleted load balancer");
        let note = format!("{prefix}load balancer {} deleted{why}", lb.id.0);
        publish(
            recorder,
            regarding,
            EventType::Normal,
            "DeletedLoadBalancer",
            RECONCILE,
            &note,
        )
        .await;
    }
    Ok(())
}

/// `status.loadBalancer.ingress` for a load balancer: its hostname, then its addresses.
pub(crate) fn ingress_of(lb: &LoadBalancerStatus) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    if let Some(dns) = &lb.dns_name {
        out.push(json!({"hostname": dns}));
    }
    out.extend(lb.ips.iter().map(|ip| json!({"ip": ip.to_string()})));
    out
}

/// Writes `status.loadBalancer.ingress` of a Service or Ingress for `lb`, unless `shown`
/// (what the object shows there now) is it already.
pub(crate) async fn write_ingress<K>(
    api: &Api<K>,
    obj: &K,
    shown: Option<serde_json::Value>,
    lb: &LoadBalancerStatus,
) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let want = json!(ingress_of(lb));
    if shown.as_ref() == Some(&want) {
        return Ok(());
    }
    let patch = json!({"status": {"loadBalancer": {"ingress": want}}});
    finalizers::merge_status(api, obj, &patch).await
}

/// Empties `status.loadBalancer` of a Service or Ingress no longer served.
pub(crate) async fn clear_ingress<K>(api: &Api<K>, obj: &K) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = json!({"status": {"loadBalancer": {}}});
    finalizers::merge_status(api, obj, &patch).await
}
