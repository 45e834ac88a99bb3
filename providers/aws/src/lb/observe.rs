//! Observe: what AWS has of one planned stack, read into plain structs ([`ObservedStack`]).
//!
//! Only reads, each through the call budget, one read per resource kind (paged where the API
//! pages): the load balancer by name; when it exists, its target groups, their tags (20 ARNs
//! per call), the attributes the spec sets, its listeners and the rules of its HTTP(S)
//! listeners; the ALB's managed security group by name; the nodes' group's rules where the
//! per-ALB rule is managed; and the shared backend security group (cached, see
//! [`super::backend_sg`]). A stack with no load balancer yet costs one read besides its
//! security groups: nothing of it can be attached anywhere.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use aws_sdk_ec2::types::Filter;
use cloudnet_core::{Owner, Result, Scheme};
use serde::Serialize;

use super::convert::*;
use super::inventory::Inventory;
use super::model::*;
use super::subnets::{SubnetCandidate, pick_per_zone, pick_subnets, role_tag};
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, ec2_filter, lock};

/// At most this many ARNs per DescribeTags call (the API's limit).
const TAGS_PER_CALL: usize = 20;

/// The load balancer found under the stack's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedLoadBalancer {
    pub actual: ActualLoadBalancer,
    pub tags: BTreeMap<String, String>,
    /// Read only when the spec sets attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A target group found on the load balancer, or by a planned name when nothing sends to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTargetGroup {
    pub actual: ActualTargetGroup,
    pub tags: BTreeMap<String, String>,
    /// Read only when the plan sets attributes for the group.
    pub attributes: BTreeMap<String, String>,
}

/// A listener with its rules (read for HTTP(S) listeners on planned ports only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedListener {
    pub actual: ActualListener,
    pub rules: Vec<ActualRule>,
}

/// The shared backend security group and the nodes' group's rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedBackendSg {
    /// The group under the derived name, ours or not.
    pub group: Option<ActualSecurityGroup>,
    /// Every ingress rule of the nodes' group.
    pub node_rules: Vec<SgRule>,
}

/// Everything of one stack that exists, as read before a change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStack {
    pub load_balancer: Option<ObservedLoadBalancer>,
    pub target_groups: Vec<ObservedTargetGroup>,
    pub listeners: Vec<ObservedListener>,
    /// The ALB's managed group, found by name in the VPC (ours or not).
    pub security_group: Option<ActualSecurityGroup>,
    /// The nodes' group's rules, read when the per-ALB rule is managed and the managed group
    /// exists.
    pub node_rules: Vec<SgRule>,
    /// Read when the load balancer carries the shared backend security group.
    pub backend_sg: Option<ObservedBackendSg>,
}

impl AwsProvider {
    /// Reads every part of `stack` that exists. No call changes anything. With `inventory`
    /// (the stack's first observe by this provider), what the listing holds is taken from it.
    pub(crate) async fn observe_stack(
        &self,
        owner: &Owner,
        stack: &DesiredStack,
        inventory: Option<&Inventory>,
    ) -> Result<ObservedStack> {
        let mut observed = ObservedStack::default();
        let name = &stack.load_balancer.name;
        let lb = match inventory {
            Some(i) => i.load_balancer(name),
            None => self.find_load_balancer(name).await?,
        };
        if let Some(lb) = lb {
            self.observe_elb_parts(owner, stack, lb, inventory, &mut observed)
                .await?;
        }
        if let Some(sg) = &stack.security_group {
            observed.security_group = match inventory {
                Some(i) => i.security_group(&sg.name),
                None => self
                    .security_groups_where(vec![self.in_vpc(), ec2_filter("group-name", &sg.name)])
                    .await?
                    .into_iter()
                    .next(),
            };
            if let (Some(access), Some(_)) = (&stack.backend_access, &observed.security_group) {
                observed.node_rules = self.ingress_of(&access.node_security_group).await?;
            }
        }
        if stack.backend_ports.is_some() {
            observed.backend_sg = Some(self.observe_backend_sg().await?);
        }
        Ok(observed)
    }

