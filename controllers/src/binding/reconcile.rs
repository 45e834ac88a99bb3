//! The TargetGroupBinding loop: a kube-runtime `Controller` over bindings, triggered by their
//! Services, the Services' EndpointSlices, and Nodes (instance bindings).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudnet_core::{BoundGroup, LoadBalancers, Target, TargetKind};
use cloudnet_crds::{BindingTargetType, TargetGroupBinding, TargetGroupBindingStatus};
use futures::StreamExt;
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
use tracing::{Instrument, info, warn};

use super::resolve::{format_targets, parse_targets, resolve, target_kind};
use crate::cache::wait_ready;
use crate::finalizers;
use crate::lb_controller::lock;
use crate::leader::Leadership;
use crate::metrics::Reconciles;
use crate::readiness::{Backing, Gates};
use crate::service::targets::SERVICE_NAME_LABEL;

/// The finalizer that holds a binding until its targets are deregistered.
pub const FINALIZER: &str = "targetgroupbinding.cloudnet.io/targets";
/// The condition on the binding's status.
pub const CONDITION: &str = "Ready";

/// Why a reconcile failed (it is retried with backoff).
pub type BindingError = crate::lb_controller::ReconcileError;

struct Context {
    client: Client,
    load_balancers: Arc<dyn LoadBalancers>,
    leadership: Option<Leadership>,
    resync: Duration,
    recorder: Recorder,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    metrics: Reconciles,
    gates: Gates,
    /// What each binding last synced: (generation, targets, when).
    applied: Mutex<HashMap<ObjectRef<TargetGroupBinding>, Applied>>,
}

/// What a binding last synced: its generation, its targets, when.
type Applied = (Option<i64>, Vec<Target>, tokio::time::Instant);

fn key_of(b: &TargetGroupBinding) -> String {
    format!("{}/{}", b.namespace().unwrap_or_default(), b.name_any())
}

