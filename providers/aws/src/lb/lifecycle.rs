//! The [`LoadBalancers`] trait: ensure (see [`super::ensure`]), target sync, delete and the
//! garbage-collection listing.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use aws_sdk_elasticloadbalancingv2::types as elb;
use cloudnet_core::ownership::TAG_RESOURCE;
use cloudnet_core::{
    BoundGroup, Error, HealthState, LoadBalancerCapabilities, LoadBalancerId, LoadBalancerKind,
    LoadBalancerSpec, LoadBalancerStatus, LoadBalancers, OwnedLoadBalancer, Owner, Protocol,
    Result, Target, TargetHealth, TargetKind, TargetSync,
};
use tracing::Instrument;

use super::diff::conflict;
use super::model::SgSource;
use crate::lb::matching::{SgRuleChanges, match_sg_rules};
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, GroupRef, lock};

fn health_state(s: Option<&elb::TargetHealthStateEnum>) -> HealthState {
    match s.map(|s| s.as_str()) {
        Some("initial") => HealthState::Initial,
        Some("healthy") => HealthState::Healthy,
        Some("unhealthy") | Some("unhealthy.draining") => HealthState::Unhealthy,
        Some("draining") => HealthState::Draining,
        Some("unused") => HealthState::Unused,
        _ => HealthState::Unavailable,
    }
}

/// One registered target as DescribeTargetHealth shows it.
struct Registered {
    id: String,
    port: u16,
    state: HealthState,
    reason: Option<String>,
}

impl AwsProvider {
    async fn group_ref(&self, lb: &LoadBalancerId, group: &str) -> Result<GroupRef> {
        let key = (lb.0.clone(), group.to_string());
        if let Some(g) = lock(&self.inner.cache.groups).get(&key) {
            return Ok(g.clone());
        }
        let groups = self.target_groups_of(&lb.0).await?;
        let arns: Vec<String> = groups.iter().map(|g| g.arn.clone()).collect();
        let tags = self.elb_tags(&arns).await?;
        let cluster = &self.inner.config.cluster_name;
        let found = groups.into_iter().find(|g| {
            tags.get(&g.arn).is_some_and(|t| {
                Owner::cluster_owns(cluster, t) && t.get(TAG_RESOURCE).is_some_and(|r| r == group)
            })
        });
        let g = found.ok_or_else(|| Error::NotFound {
            code: "TargetGroupNotFound".into(),
            message: format!("no target group of ours for {group} on {}", lb.0),
        })?;
        let r = GroupRef {
            arn: g.arn,
            target_type: g.target_type.unwrap_or_else(|| "ip".into()),
        };
        lock(&self.inner.cache.groups).insert(key, r.clone());
        Ok(r)
    }

