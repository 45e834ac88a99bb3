//! The writes apply makes: one function per ELBv2 or EC2 mutation, each through the call
//! budget. Which of them run, and in what order, is the change set's business.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::ResourceType;
use aws_sdk_elasticloadbalancingv2::types as elb;
use cloudnet_core::{Error, IpAddressType, Owner, Result};

use super::convert::*;
use super::diff::conflict;
use super::matching::{SgRuleChanges, TagChanges, match_tags};
use super::model::*;
use super::plan::{ip_address_type_name, kind_name, scheme_name};
use crate::ops::AwsOp;
use crate::provider::AwsProvider;

/// A target group's health check settings `h` on a `CreateTargetGroup` or
/// `ModifyTargetGroup` request `b`.
macro_rules! health_check {
    ($b:expr, $h:expr) => {
        $b.health_check_protocol(elb_protocol(&$h.protocol))
            .health_check_port(&$h.port)
            .set_health_check_path($h.path.clone())
            .health_check_interval_seconds($h.interval_seconds)
            .health_check_timeout_seconds($h.timeout_seconds)
            .healthy_threshold_count($h.healthy_threshold)
            .unhealthy_threshold_count($h.unhealthy_threshold)
            .set_matcher(
                $h.matcher
                    .as_ref()
                    .map(|m| elb::Matcher::builder().http_code(m).build()),
            )
    };
}

/// A listener's settings `d` on a `CreateListener` or `ModifyListener` request `b`.
macro_rules! listener_fields {
    ($b:expr, $d:expr) => {
        $b.port(i32::from($d.port))
            .protocol(elb_protocol(&$d.protocol))
            .set_certificates(to_certificates(&$d.certificates))
            .set_ssl_policy($d.ssl_policy.clone())
            .default_actions(to_elb_action(&$d.default_action))
    };
}