/// Runs the TargetGroupBinding controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    load_balancers: Arc<dyn LoadBalancers>,
    leadership: Option<Leadership>,
    resync: Duration,
    metrics: Reconciles,
    gates: Gates,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (bindings, binding_events) =
        crate::cache::reflect_queued::<TargetGroupBinding, _>(&client, metrics.clone(), key_of);
    let (services, service_events) =
        crate::cache::reflect::<Service>(&client, metrics.watch_errors());
    let (slices, slice_events) =
        crate::cache::reflect::<EndpointSlice>(&client, metrics.watch_errors());
    let (nodes, node_events) = crate::cache::reflect::<Node>(&client, metrics.watch_errors());
    let recorder = crate::events::recorder(&client, "cloudnet-targetgroupbinding-controller");
    let ctx = Arc::new(Context {
        recorder,
        client,
        load_balancers,
        leadership,
        resync,
        services,
        slices,
        nodes,
        metrics: metrics.clone(),
        gates: gates.clone(),
        applied: Mutex::new(HashMap::new()),
    });
    // The bindings that name a Service (namespace, name), and those of instance type.
    let by_service = {
        let bindings = bindings.clone();
        let metrics = metrics.clone();
        move |namespace: Option<String>, name: Option<String>| {
            let (Some(ns), Some(name)) = (namespace, name) else {
                return Vec::new();
            };
            bindings
                .state()
                .into_iter()
                .filter(|b| b.namespace().as_deref() == Some(ns.as_str()))
                .filter(|b| b.spec.service_ref.name == name)
                .map(|b| {
                    metrics.queued(key_of(&b));
                    ObjectRef::from_obj(&*b)
                })
                .collect::<Vec<_>>()
        }
    };
    let for_service = by_service.clone();
    let for_gated_pod = by_service.clone();
    let gate_bindings = bindings.clone();
    let for_slice = by_service;
    let node_bindings = bindings.clone();
    let node_metrics = metrics.clone();
    Controller::for_stream(binding_events, bindings)
        .watches_stream(
            service_events.map(Ok::<_, watcher::Error>),
            move |s: Service| for_service(s.namespace(), Some(s.name_any())),
        )
        .watches_stream(
            slice_events.map(Ok::<_, watcher::Error>),
            move |s: EndpointSlice| {
                let name = s.labels().get(SERVICE_NAME_LABEL).cloned();
                for_slice(s.namespace(), name)
            },
        )
        .watches_stream(node_events.map(Ok::<_, watcher::Error>), move |_n: Node| {
            node_bindings
                .state()
                .into_iter()
                .filter(|b| b.spec.target_type == BindingTargetType::Instance)
                .map(|b| {
                    node_metrics.queued(key_of(&b));
                    ObjectRef::from_obj(&*b)
                })
                .collect::<Vec<_>>()
        })
        // A pod that starts or stops waiting for its readiness gate changes the targets of
        // the bindings of its namespace.
        .watches_stream(
            gates.subscribe().map(Ok::<_, watcher::Error>),
            move |pod: Pod| {
                let namespace = pod.metadata.namespace.clone();
                gate_bindings
                    .state()
                    .into_iter()
                    .filter(|b| b.namespace() == namespace)
                    .flat_map(|b| {
                        for_gated_pod(namespace.clone(), Some(b.spec.service_ref.name.clone()))
                    })
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
}

fn error_policy(b: Arc<TargetGroupBinding>, error: &BindingError, _ctx: Arc<Context>) -> Action {
    warn!(binding = %key_of(&b), %error, "Reconcile failed");
    match error {
        BindingError::Cloud(cloudnet_core::Error::Throttled {
            retry_after: Some(after),
            ..
        }) => Action::requeue(*after),
        BindingError::Cloud(cloudnet_core::Error::NotFound { .. }) => {
            Action::requeue(Duration::from_secs(30))
        }
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(b: Arc<TargetGroupBinding>, ctx: Arc<Context>) -> Result<Action, BindingError> {
    let key = key_of(&b);
    let span = tracing::info_span!("reconcile_targetgroupbinding", binding = %key);
    let work = reconcile_inner(b, &ctx).instrument(span);
    (ctx.metrics)
        .leader_only(&key, ctx.leadership.as_ref(), work)
        .await
}

async fn reconcile_inner(
    b: Arc<TargetGroupBinding>,
    ctx: &Context,
) -> Result<Action, BindingError> {
    let namespace = b.namespace().unwrap_or_else(|| "default".into());
    let api: Api<TargetGroupBinding> = Api::namespaced(ctx.client.clone(), &namespace);
    let oref = ObjectRef::from_obj(&*b);
    let group = BoundGroup {
        id: b.spec.target_group_arn.clone(),
        target_kind: target_kind(b.spec.target_type),
    };
    let status = b.status.clone().unwrap_or_default();
    let mut managed = parse_targets(&status.registered_targets);
    // Where the registered targets are: the spec's group unless it changed since.
    let registered_in = match (&status.target_group_arn, status.target_type) {
        (Some(arn), Some(t)) => BoundGroup {
            id: arn.clone(),
            target_kind: target_kind(t),
        },
        _ => group.clone(),
    };
    let has_finalizer = b.finalizers().iter().any(|f| f == FINALIZER);

    if b.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            deregister_all(ctx, &b, &registered_in, &managed, "deregistering").await?;
            info!(
                targets = managed.len(),
                "Deregistered the binding's targets"
            );
            finalizers::remove(&api, &b, FINALIZER).await?;
        }
        lock(&ctx.applied).remove(&oref);
        ctx.gates.publish(gate_publisher(&b), Vec::new());
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        finalizers::add(&api, &b, FINALIZER).await?;
    }

    // Every reconcile waits here at first; the store's own wait wakes only one waiter.
    wait_ready(&ctx.services).await.ok();
    wait_ready(&ctx.slices).await.ok();
    wait_ready(&ctx.nodes).await.ok();
    let svc = ctx
        .services
        .get(&ObjectRef::new(&b.spec.service_ref.name).within(&namespace));
    let mut slices: Vec<EndpointSlice> = ctx.slices.state().iter().map(|s| (**s).clone()).collect();
    ctx.gates.admit_waiting(&mut slices);
    let nodes: Vec<Node> = ctx.nodes.state().iter().map(|n| (**n).clone()).collect();
    let wanted = match resolve(&namespace, &b.spec, svc.as_deref(), &slices, &nodes) {
        Ok(t) => t,
        Err(e) => {
            let text = e.to_string();
            publish(ctx, &b, EventType::Warning, e.reason(), &text).await;
            write_status(&api, &b, &status, None, false, e.reason(), &text).await?;
            return Ok(Action::await_change());
        }
    };

    if registered_in != group && !managed.is_empty() {
        // Moved to another group or type: out of the old group first.
        let doing = format!("deregistering from {}", registered_in.id);
        deregister_all(ctx, &b, &registered_in, &managed, &doing).await?;
        let note = format!(
            "deregistered {} targets from {} (the binding moved)",
            managed.len(),
            registered_in.id
        );
        publish(ctx, &b, EventType::Normal, "DeregisteredTargets", &note).await;
        write_status(&api, &b, &status, Some(&[]), false, "Moving", &note).await?;
        managed.clear();
    }
    let fresh = lock(&ctx.applied)
        .get(&oref)
        .is_some_and(|(generation, targets, at)| {
            *generation == b.metadata.generation
                && *targets == wanted
                && at.elapsed() < ctx.resync
                && managed == wanted
        });
    if fresh {
        return Ok(Action::requeue(ctx.resync));
    }
    let synced = match ctx
        .load_balancers
        .sync_bound_targets(&group, &wanted, &managed)
        .await
    {
        Ok(s) => s,
        Err(error) => {
            let reason = match &error {
                cloudnet_core::Error::NotFound { code, .. }
                | cloudnet_core::Error::InvalidInput { code, .. } => code.clone(),
                _ => "FailedSyncTargets".to_string(),
            };
            let text = format!("{error} ({})", error.code());
            publish(ctx, &b, EventType::Warning, &reason, &text).await;
            write_status(&api, &b, &status, None, false, &reason, &text).await?;
            lock(&ctx.applied).remove(&oref);
            return Err(error.into());
        }
    };
    if synced.registered > 0 || synced.deregistered > 0 {
        let note = format!(
            "registered {}, deregistered {} targets in {}",
            synced.registered, synced.deregistered, group.id
        );
        publish(ctx, &b, EventType::Normal, "SyncedTargets", &note).await;
    }
    let bound = match group.target_kind {
        TargetKind::PodIp => vec![(
            Backing::Binding {
                namespace: namespace.clone(),
                name: b.name_any(),
            },
            group.id.clone(),
        )],
        TargetKind::NodePort => Vec::new(),
    };
    ctx.gates.publish(gate_publisher(&b), bound);
    lock(&ctx.applied).insert(
        oref,
        (
            b.metadata.generation,
            wanted.clone(),
            tokio::time::Instant::now(),
        ),
    );
    let message = format!("{} targets registered", wanted.len());
    write_status(&api, &b, &status, Some(&wanted), true, "Synced", &message).await?;
    Ok(Action::requeue(ctx.resync))
}

/// The name a binding's group is published under in [`Gates`].
fn gate_publisher(b: &TargetGroupBinding) -> String {
    format!("binding {}", key_of(b))
}

/// Deregisters the `managed` targets from `group` (a group that is gone holds none of them
/// any more); a failure is a Warning Event that names what it was `doing`.
async fn deregister_all(
    ctx: &Context,
    b: &TargetGroupBinding,
    group: &BoundGroup,
    managed: &[Target],
    doing: &str,
) -> Result<(), BindingError> {
    match ctx
        .load_balancers
        .sync_bound_targets(group, &[], managed)
        .await
    {
        Ok(_) | Err(cloudnet_core::Error::NotFound { .. }) => Ok(()),
        Err(error) => {
            let text = format!("{doing}: {error} ({})", error.code());
            publish(ctx, b, EventType::Warning, "FailedDeregister", &text).await;
            Err(error.into())
        }
    }
}

async fn publish(
    ctx: &Context,
    b: &TargetGroupBinding,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    crate::events::publish(
        &ctx.recorder,
        &b.object_ref(&()),
        type_,
        reason,
        crate::events::RECONCILE,
        note,
    )
    .await;
}

/// Writes the status when it differs: `registered` (after a successful sync) replaces the
/// target list; without it the list stays (nothing was deregistered).
async fn write_status(
    api: &Api<TargetGroupBinding>,
    b: &TargetGroupBinding,
    current: &TargetGroupBindingStatus,
    registered: Option<&[Target]>,
    ready: bool,
    reason: &str,
    message: &str,
) -> kube::Result<()> {
    let mut next = current.clone();
    next.observed_generation = b.metadata.generation;
    if let Some(targets) = registered {
        next.registered_targets = format_targets(targets);
        next.targets = u32::try_from(targets.len()).unwrap_or(u32::MAX);
        next.target_group_arn = Some(b.spec.target_group_arn.clone());
        next.target_type = Some(b.spec.target_type);
    }
    let wanted_status = if ready { "True" } else { "False" };
    let transition = match next.conditions.iter().find(|c| c.type_ == CONDITION) {
        Some(c) if c.status == wanted_status => c.last_transition_time.clone(),
        _ => Time(Timestamp::now()),
    };
    next.conditions.retain(|c| c.type_ != CONDITION);
    next.conditions.push(Condition {
        type_: CONDITION.into(),
        status: wanted_status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: transition,
        observed_generation: b.metadata.generation,
    });
    let same = |a: &TargetGroupBindingStatus, b: &TargetGroupBindingStatus| {
        let strip = |s: &TargetGroupBindingStatus| {
            let mut s = s.clone();
            for c in &mut s.conditions {
                c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
            }
            s
        };
        strip(a) == strip(b)
    };
    if same(current, &next) {
        return Ok(());
    }
    let patch = json!({"status": next});
    finalizers::merge_status(api, b, &patch).await
}
