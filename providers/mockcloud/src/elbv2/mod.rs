//! Elastic Load Balancing v2 (ALB, NLB, GWLB) as a state machine with AWS's own rules.
//!
//! The HTTP server decodes an awsQuery request into [`Params`], hands it to
//! [`Elbv2::handle`] together with a view of the EC2 network (subnets, security groups, VPCs,
//! instances) and the current instant, and wraps the returned body in the awsQuery envelope
//! (`<{Action}Response><{Action}Result>..`). Errors come back as [`AwsError`] with ELBv2's
//! codes (`LoadBalancerNotFound`, `PriorityInUse`, `ValidationError`, ...).
//!
//! ```text
//! server ──Params──▶ Elbv2::handle ──▶ load_balancers / target_groups / targets / listeners
//!                         │                rules / attributes / tags
//!                         └── NetworkView (EC2 state: subnets, SGs, VPC CIDRs, instances)
//! ```
//!
//! Time only moves through the `now` argument: target health (`initial` -> `healthy`),
//! draining after deregistration and load balancer provisioning are all computed from it, so
//! tests can drive the clock.
//!
//! Wire shapes and error codes follow the ELBv2 API model (botocore
//! `botocore/data/elbv2/2015-12-01/service-2.json`) and the ELBv2 API reference.

mod actions;
mod attributes;
mod conditions;
mod errors;
mod limits;
mod listeners;
mod load_balancers;
mod model;
mod names;
mod pagination;
mod rules;
mod tags;
mod target_groups;
mod targets;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

pub use model::{Listener, LoadBalancer, Rule, TargetGroup};

/// What ELBv2 needs to know about the EC2 network; implemented by the EC2 state.
pub trait NetworkView {
    fn subnet(&self, id: &str) -> Option<SubnetInfo>;
    /// The VPC of a security group, when it exists.
    fn security_group_vpc(&self, id: &str) -> Option<String>;
    /// The IPv4 CIDRs of a VPC; empty when there is no such VPC.
    fn vpc_cidrs(&self, vpc_id: &str) -> Vec<ipnet::Ipv4Net>;
    fn instance(&self, id: &str) -> Option<InstanceInfo>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetInfo {
    pub vpc_id: String,
    pub availability_zone: String,
    pub cidr: ipnet::Ipv4Net,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    pub vpc_id: String,
    pub running: bool,
}

/// AWS's default quotas for ELBv2 (Service Quotas, "Quotas for your Application/Network Load
/// Balancers"); a world file may lower them to make limits reachable in tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case", deny_unknown_fields)]
pub struct Quotas {
    pub load_balancers: usize,
    pub target_groups: usize,
    pub listeners_per_load_balancer: usize,
    /// Rules per listener, not counting the default rule.
    pub rules_per_listener: usize,
    pub targets_per_target_group: usize,
    pub target_groups_per_action: usize,
    /// Condition values across all conditions of one rule.
    pub condition_values_per_rule: usize,
    pub tags_per_resource: usize,
    pub certificates_per_listener: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            load_balancers: 50,
            target_groups: 3000,
            listeners_per_load_balancer: 50,
            rules_per_listener: 100,
            targets_per_target_group: 1000,
            target_groups_per_action: 5,
            condition_values_per_rule: 5,
            tags_per_resource: 50,
            certificates_per_listener: 25,
        }
    }
}

/// How the simulated ELBv2 behaves in time, and its quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case", deny_unknown_fields)]
pub struct Elbv2Config {
    /// How long a registered target stays `initial` before it turns `healthy` (once its target
    /// group receives traffic).
    pub health_check_delay_ms: u64,
    /// How long a new load balancer stays `provisioning` before it is `active`.
    pub provisioning_delay_ms: u64,
    pub quotas: Quotas,
}

impl Default for Elbv2Config {
    fn default() -> Self {
        Elbv2Config {
            health_check_delay_ms: 5_000,
            provisioning_delay_ms: 0,
            quotas: Quotas::default(),
        }
    }
}

impl Elbv2Config {
    fn health_check_delay(&self) -> Duration {
        Duration::from_millis(self.health_check_delay_ms)
    }

    fn provisioning_delay(&self) -> Duration {
        Duration::from_millis(self.provisioning_delay_ms)
    }
}

/// The whole ELBv2 state of one region and account.
#[derive(Debug, Serialize)]
pub struct Elbv2 {
    region: String,
    account_id: String,
    config: Elbv2Config,
    load_balancers: BTreeMap<String, LoadBalancer>,
    target_groups: BTreeMap<String, TargetGroup>,
    listeners: BTreeMap<String, Listener>,
    rules: BTreeMap<String, Rule>,
    /// Target ids (IPs, instance ids) forced `unhealthy` by a fault knob.
    unhealthy_targets: BTreeSet<String>,
    /// Resource ids and their creation order.
    ids: crate::ids::IdGen,
}

impl Default for Elbv2 {
    fn default() -> Self {
        Elbv2::new("us-west-2", "123456789012", Elbv2Config::default())
    }
}

impl Elbv2 {
    pub fn new(
        region: impl Into<String>,
        account_id: impl Into<String>,
        config: Elbv2Config,
    ) -> Self {
        Elbv2 {
            region: region.into(),
            account_id: account_id.into(),
            config,
            load_balancers: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            listeners: BTreeMap::new(),
            rules: BTreeMap::new(),
            unhealthy_targets: BTreeSet::new(),
            ids: crate::ids::IdGen::default(),
        }
    }