    async fn observe_elb_parts(
        &self,
        owner: &Owner,
        stack: &DesiredStack,
        lb: ActualLoadBalancer,
        inventory: Option<&Inventory>,
        observed: &mut ObservedStack,
    ) -> Result<()> {
        let mut groups = match inventory {
            Some(i) => i.target_groups_of(&lb.arn),
            None => self.target_groups_of(&lb.arn).await?,
        };
        // Groups nothing sends to (an ensure died before its listeners, or a listener was
        // removed behind our back) are not attached: look the planned ones up by name.
        for d in &stack.target_groups {
            if groups.iter().any(|g| g.name == d.name) {
                continue;
            }
            let found = match inventory {
                Some(i) => i.target_group_named(&d.name),
                None => self.target_group_by_name(&d.name).await?,
            };
            groups.extend(found);
        }
        let arns: Vec<String> = std::iter::once(lb.arn.clone())
            .chain(groups.iter().map(|g| g.arn.clone()))
            .collect();
        let mut tags = match inventory {
            Some(i) => {
                // Resources not named as ours were not in the listing's tag reads.
                let (known, missing): (Vec<&String>, Vec<&String>) =
                    arns.iter().partition(|a| i.tags(a).is_some());
                let mut tags: HashMap<String, BTreeMap<String, String>> = known
                    .into_iter()
                    .filter_map(|a| Some((a.clone(), i.tags(a)?.clone())))
                    .collect();
                if !missing.is_empty() {
                    let missing: Vec<String> = missing.into_iter().cloned().collect();
                    tags.extend(self.elb_tags(&missing).await?);
                }
                tags
            }
            None => self.elb_tags(&arns).await?,
        };
        let lb_tags = tags.remove(&lb.arn).unwrap_or_default();
        // Attributes and listeners only of a load balancer that is ours: the diff refuses
        // a foreign one before looking at them.
        let ours = owner.owns(&lb_tags);
        let attributes = if ours && !stack.load_balancer.attributes.is_empty() {
            self.load_balancer_attributes(&lb.arn).await?
        } else {
            BTreeMap::new()
        };
        for g in groups {
            let wants_attributes = stack
                .target_groups
                .iter()
                .any(|d| d.name == g.name && !d.attributes.is_empty());
            let attributes = if ours && wants_attributes {
                self.target_group_attributes(&g.arn).await?
            } else {
                BTreeMap::new()
            };
            observed.target_groups.push(ObservedTargetGroup {
                tags: tags.remove(&g.arn).unwrap_or_default(),
                actual: g,
                attributes,
            });
        }
        if ours {
            for l in self.listeners_of(&lb.arn).await? {
                let web = matches!(l.protocol.as_deref(), Some("HTTP" | "HTTPS"));
                let planned = stack.listeners.iter().any(|d| d.port == l.port);
                let rules = if web && planned {
                    self.rules_of(&l.arn).await?
                } else {
                    Vec::new()
                };
                observed
                    .listeners
                    .push(ObservedListener { actual: l, rules });
            }
        }
        observed.load_balancer = Some(ObservedLoadBalancer {
            actual: lb,
            tags: lb_tags,
            attributes,
        });
        Ok(())
    }

    /// Tags of ELBv2 resources, in batches of 20.
    pub(crate) async fn elb_tags(
        &self,
        arns: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let elb = &self.inner.elb;
        let mut out = HashMap::new();
        for chunk in arns.chunks(TAGS_PER_CALL) {
            let resp = self
                .call(AwsOp::DescribeTags, || {
                    elb.describe_tags()
                        .set_resource_arns(Some(chunk.to_vec()))
                        .send()
                })
                .await?;
            for d in resp.tag_descriptions() {
                if let Some(arn) = d.resource_arn() {
                    out.insert(arn.to_string(), elb_tags(d.tags()));
                }
            }
        }
        Ok(out)
    }

    /// The load balancer of that name, if any.
    pub(crate) async fn find_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ActualLoadBalancer>> {
        self.one_load_balancer(Some(name), None).await
    }

    /// The load balancer of that ARN, if any.
    pub(crate) async fn load_balancer_by_arn(
        &self,
        arn: &str,
    ) -> Result<Option<ActualLoadBalancer>> {
        self.one_load_balancer(None, Some(arn)).await
    }

