//! Deploying a planned stack: read what exists, match, then delete what is unmatched, create
//! what is missing and modify what drifted, in dependency order.
//!
//! ```text
//!  frontend group ─> shared backend group + its rule on the nodes' group (or the per-ALB
//!  rule) ─> target groups ─> load balancer ─> (old per-ALB rule revoked) ─> listeners
//!     ─> rules ─> (stale rules, listeners, target groups deleted last)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use aws_sdk_ec2::types::{Filter, ResourceType};
use aws_sdk_elasticloadbalancingv2::types as elb;
use cloudnet_core::{
    Error, GroupStatus, LoadBalancerKind, LoadBalancerSpec, LoadBalancerStatus, Owner, Result,
    Scheme, Subnets,
};

use super::convert::*;
use super::matching::*;
use super::model::*;
use super::plan::{
    PlanContext, ip_address_type_name, kind_name, plan, resolve_action, scheme_name,
};
use super::subnets::{SubnetCandidate, pick_subnets, role_tag};
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, GroupRef, lock};

/// At most this many ARNs per DescribeTags call (the API's limit).
const TAGS_PER_CALL: usize = 20;

pub(crate) fn conflict(message: String) -> Error {
    Error::Conflict {
        code: "NotOwned".into(),
        message,
    }
}

fn is_code(e: &Error, code: &str) -> bool {
    e.code() == code
}

