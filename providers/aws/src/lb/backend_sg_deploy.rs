//! The shared backend security group on AWS (see [`super::backend_sg`] for the plan):
//! found by name and ownership tags or created, admitted on the nodes' group by one rule per
//! protocol, and deleted with that rule once no load balancer carries it.
//!
//! What was read or written is kept for `backend_cache_ttl` under one async lock, so 100
//! concurrent ensures make one group and one rule, and an unchanged cluster reads neither
//! group again on every ensure.

use std::collections::BTreeSet;
use std::time::Instant;

use cloudnet_core::{Error, Result};

use super::apply::conflict;
use super::backend_sg::{backend_sg, is_backend_sg, node_rule_changes, node_rules_to_remove};
use super::convert::actual_load_balancer;
use super::matching::SgRuleChanges;
use super::model::{ActualSecurityGroup, SgRule};
use super::observe::ObservedBackendSg;
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, ec2_filter};
use crate::sg::BackendState;

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
                Error::invalid("the shared backend security group needs the nodes' security group")
            })
    }

    /// The backend security group under its derived name in our VPC, if any.
    async fn find_backend_sg(&self) -> Result<Option<ActualSecurityGroup>> {
        let name = backend_sg(&self.inner.config.cluster_name).name;
        let found = self
            .security_groups_where(vec![self.in_vpc(), ec2_filter("group-name", name)])
            .await?;
        Ok(found.into_iter().next())
    }

    /// The group's ID, found or created. A group under our name without our tags is someone
    /// else's: a conflict, never adopted.
    async fn find_or_create_backend_sg(&self) -> Result<String> {
        let cluster = &self.inner.config.cluster_name;
        let desired = backend_sg(cluster);
        if let Some(g) = self.find_backend_sg().await? {
            if !is_backend_sg(cluster, &g.tags) {
                return Err(conflict(format!(
                    "security group {} ({}) exists and is not cluster {cluster}'s backend security group; it is left alone",
                    g.name, g.id
                )));
            }
            return Ok(g.id);
        }
        let id = self
            .create_security_group(&desired.name, &desired.description, &desired.tags)
            .await?;
        tracing::info!(group = %id, name = %desired.name, "Backend security group created");
        Ok(id)
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

    /// What the change set is computed from: the cached state while it is younger than
    /// `backend_cache_ttl` (no call), else the group by name and the nodes' group's rules,
    /// kept for the next stacks unless the group is someone else's.
    pub(crate) async fn observe_backend_sg(&self) -> Result<ObservedBackendSg> {
        let node_sg = self.node_security_group()?;
        let mut state = self.inner.cache.backend.lock().await;
        let ttl = self.inner.config.backend_cache_ttl;
        if let Some(s) = state.as_ref().filter(|s| s.read_at.elapsed() < ttl) {
            // Only our own group is ever cached, so its name and tags are the planned ones.
            let desired = backend_sg(&self.inner.config.cluster_name);
            return Ok(ObservedBackendSg {
                group: s.group_id.clone().map(|id| ActualSecurityGroup {
                    id,
                    name: desired.name,
                    vpc_id: Some(self.inner.vpc_id.clone()),
                    tags: desired.tags,
                    ingress: Vec::new(),
                }),
                node_rules: s.node_rules.clone(),
            });
        }
        let group = self.find_backend_sg().await?;
        let node_rules = self.ingress_of(node_sg).await?;
        let cluster = &self.inner.config.cluster_name;
        let ours = group
            .as_ref()
            .is_none_or(|g| is_backend_sg(cluster, &g.tags));
        *state = ours.then(|| BackendState {
            group_id: group.as_ref().map(|g| g.id.clone()),
            node_rules: node_rules.clone(),
            read_at: Instant::now(),
        });
        Ok(ObservedBackendSg { group, node_rules })
    }

    /// The cached state with the group's ID: created when a fresh cache says it is absent
    /// (observe has just looked), found or created when the cache is stale or empty.
    async fn backend_state(&self, cached: Option<BackendState>) -> Result<BackendState> {
        let ttl = self.inner.config.backend_cache_ttl;
        let (group_id, rules) = match cached.filter(|s| s.read_at.elapsed() < ttl) {
            Some(s) if s.group_id.is_some() => return Ok(s),
            Some(s) => (self.create_backend_sg_or_find().await?, Some(s.node_rules)),
            None => (self.find_or_create_backend_sg().await?, None),
        };
        let node_rules = match rules {
            Some(r) => r,
            // Read even when the group is new: per-ALB rules from before may be there to
            // migrate.
            None => self.ingress_of(self.node_security_group()?).await?,
        };
        Ok(BackendState {
            group_id: Some(group_id),
            node_rules,
            read_at: Instant::now(),
        })
    }

    /// Creates the group; when its name is taken meanwhile (another controller), finds it.
    async fn create_backend_sg_or_find(&self) -> Result<String> {
        let desired = backend_sg(&self.inner.config.cluster_name);
        match self
            .create_security_group(&desired.name, &desired.description, &desired.tags)
            .await
        {
            Ok(id) => {
                tracing::info!(group = %id, name = %desired.name, "Backend security group created");
                Ok(id)
            }
            Err(e) if e.code() == "InvalidGroup.Duplicate" => {
                self.find_or_create_backend_sg().await
            }
            Err(e) => Err(e),
        }
    }

    /// `CreateBackendSg`: the group, unless a concurrent ensure made it meanwhile. Answers
    /// its ID.
    pub(crate) async fn create_backend_sg(&self) -> Result<String> {
        let mut state = self.inner.cache.backend.lock().await;
        let current = self.backend_state(state.take()).await?;
        let id = current.group_id.clone().unwrap_or_default();
        *state = Some(current);
        Ok(id)
    }

    /// `AdmitBackendSg`: the nodes' group admits the backend security group on `ports`,
    /// computed against the state under the lock (so concurrent stacks widen one rule);
    /// answers the group's ID. No call while the cached state covers the ports.
    pub(crate) async fn ensure_backend_sg(
        &self,
        ports: &BTreeSet<(String, i32, i32)>,
    ) -> Result<String> {
        let node_sg = self.node_security_group()?;
        let mut state = self.inner.cache.backend.lock().await;
        let mut current = self.backend_state(state.take()).await?;
        let id = current.group_id.clone().unwrap_or_default();
        let changes = node_rule_changes(&id, ports, &current.node_rules);
        let result = self
            .apply_node_rules(node_sg, &changes, &mut current.node_rules)
            .await;
        // On an error the state stays empty: read again next time rather than trust a
        // half-applied change.
        result?;
        *state = Some(current);
        Ok(id)
    }

    /// Migration from the per-ALB rule: once the load balancer carries the backend security
    /// group, the rules its managed group had on the nodes' group go. A rule already gone is
    /// what we wanted; the cached nodes' rules follow (or are dropped on an error, to be
    /// read again).
    pub(crate) async fn revoke_frontend_admission(
        &self,
        node_sg: &str,
        revoke: Vec<SgRule>,
    ) -> Result<()> {
        let mut state = self.inner.cache.backend.lock().await;
        let changes = SgRuleChanges {
            authorize: vec![],
            revoke,
        };
        let mut rules = state
            .as_ref()
            .map(|s| s.node_rules.clone())
            .unwrap_or_default();
        match self.apply_node_rules(node_sg, &changes, &mut rules).await {
            Ok(()) => {
                if let Some(current) = state.as_mut() {
                    current.node_rules = rules;
                }
                tracing::info!(group = node_sg, "Per-load-balancer node rule removed");
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
        // Paged by hand: the first page that shows the group ends the search.
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

    /// After a delete: when no load balancer carries the backend security group any more, its rules
    /// on the nodes' group are revoked and the group deleted. AWS refuses the deletion
    /// (`DependencyViolation`) while a deleted load balancer's interfaces linger; then the
    /// group is left for the next delete to try again, and the delete itself succeeds. This
    /// runs whether or not the shared group is switched on, so switching it off does not
    /// strand the group.
    pub(super) async fn delete_backend_sg_if_unused(&self) -> Result<()> {
        let mut state = self.inner.cache.backend.lock().await;
        let cluster = &self.inner.config.cluster_name;
        let Some(g) = self.find_backend_sg().await? else {
            *state = None;
            return Ok(());
        };
        if !is_backend_sg(cluster, &g.tags) || self.group_in_use(&g.id).await? {
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
