//! VPC routes `pod CIDR -> node`.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum RouteTarget {
    /// An instance (AWS `InstanceId`, GCE `nextHopInstance`, Azure: its primary NIC's IP).
    Instance(String),
    /// A network interface (AWS `NetworkInterfaceId`).
    Interface(String),
    /// A next-hop IP (GCE `nextHopIp`, Azure `VirtualAppliance`).
    Ip(std::net::IpAddr),
}

/// The route's state as the cloud reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum RouteState {
    #[default]
    Active,
    /// The target is gone (AWS `blackhole`); the route carries no traffic.
    Blackhole,
}

/// One route for a node's pod range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The route table (AWS `rtb-…`, Azure route table ID); GCE routes live in the network,
    /// whose name goes here.
    pub table: String,
    pub destination: IpNet,
    pub target: RouteTarget,
    /// The node the route is for (from the name or tags the suite gave it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default)]
    pub state: RouteState,
    /// Created by this cluster (and so its to replace or delete).
    #[serde(default)]
    pub owned: bool,
}
