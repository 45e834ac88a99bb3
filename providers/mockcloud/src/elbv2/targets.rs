//! RegisterTargets, DeregisterTargets, DescribeTargetHealth, and the target health clock.
//!
//! Registration rules (ELBv2 API reference, RegisterTargets and `TargetDescription`): `ip`
//! targets are addresses in the target group's VPC, or, with `AvailabilityZone=all`, private
//! addresses outside it (peered VPCs, on-premises: 10/8, 172.16/12, 192.168/16, 100.64/10);
//! `instance` targets are running instances in the VPC; a `lambda` group holds one function,
//! an `alb` group one Application Load Balancer on the group's port. Anything else is
//! `InvalidTarget` (instances) or `ValidationError` (IP addresses, as AWS answers). At most 1000 targets per group (`TooManyTargets`).
//!
//! Health (`TargetHealth` reason codes): a target of a group that no listener rule forwards to
//! is `unused` (`Target.NotInUse`); otherwise it is `initial` (`Elb.RegistrationInProgress`)
//! for the configured health-check delay after registration (or after its group starts
//! receiving traffic) and `healthy` after; a deregistered target is `draining`
//! (`Target.DeregistrationInProgress`) for the group's `deregistration_delay.timeout_seconds`,
//! then gone. A fault knob can force a target `unhealthy` (`Target.FailedHealthChecks`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::errors::{int_in, invalid_target, required, too_many, validation};
use super::model::{DrainingTarget, LbType, Target, TargetGroup};
use super::{Elbv2, NetworkView};

/// Private ranges an `ip` target outside the VPC may use (with `AvailabilityZone=all`).
const OUTSIDE_VPC_RANGES: [(Ipv4Addr, u8); 4] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
];

struct RequestedTarget {
    id: String,
    port: Option<u16>,
    availability_zone: Option<String>,
}

fn requested_targets(params: &Params, tg: &TargetGroup) -> Result<Vec<RequestedTarget>, AwsError> {
    let raw = params.structs("Targets.member");
    let mut out = Vec::new();
    for t in &raw {
        let id = required(t, "Id")?.to_string();
        let port = int_in(t, "Port", 1, 65535)?.map(|p| p as u16);
        if tg.target_type == "lambda" && port.is_some() {
            return Err(validation("A port cannot be specified for Lambda targets"));
        }
        out.push(RequestedTarget {
            id,
            port: port.or(tg.port),
            availability_zone: t.get("AvailabilityZone").map(str::to_string),
        });
    }
    Ok(out)
}

/// One health answer: state, reason code and description.
struct Health {
    state: &'static str,
    reason: Option<&'static str>,
    description: Option<&'static str>,
}

impl Health {
    fn new(state: &'static str, reason: &'static str, description: &'static str) -> Health {
        Health {
            state,
            reason: Some(reason),
            description: Some(description),
        }
    }
}

impl Elbv2 {
    /// Drops draining targets whose deregistration delay has passed.
    pub(super) fn expire_draining(&mut self, now: Instant) {
        for tg in self.target_groups.values_mut() {
            tg.draining.retain(|d| d.until > now);
        }
    }

