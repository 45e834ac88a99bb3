//! The Ingress controller's loop: a kube-runtime `Controller` over Ingresses, triggered by
//! the Services, EndpointSlices, Nodes and IngressClasses they depend on, that keeps each
//! IngressGroup's load balancer and targets in step.
//!
//! ```text
//!  Ingress ─────┐                          group's members ─(model)─> ensure (spec changed
//!  Service ─────┤                                                     or resync due) ─┐
//!  slices ──────┼─> reconcile(ingress) ──> its group, and every group        sync_targets
//!  nodes ───────┤                          it is leaving (finalizers)     of changed groups
//!  IngressClass ┘                                                                      │
//!                   status.loadBalancer.ingress, Events on the Ingresses  <────────────┘
//! ```
//!
//! - An Ingress carries one finalizer per group it is in: `ingress.cloudnet.io/resources` for
//!   a group of its own, `group.ingress.cloudnet.io/<name>` for an IngressGroup. An Ingress
//!   that leaves a group (deleted, moved to another group, or no longer ours) has the group
//!   settled without it first (its rules and target groups removed; an emptied group's load
//!   balancer deleted), and only then loses the finalizer: nothing is orphaned.
//! - A group whose members cannot be built gets Warning Events on the Ingresses at fault and
//!   no cloud call; the group's load balancer stays as it was.
//! - Endpoint churn never causes an `ensure` (only the changed groups' targets are synced);
//!   every `resync` a full ensure and sync run anyway, to repair drift.
//! - Load balancers of groups with no member left (deleted while the controller was down,
//!   finalizer removed by hand) are deleted at start and every resync; only stacks with this
//!   cluster's ownership tags are ever looked at.
//! - In ingress-gce's dialect the TLS Secrets of `spec.tls` are cached and watched: a
//!   Secret's change wakes the Ingresses naming it, and its new content goes into the spec
//!   (the GCP backend uploads it as a new SSL certificate and retires the old one).
//! - Only the leader writes (to the cloud and to status); followers requeue.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudnet_core::{LoadBalancerStatus, LoadBalancers, OwnerKind, Target};
use cloudnet_crds::IngressClassParams;
use futures::FutureExt;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, IngressLoadBalancerIngress};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tracing::{Instrument, info, warn};

use super::class::{IngressSettings, is_served};
use super::group::{GroupId, MemberError, key};
use super::model::{Services, build_group};
use super::params::{effective as effective_with_params, params_of};
use crate::cache::wait_ready;
use crate::events::{RECONCILE, publish};
use crate::finalizers;
use crate::lb_controller::{
    AppliedLog, LbControllerSettings, clear_ingress, delete_owned, ensure_unless_fresh, lock,
    ready_note, sync_changed, write_ingress,
};
use crate::leader::Leadership;
use crate::metrics::Reconciles;
use crate::readiness::Gates;
use crate::service::targets::{SERVICE_NAME_LABEL, targets};

/// The finalizer of an Ingress that is a group of its own.
pub const FINALIZER: &str = "ingress.cloudnet.io/resources";
/// The finalizer prefix of an IngressGroup member; the group's name follows.
pub const GROUP_FINALIZER_PREFIX: &str = "group.ingress.cloudnet.io/";

/// The finalizer an Ingress carries while it is in `group`.
pub fn finalizer_for(group: &GroupId) -> String {
    match group {
        GroupId::Explicit(name) => format!("{GROUP_FINALIZER_PREFIX}{name}"),
        GroupId::Implicit { .. } => FINALIZER.to_string(),
    }
}

/// The groups an Ingress's finalizers say it is in.
fn finalizer_groups(ing: &Ingress) -> Vec<(String, GroupId)> {
    ing.finalizers()
        .iter()
        .filter_map(|f| {
            if f == FINALIZER {
                Some((
                    f.clone(),
                    GroupId::Implicit {
                        namespace: super::group::namespace(ing).to_string(),
                        name: ing.name_any(),
                    },
                ))
            } else {
                f.strip_prefix(GROUP_FINALIZER_PREFIX)
                    .map(|name| (f.clone(), GroupId::Explicit(name.to_string())))
            }
        })
        .collect()
}

