//! Apply: executes a [`ChangeSet`] in its order, one change after the other, and stops at
//! the first failure; the error names that change (its message starts with it, e.g.
//! `create listener 443: ...`) and keeps the cloud's kind and code, so a throttled or
//! conflicting change is still told apart by the caller. What was applied before it stays:
//! the next `ensure` observes it and goes on from there.
//!
//! Resources created by the set are known by name until created; apply keeps their IDs and
//! ARNs and resolves later changes' [`Ref`]s and group keys with them.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{Error, Owner, Result};

use super::changes::{Change, ChangeSet, PortRange, Ref};
use super::matching::SgRuleChanges;
use super::model::{DesiredListener, DesiredRule, ElbAction};
use super::plan::resolve_action;
use crate::provider::AwsProvider;

pub(crate) use super::diff::conflict;

/// What an applied set leaves: the identities `ensure` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub load_balancer_arn: String,
    /// The DNS name of a load balancer created now (an existing one's was observed).
    pub dns_name: Option<String>,
    /// Target group ARN per group key.
    pub target_groups: BTreeMap<String, String>,
}

/// IDs and ARNs learnt while applying.
#[derive(Default)]
struct Known {
    /// Security group name -> ID, for groups created by the set.
    security_groups: BTreeMap<String, String>,
    /// Group key -> target group ARN, existing and created.
    target_groups: BTreeMap<String, String>,
    /// Port -> ARN of listeners created by the set.
    listeners: BTreeMap<String, String>,
    load_balancer: Option<String>,
    dns_name: Option<String>,
}

fn unresolved(what: &str, name: &str) -> Error {
    Error::invalid(format!(
        "the change set uses {what} {name} before a change creates it"
    ))
}

impl Known {
    fn security_group(&self, r: &Ref) -> Result<String> {
        match r {
            Ref::Existing(id) => Ok(id.clone()),
            Ref::New(name) => self
                .security_groups
                .get(name)
                .cloned()
                .ok_or_else(|| unresolved("security group", name)),
        }
    }

    fn listener(&self, r: &Ref) -> Result<String> {
        match r {
            Ref::Existing(arn) => Ok(arn.clone()),
            Ref::New(port) => self
                .listeners
                .get(port)
                .cloned()
                .ok_or_else(|| unresolved("listener", port)),
        }
    }

    fn load_balancer(&self) -> Result<String> {
        self.load_balancer
            .clone()
            .ok_or_else(|| unresolved("the load balancer", ""))
    }

    fn action(&self, a: &ElbAction) -> Result<ElbAction> {
        resolve_action(a, &self.target_groups).map_err(|key| unresolved("target group", &key))
    }

    fn listener_with_arns(&self, l: &DesiredListener) -> Result<DesiredListener> {
        Ok(DesiredListener {
            default_action: self.action(&l.default_action)?,
            ..l.clone()
        })
    }

    fn rule_with_arns(&self, r: &DesiredRule) -> Result<DesiredRule> {
        Ok(DesiredRule {
            action: self.action(&r.action)?,
            ..r.clone()
        })
    }
}

fn rules_from(group: &str, ports: &[PortRange]) -> Vec<super::model::SgRule> {
    ports.iter().map(|p| p.rule_from(group)).collect()
}

impl AwsProvider {
    /// Executes `set` in order; stops at the first failure, naming the change.
    pub(crate) async fn apply_changes(&self, owner: &Owner, set: &ChangeSet) -> Result<Applied> {
        let mut known = Known::default();
        for (key, r) in &set.target_groups {
            if let Ref::Existing(arn) = r {
                known.target_groups.insert(key.clone(), arn.clone());
            }
        }
        if let Ref::Existing(arn) = &set.load_balancer {
            known.load_balancer = Some(arn.clone());
        }
        for change in &set.changes {
            self.apply_one(owner, change, &mut known)
                .await
                .map_err(|e| e.during(change))?;
            tracing::debug!(change = %change, "Change applied");
        }
        let mut target_groups = BTreeMap::new();
        for key in set.target_groups.keys() {
            let arn = known
                .target_groups
                .get(key)
                .ok_or_else(|| unresolved("target group", key))?;
            target_groups.insert(key.clone(), arn.clone());
        }
        Ok(Applied {
            load_balancer_arn: known.load_balancer()?,
            dns_name: known.dns_name,
            target_groups,
        })
    }

