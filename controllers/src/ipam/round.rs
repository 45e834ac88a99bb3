//! One node's round: the Kubernetes side of the allocator for a single `NodeNetwork`.
//!
//! ```text
//!  no NodeNetwork, Node has providerID ──▶ create it (owned by the Node, with our finalizer)
//!  NodeNetwork being deleted            ──▶ Node gone: free its addresses; drop the finalizer
//!  otherwise ──▶ plan on the last status (no cloud call) ──idle──▶ refresh the status only
//!                          │ steps
//!                          ▼
//!               describe_node ─▶ plan ─▶ apply ─▶ status + conditions + Events
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cloudnet_core::{AddressCapabilities, Addresses, Error as CloudError, NodeRef};
use cloudnet_crds::{InterfaceConfig, NodeNetwork, NodeNetworkSpec, NodeNetworkStatus};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::apply::{Outcome, apply, free_node};
use super::interface_config::{config_name, new_interface};
use super::metrics::{AllocatorMetrics, RoundResult};
use super::plan::{Plan, PlanInput, plan};
use super::provider_id::node_ref;
use super::status::{StatusInput, build, node_from_status};
use super::target::{PoolKnobs, pool_target};
use crate::error::{Error, Result};

/// Our finalizer on every `NodeNetwork`: the node's addresses are freed before it goes.
pub const FINALIZER: &str = "cloudnet.io/ipam-allocator";

/// What every round shares.
pub struct Context {
    pub client: kube::Client,
    pub cloud: Arc<dyn Addresses>,
    pub capabilities: AddressCapabilities,
    pub knobs: PoolKnobs,
    /// Cloud steps of one node's round in flight at most.
    pub node_parallelism: usize,
    pub interface_config_label: Option<String>,
    pub resync: Duration,
    pub networks: Store<NodeNetwork>,
    pub nodes: Store<Node>,
    pub interface_configs: Store<InterfaceConfig>,
    pub recorder: Recorder,
    pub metrics: AllocatorMetrics,
}

/// When the node is to be looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Only when something changes (or the resync).
    Resync,
    /// Right away: the pool is still short and the cloud can give more.
    Now,
    /// After a failure, with backoff.
    Backoff,
}

/// The knobs for one node.
pub fn knobs_for(base: &PoolKnobs, spec: &NodeNetworkSpec) -> PoolKnobs {
    base.with_overrides(&spec.pool)
}

/// The node's address deficit as its last status shows it: the queue's priority. Unknown
/// (no status yet) ranks first: a new node has its whole pool to get.
pub fn priority(base: &PoolKnobs, nn: &NodeNetwork) -> u64 {
    let offered: BTreeSet<IpNet> = nn.spec.release.iter().map(|o| o.block).collect();
    let Some(c) = nn
        .status
        .as_ref()
        .and_then(|s| super::status::counts_from_status(s, nn.spec.in_use, &offered))
    else {
        return u64::from(u32::MAX);
    };
    let t = pool_target(&knobs_for(base, &nn.spec), c);
    // Pods waiting for an address weigh more than topping up the warm pool.
    let waiting = u64::from(c.in_use.saturating_sub(c.held));
    waiting * 1_000_000 + u64::from(t.deficit())
}

/// One round for the node `name`.
pub async fn round(ctx: &Context, name: &str) -> Result<Next> {
    let nn = ctx.networks.get(&ObjectRef::new(name));
    let node = ctx.nodes.get(&ObjectRef::new(name));
    let Some(nn) = nn else {
        if let Some(node) = node {
            create_network(ctx, &node).await?;
        }
        return Ok(Next::Resync);
    };
    if nn.metadata.deletion_timestamp.is_some() {
        finalize(ctx, &nn).await?;
        return Ok(Next::Resync);
    }
    if !nn.finalizers().iter().any(|f| f == FINALIZER) {
        add_finalizer(ctx, name).await?;
    }
    serve(ctx, &nn, node.as_deref()).await
}