/// Why a reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cloud: {0}")]
    Cloud(#[from] cloudnet_core::Error),
    #[error("{0} cannot be built; its load balancer is left as it is")]
    Invalid(GroupId),
}

/// Everything a reconcile needs.
pub struct IngressContext {
    pub client: Client,
    pub load_balancers: Arc<dyn LoadBalancers>,
    pub settings: IngressSettings,
    pub leadership: Option<Leadership>,
    pub resync: Duration,
    recorder: Recorder,
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    class_params: Store<IngressClassParams>,
    namespaces: Store<Namespace>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    /// ingress-gce's dialect only: the TLS Secrets `spec.tls` names.
    secrets: Option<Store<Secret>>,
    applied: AppliedLog<GroupId>,
    /// One settle at a time per group.
    group_locks: Mutex<HashMap<GroupId, Arc<tokio::sync::Mutex<()>>>>,
    metrics: Reconciles,
    gates: Gates,
}

/// Runs the Ingress controller until `shutdown` resolves.
pub async fn run(
    run: LbControllerSettings<IngressSettings>,
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
    let (classes, class_events) =
        crate::cache::reflect::<IngressClass>(&client, metrics.watch_errors());
    let (class_params, params_events) =
        crate::cache::reflect::<IngressClassParams>(&client, metrics.watch_errors());
    let (namespaces, namespace_events) =
        crate::cache::reflect::<Namespace>(&client, metrics.watch_errors());
    let (services, service_events) =
        crate::cache::reflect::<Service>(&client, metrics.watch_errors());
    let (slices, slice_events) =
        crate::cache::reflect::<EndpointSlice>(&client, metrics.watch_errors());
    let (nodes, node_events) = crate::cache::reflect::<Node>(&client, metrics.watch_errors());
    // Secrets are read (and watched, so a rotated certificate is uploaded) only in
    // ingress-gce's dialect, where spec.tls names them.
    let (secrets, secret_events) = if settings.ingress_gce {
        let (store, events) = crate::cache::reflect::<Secret>(&client, metrics.watch_errors());
        (Some(store), events.boxed())
    } else {
        (None, futures::stream::empty().boxed())
    };

    let (ingresses, ingress_events) =
        crate::cache::reflect_queued::<Ingress, _>(&client, metrics.clone(), |i| {
            ObjectRef::from_obj(i).to_string()
        });
    let controller = Controller::for_stream(ingress_events, ingresses.clone());
    let queue = metrics.clone();
    let recorder = crate::events::recorder(&client, "cloudnet-ingress-controller");
    let ctx = Arc::new(IngressContext {
        recorder,
        client,
        load_balancers,
        settings,
        leadership,
        resync,
        ingresses: ingresses.clone(),
        classes,
        class_params,
        namespaces,
        services,
        slices,
        nodes,
        secrets,
        applied: AppliedLog::new(),
        group_locks: Mutex::new(HashMap::new()),
        metrics,
        gates: gates.clone(),
    });

    // Dependencies map to the Ingresses of their namespace (a group reconcile covers the
    // rest of the group); Nodes and IngressClasses to every Ingress.
    // Every Ingress a trigger wakes counts in the queue depth until its reconcile starts.
    let queued = move |i: &Ingress| {
        let key = ObjectRef::from_obj(i);
        queue.queued(key.to_string());
        key
    };
    let in_namespace = |store: Store<Ingress>| {
        let queued = queued.clone();
        move |ns: Option<String>| {
            store
                .state()
                .into_iter()
                .filter(|i| i.metadata.namespace == ns)
                .map(|i| queued(&i))
                .collect::<Vec<_>>()
        }
    };
    let everyone = |store: Store<Ingress>| {
        let queued = queued.clone();
        move || {
            store
                .state()
                .into_iter()
                .map(|i| queued(&i))
                .collect::<Vec<_>>()
        }
    };
    // A Service (or its slices) wakes only the Ingresses that may route to it.
    let routing_to = |store: Store<Ingress>| {
        let queued = queued.clone();
        move |ns: Option<String>, service: &str| {
            store
                .state()
                .into_iter()
                .filter(|i| i.metadata.namespace == ns && may_route_to(i, service))
                .map(|i| queued(&i))
                .collect::<Vec<_>>()
        }
    };
    let by_service = routing_to(ingresses.clone());
    let by_slice = routing_to(ingresses.clone());
    let by_gated_pod = in_namespace(ingresses.clone());
    let by_node = everyone(ingresses.clone());
    let by_class = everyone(ingresses.clone());
    let by_params = everyone(ingresses.clone());
    let by_namespace = in_namespace(ingresses.clone());
    let naming_secret = {
        let store = ingresses.clone();
        let queued = queued.clone();
        move |s: Secret| {
            let name = s.name_any();
            store
                .state()
                .into_iter()
                .filter(|i| {
                    i.metadata.namespace == s.metadata.namespace
                        && super::gce::tls_secret_names(i).contains(&name)
                })
                .map(|i| queued(&i))
                .collect::<Vec<_>>()
        }
    };

    let gc = tokio::spawn(collect_garbage(ctx.clone()));
    controller
        .watches_stream(
            service_events.map(Ok::<_, watcher::Error>),
            move |s: Service| by_service(s.metadata.namespace.clone(), &s.name_any()),
        )
        .watches_stream(
            slice_events.map(Ok::<_, watcher::Error>),
            move |s: EndpointSlice| match s.labels().get(SERVICE_NAME_LABEL) {
                Some(service) => by_slice(s.metadata.namespace.clone(), service),
                None => Vec::new(),
            },
        )
        .watches_stream(node_events.map(Ok::<_, watcher::Error>), move |_: Node| {
            by_node()
        })
        // A pod that starts or stops waiting for its readiness gate changes the targets.
        .watches_stream(
            gates.subscribe().map(Ok::<_, watcher::Error>),
            move |pod: Pod| by_gated_pod(pod.metadata.namespace.clone()),
        )
        .watches_stream(
            class_events.map(Ok::<_, watcher::Error>),
            move |_: IngressClass| by_class(),
        )
        .watches_stream(
            params_events.map(Ok::<_, watcher::Error>),
            move |_: IngressClassParams| by_params(),
        )
        .watches_stream(
            namespace_events.map(Ok::<_, watcher::Error>),
            move |n: Namespace| by_namespace(n.metadata.name.clone()),
        )
        .watches_stream(secret_events.map(Ok::<_, watcher::Error>), naming_secret)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| std::future::ready(()))
        .await;
    gc.abort();
}

