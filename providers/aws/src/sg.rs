//! Security group rules as the suite models them, and the shared backend security group's
//! cached state. A leaf module: the provider holds the cache, the load balancer code fills it,
//! and neither needs the other to name these types.

use std::time::Instant;

use serde::Serialize;

/// Where an ingress rule lets traffic in from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "value")]
pub enum SgSource {
    Cidr(String),
    Group(String),
}

/// One ingress permission, in the shape `AuthorizeSecurityGroupIngress` takes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SgRule {
    /// `tcp`, `udp` or `-1`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: SgSource,
}

/// The backend security group and the nodes' group's rules, as last read or written.
#[derive(Debug, Clone)]
pub(crate) struct BackendState {
    /// None: not there when last read (a foreign group under the name is never cached).
    pub(crate) group_id: Option<String>,
    /// Every ingress rule of the nodes' group (ours and others').
    pub(crate) node_rules: Vec<SgRule>,
    pub(crate) read_at: Instant,
}