    /// How many load balancers exist (for summaries).
    pub fn load_balancer_count(&self) -> usize {
        self.load_balancers.len()
    }

    /// How many target groups exist (for summaries).
    pub fn target_group_count(&self) -> usize {
        self.target_groups.len()
    }

    pub fn config(&self) -> &Elbv2Config {
        &self.config
    }

    pub fn set_config(&mut self, config: Elbv2Config) {
        self.config = config;
    }

    /// Marks every registered target with this id (IP address or instance id) `unhealthy`
    /// (reason `Target.FailedHealthChecks`), or clears the mark.
    pub fn set_target_unhealthy(&mut self, target_id: &str, unhealthy: bool) {
        if unhealthy {
            self.unhealthy_targets.insert(target_id.to_string());
        } else {
            self.unhealthy_targets.remove(target_id);
        }
    }

    /// Answers one ELBv2 action: the XML that goes inside `<{Action}Result>`, or an AWS error.
    pub fn handle(
        &mut self,
        net: &dyn NetworkView,
        action: &str,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        self.expire_draining(now);
        let result = match action {
            "CreateLoadBalancer" => self.create_load_balancer(net, params, now),
            "DescribeLoadBalancers" => self.describe_load_balancers(params, now),
            "DeleteLoadBalancer" => self.delete_load_balancer(params, now),
            "SetSecurityGroups" => self.set_security_groups(net, params),
            "SetSubnets" => self.set_subnets(net, params),
            "SetIpAddressType" => self.set_ip_address_type(params),
            "DescribeLoadBalancerAttributes" => self.describe_load_balancer_attributes(params),
            "ModifyLoadBalancerAttributes" => self.modify_load_balancer_attributes(params),
            "CreateTargetGroup" => self.create_target_group(net, params),
            "DescribeTargetGroups" => self.describe_target_groups(params),
            "ModifyTargetGroup" => self.modify_target_group(params),
            "DeleteTargetGroup" => self.delete_target_group(params),
            "DescribeTargetGroupAttributes" => self.describe_target_group_attributes(params),
            "ModifyTargetGroupAttributes" => self.modify_target_group_attributes(params),
            "RegisterTargets" => self.register_targets(net, params, now),
            "DeregisterTargets" => self.deregister_targets(params, now),
            "DescribeTargetHealth" => self.describe_target_health(net, params, now),
            "CreateListener" => self.create_listener(params, now),
            "DescribeListeners" => self.describe_listeners(params),
            "ModifyListener" => self.modify_listener(params, now),
            "DeleteListener" => self.delete_listener(params, now),
            "CreateRule" => self.create_rule(params, now),
            "DescribeRules" => self.describe_rules(params),
            "ModifyRule" => self.modify_rule(params, now),
            "DeleteRule" => self.delete_rule(params, now),
            "SetRulePriorities" => self.set_rule_priorities(params),
            "AddTags" => self.add_tags(params),
            "RemoveTags" => self.remove_tags(params),
            "DescribeTags" => self.describe_tags(params),
            "DescribeAccountLimits" => self.describe_account_limits(params),
            "DescribeSSLPolicies" => self.describe_ssl_policies(params),
            _ => Err(AwsError::invalid_action(action)),
        };
        if let Err(e) = &result {
            tracing::debug!(action, code = %e.code, "ELBv2 request refused");
        }
        result
    }

    /// The next resource id: 16 lowercase hex digits, unique and reproducible from run to run.
    fn next_id(&mut self) -> (u64, String) {
        self.ids.sequenced()
    }

    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{resource}",
            self.region, self.account_id
        )
    }

    /// Recomputes which target groups receive traffic (are referenced by a forward action of
    /// some listener rule) and since when; targets of a group that starts receiving traffic
    /// begin their health checks now.
    fn refresh_usage(&mut self, now: Instant) {
        let used: BTreeSet<String> = self
            .rules
            .values()
            .flat_map(|r| r.actions.iter())
            .flat_map(|a| a.target_group_arns())
            .map(str::to_string)
            .collect();
        for (arn, tg) in &mut self.target_groups {
            match (used.contains(arn), tg.in_use_since) {
                (true, None) => tg.in_use_since = Some(now),
                (false, Some(_)) => tg.in_use_since = None,
                _ => {}
            }
        }
    }

    /// For every target group some rule forwards to, the load balancers of those rules: one
    /// pass over the rules, for answers that need it for many groups at once.
    fn load_balancers_by_target_group(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut index: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in self.rules.values() {
            let Some(l) = self.listeners.get(&r.listener_arn) else {
                continue;
            };
            for tg in r.actions.iter().flat_map(|a| a.target_group_arns()) {
                index
                    .entry(tg)
                    .or_default()
                    .insert(l.load_balancer_arn.as_str());
            }
        }
        index
    }

    /// The load balancers whose listener rules forward to a target group, in ARN order.
    fn target_group_load_balancers(&self, tg_arn: &str) -> Vec<String> {
        let lbs: BTreeSet<String> = self
            .rules
            .values()
            .filter(|r| {
                r.actions
                    .iter()
                    .any(|a| a.target_group_arns().any(|t| t == tg_arn))
            })
            .filter_map(|r| self.listeners.get(&r.listener_arn))
            .map(|l| l.load_balancer_arn.clone())
            .collect();
        lbs.into_iter().collect()
    }
}

/// Now as ISO-8601 in UTC with milliseconds, the way ELBv2 writes `CreatedTime`.
fn iso8601_now() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    iso8601(since)
}

fn iso8601(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}