    /// One DescribeLoadBalancers by name or ARN; not found is `None`.
    async fn one_load_balancer(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<Option<ActualLoadBalancer>> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DescribeLoadBalancers, || {
                elb.describe_load_balancers()
                    .set_names(name.map(|n| vec![n.to_string()]))
                    .set_load_balancer_arns(arn.map(|a| vec![a.to_string()]))
                    .send()
            })
            .await;
        crate::call::absent_if_not_found(
            out.map(|o| o.load_balancers().iter().find_map(actual_load_balancer)),
        )
    }

    /// Target groups attached to a load balancer (through any listener or rule).
    pub(crate) async fn target_groups_of(&self, lb_arn: &str) -> Result<Vec<ActualTargetGroup>> {
        let pages = elb_pages!(
            self,
            DescribeTargetGroups,
            describe_target_groups.load_balancer_arn(lb_arn)
        )
        .await;
        crate::call::absent_if_not_found(pages.map(|pages| {
            pages
                .iter()
                .flat_map(|p| p.target_groups())
                .filter_map(actual_target_group)
                .collect()
        }))
    }

    pub(crate) async fn target_group_by_name(
        &self,
        name: &str,
    ) -> Result<Option<ActualTargetGroup>> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DescribeTargetGroups, || {
                elb.describe_target_groups().names(name).send()
            })
            .await;
        crate::call::absent_if_not_found(
            out.map(|o| o.target_groups().iter().find_map(actual_target_group)),
        )
    }

    pub(crate) async fn listeners_of(&self, lb_arn: &str) -> Result<Vec<ActualListener>> {
        let pages = elb_pages!(
            self,
            DescribeListeners,
            describe_listeners.load_balancer_arn(lb_arn)
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.listeners())
            .filter_map(actual_listener)
            .collect())
    }

    async fn rules_of(&self, listener_arn: &str) -> Result<Vec<ActualRule>> {
        let pages = elb_pages!(
            self,
            DescribeRules,
            describe_rules.listener_arn(listener_arn)
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.rules())
            .filter_map(actual_rule)
            .collect())
    }

    async fn load_balancer_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DescribeLoadBalancerAttributes, || {
                elb.describe_load_balancer_attributes()
                    .load_balancer_arn(arn)
                    .send()
            })
            .await?;
        Ok(attribute_map(
            out.attributes().iter().map(|a| (a.key(), a.value())),
        ))
    }

    async fn target_group_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DescribeTargetGroupAttributes, || {
                elb.describe_target_group_attributes()
                    .target_group_arn(arn)
                    .send()
            })
            .await?;
        Ok(attribute_map(
            out.attributes().iter().map(|a| (a.key(), a.value())),
        ))
    }

    pub(crate) async fn security_groups_where(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<ActualSecurityGroup>> {
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeSecurityGroups, || {
                ec2.describe_security_groups()
                    .set_filters(Some(filters.clone()))
                    .send()
            })
            .await?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(actual_security_group)
            .collect())
    }

    /// Every ingress rule of one group.
    pub(crate) async fn ingress_of(&self, group: &str) -> Result<Vec<SgRule>> {
        let ec2 = &self.inner.ec2;
        let out = self
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

    /// The VPC's CIDRs, kept for `subnet_cache_ttl`; concurrent ensures share one read.
    pub(crate) async fn vpc_cidrs(&self) -> Result<Vec<String>> {
        let ttl = self.inner.config.subnet_cache_ttl;
        let cached = || {
            lock(&self.inner.cache.vpc_cidrs)
                .as_ref()
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, c)| c.clone())
        };
        if let Some(c) = cached() {
            return Ok(c);
        }
        let _one_lookup = self.inner.cache.vpc_cidrs_lookup.lock().await;
        if let Some(c) = cached() {
            return Ok(c);
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeVpcs, || {
                ec2.describe_vpcs().vpc_ids(&self.inner.vpc_id).send()
            })
            .await?;
        let mut cidrs: Vec<String> = out
            .vpcs()
            .iter()
            .flat_map(|v| {
                v.cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.cidr_block().map(str::to_string))
                    .chain(v.cidr_block().map(str::to_string))
            })
            .collect();
        cidrs.sort();
        cidrs.dedup();
        *lock(&self.inner.cache.vpc_cidrs) = Some((Instant::now(), cidrs.clone()));
        Ok(cidrs)
    }

    /// The subnets a scheme's load balancers go in, found by role tag and kept for
    /// `subnet_cache_ttl`; concurrent ensures share one lookup.
    pub(crate) async fn discover_subnets(&self, scheme: Scheme) -> Result<Vec<String>> {
        let ttl = self.inner.config.subnet_cache_ttl;
        let cached = || {
            lock(&self.inner.cache.lb_subnets)
                .get(&scheme)
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, ids)| ids.clone())
        };
        if let Some(ids) = cached() {
            return Ok(ids);
        }
        let _one_lookup = self.inner.cache.lb_subnets_lookup.lock().await;
        if let Some(ids) = cached() {
            return Ok(ids);
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeSubnets, || {
                ec2.describe_subnets()
                    .filters(self.in_vpc())
                    .filters(ec2_filter("tag-key", role_tag(scheme)))
                    .send()
            })
            .await?;
        let candidates = subnet_candidates(out.subnets());
        let ids = pick_subnets(&candidates, &self.inner.config.cluster_name, scheme);
        lock(&self.inner.cache.lb_subnets).insert(scheme, (Instant::now(), ids.clone()));
        Ok(ids)
    }

    /// The subnets of the VPC whose tags match `tags` (every key, one of its values), one per
    /// zone as discovery picks them. One read per call, not cached: the tags are the user's.
    pub(crate) async fn subnets_by_tags(
        &self,
        tags: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::DescribeSubnets, || {
                let mut req = ec2.describe_subnets().filters(self.in_vpc());
                for (key, values) in tags {
                    req = req.filters(
                        Filter::builder()
                            .name(format!("tag:{key}"))
                            .set_values(Some(values.clone()))
                            .build(),
                    );
                }
                req.send()
            })
            .await?;
        let candidates = subnet_candidates(out.subnets());
        Ok(pick_per_zone(&candidates, &self.inner.config.cluster_name))
    }
}

/// Subnets as discovery weighs them.
fn subnet_candidates(subnets: &[aws_sdk_ec2::types::Subnet]) -> Vec<SubnetCandidate> {
    subnets
        .iter()
        .filter_map(|s| {
            Some(SubnetCandidate {
                id: s.subnet_id()?.to_string(),
                zone: s.availability_zone().unwrap_or_default().to_string(),
                tags: ec2_tags(s.tags()),
            })
        })
        .collect()
}

/// The attributes a Describe*Attributes call answered, by key.
fn attribute_map<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| Some((k?.to_string(), v?.to_string())))
        .collect()
}