async fn create_network(ctx: &Context, node: &Node) -> Result<()> {
    let Some(provider_id) = node.spec.as_ref().and_then(|s| s.provider_id.clone()) else {
        // The cloud node manager sets it; the Node's next change brings us back.
        return Ok(());
    };
    let name = node.name_any();
    node_ref(&name, &provider_id)?;
    let nn = owned_network(node, provider_id, Some(vec![FINALIZER.to_string()]));
    let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
    match api.create(&PostParams::default(), &nn).await {
        Ok(_) => {
            tracing::info!(node = %name, "NodeNetwork created");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A new NodeNetwork for `node`, owned by it (so it goes with the Node).
pub(super) fn owned_network(
    node: &Node,
    provider_id: String,
    finalizers: Option<Vec<String>>,
) -> NodeNetwork {
    let name = node.name_any();
    NodeNetwork {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name,
                uid: node.uid().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            finalizers,
            ..Default::default()
        },
        spec: NodeNetworkSpec {
            provider_id,
            ..Default::default()
        },
        status: None,
    }
}

async fn add_finalizer(ctx: &Context, name: &str) -> Result<()> {
    let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
    let current = api.get(name).await?;
    let mut finalizers = current.finalizers().to_vec();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        finalizers.push(FINALIZER.to_string());
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": current.resource_version()}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
    }
    Ok(())
}

/// The NodeNetwork is going. When its Node is gone too, the node's addresses are freed in the
/// cloud first; when the Node is still there (the NodeNetwork alone was deleted), the
/// addresses stay for the pods using them and a new NodeNetwork picks them up.
async fn finalize(ctx: &Context, nn: &NodeNetwork) -> Result<()> {
    let name = nn.name_any();
    if !nn.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let owner_uid = nn
        .owner_references()
        .iter()
        .find(|o| o.kind == "Node")
        .map(|o| o.uid.clone());
    let node_alive = match nodes.get_opt(&name).await? {
        Some(n) => n.metadata.deletion_timestamp.is_none() && n.uid() == owner_uid,
        None => false,
    };
    if !node_alive {
        let node = node_ref(&name, &nn.spec.provider_id)?;
        match free_node(ctx.cloud.as_ref(), &node).await {
            Ok(freed) => {
                ctx.metrics.node_freed();
                tracing::info!(node = %name, freed, "Node gone, addresses freed");
            }
            Err(e) => {
                ctx.metrics.cloud_error(&e);
                publish(ctx, nn, EventType::Warning, "FreeFailed", &e.to_string()).await;
                return Err(e.into());
            }
        }
    }
    let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
    let finalizers: Vec<&String> = nn.finalizers().iter().filter(|f| *f != FINALIZER).collect();
    let patch =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": nn.resource_version()}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn serve(ctx: &Context, nn: &NodeNetwork, node: Option<&Node>) -> Result<Next> {
    let name = nn.name_any();
    let node_ref = node_ref(&name, &nn.spec.provider_id)?;
    let knobs = knobs_for(&ctx.knobs, &nn.spec);
    let status = nn.status.as_ref();
    let stale = status.and_then(|s| s.last_sync.as_ref()).is_none_or(|t| {
        Timestamp::now().duration_since(t.0).as_secs_f64() >= ctx.resync.as_secs_f64()
    });
    let labels = node.map(|n| n.labels().clone()).unwrap_or_default();
    let ifc_name = config_name(&nn.spec, &labels, ctx.interface_config_label.as_deref());
    let lookup = |n: &str| {
        ctx.interface_configs
            .get(&ObjectRef::new(n))
            .map(|c| c.spec.clone())
    };

    // First on what the status shows: most changes (a pod more or less within the warm pool)
    // need no cloud call at all.
    if !stale && let Some(view) = status.and_then(|s| node_from_status(s, &node_ref)) {
        let blocked = new_interface(ifc_name.as_deref(), lookup, &view);
        let p = plan_for(ctx, &knobs, nn, &view, blocked.clone().ok().flatten());
        if p.is_idle() {
            refused_events(ctx, nn, &p).await;
            StatusWriter::new(ctx, nn, &p, &knobs, blocked.err())
                .write(&view, None, &[])
                .await?;
            ctx.metrics.round(RoundResult::Idle);
            return Ok(Next::Resync);
        }
    }

    let _timer = ctx.metrics.round_timer();
    let described = match ctx.cloud.describe_node(&node_ref).await {
        Ok(d) => d,
        Err(e) => return failed_before_plan(ctx, nn, e).await,
    };
    let blocked = new_interface(ifc_name.as_deref(), lookup, &described);
    let p = plan_for(ctx, &knobs, nn, &described, blocked.clone().ok().flatten());
    refused_events(ctx, nn, &p).await;
    // The status follows the steps as they complete: a new interface's addresses reach
    // ipamd (and the pods waiting) when its attach returns, not when the round's last does.
    let mut writer = StatusWriter::new(ctx, nn, &p, &knobs, blocked.clone().err());
    let (tx, rx) = tokio::sync::watch::channel(None);
    let applying = apply(
        ctx.cloud.as_ref(),
        described,
        &p,
        ctx.node_parallelism,
        move |o: &Outcome| {
            tx.send_replace(Some((o.node.clone(), o.released.clone())));
        },
    );
    let (outcome, ()) = tokio::join!(applying, writer.follow(rx));
    ctx.metrics.outcome(
        outcome.added_blocks,
        outcome.released.len(),
        outcome.attached.len(),
        outcome.detached.len(),
    );
    for id in &outcome.attached {
        publish(
            ctx,
            nn,
            EventType::Normal,
            "InterfaceAttached",
            &format!("interface {id} attached"),
        )
        .await;
    }
    for id in &outcome.detached {
        publish(
            ctx,
            nn,
            EventType::Normal,
            "InterfaceDetached",
            &format!("interface {id} detached and deleted"),
        )
        .await;
    }
    let failure = outcome.failure.as_ref().map(|(_, e)| e);
    let short = writer
        .write(&outcome.node, failure, &outcome.released)
        .await?;
    if let Some(e) = failure {
        ctx.metrics.round(RoundResult::Failed);
        ctx.metrics.cloud_error(e);
        let (reason, _) = event_reason(e);
        let note = format!("{}: {e}", e.code());
        publish(ctx, nn, EventType::Warning, reason, &note).await;
        tracing::warn!(node = %name, code = e.code(), error = %e, "Round failed");
        return Ok(Next::Backoff);
    }
    ctx.metrics.round(if p.steps.is_empty() {
        RoundResult::Idle
    } else {
        RoundResult::Changed
    });
    // Still short with room to grow (an attach fills at most one interface per step, and a
    // cloud may answer fewer blocks than asked): go again.
    Ok(if short && outcome.added_blocks > 0 {
        Next::Now
    } else {
        Next::Resync
    })
}

async fn refused_events(ctx: &Context, nn: &NodeNetwork, p: &Plan) {
    for r in &p.refused {
        let note = format!(
            "offer of {} on {} refused: {}",
            r.offer.block, r.offer.interface, r.reason
        );
        publish(ctx, nn, EventType::Warning, "ReleaseRefused", &note).await;
    }
}

fn plan_for(
    ctx: &Context,
    knobs: &PoolKnobs,
    nn: &NodeNetwork,
    view: &cloudnet_core::NodeInterfaces,
    new: Option<super::plan::NewInterface>,
) -> Plan {
    let released = nn
        .status
        .as_ref()
        .map(|s| s.released.clone())
        .unwrap_or_default();
    plan(&PlanInput {
        knobs,
        node: view,
        capabilities: &ctx.capabilities,
        in_use: nn.spec.in_use,
        offers: &nn.spec.release,
        released: &released,
        new_interface: new,
    })
}

/// The value to write next: as soon as `rx` changes, its latest value (none once its sender
/// is gone). Called again after each write, it returns at once with the latest of the
/// changes that arrived while the write was in flight (the channel keeps only the latest):
/// the first change is written with no delay (a new interface's addresses are what waiting
/// pods need), and a burst of changes closer together than a write takes costs about two.
async fn next_change<T: Clone>(rx: &mut tokio::sync::watch::Receiver<Option<T>>) -> Option<T> {
    loop {
        rx.changed().await.ok()?;
        if let Some(v) = rx.borrow_and_update().clone() {
            return Some(v);
        }
    }
}

/// The node's status writes of one round: each compared with the last one written, so a
/// write that would change nothing but `lastSync` is skipped.
struct StatusWriter<'a> {
    ctx: &'a Context,
    nn: &'a NodeNetwork,
    plan: &'a Plan,
    knobs: &'a PoolKnobs,
    blocked: Option<String>,
    /// The status last written, or the one the round started from.
    last: Option<NodeNetworkStatus>,
}

