//! Plain structs for ELBv2 and security-group resources, desired and actual alike.
//!
//! The planner ([`super::plan`]) builds the desired ones from a spec; [`super::convert`] reads
//! the actual ones from SDK types. Matching ([`super::matching`]) compares the two and never
//! sees an SDK type. Every list that AWS treats as a set is kept sorted, so `==` compares sets.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{IpAddressType, LoadBalancerKind, Scheme};
use serde::Serialize;

pub use crate::sg::{SgRule, SgSource};

/// A load balancer as we want it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredLoadBalancer {
    pub name: String,
    pub kind: LoadBalancerKind,
    pub scheme: Scheme,
    pub ip_address_type: IpAddressType,
    /// Sorted; filled by subnet resolution (explicit or discovered) before matching.
    pub subnets: Vec<String>,
    /// The user's groups, sorted; the managed group is added once it has an ID.
    pub security_groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A load balancer as AWS has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualLoadBalancer {
    pub arn: String,
    pub name: String,
    pub kind: Option<LoadBalancerKind>,
    pub scheme: Option<Scheme>,
    pub ip_address_type: Option<IpAddressType>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub dns_name: Option<String>,
    pub vpc_id: Option<String>,
}

/// Health check settings in ELBv2's own terms (`traffic-port`, matcher codes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSettings {
    pub protocol: String,
    /// `traffic-port` or a port number.
    pub port: String,
    pub path: Option<String>,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredTargetGroup {
    /// The spec's backend group key.
    pub key: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    /// `ip` or `instance`.
    pub target_type: String,
    pub health_check: HealthCheckSettings,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualTargetGroup {
    pub arn: String,
    pub name: String,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    pub target_type: Option<String>,
    pub health_check: HealthCheckSettings,
    pub load_balancer_arns: Vec<String>,
}

/// One target group of a forward action with its weight.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupWeight {
    /// A backend group key in a plan; a target group ARN once resolved and in actual state.
    pub target_group: String,
    pub weight: u32,
}

/// Redirect settings with AWS's defaults filled in (`#{protocol}`, `#{host}`, ...), so that
/// an omitted part and AWS's echo of its default compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectSettings {
    pub protocol: String,
    pub host: String,
    pub port: String,
    pub path: String,
    pub query: String,
    /// `HTTP_301` or `HTTP_302`.
    pub status_code: String,
}

impl RedirectSettings {
    pub const DEFAULT_PROTOCOL: &'static str = "#{protocol}";
    pub const DEFAULT_HOST: &'static str = "#{host}";
    pub const DEFAULT_PORT: &'static str = "#{port}";
    pub const DEFAULT_PATH: &'static str = "/#{path}";
    pub const DEFAULT_QUERY: &'static str = "#{query}";
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedResponseSettings {
    pub status_code: String,
    pub content_type: Option<String>,
    pub message_body: Option<String>,
}

/// A listener or rule action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ElbAction {
    /// Sorted by target group; a single group always has weight 1.
    Forward {
        groups: Vec<TargetGroupWeight>,
    },
    Redirect(RedirectSettings),
    FixedResponse(FixedResponseSettings),
}

impl ElbAction {
    /// A forward action with AWS's normal form: sorted, and weight 1 for a single group.
    pub fn forward(mut groups: Vec<TargetGroupWeight>) -> ElbAction {
        groups.sort();
        if let [only] = groups.as_mut_slice() {
            only.weight = 1;
        }
        ElbAction::Forward { groups }
    }

    /// The target groups it sends to.
    pub fn target_groups(&self) -> impl Iterator<Item = &str> {
        let groups: &[TargetGroupWeight] = match self {
            ElbAction::Forward { groups } => groups,
            _ => &[],
        };
        groups.iter().map(|g| g.target_group.as_str())
    }
}

