//! CreateRule, DescribeRules, ModifyRule, DeleteRule, SetRulePriorities.
//!
//! Rules (ELBv2 API reference, CreateRule): rules are for Application Load Balancer
//! listeners; priorities 1..=50000, unique per listener (`PriorityInUse`); at most 100 rules
//! per listener besides the default rule (`TooManyRules`); the default rule has priority
//! `default`, no conditions, and cannot be deleted or re-prioritised
//! (`OperationNotPermitted`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::actions::{parse_actions, write_actions};
use super::conditions::{parse_conditions, write_conditions};
use super::errors::{
    invalid_configuration, operation_not_permitted, required, rule_not_found, too_many, validation,
};
use super::model::{LbType, Rule};
use super::names::{ArnKind, expect_arn};
use super::pagination::paginate;
use super::{Elbv2, tags};

fn priority_in(params: &Params, key: &str) -> Result<u32, AwsError> {
    let p = super::errors::int_in(params, key, 1, 50_000)?;
    p.map(|p| p as u32).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

fn priority_in_use(priority: u32) -> AwsError {
    AwsError::client(
        "PriorityInUse",
        format!("Priority '{priority}' is currently in use"),
    )
}

/// Sort key of DescribeRules: by priority, the default rule last, then by age.
fn rule_order(r: &Rule) -> u64 {
    let p = u64::from(r.priority.unwrap_or(u32::MAX));
    (p << 32) | (r.seq & 0xffff_ffff)
}

impl Elbv2 {
    fn rule(&self, arn: &str) -> Result<&Rule, AwsError> {
        expect_arn(arn, ArnKind::Rule)?;
        self.rules.get(arn).ok_or_else(rule_not_found)
    }

    pub(super) fn create_rule(&mut self, params: &Params, now: Instant) -> Result<Xml, AwsError> {
        let listener = self.listener(required(params, "ListenerArn")?)?;
        let lb = self.load_balancer(&listener.load_balancer_arn)?;
        if lb.kind != LbType::Application {
            return Err(invalid_configuration(
                "Rules can only be created for listeners of Application Load Balancers",
            ));
        }
        let priority = priority_in(params, "Priority")?;
        let quotas = &self.config.quotas;
        let conditions = parse_conditions(params, quotas.condition_values_per_rule)?;
        if conditions.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'conditions' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
        let actions = parse_actions(params, "Actions.member", quotas.target_groups_per_action)?;
        self.check_actions(lb, listener.protocol.as_deref(), &actions)?;
        let new_tags = tags::parse_new_tags(params, "Tags.member", quotas.tags_per_resource)?;
        let on_listener: Vec<&Rule> = self
            .rules
            .values()
            .filter(|r| r.listener_arn == listener.arn && !r.is_default())
            .collect();
        if on_listener.iter().any(|r| r.priority == Some(priority)) {
            return Err(priority_in_use(priority));
        }
        if on_listener.len() >= quotas.rules_per_listener {
            return Err(too_many(
                "TooManyRules",
                "The quota for the number of rules per listener has been reached",
            ));
        }
        let listener_arn = listener.arn.clone();
        let stem = listener_arn
            .split_once(":listener/")
            .map(|(_, s)| s.to_string())
            .unwrap_or_default();
        let (seq, id) = self.next_id();
        let arn = self.arn(&format!("listener-rule/{stem}/{id}"));
        let rule = Rule {
            arn: arn.clone(),
            listener_arn,
            priority: Some(priority),
            conditions,
            actions,
            tags: new_tags,
            seq,
        };
        let mut x = Xml::new();
        x.list("Rules", "member", [&rule], write_rule);
        self.rules.insert(arn.clone(), rule);
        self.refresh_usage(now);
        tracing::info!(%arn, priority, "Rule created");
        Ok(x)
    }

    pub(super) fn describe_rules(&self, params: &Params) -> Result<Xml, AwsError> {
        let listener = params.get("ListenerArn").filter(|s| !s.is_empty());
        let arns = params.list("RuleArns.member");
        let found: Vec<&Rule> = match (listener, arns.is_empty()) {
            (Some(_), false) => {
                return Err(validation(
                    "Listener ARN and rule ARNs cannot be specified at the same time",
                ));
            }
            (None, true) => {
                return Err(validation("You must specify either listener or rule ARNs"));
            }
            (Some(l), true) => {
                self.listener(l)?;
                self.rules
                    .values()
                    .filter(|r| r.listener_arn == l)
                    .collect()
            }
            (None, false) => {
                let mut v: BTreeMap<&str, &Rule> = BTreeMap::new();
                for a in &arns {
                    let r = self.rule(a)?;
                    v.insert(r.arn.as_str(), r);
                }
                v.into_values().collect()
            }
        };
        let page = paginate(found, |r| rule_order(r), params)?;
        let mut x = Xml::new();
        x.list("Rules", "member", page.items, write_rule);
        x.opt_leaf("NextMarker", page.next_marker);
        Ok(x)
    }

    pub(super) fn modify_rule(&mut self, params: &Params, now: Instant) -> Result<Xml, AwsError> {
        let arn = required(params, "RuleArn")?;
        let rule = self.rule(arn)?;
        let has_conditions = !params.structs("Conditions.member").is_empty();
        let has_actions = !params.structs("Actions.member").is_empty();
        if !has_conditions && !has_actions {
            return Err(validation("Either conditions or actions must be specified"));
        }
        if rule.is_default() && has_conditions {
            return Err(operation_not_permitted(
                "The conditions of a default rule cannot be modified",
            ));
        }
        let quotas = &self.config.quotas;
        let conditions = if has_conditions {
            Some(parse_conditions(params, quotas.condition_values_per_rule)?)
        } else {
            None
        };
        let actions = if has_actions {
            let listener = self.listener(&rule.listener_arn)?;
            let lb = self.load_balancer(&listener.load_balancer_arn)?;
            let a = parse_actions(params, "Actions.member", quotas.target_groups_per_action)?;
            self.check_actions(lb, listener.protocol.as_deref(), &a)?;
            Some(a)
        } else {
            None
        };
        let Some(rule) = self.rules.get_mut(arn) else {
            return Err(rule_not_found());
        };
        if let Some(c) = conditions {
            rule.conditions = c;
        }
        if let Some(a) = actions {
            rule.actions = a;
        }
        let mut x = Xml::new();
        x.list("Rules", "member", [&*rule], write_rule);
        self.refresh_usage(now);
        Ok(x)
    }

    pub(super) fn delete_rule(&mut self, params: &Params, now: Instant) -> Result<Xml, AwsError> {
        let arn = required(params, "RuleArn")?;
        if self.rule(arn)?.is_default() {
            return Err(operation_not_permitted(format!(
                "Default rule '{arn}' cannot be deleted"
            )));
        }
        self.rules.remove(arn);
        self.refresh_usage(now);
        tracing::info!(%arn, "Rule deleted");
        Ok(Xml::new())
    }

    pub(super) fn set_rule_priorities(&mut self, params: &Params) -> Result<Xml, AwsError> {
        let wanted = params.structs("RulePriorities.member");
        if wanted.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'rulePriorities' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
        let mut changes: Vec<(String, u32)> = Vec::new();
        let mut per_listener: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
        for w in &wanted {
            let arn = required(w, "RuleArn")?;
            let priority = priority_in(w, "Priority")?;
            let rule = self.rule(arn)?;
            if rule.is_default() {
                return Err(operation_not_permitted(format!(
                    "The priority of default rule '{arn}' cannot be changed"
                )));
            }
            if !per_listener
                .entry(rule.listener_arn.clone())
                .or_default()
                .insert(priority)
            {
                return Err(validation(format!(
                    "Priority '{priority}' was provided multiple times"
                )));
            }
            changes.push((arn.to_string(), priority));
        }
        let moving: BTreeSet<&str> = changes.iter().map(|(a, _)| a.as_str()).collect();
        for r in self.rules.values() {
            if moving.contains(r.arn.as_str()) {
                continue;
            }
            if let (Some(p), Some(taken)) = (r.priority, per_listener.get(&r.listener_arn))
                && taken.contains(&p)
            {
                return Err(priority_in_use(p));
            }
        }
        for (arn, p) in &changes {
            if let Some(r) = self.rules.get_mut(arn) {
                r.priority = Some(*p);
            }
        }
        let mut x = Xml::new();
        let changed: Vec<&Rule> = changes
            .iter()
            .filter_map(|(a, _)| self.rules.get(a))
            .collect();
        x.list("Rules", "member", changed, write_rule);
        Ok(x)
    }
}

fn write_rule(x: &mut Xml, r: &Rule) {
    x.leaf("RuleArn", &r.arn);
    match r.priority {
        Some(p) => x.leaf("Priority", p),
        None => x.leaf("Priority", "default"),
    };
    write_conditions(x, &r.conditions);
    write_actions(x, "Actions", &r.actions);
    x.leaf("IsDefault", r.is_default());
}
