//! The change set: what `ensure` does to one stack, as data.
//!
//! [`super::diff`] builds it from the planned stack and the observed one without any call;
//! [`AwsProvider::plan`](crate::AwsProvider::plan) returns it for `cloudnet plan`, and the
//! apply step executes it in order. It serialises to JSON, so a plan can be printed and
//! compared in tests.
//!
//! A change names the resources it acts on by [`Ref`]: the ID or ARN of one that exists, or
//! the name of one an earlier change of the same set creates (known only once applied).
//! Target group references inside actions stay the spec's group keys; apply turns them into
//! ARNs with [`ChangeSet::target_groups`] and what it creates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cloudnet_core::IpAddressType;
use serde::Serialize;

use super::matching::{ListenerChanges, TagChanges};
use super::model::{
    DesiredListener, DesiredLoadBalancer, DesiredRule, DesiredTargetGroup, HealthCheckSettings,
    SgRule, SgSource,
};

/// A resource a change acts on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Ref {
    /// Exists: its ID or ARN.
    Existing(String),
    /// Created by an earlier change of the same set: its name (a port for a listener).
    New(String),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Existing(id) => f.write_str(id),
            Ref::New(name) => write!(f, "{name} (new)"),
        }
    }
}

/// Ports an ingress rule from one group admits: `(protocol, from, to)` with the source left
/// out, because the source may be a group not created yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    /// `tcp`, `udp` or `-1`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
}

impl PortRange {
    pub fn of(rule: &SgRule) -> PortRange {
        PortRange {
            protocol: rule.protocol.clone(),
            from_port: rule.from_port,
            to_port: rule.to_port,
        }
    }

    pub fn from_tuple((protocol, from_port, to_port): &(String, i32, i32)) -> PortRange {
        PortRange {
            protocol: protocol.clone(),
            from_port: *from_port,
            to_port: *to_port,
        }
    }

    /// The rule admitting these ports from `group`.
    pub fn rule_from(&self, group: &str) -> SgRule {
        SgRule {
            protocol: self.protocol.clone(),
            from_port: self.from_port,
            to_port: self.to_port,
            source: SgSource::Group(group.to_string()),
        }
    }
}

/// One typed change. The variants are listed in the order a set applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "change")]
pub enum Change {
    /// The ALB's managed (frontend) security group, with its ingress rules.
    #[serde(rename_all = "camelCase")]
    CreateSecurityGroup {
        name: String,
        description: String,
        tags: BTreeMap<String, String>,
        ingress: Vec<SgRule>,
    },
    /// Drift of the managed group: rules to authorize and revoke, tags to change.
    #[serde(rename_all = "camelCase")]
    ModifySecurityGroup {
        name: String,
        id: String,
        authorize: Vec<SgRule>,
        revoke: Vec<SgRule>,
        #[serde(skip_serializing_if = "TagChanges::is_empty")]
        tags: TagChanges,
    },
    /// Without the shared backend security group: the rules on the nodes' group that let
    /// this ALB's managed group in.
    #[serde(rename_all = "camelCase")]
    AdmitFrontend {
        node_security_group: String,
        frontend: Ref,
        authorize: Vec<PortRange>,
        revoke: Vec<PortRange>,
    },
    /// The cluster's shared backend security group, first needed by this stack.
    #[serde(rename_all = "camelCase")]
    CreateBackendSg { name: String },
    /// The nodes' group's rule from the shared backend security group does not cover what
    /// this stack's targets need (`needs`); `authorize`/`revoke` are the widening seen now.
    /// Applied under the cluster-wide lock against the latest state, so concurrent stacks
    /// end with one rule per protocol.
    #[serde(rename_all = "camelCase")]
    AdmitBackendSg {
        node_security_group: String,
        backend_sg: Ref,
        needs: BTreeSet<PortRange>,
        authorize: Vec<PortRange>,
        revoke: Vec<PortRange>,
    },
    /// A target group with its tags, then its attributes (when any are set).
    #[serde(rename_all = "camelCase")]
    CreateTargetGroup { target_group: DesiredTargetGroup },
    /// Drift of a target group; only the fields set differ.
    #[serde(rename_all = "camelCase")]
    ModifyTargetGroup {
        key: String,
        name: String,
        arn: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        health_check: Option<HealthCheckSettings>,
        #[serde(skip_serializing_if = "TagChanges::is_empty")]
        tags: TagChanges,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        attributes: BTreeMap<String, String>,
    },
    /// The load balancer (its attributes written right after, when any are set).
    #[serde(rename_all = "camelCase")]
    CreateLoadBalancer {
        load_balancer: DesiredLoadBalancer,
        security_groups: Vec<Ref>,
    },
    /// Drift of the load balancer; only the fields set differ.
    #[serde(rename_all = "camelCase")]
    ModifyLoadBalancer {
        name: String,
        arn: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        subnets: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        security_groups: Option<Vec<Ref>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ip_address_type: Option<IpAddressType>,
        #[serde(skip_serializing_if = "TagChanges::is_empty")]
        tags: TagChanges,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        attributes: BTreeMap<String, String>,
    },
    /// Migration to the shared backend security group: once the load balancer carries it,
    /// the rules its managed group had on the nodes' group go.
    #[serde(rename_all = "camelCase")]
    RevokeFrontendAdmission {
        node_security_group: String,
        frontend: String,
        revoke: Vec<PortRange>,
    },
    /// A listener (actions name group keys); its rules follow as [`Change::CreateRule`].
    #[serde(rename_all = "camelCase")]
    CreateListener { listener: DesiredListener },
    /// A drifted listener: `changed` says which fields differ; the whole listener is written.
    #[serde(rename_all = "camelCase")]
    ModifyListener {
        port: u16,
        arn: String,
        changed: ListenerChanges,
        listener: DesiredListener,
    },
    /// A rule no longer wanted (first, to free its priority).
    #[serde(rename_all = "camelCase")]
    DeleteRule {
        listener: u16,
        priority: i32,
        arn: String,
    },
    /// A rule whose conditions or action drifted, modified in place.
    #[serde(rename_all = "camelCase")]
    ModifyRule {
        listener: u16,
        arn: String,
        conditions: bool,
        action: bool,
        rule: DesiredRule,
    },
    #[serde(rename_all = "camelCase")]
    CreateRule {
        listener: u16,
        listener_ref: Ref,
        rule: DesiredRule,
    },
    /// Listeners and target groups nothing wants any more go last.
    #[serde(rename_all = "camelCase")]
    DeleteListener { port: u16, arn: String },
    #[serde(rename_all = "camelCase")]
    DeleteTargetGroup { name: String, arn: String },
}

