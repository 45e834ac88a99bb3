//! Metrics every controller loop shares, registered once with the binary's registry by
//! [`ControllerMetrics::register`]: reconciles by result, their duration, the objects
//! waiting, and the errors of the controller's watches. Labels are the controller's fixed
//! name, a result from a fixed set and a watched kind, never an object's name or an error's
//! text. (Cloud calls are counted by the provider's own metrics.)

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// `controller` and the watched `kind` (a kind is the resource's own, so the set is fixed).
type WatchLabels = Vec<(&'static str, String)>;

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// Done (changes made or none needed).
    Success,
    /// Failed; retried with backoff.
    Error,
    /// Skipped: this replica does not lead.
    Follower,
}

impl ReconcileResult {
    pub fn label(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Error => "error",
            ReconcileResult::Follower => "follower",
        }
    }
}

/// The shared families; [`ControllerMetrics::controller`] hands out one controller's view.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    reconciles: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    queue_depth: Family<Labels, Gauge>,
    watch_errors: Family<WatchLabels, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            queue_depth: Family::default(),
            watch_errors: Family::default(),
        }
    }
}

impl ControllerMetrics {
    pub fn register(registry: &mut Registry) -> ControllerMetrics {
        let m = ControllerMetrics::default();
        let r = registry.sub_registry_with_prefix("cloudnet_controller");
        r.register(
            "reconciles",
            "Reconciles per controller, by result (success, error, follower)",
            m.reconciles.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile, per controller",
            m.durations.clone(),
        );
        r.register(
            "queue_depth",
            "Objects waiting for a reconcile, per controller",
            m.queue_depth.clone(),
        );
        r.register(
            "watch_errors",
            "Errors of a controller's watches (a forbidden or failed list or watch), by kind",
            m.watch_errors.clone(),
        );
        m
    }

    /// The watch-error counter of a component that watches but does not reconcile (the
    /// webhook), under its fixed name.
    pub fn watch_errors(&self, controller: &'static str) -> WatchErrors {
        WatchErrors {
            family: self.watch_errors.clone(),
            controller,
        }
    }

