//! The controller process put together: which controllers run, under which lease, with which
//! health endpoints. The `cloudnet-controller` binary and `cloudnet sandbox` both start the
//! controllers through [`run`], so the sandbox runs exactly what a cluster runs.
//!
//! ```text
//!  Settings ──▶ controllers: [ipam-allocator, service, ...] ──▶ each as leader (when elected)
//!                   │ readiness                                   │ Cloud traits, kube::Client
//!                   ▼                                             ▼
//!           /metrics /healthz /readyz                        runs until `stop` or a failure
//! ```
//!
//! A controller is one entry in that list: a name (for `/readyz`), a readiness flag and its
//! run. Adding one is a field in [`Settings`] and one constructor below.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cloudnet_core::Cloud;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::ingress::IngressSettings;
use crate::ipam::metrics::AllocatorMetrics;
use crate::ipam::node_range::{NodeRangeAllocator, NodeRangeConfig, serves_ranges};
use crate::ipam::{Allocator, AllocatorConfig};
use crate::lb_controller::LbControllerSettings;
use crate::leader::{ElectionConfig, Elector, Leadership};
use crate::metrics::{ControllerMetrics, Reconciles};
use crate::readiness::Gates;
use crate::readiness::webhook::WebhookSettings;
use crate::routes::RouteSettings;
use crate::server::{Health, serve};
use crate::service::ServiceSettings;