    async fn apply_one(&self, owner: &Owner, change: &Change, known: &mut Known) -> Result<()> {
        match change {
            Change::CreateSecurityGroup {
                name,
                description,
                tags,
                ingress,
            } => {
                let id = self.create_security_group(name, description, tags).await?;
                tracing::info!(group = %id, name = %name, "Security group created");
                known.security_groups.insert(name.clone(), id.clone());
                let rules = SgRuleChanges {
                    authorize: ingress.clone(),
                    revoke: Vec::new(),
                };
                self.change_ingress(&id, &rules).await
            }
            Change::ModifySecurityGroup {
                id,
                authorize,
                revoke,
                tags,
                ..
            } => {
                let rules = SgRuleChanges {
                    authorize: authorize.clone(),
                    revoke: revoke.clone(),
                };
                self.change_ingress(id, &rules).await?;
                self.change_ec2_tags(id, tags).await
            }
            Change::AdmitFrontend {
                node_security_group,
                frontend,
                authorize,
                revoke,
            } => {
                let source = known.security_group(frontend)?;
                let rules = SgRuleChanges {
                    authorize: rules_from(&source, authorize),
                    revoke: rules_from(&source, revoke),
                };
                self.change_ingress(node_security_group, &rules).await
            }
            Change::CreateBackendSg { name } => {
                let id = self.create_backend_sg().await?;
                known.security_groups.insert(name.clone(), id);
                Ok(())
            }
            Change::AdmitBackendSg {
                backend_sg, needs, ..
            } => {
                let ports: BTreeSet<(String, i32, i32)> = needs
                    .iter()
                    .map(|p| (p.protocol.clone(), p.from_port, p.to_port))
                    .collect();
                let id = self.ensure_backend_sg(&ports).await?;
                if let Ref::New(name) = backend_sg {
                    known.security_groups.insert(name.clone(), id);
                }
                Ok(())
            }
            Change::CreateTargetGroup { target_group } => {
                let arn = self.create_target_group(owner, target_group).await?;
                known
                    .target_groups
                    .insert(target_group.key.clone(), arn.clone());
                self.write_target_group_attributes(&arn, &target_group.attributes)
                    .await
            }
            Change::ModifyTargetGroup {
                arn,
                health_check,
                tags,
                attributes,
                ..
            } => {
                if let Some(h) = health_check {
                    self.modify_target_group_health(arn, h).await?;
                }
                self.change_elb_tags(arn, tags).await?;
                self.write_target_group_attributes(arn, attributes).await
            }
            Change::CreateLoadBalancer {
                load_balancer,
                security_groups,
            } => {
                let mut desired = load_balancer.clone();
                desired.security_groups = security_groups
                    .iter()
                    .map(|r| known.security_group(r))
                    .collect::<Result<_>>()?;
                let lb = self.create_load_balancer(&desired).await?;
                tracing::info!(name = %lb.name, "Load balancer created");
                known.load_balancer = Some(lb.arn.clone());
                known.dns_name = lb.dns_name;
                self.write_load_balancer_attributes(&lb.arn, &load_balancer.attributes)
                    .await
            }
            Change::ModifyLoadBalancer {
                arn,
                subnets,
                security_groups,
                ip_address_type,
                tags,
                attributes,
                ..
            } => {
                let groups = match security_groups {
                    Some(refs) => Some(
                        refs.iter()
                            .map(|r| known.security_group(r))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    None => None,
                };
                self.modify_load_balancer(arn, subnets.as_ref(), groups.as_ref(), *ip_address_type)
                    .await?;
                self.change_elb_tags(arn, tags).await?;
                self.write_load_balancer_attributes(arn, attributes).await
            }
            Change::RevokeFrontendAdmission {
                node_security_group,
                frontend,
                revoke,
            } => {
                self.revoke_frontend_admission(node_security_group, rules_from(frontend, revoke))
                    .await
            }
            Change::CreateListener { listener } => {
                let lb = known.load_balancer()?;
                let arn = self
                    .create_listener(&lb, &known.listener_with_arns(listener)?, &owner.aws_tags())
                    .await?;
                known.listeners.insert(listener.port.to_string(), arn);
                Ok(())
            }
            Change::ModifyListener { arn, listener, .. } => {
                self.modify_listener(arn, &known.listener_with_arns(listener)?)
                    .await
            }
            Change::DeleteRule { arn, .. } => self.delete_rule(arn).await,
            Change::ModifyRule { arn, rule, .. } => {
                self.modify_rule(arn, &known.rule_with_arns(rule)?).await
            }
            Change::CreateRule {
                listener_ref, rule, ..
            } => {
                let listener = known.listener(listener_ref)?;
                self.create_rule(&listener, &known.rule_with_arns(rule)?, &owner.aws_tags())
                    .await
            }
            Change::DeleteListener { arn, .. } => self.delete_listener(arn).await,
            Change::DeleteTargetGroup { arn, .. } => self.delete_target_group(arn).await,
        }
    }
}
