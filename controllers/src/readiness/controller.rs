//! The readiness gate loop: a pod watch feeds [`Gates`]; while some gated pod waits, every
//! poll reads the health of the groups it waits on (one `target_health` call per group, under
//! the provider's budget) and sets the condition of each gate that opens to True through the
//! `pods/status` subresource. Nothing is polled while no pod waits.

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
use tracing::{Instrument, debug, info, warn};

use super::gates::{GatedPod, Gates, PodKey, gate_opens};
use crate::leader::Leadership;
use crate::metrics::{ReconcileResult, Reconciles};

/// Keeps `gates` fed from the pod watch and opens gates whose targets are healthy, every
/// `poll` while some pod waits, until `shutdown` resolves.
pub async fn run(
    client: Client,
    load_balancers: Arc<dyn LoadBalancers>,
    gates: Gates,
    leadership: Option<Leadership>,
    poll: Duration,
    metrics: Reconciles,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let feed = feed(client.clone(), gates.clone());
    let opener = async {
        loop {
            tokio::time::sleep(poll).await;
            if leadership.as_ref().is_some_and(|l| !l.is_leader()) {
                continue;
            }
            let waiting = gates.waiting();
            metrics.set_depth(waiting.len());
            if waiting.is_empty() {
                continue;
            }
            let timer = metrics.start("pods");
            let span = tracing::debug_span!("open_readiness_gates", waiting = waiting.len());
            let ok = open(&client, load_balancers.as_ref(), &gates, &waiting)
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
async fn feed(client: Client, gates: Gates) {
    let mut listing: Vec<Pod> = Vec::new();
    let mut events = watcher(Api::<Pod>::all(client), watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(pod)) => gates.apply(&pod),
            Ok(watcher::Event::Delete(pod)) => gates.delete(&pod),
            Ok(watcher::Event::Init) => listing.clear(),
            Ok(watcher::Event::InitApply(pod)) => listing.push(pod),
            Ok(watcher::Event::InitDone) => gates.reset(&std::mem::take(&mut listing)),
            Err(error) => debug!(%error, "Pod watch error; retrying"),
        }
    }
}

/// One round over the waiting pods; false when a cloud read or a status write failed.
async fn open(
    client: &Client,
    load_balancers: &dyn LoadBalancers,
    gates: &Gates,
    waiting: &[(PodKey, GatedPod)],
) -> bool {
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for ((namespace, _), pod) in waiting {
        for gate in pod.gates.iter().filter(|g| !g.open) {
            wanted
                .entry((namespace.clone(), gate.name.clone()))
                .or_insert_with(|| gates.groups_for(namespace, &gate.name));
        }
    }
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
    for ((namespace, name), pod) in waiting {
        let Some(ip) = pod.ip else { continue };
        let opened: Vec<&str> = pod
            .gates
            .iter()
            .filter(|g| !g.open)
            .filter(|g| {
                wanted
                    .get(&(namespace.clone(), g.name.clone()))
                    .is_some_and(|groups| gate_opens(ip, groups, &health))
            })
            .map(|g| g.condition_type.as_str())
            .collect();
        if opened.is_empty() {
            continue;
        }
        let now = Timestamp::now().to_string();
        let conditions: Vec<serde_json::Value> = opened
            .iter()
            .map(|t| {
                json!({"type": t, "status": "True", "reason": "TargetHealthy",
                       "message": "the target is healthy in its load balancer",
                       "lastTransitionTime": now, "lastProbeTime": null})
            })
            .collect();
        let patch = json!({"status": {"conditions": conditions}});
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        match pods
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            Ok(_) => {
                info!(pod = %format!("{namespace}/{name}"), gates = ?opened, "Readiness gate open")
            }
            Err(error) => {
                warn!(pod = %format!("{namespace}/{name}"), %error, "Setting the readiness gate failed");
                ok = false;
            }
        }
    }
    ok
}