impl<'a> StatusWriter<'a> {
    fn new(
        ctx: &'a Context,
        nn: &'a NodeNetwork,
        plan: &'a Plan,
        knobs: &'a PoolKnobs,
        blocked: Option<String>,
    ) -> Self {
        StatusWriter {
            ctx,
            nn,
            plan,
            knobs,
            blocked,
            last: nn.status.clone(),
        }
    }

    /// Writes the node as the steps leave it, until the sender goes (the steps are done):
    /// the first change at once, those arriving during a write together after it
    /// ([`next_change`]). A failed write here is only logged: the round's last write
    /// reports.
    async fn follow(
        &mut self,
        mut rx: tokio::sync::watch::Receiver<Option<(cloudnet_core::NodeInterfaces, Vec<IpNet>)>>,
    ) {
        while let Some((node, released)) = next_change(&mut rx).await {
            if let Err(error) = self.write(&node, None, &released).await {
                tracing::debug!(node = %self.nn.name_any(), %error, "Status write during the round failed");
            }
        }
    }

    /// Writes the status (when it changed) and answers whether the pool is still short.
    async fn write(
        &mut self,
        node: &cloudnet_core::NodeInterfaces,
        failure: Option<&CloudError>,
        released_now: &[IpNet],
    ) -> Result<bool> {
        let (ctx, nn, p, knobs) = (self.ctx, self.nn, self.plan, self.knobs);
        let offered: BTreeSet<IpNet> = nn.spec.release.iter().map(|o| o.block).collect();
        let mut released = p.released_kept.clone();
        for b in p.already_gone.iter().chain(released_now) {
            if !released.contains(b) {
                released.push(*b);
            }
        }
        // Blocks released are out of the counts whether or not the offer is still there.
        let mut k = knobs.clone();
        k.prefix_delegation = p.kind == cloudnet_core::BlockKind::Prefix;
        let target = pool_target(&k, super::plan::counts(node, nn.spec.in_use, &offered));
        let now = Timestamp::now();
        let new = build(StatusInput {
            previous: self.last.as_ref(),
            node,
            in_use: nn.spec.in_use,
            offered: &offered,
            released,
            target: &target,
            failure,
            blocked: self.blocked.clone().map(|m| ("InterfaceConfigNotFound", m)),
            generation: nn.metadata.generation,
            now,
        });
        let short = target.deficit() > 0;
        if let Some(old) = &self.last
            && same_but_time(old, &new)
        {
            return Ok(short);
        }
        let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
        api.patch_status(
            &nn.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status_patch(&new)? })),
        )
        .await?;
        ctx.metrics.status_written();
        self.last = Some(new);
        Ok(short)
    }
}

