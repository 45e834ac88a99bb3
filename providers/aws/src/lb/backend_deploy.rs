//! The shared backend security group on AWS (see [`super::backend_group`] for the plan):
//! found by name and ownership tags or created, admitted on the nodes' group by one rule per
//! protocol, and deleted with that rule once no load balancer carries it.
//!
//! What was read or written is kept for `backend_cache_ttl` under one async lock, so 100
//! concurrent ensures make one group and one rule, and an unchanged cluster reads neither
//! group again on every ensure.

use std::collections::BTreeSet;
use std::time::Instant;

use aws_sdk_ec2::types::{Filter, ResourceType};
use cloudnet_core::{Error, Result};

use super::backend_group::{
    backend_group, is_backend_group, node_rule_changes, node_rules_to_remove,
};
use super::convert::{actual_ingress, actual_load_balancer, to_ec2_tag_spec};
use super::deploy::conflict;
use super::matching::SgRuleChanges;
use super::model::{ActualSecurityGroup, SgRule, SgSource};
use crate::ops::AwsOp;
use crate::provider::AwsProvider;

/// The backend group and the nodes' group's rules, as last read or written.
#[derive(Debug, Clone)]
pub(crate) struct BackendState {
    group_id: String,
    /// Every ingress rule of the nodes' group (ours and others').
    node_rules: Vec<SgRule>,
    read_at: Instant,
}

fn is_gone(e: &Error) -> bool {
    matches!(e, Error::NotFound { .. })
        || matches!(
            e.code(),
            "InvalidPermission.NotFound" | "InvalidGroup.NotFound"
        )
}

impl AwsProvider {
    fn node_security_group(&self) -> Result<&str> {
        self.inner
            .config
            .node_security_group
            .as_deref()
            .ok_or_else(|| {
                Error::invalid("the shared backend group needs the nodes' security group")
            })
    }

    /// The backend group under its derived name in our VPC, if any.
    async fn find_backend_group(&self) -> Result<Option<ActualSecurityGroup>> {
        let name = backend_group(&self.inner.config.cluster_name).name;
        let found = self
            .security_groups_where(vec![
                Filter::builder()
                    .name("vpc-id")
                    .values(&self.inner.vpc_id)
                    .build(),
                Filter::builder().name("group-name").values(name).build(),
            ])
            .await?;
        Ok(found.into_iter().next())
    }

