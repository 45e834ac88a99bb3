//! The inventory: one listing of the load balancer stacks in the region (load balancers,
//! target groups, their tags, the VPC's `k8s-*` security groups) that the *first* observe of
//! each stack in a provider's life reads instead of its per-stack calls.
//!
//! A restarted controller ensures every stack once, all at about the same time; read one by
//! one, each costs a DescribeLoadBalancers, a DescribeTargetGroups, a DescribeTags and a
//! DescribeSecurityGroups (4 of the 6 reads a full observe of an ALB makes). Listed together,
//! 100 stacks with 400 target groups cost about 28 reads in all. Listeners and rules have no
//! listing across load balancers, so they are still read per stack, as are target
//! registrations (`DescribeTargetHealth`, per target group).
//!
//! ```text
//!  first observe of stack S ── inventory fresh (< inventory_ttl)? ──yes──> S's parts from it
//!        (once per provider)            │ no, or listing failed
//!                                       └──────────────────────────────> per-stack reads
//!  every later observe of S (resync, a changed spec) ──────────────────> per-stack reads
//! ```
//!
//! Why it is safe: a stack's first observe in this process comes before any write of this
//! process to it (an apply follows its observe; a delete marks the stack as seen too), so the
//! listing can be stale only by what *others* changed since it was read, at most
//! `inventory_ttl` ago: the same kind of drift a by-hand change is. A stale entry makes the
//! apply fail (the resource is gone) or meet an existing name; the retry observes the stack
//! call by call. Drift is not missed: every later ensure observes in full.
//!
//! `plan` never uses it: one stack is cheaper to read on its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use cloudnet_core::Result;

use super::convert::{actual_load_balancer, actual_security_group, actual_target_group};
use super::model::{ActualLoadBalancer, ActualSecurityGroup, ActualTargetGroup};
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, ec2_filter, lock};
use crate::stack_listing::StackListing;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, TargetGroup};

/// Every name the suite derives starts so (load balancers, target groups, security groups);
/// only such resources' tags are read.
const DERIVED_PREFIX: &str = "k8s-";

/// The listing, read as plain structs.
pub(crate) struct Inventory(Arc<StackListing>);

impl Inventory {
    pub fn load_balancer(&self, name: &str) -> Option<ActualLoadBalancer> {
        self.0
            .load_balancers
            .iter()
            .filter(|l| l.load_balancer_name() == Some(name))
            .find_map(actual_load_balancer)
    }

    /// The target groups attached to a load balancer.
    pub fn target_groups_of(&self, lb_arn: &str) -> Vec<ActualTargetGroup> {
        self.0
            .target_groups
            .iter()
            .filter(|g| g.load_balancer_arns().iter().any(|a| a == lb_arn))
            .filter_map(actual_target_group)
            .collect()
    }

    pub fn target_group_named(&self, name: &str) -> Option<ActualTargetGroup> {
        self.0
            .target_groups
            .iter()
            .filter(|g| g.target_group_name() == Some(name))
            .find_map(actual_target_group)
    }

    /// The VPC's security group of that name, ours or not.
    pub fn security_group(&self, name: &str) -> Option<ActualSecurityGroup> {
        self.0
            .security_groups
            .iter()
            .filter(|g| g.group_name() == Some(name))
            .find_map(actual_security_group)
    }

    /// The tags of a resource named as ours, as listed.
    pub fn tags(&self, arn: &str) -> Option<&BTreeMap<String, String>> {
        self.0.tags.get(arn)
    }
}

impl AwsProvider {
    /// The inventory, for the first observe of the stack `name` while the listing is fresh;
    /// None for every later observe of it (or when the listing failed or is old).
    pub(crate) async fn inventory_for(&self, name: &str) -> Option<Inventory> {
        let cache = &self.inner.cache.inventory;
        if !lock(&cache.seen).insert(name.to_string()) {
            return None;
        }
        let ttl = self.inner.config.inventory_ttl;
        if ttl.is_zero() {
            return None;
        }
        let listing = cache
            .listing
            .get_or_init(|| async {
                match self.read_inventory().await {
                    Ok(i) => Some(Arc::new(i)),
                    Err(error) => {
                        tracing::warn!(%error, "Listing the load balancer stacks failed; reading them one by one");
                        None
                    }
                }
            })
            .await
            .clone()?;
        (listing.read_at.elapsed() < ttl).then_some(Inventory(listing))
    }

    /// Marks a stack as written by this provider: its next observe reads the cloud.
    pub(crate) fn stack_written(&self, name: &str) {
        lock(&self.inner.cache.inventory.seen).insert(name.to_string());
    }

    async fn read_inventory(&self) -> Result<StackListing> {
        let read_at = Instant::now();
        let load_balancers = self.load_balancer_pages().await?;
        let pages = elb_pages!(
            self,
            DescribeTargetGroups,
            describe_target_groups.page_size(400)
        )
        .await?;
        let target_groups: Vec<TargetGroup> = pages
            .iter()
            .flat_map(|p| p.target_groups())
            .cloned()
            .collect();
        let ours = |name: Option<&str>| name.is_some_and(|n| n.starts_with(DERIVED_PREFIX));
        let arns: Vec<String> = load_balancers
            .iter()
            .filter(|l| ours(l.load_balancer_name()))
            .filter_map(|l| l.load_balancer_arn())
            .chain(
                target_groups
                    .iter()
                    .filter(|g| ours(g.target_group_name()))
                    .filter_map(|g| g.target_group_arn()),
            )
            .map(str::to_string)
            .collect();
        let tags = self.elb_tags(&arns).await?;
        let ec2 = &self.inner.ec2;
        let filters = vec![
            self.in_vpc(),
            ec2_filter("group-name", format!("{DERIVED_PREFIX}*")),
        ];
        let security_groups = self
            .call(AwsOp::DescribeSecurityGroups, || {
                ec2.describe_security_groups()
                    .set_filters(Some(filters.clone()))
                    .send()
            })
            .await?
            .security_groups()
            .to_vec();
        tracing::debug!(
            load_balancers = load_balancers.len(),
            target_groups = target_groups.len(),
            "Listed the load balancer stacks"
        );
        Ok(StackListing {
            read_at,
            load_balancers,
            target_groups,
            tags,
            security_groups,
        })
    }

    /// Every load balancer in the region, 400 a page.
    pub(crate) async fn all_load_balancers(&self) -> Result<Vec<ActualLoadBalancer>> {
        Ok(self
            .load_balancer_pages()
            .await?
            .iter()
            .filter_map(actual_load_balancer)
            .collect())
    }

    async fn load_balancer_pages(&self) -> Result<Vec<LoadBalancer>> {
        let pages = elb_pages!(
            self,
            DescribeLoadBalancers,
            describe_load_balancers.page_size(400)
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.load_balancers())
            .cloned()
            .collect())
    }
}
