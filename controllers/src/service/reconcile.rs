//! The Service controller's loop: a kube-runtime `Controller` over Services, triggered by
//! their EndpointSlices and by Nodes, that keeps each served Service's load balancer and
//! targets in step.
//!
//! ```text
//!  Service ─┐                      spec changed or resync due?
//!  slices ──┼─> reconcile ──(model)──> yes: LoadBalancers::ensure ──┐
//!  nodes ───┘                          no: skip (the hot path)      ├─> sync_targets for groups
//!                                                                   │   whose members changed
//!                                     status.loadBalancer, condition, Events <─┘
//! ```
//!
//! - Endpoint churn never causes an `ensure`: the last applied spec and members are kept per
//!   Service, and only groups whose members changed are synced (batched by the provider).
//!   Every `resync` period a full `ensure` and sync run anyway, to repair drift.
//! - A Service whose spec cannot be built gets a Warning Event and a `LoadBalancerReady=False`
//!   condition with every reason, and no cloud call.
//! - A finalizer keeps the Service until its load balancer is gone. A Service that stops being
//!   ours (type or class changed) has its load balancer deleted and the finalizer removed.
//! - Only the leader writes (to the cloud and to status); followers requeue.
//! - No reconcile runs before the EndpointSlice and Node caches have listed, so a restart
//!   never sees "no endpoints" and deregisters live targets.

use std::sync::Arc;
use std::time::Duration;

use cloudnet_core::{LoadBalancerStatus, LoadBalancers};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, warn};

use super::model::{ModelError, ServiceSettings, build_spec, is_served, targets_nodes};
use super::targets::{SERVICE_NAME_LABEL, targets};
use crate::finalizers;
use crate::lb_controller::{
    AppliedLog, LbControllerSettings, clear_ingress, delete_owned, ensure_unless_fresh, ingress_of,
    ready_note, sync_changed, write_ingress,
};
use crate::leader::Leadership;
use crate::metrics::Reconciles;
use crate::readiness::Gates;

/// The finalizer that keeps a Service until its load balancer is deleted.
pub const FINALIZER: &str = "service.cloudnet.io/load-balancer";
/// The condition on the Service's status.
pub const CONDITION: &str = "LoadBalancerReady";

/// Why a reconcile failed (it is retried with backoff).
pub type ServiceError = crate::lb_controller::ReconcileError;

/// Everything a reconcile needs.
pub struct ServiceContext {
    pub client: Client,
    pub load_balancers: Arc<dyn LoadBalancers>,
    pub settings: ServiceSettings,
    /// `None`: this replica always leads (a single replica, or tests).
    pub leadership: Option<Leadership>,
    /// A full ensure and target sync at least this often per Service.
    pub resync: Duration,
    recorder: Recorder,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    applied: AppliedLog<ObjectRef<Service>>,
    metrics: Reconciles,
    gates: Gates,
}