    /// One controller's metrics, under its fixed name.
    pub fn controller(&self, name: &'static str) -> Reconciles {
        Reconciles {
            metrics: self.clone(),
            name,
            waiting: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub fn reconciles(&self, controller: &'static str, result: ReconcileResult) -> u64 {
        self.reconciles
            .get_or_create(&vec![
                ("controller", controller),
                ("result", result.label()),
            ])
            .get()
    }
}

/// One controller's view: objects are `queued` when a change reaches the controller and
/// leave the queue when their reconcile `start`s (an object queued twice counts once, as the
/// controller's own queue merges them).
#[derive(Clone, Debug)]
pub struct Reconciles {
    metrics: ControllerMetrics,
    name: &'static str,
    waiting: Arc<Mutex<HashSet<String>>>,
}

impl Reconciles {
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn labels(&self) -> Labels {
        vec![("controller", self.name)]
    }

    /// The counter of this controller's watch errors.
    pub fn watch_errors(&self) -> WatchErrors {
        self.metrics.watch_errors(self.name)
    }

    fn publish_depth(&self, depth: usize) {
        self.metrics
            .queue_depth
            .get_or_create(&self.labels())
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// A change for `key` reached the controller.
    pub fn queued(&self, key: String) {
        let depth = {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            w.insert(key);
            w.len()
        };
        self.publish_depth(depth);
    }

    /// The queue depth as a whole, for loops that keep their own queue.
    pub fn set_depth(&self, depth: usize) {
        self.publish_depth(depth);
    }

    /// One reconcile of `key` by a controller that runs on every replica: a follower (one
    /// `leadership` says does not lead) requeues in 2 s without doing `work`; the leader does
    /// it, and its outcome and duration are recorded.
    pub async fn leader_only<E>(
        &self,
        key: &str,
        leadership: Option<&crate::leader::Leadership>,
        work: impl std::future::Future<Output = Result<Action, E>>,
    ) -> Result<Action, E> {
        let timer = self.start(key);
        if leadership.is_some_and(|l| !l.is_leader()) {
            timer.finish(ReconcileResult::Follower);
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        let out = work.await;
        timer.finish(if out.is_ok() {
            ReconcileResult::Success
        } else {
            ReconcileResult::Error
        });
        out
    }

    /// The reconcile of `key` starts: it leaves the queue, and the timer runs.
    pub fn start(&self, key: &str) -> ReconcileTimer {
        let depth = {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            w.remove(key);
            w.len()
        };
        self.publish_depth(depth);
        ReconcileTimer {
            reconciles: self.clone(),
            start: Instant::now(),
        }
    }
}

/// One controller's watch errors, by the kind watched.
#[derive(Clone, Debug)]
pub struct WatchErrors {
    family: Family<WatchLabels, Counter>,
    controller: &'static str,
}

impl WatchErrors {
    pub fn controller(&self) -> &'static str {
        self.controller
    }

    fn labels(&self, kind: &str) -> WatchLabels {
        vec![
            ("controller", self.controller.to_string()),
            ("kind", kind.to_string()),
        ]
    }

    /// A watch of `kind` failed.
    pub fn inc(&self, kind: &str) {
        self.family.get_or_create(&self.labels(kind)).inc();
    }

    /// How many times the watches of `kind` failed.
    pub fn get(&self, kind: &str) -> u64 {
        self.family.get_or_create(&self.labels(kind)).get()
    }
}

/// A reconcile in progress; [`ReconcileTimer::finish`] records its result and duration.
pub struct ReconcileTimer {
    reconciles: Reconciles,
    start: Instant,
}

impl ReconcileTimer {
    pub fn finish(self, result: ReconcileResult) {
        let r = &self.reconciles;
        r.metrics
            .reconciles
            .get_or_create(&vec![("controller", r.name), ("result", result.label())])
            .inc();
        r.metrics
            .durations
            .get_or_create(&r.labels())
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn reconciles_durations_queue_depth_and_watch_errors_per_controller() {
        let mut reg = Registry::default();
        let m = ControllerMetrics::register(&mut reg);
        let svc = m.controller("service");
        svc.queued("default/a".into());
        svc.queued("default/a".into());
        svc.queued("default/b".into());
        let t = svc.start("default/a");
        t.finish(ReconcileResult::Success);
        svc.start("default/b").finish(ReconcileResult::Error);
        m.controller("routes")
            .start("all")
            .finish(ReconcileResult::Follower);
        svc.watch_errors().inc("Secret");
        m.watch_errors("webhook").inc("Namespace");
        let mut out = String::new();
        encode(&mut out, &reg).expect("encodes");
        for line in [
            r#"cloudnet_controller_reconciles_total{controller="service",result="success"} 1"#,
            r#"cloudnet_controller_reconciles_total{controller="service",result="error"} 1"#,
            r#"cloudnet_controller_reconciles_total{controller="routes",result="follower"} 1"#,
            r#"cloudnet_controller_reconcile_duration_seconds_count{controller="service"} 2"#,
            r#"cloudnet_controller_queue_depth{controller="service"} 0"#,
            r#"cloudnet_controller_watch_errors_total{controller="service",kind="Secret"} 1"#,
            r#"cloudnet_controller_watch_errors_total{controller="webhook",kind="Namespace"} 1"#,
        ] {
            assert!(out.contains(line), "{line} missing from\n{out}");
        }
        assert_eq!(m.reconciles("service", ReconcileResult::Success), 1);
        assert_eq!(svc.watch_errors().get("Secret"), 1);
        assert_eq!(svc.watch_errors().get("Node"), 0);
    }

    #[test]
    fn an_object_queued_twice_waits_once() {
        let m = ControllerMetrics::default();
        let c = m.controller("tgb");
        c.queued("ns/x".into());
        c.queued("ns/x".into());
        c.queued("ns/y".into());
        let depth = |m: &ControllerMetrics| {
            m.queue_depth
                .get_or_create(&vec![("controller", "tgb")])
                .get()
        };
        assert_eq!(depth(&m), 2);
        c.start("ns/x").finish(ReconcileResult::Success);
        assert_eq!(depth(&m), 1);
    }
}
