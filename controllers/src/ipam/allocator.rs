//! The allocator's driver: watches feed reflector stores and the work queue; up to
//! `parallelism` node rounds run at once, the neediest node first; a background task deletes
//! leaked interfaces.
//!
//! ```text
//!  watch NodeNetwork ─┐                           ┌─▶ round(node) ─┐
//!  watch Node ────────┼─▶ stores + queue ─pop()──▶├─▶ round(node) ─┼─▶ done: resync / backoff
//!  watch InterfaceConfig (store only)             └─▶ …  (≤ N)     ┘
//!  every orphan_interval: list_orphans(grace) ─▶ delete_orphan
//! ```
//!
//! Every cloud call goes through the provider, whose rate budget paces them: the
//! parallelism bounds how many nodes are in progress, the budget how fast the cloud is asked.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cloudnet_core::Addresses;
use cloudnet_crds::{InterfaceConfig, NodeNetwork};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::metrics::AllocatorMetrics;
use super::queue::WorkQueue;
use super::round::{Context, Next, priority, round};
use super::target::PoolKnobs;
use crate::error::Result;

/// The allocator's settings (the binary's flags).
#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    pub knobs: PoolKnobs,
    /// Node rounds in progress at most.
    pub parallelism: usize,
    /// Cloud steps of one node's round in flight at most: its new interfaces are created
    /// and attached concurrently.
    pub node_parallelism: usize,
    /// Each node is described again at least this often, changes or not.
    pub resync: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// An interface of ours, unattached this long, is a leak.
    pub orphan_grace: Duration,
    pub orphan_interval: Duration,
    /// `ENI_CONFIG_LABEL_DEF`: the node label whose value names its `InterfaceConfig`.
    pub interface_config_label: Option<String>,
    /// The Events' reporting controller.
    pub reporter: String,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            knobs: PoolKnobs::default(),
            parallelism: 16,
            node_parallelism: 4,
            resync: Duration::from_secs(300),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            orphan_grace: Duration::from_secs(600),
            orphan_interval: Duration::from_secs(120),
            interface_config_label: None,
            reporter: "cloudnet-ipam-allocator".into(),
        }
    }
}

/// The allocator. [`Allocator::run`] drives it until the shutdown future completes.
pub struct Allocator {
    client: kube::Client,
    cloud: Arc<dyn Addresses>,
    config: AllocatorConfig,
    metrics: AllocatorMetrics,
    ready: Arc<AtomicBool>,
}

/// Why a node is queued.
enum Msg {
    Changed(String),
    Gone(String),
}

impl Allocator {
    pub fn new(
        client: kube::Client,
        cloud: Arc<dyn Addresses>,
        config: AllocatorConfig,
        metrics: AllocatorMetrics,
    ) -> Allocator {
        Allocator {
            client,
            cloud,
            config,
            metrics,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once every watch has listed its objects (for `/readyz`).
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (networks, nn_writer) = reflector::store::<NodeNetwork>();
        let (nodes, node_writer) = reflector::store::<Node>();
        let (ifcs, ifc_writer) = reflector::store::<InterfaceConfig>();
        let wc = watcher::Config::default();
        let mut tasks = JoinSet::new();
        tasks.spawn(forward(
            watcher::watcher(Api::<NodeNetwork>::all(self.client.clone()), wc.clone())
                .default_backoff()
                .reflect(nn_writer),
            tx.clone(),
        ));
        tasks.spawn(forward(
            watcher::watcher(Api::<Node>::all(self.client.clone()), wc.clone())
                .default_backoff()
                .reflect(node_writer),
            tx.clone(),
        ));
        let ifc_api = Api::<InterfaceConfig>::all(self.client.clone());
        tasks.spawn(async move {
            let s = watcher::watcher(ifc_api, wc)
                .default_backoff()
                .reflect(ifc_writer);
            futures::pin_mut!(s);
            while s.next().await.is_some() {}
        });
        for (what, ready) in [
            ("NodeNetworks", networks.wait_until_ready().await),
            ("Nodes", nodes.wait_until_ready().await),
            ("InterfaceConfigs", ifcs.wait_until_ready().await),
        ] {
            if ready.is_err() {
                return Err(crate::Error::Config(format!("the {what} watch ended")));
            }
        }
        self.ready.store(true, Ordering::Relaxed);
        tracing::info!(
            nodes = nodes.state().len(),
            networks = networks.state().len(),
            "Allocator caches synced"
        );

        let client = self.client.clone();
        let ctx = Arc::new(Context {
            capabilities: self.cloud.capabilities(),
            cloud: self.cloud.clone(),
            knobs: self.config.knobs.clone(),
            node_parallelism: self.config.node_parallelism,
            interface_config_label: self.config.interface_config_label.clone(),
            resync: self.config.resync,
            networks,
            nodes,
            interface_configs: ifcs,
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: self.config.reporter.clone(),
                    instance: std::env::var("POD_NAME").ok(),
                },
            ),
            metrics: self.metrics.clone(),
            client,
        });
        tasks.spawn(orphans(
            self.cloud.clone(),
            self.config.clone(),
            self.metrics.clone(),
        ));

