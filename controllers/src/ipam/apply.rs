//! Act: perform a [`Plan`]'s steps through the cloud's [`Addresses`] and keep the node's
//! picture current from the cloud's answers (so the status can be written without describing
//! the node again).
//!
//! ```text
//!  releases ─▶ assigns on the interfaces the node has ┐ at once, at most `parallelism`
//!              creates+attaches of new interfaces     ┘ in flight ─▶ detaches
//! ```
//!
//! Steps of one phase run concurrently (the provider picks distinct device indexes for
//! attaches to one instance, and its rate budget paces every call); a phase starts only when
//! the one before succeeded, and within a phase no step starts after one failed. A new interface is created with its addresses, so it serves pods
//! the moment its attach returns, whatever the other attaches still wait for.

use cloudnet_core::{Addresses, Error, InterfaceId, NodeInterfaces};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ipnet::IpNet;

use super::plan::{Plan, Step};

/// What a round did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The node as the cloud answered, after the steps that succeeded.
    pub node: NodeInterfaces,
    /// Blocks released in the cloud this round (offers carried out).
    pub released: Vec<IpNet>,
    pub attached: Vec<InterfaceId>,
    pub detached: Vec<InterfaceId>,
    /// Blocks added, on new and existing interfaces.
    pub added_blocks: u32,
    /// The first failure, with its step; steps of later phases were not tried.
    pub failure: Option<(Step, Error)>,
}

/// A step's answer from the cloud.
enum Done {
    Released(InterfaceId, Vec<IpNet>),
    Assigned(InterfaceId, Vec<cloudnet_core::AddressBlock>),
    Attached(cloudnet_core::Interface),
    Detached(InterfaceId),
}

async fn perform(
    cloud: &dyn Addresses,
    node: &cloudnet_core::NodeRef,
    step: &Step,
) -> Result<Done, Error> {
    match step {
        Step::Release { interface, blocks } => cloud
            .release_blocks(node, interface, blocks)
            .await
            .map(|()| Done::Released(interface.clone(), blocks.clone())),
        Step::Assign(req) => cloud
            .assign_blocks(node, req)
            .await
            .map(|added| Done::Assigned(req.interface.clone(), added)),
        Step::Attach(req) => cloud.attach_interface(node, req).await.map(Done::Attached),
        Step::Detach { interface } => cloud
            .detach_interface(node, interface)
            .await
            .map(|()| Done::Detached(interface.clone())),
    }
}

/// One step with its answer (a named function: the futures it makes are `Send` for every
/// lifetime, which a closure's are not).
async fn run<'a>(
    cloud: &'a dyn Addresses,
    node: &'a cloudnet_core::NodeRef,
    step: &'a Step,
) -> (&'a Step, Result<Done, Error>) {
    (step, perform(cloud, node, step).await)
}

impl Outcome {
    fn record(&mut self, done: Done) {
        match done {
            Done::Released(interface, blocks) => {
                if let Some(i) = self.node.interfaces.iter_mut().find(|i| i.id == interface) {
                    i.blocks.retain(|b| !blocks.contains(&b.cidr));
                }
                self.released.extend(blocks);
            }
            Done::Assigned(interface, added) => {
                self.added_blocks += u32::try_from(added.len()).unwrap_or(u32::MAX);
                if let Some(i) = self.node.interfaces.iter_mut().find(|i| i.id == interface) {
                    for b in added {
                        if !i.blocks.contains(&b) {
                            i.blocks.push(b);
                        }
                    }
                }
            }
            Done::Attached(i) => {
                self.added_blocks += u32::try_from(i.blocks.iter().filter(|b| !b.primary).count())
                    .unwrap_or(u32::MAX);
                self.attached.push(i.id.clone());
                self.node.interfaces.retain(|n| n.id != i.id);
                self.node.interfaces.push(i);
                self.node.interfaces.sort_by_key(|n| n.index);
            }
            Done::Detached(interface) => {
                self.node.interfaces.retain(|n| n.id != interface);
                self.detached.push(interface);
            }
        }
    }
}

/// The phase a step runs in.
fn phase(step: &Step) -> usize {
    match step {
        Step::Release { .. } => 0,
        Step::Assign(_) | Step::Attach(_) => 1,
        Step::Detach { .. } => 2,
    }
}