impl AwsProvider {
    /// Tags of ELBv2 resources, in batches of 20.
    pub(crate) async fn elb_tags(
        &self,
        arns: &[String],
    ) -> Result<HashMap<String, BTreeMap<String, String>>> {
        let elb = &self.inner.elb;
        let mut out = HashMap::new();
        for chunk in arns.chunks(TAGS_PER_CALL) {
            let resp = self
                .inner
                .caller
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

    pub(crate) async fn find_load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<ActualLoadBalancer>> {
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::DescribeLoadBalancers, || {
                elb.describe_load_balancers().names(name).send()
            })
            .await;
        match out {
            Ok(o) => Ok(o.load_balancers().iter().find_map(actual_load_balancer)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn load_balancer_by_arn(
        &self,
        arn: &str,
    ) -> Result<Option<ActualLoadBalancer>> {
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::DescribeLoadBalancers, || {
                elb.describe_load_balancers().load_balancer_arns(arn).send()
            })
            .await;
        match out {
            Ok(o) => Ok(o.load_balancers().iter().find_map(actual_load_balancer)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Target groups attached to a load balancer (through any listener or rule).
    pub(crate) async fn target_groups_of(&self, lb_arn: &str) -> Result<Vec<ActualTargetGroup>> {
        let elb = &self.inner.elb;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .inner
                .caller
                .call(AwsOp::DescribeTargetGroups, || {
                    elb.describe_target_groups()
                        .load_balancer_arn(lb_arn)
                        .set_marker(marker.clone())
                        .send()
                })
                .await;
            let page = match page {
                Ok(p) => p,
                Err(Error::NotFound { .. }) => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.target_groups().iter().filter_map(actual_target_group));
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn target_group_by_name(&self, name: &str) -> Result<Option<ActualTargetGroup>> {
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::DescribeTargetGroups, || {
                elb.describe_target_groups().names(name).send()
            })
            .await;
        match out {
            Ok(o) => Ok(o.target_groups().iter().find_map(actual_target_group)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn vpc_cidrs(&self) -> Result<Vec<String>> {
        if let Some(c) = lock(&self.inner.cache.vpc_cidrs).clone() {
            return Ok(c);
        }
        let ec2 = &self.inner.ec2;
        let out = self
            .inner
            .caller
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
        *lock(&self.inner.cache.vpc_cidrs) = Some(cidrs.clone());
        Ok(cidrs)
    }

    async fn discover_subnets(&self, scheme: Scheme) -> Result<Vec<String>> {
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
            .inner
            .caller
            .call(AwsOp::DescribeSubnets, || {
                ec2.describe_subnets()
                    .filters(
                        Filter::builder()
                            .name("vpc-id")
                            .values(&self.inner.vpc_id)
                            .build(),
                    )
                    .filters(
                        Filter::builder()
                            .name("tag-key")
                            .values(role_tag(scheme))
                            .build(),
                    )
                    .send()
            })
            .await?;
        let candidates: Vec<SubnetCandidate> = out
            .subnets()
            .iter()
            .filter_map(|s| {
                Some(SubnetCandidate {
                    id: s.subnet_id()?.to_string(),
                    zone: s.availability_zone().unwrap_or_default().to_string(),
                    tags: ec2_tags(s.tags()),
                })
            })
            .collect();
        let ids = pick_subnets(&candidates, &self.inner.config.cluster_name, scheme);
        lock(&self.inner.cache.lb_subnets).insert(scheme, (Instant::now(), ids.clone()));
        Ok(ids)
    }

    pub(super) async fn security_groups_where(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<ActualSecurityGroup>> {
        let ec2 = &self.inner.ec2;
        let out = self
            .inner
            .caller
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

    pub(super) async fn change_ingress(&self, group: &str, changes: &SgRuleChanges) -> Result<()> {
        let ec2 = &self.inner.ec2;
        if !changes.revoke.is_empty() {
            let perms: Vec<_> = changes.revoke.iter().map(to_ip_permission).collect();
            self.inner
                .caller
                .call(AwsOp::RevokeSecurityGroupIngress, || {
                    ec2.revoke_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms.clone()))
                        .send()
                })
                .await?;
        }
        if !changes.authorize.is_empty() {
            let perms: Vec<_> = changes.authorize.iter().map(to_ip_permission).collect();
            let out = self
                .inner
                .caller
                .call(AwsOp::AuthorizeSecurityGroupIngress, || {
                    ec2.authorize_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms.clone()))
                        .send()
                })
                .await;
            match out {
                Ok(_) => {}
                // Already there (Describe lagged): what we wanted holds.
                Err(e) if is_code(&e, "InvalidPermission.Duplicate") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The ALB's managed group: found by name in the VPC, ours by tags, or created.
    /// Answers its ID and whether it is new.
    async fn ensure_security_group(
        &self,
        owner: &Owner,
        desired: &DesiredSecurityGroup,
    ) -> Result<(String, bool)> {
        let found = self
            .security_groups_where(vec![
                Filter::builder()
                    .name("vpc-id")
                    .values(&self.inner.vpc_id)
                    .build(),
                Filter::builder()
                    .name("group-name")
                    .values(&desired.name)
                    .build(),
            ])
            .await?;
        if let Some(g) = found.into_iter().next() {
            if !owner.owns(&g.tags) {
                return Err(conflict(format!(
                    "security group {} ({}) exists and is not owned by {} {}",
                    g.name,
                    g.id,
                    owner.kind.as_str(),
                    owner.object_ref()
                )));
            }
            let changes = match_sg_rules(&desired.ingress, &g.ingress, |_| true);
            self.change_ingress(&g.id, &changes).await?;
            let tags = match_tags(&desired.tags, &g.tags);
            self.change_ec2_tags(&g.id, &tags).await?;
            return Ok((g.id, false));
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
        let id = out.group_id().unwrap_or_default().to_string();
        let changes = SgRuleChanges {
            authorize: desired.ingress.iter().cloned().collect(),
            revoke: vec![],
        };
        self.change_ingress(&id, &changes).await?;
        Ok((id, true))
    }

    async fn change_ec2_tags(&self, id: &str, changes: &TagChanges) -> Result<()> {
        let ec2 = &self.inner.ec2;
        if !changes.add.is_empty() {
            let tags: Vec<_> = changes
                .add
                .iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                .collect();
            self.inner
                .caller
                .call(AwsOp::CreateTags, || {
                    ec2.create_tags()
                        .resources(id)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await?;
        }
        if !changes.remove.is_empty() {
            let tags: Vec<_> = changes
                .remove
                .iter()
                .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build())
                .collect();
            self.inner
                .caller
                .call(AwsOp::DeleteTags, || {
                    ec2.delete_tags()
                        .resources(id)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await?;
        }
        Ok(())
    }

    async fn ensure_backend_access(
        &self,
        backend: &DesiredBackendAccess,
        managed: &str,
        fresh: bool,
    ) -> Result<()> {
        let desired = backend.rules(managed);
        let actual = if fresh {
            // Nothing can refer to a group made a moment ago.
            Vec::new()
        } else {
            let ec2 = &self.inner.ec2;
            let out = self
                .inner
                .caller
                .call(AwsOp::DescribeSecurityGroups, || {
                    ec2.describe_security_groups()
                        .group_ids(&backend.node_security_group)
                        .send()
                })
                .await?;
            out.security_groups()
                .iter()
                .flat_map(|g| actual_ingress(g.ip_permissions()))
                .collect()
        };
        let source = SgSource::Group(managed.to_string());
        let changes = match_sg_rules(&desired, &actual, |r| r.source == source);
        self.change_ingress(&backend.node_security_group, &changes)
            .await
    }

    async fn change_elb_tags(&self, arn: &str, changes: &TagChanges) -> Result<()> {
        let elb = &self.inner.elb;
        if !changes.add.is_empty() {
            let tags = to_elb_tags(&changes.add);
            self.inner
                .caller
                .call(AwsOp::AddTags, || {
                    elb.add_tags()
                        .resource_arns(arn)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await?;
        }
        if !changes.remove.is_empty() {
            self.inner
                .caller
                .call(AwsOp::RemoveTags, || {
                    elb.remove_tags()
                        .resource_arns(arn)
                        .set_tag_keys(Some(changes.remove.clone()))
                        .send()
                })
                .await?;
        }
        Ok(())
    }

    async fn modify_target_group_health(&self, arn: &str, h: &HealthCheckSettings) -> Result<()> {
        let elb = &self.inner.elb;
        self.inner
            .caller
            .call(AwsOp::ModifyTargetGroup, || {
                elb.modify_target_group()
                    .target_group_arn(arn)
                    .health_check_protocol(elb_protocol(&h.protocol))
                    .health_check_port(&h.port)
                    .set_health_check_path(h.path.clone())
                    .health_check_interval_seconds(h.interval_seconds)
                    .health_check_timeout_seconds(h.timeout_seconds)
                    .healthy_threshold_count(h.healthy_threshold)
                    .unhealthy_threshold_count(h.unhealthy_threshold)
                    .set_matcher(
                        h.matcher
                            .as_ref()
                            .map(|m| elb::Matcher::builder().http_code(m).build()),
                    )
                    .send()
            })
            .await?;
        Ok(())
    }

    async fn sync_target_group_attributes(
        &self,
        arn: &str,
        desired: &BTreeMap<String, String>,
        fresh: bool,
    ) -> Result<()> {
        let (elb, caller) = (&self.inner.elb, &self.inner.caller);
        let read = || async {
            let out = caller
                .call(AwsOp::DescribeTargetGroupAttributes, || {
                    elb.describe_target_group_attributes()
                        .target_group_arn(arn)
                        .send()
                })
                .await?;
            Ok(attribute_map(
                out.attributes().iter().map(|a| (a.key(), a.value())),
            ))
        };
        let write = |changes: BTreeMap<String, String>| async move {
            let attrs: Vec<_> = changes
                .iter()
                .map(|(k, v)| elb::TargetGroupAttribute::builder().key(k).value(v).build())
                .collect();
            caller
                .call(AwsOp::ModifyTargetGroupAttributes, || {
                    elb.modify_target_group_attributes()
                        .target_group_arn(arn)
                        .set_attributes(Some(attrs.clone()))
                        .send()
                })
                .await?;
            Ok(())
        };
        sync_attributes(desired, fresh, read, write).await
    }

    async fn sync_load_balancer_attributes(
        &self,
        arn: &str,
        desired: &BTreeMap<String, String>,
        fresh: bool,
    ) -> Result<()> {
        let (elb, caller) = (&self.inner.elb, &self.inner.caller);
        let read = || async {
            let out = caller
                .call(AwsOp::DescribeLoadBalancerAttributes, || {
                    elb.describe_load_balancer_attributes()
                        .load_balancer_arn(arn)
                        .send()
                })
                .await?;
            Ok(attribute_map(
                out.attributes().iter().map(|a| (a.key(), a.value())),
            ))
        };
        let write = |changes: BTreeMap<String, String>| async move {
            let attrs: Vec<_> = changes
                .iter()
                .map(|(k, v)| {
                    elb::LoadBalancerAttribute::builder()
                        .key(k)
                        .value(v)
                        .build()
                })
                .collect();
            caller
                .call(AwsOp::ModifyLoadBalancerAttributes, || {
                    elb.modify_load_balancer_attributes()
                        .load_balancer_arn(arn)
                        .set_attributes(Some(attrs.clone()))
                        .send()
                })
                .await?;
            Ok(())
        };
        sync_attributes(desired, fresh, read, write).await
    }

    /// Creates a target group; when the name is taken, adopts it only if it is ours.
    async fn create_target_group(
        &self,
        owner: &Owner,
        d: &DesiredTargetGroup,
    ) -> Result<(String, bool)> {
        let elb = &self.inner.elb;
        let h = &d.health_check;
        let out = self
            .inner
            .caller
            .call(AwsOp::CreateTargetGroup, || {
                elb.create_target_group()
                    .name(&d.name)
                    .protocol(elb_protocol(&d.protocol))
                    .port(i32::from(d.port))
                    .vpc_id(&self.inner.vpc_id)
                    .target_type(elb::TargetTypeEnum::from(d.target_type.as_str()))
                    .health_check_protocol(elb_protocol(&h.protocol))
                    .health_check_port(&h.port)
                    .set_health_check_path(h.path.clone())
                    .health_check_interval_seconds(h.interval_seconds)
                    .health_check_timeout_seconds(h.timeout_seconds)
                    .healthy_threshold_count(h.healthy_threshold)
                    .unhealthy_threshold_count(h.unhealthy_threshold)
                    .set_matcher(
                        h.matcher
                            .as_ref()
                            .map(|m| elb::Matcher::builder().http_code(m).build()),
                    )
                    .set_tags(Some(to_elb_tags(&d.tags)))
                    .send()
            })
            .await;
        match out {
            Ok(o) => {
                let arn = o
                    .target_groups()
                    .first()
                    .and_then(|t| t.target_group_arn())
                    .unwrap_or_default()
                    .to_string();
                Ok((arn, true))
            }
            Err(e) if is_code(&e, "DuplicateTargetGroupName") => {
                // Left by an earlier ensure that died before attaching it, or someone
                // else's: only ours is adopted.
                let existing = self.target_group_by_name(&d.name).await?.ok_or(e)?;
                let tags = self
                    .elb_tags(std::slice::from_ref(&existing.arn))
                    .await?
                    .remove(&existing.arn)
                    .unwrap_or_default();
                if !owner.owns(&tags) {
                    return Err(conflict(format!(
                        "target group {} exists and is not owned by {} {}",
                        d.name,
                        owner.kind.as_str(),
                        owner.object_ref()
                    )));
                }
                if existing.health_check != d.health_check {
                    self.modify_target_group_health(&existing.arn, &d.health_check)
                        .await?;
                }
                self.change_elb_tags(&existing.arn, &match_tags(&d.tags, &tags))
                    .await?;
                // Attributes are read back like any existing group's.
                Ok((existing.arn, false))
            }
            Err(e) => Err(e),
        }
    }

    async fn create_load_balancer(&self, d: &DesiredLoadBalancer) -> Result<ActualLoadBalancer> {
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::CreateLoadBalancer, || {
                let b = elb
                    .create_load_balancer()
                    .name(&d.name)
                    .r#type(elb::LoadBalancerTypeEnum::from(kind_name(d.kind)))
                    .scheme(elb::LoadBalancerSchemeEnum::from(scheme_name(d.scheme)))
                    .ip_address_type(elb::IpAddressType::from(ip_address_type_name(
                        d.ip_address_type,
                    )))
                    .set_subnets(Some(d.subnets.clone()))
                    .set_tags(Some(to_elb_tags(&d.tags)));
                if d.security_groups.is_empty() {
                    b
                } else {
                    b.set_security_groups(Some(d.security_groups.clone()))
                }
                .send()
            })
            .await?;
        out.load_balancers()
            .iter()
            .find_map(actual_load_balancer)
            .ok_or_else(|| Error::Transient {
                code: "EmptyResponse".into(),
                message: "CreateLoadBalancer answered no load balancer".into(),
            })
    }

    async fn apply_load_balancer_changes(
        &self,
        arn: &str,
        changes: &LoadBalancerChanges,
    ) -> Result<()> {
        let elb = &self.inner.elb;
        if let Some(subnets) = &changes.subnets {
            self.inner
                .caller
                .call(AwsOp::SetSubnets, || {
                    elb.set_subnets()
                        .load_balancer_arn(arn)
                        .set_subnets(Some(subnets.clone()))
                        .send()
                })
                .await?;
        }
        if let Some(groups) = &changes.security_groups {
            self.inner
                .caller
                .call(AwsOp::SetSecurityGroups, || {
                    elb.set_security_groups()
                        .load_balancer_arn(arn)
                        .set_security_groups(Some(groups.clone()))
                        .send()
                })
                .await?;
        }
        if let Some(t) = changes.ip_address_type {
            self.inner
                .caller
                .call(AwsOp::SetIpAddressType, || {
                    elb.set_ip_address_type()
                        .load_balancer_arn(arn)
                        .ip_address_type(elb::IpAddressType::from(ip_address_type_name(t)))
                        .send()
                })
                .await?;
        }
        Ok(())
    }

    async fn listeners_of(&self, lb_arn: &str) -> Result<Vec<ActualListener>> {
        let elb = &self.inner.elb;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .inner
                .caller
                .call(AwsOp::DescribeListeners, || {
                    elb.describe_listeners()
                        .load_balancer_arn(lb_arn)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            out.extend(page.listeners().iter().filter_map(actual_listener));
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn rules_of(&self, listener_arn: &str) -> Result<Vec<ActualRule>> {
        let elb = &self.inner.elb;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .inner
                .caller
                .call(AwsOp::DescribeRules, || {
                    elb.describe_rules()
                        .listener_arn(listener_arn)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            out.extend(page.rules().iter().filter_map(actual_rule));
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn create_listener(&self, lb_arn: &str, d: &DesiredListener) -> Result<String> {
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::CreateListener, || {
                elb.create_listener()
                    .load_balancer_arn(lb_arn)
                    .port(i32::from(d.port))
                    .protocol(elb_protocol(&d.protocol))
                    .set_certificates(to_certificates(&d.certificates))
                    .set_ssl_policy(d.ssl_policy.clone())
                    .default_actions(to_elb_action(&d.default_action))
                    .send()
            })
            .await?;
        Ok(out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default()
            .to_string())
    }

    async fn modify_listener(&self, arn: &str, d: &DesiredListener) -> Result<()> {
        let elb = &self.inner.elb;
        self.inner
            .caller
            .call(AwsOp::ModifyListener, || {
                elb.modify_listener()
                    .listener_arn(arn)
                    .port(i32::from(d.port))
                    .protocol(elb_protocol(&d.protocol))
                    .set_certificates(to_certificates(&d.certificates))
                    .set_ssl_policy(d.ssl_policy.clone())
                    .default_actions(to_elb_action(&d.default_action))
                    .send()
            })
            .await?;
        Ok(())
    }

    /// Makes one listener's rules the desired ones: stale ones go first (freeing their
    /// priorities), then drifted ones are modified and missing ones created.
    async fn sync_rules(
        &self,
        listener_arn: &str,
        desired: &[DesiredRule],
        fresh: bool,
    ) -> Result<()> {
        let actual = if fresh {
            Vec::new()
        } else {
            self.rules_of(listener_arn).await?
        };
        let m = match_rules(desired, &actual);
        let elb = &self.inner.elb;
        for stale in &m.delete {
            let out = self
                .inner
                .caller
                .call(AwsOp::DeleteRule, || {
                    elb.delete_rule().rule_arn(&stale.arn).send()
                })
                .await;
            crate::call::gone_is_done(out)?;
        }
        for pair in m.matched.iter().filter(|p| p.changes) {
            let d = pair.desired;
            self.inner
                .caller
                .call(AwsOp::ModifyRule, || {
                    elb.modify_rule()
                        .rule_arn(&pair.actual.arn)
                        .set_conditions(Some(d.conditions.iter().map(to_elb_condition).collect()))
                        .actions(to_elb_action(&d.action))
                        .send()
                })
                .await?;
        }
        for d in &m.create {
            self.inner
                .caller
                .call(AwsOp::CreateRule, || {
                    elb.create_rule()
                        .listener_arn(listener_arn)
                        .priority(d.priority)
                        .set_conditions(Some(d.conditions.iter().map(to_elb_condition).collect()))
                        .actions(to_elb_action(&d.action))
                        .send()
                })
                .await?;
        }
        Ok(())
    }

    /// `LoadBalancers::ensure`.
    pub(crate) async fn ensure_stack(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
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
        if spec.subnets == Subnets::Discover {
            stack.load_balancer.subnets = self.discover_subnets(spec.scheme).await?;
        }
        let zones_needed = if alb { 2 } else { 1 };
        if stack.load_balancer.subnets.len() < zones_needed {
            return Err(Error::invalid(format!(
                "a {} load balancer needs subnets in at least {zones_needed} zone(s); found {:?} (tag subnets with {} or name them)",
                kind_name(spec.kind),
                stack.load_balancer.subnets,
                role_tag(spec.scheme)
            )));
        }

        // Read: the load balancer by its name, its target groups, and their tags.
        let found = self.find_load_balancer(&stack.load_balancer.name).await?;
        let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
        let mut owned_groups = Vec::new();
        if let Some(lb) = &found {
            let groups = self.target_groups_of(&lb.arn).await?;
            let arns: Vec<String> = std::iter::once(lb.arn.clone())
                .chain(groups.iter().map(|g| g.arn.clone()))
                .collect();
            tags = self.elb_tags(&arns).await?;
            let lb_tags = tags.get(&lb.arn).cloned().unwrap_or_default();
            if !owner.owns(&lb_tags) {
                return Err(conflict(format!(
                    "load balancer {} exists and is not owned by {} {}; it is left alone",
                    lb.name,
                    owner.kind.as_str(),
                    owner.object_ref()
                )));
            }
            // A group on our load balancer without our tags is someone else's: never ours
            // to change or delete.
            owned_groups = groups
                .into_iter()
                .filter(|g| tags.get(&g.arn).is_some_and(|t| owner.owns(t)))
                .collect::<Vec<_>>();
            // Groups nothing sends to (an earlier ensure died before its listeners, or a
            // listener was removed behind our back) are not attached: look them up by name.
            for d in &stack.target_groups {
                if owned_groups.iter().any(|g| g.name == d.name) {
                    continue;
                }
                let Some(g) = self.target_group_by_name(&d.name).await? else {
                    continue;
                };
                let t = self
                    .elb_tags(std::slice::from_ref(&g.arn))
                    .await?
                    .remove(&g.arn)
                    .unwrap_or_default();
                if !owner.owns(&t) {
                    return Err(conflict(format!(
                        "target group {} exists and is not owned by {} {}; it is left alone",
                        d.name,
                        owner.kind.as_str(),
                        owner.object_ref()
                    )));
                }
                tags.insert(g.arn.clone(), t);
                owned_groups.push(g);
            }
        }

        // Security groups: the ALB's managed (frontend) group, and either the shared backend
        // group with its one rule on the nodes' group or the per-ALB rule there.
        let mut frontend = None;
        if let Some(sg) = &stack.security_group {
            let (id, fresh) = self.ensure_security_group(owner, sg).await?;
            if let Some(backend) = &stack.backend_access {
                self.ensure_backend_access(backend, &id, fresh).await?;
            }
            stack.load_balancer.security_groups.push(id.clone());
            frontend = Some((id, fresh));
        }
        if let Some(ports) = &stack.backend_ports {
            let id = self.ensure_backend_group(ports).await?;
            stack.load_balancer.security_groups.push(id);
        }
        stack.load_balancer.security_groups.sort();
        stack.load_balancer.security_groups.dedup();

        // Target groups.
        let tg_match = match_target_groups(&stack.target_groups, &owned_groups);
        let mut arns: BTreeMap<String, String> = BTreeMap::new();
        for pair in &tg_match.matched {
            let (d, a) = (pair.desired, pair.actual);
            if let Some(h) = &pair.changes.health_check {
                self.modify_target_group_health(&a.arn, h).await?;
            }
            let actual_tags = tags.get(&a.arn).cloned().unwrap_or_default();
            self.change_elb_tags(&a.arn, &match_tags(&d.tags, &actual_tags))
                .await?;
            self.sync_target_group_attributes(&a.arn, &d.attributes, false)
                .await?;
            arns.insert(d.key.clone(), a.arn.clone());
        }
        for d in &tg_match.create {
            let (arn, fresh) = self.create_target_group(owner, d).await?;
            self.sync_target_group_attributes(&arn, &d.attributes, fresh)
                .await?;
            arns.insert(d.key.clone(), arn);
        }

        // The load balancer.
        let (lb, lb_fresh) = match match_load_balancer(&stack.load_balancer, found.as_ref()) {
            LoadBalancerMatch::Create => {
                let lb = self.create_load_balancer(&stack.load_balancer).await?;
                tracing::info!(name = %lb.name, "Load balancer created");
                (lb, true)
            }
            LoadBalancerMatch::Matched { actual, changes } => {
                self.apply_load_balancer_changes(&actual.arn, &changes)
                    .await?;
                let actual_tags = tags.get(&actual.arn).cloned().unwrap_or_default();
                self.change_elb_tags(
                    &actual.arn,
                    &match_tags(&stack.load_balancer.tags, &actual_tags),
                )
                .await?;
                (actual.clone(), false)
            }
            LoadBalancerMatch::Incompatible { reason } => {
                return Err(conflict(format!(
                    "load balancer cannot be changed in place: {reason}"
                )));
            }
        };
        self.sync_load_balancer_attributes(&lb.arn, &stack.load_balancer.attributes, lb_fresh)
            .await?;
        // Only now that the load balancer carries the backend group may the rule of its
        // managed group on the nodes' group go (a new group never had one).
        if let (Some(_), Some((id, false))) = (&stack.backend_ports, &frontend) {
            self.drop_per_lb_node_rule(id).await?;
        }

        // Listeners and rules, with group keys resolved to ARNs.
        let missing =
            |key: String| Error::invalid(format!("backend group {key} has no target group"));
        let mut resolved = Vec::with_capacity(stack.listeners.len());
        for l in &stack.listeners {
            let mut r = l.clone();
            r.default_action = resolve_action(&l.default_action, &arns).map_err(missing)?;
            for rule in &mut r.rules {
                rule.action = resolve_action(&rule.action, &arns).map_err(missing)?;
            }
            resolved.push(r);
        }
        let actual_listeners = if lb_fresh {
            Vec::new()
        } else {
            self.listeners_of(&lb.arn).await?
        };
        let lm = match_listeners(&resolved, &actual_listeners);
        let elb = &self.inner.elb;
        for pair in &lm.matched {
            if !pair.changes.is_empty() {
                self.modify_listener(&pair.actual.arn, pair.desired).await?;
            }
            if pair.desired.protocol == "HTTP" || pair.desired.protocol == "HTTPS" {
                self.sync_rules(&pair.actual.arn, &pair.desired.rules, false)
                    .await?;
            }
        }
        for d in &lm.create {
            let arn = self.create_listener(&lb.arn, d).await?;
            self.sync_rules(&arn, &d.rules, true).await?;
        }

        // Stale parts last: listeners, then the groups nothing sends to any more.
        for stale in &lm.delete {
            let out = self
                .inner
                .caller
                .call(AwsOp::DeleteListener, || {
                    elb.delete_listener().listener_arn(&stale.arn).send()
                })
                .await;
            crate::call::gone_is_done(out)?;
        }
        for stale in &tg_match.delete {
            self.delete_target_group(&stale.arn).await?;
        }

        let mut cache = lock(&self.inner.cache.groups);
        cache.retain(|(lb_arn, _), _| lb_arn != &lb.arn);
        let mut groups = Vec::new();
        for d in &stack.target_groups {
            if let Some(arn) = arns.get(&d.key) {
                cache.insert(
                    (lb.arn.clone(), d.key.clone()),
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
        }
        Ok(LoadBalancerStatus {
            id: cloudnet_core::LoadBalancerId(lb.arn.clone()),
            dns_name: lb.dns_name.clone(),
            ips: Vec::new(),
            groups,
        })
    }

    pub(crate) async fn delete_target_group(&self, arn: &str) -> Result<()> {
        let elb = &self.inner.elb;
        let out = self
            .inner
            .caller
            .call(AwsOp::DeleteTargetGroup, || {
                elb.delete_target_group().target_group_arn(arn).send()
            })
            .await;
        crate::call::gone_is_done(out)
    }
}

/// The attributes a Describe*Attributes call answered, by key.
fn attribute_map<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| Some((k?.to_string(), v?.to_string())))
        .collect()
}

/// Brings a resource's attributes to `desired` in at most one write: a resource just created
/// (`fresh`) gets all of them without a read; otherwise only what differs from a read is
/// written, and nothing when nothing differs.
async fn sync_attributes<R, RF, W, WF>(
    desired: &BTreeMap<String, String>,
    fresh: bool,
    read: R,
    write: W,
) -> Result<()>
where
    R: FnOnce() -> RF,
    RF: std::future::Future<Output = Result<BTreeMap<String, String>>>,
    W: FnOnce(BTreeMap<String, String>) -> WF,
    WF: std::future::Future<Output = Result<()>>,
{
    if desired.is_empty() {
        return Ok(());
    }
    let changes = if fresh {
        desired.clone()
    } else {
        match_attributes(desired, &read().await?)
    };
    if changes.is_empty() {
        return Ok(());
    }
    write(changes).await
}