/// Whether the Ingress may route to the Service `name` of its namespace: a backend of its
/// rules or its default backend names it, or some annotation's value mentions it (an
/// `actions.<name>` forward). A superset, used only to decide whom a change wakes.
fn may_route_to(ing: &Ingress, name: &str) -> bool {
    let names = |b: &k8s_openapi::api::networking::v1::IngressBackend| {
        b.service.as_ref().is_some_and(|s| s.name == name)
    };
    let in_spec = ing.spec.as_ref().is_some_and(|s| {
        s.default_backend.as_ref().is_some_and(names)
            || s.rules
                .iter()
                .flatten()
                .filter_map(|r| r.http.as_ref())
                .flat_map(|h| &h.paths)
                .any(|p| names(&p.backend))
    });
    in_spec || ing.annotations().values().any(|v| v.contains(name))
}

fn error_policy(ing: Arc<Ingress>, error: &IngressError, _ctx: Arc<IngressContext>) -> Action {
    warn!(ingress = %ObjectRef::from_obj(&*ing), %error, "Reconcile failed");
    match error {
        IngressError::Cloud(cloudnet_core::Error::Throttled {
            retry_after: Some(after),
            ..
        }) => Action::requeue(*after),
        IngressError::Invalid(_) => Action::requeue(Duration::from_secs(30)),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(ing: Arc<Ingress>, ctx: Arc<IngressContext>) -> Result<Action, IngressError> {
    let key = ObjectRef::from_obj(&*ing);
    let span = tracing::info_span!("reconcile_ingress", ingress = %key);
    let work = reconcile_inner(ing, ctx.clone()).instrument(span);
    (ctx.metrics)
        .leader_only(&key.to_string(), ctx.leadership.as_ref(), work)
        .await
}

/// The group the Ingress should be in now, if any, and the Ingress as the model reads it
/// (its class's IngressClassParams applied).
fn effective(ing: &Ingress, ctx: &IngressContext) -> Result<Option<(GroupId, Ingress)>, String> {
    effective_in(ing, &ClassView::of(ctx), ctx)
}

/// The IngressClasses and IngressClassParams as one pass over many Ingresses reads them.
struct ClassView {
    classes: Vec<IngressClass>,
    params: Vec<IngressClassParams>,
}

impl ClassView {
    fn of(ctx: &IngressContext) -> ClassView {
        ClassView {
            classes: ctx.classes.state().iter().map(|c| (**c).clone()).collect(),
            params: ctx
                .class_params
                .state()
                .iter()
                .map(|p| (**p).clone())
                .collect(),
        }
    }
}

/// [`effective`] with the classes and params read once by the caller.
fn effective_in(
    ing: &Ingress,
    view: &ClassView,
    ctx: &IngressContext,
) -> Result<Option<(GroupId, Ingress)>, String> {
    if ing.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let (classes, params) = (&view.classes, &view.params);
    if !is_served(ing, classes, &ctx.settings) {
        return Ok(None);
    }
    let ing = effective_with_params(ing, classes, params, |namespace| {
        ctx.namespaces
            .state()
            .iter()
            .find(|n| n.name_any() == namespace)
            .map(|n| n.labels().clone())
            .unwrap_or_default()
    })?;
    Ok(Some((GroupId::in_settings(&ing, &ctx.settings)?, ing)))
}

/// The group the Ingress should be in now, if any.
fn wanted_group(ing: &Ingress, ctx: &IngressContext) -> Result<Option<GroupId>, String> {
    effective(ing, ctx).map(|e| e.map(|(g, _)| g))
}

/// Whether the Secrets' cache has listed (a Secret not yet listed would read as missing).
fn secrets_ready(ctx: &IngressContext) -> bool {
    ctx.secrets
        .as_ref()
        .is_none_or(|s| matches!(s.wait_until_ready().now_or_never(), Some(Ok(()))))
}

/// Whether the caches IngressClassParams need have listed: only when some IngressClass
/// names parameters (without the CRD installed, its cache never lists).
fn params_caches_ready(ctx: &IngressContext) -> bool {
    let names_params = ctx
        .classes
        .state()
        .iter()
        .any(|c| c.spec.as_ref().is_some_and(|s| s.parameters.is_some()));
    let listed = |ready: Option<Result<(), _>>| matches!(ready, Some(Ok(())));
    !names_params
        || (listed(ctx.class_params.wait_until_ready().now_or_never())
            && listed(ctx.namespaces.wait_until_ready().now_or_never()))
}

async fn reconcile_inner(
    ing: Arc<Ingress>,
    ctx: Arc<IngressContext>,
) -> Result<Action, IngressError> {
    if ctx.leadership.as_ref().is_some_and(|l| !l.is_leader()) {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    if !params_caches_ready(&ctx) || !secrets_ready(&ctx) {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let api: Api<Ingress> = Api::namespaced(ctx.client.clone(), super::group::namespace(&ing));
    let wanted = match wanted_group(&ing, &ctx) {
        Ok(g) => g,
        Err(text) => {
            event(
                &ctx,
                &ing,
                EventType::Warning,
                "InvalidConfiguration",
                &text,
            )
            .await;
            // Stay in the groups it is in until it names a valid one.
            return Ok(Action::await_change());
        }
    };
    // Leave every group it is in but should not be.
    for (finalizer, group) in finalizer_groups(&ing) {
        if Some(&group) == wanted.as_ref() {
            continue;
        }
        settle(&ctx, &group, Some(&ing), &ing).await?;
        finalizers::remove(&api, &ing, &finalizer).await?;
        info!(%group, "Left the group");
    }
    let Some(group) = wanted else {
        if ing.metadata.deletion_timestamp.is_none() && has_load_balancer_status(&ing) {
            clear_ingress(&api, &*ing).await?;
        }
        return Ok(Action::await_change());
    };
    let finalizer = finalizer_for(&group);
    if !ing.finalizers().contains(&finalizer) {
        finalizers::add(&api, &ing, &finalizer).await?;
    }
    settle(&ctx, &group, None, &ing).await?;
    Ok(Action::requeue(ctx.resync))
}

/// The served, living members of `group`, without `leaving`, as the model reads them.
///
/// Every reconcile looks at every Ingress here, so the common case is kept cheap: an
/// Ingress whose class names no IngressClassParams is read as it is (no copy), and its
/// group is its annotation's.
fn members(ctx: &IngressContext, group: &GroupId, leaving: Option<&Ingress>) -> Vec<Arc<Ingress>> {
    let leaving = leaving.map(key);
    let view = ClassView::of(ctx);
    let mut out: Vec<Arc<Ingress>> = ctx
        .ingresses
        .state()
        .into_iter()
        .filter(|i| Some(key(i)) != leaving)
        .filter_map(|i| {
            if matches!(params_of(&i, &view.classes, &view.params), Ok(None)) {
                let member = i.metadata.deletion_timestamp.is_none()
                    && is_served(&i, &view.classes, &ctx.settings)
                    && GroupId::in_settings(&i, &ctx.settings).is_ok_and(|g| &g == group);
                return member.then_some(i);
            }
            match effective_in(&i, &view, ctx) {
                Ok(Some((g, effective))) if &g == group => Some(Arc::new(effective)),
                _ => None,
            }
        })
        .collect();
    out.sort_by_key(|i| key(i));
    out
}

/// Makes the cloud match `group`'s members (without `leaving`): its load balancer ensured
/// and targets synced, or deleted when no member is left. `about` is the Ingress whose
/// reconcile this is (for Events when the group is emptied).
async fn settle(
    ctx: &IngressContext,
    group: &GroupId,
    leaving: Option<&Ingress>,
    about: &Ingress,
) -> Result<(), IngressError> {
    // The Controller runs reconciles of different Ingresses at once; two members of one
    // group must not ensure its load balancer at the same time (each would create one).
    let group_lock = lock(&ctx.group_locks)
        .entry(group.clone())
        .or_default()
        .clone();
    let _settling = group_lock.lock().await;
    let members = members(ctx, group, leaving);
    if members.is_empty() {
        return delete_group(ctx, group, about).await;
    }
    // Only the Services some member may route to are copied (every reconcile does this).
    let services: Services = ctx
        .services
        .state()
        .into_iter()
        .filter(|s| {
            members.iter().any(|m| {
                m.metadata.namespace == s.metadata.namespace && may_route_to(m, &s.name_any())
            })
        })
        .map(|s| {
            (
                (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.name_any(),
                ),
                (*s).clone(),
            )
        })
        .collect();
    let services = if ctx.settings.ingress_gce {
        super::gce::resolve_backend_configs(&ctx.client, services).await
    } else {
        services
    };
    // The TLS Secrets of spec.tls, read from the cache onto copies for the model.
    let with_secrets: Vec<Ingress> = match &ctx.secrets {
        Some(store) => members
            .iter()
            .map(|m| {
                super::gce::with_tls_secrets(m, |ns, name| {
                    store
                        .get(&ObjectRef::new(name).within(ns))
                        .map(|s| (*s).clone())
                })
            })
            .collect(),
        None => members.iter().map(|m| (**m).clone()).collect(),
    };
    let refs: Vec<&Ingress> = with_secrets.iter().collect();
    let spec = match build_group(group, &refs, &services, &ctx.settings) {
        Ok(built) => {
            report_as(ctx, &members, &built.warnings, "ConflictingRule").await;
            built.spec
        }
        Err(errors) => {
            report(ctx, &members, &errors).await;
            return Err(IngressError::Invalid(group.clone()));
        }
    };

    let previous = ctx.applied.get(group);
    let ensured =
        match ensure_unless_fresh(&*ctx.load_balancers, &spec, previous.as_ref(), ctx.resync).await
        {
            Ok(ensured) => ensured,
            Err(error) => {
                let text = format!("{group}: {} ({})", error, error.code());
                for m in &members {
                    event(ctx, m, EventType::Warning, "FailedDeployModel", &text).await;
                }
                return Err(error.into());
            }
        };
    let status = &ensured.status;
    if ensured.changed {
        let note = format!("{group}: {}", ready_note(status));
        for m in &members {
            event(ctx, m, EventType::Normal, "SuccessfullyReconciled", &note).await;
        }
    }
    for m in &members {
        write_status(ctx, m, status).await?;
    }

    let backend_services: BTreeSet<(String, String)> = spec
        .groups
        .iter()
        .filter_map(|g| {
            let (ns, rest) = g.key.split_once('/')?;
            let (name, _) = rest.rsplit_once(':')?;
            Some((ns.to_string(), name.to_string()))
        })
        .collect();
    // The slices of the backend Services only, and the Nodes only for instance targets.
    let mut slices: Vec<EndpointSlice> = ctx
        .slices
        .state()
        .iter()
        .filter(|s| {
            s.labels().get(SERVICE_NAME_LABEL).is_some_and(|name| {
                backend_services.contains(&(
                    s.metadata.namespace.clone().unwrap_or_default(),
                    name.clone(),
                ))
            })
        })
        .map(|s| (**s).clone())
        .collect();
    ctx.gates.admit_waiting(&mut slices);
    let instance_targets = spec
        .groups
        .iter()
        .any(|g| g.target_kind == cloudnet_core::TargetKind::NodePort);
    let nodes: Vec<Node> = if instance_targets {
        ctx.nodes.state().iter().map(|n| (**n).clone()).collect()
    } else {
        Vec::new()
    };
    let mut wanted: BTreeMap<String, Vec<Target>> = BTreeMap::new();
    for id in &backend_services {
        if let Some(svc) = services.get(id) {
            wanted.extend(targets(svc, &spec, &slices, &nodes));
        }
    }
    let (synced, failed) =
        sync_changed(&*ctx.load_balancers, &status.id, &wanted, ensured.fresh).await;
    let publisher = format!("ingress {group}");
    ctx.applied
        .remember(&ctx.gates, group, publisher, &spec, &ensured, synced);
    if let Some((g, error)) = failed {
        let text = format!("targets of {g}: {} ({})", error, error.code());
        for m in &members {
            event(ctx, m, EventType::Warning, "FailedSyncTargets", &text).await;
        }
        return Err(error.into());
    }
    Ok(())
}

/// Deletes the load balancer(s) this cluster owns for `group`.
async fn delete_group(
    ctx: &IngressContext,
    group: &GroupId,
    about: &Ingress,
) -> Result<(), IngressError> {
    let owner = group.owner(&ctx.settings.cluster);
    delete_owned(
        &*ctx.load_balancers,
        &ctx.recorder,
        &about.object_ref(&()),
        |o| *o == owner,
        &format!("{group}: "),
        " (no Ingress left)",
    )
    .await?;
    ctx.applied
        .forget(&ctx.gates, group, format!("ingress {group}"));
    Ok(())
}

/// Load balancers of Ingress groups with no member left, deleted (at start, once the
/// caches are synced, and every resync).
async fn collect_garbage(ctx: Arc<IngressContext>) {
    if wait_ready(&ctx.ingresses).await.is_err() || wait_ready(&ctx.classes).await.is_err() {
        return;
    }
    tracing::debug!("Ingress garbage collection starts");
    loop {
        if ctx.leadership.as_ref().is_none_or(Leadership::is_leader)
            && let Err(error) = sweep(&ctx).await
        {
            warn!(%error, "Ingress garbage collection failed");
        }
        tokio::time::sleep(ctx.resync).await;
    }
}

async fn sweep(ctx: &IngressContext) -> Result<(), IngressError> {
    let owned = ctx.load_balancers.list_owned().await?;
    // Groups some Ingress is in or still holds by its finalizer.
    let mut live: BTreeSet<GroupId> = BTreeSet::new();
    for ing in ctx.ingresses.state() {
        if let Ok(Some(g)) = wanted_group(&ing, ctx) {
            live.insert(g);
        }
        live.extend(finalizer_groups(&ing).into_iter().map(|(_, g)| g));
    }
    for lb in owned {
        if lb.owner.cluster != ctx.settings.cluster {
            continue;
        }
        let group = match lb.owner.kind {
            OwnerKind::IngressGroup => GroupId::Explicit(lb.owner.name.clone()),
            OwnerKind::Ingress => GroupId::Implicit {
                namespace: lb.owner.namespace.clone().unwrap_or_default(),
                name: lb.owner.name.clone(),
            },
            _ => continue,
        };
        if live.contains(&group) {
            continue;
        }
        ctx.load_balancers.delete(&lb.id).await?;
        ctx.applied.remove(&group);
        info!(%group, id = %lb.id.0, "Deleted the load balancer of a group with no Ingress");
    }
    Ok(())
}

/// Every member error as a Warning Event on its own Ingress (one Event per Ingress).
async fn report(ctx: &IngressContext, members: &[Arc<Ingress>], errors: &[MemberError]) {
    report_as(ctx, members, errors, "InvalidConfiguration").await;
}

/// [`report`] with the Events' reason.
async fn report_as(
    ctx: &IngressContext,
    members: &[Arc<Ingress>],
    errors: &[MemberError],
    reason: &str,
) {
    let mut by_ingress: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in errors {
        by_ingress.entry(&e.ingress).or_default().push(&e.message);
    }
    for m in members {
        if let Some(texts) = by_ingress.get(key(m).as_str()) {
            event(ctx, m, EventType::Warning, reason, &texts.join("; ")).await;
        }
    }
}

async fn event(ctx: &IngressContext, ing: &Ingress, type_: EventType, reason: &str, note: &str) {
    publish(
        &ctx.recorder,
        &ing.object_ref(&()),
        type_,
        reason,
        RECONCILE,
        note,
    )
    .await;
}

/// `status.loadBalancer.ingress` as the Ingress shows it.
fn shown_ingress(ing: &Ingress) -> Option<&Vec<IngressLoadBalancerIngress>> {
    ing.status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()
}

fn has_load_balancer_status(ing: &Ingress) -> bool {
    shown_ingress(ing).is_some_and(|i| !i.is_empty())
}

async fn write_status(
    ctx: &IngressContext,
    ing: &Ingress,
    lb: &LoadBalancerStatus,
) -> kube::Result<()> {
    let shown = shown_ingress(ing).map(|i| serde_json::to_value(i).unwrap_or_default());
    let api: Api<Ingress> = Api::namespaced(ctx.client.clone(), super::group::namespace(ing));
    write_ingress(&api, ing, shown, lb).await
}
