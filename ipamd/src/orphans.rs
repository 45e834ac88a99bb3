//! Addresses whose pod is gone without a DEL: the runtime's DEL did not reach ipamd (the
//! daemon was down or restarting, the socket unreachable, the runtime gave up), so nothing
//! else would free the address before the CNI's GC.
//!
//! ipamd watches the pods on its node (field selector `spec.nodeName`). On each pod's
//! deletion, and on every sync tick as a backstop, an allocation is a candidate when its
//! pod (the `K8S_POD_NAMESPACE`/`K8S_POD_NAME` of its ADD) is not in the watched set and the
//! allocation is older than a grace (`orphan_grace` in the daemon's config; a pod is in
//! the API before the runtime's ADD; the grace covers a watch that lags the ADD). A
//! candidate is freed only when a fresh list of the node's pods confirms its pod gone (or
//! finished, or host-network): the watch only says where to look. A freed address cools
//! for `IP_COOLDOWN_PERIOD` as after a DEL, and the runtime's DEL, if it comes later, is a
//! no-op. Allocations without a pod name (a runtime that passes no `CNI_ARGS`) and those
//! rebuilt from the API at start-up ([`crate::core::Core::forget_recovered_except`]) are
//! left alone.
//!
//! Not covered: a pod deleted and created again under the same name before a pass (a
//! StatefulSet's replacement) keeps the old attachment's address until the CNI's GC, since
//! an allocation records the pod's name, not its UID.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::core::{Core, now_ms};
use crate::error::{Chain, Result};
use crate::node;
use crate::state::{AllocKey, Allocation};

/// `(namespace, name)`.
pub type PodName = (String, String);

/// What the watch and the passes need from the daemon's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node_name: String,
    /// The backstop pass's period (the daemon's sync interval).
    pub interval: Duration,
    /// How old an allocation must be before its pod's absence frees it.
    pub grace: Duration,
}

/// Allocations old enough whose pod is not in `present`.
pub fn candidates(
    allocations: impl IntoIterator<Item = Allocation>,
    present: &BTreeSet<PodName>,
    now_ms: u64,
    grace_ms: u64,
) -> Vec<(AllocKey, PodName)> {
    allocations
        .into_iter()
        .filter(|a| !a.key.is_recovered() && !a.pod_namespace.is_empty() && !a.pod_name.is_empty())
        .filter(|a| now_ms.saturating_sub(a.allocated_at_ms) >= grace_ms)
        .map(|a| (a.key, (a.pod_namespace, a.pod_name)))
        .filter(|(_, pod)| !present.contains(pod))
        .collect()
}

/// Frees what the candidates hold once a fresh list confirms their pods gone.
pub async fn free_gone(
    cfg: &Settings,
    client: &kube::Client,
    core: &Core,
    present: &BTreeSet<PodName>,
) -> Result<Vec<Allocation>> {
    let allocations: Vec<Allocation> = core.lock().state.allocations().cloned().collect();
    let grace = cfg.grace.as_millis() as u64;
    let found = candidates(allocations, present, now_ms(), grace);
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let listed = node::pods_on_node(client, &cfg.node_name).await?;
    let gone: Vec<AllocKey> = found
        .into_iter()
        .filter(|(_, pod)| !listed.contains(pod))
        .map(|(k, _)| k)
        .collect();
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let freed = core.release_gone(&gone).await?;
    for a in &freed {
        core.metrics.orphans_freed.inc();
        tracing::info!(
            pod = %format!("{}/{}", a.pod_namespace, a.pod_name),
            container = %a.key.container_id,
            address = %a.address,
            "Pod gone from the API without a DEL; its address cools down"
        );
    }
    Ok(freed)
}

/// Watches the node's pods and frees the addresses of those gone without a DEL.
pub async fn run(cfg: Settings, client: kube::Client, core: Core) {
    let api: Api<Pod> = Api::all(client.clone());
    let wc = watcher::Config::default().fields(&format!("spec.nodeName={}", cfg.node_name));
    let mut events = watcher::watcher(api, wc).default_backoff().boxed();
    let mut present: BTreeSet<PodName> = BTreeSet::new();
    let mut listing: BTreeSet<PodName> = BTreeSet::new();
    let mut ready = false;
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Init)) => {
                    listing.clear();
                    false
                }
                Some(Ok(watcher::Event::InitApply(p))) => {
                    listing.extend(node::on_node(&p, &cfg.node_name));
                    false
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    present = std::mem::take(&mut listing);
                    ready = true;
                    true
                }
                Some(Ok(watcher::Event::Apply(p))) => match node::on_node(&p, &cfg.node_name) {
                    Some(k) => {
                        present.insert(k);
                        false
                    }
                    // Finished: its sandbox is torn down, its DEL may have failed.
                    None => {
                        let k = (
                            p.metadata.namespace.clone().unwrap_or_default(),
                            p.metadata.name.clone().unwrap_or_default(),
                        );
                        present.remove(&k)
                    }
                },
                Some(Ok(watcher::Event::Delete(p))) => {
                    present.remove(&(
                        p.metadata.namespace.clone().unwrap_or_default(),
                        p.metadata.name.clone().unwrap_or_default(),
                    ));
                    true
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "Pod watch failed; retrying");
                    false
                }
                None => return,
            },
            _ = tick.tick() => true,
        };
        if !(ready && due) {
            continue;
        }
        if let Err(error) = free_gone(&cfg, &client, &core, &present).await {
            tracing::warn!(error = %Chain(&error), "Freeing the addresses of gone pods failed; trying again next tick");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn alloc(c: &str, ns: &str, pod: &str, at: u64) -> Allocation {
        Allocation {
            key: AllocKey::new(c, "eth0"),
            pod_namespace: ns.into(),
            pod_name: pod.into(),
            interface: "eni-a".into(),
            address: Ipv4Addr::new(10, 0, 0, 1),
            block: "10.0.0.0/24".parse().unwrap(),
            allocated_at_ms: at,
        }
    }

    #[test]
    fn only_old_named_allocations_of_absent_pods_are_candidates() {
        let present: BTreeSet<PodName> = [("ns".to_string(), "live".to_string())].into();
        let mut recovered = alloc("", "ns", "gone-too", 0);
        recovered.key = AllocKey::recovered("ns", "gone-too");
        let got = candidates(
            [
                alloc("c-live", "ns", "live", 0),
                alloc("c-gone", "ns", "gone", 0),
                alloc("c-young", "ns", "young", 9_500),
                alloc("c-anon", "", "", 0),
                recovered,
            ],
            &present,
            10_000,
            1_000,
        );
        assert_eq!(
            got,
            vec![(
                AllocKey::new("c-gone", "eth0"),
                ("ns".to_string(), "gone".to_string())
            )]
        );
    }
}