/// What the process runs. `None` switches a controller off.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The pod address allocator.
    pub ipam: Option<AllocatorConfig>,
    /// The Service (L4 load balancer) controller.
    pub service: Option<ServiceSettings>,
    /// Every Service's load balancer is ensured again at least this often.
    pub service_resync: Duration,
    /// The Ingress (L7 load balancer) controller.
    pub ingress: Option<IngressSettings>,
    /// Every IngressGroup's load balancer is ensured again (and emptied groups collected) at
    /// least this often.
    pub ingress_resync: Duration,
    /// Load balancers of this cluster's Services that are gone are collected at start and this
    /// often; `None`: never.
    pub service_gc: Option<Duration>,
    /// The TargetGroupBinding controller, with its resync period.
    pub target_group_binding: Option<Duration>,
    /// The route controller (Node podCIDRs -> VPC routes).
    pub routes: Option<RouteSettings>,
    /// Pod readiness gates, with how often target health is read while a pod waits and for
    /// the gates already open.
    pub readiness_gates: Option<crate::readiness::controller::GatePolling>,
    /// The optional mutating webhook that injects readiness gates (every replica serves it).
    pub webhook: Option<WebhookSettings>,
    /// Lease leader election; `None` only for a single replica.
    pub election: Option<ElectionConfig>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None`: not served.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ipam: None,
            service: None,
            service_resync: Duration::from_secs(600),
            ingress: None,
            ingress_resync: Duration::from_secs(600),
            service_gc: None,
            target_group_binding: None,
            routes: None,
            readiness_gates: None,
            webhook: None,
            election: None,
            metrics_addr: None,
        }
    }
}

impl Settings {
    /// Refuses a process with nothing to run.
    pub fn validate(&self) -> Result<()> {
        if self.ipam.is_none()
            && self.service.is_none()
            && self.ingress.is_none()
            && self.target_group_binding.is_none()
            && self.routes.is_none()
        {
            return Err(Error::Config("every controller is switched off".into()));
        }
        if let Some(e) = &self.election {
            e.validate().map_err(Error::Config)?;
        }
        Ok(())
    }
}

/// One controller of the process: its name (for `/readyz`), its readiness, its run.
struct Controller {
    name: &'static str,
    ready: Arc<AtomicBool>,
    run: BoxFuture<'static, Result<()>>,
}

/// What every controller is built from.
struct Context {
    client: kube::Client,
    cloud: Cloud,
    leadership: Option<Leadership>,
    stop: watch::Receiver<bool>,
    /// Pods waiting for a readiness gate, and the groups the load balancer controllers
    /// publish; empty when the readiness gate controller is off.
    gates: Gates,
}

impl Context {
    fn stopped(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// A load balancer controller's settings: this process's client, cloud, lease and
    /// readiness gates; a resync of at least 10 s.
    fn lb_controller<S>(
        &self,
        settings: S,
        resync: Duration,
        metrics: Reconciles,
    ) -> LbControllerSettings<S> {
        LbControllerSettings {
            leadership: self.leadership.clone(),
            resync: resync.max(Duration::from_secs(10)),
            gates: self.gates.clone(),
            ..LbControllerSettings::new(
                self.client.clone(),
                self.cloud.load_balancers.clone(),
                settings,
                metrics,
            )
        }
    }
}

/// Waits for leadership (when elected), then runs `run`; fails as soon as leadership is lost,
/// so that of several replicas one writes.
async fn as_leader(
    leadership: Option<Leadership>,
    run: impl Future<Output = Result<()>>,
) -> Result<()> {
    let Some(mut leadership) = leadership else {
        return run.await;
    };
    leadership.wait_for_leadership().await;
    tracing::info!("Leading: starting the writers");
    let lost = async {
        while leadership.is_leader() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        r = run => r,
        () = lost => Err(Error::LostLeadership),
    }
}

/// The allocator runs on the leader only. A follower is ready (to take over); the leader is
/// ready once its pool view synced.
fn allocator(ctx: &Context, config: AllocatorConfig, registry: &mut Registry) -> Controller {
    let allocator = Allocator::new(
        ctx.client.clone(),
        ctx.cloud.addresses.clone(),
        config,
        AllocatorMetrics::register(registry),
    );
    let own = allocator.readiness();
    let stop = ctx.stopped();
    leader_only(ctx, "ipam-allocator", own, allocator.run(stop))
}

/// On a cloud whose VM interfaces are fixed (GCE), the allocator gives each node one pod
/// range instead of growing a pool ([`crate::ipam::node_range`]); leader only, as above.
fn node_ranges(ctx: &Context, config: &AllocatorConfig) -> Controller {
    let ranges = NodeRangeAllocator::new(
        ctx.client.clone(),
        ctx.cloud.addresses.clone(),
        NodeRangeConfig {
            parallelism: config.parallelism,
            resync: config.resync,
            reporter: config.reporter.clone(),
            ..NodeRangeConfig::default()
        },
    );
    let own = ranges.readiness();
    let stop = ctx.stopped();
    leader_only(ctx, "ipam-allocator", own, ranges.run(stop))
}

/// A controller that runs on the leader only: a follower is ready (to take over); the leader
/// mirrors `own` readiness.
fn leader_only(
    ctx: &Context,
    name: &'static str,
    own: Arc<AtomicBool>,
    run: impl Future<Output = Result<()>> + Send + 'static,
) -> Controller {
    let ready = if ctx.leadership.is_some() {
        Arc::new(AtomicBool::new(true))
    } else {
        own.clone()
    };
    let leadership = ctx.leadership.clone();
    let mirror_to = ready.clone();
    let run = async move {
        as_leader(leadership, async move {
            let mirror = async {
                loop {
                    mirror_to.store(own.load(Ordering::Relaxed), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            };
            tokio::select! {
                r = run => r,
                () = mirror => Ok(()),
            }
        })
        .await
    };
    Controller {
        name,
        ready,
        run: Box::pin(run.instrument(tracing::info_span!("controller", name))),
    }
}

/// The Service controller runs on every replica and checks the lease before each reconcile,
/// so a new leader finds its caches warm.
fn service(
    ctx: &Context,
    settings: ServiceSettings,
    resync: Duration,
    metrics: Reconciles,
) -> Controller {
    endless(
        "service",
        crate::service::reconcile::run(ctx.lb_controller(settings, resync, metrics), ctx.stopped()),
    )
}

/// A controller whose run ends only when stopped, ready from the start.
fn endless(name: &'static str, run: impl Future<Output = ()> + Send + 'static) -> Controller {
    Controller {
        name,
        ready: Arc::new(AtomicBool::new(true)),
        run: Box::pin(
            async move {
                run.await;
                Ok(())
            }
            .instrument(tracing::info_span!("controller", name)),
        ),
    }
}

/// The Ingress controller, like the Service controller, runs on every replica and checks the
/// lease before each reconcile.
fn ingress(
    ctx: &Context,
    settings: IngressSettings,
    resync: Duration,
    metrics: Reconciles,
) -> Controller {
    endless(
        "ingress",
        crate::ingress::reconcile::run(ctx.lb_controller(settings, resync, metrics), ctx.stopped()),
    )
}

/// Runs the controllers `settings` switches on until `stop` resolves (then `Ok`), or until one
/// of them fails or ends, which stops the others and is returned. `registry` holds the
/// provider's metrics; the controllers add theirs.
pub async fn run(
    client: kube::Client,
    cloud: Cloud,
    settings: Settings,
    mut registry: Registry,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    settings.validate()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let elector = match settings.election.clone() {
        Some(config) => Some(Elector::start(client.clone(), config).map_err(Error::Config)?),
        None => None,
    };
    let ctx = Context {
        client,
        cloud,
        leadership: elector.as_ref().map(Elector::leadership),
        stop: stop_rx,
        gates: Gates::default(),
    };

    let mut controllers = Vec::new();
    if let Some(config) = settings.ipam.clone() {
        controllers.push(if serves_ranges(&ctx.cloud.addresses.capabilities()) {
            node_ranges(&ctx, &config)
        } else {
            allocator(&ctx, config, &mut registry)
        });
    }
    let metrics = ControllerMetrics::register(&mut registry);
    if let Some(service_settings) = settings.service.clone() {
        let cluster = service_settings.cluster.clone();
        controllers.push(service(
            &ctx,
            service_settings,
            settings.service_resync,
            metrics.controller("service"),
        ));
        if let Some(interval) = settings.service_gc {
            controllers.push(endless(
                "service-gc",
                crate::service::gc::run(
                    ctx.client.clone(),
                    ctx.cloud.load_balancers.clone(),
                    cluster,
                    ctx.leadership.clone(),
                    interval,
                    metrics.controller("service-gc"),
                    ctx.stopped(),
                ),
            ));
        }
    }
    if let Some(resync) = settings.target_group_binding {
        controllers.push(endless(
            "targetgroupbinding",
            crate::binding::run(
                ctx.client.clone(),
                ctx.cloud.load_balancers.clone(),
                ctx.leadership.clone(),
                resync,
                metrics.controller("targetgroupbinding"),
                ctx.gates.clone(),
                ctx.stopped(),
            ),
        ));
    }
    if let Some(route_settings) = settings.routes.clone() {
        controllers.push(endless(
            "routes",
            crate::routes::run(
                ctx.client.clone(),
                ctx.cloud.routes.clone(),
                ctx.leadership.clone(),
                route_settings,
                metrics.controller("routes"),
                ctx.stopped(),
            ),
        ));
    }
    if let Some(ingress_settings) = settings.ingress.clone() {
        controllers.push(ingress(
            &ctx,
            ingress_settings,
            settings.ingress_resync,
            metrics.controller("ingress"),
        ));
    }
    if let Some(poll) = settings.readiness_gates {
        controllers.push(endless(
            "pod-readiness",
            crate::readiness::controller::run(
                ctx.client.clone(),
                ctx.cloud.load_balancers.clone(),
                ctx.gates.clone(),
                ctx.leadership.clone(),
                poll,
                metrics.controller("pod-readiness"),
                ctx.stopped(),
            ),
        ));
    }
    if let Some(webhook) = settings.webhook.clone() {
        let run = crate::readiness::webhook::run(
            ctx.client.clone(),
            ctx.gates.clone(),
            webhook,
            metrics.watch_errors("webhook"),
            ctx.stopped(),
        );
        controllers.push(Controller {
            name: "webhook",
            ready: Arc::new(AtomicBool::new(true)),
            run: Box::pin(run.instrument(tracing::info_span!("webhook"))),
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = settings.metrics_addr {
        let health = Health::new(
            registry,
            controllers
                .iter()
                .map(|c| (c.name.to_string(), c.ready.clone()))
                .collect(),
        );
        let stopped = ctx.stopped();
        tasks.spawn(async move { serve(addr, health, stopped).await.map(|()| "http") });
    }
    for c in controllers {
        let name = c.name;
        tasks.spawn(async move { c.run.await.map(|()| name) });
    }
    let outcome = tokio::select! {
        () = stop => Ok(()),
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(name)) => Err(Error::Stopped(name)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Stopped("a controller task")),
        },
    };
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "A controller failed while stopping");
        }
    }
    if let Some(elector) = elector {
        elector.shutdown().await;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_with_nothing_to_run_is_refused() {
        let e = Settings::default().validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration: every controller is switched off"
        );
        let one = Settings {
            service: Some(ServiceSettings::new("c")),
            ..Settings::default()
        };
        assert!(one.validate().is_ok());
    }

    #[test]
    fn a_bad_election_is_refused_before_anything_starts() {
        let mut election = ElectionConfig::new("kube-system", "lease", "me");
        election.renew_deadline = election.lease_duration;
        let s = Settings {
            ipam: Some(AllocatorConfig::default()),
            election: Some(election),
            ..Settings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("renew deadline"), "{e}");
    }
}