/// A rule condition: a field and its values, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ElbCondition {
    /// `host-header`, `path-pattern`, `http-header`, `http-request-method`, `query-string` or
    /// `source-ip`.
    pub field: String,
    /// The header's name, for `http-header`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The values of every field but `query-string`.
    pub values: Vec<String>,
    /// Key (none: any key) and value pairs, for `query-string`; sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(Option<String>, String)>,
}

impl ElbCondition {
    pub fn new(field: &str, values: impl IntoIterator<Item = String>) -> ElbCondition {
        let values: BTreeSet<String> = values.into_iter().collect();
        ElbCondition {
            field: field.to_string(),
            header: None,
            values: values.into_iter().collect(),
            query: Vec::new(),
        }
    }

    /// An `http-header` condition.
    pub fn header(name: &str, values: impl IntoIterator<Item = String>) -> ElbCondition {
        ElbCondition {
            header: Some(name.to_string()),
            ..ElbCondition::new("http-header", values)
        }
    }

    /// A `query-string` condition.
    pub fn query(pairs: impl IntoIterator<Item = (Option<String>, String)>) -> ElbCondition {
        let pairs: BTreeSet<(Option<String>, String)> = pairs.into_iter().collect();
        ElbCondition {
            query: pairs.into_iter().collect(),
            ..ElbCondition::new("query-string", [])
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredRule {
    pub priority: i32,
    /// Sorted by field.
    pub conditions: Vec<ElbCondition>,
    pub action: ElbAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualRule {
    pub arn: String,
    pub priority: i32,
    pub conditions: Vec<ElbCondition>,
    /// AWS allows several actions (authentication first); we write exactly one.
    pub actions: Vec<ElbAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredListener {
    pub port: u16,
    pub protocol: String,
    /// The first is the default certificate.
    pub certificates: Vec<String>,
    pub ssl_policy: Option<String>,
    pub default_action: ElbAction,
    pub rules: Vec<DesiredRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualListener {
    pub arn: String,
    pub port: u16,
    pub protocol: Option<String>,
    pub certificates: Vec<String>,
    pub ssl_policy: Option<String>,
    pub default_actions: Vec<ElbAction>,
}

/// The security group the suite manages for an ALB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredSecurityGroup {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub ingress: BTreeSet<SgRule>,
}

/// The rule on the nodes' security group that lets the ALB reach the targets: from the
/// managed group, on these ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredBackendAccess {
    pub node_security_group: String,
    /// `(protocol, from, to)`.
    pub ports: BTreeSet<(String, i32, i32)>,
}

impl DesiredBackendAccess {
    /// The rules once the managed group has an ID.
    pub fn rules(&self, managed_group: &str) -> BTreeSet<SgRule> {
        self.ports
            .iter()
            .map(|(protocol, from, to)| SgRule {
                protocol: protocol.clone(),
                from_port: *from,
                to_port: *to,
                source: SgSource::Group(managed_group.to_string()),
            })
            .collect()
    }
}

/// A security group as AWS has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualSecurityGroup {
    pub id: String,
    pub name: String,
    pub vpc_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub ingress: Vec<SgRule>,
}

/// Everything one spec becomes on AWS, before any call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredStack {
    pub load_balancer: DesiredLoadBalancer,
    pub target_groups: Vec<DesiredTargetGroup>,
    pub listeners: Vec<DesiredListener>,
    /// ALBs only.
    pub security_group: Option<DesiredSecurityGroup>,
    /// ALBs only, only when the nodes' security group is known and the shared backend security group
    /// is switched off.
    pub backend_access: Option<DesiredBackendAccess>,
    /// With the shared backend security group: the ports this stack's targets need from it
    /// (`(protocol, from, to)`); None when the load balancer does not carry it.
    pub backend_ports: Option<BTreeSet<(String, i32, i32)>>,
}

impl DesiredStack {
    pub fn target_group(&self, key: &str) -> Option<&DesiredTargetGroup> {
        self.target_groups.iter().find(|t| t.key == key)
    }
}
