//! What the load balancer controllers (Service and Ingress) run with: one settings struct,
//! the controller's own settings inside it.

use std::sync::Arc;
use std::time::Duration;

use cloudnet_core::LoadBalancers;
use kube::Client;

use crate::leader::Leadership;
use crate::metrics::Reconciles;
use crate::readiness::Gates;

/// The default full `ensure` and target sync period per object.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(600);

/// Everything a Service or Ingress controller's `run` needs besides its shutdown signal.
#[derive(Clone)]
pub struct LbControllerSettings<S> {
    pub client: Client,
    pub load_balancers: Arc<dyn LoadBalancers>,
    /// The controller's own settings (cluster, classes, defaults).
    pub settings: S,
    /// `None`: this replica always leads (a single replica, or tests).
    pub leadership: Option<Leadership>,
    /// A full `ensure` and target sync at least this often per object, to repair drift.
    pub resync: Duration,
    /// Reconciles, their durations and the objects waiting.
    pub metrics: Reconciles,
    /// Readiness gates: endpoints of pods waiting for a gate are targets, and the pod-IP
    /// groups ensured are published here.
    pub gates: Gates,
}

impl<S> LbControllerSettings<S> {
    /// A single replica (no election) resyncing every [`DEFAULT_RESYNC`], with readiness
    /// gates nobody feeds; change the fields for anything else.
    pub fn new(
        client: Client,
        load_balancers: Arc<dyn LoadBalancers>,
        settings: S,
        metrics: Reconciles,
    ) -> LbControllerSettings<S> {
        LbControllerSettings {
            client,
            load_balancers,
            settings,
            leadership: None,
            resync: DEFAULT_RESYNC,
            metrics,
            gates: Gates::default(),
        }
    }
}
