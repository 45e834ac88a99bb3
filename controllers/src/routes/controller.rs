//! The route controller's loop: Node changes, debounced, -> one plan against one listing of
//! the cloud's routes -> creates, then deletes.
//!
//! ```text
//!  Node watch ──change──> wait until quiet (debounce, capped) ──> round: list, plan, apply
//!  every resync ───────────────────────────────────────────────┘
//! ```
//!
//! Fifty nodes that join at once make one round: one listing, one create per route. A round
//! that fails is retried after `retry`. Only the leader writes; a follower skips rounds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cloudnet_core::Routes;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use tokio::sync::Notify;
use tracing::{Instrument, info, warn};

use super::plan::{RoutePlan, desired_from_nodes, plan_in};
use crate::leader::Leadership;
use crate::metrics::{ReconcileResult, Reconciles};

/// How the loop paces itself.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    /// A round starts once no Node changed for this long...
    pub debounce: Duration,
    /// ...or this long after the first change, whichever comes first.
    pub max_delay: Duration,
    /// A round runs at least this often, to repair drift.
    pub resync: Duration,
    /// A failed round is retried after this long.
    pub retry: Duration,
}

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings {
            debounce: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            resync: Duration::from_secs(300),
            retry: Duration::from_secs(5),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundOutcome {
    pub created: usize,
    pub deleted: usize,
    pub failed: usize,
}

struct Loop {
    routes: Arc<dyn Routes>,
    nodes: Store<Node>,
    recorder: Recorder,
    /// Conflicts and skips already reported, so each gets one Event.
    reported: BTreeSet<String>,
}

/// Runs the route controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    routes: Arc<dyn Routes>,
    leadership: Option<Leadership>,
    settings: RouteSettings,
    metrics: Reconciles,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (nodes, writer) = reflector::store::<Node>();
    let changed = Arc::new(Notify::new());
    let pending = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watch = {
        let changed = changed.clone();
        let pending = pending.clone();
        let metrics = metrics.clone();
        let watch = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .reflect(writer);
        crate::cache::report_errors(watch, "Node", metrics.watch_errors())
            .map(Ok::<_, watcher::Error>)
            .touched_objects()
            .for_each(move |_| {
                let n = pending.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                metrics.set_depth(n);
                changed.notify_one();
                std::future::ready(())
            })
    };
    let mut state = Loop {
        routes,
        nodes: nodes.clone(),
        recorder: crate::events::recorder(&client, "cloudnet-route-controller"),
        reported: BTreeSet::new(),
    };
    let rounds = async move {
        if nodes.wait_until_ready().await.is_err() {
            return;
        }
        let mut next_full = tokio::time::Instant::now();
        loop {
            // Wait for a change (or the resync), then for quiet.
            tokio::select! {
                () = changed.notified() => {
                    let first = tokio::time::Instant::now();
                    loop {
                        let quiet = tokio::time::sleep(settings.debounce);
                        let cap = tokio::time::sleep_until(first + settings.max_delay);
                        tokio::select! {
                            () = changed.notified() => continue,
                            () = quiet => break,
                            () = cap => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(next_full) => {}
            }
            let waiting = pending.swap(0, std::sync::atomic::Ordering::Relaxed);
            metrics.set_depth(0);
            let timer = metrics.start("");
            if leadership.as_ref().is_some_and(|l| !l.is_leader()) {
                timer.finish(ReconcileResult::Follower);
                next_full = tokio::time::Instant::now() + settings.retry;
                continue;
            }
            let span = tracing::info_span!("reconcile_routes", changes = waiting);
            match state.round().instrument(span).await {
                Ok(outcome) if outcome.failed == 0 => {
                    timer.finish(ReconcileResult::Success);
                    next_full = tokio::time::Instant::now() + settings.resync;
                }
                Ok(_) => {
                    timer.finish(ReconcileResult::Error);
                    next_full = tokio::time::Instant::now() + settings.retry;
                }
                Err(error) => {
                    warn!(%error, "Listing routes failed");
                    timer.finish(ReconcileResult::Error);
                    next_full = tokio::time::Instant::now() + settings.retry;
                }
            }
        }
    };
    tokio::select! {
        () = watch => {}
        () = rounds => {}
        () = shutdown => {}
    }
}

impl Loop {
    /// One plan from the nodes as the cache has them and one listing of the cloud's routes.
    async fn round(&mut self) -> cloudnet_core::Result<RoundOutcome> {
        let nodes: Vec<Node> = self.nodes.state().iter().map(|n| (**n).clone()).collect();
        let (wanted, skipped) = desired_from_nodes(&nodes);
        for (node, why) in &skipped {
            // A node without its providerID yet is still joining; a bad CIDR is bad input.
            let type_ = if why.starts_with("no providerID") {
                EventType::Normal
            } else {
                EventType::Warning
            };
            self.report_once(
                node,
                &format!("skip {node} {why}"),
                type_,
                "RouteSkipped",
                why,
            )
            .await;
        }
        let listed = self.routes.list().await?;
        let p: RoutePlan = plan_in(&wanted, &listed, &self.routes.known_tables());
        for c in &p.conflicts {
            if let Some(node) = wanted.iter().find(|n| n.pod_cidrs.contains(&c.destination)) {
                let text = format!(
                    "route table {} already routes {} elsewhere ({:?}); left alone",
                    c.table, c.destination, c.target
                );
                let key = format!("conflict {} {} {:?}", c.table, c.destination, c.target);
                self.report_once(&node.node, &key, EventType::Warning, "RouteConflict", &text)
                    .await;
            }
        }
        let mut outcome = RoundOutcome::default();
        for r in &p.create {
            match self.routes.create(r).await {
                Ok(()) => {
                    outcome.created += 1;
                    info!(table = %r.table, destination = %r.destination, target = ?r.target, "Created route");
                    if let Some(node) = &r.node {
                        let text =
                            format!("route {} -> {:?} in {}", r.destination, r.target, r.table);
                        self.event(node, EventType::Normal, "CreatedRoute", &text)
                            .await;
                    }
                }
                Err(error) => {
                    outcome.failed += 1;
                    warn!(%error, destination = %r.destination, "Creating a route failed");
                    if let Some(node) = &r.node {
                        let text = format!(
                            "route {} in {}: {error} ({})",
                            r.destination,
                            r.table,
                            error.code()
                        );
                        self.event(node, EventType::Warning, "FailedCreateRoute", &text)
                            .await;
                    }
                }
            }
        }
        for r in &p.delete {
            match self.routes.delete(r).await {
                Ok(()) => {
                    outcome.deleted += 1;
                    info!(table = %r.table, destination = %r.destination, "Deleted route of a gone node");
                }
                Err(error) => {
                    outcome.failed += 1;
                    warn!(%error, destination = %r.destination, "Deleting a route failed");
                }
            }
        }
        Ok(outcome)
    }

    async fn report_once(
        &mut self,
        node: &str,
        key: &str,
        type_: EventType,
        reason: &str,
        text: &str,
    ) {
        if self.reported.insert(key.to_string()) {
            self.event(node, type_, reason, text).await;
        }
    }

    async fn event(&self, node: &str, type_: EventType, reason: &str, note: &str) {
        let Some(obj) = self.nodes.get(&reflector::ObjectRef::new(node)) else {
            return;
        };
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Route".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(%error, "Could not publish an Event");
        }
    }
}