/// Equal apart from `lastSync`: not worth a write (and a watch event) while the last sync is
/// recent; the resync writes it.
fn same_but_time(old: &NodeNetworkStatus, new: &NodeNetworkStatus) -> bool {
    let mut a = old.clone();
    let mut b = new.clone();
    a.last_sync = None;
    b.last_sync = None;
    let recent = old.last_sync.as_ref().is_some_and(|t| {
        new.last_sync
            .as_ref()
            .is_some_and(|n| n.0.duration_since(t.0).as_secs_f64() < 60.0)
    });
    a == b && recent
}

/// The status as a merge patch: fields the new status leaves out are removed.
fn status_patch(status: &NodeNetworkStatus) -> Result<Value> {
    let mut v = serde_json::to_value(status)?;
    if let Value::Object(map) = &mut v {
        for key in [
            "instanceType",
            "limits",
            "released",
            "conditions",
            "lastSync",
            "observedGeneration",
        ] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    Ok(v)
}

/// Describe failed: nothing was planned or changed. The status keeps its interfaces and says
/// why it is not synced.
async fn failed_before_plan(ctx: &Context, nn: &NodeNetwork, e: CloudError) -> Result<Next> {
    ctx.metrics.round(RoundResult::Failed);
    ctx.metrics.cloud_error(&e);
    let (reason, _) = event_reason(&e);
    publish(
        ctx,
        nn,
        EventType::Warning,
        reason,
        &format!("{}: {e}", e.code()),
    )
    .await;
    let mut status = nn.status.clone().unwrap_or_default();
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now());
    let cond = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        type_: super::status::SYNCED.into(),
        status: "False".into(),
        reason: e.code().to_string(),
        message: e.to_string(),
        last_transition_time: now,
        observed_generation: nn.metadata.generation,
    };
    status
        .conditions
        .retain(|c| c.type_ != super::status::SYNCED);
    status.conditions.push(cond);
    let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
    api.patch_status(
        &nn.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status_patch(&status)? })),
    )
    .await?;
    ctx.metrics.status_written();
    Ok(Next::Backoff)
}

