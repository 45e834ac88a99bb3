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
    }

    pub fn observe(&self, c: &Counts, interfaces: usize) {
        self.addresses_total.set(c.total as i64);
        self.addresses_assigned.set(c.assigned as i64);
        self.addresses_cooling.set(c.cooling as i64);
        self.interfaces.set(interfaces as i64);
    }
}
