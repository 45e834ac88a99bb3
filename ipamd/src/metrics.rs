//! Prometheus metrics of the daemon.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::Counts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// One of the five RPC names.
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// `metadata` (the instance metadata read), `pool` (the pool updated and durable, the
    /// waiting Allocates woken) or `spec` (spec.inUse/release written).
    pub phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DisagreementLabels {
    /// `status_only` or `metadata_only`.
    pub side: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    pub addresses_total: Gauge,
    pub addresses_assigned: Gauge,
    pub addresses_cooling: Gauge,
    pub interfaces: Gauge,
    pub no_address: Counter,
    pub pods_waiting: Gauge,
    pub disagreements: Family<DisagreementLabels, Gauge>,
    pub rpc_seconds: Family<RpcLabels, Histogram>,
    /// Journal records or snapshots written and flushed to disk.
    pub checkpoint_flushes: Counter,
    /// Changes made durable: above the flushes when concurrent changes share one.
    pub checkpoint_changes: Counter,
    /// Addresses freed because their pod left the API without a DEL reaching ipamd.
    pub orphans_freed: Counter,
    /// Each phase of a sync pass.
    pub sync_phase_seconds: Family<PhaseLabels, Histogram>,
    /// Allocates that waited for the pool to grow: from the request to the address.
    pub allocate_waited: Histogram,
}

/// Buckets from 100 µs to 5 s.
fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            addresses_total: Gauge::default(),
            addresses_assigned: Gauge::default(),
            addresses_cooling: Gauge::default(),
            interfaces: Gauge::default(),
            no_address: Counter::default(),
            pods_waiting: Gauge::default(),
            disagreements: Family::default(),
            rpc_seconds: Family::new_with_constructor(|| {
                Histogram::new([
                    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0,
                ])
            }),
            checkpoint_flushes: Counter::default(),
            checkpoint_changes: Counter::default(),
            orphans_freed: Counter::default(),
            sync_phase_seconds: Family::new_with_constructor(latency_buckets),
            allocate_waited: latency_buckets(),
        }
    }
}

impl Metrics {
    pub fn register(&self, r: &mut Registry) {
        let r = r.sub_registry_with_prefix("cloudnet_ipamd");
        r.register(
            "addresses",
            "Pod addresses in the agreed pool",
            self.addresses_total.clone(),
        );
        r.register(
            "addresses_assigned",
            "Pod addresses held by pods",
            self.addresses_assigned.clone(),
        );
        r.register(
            "addresses_cooling",
            "Freed addresses cooling down",
            self.addresses_cooling.clone(),
        );
        r.register(
            "interfaces",
            "Interfaces in the agreed pool",
            self.interfaces.clone(),
        );
        r.register(
            "no_address",
            "Allocations refused for want of a free address",
            self.no_address.clone(),
        );
        r.register(
            "pods_waiting",
            "Refused allocations asked again recently: counted in spec.inUse so the pool grows for them",
            self.pods_waiting.clone(),
        );
        r.register(
            "disagreements",
            "Blocks the NodeNetwork status and the instance metadata disagree on, past the lag allowance",
            self.disagreements.clone(),
        );
        r.register(
            "rpc_duration_seconds",
            "gRPC handling time",
            self.rpc_seconds.clone(),
        );
        r.register(
            "checkpoint_flushes",
            "Checkpoint writes flushed to disk (fdatasync or fsync)",
            self.checkpoint_flushes.clone(),
        );
        r.register(
            "checkpoint_changes",
            "Changes made durable; concurrent changes share a flush (group commit)",
            self.checkpoint_changes.clone(),
        );
        r.register(
            "orphans_freed",
            "Addresses freed because their pod left the API (deleted or finished) without a DEL reaching ipamd",
            self.orphans_freed.clone(),
        );
        r.register(
            "sync_phase_seconds",
            "Each phase of a sync pass: metadata (instance metadata read), pool (pool updated, durable, waiting Allocates woken), spec (spec written)",
            self.sync_phase_seconds.clone(),
        );
        r.register(
            "allocate_waited_seconds",
            "Allocates held until the pool grew: time from the request to the address",
            self.allocate_waited.clone(),
        );
    }

    /// Records how long a sync phase took.
    pub fn phase(&self, phase: &'static str, took: std::time::Duration) {
        self.sync_phase_seconds
            .get_or_create(&PhaseLabels { phase })
            .observe(took.as_secs_f64());
    }

    pub fn observe(&self, c: &Counts, interfaces: usize) {
        self.addresses_total.set(c.total as i64);
        self.addresses_assigned.set(c.assigned as i64);
        self.addresses_cooling.set(c.cooling as i64);
        self.interfaces.set(interfaces as i64);
    }
}