impl AwsProvider {
    pub(super) async fn change_ingress(&self, group: &str, changes: &SgRuleChanges) -> Result<()> {
        let ec2 = &self.inner.ec2;
        if !changes.revoke.is_empty() {
            let perms: Vec<_> = changes.revoke.iter().map(to_ip_permission).collect();
            self.call(AwsOp::RevokeSecurityGroupIngress, || {
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
                Err(e) if e.code() == "InvalidPermission.Duplicate" => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) async fn change_ec2_tags(&self, id: &str, changes: &TagChanges) -> Result<()> {
        let ec2 = &self.inner.ec2;
        if !changes.add.is_empty() {
            let tags: Vec<_> = changes
                .add
                .iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                .collect();
            self.call(AwsOp::CreateTags, || {
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
            self.call(AwsOp::DeleteTags, || {
                ec2.delete_tags()
                    .resources(id)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await?;
        }
        Ok(())
    }

    pub(super) async fn change_elb_tags(&self, arn: &str, changes: &TagChanges) -> Result<()> {
        let elb = &self.inner.elb;
        if !changes.add.is_empty() {
            let tags = to_elb_tags(&changes.add);
            self.call(AwsOp::AddTags, || {
                elb.add_tags()
                    .resource_arns(arn)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await?;
        }
        if !changes.remove.is_empty() {
            self.call(AwsOp::RemoveTags, || {
                elb.remove_tags()
                    .resource_arns(arn)
                    .set_tag_keys(Some(changes.remove.clone()))
                    .send()
            })
            .await?;
        }
        Ok(())
    }

    pub(super) async fn modify_target_group_health(
        &self,
        arn: &str,
        h: &HealthCheckSettings,
    ) -> Result<()> {
        let elb = &self.inner.elb;
        self.call(AwsOp::ModifyTargetGroup, || {
            health_check!(elb.modify_target_group().target_group_arn(arn), h).send()
        })
        .await?;
        Ok(())
    }

    /// Creates a target group; answers its ARN. When the name is taken (left by an ensure
    /// that died before creating the load balancer, which observe cannot see), the group is
    /// adopted only if it is ours, and brought to the planned health check and tags.
    pub(super) async fn create_target_group(
        &self,
        owner: &Owner,
        d: &DesiredTargetGroup,
    ) -> Result<String> {
        let elb = &self.inner.elb;
        let h = &d.health_check;
        let out = self
            .call(AwsOp::CreateTargetGroup, || {
                let b = elb
                    .create_target_group()
                    .name(&d.name)
                    .protocol(elb_protocol(&d.protocol))
                    .port(i32::from(d.port))
                    .vpc_id(&self.inner.vpc_id)
                    .target_type(elb::TargetTypeEnum::from(d.target_type.as_str()));
                health_check!(b, h)
                    .set_tags(Some(to_elb_tags(&d.tags)))
                    .send()
            })
            .await;
        match out {
            Ok(o) => o
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .map(str::to_string)
                .ok_or_else(|| empty_answer("CreateTargetGroup", "target group")),
            Err(e) if e.code() == "DuplicateTargetGroupName" => {
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
                Ok(existing.arn)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn create_load_balancer(
        &self,
        d: &DesiredLoadBalancer,
    ) -> Result<ActualLoadBalancer> {
        let elb = &self.inner.elb;
        let out = self
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
            .ok_or_else(|| empty_answer("CreateLoadBalancer", "load balancer"))
    }

    /// Subnets, security groups and IP address type, each only when given.
    pub(super) async fn modify_load_balancer(
        &self,
        arn: &str,
        subnets: Option<&Vec<String>>,
        security_groups: Option<&Vec<String>>,
        ip_address_type: Option<IpAddressType>,
    ) -> Result<()> {
        let elb = &self.inner.elb;
        if let Some(subnets) = subnets {
            self.call(AwsOp::SetSubnets, || {
                elb.set_subnets()
                    .load_balancer_arn(arn)
                    .set_subnets(Some(subnets.clone()))
                    .send()
            })
            .await?;
        }
        if let Some(groups) = security_groups {
            self.call(AwsOp::SetSecurityGroups, || {
                elb.set_security_groups()
                    .load_balancer_arn(arn)
                    .set_security_groups(Some(groups.clone()))
                    .send()
            })
            .await?;
        }
        if let Some(t) = ip_address_type {
            self.call(AwsOp::SetIpAddressType, || {
                elb.set_ip_address_type()
                    .load_balancer_arn(arn)
                    .ip_address_type(elb::IpAddressType::from(ip_address_type_name(t)))
                    .send()
            })
            .await?;
        }
        Ok(())
    }

    /// Creates a listener carrying the owner's `tags` from its first moment (an IAM policy
    /// conditioned on `aws:RequestTag` allows exactly that).
    pub(super) async fn create_listener(
        &self,
        lb_arn: &str,
        d: &DesiredListener,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::CreateListener, || {
                listener_fields!(elb.create_listener().load_balancer_arn(lb_arn), d)
                    .set_tags(Some(to_elb_tags(tags)))
                    .send()
            })
            .await?;
        out.listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .map(str::to_string)
            .ok_or_else(|| empty_answer("CreateListener", "listener"))
    }

    pub(super) async fn modify_listener(&self, arn: &str, d: &DesiredListener) -> Result<()> {
        let elb = &self.inner.elb;
        self.call(AwsOp::ModifyListener, || {
            listener_fields!(elb.modify_listener().listener_arn(arn), d).send()
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn delete_target_group(&self, arn: &str) -> Result<()> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DeleteTargetGroup, || {
                elb.delete_target_group().target_group_arn(arn).send()
            })
            .await;
        crate::call::gone_is_done(out)
    }

    /// The ALB's managed group with its tags; answers its ID.
    pub(super) async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let ec2 = &self.inner.ec2;
        let out = self
            .call(AwsOp::CreateSecurityGroup, || {
                ec2.create_security_group()
                    .group_name(name)
                    .description(description)
                    .vpc_id(&self.inner.vpc_id)
                    .tag_specifications(to_ec2_tag_spec(ResourceType::SecurityGroup, tags))
                    .send()
            })
            .await?;
        out.group_id()
            .map(str::to_string)
            .ok_or_else(|| empty_answer("CreateSecurityGroup", "group ID"))
    }

    pub(super) async fn write_target_group_attributes(
        &self,
        arn: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        if attributes.is_empty() {
            return Ok(());
        }
        let elb = &self.inner.elb;
        let attrs: Vec<_> = attributes
            .iter()
            .map(|(k, v)| elb::TargetGroupAttribute::builder().key(k).value(v).build())
            .collect();
        self.call(AwsOp::ModifyTargetGroupAttributes, || {
            elb.modify_target_group_attributes()
                .target_group_arn(arn)
                .set_attributes(Some(attrs.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    pub(super) async fn write_load_balancer_attributes(
        &self,
        arn: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        if attributes.is_empty() {
            return Ok(());
        }
        let elb = &self.inner.elb;
        let attrs: Vec<_> = attributes
            .iter()
            .map(|(k, v)| {
                elb::LoadBalancerAttribute::builder()
                    .key(k)
                    .value(v)
                    .build()
            })
            .collect();
        self.call(AwsOp::ModifyLoadBalancerAttributes, || {
            elb.modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .set_attributes(Some(attrs.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Creates a rule carrying the owner's `tags` from its first moment.
    pub(super) async fn create_rule(
        &self,
        listener_arn: &str,
        rule: &DesiredRule,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        let elb = &self.inner.elb;
        self.call(AwsOp::CreateRule, || {
            elb.create_rule()
                .listener_arn(listener_arn)
                .priority(rule.priority)
                .set_conditions(Some(rule.conditions.iter().map(to_elb_condition).collect()))
                .actions(to_elb_action(&rule.action))
                .set_tags(Some(to_elb_tags(tags)))
                .send()
        })
        .await?;
        Ok(())
    }

    pub(super) async fn modify_rule(&self, arn: &str, rule: &DesiredRule) -> Result<()> {
        let elb = &self.inner.elb;
        self.call(AwsOp::ModifyRule, || {
            elb.modify_rule()
                .rule_arn(arn)
                .set_conditions(Some(rule.conditions.iter().map(to_elb_condition).collect()))
                .actions(to_elb_action(&rule.action))
                .send()
        })
        .await?;
        Ok(())
    }

    /// A rule already gone is deleted.
    pub(super) async fn delete_rule(&self, arn: &str) -> Result<()> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DeleteRule, || elb.delete_rule().rule_arn(arn).send())
            .await;
        crate::call::gone_is_done(out)
    }

    /// A listener already gone is deleted (its rules go with it).
    pub(crate) async fn delete_listener(&self, arn: &str) -> Result<()> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DeleteListener, || {
                elb.delete_listener().listener_arn(arn).send()
            })
            .await;
        crate::call::gone_is_done(out)
    }
}

/// A create call that answered without the new resource's identity.
fn empty_answer(operation: &str, what: &str) -> Error {
    Error::Transient {
        code: "EmptyResponse".into(),
        message: format!("{operation} answered no {what}"),
    }
}