impl Change {
    /// True for changes that create something.
    pub fn is_create(&self) -> bool {
        matches!(
            self,
            Change::CreateSecurityGroup { .. }
                | Change::CreateBackendSg { .. }
                | Change::CreateTargetGroup { .. }
                | Change::CreateLoadBalancer { .. }
                | Change::CreateListener { .. }
                | Change::CreateRule { .. }
        )
    }

    /// True for changes that delete something.
    pub fn is_delete(&self) -> bool {
        matches!(
            self,
            Change::DeleteRule { .. }
                | Change::DeleteListener { .. }
                | Change::DeleteTargetGroup { .. }
        )
    }
}

/// A short name of the change and its resource, as errors and logs show it.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateSecurityGroup { name, .. } => write!(f, "create security group {name}"),
            Change::ModifySecurityGroup { name, id, .. } => {
                write!(f, "modify security group {name} ({id})")
            }
            Change::AdmitFrontend {
                node_security_group,
                frontend,
                ..
            } => write!(
                f,
                "admit {frontend} on the nodes' group {node_security_group}"
            ),
            Change::CreateBackendSg { name } => {
                write!(f, "create shared backend security group {name}")
            }
            Change::AdmitBackendSg {
                node_security_group,
                backend_sg,
                ..
            } => write!(
                f,
                "admit shared backend security group {backend_sg} on the nodes' group {node_security_group}"
            ),
            Change::CreateTargetGroup { target_group } => {
                write!(f, "create target group {}", target_group.name)
            }
            Change::ModifyTargetGroup { name, .. } => write!(f, "modify target group {name}"),
            Change::CreateLoadBalancer { load_balancer, .. } => {
                write!(f, "create load balancer {}", load_balancer.name)
            }
            Change::ModifyLoadBalancer { name, .. } => write!(f, "modify load balancer {name}"),
            Change::RevokeFrontendAdmission { frontend, .. } => {
                write!(f, "revoke the nodes' rules from {frontend}")
            }
            Change::CreateListener { listener } => write!(f, "create listener {}", listener.port),
            Change::ModifyListener { port, .. } => write!(f, "modify listener {port}"),
            Change::DeleteRule {
                listener, priority, ..
            } => write!(f, "delete rule {priority} of listener {listener}"),
            Change::ModifyRule { listener, rule, .. } => {
                write!(f, "modify rule {} of listener {listener}", rule.priority)
            }
            Change::CreateRule { listener, rule, .. } => {
                write!(f, "create rule {} of listener {listener}", rule.priority)
            }
            Change::DeleteListener { port, .. } => write!(f, "delete listener {port}"),
            Change::DeleteTargetGroup { name, .. } => write!(f, "delete target group {name}"),
        }
    }
}

/// Everything `ensure` changes on one stack, in the order it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSet {
    /// The load balancer's name and what it is (or will be) after the set is applied.
    pub load_balancer_name: String,
    pub load_balancer: Ref,
    /// Every wanted target group by group key, existing or created by the set.
    pub target_groups: BTreeMap<String, Ref>,
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// Nothing to do: the stack is as planned.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_serialise_tagged_with_their_kind_and_only_differing_fields() {
        let c = Change::ModifyTargetGroup {
            key: "shop/web:80".into(),
            name: "k8s-shop-web-1".into(),
            arn: "arn:tg".into(),
            health_check: None,
            tags: TagChanges::default(),
            attributes: BTreeMap::from([("a".to_string(), "1".to_string())]),
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "change": "modifyTargetGroup",
                "key": "shop/web:80",
                "name": "k8s-shop-web-1",
                "arn": "arn:tg",
                "attributes": {"a": "1"},
            })
        );
        assert_eq!(c.to_string(), "modify target group k8s-shop-web-1");
        assert!(!c.is_create() && !c.is_delete());
        let r = serde_json::to_value(Ref::New("k8s-sg".into())).unwrap();
        assert_eq!(r, serde_json::json!({"new": "k8s-sg"}));
        assert_eq!(Ref::New("k8s-sg".into()).to_string(), "k8s-sg (new)");
    }

    #[test]
    fn port_ranges_round_trip_through_rules() {
        let p = PortRange::from_tuple(&("tcp".to_string(), 80, 90));
        let rule = p.rule_from("sg-1");
        assert_eq!(rule.source, SgSource::Group("sg-1".into()));
        assert_eq!(PortRange::of(&rule), p);
    }
}
