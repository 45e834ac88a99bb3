//! The allocator's metrics, registered with the binary's registry by
//! [`AllocatorMetrics::register`]. Labels come from small fixed sets (a round's result, an
//! error kind), never a node name.

use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundResult {
    /// Nothing to do: no cloud call.
    Idle,
    /// Cloud calls made, all succeeded.
    Changed,
    /// A cloud call failed.
    Failed,
}

impl RoundResult {
    fn label(self) -> &'static str {
        match self {
            RoundResult::Idle => "idle",
            RoundResult::Changed => "changed",
            RoundResult::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct AllocatorMetrics {
    rounds: Family<Labels, Counter>,
    cloud_errors: Family<Labels, Counter>,
    blocks_added: Counter,
    blocks_released: Counter,
    interfaces_attached: Counter,
    interfaces_detached: Counter,
    orphans_deleted: Counter,
    nodes_freed: Counter,
    status_writes: Counter,
    queue_depth: Gauge,
    round_seconds: Histogram,
}

impl Default for AllocatorMetrics {
    fn default() -> Self {
        AllocatorMetrics {
            rounds: Family::default(),
            cloud_errors: Family::default(),
            blocks_added: Counter::default(),
            blocks_released: Counter::default(),
            interfaces_attached: Counter::default(),
            interfaces_detached: Counter::default(),
            orphans_deleted: Counter::default(),
            nodes_freed: Counter::default(),
            status_writes: Counter::default(),
            queue_depth: Gauge::default(),
            round_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
        }
    }
}

impl AllocatorMetrics {
    pub fn register(registry: &mut Registry) -> AllocatorMetrics {
        let m = AllocatorMetrics::default();
        let r = registry.sub_registry_with_prefix("cloudnet_ipam");
        r.register(
            "rounds",
            "Allocator rounds per node, by result",
            m.rounds.clone(),
        );
        r.register(
            "cloud_errors",
            "Failed cloud calls of the allocator, by error kind",
            m.cloud_errors.clone(),
        );
        r.register(
            "blocks_added",
            "Address blocks added to nodes",
            m.blocks_added.clone(),
        );
        r.register(
            "blocks_released",
            "Address blocks released from the nodes' offers",
            m.blocks_released.clone(),
        );
        r.register(
            "interfaces_attached",
            "Interfaces created and attached",
            m.interfaces_attached.clone(),
        );
        r.register(
            "interfaces_detached",
            "Empty interfaces detached and deleted",
            m.interfaces_detached.clone(),
        );
        r.register(
            "orphans_deleted",
            "Leaked interfaces deleted",
            m.orphans_deleted.clone(),
        );
        r.register(
            "status_writes",
            "NodeNetwork status writes: after each cloud step of a round that changed it (writes close together merged), and at the round's end",
            m.status_writes.clone(),
        );
        r.register(
            "nodes_freed",
            "Nodes gone from the cluster whose addresses were freed",
            m.nodes_freed.clone(),
        );
        r.register(
            "queue_depth",
            "Nodes waiting for a round",
            m.queue_depth.clone(),
        );
        r.register(
            "round_seconds",
            "Duration of a round with cloud calls",
            m.round_seconds.clone(),
        );
        m
    }

    pub fn round(&self, result: RoundResult) {
        self.rounds
            .get_or_create(&vec![("result", result.label())])
            .inc();
    }

    pub fn rounds(&self, result: RoundResult) -> u64 {
        self.rounds
            .get_or_create(&vec![("result", result.label())])
            .get()
    }

    pub fn cloud_error(&self, e: &cloudnet_core::Error) {
        self.cloud_errors
            .get_or_create(&vec![("kind", e.kind().label())])
            .inc();
    }

    pub fn outcome(&self, added: u32, released: usize, attached: usize, detached: usize) {
        self.blocks_added.inc_by(u64::from(added));
        self.blocks_released.inc_by(released as u64);
        self.interfaces_attached.inc_by(attached as u64);
        self.interfaces_detached.inc_by(detached as u64);
    }

    pub fn orphan_deleted(&self) {
        self.orphans_deleted.inc();
    }

    pub fn orphans_deleted(&self) -> u64 {
        self.orphans_deleted.get()
    }

    pub fn status_written(&self) {
        self.status_writes.inc();
    }

    /// NodeNetwork status writes so far.
    pub fn status_writes(&self) -> u64 {
        self.status_writes.get()
    }

    pub fn node_freed(&self) {
        self.nodes_freed.inc();
    }

    pub fn set_queue_depth(&self, n: usize) {
        self.queue_depth.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records the round's duration when dropped.
    pub fn round_timer(&self) -> RoundTimer<'_> {
        RoundTimer {
            histogram: &self.round_seconds,
            start: Instant::now(),
        }
    }
}

pub struct RoundTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
}

impl Drop for RoundTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn series_carry_fixed_labels() {
        let mut reg = Registry::default();
        let m = AllocatorMetrics::register(&mut reg);
        m.round(RoundResult::Changed);
        m.cloud_error(&cloudnet_core::Error::Throttled {
            code: "RequestLimitExceeded".into(),
            message: String::new(),
            retry_after: None,
        });
        drop(m.round_timer());
        let mut out = String::new();
        encode(&mut out, &reg).expect("encodes");
        assert!(
            out.contains(r#"cloudnet_ipam_rounds_total{result="changed"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"cloudnet_ipam_cloud_errors_total{kind="throttled"} 1"#),
            "{out}"
        );
        assert!(out.contains("cloudnet_ipam_round_seconds_count 1"), "{out}");
        assert_eq!(m.rounds(RoundResult::Changed), 1);
    }
}
