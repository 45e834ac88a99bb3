//! `ensure` = observe + diff + apply, and `plan` = observe + diff, with the same code.
//!
//! ```text
//!  spec ─ plan (pure) ─> DesiredStack ─┬─ observe (reads) ─> ObservedStack ─┐
//!                                      └────────────────────────────────────┴─ diff (pure)
//!        ─> ChangeSet ─ apply (writes, in order, stops at the first failure) ─> status
//! ```

use cloudnet_core::{
    Error, GroupStatus, LoadBalancerId, LoadBalancerKind, LoadBalancerSpec, LoadBalancerStatus,
    Result, Scheme, Subnets,
};

use cloudnet_core::LoadBalancers;

use super::changes::ChangeSet;
use super::diff::diff;
use super::model::DesiredStack;
use super::observe::ObservedStack;
use super::plan::{PlanContext, kind_name, plan};
use super::subnets::role_tag;
use crate::provider::{AwsProvider, GroupRef, lock};

/// One stack's plan, what exists of it, and the changes between them.
struct Planned {
    stack: DesiredStack,
    observed: ObservedStack,
    changes: ChangeSet,
}

impl AwsProvider {
    /// The planned stack with what planning cannot know filled in: the VPC's CIDRs (internal
    /// ALBs without source ranges) and discovered subnets, both cached reads.
    async fn prepare(&self, spec: &LoadBalancerSpec) -> Result<DesiredStack> {
        let owner = &spec.owner;
        if owner.cluster != self.inner.config.cluster_name {
            return Err(Error::invalid(format!(
                "spec is for cluster {}, this provider serves {}",
                owner.cluster, self.inner.config.cluster_name
            )));
        }
        let alb = spec.kind == LoadBalancerKind::Application;
        let needs_vpc = alb && spec.scheme == Scheme::Internal && spec.source_ranges.is_empty();
        let ctx = PlanContext {
            vpc_cidrs: if needs_vpc {
                self.vpc_cidrs().await?
            } else {
                Vec::new()
            },
            node_security_group: self.inner.config.node_security_group.clone(),
            backend_security_group: self.inner.config.backend_security_group,
        };
        let mut stack = plan(spec, &ctx)?;
        match &spec.subnets {
            Subnets::Discover => {
                stack.load_balancer.subnets = self.discover_subnets(spec.scheme).await?;
            }
            Subnets::Tagged(tags) => {
                stack.load_balancer.subnets = self.subnets_by_tags(tags).await?;
            }
            Subnets::Explicit(_) => {}
        }
        let zones_needed = if alb { 2 } else { 1 };
        if stack.load_balancer.subnets.len() < zones_needed {
            let hint = match &spec.subnets {
                Subnets::Tagged(tags) => format!("the subnets matching the tags {tags:?}"),
                _ => format!("tag subnets with {} or name them", role_tag(spec.scheme)),
            };
            return Err(Error::invalid(format!(
                "a {} load balancer needs subnets in at least {zones_needed} zone(s); found {:?} ({hint})",
                kind_name(spec.kind),
                stack.load_balancer.subnets,
            )));
        }
        Ok(stack)
    }

    /// With `ensuring`, the stack's first observe by this provider reads the inventory
    /// ([`super::inventory`]); `plan` reads the stack call by call.
    async fn observe_and_diff(&self, spec: &LoadBalancerSpec, ensuring: bool) -> Result<Planned> {
        let stack = self.prepare(spec).await?;
        let inventory = if ensuring {
            self.inventory_for(&stack.load_balancer.name).await
        } else {
            None
        };
        let observed = self
            .observe_stack(&spec.owner, &stack, inventory.as_ref())
            .await?;
        let nodes = self.inner.config.node_security_group.as_deref();
        let changes = diff(&spec.owner, &stack, &observed, nodes)?;
        Ok(Planned {
            stack,
            observed,
            changes,
        })
    }

    /// What `ensure(spec)` would change, without changing anything: observe (reads only,
    /// through the call budget) and the pure diff. An empty set means the stack is as
    /// planned; a `Conflict` means something under our names is not ours.
    pub async fn plan(&self, spec: &LoadBalancerSpec) -> Result<ChangeSet> {
        LoadBalancers::capabilities(self).check(spec)?;
        Ok(self.observe_and_diff(spec, false).await?.changes)
    }

    /// `LoadBalancers::ensure`.
    pub(crate) async fn ensure_stack(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
        let Planned {
            stack,
            observed,
            changes,
        } = self.observe_and_diff(spec, true).await?;
        if !changes.is_empty() {
            tracing::info!(changes = changes.len(), "Applying changes");
        }
        let applied = self.apply_changes(&spec.owner, &changes).await?;
        let dns_name = applied
            .dns_name
            .or_else(|| observed.load_balancer.and_then(|lb| lb.actual.dns_name));

        let lb_arn = applied.load_balancer_arn;
        let mut cache = lock(&self.inner.cache.groups);
        cache.retain(|(arn, _), _| arn != &lb_arn);
        let mut groups = Vec::new();
        for d in &stack.target_groups {
            let Some(arn) = applied.target_groups.get(&d.key) else {
                continue;
            };
            cache.insert(
                (lb_arn.clone(), d.key.clone()),
                GroupRef {
                    arn: arn.clone(),
                    target_type: d.target_type.clone(),
                },
            );
            groups.push(GroupStatus {
                key: d.key.clone(),
                id: arn.clone(),
                targets: Vec::new(),
            });
        }
        Ok(LoadBalancerStatus {
            id: LoadBalancerId(lb_arn),
            dns_name,
            ips: Vec::new(),
            groups,
        })
    }
}