    fn check_target(
        &self,
        net: &dyn NetworkView,
        tg: &TargetGroup,
        t: &RequestedTarget,
    ) -> Result<(), AwsError> {
        let vpc = tg.vpc_id.as_deref().unwrap_or_default();
        match tg.target_type.as_str() {
            "ip" => {
                let Ok(ip) = t.id.parse::<Ipv4Addr>() else {
                    return Err(invalid_target(format!(
                        "The IP address '{}' is not a valid IPv4 address",
                        t.id
                    )));
                };
                let in_vpc = net.vpc_cidrs(vpc).iter().any(|c| c.contains(&ip));
                let outside_ok = t.availability_zone.as_deref() == Some("all")
                    && OUTSIDE_VPC_RANGES.iter().any(|(net_addr, len)| {
                        ipnet::Ipv4Net::new(*net_addr, *len).is_ok_and(|n| n.contains(&ip))
                    });
                // AWS answers both mistakes with a ValidationError (as the AWS Load Balancer
                // Controller's users report), not InvalidTarget.
                if in_vpc && t.availability_zone.as_deref() == Some("all") {
                    return Err(AwsError::client(
                        "ValidationError",
                        format!(
                            "The IP address '{}' is within the VPC, and cannot have its \
                             Availability Zone overridden to 'all'",
                            t.id
                        ),
                    ));
                }
                if !in_vpc && !outside_ok {
                    return Err(AwsError::client(
                        "ValidationError",
                        format!(
                            "You must specify a valid Availability Zone or select 'all' for all \
                             enabled Availability zones, since the IP address '{}' is outside \
                             the VPC '{vpc}'",
                            t.id
                        ),
                    ));
                }
            }
            "instance" => match net.instance(&t.id) {
                None => {
                    return Err(invalid_target(format!(
                        "The following targets are not valid instances: '{}'",
                        t.id
                    )));
                }
                Some(i) if i.vpc_id != vpc => {
                    return Err(invalid_target(format!(
                        "The following targets are not in the target group VPC '{vpc}': '{}'",
                        t.id
                    )));
                }
                Some(i) if !i.running => {
                    return Err(invalid_target(format!(
                        "The following targets are not in a running state and cannot be registered: '{}'",
                        t.id
                    )));
                }
                Some(_) => {}
            },
            "lambda" if !t.id.starts_with("arn:aws:lambda:") => {
                return Err(invalid_target(format!(
                    "The target '{}' is not a Lambda function ARN",
                    t.id
                )));
            }
            "alb" => {
                let ok = self
                    .load_balancers
                    .get(&t.id)
                    .is_some_and(|lb| lb.kind == LbType::Application && lb.vpc_id == vpc);
                if !ok {
                    return Err(invalid_target(format!(
                        "The target '{}' is not an Application Load Balancer in VPC '{vpc}'",
                        t.id
                    )));
                }
                if t.port != tg.port {
                    return Err(invalid_target(
                        "An Application Load Balancer target must use the target group's port",
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The target group a Register/DeregisterTargets names and the targets it lists (at
    /// least one).
    fn requested<'p>(
        &self,
        params: &'p Params,
    ) -> Result<(&'p str, &TargetGroup, Vec<RequestedTarget>), AwsError> {
        let arn = required(params, "TargetGroupArn")?;
        let tg = self.target_group(arn)?;
        let wanted = requested_targets(params, tg)?;
        if wanted.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'targets' failed to satisfy \
                 constraint: Member must not be null",
            ));
        }
        Ok((arn, tg, wanted))
    }

    pub(super) fn register_targets(
        &mut self,
        net: &dyn NetworkView,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let (arn, tg, wanted) = self.requested(params)?;
        for t in &wanted {
            self.check_target(net, tg, t)?;
        }
        let mut keys: Vec<String> = wanted
            .iter()
            .map(|t| TargetGroup::target_key(&t.id, t.port))
            .filter(|k| !tg.targets.contains_key(k))
            .collect();
        keys.sort();
        keys.dedup();
        let single_target = matches!(tg.target_type.as_str(), "lambda" | "alb");
        let limit = if single_target {
            1
        } else {
            self.config.quotas.targets_per_target_group
        };
        if tg.targets.len() + keys.len() > limit {
            return Err(too_many(
                "TooManyTargets",
                format!("A target group can have at most {limit} registered targets"),
            ));
        }
        let Some(tg) = self.target_groups.get_mut(arn) else {
            return Err(super::errors::target_group_not_found());
        };
        for t in wanted {
            let key = TargetGroup::target_key(&t.id, t.port);
            if tg.targets.contains_key(&key) {
                continue;
            }
            tg.draining
                .retain(|d| TargetGroup::target_key(&d.target.id, d.target.port) != key);
            tg.targets.insert(
                key,
                Target {
                    id: t.id,
                    port: t.port,
                    availability_zone: t.availability_zone,
                    registered_at: now,
                },
            );
        }
        tracing::debug!(%arn, targets = tg.targets.len(), "Targets registered");
        Ok(Xml::new())
    }

    pub(super) fn deregister_targets(
        &mut self,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let (arn, tg, wanted) = self.requested(params)?;
        for t in &wanted {
            let key = TargetGroup::target_key(&t.id, t.port);
            let draining = tg
                .draining
                .iter()
                .any(|d| TargetGroup::target_key(&d.target.id, d.target.port) == key);
            if !tg.targets.contains_key(&key) && !draining {
                return Err(invalid_target(format!(
                    "The target '{}' is not registered to target group '{arn}'",
                    t.id
                )));
            }
        }
        let delay = tg
            .attributes
            .get("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300);
        let in_use = tg.in_use_since.is_some();
        let Some(tg) = self.target_groups.get_mut(arn) else {
            return Err(super::errors::target_group_not_found());
        };
        for t in wanted {
            let key = TargetGroup::target_key(&t.id, t.port);
            if let Some(target) = tg.targets.remove(&key)
                && in_use
                && delay > 0
            {
                tg.draining.push(DrainingTarget {
                    target,
                    until: now + Duration::from_secs(delay),
                });
            }
        }
        tracing::debug!(%arn, targets = tg.targets.len(), "Targets deregistered");
        Ok(Xml::new())
    }

    fn health_of(
        &self,
        net: &dyn NetworkView,
        tg: &TargetGroup,
        t: &Target,
        now: Instant,
    ) -> Health {
        if tg.target_type == "instance" && !net.instance(&t.id).is_some_and(|i| i.running) {
            return Health::new(
                "unused",
                "Target.InvalidState",
                "Target is in the stopped state",
            );
        }
        let Some(in_use_since) = tg.in_use_since else {
            return Health::new(
                "unused",
                "Target.NotInUse",
                "Target group is not configured to receive traffic from the load balancer",
            );
        };
        if !tg.health_check.enabled {
            return Health::new(
                "unavailable",
                "Target.HealthCheckDisabled",
                "Health checks are disabled",
            );
        }
        if self.unhealthy_targets.contains(&t.id) {
            return Health::new(
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
            );
        }
        let since = in_use_since.max(t.registered_at);
        if now.saturating_duration_since(since) >= self.config.health_check_delay() {
            Health {
                state: "healthy",
                reason: None,
                description: None,
            }
        } else {
            Health::new(
                "initial",
                "Elb.RegistrationInProgress",
                "Target registration is in progress",
            )
        }
    }

    pub(super) fn describe_target_health(
        &self,
        net: &dyn NetworkView,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let tg = self.target_group(required(params, "TargetGroupArn")?)?;
        let asked = requested_targets(params, tg)?;
        let draining = |key: &str| {
            tg.draining
                .iter()
                .find(|d| TargetGroup::target_key(&d.target.id, d.target.port) == key)
        };
        let mut rows: Vec<(Target, Health)> = Vec::new();
        let draining_health = || {
            Health::new(
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
            )
        };
        if asked.is_empty() {
            for t in tg.targets.values() {
                rows.push((t.clone(), self.health_of(net, tg, t, now)));
            }
            for d in &tg.draining {
                rows.push((d.target.clone(), draining_health()));
            }
        } else {
            for a in asked {
                let key = TargetGroup::target_key(&a.id, a.port);
                if let Some(t) = tg.targets.get(&key) {
                    rows.push((t.clone(), self.health_of(net, tg, t, now)));
                } else if let Some(d) = draining(&key) {
                    rows.push((d.target.clone(), draining_health()));
                } else {
                    let t = Target {
                        id: a.id,
                        port: a.port,
                        availability_zone: a.availability_zone,
                        registered_at: now,
                    };
                    let h = Health::new(
                        "unused",
                        "Target.NotRegistered",
                        "Target is not registered to the target group",
                    );
                    rows.push((t, h));
                }
            }
        }
        let hc_port = tg.health_check.port.as_deref();
        let mut x = Xml::new();
        x.list("TargetHealthDescriptions", "member", rows, |x, (t, h)| {
            x.elem("Target", |x| {
                x.leaf("Id", &t.id)
                    .opt_leaf("Port", t.port)
                    .opt_leaf("AvailabilityZone", t.availability_zone.as_deref());
            });
            match hc_port {
                Some("traffic-port") => x.opt_leaf("HealthCheckPort", t.port),
                other => x.opt_leaf("HealthCheckPort", other),
            };
            x.elem("TargetHealth", |x| {
                x.leaf("State", h.state)
                    .opt_leaf("Reason", h.reason)
                    .opt_leaf("Description", h.description);
            });
        });
        Ok(x)
    }
}