/// Runs the Service controller until `shutdown` resolves: reconciles, their durations and
/// the Services waiting are counted in `run.metrics`; endpoints of pods waiting for a
/// readiness gate in `run.gates` are targets, and the Services' pod-IP groups are published
/// there.
pub async fn run(
    run: LbControllerSettings<ServiceSettings>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let LbControllerSettings {
        client,
        load_balancers,
        settings,
        leadership,
        resync,
        metrics,
        gates,
    } = run;
    let (service_store, service_events) =
        crate::cache::reflect_queued::<Service, _>(&client, metrics.clone(), |s| {
            ObjectRef::from_obj(s).to_string()
        });
    let (slices, slice_events) =
        crate::cache::reflect::<EndpointSlice>(&client, metrics.watch_errors());
    let (nodes, node_events) = crate::cache::reflect::<Node>(&client, metrics.watch_errors());
    let recorder = crate::events::recorder(&client, "cloudnet-service-controller");
    let ctx = Arc::new(ServiceContext {
        recorder,
        client,
        load_balancers,
        settings,
        leadership,
        resync,
        slices,
        nodes,
        applied: AppliedLog::new(),
        metrics: metrics.clone(),
        gates: gates.clone(),
    });
    let gate_services = service_store.clone();
    let gate_settings = ctx.settings.clone();
    let gate_metrics = metrics.clone();
    let node_services = service_store.clone();
    let node_settings = ctx.settings.clone();
    let slice_metrics = metrics.clone();
    let node_metrics = metrics;
    Controller::for_stream(service_events, service_store)
        .watches_stream(
            slice_events.map(Ok::<_, watcher::Error>),
            move |slice: EndpointSlice| {
                let name = slice.labels().get(SERVICE_NAME_LABEL).cloned();
                let namespace = slice.namespace();
                let key = name
                    .zip(namespace)
                    .map(|(n, ns)| ObjectRef::new(&n).within(&ns));
                if let Some(k) = &key {
                    slice_metrics.queued(k.to_string());
                }
                key
            },
        )
        // A node change moves the instance targets of served Services; Services with pod IP
        // targets do not depend on Nodes (with 5,000 nodes and 400 Services, waking every
        // Service on every Node event held gigabytes of queued triggers).
        .watches_stream(
            node_events.map(Ok::<_, watcher::Error>),
            move |_node: Node| {
                node_services
                    .state()
                    .into_iter()
                    .filter(|s| is_served(s, &node_settings) && targets_nodes(s, &node_settings))
                    .map(|s| {
                        let key = ObjectRef::from_obj(&*s);
                        node_metrics.queued(key.to_string());
                        key
                    })
                    .collect::<Vec<_>>()
            },
        )
        // A pod that starts or stops waiting for its readiness gate changes the targets of
        // the served Services of its namespace.
        .watches_stream(
            gates.subscribe().map(Ok::<_, watcher::Error>),
            move |pod: Pod| {
                gate_services
                    .state()
                    .into_iter()
                    .filter(|s| s.metadata.namespace == pod.metadata.namespace)
                    .filter(|s| is_served(s, &gate_settings))
                    .map(|s| {
                        let key = ObjectRef::from_obj(&*s);
                        gate_metrics.queued(key.to_string());
                        key
                    })
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
}

fn error_policy(svc: Arc<Service>, error: &ServiceError, _ctx: Arc<ServiceContext>) -> Action {
    warn!(service = %ObjectRef::from_obj(&*svc), %error, "Reconcile failed");
    match error {
        ServiceError::Cloud(cloudnet_core::Error::Throttled {
            retry_after: Some(after),
            ..
        }) => Action::requeue(*after),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<ServiceContext>) -> Result<Action, ServiceError> {
    let key = ObjectRef::from_obj(&*svc);
    let span = tracing::info_span!("reconcile_service", service = %key);
    let work = reconcile_inner(svc, ctx.clone()).instrument(span);
    (ctx.metrics)
        .leader_only(&key.to_string(), ctx.leadership.as_ref(), work)
        .await
}

async fn reconcile_inner(
    svc: Arc<Service>,
    ctx: Arc<ServiceContext>,
) -> Result<Action, ServiceError> {
    if ctx.leadership.as_ref().is_some_and(|l| !l.is_leader()) {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    // Members computed from a cache that has not listed yet would be empty: a restarted
    // controller would deregister every target, then register them all again. Checked, not
    // awaited: the store's readiness wakes only its last waiter, and reconciles run at once.
    let listed = |ready: Option<Result<(), _>>| matches!(ready, Some(Ok(())));
    if !listed(ctx.slices.wait_until_ready().now_or_never())
        || !listed(ctx.nodes.wait_until_ready().now_or_never())
    {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let key = ObjectRef::from_obj(&*svc);
    let api: Api<Service> = Api::namespaced(
        ctx.client.clone(),
        svc.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let has_finalizer = svc.finalizers().iter().any(|f| f == FINALIZER);
    if svc.metadata.deletion_timestamp.is_some() || !is_served(&svc, &ctx.settings) {
        if has_finalizer {
            cleanup(&svc, &ctx).await?;
            finalizers::remove(&api, &svc, FINALIZER).await?;
            if svc.metadata.deletion_timestamp.is_none() {
                clear_ingress(&api, &svc).await?;
            }
        }
        ctx.applied.forget(&ctx.gates, &key, publisher(&key));
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        finalizers::add(&api, &svc, FINALIZER).await?;
    }

    let spec = match build_spec(&svc, &ctx.settings) {
        Ok(spec) => spec,
        Err(errors) => {
            let text = render(&errors);
            publish(
                &ctx,
                &svc,
                EventType::Warning,
                "InvalidConfiguration",
                &text,
            )
            .await;
            set_condition(&api, &svc, None, false, "InvalidConfiguration", &text).await?;
            return Ok(Action::await_change());
        }
    };
    // Copies of this Service's slices, and of the Nodes only when its targets are instances,
    // dropped before any await: hundreds of reconciles wait on the cloud budget at once, and
    // each holding a copy of every Node ran to gigabytes with 5,000 nodes.
    let members = {
        let name = svc.name_any();
        let namespace = svc.namespace();
        let mut slices: Vec<EndpointSlice> = ctx
            .slices
            .state()
            .iter()
            .filter(|s| {
                s.namespace() == namespace
                    && s.labels().get(SERVICE_NAME_LABEL).map(String::as_str) == Some(name.as_str())
            })
            .map(|s| (**s).clone())
            .collect();
        let nodes: Vec<Node> = if targets_nodes(&svc, &ctx.settings) {
            ctx.nodes.state().iter().map(|n| (**n).clone()).collect()
        } else {
            Vec::new()
        };
        ctx.gates.admit_waiting(&mut slices);
        targets(&svc, &spec, &slices, &nodes)
    };

    let previous = ctx.applied.get(&key);
    let ensured =
        match ensure_unless_fresh(&*ctx.load_balancers, &spec, previous.as_ref(), ctx.resync).await
        {
            Ok(ensured) => ensured,
            Err(error) => {
                let text = format!("{} ({})", error, error.code());
                publish(&ctx, &svc, EventType::Warning, "FailedDeployModel", &text).await;
                set_condition(&api, &svc, None, false, "FailedDeployModel", &text).await?;
                return Err(error.into());
            }
        };
    let status = &ensured.status;
    if ensured.changed {
        let note = ready_note(status);
        publish(
            &ctx,
            &svc,
            EventType::Normal,
            "SuccessfullyReconciled",
            &note,
        )
        .await;
    }
    if ensured.fresh.is_none() {
        write_ingress(&api, &*svc, current_ingress(&svc), status).await?;
    }
    tracing::debug!(groups = members.len(), "Syncing targets");
    let (synced, failed) =
        sync_changed(&*ctx.load_balancers, &status.id, &members, ensured.fresh).await;
    // Keep what did sync: groups absent from the record are synced on the retry.
    ctx.applied
        .remember(&ctx.gates, &key, publisher(&key), &spec, &ensured, synced);
    if let Some((group, error)) = failed {
        let text = format!("targets of {group}: {} ({})", error, error.code());
        publish(&ctx, &svc, EventType::Warning, "FailedSyncTargets", &text).await;
        return Err(error.into());
    }
    tracing::debug!("Targets synced");
    let message = format!(
        "{} targets in {} groups",
        members.values().map(Vec::len).sum::<usize>(),
        members.len()
    );
    set_condition(&api, &svc, Some(status), true, "Reconciled", &message).await?;
    tracing::debug!("Status written");
    Ok(Action::requeue(ctx.resync))
}

/// The name the Service's groups are published under in [`Gates`].
fn publisher(key: &ObjectRef<Service>) -> String {
    format!("service {key}")
}

fn render(errors: &[ModelError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Deletes every load balancer this cluster owns for the Service.
async fn cleanup(svc: &Service, ctx: &ServiceContext) -> Result<(), ServiceError> {
    let namespace = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.name_any();
    let owned_by = |owner: &cloudnet_core::Owner| {
        owner.kind == cloudnet_core::OwnerKind::Service
            && owner.cluster == ctx.settings.cluster
            && owner.namespace.as_deref() == Some(namespace)
            && owner.name == name
    };
    let regarding = svc.object_ref(&());
    delete_owned(
        &*ctx.load_balancers,
        &ctx.recorder,
        &regarding,
        owned_by,
        "",
        "",
    )
    .await?;
    Ok(())
}

async fn publish(ctx: &ServiceContext, svc: &Service, type_: EventType, reason: &str, note: &str) {
    crate::events::publish(
        &ctx.recorder,
        &svc.object_ref(&()),
        type_,
        reason,
        crate::events::RECONCILE,
        note,
    )
    .await;
}

fn current_ingress(svc: &Service) -> Option<serde_json::Value> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .map(|i| serde_json::to_value(i).unwrap_or_default())
}

/// Writes `status.loadBalancer` (when the load balancer is known) and the condition, only
/// when they differ from what the Service shows.
async fn set_condition(
    api: &Api<Service>,
    svc: &Service,
    lb: Option<&LoadBalancerStatus>,
    ready: bool,
    reason: &str,
    message: &str,
) -> kube::Result<()> {
    let status = svc.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.clone().unwrap_or_default();
    let wanted_status = if ready { "True" } else { "False" };
    let current = conditions.iter().find(|c| c.type_ == CONDITION);
    let condition_same = current
        .is_some_and(|c| c.status == wanted_status && c.reason == reason && c.message == message);
    let ingress = lb.map(ingress_of);
    let ingress_same = ingress
        .as_ref()
        .is_none_or(|want| current_ingress(svc).as_ref() == Some(&json!(want)));
    if condition_same && ingress_same {
        return Ok(());
    }
    let transition = match current {
        Some(c) if c.status == wanted_status => c.last_transition_time.clone(),
        _ => Time(Timestamp::now()),
    };
    conditions.retain(|c| c.type_ != CONDITION);
    conditions.push(Condition {
        type_: CONDITION.into(),
        status: wanted_status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: transition,
        observed_generation: svc.metadata.generation,
    });
    let mut patch = json!({"status": {"conditions": conditions}});
    if let Some(ingress) = ingress {
        patch["status"]["loadBalancer"] = json!({"ingress": ingress});
    }
    finalizers::merge_status(api, svc, &patch).await
}
