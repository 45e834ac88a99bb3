//! Node pod ranges, for clouds whose VM interfaces are fixed while the VM runs
//! ([`AddressCapabilities::hot_plug_interfaces`] false: Compute Engine), as
//! cloud-provider-gcp's CloudAllocator does it on GKE: each node's primary interface gets one
//! alias range from the subnetwork's pods secondary range (the provider asks for a
//! netmask-only range, so the cloud picks a free one and two nodes never overlap), written to
//! `Node.spec.podCIDR`/`podCIDRs` and to the node's `NodeNetwork` status. The node's ipamd hands
//! out the range's addresses locally: no cloud call per pod, and no warm pool to grow.
//!
//! ```text
//!  Node (providerID) ─▶ status says the range is there and fresh? ─yes─▶ done (no cloud call)
//!                         │ no
//!                         ▼
//!                  describe_node ─▶ no pod range ─▶ assign_blocks(1 alias range)
//!                         │
//!                         ▼
//!   Node.spec.podCIDR(s) (set once; another value is reported, never changed)
//!   NodeNetwork status: interfaces with the range, Ready ─▶ ipamd
//! ```
//!
//! The range lives on the instance and goes with it; a node keeps its range for its
//! lifetime, so the `NodeNetwork` carries no finalizer here (nothing to free).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cloudnet_core::{
    AddressBlock, AddressCapabilities, Addresses, AssignBlocks, BlockKind, NodeInterfaces,
};
use cloudnet_crds::{InterfaceLimits, NodeNetwork, NodeNetworkStatus, PoolSummary};
use futures::StreamExt;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::provider_id::node_ref;
use super::status::{READY, SYNCED, kind_name};
use crate::error::{Error, Result};

/// The Events' action.
const ACTION: &str = "AllocatePodRange";

/// The node range allocator's settings.
#[derive(Debug, Clone)]
pub struct NodeRangeConfig {
    /// Nodes reconciled at once at most.
    pub parallelism: usize,
    /// Each node's range is read from the cloud again at least this often.
    pub resync: Duration,
    /// After a failure, the node is tried again after this long.
    pub retry: Duration,
    /// The Events' reporting controller.
    pub reporter: String,
}

impl Default for NodeRangeConfig {
    fn default() -> Self {
        NodeRangeConfig {
            parallelism: 16,
            resync: Duration::from_secs(300),
            retry: Duration::from_secs(5),
            reporter: "cloudnet-ipam-allocator".into(),
        }
    }
}

/// Whether a cloud's addresses are served by whole node ranges rather than a warm pool.
pub fn serves_ranges(capabilities: &AddressCapabilities) -> bool {
    !capabilities.hot_plug_interfaces && capabilities.block_kinds.contains(&BlockKind::AliasRange)
}

/// The node range allocator. [`NodeRangeAllocator::run`] drives it until `shutdown`.
pub struct NodeRangeAllocator {
    client: kube::Client,
    cloud: Arc<dyn Addresses>,
    config: NodeRangeConfig,
    ready: Arc<AtomicBool>,
}

struct Ctx {
    client: kube::Client,
    cloud: Arc<dyn Addresses>,
    config: NodeRangeConfig,
    recorder: Recorder,
}