    async fn registered(&self, tg_arn: &str) -> Result<Vec<Registered>> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DescribeTargetHealth, || {
                elb.describe_target_health().target_group_arn(tg_arn).send()
            })
            .await?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let t = d.target()?;
                let h = d.target_health();
                Some(Registered {
                    id: t.id()?.to_string(),
                    port: t.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                    state: health_state(h.and_then(|h| h.state())),
                    reason: h.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                })
            })
            .collect())
    }

    /// Instance IDs for node IPs (instance targets), cached.
    async fn instances_for(&self, ips: &[IpAddr]) -> Result<HashMap<IpAddr, String>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = lock(&self.inner.cache.instance_by_ip);
            for ip in ips {
                match cache.get(ip) {
                    Some(id) => {
                        out.insert(*ip, id.clone());
                    }
                    None => missing.push(ip.to_string()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let ec2 = &self.inner.ec2;
        let resp = self
            .call(AwsOp::DescribeInstances, || {
                ec2.describe_instances()
                    .filters(
                        Filter::builder()
                            .name("private-ip-address")
                            .set_values(Some(missing.clone()))
                            .build(),
                    )
                    .filters(self.in_vpc())
                    .send()
            })
            .await?;
        let mut cache = lock(&self.inner.cache.instance_by_ip);
        for i in resp.reservations().iter().flat_map(|r| r.instances()) {
            if let (Some(id), Some(Ok(ip))) = (
                i.instance_id(),
                i.private_ip_address().map(str::parse::<IpAddr>),
            ) {
                cache.insert(ip, id.to_string());
                out.insert(ip, id.to_string());
            }
        }
        Ok(out)
    }

    async fn change_targets(
        &self,
        tg_arn: &str,
        register: bool,
        targets: &[(String, u16)],
    ) -> Result<()> {
        let elb = &self.inner.elb;
        let batch = self.inner.config.target_batch.max(1);
        for chunk in targets.chunks(batch) {
            let descs: Vec<elb::TargetDescription> = chunk
                .iter()
                .map(|(id, port)| {
                    elb::TargetDescription::builder()
                        .id(id)
                        .port(i32::from(*port))
                        .build()
                })
                .collect();
            if register {
                self.call(AwsOp::RegisterTargets, || {
                    elb.register_targets()
                        .target_group_arn(tg_arn)
                        .set_targets(Some(descs.clone()))
                        .send()
                })
                .await?;
            } else {
                let out = self
                    .call(AwsOp::DeregisterTargets, || {
                        elb.deregister_targets()
                            .target_group_arn(tg_arn)
                            .set_targets(Some(descs.clone()))
                            .send()
                    })
                    .await;
                crate::call::gone_is_done(out)?;
            }
        }
        Ok(())
    }

    async fn sync_group(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        let gref = self.group_ref(lb, group).await?;
        match self.sync_members(&gref, targets, None).await {
            Err(Error::NotFound { .. }) => {
                // The group went away (stack deleted or replaced): forget it, the caller
                // retries after the next ensure.
                lock(&self.inner.cache.groups).remove(&(lb.0.clone(), group.to_string()));
                Err(Error::NotFound {
                    code: "TargetGroupNotFound".into(),
                    message: format!("target group for {group} on {} is gone", lb.0),
                })
            }
            other => other,
        }
    }

    /// Makes `targets` members of the group. With `managed`, only those of the current
    /// members that are in it may be deregistered (a group the suite does not own); without,
    /// every member not in `targets` is.
    pub(super) async fn sync_members(
        &self,
        gref: &GroupRef,
        targets: &[Target],
        managed: Option<&[Target]>,
    ) -> Result<TargetSync> {
        let instance = gref.target_type == "instance";
        let by_ip = if instance {
            let mut ips: Vec<IpAddr> = targets.iter().map(|t| t.ip).collect();
            let wanted = ips.len();
            ips.extend(managed.unwrap_or_default().iter().map(|t| t.ip));
            let map = self.instances_for(&ips).await?;
            let unknown: Vec<String> = ips[..wanted]
                .iter()
                .filter(|ip| !map.contains_key(ip))
                .map(ToString::to_string)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::invalid(format!(
                    "no instance in the VPC has the node IP(s) {unknown:?}"
                )));
            }
            map
        } else {
            HashMap::new()
        };
        // A managed node IP that maps to no instance any more: its instance is gone, and the
        // cloud dropped it from the group with it.
        let id_of = |t: &Target| -> Option<String> {
            if instance {
                by_ip.get(&t.ip).cloned()
            } else {
                Some(t.ip.to_string())
            }
        };
        let desired: BTreeSet<(String, u16)> = targets
            .iter()
            .filter_map(|t| Some((id_of(t)?, t.port)))
            .collect();
        let removable: Option<BTreeSet<(String, u16)>> =
            managed.map(|m| m.iter().filter_map(|t| Some((id_of(t)?, t.port))).collect());
        let before = self.registered(&gref.arn).await?;
        let current: BTreeSet<(String, u16)> = before
            .iter()
            .filter(|r| r.state != HealthState::Draining)
            .map(|r| (r.id.clone(), r.port))
            .collect();
        let register: Vec<(String, u16)> = desired.difference(&current).cloned().collect();
        let deregister: Vec<(String, u16)> = current
            .difference(&desired)
            .filter(|t| removable.as_ref().is_none_or(|r| r.contains(*t)))
            .cloned()
            .collect();
        self.change_targets(&gref.arn, true, &register).await?;
        self.change_targets(&gref.arn, false, &deregister).await?;
        let after = if register.is_empty() && deregister.is_empty() {
            before
        } else {
            self.registered(&gref.arn).await?
        };
        let ip_of: HashMap<String, IpAddr> =
            by_ip.iter().map(|(ip, id)| (id.clone(), *ip)).collect();
        let health = after
            .into_iter()
            .filter_map(|r| {
                let ip = if instance {
                    *ip_of.get(&r.id)?
                } else {
                    r.id.parse().ok()?
                };
                Some(TargetHealth {
                    target: Target { ip, port: r.port },
                    state: r.state,
                    reason: r.reason,
                })
            })
            .collect();
        Ok(TargetSync {
            registered: u32::try_from(register.len()).unwrap_or(u32::MAX),
            deregistered: u32::try_from(deregister.len()).unwrap_or(u32::MAX),
            health,
        })
    }

    async fn delete_stack(&self, id: &LoadBalancerId) -> Result<()> {
        let Some(lb) = self.load_balancer_by_arn(&id.0).await? else {
            lock(&self.inner.cache.groups).retain(|(arn, _), _| arn != &id.0);
            // A backend security group left by an earlier delete (still in use then) is retried here.
            return self.delete_backend_sg_if_unused().await;
        };
        self.stack_written(&lb.name);
        let groups = self.target_groups_of(&lb.arn).await?;
        let arns: Vec<String> = std::iter::once(lb.arn.clone())
            .chain(groups.iter().map(|g| g.arn.clone()))
            .collect();
        let tags = self.elb_tags(&arns).await?;
        let lb_tags = tags.get(&lb.arn).cloned().unwrap_or_default();
        let owner = Owner::from_tags(&lb_tags)
            .filter(|o| o.cluster == self.inner.config.cluster_name)
            .ok_or_else(|| {
                conflict(format!(
                    "load balancer {} is not owned by this cluster; it is left alone",
                    lb.name
                ))
            })?;
        let elb = &self.inner.elb;
        // Listeners take their rules with them.
        for l in self.listeners_of_or_empty(&lb.arn).await? {
            self.delete_listener(&l).await?;
        }
        let out = self
            .call(AwsOp::DeleteLoadBalancer, || {
                elb.delete_load_balancer().load_balancer_arn(&lb.arn).send()
            })
            .await;
        crate::call::gone_is_done(out)?;
        for g in &groups {
            if tags.get(&g.arn).is_some_and(|t| owner.owns(t)) {
                self.delete_target_group(&g.arn).await?;
            }
        }
        lock(&self.inner.cache.groups).retain(|(arn, _), _| arn != &lb.arn);
        self.delete_managed_security_groups(&owner, &lb.security_groups)
            .await?;
        self.delete_backend_sg_if_unused().await
    }

    async fn listeners_of_or_empty(&self, lb_arn: &str) -> Result<Vec<String>> {
        let elb = &self.inner.elb;
        let out = self
            .call(AwsOp::DescribeListeners, || {
                elb.describe_listeners().load_balancer_arn(lb_arn).send()
            })
            .await;
        crate::call::absent_if_not_found(out.map(|o| {
            o.listeners()
                .iter()
                .filter_map(|l| l.listener_arn().map(str::to_string))
                .collect()
        }))
    }

    /// The ALB's managed group: its rule on the nodes' group goes first, then the group
    /// (which AWS refuses while the load balancer's interfaces linger: retried a few times).
    async fn delete_managed_security_groups(&self, owner: &Owner, groups: &[String]) -> Result<()> {
        if groups.is_empty() {
            return Ok(());
        }
        let ec2 = &self.inner.ec2;
        // By filter, not by ID: AWS refuses a list of IDs when one is gone, and the shared
        // backend security group in the list may just have been deleted by a concurrent
        // delete, which would leave this managed group behind.
        let out = self
            .call(AwsOp::DescribeSecurityGroups, || {
                ec2.describe_security_groups()
                    .filters(
                        Filter::builder()
                            .name("group-id")
                            .set_values(Some(groups.to_vec()))
                            .build(),
                    )
                    .send()
            })
            .await;
        let described = match out {
            Ok(o) => o.security_groups().to_vec(),
            Err(Error::NotFound { .. }) | Err(Error::InvalidInput { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        for g in described {
            let tags = crate::lb::convert::ec2_tags(g.tags());
            let managed = owner.owns(&tags)
                && tags
                    .get(TAG_RESOURCE)
                    .is_some_and(|r| r == "security-group");
            let Some(id) = g.group_id().filter(|_| managed) else {
                continue;
            };
            if let Some(node_sg) = &self.inner.config.node_security_group {
                let out = self
                    .call(AwsOp::DescribeSecurityGroups, || {
                        ec2.describe_security_groups().group_ids(node_sg).send()
                    })
                    .await?;
                let actual: Vec<_> = out
                    .security_groups()
                    .iter()
                    .flat_map(|g| crate::lb::convert::actual_ingress(g.ip_permissions()))
                    .collect();
                let source = SgSource::Group(id.to_string());
                let SgRuleChanges { revoke, .. } =
                    match_sg_rules(&BTreeSet::new(), &actual, |r| r.source == source);
                if !revoke.is_empty() {
                    let perms: Vec<_> = revoke
                        .iter()
                        .map(crate::lb::convert::to_ip_permission)
                        .collect();
                    self.call(AwsOp::RevokeSecurityGroupIngress, || {
                        ec2.revoke_security_group_ingress()
                            .group_id(node_sg)
                            .set_ip_permissions(Some(perms.clone()))
                            .send()
                    })
                    .await?;
                }
            }
            let mut wait = Duration::from_millis(200);
            let mut attempt = 0;
            loop {
                let out = self
                    .call(AwsOp::DeleteSecurityGroup, || {
                        ec2.delete_security_group().group_id(id).send()
                    })
                    .await;
                match out {
                    Ok(_) | Err(Error::NotFound { .. }) => break,
                    Err(e @ Error::Conflict { .. }) if attempt < 5 => {
                        tracing::debug!(group = id, error = %e, "Security group still in use");
                        attempt += 1;
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn owned_stacks(&self) -> Result<Vec<OwnedLoadBalancer>> {
        let lbs = self.all_load_balancers().await?;
        let arns: Vec<String> = lbs.iter().map(|l| l.arn.clone()).collect();
        let tags = self.elb_tags(&arns).await?;
        let cluster = &self.inner.config.cluster_name;
        Ok(lbs
            .into_iter()
            .filter_map(|lb| {
                let owner = tags.get(&lb.arn).and_then(Owner::from_tags)?;
                (owner.cluster == *cluster).then(|| OwnedLoadBalancer {
                    id: LoadBalancerId(lb.arn.clone()),
                    owner,
                    kind: lb.kind.unwrap_or(LoadBalancerKind::Network),
                })
            })
            .collect())
    }
}

#[async_trait]
impl LoadBalancers for AwsProvider {
    fn capabilities(&self) -> LoadBalancerCapabilities {
        LoadBalancerCapabilities {
            kinds: vec![LoadBalancerKind::Network, LoadBalancerKind::Application],
            target_kinds: vec![TargetKind::PodIp, TargetKind::NodePort],
            listener_protocols: vec![
                Protocol::Http,
                Protocol::Https,
                Protocol::Tcp,
                Protocol::Udp,
                Protocol::TcpUdp,
                Protocol::Tls,
            ],
            weighted_forward: true,
            redirect: true,
            fixed_response: true,
            max_rules_per_listener: 100,
            max_targets_per_group: 1000,
            max_listeners: 50,
        }
    }

    async fn ensure(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
        LoadBalancers::capabilities(self).check(spec)?;
        let span = tracing::info_span!(
            "ensure_load_balancer",
            owner = %spec.owner.object_ref(),
            kind = ?spec.kind
        );
        self.ensure_stack(spec).instrument(span).await
    }

    async fn sync_targets(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        let span = tracing::debug_span!("sync_targets", group, targets = targets.len());
        self.sync_group(lb, group, targets).instrument(span).await
    }

    async fn sync_bound_targets(
        &self,
        group: &BoundGroup,
        targets: &[Target],
        managed: &[Target],
    ) -> Result<TargetSync> {
        let span = tracing::debug_span!(
            "sync_bound_targets",
            group = %group.id,
            targets = targets.len()
        );
        self.sync_bound(group, targets, managed)
            .instrument(span)
            .await
    }

    async fn target_health(&self, group_id: &str) -> Result<Vec<TargetHealth>> {
        let span = tracing::debug_span!("target_health", group = %group_id);
        let registered = self.registered(group_id).instrument(span).await?;
        Ok(registered
            .into_iter()
            .filter_map(|r| {
                Some(TargetHealth {
                    target: Target {
                        ip: r.id.parse().ok()?,
                        port: r.port,
                    },
                    state: r.state,
                    reason: r.reason,
                })
            })
            .collect())
    }

    async fn delete(&self, lb: &LoadBalancerId) -> Result<()> {
        let span = tracing::info_span!("delete_load_balancer", id = %lb.0);
        self.delete_stack(lb).instrument(span).await
    }

    async fn list_owned(&self) -> Result<Vec<OwnedLoadBalancer>> {
        self.owned_stacks().await
    }
}