    /// The group's ID, found or created. A group under our name without our tags is someone
    /// else's: a conflict, never adopted.
    async fn find_or_create_backend_group(&self) -> Result<String> {
        let cluster = &self.inner.config.cluster_name;
        let desired = backend_group(cluster);
        if let Some(g) = self.find_backend_group().await? {
            if !is_backend_group(cluster, &g.tags) {
                return Err(conflict(format!(
                    "security group {} ({}) exists and is not cluster {cluster}'s backend group; it is left alone",
                    g.name, g.id
                )));
            }
            return Ok(g.id);
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .inner
            .caller
            .call(AwsOp::CreateSecurityGroup, || {
                ec2.create_security_group()
                    .group_name(&desired.name)
                    .description(&desired.description)
                    .vpc_id(&self.inner.vpc_id)
                    .tag_specifications(to_ec2_tag_spec(ResourceType::SecurityGroup, &desired.tags))
                    .send()
            })
            .await?;
        let id = out
            .group_id()
            .ok_or_else(|| Error::invalid("CreateSecurityGroup answered no group ID"))?
            .to_string();
        tracing::info!(group = %id, name = %desired.name, "Backend security group created");
        Ok(id)
    }

    async fn ingress_of(&self, group: &str) -> Result<Vec<SgRule>> {
        let ec2 = &self.inner.ec2;
        let out = self
            .inner
            .caller
            .call(AwsOp::DescribeSecurityGroups, || {
                ec2.describe_security_groups().group_ids(group).send()
            })
            .await?;
        Ok(out
            .security_groups()
            .iter()
            .flat_map(|g| actual_ingress(g.ip_permissions()))
            .collect())
    }

    /// Authorizes first and revokes after, so the nodes never lose the rule while it is
    /// widened; a rule already there or already gone is what we wanted.
    async fn apply_node_rules(
        &self,
        node_sg: &str,
        changes: &SgRuleChanges,
        rules: &mut Vec<SgRule>,
    ) -> Result<()> {
        if !changes.authorize.is_empty() {
            let authorize = SgRuleChanges {
                authorize: changes.authorize.clone(),
                revoke: vec![],
            };
            self.change_ingress(node_sg, &authorize).await?;
            rules.extend(changes.authorize.iter().cloned());
        }
        if !changes.revoke.is_empty() {
            let revoke = SgRuleChanges {
                authorize: vec![],
                revoke: changes.revoke.clone(),
            };
            match self.change_ingress(node_sg, &revoke).await {
                Ok(()) => {}
                Err(e) if is_gone(&e) => {}
                Err(e) => return Err(e),
            }
            rules.retain(|r| !changes.revoke.contains(r));
        }
        rules.sort();
        rules.dedup();
        Ok(())
    }

    /// Makes sure the backend group exists and the nodes' group admits it on `ports`;
    /// answers the group's ID. No call at all while the cached state covers the ports.
    pub(super) async fn ensure_backend_group(
        &self,
        ports: &BTreeSet<(String, i32, i32)>,
    ) -> Result<String> {
        let node_sg = self.node_security_group()?;
        let mut state = self.inner.cache.backend.lock().await;
        let ttl = self.inner.config.backend_cache_ttl;
        let mut current = match state.take().filter(|s| s.read_at.elapsed() < ttl) {
            Some(s) => s,
            None => {
                let group_id = self.find_or_create_backend_group().await?;
                // Read even when the group is new: per-ALB rules from before may be there
                // to migrate.
                BackendState {
                    group_id,
                    node_rules: self.ingress_of(node_sg).await?,
                    read_at: Instant::now(),
                }
            }
        };
        let changes = node_rule_changes(&current.group_id, ports, &current.node_rules);
        let result = self
            .apply_node_rules(node_sg, &changes, &mut current.node_rules)
            .await;
        // On an error the state stays empty: read again next time rather than trust a
        // half-applied change.
        result?;
        let id = current.group_id.clone();
        *state = Some(current);
        Ok(id)
    }

    /// Migration from the per-ALB rule: once the load balancer carries the backend group,
    /// the rule its managed group had on the nodes' group goes.
    pub(super) async fn drop_per_lb_node_rule(&self, frontend_group: &str) -> Result<()> {
        let node_sg = self.node_security_group()?;
        let mut state = self.inner.cache.backend.lock().await;
        let Some(current) = state.as_mut() else {
            return Ok(());
        };
        let source = SgSource::Group(frontend_group.to_string());
        let revoke: Vec<SgRule> = current
            .node_rules
            .iter()
            .filter(|r| r.source == source)
            .cloned()
            .collect();
        if revoke.is_empty() {
            return Ok(());
        }
        let changes = SgRuleChanges {
            authorize: vec![],
            revoke,
        };
        let mut rules = current.node_rules.clone();
        match self.apply_node_rules(node_sg, &changes, &mut rules).await {
            Ok(()) => {
                current.node_rules = rules;
                tracing::info!(
                    group = frontend_group,
                    "Per-load-balancer node rule removed"
                );
                Ok(())
            }
            Err(e) => {
                *state = None;
                Err(e)
            }
        }
    }

    /// True when some load balancer in our VPC still carries `group`.
    async fn group_in_use(&self, group: &str) -> Result<bool> {
        let elb = &self.inner.elb;
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .inner
                .caller
                .call(AwsOp::DescribeLoadBalancers, || {
                    elb.describe_load_balancers()
                        .page_size(400)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            if page
                .load_balancers()
                .iter()
                .filter_map(actual_load_balancer)
                .any(|lb| lb.security_groups.iter().any(|g| g == group))
            {
                return Ok(true);
            }
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(false),
            }
        }
    }

    /// After a delete: when no load balancer carries the backend group any more, its rules
    /// on the nodes' group are revoked and the group deleted. AWS refuses the deletion
    /// (`DependencyViolation`) while a deleted load balancer's interfaces linger; then the
    /// group is left for the next delete to try again, and the delete itself succeeds. This
    /// runs whether or not the shared group is switched on, so switching it off does not
    /// strand the group.
    pub(super) async fn delete_backend_group_if_unused(&self) -> Result<()> {
        let mut state = self.inner.cache.backend.lock().await;
        let cluster = &self.inner.config.cluster_name;
        let Some(g) = self.find_backend_group().await? else {
            *state = None;
            return Ok(());
        };
        if !is_backend_group(cluster, &g.tags) || self.group_in_use(&g.id).await? {
            return Ok(());
        }
        *state = None;
        if let Some(node_sg) = self.inner.config.node_security_group.as_deref() {
            let actual = self.ingress_of(node_sg).await?;
            let revoke = node_rules_to_remove(&g.id, &actual);
            if !revoke.is_empty() {
                let changes = SgRuleChanges {
                    authorize: vec![],
                    revoke,
                };
                match self.change_ingress(node_sg, &changes).await {
                    Ok(()) => {}
                    Err(e) if is_gone(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .inner
            .caller
            .call(AwsOp::DeleteSecurityGroup, || {
                ec2.delete_security_group().group_id(&g.id).send()
            })
            .await;
        match out {
            Ok(_) => {
                tracing::info!(group = %g.id, "Backend security group deleted");
                Ok(())
            }
            Err(e) if is_gone(&e) => Ok(()),
            Err(e @ Error::Conflict { .. }) => {
                tracing::warn!(group = %g.id, error = %e, "Backend security group still in use, retried on the next delete");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
