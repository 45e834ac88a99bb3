//! Act: perform a [`Plan`]'s steps through the cloud's [`Addresses`], in order, stopping at
//! the first failure, and keep the node's picture current from the cloud's answers (so the
//! status can be written without describing the node again).

use cloudnet_core::{Addresses, Error, InterfaceId, NodeInterfaces};
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
    /// The first failure, with the step it stopped at; later steps were not tried.
    pub failure: Option<(Step, Error)>,
}

/// Performs the steps.
pub async fn apply(cloud: &dyn Addresses, node: NodeInterfaces, plan: &Plan) -> Outcome {
    let mut out = Outcome {
        node,
        released: Vec::new(),
        attached: Vec::new(),
        detached: Vec::new(),
        added_blocks: 0,
        failure: None,
    };
    let node_ref = out.node.node.clone();
    for step in &plan.steps {
        let result = match step {
            Step::Release { interface, blocks } => cloud
                .release_blocks(&node_ref, interface, blocks)
                .await
                .map(|()| {
                    if let Some(i) = out.node.interfaces.iter_mut().find(|i| &i.id == interface) {
                        i.blocks.retain(|b| !blocks.contains(&b.cidr));
                    }
                    out.released.extend(blocks.iter().copied());
                }),
            Step::Assign(req) => cloud.assign_blocks(&node_ref, req).await.map(|added| {
                out.added_blocks += u32::try_from(added.len()).unwrap_or(u32::MAX);
                if let Some(i) = out
                    .node
                    .interfaces
                    .iter_mut()
                    .find(|i| i.id == req.interface)
                {
                    for b in added {
                        if !i.blocks.contains(&b) {
                            i.blocks.push(b);
                        }
                    }
                }
            }),
            Step::Attach(req) => cloud.attach_interface(&node_ref, req).await.map(|i| {
                out.added_blocks += u32::try_from(i.blocks.iter().filter(|b| !b.primary).count())
                    .unwrap_or(u32::MAX);
                out.attached.push(i.id.clone());
                out.node.interfaces.retain(|n| n.id != i.id);
                out.node.interfaces.push(i);
                out.node.interfaces.sort_by_key(|n| n.index);
            }),
            Step::Detach { interface } => {
                cloud
                    .detach_interface(&node_ref, interface)
                    .await
                    .map(|()| {
                        out.node.interfaces.retain(|n| &n.id != interface);
                        out.detached.push(interface.clone());
                    })
            }
        };
        if let Err(e) = result {
            out.failure = Some((step.clone(), e));
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
