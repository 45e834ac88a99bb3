//! The traits the rest of the suite uses to talk to a cloud, and the capabilities that say
//! what a cloud can do. A caller asks [`Capabilities`] before it plans; a provider never
//! answers "not implemented".

use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::*;

/// Pod addresses on nodes.
#[async_trait]
pub trait Addresses: Send + Sync {
    fn capabilities(&self) -> AddressCapabilities;

    /// The node's limits and its interfaces with their blocks, as the cloud has them now.
    async fn describe_node(&self, node: &NodeRef) -> Result<NodeInterfaces>;

    /// Creates an interface with the suite's ownership tags and attaches it at a free index.
    /// Only where [`AddressCapabilities::hot_plug_interfaces`]; elsewhere callers do not ask.
    /// A failed attach leaves no interface behind.
    async fn attach_interface(
        &self,
        node: &NodeRef,
        request: &AttachInterface,
    ) -> Result<Interface>;

    /// Detaches and deletes an interface the suite created. Foreign interfaces are refused.
    async fn detach_interface(&self, node: &NodeRef, interface: &InterfaceId) -> Result<()>;

    /// Adds blocks to an interface, in as few calls as the cloud allows; answers the new
    /// blocks.
    async fn assign_blocks(
        &self,
        node: &NodeRef,
        request: &AssignBlocks,
    ) -> Result<Vec<AddressBlock>>;

    /// Hands blocks back. Blocks already gone are not an error.
    async fn release_blocks(
        &self,
        node: &NodeRef,
        interface: &InterfaceId,
        blocks: &[IpNet],
    ) -> Result<()>;

    /// Interfaces this cluster created that are attached to nothing and older than `grace`.
    async fn list_orphans(&self, grace: Duration) -> Result<Vec<OrphanInterface>>;

    /// Deletes an orphan found by [`Addresses::list_orphans`] (re-checked: still ours, still
    /// unattached).
    async fn delete_orphan(&self, interface: &InterfaceId) -> Result<()>;
}

/// VPC routes for node pod ranges.
#[async_trait]
pub trait Routes: Send + Sync {
    fn capabilities(&self) -> RouteCapabilities;

    /// Every route in the cluster's route table(s), ours marked `owned`.
    async fn list(&self) -> Result<Vec<Route>>;

    /// Tables the cluster's routes belong in that the provider knows without listing, so a
    /// table holding no route yet still gets the nodes' routes (GCE: the cluster's network,
    /// which lists no route before the first). Empty by default: the tables are those of the
    /// listed routes.
    fn known_tables(&self) -> Vec<String> {
        Vec::new()
    }

    /// Creates (or replaces, when ours) the route.
    async fn create(&self, route: &Route) -> Result<()>;

    /// Deletes an owned route; a route that is already gone is not an error.
    async fn delete(&self, route: &Route) -> Result<()>;
}

/// Cloud load balancers for Services (L4) and Ingresses (L7).
#[async_trait]
pub trait LoadBalancers: Send + Sync {
    fn capabilities(&self) -> LoadBalancerCapabilities;

    /// Makes the cloud's stack match the spec: creates what is missing, modifies what drifted,
    /// deletes what is ours and no longer wanted. A second call with the same spec makes no
    /// mutating call.
    async fn ensure(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus>;

    /// Makes one backend group's members exactly `targets` (the hot path), in batches within
    /// the cloud's limits, and reads their health back.
    async fn sync_targets(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync>;

    /// Makes `targets` members of a group the suite does not own ([`BoundGroup`]), in
    /// batches, and deregisters the members in `managed` (what the caller registered before)
    /// that are not in `targets`. Members anyone else registered are left alone, and the group
    /// itself is never changed. A group that does not exist is `NotFound` with code
    /// `TargetGroupNotFound`; a group of another target kind is `InvalidInput`.
    async fn sync_bound_targets(
        &self,
        group: &BoundGroup,
        targets: &[Target],
        managed: &[Target],
    ) -> Result<TargetSync>;

    /// What the cloud says of a group's members, by the group's cloud ID (a
    /// [`GroupStatus::id`](crate::GroupStatus) or a [`BoundGroup::id`]): one read, no change.
    /// Pod-IP members only (a node-port member is a node, not a pod). Pod readiness gates
    /// poll it. A group that does not exist is `NotFound` with code `TargetGroupNotFound`.
    async fn target_health(&self, group_id: &str) -> Result<Vec<TargetHealth>>;

    /// Deletes the whole stack in reverse dependency order; parts already gone are fine.
    async fn delete(&self, lb: &LoadBalancerId) -> Result<()>;

    /// Every stack this cluster owns, for garbage collection.
    async fn list_owned(&self) -> Result<Vec<OwnedLoadBalancer>>;
}

/// What a cloud can do with pod addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressCapabilities {
    /// Interfaces can be added to a running node (AWS yes; GCE and Azure no: a VM's NICs
    /// are fixed while it runs).
    pub hot_plug_interfaces: bool,
    /// Block kinds the cloud offers at all (a node's own limits may offer fewer).
    pub block_kinds: Vec<BlockKind>,
    /// Blocks one assign call can add at most (AWS: as many as free slots; Azure: one NIC
    /// update carries every ipConfiguration).
    pub max_blocks_per_call: u32,
}

/// What a cloud can do with routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteCapabilities {
    /// Route targets the cloud accepts.
    pub instance_target: bool,
    pub interface_target: bool,
    pub ip_target: bool,
    /// Routes in one table at most (AWS default quota 50, up to 1,000; GCE per network
    /// quota; Azure 400 per table).
    pub max_routes: u32,
    /// The cloud needs source/destination checks off on the node (AWS).
    pub needs_source_dest_check_off: bool,
}

