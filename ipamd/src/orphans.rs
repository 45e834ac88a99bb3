//! Addresses whose pod is gone without a DEL: the runtime's DEL did not reach ipamd (the
//! daemon was down or restarting, the socket unreachable, the runtime gave up), so nothing
//! else would free the address before the CNI's GC.
//!
//! ipamd watches the pods on its node (field selector `spec.nodeName`). On each pod's
//! deletion, and on every sync tick as a backstop, an allocation is a candidate when its
//! pod is not in the watched set and the allocation is older than a grace (`orphan_grace` in the daemon's config; a pod is in
//! the API before the runtime's ADD; the grace covers a watch that lags the ADD). A
//! candidate is freed only when a fresh list of the node's pods confirms its pod gone (or
//! finished, or host-network): the watch only says where to look. A freed address cools
//! for `IP_COOLDOWN_PERIOD` as after a DEL, and the runtime's DEL, if it comes later, is a
//! no-op. Allocations without a pod name (a runtime that passes no `CNI_ARGS`) and those
//! rebuilt from the API at start-up ([`crate::core::Core::forget_recovered_except`]) are
//! left alone.
//!
//! An allocation's pod is its UID (`K8S_POD_UID` of its ADD), so a pod deleted and created
//! again under the same name (a StatefulSet's replacement) is another pod: the new one gets
//! its own address and the old attachment's is freed here. Only an allocation with no UID
//! (a runtime that passes none, or one from a version 2 checkpoint whose pod of that name is
//! not on the node) is matched by namespace/name.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};

use crate::core::{Core, now_ms};
use crate::error::{Chain, Result};
use crate::node;
use crate::recovery::RunningPod;
use crate::state::{AllocKey, Allocation};

/// `(namespace, name)`.
pub type PodName = (String, String);

/// The pods on the node, by UID and by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Present {
    uids: BTreeSet<String>,
    names: BTreeSet<PodName>,
}

impl Present {
    pub fn insert(&mut self, p: &RunningPod) {
        self.uids.insert(p.uid.clone());
        self.names.insert((p.namespace.clone(), p.name.clone()));
    }

    /// Forgets a pod; another pod of the same name, if the set has one, stays by UID.
    pub fn remove(&mut self, p: &Pod) -> bool {
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let name = (
            p.metadata.namespace.clone().unwrap_or_default(),
            p.metadata.name.clone().unwrap_or_default(),
        );
        self.uids.remove(&uid) | self.names.remove(&name)
    }

    /// Whether the allocation's pod is here: by UID when it has one, else by name.
    pub fn holds(&self, a: &Allocation) -> bool {
        if a.pod_uid.is_empty() {
            self.names
                .contains(&(a.pod_namespace.clone(), a.pod_name.clone()))
        } else {
            self.uids.contains(&a.pod_uid)
        }
    }
}

impl<'a> FromIterator<&'a RunningPod> for Present {
    fn from_iter<I: IntoIterator<Item = &'a RunningPod>>(iter: I) -> Self {
        let mut p = Present::default();
        for pod in iter {
            p.insert(pod);
        }
        p
    }
}

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
    present: &Present,
    now_ms: u64,
    grace_ms: u64,
) -> Vec<Allocation> {
    allocations
        .into_iter()
        .filter(|a| !a.key.is_recovered() && !a.pod_namespace.is_empty() && !a.pod_name.is_empty())
        .filter(|a| now_ms.saturating_sub(a.allocated_at_ms) >= grace_ms)
        .filter(|a| !present.holds(a))
        .collect()
}