impl NodeRangeAllocator {
    pub fn new(
        client: kube::Client,
        cloud: Arc<dyn Addresses>,
        config: NodeRangeConfig,
    ) -> NodeRangeAllocator {
        NodeRangeAllocator {
            client,
            cloud,
            config,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once the Node watch has listed the nodes (for `/readyz`).
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    ) -> Result<()> {
        let recorder = Recorder::new(
            self.client.clone(),
            Reporter {
                controller: self.config.reporter.clone(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        let ctx = Arc::new(Ctx {
            client: self.client.clone(),
            cloud: self.cloud,
            config: self.config.clone(),
            recorder,
        });
        let controller = Controller::new(
            Api::<Node>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .with_config(
            ControllerConfig::default().concurrency(self.config.parallelism.max(1) as u16),
        );
        let store = controller.store();
        let ready = self.ready.clone();
        let marks = tokio::spawn(async move {
            if store.wait_until_ready().await.is_ok() {
                ready.store(true, Ordering::Relaxed);
                tracing::info!(nodes = store.state().len(), "Node range allocator synced");
            }
        });
        controller
            .graceful_shutdown_on(shutdown)
            .run(reconcile, error_policy, ctx)
            .for_each(|r| async move {
                if let Err(error) = r {
                    tracing::debug!(%error, "Node range reconcile");
                }
            })
            .await;
        marks.abort();
        tracing::info!("Node range allocator stopping");
        Ok(())
    }
}

fn error_policy(_node: Arc<Node>, error: &Error, ctx: Arc<Ctx>) -> Action {
    tracing::warn!(%error, "Node range not served; trying again");
    Action::requeue(ctx.config.retry)
}

/// The pod ranges of a node as the cloud has them: alias ranges on the primary interface
/// that the provider marks as pod blocks (from the pods range), in address order.
pub fn pod_ranges(node: &NodeInterfaces) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = node
        .interfaces
        .iter()
        .filter(|i| i.index == 0)
        .flat_map(|i| &i.blocks)
        .filter(|b| !b.primary && b.kind == BlockKind::AliasRange)
        .map(|b| b.cidr)
        .collect();
    out.sort();
    out
}

/// The node's pod range as its `NodeNetwork` status shows it, when Ready.
fn ranges_in_status(status: &NodeNetworkStatus) -> Option<Vec<IpNet>> {
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True");
    if !ready {
        return None;
    }
    let mut out: Vec<IpNet> = status
        .interfaces
        .iter()
        .filter(|i| i.index == 0)
        .flat_map(|i| &i.blocks)
        .filter(|b| !b.primary && b.kind == kind_name(BlockKind::AliasRange))
        .map(|b| b.cidr)
        .collect();
    out.sort();
    (!out.is_empty()).then_some(out)
}

fn pod_cidrs(node: &Node) -> Vec<String> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    match (&spec.pod_cidrs, &spec.pod_cidr) {
        (Some(v), _) if !v.is_empty() => v.clone(),
        (_, Some(c)) if !c.is_empty() => vec![c.clone()],
        _ => Vec::new(),
    }
}

async fn reconcile(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action> {
    let name = node.name_any();
    if node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(provider_id) = node.spec.as_ref().and_then(|s| s.provider_id.clone()) else {
        // The cloud node manager sets it; the Node's next change brings us back.
        return Ok(Action::await_change());
    };
    let node_ref = match node_ref(&name, &provider_id) {
        Ok(r) => r,
        Err(e) => {
            warn(&ctx, &node, "InvalidProviderID", &e.to_string()).await;
            return Ok(Action::await_change());
        }
    };
    let networks: Api<NodeNetwork> = Api::all(ctx.client.clone());
    let nn = match networks.get_opt(&name).await? {
        Some(nn) => nn,
        None => create_network(&ctx, &node, &provider_id).await?,
    };
    let status = nn.status.clone().unwrap_or_default();
    let fresh = status.last_sync.as_ref().is_some_and(|t| {
        Timestamp::now().duration_since(t.0).as_secs_f64() < ctx.config.resync.as_secs_f64()
    });
    // The usual case (a Node heartbeat, a restart): the status already shows the range the
    // Node has, and no cloud call is made.
    if fresh
        && let Some(ranges) = ranges_in_status(&status)
        && pod_cidrs(&node) == ranges.iter().map(ToString::to_string).collect::<Vec<_>>()
    {
        return Ok(Action::requeue(ctx.config.resync));
    }

    let mut described = match ctx.cloud.describe_node(&node_ref).await {
        Ok(d) => d,
        Err(e) => {
            let note = format!("{}: {e}", e.code());
            warn(&ctx, &node, "DescribeFailed", &note).await;
            write_status(&ctx, &nn, None, Some((e.code(), note))).await?;
            return Ok(Action::requeue(ctx.config.retry));
        }
    };
    if pod_ranges(&described).is_empty() {
        let Some(primary) = described.interfaces.iter().find(|i| i.index == 0) else {
            let note = format!("instance {} has no network interface", node_ref.instance_id);
            warn(&ctx, &node, "NoInterface", &note).await;
            write_status(&ctx, &nn, Some(&described), Some(("NoInterface", note))).await?;
            return Ok(Action::requeue(ctx.config.retry));
        };
        let request = AssignBlocks {
            interface: primary.id.clone(),
            kind: BlockKind::AliasRange,
            count: 1,
            prefix_len: None,
        };
        match ctx.cloud.assign_blocks(&node_ref, &request).await {
            Ok(added) if !added.is_empty() => {
                let ranges: Vec<String> = added.iter().map(|b| b.cidr.to_string()).collect();
                publish(
                    &ctx,
                    &node,
                    EventType::Normal,
                    "PodRangeAllocated",
                    &format!("pod range {} on {}", ranges.join(", "), request.interface),
                )
                .await;
                add_blocks(&mut described, added);
            }
            Ok(_) => {
                let note = "the cloud answered no new range".to_string();
                warn(&ctx, &node, "RangeAllocationFailed", &note).await;
                write_status(&ctx, &nn, Some(&described), Some(("NoRange", note))).await?;
                return Ok(Action::requeue(ctx.config.retry));
            }
            Err(e) => {
                let note = format!("{}: {e}", e.code());
                warn(&ctx, &node, "RangeAllocationFailed", &note).await;
                write_status(&ctx, &nn, Some(&described), Some((e.code(), note))).await?;
                return Ok(Action::requeue(ctx.config.retry));
            }
        }
    }
    let ranges: Vec<String> = pod_ranges(&described)
        .iter()
        .map(ToString::to_string)
        .collect();
    let have = pod_cidrs(&node);
    if have.is_empty() {
        let nodes: Api<Node> = Api::all(ctx.client.clone());
        let patch = json!({"spec": {"podCIDR": ranges[0], "podCIDRs": ranges}});
        nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        tracing::info!(node = %name, ranges = ?ranges, "Node podCIDRs set");
    } else if have != ranges {
        // podCIDR is immutable once set: report, never change.
        let note = format!(
            "the Node's podCIDRs {} are not the instance's pod ranges {}",
            have.join(","),
            ranges.join(",")
        );
        warn(&ctx, &node, "PodCIDRMismatch", &note).await;
        write_status(&ctx, &nn, Some(&described), Some(("PodCIDRMismatch", note))).await?;
        return Ok(Action::requeue(ctx.config.resync));
    }
    write_status(&ctx, &nn, Some(&described), None).await?;
    Ok(Action::requeue(ctx.config.resync))
}

fn add_blocks(node: &mut NodeInterfaces, added: Vec<AddressBlock>) {
    if let Some(primary) = node.interfaces.iter_mut().find(|i| i.index == 0) {
        for b in added {
            if !primary.blocks.iter().any(|have| have.cidr == b.cidr) {
                primary.blocks.push(b);
            }
        }
    }
}

async fn create_network(ctx: &Ctx, node: &Node, provider_id: &str) -> Result<NodeNetwork> {
    let name = node.name_any();
    let nn = super::round::owned_network(node, provider_id.to_string(), None);
    let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
    match api.create(&PostParams::default(), &nn).await {
        Ok(created) => {
            tracing::info!(node = %name, "NodeNetwork created");
            Ok(created)
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(api.get(&name).await?),
        Err(e) => Err(e.into()),
    }
}

/// The status for a node whose cloud view is `described` (`None`: not read), with the
/// failure that stopped the round, if any. Pure.
pub fn range_status(
    previous: Option<&NodeNetworkStatus>,
    described: Option<&NodeInterfaces>,
    failure: Option<(&str, String)>,
    generation: Option<i64>,
    now: Timestamp,
) -> NodeNetworkStatus {
    let mut status = previous.cloned().unwrap_or_default();
    if let Some(d) = described {
        let addresses: u64 = pod_ranges(d)
            .iter()
            .map(|r| 1u64 << (32 - u32::from(r.prefix_len()).min(32)))
            .sum();
        let addresses = u32::try_from(addresses).unwrap_or(u32::MAX);
        status.instance_type = Some(d.instance_type.clone());
        status.limits = Some(InterfaceLimits {
            max_interfaces: d.limits.max_interfaces,
            max_blocks_per_interface: d.limits.max_blocks_per_interface,
            block_kinds: d
                .limits
                .block_kinds
                .iter()
                .map(|k| kind_name(*k).to_string())
                .collect(),
        });
        status.interfaces = super::status::interfaces(d);
        status.summary = PoolSummary {
            interfaces: u32::try_from(d.interfaces.len()).unwrap_or(u32::MAX),
            addresses,
            target: addresses,
            // A range is the node's for its lifetime: nothing is offered back.
            releasable: 0,
        };
    }
    let has_range = described.is_some_and(|d| !pod_ranges(d).is_empty());
    let (ready, ready_reason, ready_message) = match (&failure, has_range) {
        (None, true) => (
            true,
            "RangeAssigned".to_string(),
            described
                .map(|d| {
                    pod_ranges(d)
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        ),
        (Some((code, message)), _) => (false, (*code).to_string(), message.clone()),
        (None, false) => (false, "NoRange".into(), String::new()),
    };
    let (synced_reason, synced_message) = match &failure {
        Some((code, message)) => ((*code).to_string(), message.clone()),
        None => ("Synced".into(), String::new()),
    };
    let wanted = [
        (READY, ready, ready_reason, ready_message),
        (SYNCED, failure.is_none(), synced_reason, synced_message),
    ];
    status.conditions = wanted
        .into_iter()
        .map(|(type_, ok, reason, message)| {
            let s = if ok { "True" } else { "False" }.to_string();
            let since = status
                .conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == s)
                .map_or(Time(now), |c| c.last_transition_time.clone());
            Condition {
                type_: type_.to_string(),
                status: s,
                reason,
                message,
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect();
    status.last_sync = Some(Time(now));
    status.observed_generation = generation;
    status
}

async fn write_status(
    ctx: &Ctx,
    nn: &NodeNetwork,
    described: Option<&NodeInterfaces>,
    failure: Option<(&str, String)>,
) -> Result<()> {
    let status = range_status(
        nn.status.as_ref(),
        described,
        failure,
        nn.metadata.generation,
        Timestamp::now(),
    );
    let api: Api<NodeNetwork> = Api::all(ctx.client.clone());
    api.patch_status(
        &nn.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}

async fn publish(ctx: &Ctx, node: &Node, type_: EventType, reason: &str, note: &str) {
    crate::events::publish(
        &ctx.recorder,
        &node.object_ref(&()),
        type_,
        reason,
        ACTION,
        note,
    )
    .await;
}

async fn warn(ctx: &Ctx, node: &Node, reason: &str, note: &str) {
    tracing::warn!(node = %node.name_any(), reason, note, "Node range");
    publish(ctx, node, EventType::Warning, reason, note).await;
}

#[cfg(test)]
mod tests {
    use cloudnet_core::{AddressLimits, Interface, InterfaceId, NodeRef};

    use super::*;

    fn block(cidr: &str, primary: bool) -> AddressBlock {
        AddressBlock {
            cidr: cidr.parse().unwrap(),
            kind: BlockKind::AliasRange,
            primary,
        }
    }

    fn node(blocks: Vec<AddressBlock>) -> NodeInterfaces {
        NodeInterfaces {
            node: NodeRef {
                name: "n".into(),
                instance_id: "gke-n".into(),
                zone: Some("us-central1-a".into()),
            },
            instance_type: "e2-standard-4".into(),
            limits: AddressLimits {
                max_interfaces: 1,
                max_blocks_per_interface: 11,
                block_kinds: vec![BlockKind::AliasRange],
            },
            interfaces: vec![Interface {
                id: InterfaceId("nic0".into()),
                index: 0,
                subnet_id: "nodes".into(),
                subnet_cidr: Some("10.0.0.0/20".parse().unwrap()),
                mac: None,
                security_groups: Vec::new(),
                blocks,
                owned: false,
            }],
        }
    }

    #[test]
    fn only_ranges_from_the_pods_range_are_pod_ranges() {
        // The primary address and a range of another secondary range are marked primary by
        // the provider.
        let n = node(vec![
            block("10.0.0.2/32", true),
            block("10.8.0.0/28", true),
            block("10.4.1.0/24", false),
        ]);
        assert_eq!(
            pod_ranges(&n),
            vec!["10.4.1.0/24".parse::<IpNet>().unwrap()]
        );
        assert!(pod_ranges(&node(vec![block("10.0.0.2/32", true)])).is_empty());
    }

    #[test]
    fn the_status_shows_the_range_ready_and_nothing_to_offer_back() {
        let now = Timestamp::now();
        let n = node(vec![
            block("10.0.0.2/32", true),
            block("10.4.1.0/24", false),
        ]);
        let s = range_status(None, Some(&n), None, Some(1), now);
        assert_eq!(s.summary.addresses, 256);
        assert_eq!(s.summary.target, 256);
        assert_eq!(s.summary.releasable, 0);
        assert_eq!(s.interfaces[0].blocks[1].kind, "aliasRange");
        let ready = s.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "RangeAssigned")
        );
        assert_eq!(ready.message, "10.4.1.0/24");
        assert_eq!(
            ranges_in_status(&s),
            Some(vec!["10.4.1.0/24".parse::<IpNet>().unwrap()])
        );

        // A failure later keeps what was read and says why.
        let later = now + std::time::Duration::from_secs(5);
        let f = range_status(
            Some(&s),
            None,
            Some(("rateLimitExceeded", "slow down".into())),
            Some(1),
            later,
        );
        assert_eq!(f.interfaces, s.interfaces);
        let ready = f.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "rateLimitExceeded")
        );
        assert_eq!(ranges_in_status(&f), None);
        // An unchanged condition keeps its transition time.
        let again = range_status(Some(&s), Some(&n), None, Some(1), later);
        let (a, b) = (
            s.conditions.iter().find(|c| c.type_ == READY).unwrap(),
            again.conditions.iter().find(|c| c.type_ == READY).unwrap(),
        );
        assert_eq!(a.last_transition_time, b.last_transition_time);
    }

    #[test]
    fn only_clouds_without_hot_plug_that_hand_out_ranges_serve_ranges() {
        let mut c = AddressCapabilities {
            hot_plug_interfaces: false,
            block_kinds: vec![BlockKind::AliasRange],
            max_blocks_per_call: 10,
        };
        assert!(serves_ranges(&c));
        c.hot_plug_interfaces = true;
        assert!(!serves_ranges(&c));
        c.hot_plug_interfaces = false;
        c.block_kinds = vec![BlockKind::IpConfiguration];
        assert!(!serves_ranges(&c));
    }
}
