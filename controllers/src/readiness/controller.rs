//! The readiness gate loop: a pod watch feeds [`Gates`]; while some gated pod waits, every
//! `poll.waiting` reads the health of the groups it waits on (one `target_health` call per
//! group, under the provider's budget) and sets the condition of each gate that opens to True
//! through the `pods/status` subresource. Every `poll.open` the gates already open are
//! checked the same way, and a gate whose target is no longer healthy in the cloud (unhealthy,
//! draining, deregistered) while its pod stays is set back to False: the pod leaves the
//! Service's ready endpoints until the target is healthy again. Nothing is polled while no
//! pod waits and no gate is open.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cloudnet_core::{LoadBalancers, TargetHealth};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tracing::{Instrument, info, warn};

use super::gates::{GatedPod, Gates, PodKey, gate_opens, member_groups, named_gate_closes};
use crate::leader::Leadership;
use crate::metrics::{ReconcileResult, Reconciles, WatchErrors};

/// How often target health is read for the readiness gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatePolling {
    /// While some gated pod waits for its gate to open.
    pub waiting: Duration,
    /// For the gates already open, to close those whose target was lost; zero: never.
    pub open: Duration,
}

impl GatePolling {
    /// Every 2 s while a pod waits; open gates every 30 s.
    pub const DEFAULT: GatePolling = GatePolling {
        waiting: Duration::from_secs(2),
        open: Duration::from_secs(30),
    };
}

/// Keeps `gates` fed from the pod watch, opens gates whose targets are healthy and closes
/// open gates whose targets were lost (see [`GatePolling`]), until `shutdown` resolves.
pub async fn run(
    client: Client,
    load_balancers: Arc<dyn LoadBalancers>,
    gates: Gates,
    leadership: Option<Leadership>,
    poll: GatePolling,
    metrics: Reconciles,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let feed = feed(client.clone(), gates.clone(), metrics.watch_errors());
    let opener = async {
        let mut open_checked = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(poll.waiting).await;
            if leadership.as_ref().is_some_and(|l| !l.is_leader()) {
                continue;
            }
            let waiting = gates.waiting();
            metrics.set_depth(waiting.len());
            let open = if !poll.open.is_zero() && open_checked.elapsed() >= poll.open {
                open_checked = tokio::time::Instant::now();
                gates.open()
            } else {
                Vec::new()
            };
            if waiting.is_empty() && open.is_empty() {
                continue;
            }
            let timer = metrics.start("pods");
            let span = tracing::debug_span!(
                "readiness_gates",
                waiting = waiting.len(),
                open = open.len()
            );
            let ok = check(&client, load_balancers.as_ref(), &gates, &waiting, &open)
                .instrument(span)
                .await;
            timer.finish(if ok {
                ReconcileResult::Success
            } else {
                ReconcileResult::Error
            });
        }
    };
    tokio::select! {
        () = feed => {}
        () = opener => {}
        () = shutdown => {}
    }
}

/// The pod watch, into the index.
async fn feed(client: Client, gates: Gates, errors: WatchErrors) {
    let mut listing: Vec<Pod> = Vec::new();
    let watch = watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff();
    let mut events = crate::cache::report_errors(watch, "Pod", errors).boxed();
    while let Some(event) = events.next().await {
        match event {
            watcher::Event::Apply(pod) => gates.apply(&pod),
            watcher::Event::Delete(pod) => gates.delete(&pod),
            watcher::Event::Init => listing.clear(),
            watcher::Event::InitApply(pod) => listing.push(pod),
            watcher::Event::InitDone => gates.reset(&std::mem::take(&mut listing)),
        }
    }
}

/// The gates of `pods` whose state is `open`, by (namespace, name), with the groups each
/// waits on.
fn gate_groups(
    gates: &Gates,
    pods: &[(PodKey, GatedPod)],
    open: bool,
    into: &mut BTreeMap<(String, String), BTreeSet<String>>,
) {
    for ((namespace, _), pod) in pods {
        for gate in pod.gates.iter().filter(|g| g.open == open) {
            into.entry((namespace.clone(), gate.name.clone()))
                .or_insert_with(|| gates.groups_for(namespace, &gate.name));
        }
    }
}

/// One round: the waiting pods' closed gates that open are set True, the open gates that
/// close are set False; false when a cloud read or a status write failed.
async fn check(
    client: &Client,
    load_balancers: &dyn LoadBalancers,
    gates: &Gates,
    waiting: &[(PodKey, GatedPod)],
    open: &[(PodKey, GatedPod)],
) -> bool {
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    gate_groups(gates, waiting, false, &mut wanted);
    gate_groups(gates, open, true, &mut wanted);
    let mut health: BTreeMap<String, Vec<TargetHealth>> = BTreeMap::new();
    let mut ok = true;
    for group in wanted.values().flatten() {
        if health.contains_key(group) {
            continue;
        }
        match load_balancers.target_health(group).await {
            Ok(members) => {
                health.insert(group.clone(), members);
            }
            Err(error) => {
                warn!(%group, %error, "Reading target health failed");
                ok = false;
            }
        }
    }
    let groups_of =
        |namespace: &String, gate: &str| wanted.get(&(namespace.clone(), gate.to_string()));
    for ((namespace, name), pod) in waiting {
        let Some(ip) = pod.ip else { continue };
        let opened: Vec<&str> = pod
            .gates
            .iter()
            .filter(|g| !g.open)
            .filter(|g| {
                groups_of(namespace, &g.name).is_some_and(|groups| {
                    gate_opens(ip, &member_groups(&g.name, ip, groups, &health), &health)
                })
            })
            .map(|g| g.condition_type.as_str())
            .collect();
        ok &= set_gates(client, namespace, name, &opened, true).await;
    }
    for ((namespace, name), pod) in open {
        let Some(ip) = pod.ip else { continue };
        let closed: Vec<&str> = pod
            .gates
            .iter()
            .filter(|g| g.open)
            .filter(|g| {
                groups_of(namespace, &g.name)
                    .is_some_and(|groups| named_gate_closes(&g.name, ip, groups, &health))
            })
            .map(|g| g.condition_type.as_str())
            .collect();
        ok &= set_gates(client, namespace, name, &closed, false).await;
    }
    ok
}

/// Sets these gate conditions of one pod to True (`open`) or False; false when the write
/// failed.
async fn set_gates(
    client: &Client,
    namespace: &str,
    name: &str,
    condition_types: &[&str],
    open: bool,
) -> bool {
    if condition_types.is_empty() {
        return true;
    }
    let (status, reason, message) = if open {
        (
            "True",
            "TargetHealthy",
            "the target is healthy in its load balancer",
        )
    } else {
        (
            "False",
            "TargetNotHealthy",
            "the target is no longer healthy (or registered) in its load balancer",
        )
    };
    let now = Timestamp::now().to_string();
    let conditions: Vec<serde_json::Value> = condition_types
        .iter()
        .map(|t| {
            json!({"type": t, "status": status, "reason": reason, "message": message,
                   "lastTransitionTime": now, "lastProbeTime": null})
        })
        .collect();
    let patch = json!({"status": {"conditions": conditions}});
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = format!("{namespace}/{name}");
    match pods
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(_) if open => {
            info!(%pod, gates = ?condition_types, "Readiness gate open");
            true
        }
        Ok(_) => {
            warn!(%pod, gates = ?condition_types, "Readiness gate closed: the target was lost");
            true
        }
        Err(error) => {
            warn!(%pod, %error, "Setting the readiness gate failed");
            false
        }
    }
}
