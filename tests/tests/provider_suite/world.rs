//! What a suite body needs from one cloud beyond [`Cloud`]: arranging the mock (a node, a
//! foreign route, a foreign resource under our name) and observing it (the addresses on an
//! interface, the routes, the load balancers and their members, the count of mutating calls
//! in its call log). Each cloud answers from the mock's own state, never through the
//! provider under test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use async_trait::async_trait;
use cloudnet_core::{
    Cloud, LoadBalancerSpec, NodeRef, Owner, OwnerKind, Route, Target, TargetKind,
};
use ipnet::IpNet;

/// The cluster every world's provider serves.
pub const CLUSTER: &str = "suite";

#[async_trait]
pub trait World: Send + Sync {
    /// `aws`, `gcp` or `azure`, for messages.
    fn name(&self) -> &'static str;

    /// The providers under test, as the controllers hold them.
    fn cloud(&self) -> &Cloud;

    /// Node `i` (0 or 1) of the mock's world.
    fn node(&self, i: usize) -> NodeRef;

    /// The `spec.providerID` of node `i`'s Node object (for the controllers' end-to-end
    /// tests, which include these worlds).
    #[allow(dead_code)]
    fn provider_id(&self, i: usize) -> String;

    /// The addresses (blocks) the mock holds on an interface of a node, primary excluded.
    fn blocks_in_mock(&self, node: &NodeRef, interface: &str) -> BTreeSet<IpNet>;

    /// An owned route for pod range `i` (a /24 of the cloud's pod range) to node `node`.
    fn route(&self, i: u8, node: usize) -> Route;

    /// Puts a route someone else made into the cluster's route table: its destination.
    async fn foreign_route(&self) -> IpNet;

    /// Every route of the cluster's table as the mock holds it: destination -> next hop.
    fn routes_in_mock(&self) -> BTreeMap<IpNet, String>;

    /// The target kind and port of an L4 group on this cloud, and members valid for it (at
    /// least three: pod IPs, or the nodes for node-port groups).
    fn l4_members(&self) -> (TargetKind, u16, Vec<Target>);

    /// An L7 spec ready to ensure (certificates it names exist) and members for its groups,
    /// where the cloud has L7.
    async fn l7(&self) -> Option<(LoadBalancerSpec, Vec<Target>)>;

    /// Makes a resource someone else owns under the name `spec`'s stack would take: a key
    /// for [`World::foreign_resource`].
    async fn squat(&self, spec: &LoadBalancerSpec) -> String;

    /// The foreign resource made by [`World::squat`], as the mock holds it.
    fn foreign_resource(&self, key: &str) -> Option<serde_json::Value>;

    /// Names of the load-balancing resources the mock holds that carry the suite's names.
    fn our_resources(&self) -> BTreeSet<String>;

    /// The members the mock holds over every backend of ours.
    fn members_in_mock(&self) -> BTreeSet<IpAddr>;

    /// The members the mock holds per backend of ours (a target group, a backend service
    /// over its NEGs, a pool), by the backend's name.
    #[allow(dead_code)]
    fn members_by_backend(&self) -> BTreeMap<String, BTreeSet<IpAddr>>;

    /// The address of pod `i` (0 to 9) and the node (0 or 1) it runs on: an address the
    /// cloud takes as a pod IP member (in the VPC; on GCP, in that node's alias range).
    #[allow(dead_code)]
    fn pod(&self, i: u8) -> (IpAddr, usize);

    /// The mock's call log: calls per `service:method`.
    fn calls(&self) -> BTreeMap<String, u64>;

    /// Whether a call-log key is a call that changes state.
    fn is_mutating(&self, key: &str) -> bool;

    /// Every call in the mock's log.
    fn total_calls(&self) -> u64 {
        self.calls().values().sum()
    }

    /// The mutating calls since `before` (a [`World::calls`] snapshot), by key.
    fn mutating_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        let now = self.calls();
        now.into_iter()
            .filter(|(k, _)| self.is_mutating(k))
            .filter_map(|(k, n)| {
                let d = n - before.get(&k).copied().unwrap_or(0);
                (d > 0).then_some((k, d))
            })
            .collect()
    }
}

/// An internal L4 Service `default/<name>` (the AWS tests' NLB: TCP 80, a health check
/// every cloud accepts) with `kind` members on `port`.
pub fn l4_spec(name: &str, kind: TargetKind, port: u16) -> LoadBalancerSpec {
    let mut spec = super::aws_world::common::specs::nlb(name);
    spec.owner = Owner::namespaced(CLUSTER, OwnerKind::Service, "default", name);
    spec.groups[0].target_kind = kind;
    spec.groups[0].port = port;
    spec
}