/// Frees what the candidates hold once a fresh list confirms their pods gone.
pub async fn free_gone(
    cfg: &Settings,
    client: &kube::Client,
    core: &Core,
    present: &Present,
) -> Result<Vec<Allocation>> {
    let allocations: Vec<Allocation> = core.lock().state.allocations().cloned().collect();
    let grace = cfg.grace.as_millis() as u64;
    let found = candidates(allocations, present, now_ms(), grace);
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Present = node::pods_on_node(client, &cfg.node_name)
        .await?
        .iter()
        .collect();
    let gone: Vec<AllocKey> = found
        .into_iter()
        .filter(|a| !listed.holds(a))
        .map(|a| a.key)
        .collect();
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let freed = core.release_gone(&gone).await?;
    for a in &freed {
        core.metrics.orphans_freed.inc();
        tracing::info!(
            pod = %format!("{}/{}", a.pod_namespace, a.pod_name),
            uid = %a.pod_uid,
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
    let mut present = Present::default();
    let mut listing = Present::default();
    let mut ready = false;
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Init)) => {
                    listing = Present::default();
                    false
                }
                Some(Ok(watcher::Event::InitApply(p))) => {
                    if let Some(pod) = node::on_node(&p, &cfg.node_name) {
                        listing.insert(&pod);
                    }
                    false
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    present = std::mem::take(&mut listing);
                    ready = true;
                    true
                }
                Some(Ok(watcher::Event::Apply(p))) => match node::on_node(&p, &cfg.node_name) {
                    Some(pod) => {
                        present.insert(&pod);
                        false
                    }
                    // Finished: its sandbox is torn down, its DEL may have failed.
                    None => present.remove(&p),
                },
                Some(Ok(watcher::Event::Delete(p))) => {
                    present.remove(&p);
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

    fn alloc(c: &str, ns: &str, pod: &str, uid: &str, at: u64) -> Allocation {
        Allocation {
            key: AllocKey::new(c, "eth0"),
            pod_namespace: ns.into(),
            pod_name: pod.into(),
            pod_uid: uid.into(),
            interface: "eni-a".into(),
            address: Ipv4Addr::new(10, 0, 0, 1),
            block: "10.0.0.0/24".parse().unwrap(),
            allocated_at_ms: at,
        }
    }

    fn running(name: &str, uid: &str) -> RunningPod {
        RunningPod {
            namespace: "ns".into(),
            name: name.into(),
            uid: uid.into(),
            created_ms: None,
            ips: vec![],
        }
    }

    #[test]
    fn only_old_named_allocations_of_absent_pods_are_candidates() {
        let present: Present = [running("live", "u-live"), running("web-0", "u-web-0-new")]
            .iter()
            .collect();
        let mut recovered = alloc("", "ns", "gone-too", "u-gone-too", 0);
        recovered.key = AllocKey::recovered("u-gone-too");
        let got: Vec<AllocKey> = candidates(
            [
                alloc("c-live", "ns", "live", "u-live", 0),
                alloc("c-gone", "ns", "gone", "u-gone", 0),
                alloc("c-young", "ns", "young", "u-young", 9_500),
                alloc("c-anon", "", "", "", 0),
                recovered,
                // Deleted and created again under the same name: the old UID is gone.
                alloc("c-web-0-old", "ns", "web-0", "u-web-0-old", 0),
                alloc("c-web-0-new", "ns", "web-0", "u-web-0-new", 0),
                // No UID (an older checkpoint, a runtime without K8S_POD_UID): by name.
                alloc("c-legacy-live", "ns", "live", "", 0),
                alloc("c-legacy-gone", "ns", "legacy-gone", "", 0),
            ],
            &present,
            10_000,
            1_000,
        )
        .into_iter()
        .map(|a| a.key)
        .collect();
        assert_eq!(
            got,
            vec![
                AllocKey::new("c-gone", "eth0"),
                AllocKey::new("c-web-0-old", "eth0"),
                AllocKey::new("c-legacy-gone", "eth0"),
            ]
        );
    }

    #[test]
    fn a_deleted_pod_leaves_a_newer_one_of_its_name_present() {
        let mut present: Present = [running("web-0", "u-new")].iter().collect();
        let old: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "u-old"}
        }))
        .unwrap();
        present.remove(&old);
        assert!(present.holds(&alloc("c", "ns", "web-0", "u-new", 0)));
        assert!(!present.holds(&alloc("c", "ns", "web-0", "u-old", 0)));
    }
}