/// Performs the steps, up to `parallelism` at once within a phase; `progress` sees the
/// outcome so far after each step that succeeded (the round writes the status from it, so
/// a node's pods need not wait for the round's slowest step).
pub async fn apply(
    cloud: &dyn Addresses,
    node: NodeInterfaces,
    plan: &Plan,
    parallelism: usize,
    mut progress: impl FnMut(&Outcome),
) -> Outcome {
    let mut out = Outcome {
        node,
        released: Vec::new(),
        attached: Vec::new(),
        detached: Vec::new(),
        added_blocks: 0,
        failure: None,
    };
    let node_ref = out.node.node.clone();
    for p in 0..3 {
        let steps: Vec<&Step> = plan.steps.iter().filter(|s| phase(s) == p).collect();
        let mut pending = steps.into_iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            // After a failure no more steps start (those in flight finish): the rest would
            // most likely meet the same answer (a full subnet, a limit, throttling).
            while in_flight.len() < parallelism.max(1) && out.failure.is_none() {
                let Some(step) = pending.next() else { break };
                in_flight.push(run(cloud, &node_ref, step));
            }
            let Some((step, result)) = in_flight.next().await else {
                break;
            };
            match result {
                Ok(done) => {
                    out.record(done);
                    progress(&out);
                }
                Err(e) => {
                    if out.failure.is_none() {
                        out.failure = Some((step.clone(), e));
                    }
                }
            }
        }
        if out.failure.is_some() {
            break;
        }
    }
    out
}

/// Frees everything of a node that is gone from the cluster: our interfaces are detached and
/// deleted, the blocks on interfaces we did not create are released. An instance that is gone
/// too has nothing left to free (EC2 deletes interfaces marked delete-on-termination).
pub async fn free_node(cloud: &dyn Addresses, node: &cloudnet_core::NodeRef) -> Result<u32, Error> {
    let described = match cloud.describe_node(node).await {
        Ok(d) => d,
        Err(Error::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut freed = 0;
    for i in &described.interfaces {
        if !i.is_primary() && i.owned {
            cloud.detach_interface(node, &i.id).await?;
            freed += 1;
            continue;
        }
        let blocks: Vec<IpNet> = i
            .blocks
            .iter()
            .filter(|b| !b.primary)
            .map(|b| b.cidr)
            .collect();
        if !blocks.is_empty() {
            cloud.release_blocks(node, &i.id, &blocks).await?;
            freed += 1;
        }
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use cloudnet_core::{
        AddressBlock, AddressCapabilities, AssignBlocks, AttachInterface, BlockKind, Interface,
        NodeRef, OrphanInterface, Result,
    };

    use super::*;
    use crate::ipam::PoolKnobs;
    use crate::ipam::plan::{PlanInput, plan};
    use crate::ipam::test_node::NodeFixture;

    /// A subnet with no address left: every assign is refused, after a moment in flight.
    #[derive(Default)]
    struct FullSubnet {
        assigns: AtomicU32,
    }

    #[async_trait]
    impl Addresses for FullSubnet {
        fn capabilities(&self) -> AddressCapabilities {
            AddressCapabilities {
                hot_plug_interfaces: false,
                block_kinds: vec![BlockKind::SecondaryIp],
                max_blocks_per_call: 1,
            }
        }
        async fn describe_node(&self, _: &NodeRef) -> Result<NodeInterfaces> {
            Ok(NodeFixture::m5().0)
        }
        async fn attach_interface(&self, _: &NodeRef, _: &AttachInterface) -> Result<Interface> {
            unreachable!("no interface is attached where they are fixed")
        }
        async fn detach_interface(&self, _: &NodeRef, _: &InterfaceId) -> Result<()> {
            unreachable!("nothing to detach")
        }
        async fn assign_blocks(&self, _: &NodeRef, _: &AssignBlocks) -> Result<Vec<AddressBlock>> {
            self.assigns.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(Error::InsufficientCapacity {
                code: "InsufficientFreeAddressesInSubnet".into(),
                message: "no free address".into(),
            })
        }
        async fn release_blocks(&self, _: &NodeRef, _: &InterfaceId, _: &[IpNet]) -> Result<()> {
            Ok(())
        }
        async fn list_orphans(&self, _: Duration) -> Result<Vec<OrphanInterface>> {
            Ok(vec![])
        }
        async fn delete_orphan(&self, _: &InterfaceId) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn no_step_starts_after_one_failed() {
        let cloud = FullSubnet::default();
        let node = NodeFixture::m5().0;
        let knobs = PoolKnobs {
            warm_ip_target: 6,
            ..PoolKnobs::default()
        };
        let p = plan(&PlanInput {
            knobs: &knobs,
            node: &node,
            capabilities: &cloud.capabilities(),
            in_use: 0,
            offers: &[],
            released: &[],
            new_interface: None,
        });
        assert_eq!(p.steps.len(), 6, "six assigns of one: {:?}", p.steps);
        let out = apply(&cloud, node, &p, 2, |_| {}).await;
        assert!(matches!(
            out.failure,
            Some((Step::Assign(_), Error::InsufficientCapacity { .. }))
        ));
        // The two in flight when the first failed; none of the other four.
        assert_eq!(cloud.assigns.load(Ordering::SeqCst), 2);
        assert_eq!(out.added_blocks, 0);
    }
}