/// The Event reason for a cloud failure, and whether waiting alone can fix it.
fn event_reason(e: &CloudError) -> (&'static str, bool) {
    match e {
        CloudError::InsufficientCapacity { .. } => ("SubnetExhausted", false),
        CloudError::LimitExceeded { .. } => ("LimitReached", false),
        CloudError::Throttled { .. } => ("Throttled", true),
        CloudError::Unauthorized { .. } => ("Unauthorized", false),
        CloudError::NotFound { .. } => ("NotFound", false),
        _ => ("CloudError", e.is_retryable()),
    }
}

/// Publishes an Event on the NodeNetwork; a failure to publish is logged, never fatal.
async fn publish(ctx: &Context, nn: &NodeNetwork, type_: EventType, reason: &str, note: &str) {
    crate::events::publish(
        &ctx.recorder,
        &nn.object_ref(&()),
        type_,
        reason,
        "AllocateAddresses",
        note,
    )
    .await;
}

/// The node reference of a NodeNetwork (for callers outside a round).
pub fn node_of(nn: &NodeNetwork) -> Result<NodeRef, Error> {
    node_ref(&nn.name_any(), &nn.spec.provider_id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::next_change;

    /// A burst of 10 changes 5 ms apart while each write takes 32 ms (the clock paused, so
    /// the times are exact): the first change is written at once, not after a coalescing
    /// delay; the rest are merged into the writes that follow, each starting when the one
    /// before returns; the last change is written.
    #[tokio::test(start_paused = true)]
    async fn status_changes_are_written_at_once_and_merged_while_a_write_is_in_flight() {
        let (tx, mut rx) = tokio::sync::watch::channel(None);
        let began = Instant::now();
        let mut writes: Vec<(Duration, u32)> = Vec::new();
        let sending = async move {
            for i in 1..=10 {
                tx.send_replace(Some(i));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        // As `StatusWriter::follow` writes.
        let writing = async {
            while let Some(v) = next_change(&mut rx).await {
                writes.push((began.elapsed(), v));
                tokio::time::sleep(Duration::from_millis(32)).await;
            }
        };
        tokio::join!(sending, writing);
        assert_eq!(writes.first(), Some(&(Duration::ZERO, 1)), "{writes:?}");
        assert!(writes.len() < 10, "{} writes for 10 changes", writes.len());
        assert_eq!(
            writes,
            vec![
                (Duration::ZERO, 1),
                (Duration::from_millis(32), 7),
                (Duration::from_millis(64), 10),
            ]
        );
    }
}
