//! The ELBv2 resources as the state holds them (and as the state dump shows them).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::actions::Action;
use super::conditions::Condition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LbType {
    Application,
    Network,
    Gateway,
}

impl LbType {
    pub const VALUES: [&'static str; 3] = ["application", "network", "gateway"];

    pub fn parse(s: &str) -> Option<LbType> {
        match s {
            "application" => Some(LbType::Application),
            "network" => Some(LbType::Network),
            "gateway" => Some(LbType::Gateway),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LbType::Application => "application",
            LbType::Network => "network",
            LbType::Gateway => "gateway",
        }
    }

    /// The segment in the load balancer's ARN: `loadbalancer/app/..`, `net`, `gwy`.
    pub fn arn_kind(self) -> &'static str {
        match self {
            LbType::Application => "app",
            LbType::Network => "net",
            LbType::Gateway => "gwy",
        }
    }
}

/// One subnet a load balancer has a node in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LbSubnet {
    pub subnet_id: String,
    pub zone: String,
    pub private_ipv4_address: Option<String>,
    pub allocation_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: LbType,
    pub scheme: String,
    pub vpc_id: String,
    pub subnets: Vec<LbSubnet>,
    pub security_groups: Vec<String>,
    pub ip_address_type: String,
    pub dns_name: String,
    pub canonical_hosted_zone_id: String,
    pub created_time: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub(super) seq: u64,
    #[serde(skip)]
    pub(super) created_at: Instant,
}

/// A target group's health check settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    pub enabled: bool,
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub matcher_http_code: Option<String>,
    pub matcher_grpc_code: Option<String>,
}

/// One registered target. `(id, port)` identifies it within its group.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub id: String,
    pub port: Option<u16>,
    pub availability_zone: Option<String>,
    #[serde(skip)]
    pub(super) registered_at: Instant,
}

/// A deregistered target that is still draining connections.
#[derive(Debug, Clone, Serialize)]
pub struct DrainingTarget {
    pub target: Target,
    #[serde(skip)]
    pub(super) until: Instant,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub protocol: Option<String>,
    pub protocol_version: Option<String>,
    pub port: Option<u16>,
    pub vpc_id: Option<String>,
    pub target_type: String,
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Keyed by `id:port`.
    pub targets: BTreeMap<String, Target>,
    pub draining: Vec<DrainingTarget>,
    pub(super) seq: u64,
    /// Since when a listener rule forwards to this group (health checks run only then).
    #[serde(skip)]
    pub(super) in_use_since: Option<Instant>,
}

impl TargetGroup {
    pub fn target_key(id: &str, port: Option<u16>) -> String {
        match port {
            Some(p) => format!("{id}:{p}"),
            None => id.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: Option<u16>,
    pub protocol: Option<String>,
    pub certificates: Vec<String>,
    pub ssl_policy: Option<String>,
    pub alpn_policy: Vec<String>,
    /// The listener's default rule; its actions are the listener's default actions.
    pub default_rule_arn: String,
    pub tags: BTreeMap<String, String>,
    pub(super) seq: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub arn: String,
    pub listener_arn: String,
    /// `None` for the default rule.
    pub priority: Option<u32>,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub tags: BTreeMap<String, String>,
    pub(super) seq: u64,
}

impl Rule {
    pub fn is_default(&self) -> bool {
        self.priority.is_none()
    }
}