        let mut queue = WorkQueue::new();
        let mut failures: HashMap<String, u32> = HashMap::new();
        let mut rounds: JoinSet<(String, Next)> = JoinSet::new();
        let parallelism = self.config.parallelism.max(1);
        futures::pin_mut!(shutdown);
        loop {
            let now = Instant::now();
            while rounds.len() < parallelism {
                let knobs = &ctx.knobs;
                let Some(name) = queue.pop(now, |n| {
                    ctx.networks
                        .get(&ObjectRef::new(n))
                        .map_or(u64::from(u32::MAX), |nn| priority(knobs, &nn))
                }) else {
                    break;
                };
                let c = ctx.clone();
                let span = tracing::info_span!("round", node = %name);
                rounds.spawn(
                    async move {
                        let next = match round(&c, &name).await {
                            Ok(n) => n,
                            Err(e) => {
                                tracing::warn!(error = %e, "Round failed");
                                Next::Backoff
                            }
                        };
                        (name, next)
                    }
                    .instrument(span),
                );
            }
            self.metrics.set_queue_depth(queue.len());
            let wake = if rounds.len() < parallelism {
                queue.next_ready()
            } else {
                None
            };
            let far = now + Duration::from_secs(3600);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Changed(n)) => queue.add(&n, now, now),
                    Some(Msg::Gone(n)) => {
                        // The NodeNetwork's deletion comes through its finalizer; a gone
                        // Node only needs its NodeNetwork looked at.
                        queue.hold(&n, None);
                        queue.add(&n, now, now);
                        failures.remove(&n);
                    }
                    None => return Err(crate::Error::Config("the watches ended".into())),
                },
                Some(done) = rounds.join_next(), if !rounds.is_empty() => {
                    let Ok((name, next)) = done else { continue };
                    let now = Instant::now();
                    let at = match next {
                        Next::Now => {
                            failures.remove(&name);
                            queue.hold(&name, None);
                            now
                        }
                        Next::Resync => {
                            failures.remove(&name);
                            queue.hold(&name, None);
                            now + self.config.resync
                        }
                        Next::Backoff => {
                            let n = failures.entry(name.clone()).or_insert(0);
                            *n += 1;
                            let at = now + backoff(self.config.backoff_min, self.config.backoff_max, *n);
                            queue.hold(&name, Some(at));
                            at
                        }
                    };
                    let known = ctx.networks.get(&ObjectRef::new(&name)).is_some()
                        || ctx.nodes.get(&ObjectRef::new(&name)).is_some();
                    queue.done(&name, known.then_some(at), now);
                }
                () = tokio::time::sleep_until(wake.unwrap_or(far)) => {}
                () = &mut shutdown => {
                    tracing::info!("Allocator stopping");
                    tasks.abort_all();
                    rounds.abort_all();
                    return Ok(());
                }
            }
        }
    }
}

/// `min × 2^(n-1)`, at most `max`.
pub fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    min.saturating_mul(factor).min(max)
}

/// Turns a reflected watch into queue messages.
async fn forward<K>(
    stream: impl Stream<Item = Result<Event<K>, watcher::Error>>,
    tx: mpsc::UnboundedSender<Msg>,
) where
    K: Resource + Clone,
{
    futures::pin_mut!(stream);
    while let Some(ev) = stream.next().await {
        let msg = match ev {
            Ok(Event::Apply(o) | Event::InitApply(o)) => Msg::Changed(o.name_any()),
            Ok(Event::Delete(o)) => Msg::Gone(o.name_any()),
            Ok(Event::Init | Event::InitDone) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "Watch failed, retrying");
                continue;
            }
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}

/// Deletes interfaces of ours that are attached to nothing and older than the grace
/// period: an attach that failed half-way, a node that went without its finalizer running.
async fn orphans(cloud: Arc<dyn Addresses>, config: AllocatorConfig, metrics: AllocatorMetrics) {
    let mut tick = tokio::time::interval(config.orphan_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let found = match cloud.list_orphans(config.orphan_grace).await {
            Ok(f) => f,
            Err(e) => {
                metrics.cloud_error(&e);
                tracing::warn!(error = %e, "Listing leaked interfaces failed");
                continue;
            }
        };
        for o in found {
            match cloud.delete_orphan(&o.id).await {
                Ok(()) => {
                    metrics.orphan_deleted();
                    tracing::info!(interface = %o.id, node = ?o.node, "Leaked interface deleted");
                }
                Err(e) => {
                    metrics.cloud_error(&e);
                    tracing::warn!(interface = %o.id, error = %e, "Leaked interface not deleted");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let got: Vec<u64> = (1..=8).map(|n| backoff(min, max, n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