/// What a cloud can do with load balancers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerCapabilities {
    pub kinds: Vec<LoadBalancerKind>,
    pub target_kinds: Vec<TargetKind>,
    pub listener_protocols: Vec<Protocol>,
    /// Forward to several groups with weights.
    pub weighted_forward: bool,
    pub redirect: bool,
    pub fixed_response: bool,
    pub max_rules_per_listener: u32,
    pub max_targets_per_group: u32,
    pub max_listeners: u32,
}

impl LoadBalancerCapabilities {
    /// Checks a spec against what the cloud can do, after [`LoadBalancerSpec::validate`]:
    /// anything outside the capabilities is an `InvalidInput` that names the feature.
    /// Certificate material ([`crate::CertificateRef::material`]) is refused: a cloud that
    /// uploads certificates itself checks with [`Self::check_uploading_certificates`].
    pub fn check(&self, spec: &LoadBalancerSpec) -> Result<()> {
        self.check_inner(spec, false)
    }

    /// [`Self::check`] for a cloud that uploads certificate material itself (GCE's
    /// self-managed `sslCertificates`).
    pub fn check_uploading_certificates(&self, spec: &LoadBalancerSpec) -> Result<()> {
        self.check_inner(spec, true)
    }

    fn check_inner(&self, spec: &LoadBalancerSpec, uploads: bool) -> Result<()> {
        spec.validate()?;
        let unsupported = |what: String| {
            Err(Error::invalid(format!(
                "not supported by this cloud: {what}"
            )))
        };
        if !uploads {
            for l in &spec.listeners {
                if let Some(m) = l.certificates.iter().find_map(|c| c.as_material()) {
                    return unsupported(format!(
                        "listener {}: certificates: certificate material from Secret {} \
                         (spec.tls); this cloud takes certificates by its own reference only",
                        l.port, m.source
                    ));
                }
            }
        }
        if !self.kinds.contains(&spec.kind) {
            return unsupported(format!("{:?} load balancers", spec.kind));
        }
        if spec.listeners.len() > self.max_listeners as usize {
            return unsupported(format!("more than {} listeners", self.max_listeners));
        }
        for g in &spec.groups {
            if !self.target_kinds.contains(&g.target_kind) {
                return unsupported(format!("{:?} targets (group {})", g.target_kind, g.key));
            }
        }
        for l in &spec.listeners {
            if !self.listener_protocols.contains(&l.protocol) {
                return unsupported(format!("{:?} listeners", l.protocol));
            }
            if l.rules.len() > self.max_rules_per_listener as usize {
                return unsupported(format!(
                    "{} rules on listener {} (at most {})",
                    l.rules.len(),
                    l.port,
                    self.max_rules_per_listener
                ));
            }
            let actions =
                std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action));
            for a in actions {
                match a {
                    Action::Forward { groups } if groups.len() > 1 && !self.weighted_forward => {
                        return unsupported("weighted forwarding to several groups".into());
                    }
                    Action::Redirect(_) if !self.redirect => {
                        return unsupported("redirect actions".into());
                    }
                    Action::FixedResponse(_) if !self.fixed_response => {
                        return unsupported("fixed-response actions".into());
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// One cloud's providers, as the controllers hold them.
#[derive(Clone)]
pub struct Cloud {
    pub addresses: std::sync::Arc<dyn Addresses>,
    pub routes: std::sync::Arc<dyn Routes>,
    pub load_balancers: std::sync::Arc<dyn LoadBalancers>,
}
