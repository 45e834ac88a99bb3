//! CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DeleteTargetGroup.
//!
//! Rules (ELBv2 API reference, CreateTargetGroup): target types `instance`, `ip`, `lambda`,
//! `alb`; protocol, port and VPC are required except for `lambda` (where they are not
//! allowed); `alb` target groups are TCP; GENEVE is for Gateway Load Balancers on port 6081;
//! health-check interval 5..=300 s, timeout 2..=120 s and below the interval (at most the
//! interval for TCP, TLS, UDP and TCP_UDP groups), thresholds
//! 2..=10, and the defaults per protocol family (HTTP/HTTPS: 30 s / 5 s / 5 / 2, path `/`,
//! matcher 200; TCP, TLS, UDP, TCP_UDP: 30 s / 10 s / 5 / 2; lambda: disabled, 35 s / 30 s).
//! A target group that a listener or rule forwards to cannot be deleted (`ResourceInUse`);
//! deleting one that does not exist succeeds (the API model lists no not-found error for it).

use std::collections::BTreeMap;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::errors::{
    bool_of, enum_in, int_in, required, resource_in_use, target_group_not_found, too_many,
    validation,
};
use super::model::{HealthCheck, TargetGroup};
use super::names::{ArnKind, NameKind, expect_arn, validate_name};
use super::pagination::paginate;
use super::{Elbv2, NetworkView, attributes, tags};

pub(super) const TARGET_TYPES: [&str; 4] = ["instance", "ip", "lambda", "alb"];
pub(super) const TG_PROTOCOLS: [&str; 7] =
    ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"];
const PROTOCOL_VERSIONS: [&str; 3] = ["HTTP1", "HTTP2", "GRPC"];
const HEALTH_PROTOCOLS: [&str; 3] = ["HTTP", "HTTPS", "TCP"];

fn is_http(protocol: Option<&str>) -> bool {
    matches!(protocol, Some("HTTP" | "HTTPS"))
}

/// AWS's health-check defaults for a new target group.
fn default_health_check(protocol: Option<&str>, target_type: &str) -> HealthCheck {
    let base = HealthCheck {
        enabled: true,
        protocol: None,
        port: Some("traffic-port".into()),
        path: None,
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold: 5,
        unhealthy_threshold: 2,
        matcher_http_code: None,
        matcher_grpc_code: None,
    };
    if target_type == "lambda" {
        return HealthCheck {
            enabled: false,
            port: None,
            path: Some("/".into()),
            interval_seconds: 35,
            timeout_seconds: 30,
            matcher_http_code: Some("200".into()),
            ..base
        };
    }
    match protocol {
        Some(p @ ("HTTP" | "HTTPS")) => HealthCheck {
            protocol: Some(p.to_string()),
            path: Some("/".into()),
            matcher_http_code: Some("200".into()),
            ..base
        },
        Some("GENEVE") => HealthCheck {
            protocol: Some("TCP".into()),
            port: Some("80".into()),
            interval_seconds: 10,
            ..base
        },
        _ => HealthCheck {
            protocol: Some("TCP".into()),
            timeout_seconds: 10,
            ..base
        },
    }
}

/// Applies the health-check parameters of a Create/ModifyTargetGroup request to `hc`.
fn apply_health_check(
    params: &Params,
    mut hc: HealthCheck,
    protocol: Option<&str>,
    explicit_defaults: bool,
) -> Result<HealthCheck, AwsError> {
    if let Some(p) = enum_in(params, "HealthCheckProtocol", &HEALTH_PROTOCOLS)? {
        if is_http(protocol) && p == "TCP" {
            return Err(validation(format!(
                "Health check protocol 'TCP' is not supported for target groups with protocol '{}'",
                protocol.unwrap_or_default()
            )));
        }
        let was_http = is_http(hc.protocol.as_deref());
        hc.protocol = Some(p.to_string());
        // Switching an NLB group to HTTP checks brings the HTTP defaults with it.
        if explicit_defaults && !was_http && is_http(Some(p)) {
            hc.path.get_or_insert_with(|| "/".into());
            hc.matcher_http_code.get_or_insert_with(|| "200-399".into());
            hc.timeout_seconds = 6;
        }
        if !is_http(Some(p)) {
            hc.path = None;
            hc.matcher_http_code = None;
        }
    }
    if let Some(port) = params.get("HealthCheckPort") {
        let ok = port == "traffic-port" || port.parse::<u16>().is_ok_and(|p| p >= 1);
        if !ok {
            return Err(validation(format!(
                "Health check port '{port}' must be 'traffic-port' or between 1 and 65535"
            )));
        }
        hc.port = Some(port.to_string());
    }
    if let Some(enabled) = bool_of(params, "HealthCheckEnabled")? {
        hc.enabled = enabled;
    }
    if let Some(path) = params.get("HealthCheckPath") {
        if !is_http(hc.protocol.as_deref()) {
            return Err(validation(
                "A health check path can only be specified for HTTP and HTTPS health checks",
            ));
        }
        if !path.starts_with('/') || path.len() > 1024 {
            return Err(validation(format!(
                "Health check path '{path}' must start with '/' and be at most 1024 characters"
            )));
        }
        hc.path = Some(path.to_string());
    }
    if let Some(v) = int_in(params, "HealthCheckIntervalSeconds", 5, 300)? {
        hc.interval_seconds = v;
    }
    if let Some(v) = int_in(params, "HealthCheckTimeoutSeconds", 2, 120)? {
        hc.timeout_seconds = v;
    }
    if let Some(v) = int_in(params, "HealthyThresholdCount", 2, 10)? {
        hc.healthy_threshold = v;
    }
    if let Some(v) = int_in(params, "UnhealthyThresholdCount", 2, 10)? {
        hc.unhealthy_threshold = v;
    }
    // Application target groups (HTTP, HTTPS) need the timeout below the interval; network
    // target groups accept a timeout equal to it (the AWS Load Balancer Controller's NLB
    // default is 10 s / 10 s).
    let strict = is_http(protocol);
    if hc.timeout_seconds > hc.interval_seconds
        || (strict && hc.timeout_seconds == hc.interval_seconds)
    {
        return Err(validation(format!(
            "Health check timeout '{}' must be smaller than the interval '{}'",
            hc.timeout_seconds, hc.interval_seconds
        )));
    }
    if let Some(code) = params.get("Matcher.HttpCode") {
        if !is_http(hc.protocol.as_deref()) {
            return Err(validation(
                "A matcher can only be specified for HTTP and HTTPS health checks",
            ));
        }
        valid_codes(code, 200, 599)?;
        hc.matcher_http_code = Some(code.to_string());
    }
    if let Some(code) = params.get("Matcher.GrpcCode") {
        valid_codes(code, 0, 99)?;
        hc.matcher_grpc_code = Some(code.to_string());
    }
    Ok(hc)
}

/// Matcher codes: `200`, `200,202`, `200-299`.
fn valid_codes(spec: &str, lo: u32, hi: u32) -> Result<(), AwsError> {
    let ok = !spec.is_empty()
        && spec.split(',').all(|part| {
            let mut bounds = part.splitn(2, '-');
            let parse = |s: Option<&str>| s.and_then(|s| s.parse::<u32>().ok());
            let a = parse(bounds.next());
            let b = match bounds.next() {
                Some(s) => parse(Some(s)),
                None => a,
            };
            matches!((a, b), (Some(a), Some(b)) if lo <= a && a <= b && b <= hi)
        });
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "Matcher code '{spec}' must be codes or ranges between {lo} and {hi}"
        )))
    }
}

impl Elbv2 {
    pub(super) fn target_group(&self, arn: &str) -> Result<&TargetGroup, AwsError> {
        expect_arn(arn, ArnKind::TargetGroup)?;
        self.target_groups
            .get(arn)
            .ok_or_else(target_group_not_found)
    }

    pub(super) fn create_target_group(
        &mut self,
        net: &dyn NetworkView,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let name = required(params, "Name")?;
        validate_name(NameKind::TargetGroup, name)?;
        let target_type = enum_in(params, "TargetType", &TARGET_TYPES)?.unwrap_or("instance");
        let protocol = enum_in(params, "Protocol", &TG_PROTOCOLS)?;
        let port = int_in(params, "Port", 1, 65535)?.map(|p| p as u16);
        let vpc_id = params.get("VpcId").filter(|v| !v.is_empty());
        let ip_address_type =
            enum_in(params, "IpAddressType", &["ipv4", "ipv6"])?.unwrap_or("ipv4");
        if target_type == "lambda" {
            if protocol.is_some() || port.is_some() || vpc_id.is_some() {
                return Err(validation(
                    "Protocol, port, and VPC ID cannot be specified for target groups with target type 'lambda'",
                ));
            }
        } else {
            let missing = [
                ("Protocol", protocol.is_none()),
                ("Port", port.is_none()),
                ("VpcId", vpc_id.is_none()),
            ];
            if let Some((what, _)) = missing.iter().find(|(_, m)| *m) {
                return Err(validation(format!(
                    "A {what} must be specified for target groups with target type '{target_type}'"
                )));
            }
        }
        if target_type == "alb" && protocol != Some("TCP") {
            return Err(validation(
                "Target groups with target type 'alb' support only the 'TCP' protocol",
            ));
        }
        if protocol == Some("GENEVE") && port != Some(6081) {
            return Err(validation("GENEVE target groups must use port 6081"));
        }
        let protocol_version = enum_in(params, "ProtocolVersion", &PROTOCOL_VERSIONS)?;
        if protocol_version.is_some() && !is_http(protocol) {
            return Err(validation(
                "A protocol version can only be specified for HTTP and HTTPS target groups",
            ));
        }
        if let Some(vpc) = vpc_id
            && net.vpc_cidrs(vpc).is_empty()
        {
            return Err(validation(format!("The VPC ID '{vpc}' is not found")));
        }
        let mut base = default_health_check(protocol, target_type);
        if protocol_version == Some("GRPC") {
            base.matcher_http_code = None;
            base.matcher_grpc_code = Some("12".into());
            base.path = Some("/AWS.ALB/healthcheck".into());
        }
        let health_check = apply_health_check(params, base, protocol, true)?;
        let new_tags =
            tags::parse_new_tags(params, "Tags.member", self.config.quotas.tags_per_resource)?;

        if let Some(existing) = self.target_groups.values().find(|t| t.name == name) {
            // Idempotent for the same settings (CreateTargetGroup: "If you attempt to create
            // multiple target groups with the same settings, each call succeeds").
            if existing.protocol.as_deref() == protocol
                && existing.port == port
                && existing.vpc_id.as_deref() == vpc_id
                && existing.target_type == target_type
                && existing.health_check == health_check
            {
                let mut x = Xml::new();
                x.list("TargetGroups", "member", [existing], |x, tg| {
                    self.write_target_group(x, tg)
                });
                return Ok(x);
            }
            return Err(AwsError::client(
                "DuplicateTargetGroupName",
                "A target group with the same name exists, but with different settings",
            ));
        }
        if self.target_groups.len() >= self.config.quotas.target_groups {
            return Err(too_many(
                "TooManyTargetGroups",
                "The quota for the number of target groups has been reached",
            ));
        }
        let (seq, id) = self.next_id();
        let arn = self.arn(&format!("targetgroup/{name}/{id}"));
        let tg = TargetGroup {
            arn: arn.clone(),
            name: name.to_string(),
            protocol: protocol.map(str::to_string),
            protocol_version: match (protocol_version, is_http(protocol)) {
                (Some(v), _) => Some(v.to_string()),
                (None, true) => Some("HTTP1".into()),
                (None, false) => None,
            },
            port,
            vpc_id: vpc_id.map(str::to_string),
            target_type: target_type.to_string(),
            ip_address_type: ip_address_type.to_string(),
            health_check,
            attributes: attributes::target_group_defaults(protocol, target_type),
            tags: new_tags,
            targets: BTreeMap::new(),
            draining: Vec::new(),
            seq,
            in_use_since: None,
        };
        tracing::info!(%arn, target_type, "Target group created");
        let mut x = Xml::new();
        x.list("TargetGroups", "member", [&tg], |x, tg| {
            self.write_target_group(x, tg)
        });
        self.target_groups.insert(arn, tg);
        Ok(x)
    }

    pub(super) fn describe_target_groups(&self, params: &Params) -> Result<Xml, AwsError> {
        let lb_arn = params.get("LoadBalancerArn").filter(|s| !s.is_empty());
        let arns = params.list("TargetGroupArns.member");
        let names = params.list("Names.member");
        let given = [lb_arn.is_some(), !arns.is_empty(), !names.is_empty()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(validation(
                "Only one of load balancer ARN, target group ARNs, or names can be specified",
            ));
        }
        let index = self.load_balancers_by_target_group();
        let found: Vec<&TargetGroup> = if let Some(lb) = lb_arn {
            self.load_balancer(lb)?;
            self.target_groups
                .values()
                .filter(|tg| index.get(tg.arn.as_str()).is_some_and(|l| l.contains(lb)))
                .collect()
        } else if !arns.is_empty() {
            let mut v = Vec::new();
            for arn in &arns {
                v.push(self.target_group(arn)?);
            }
            v
        } else if !names.is_empty() {
            let mut v = Vec::new();
            for name in &names {
                match self.target_groups.values().find(|tg| tg.name == *name) {
                    Some(tg) => v.push(tg),
                    None => {
                        return Err(AwsError::client(
                            "TargetGroupNotFound",
                            format!("Target groups '[{name}]' not found"),
                        ));
                    }
                }
            }
            v
        } else {
            self.target_groups.values().collect()
        };
        let mut dedup = BTreeMap::new();
        for tg in found {
            dedup.insert(tg.arn.as_str(), tg);
        }
        let page = paginate(dedup.into_values().collect(), |tg| tg.seq, params)?;
        let mut x = Xml::new();
        x.list("TargetGroups", "member", page.items, |x, tg| {
            let lbs = index.get(tg.arn.as_str()).into_iter().flatten().copied();
            self.write_target_group_with(x, tg, lbs)
        });
        x.opt_leaf("NextMarker", page.next_marker);
        Ok(x)
    }

    pub(super) fn modify_target_group(&mut self, params: &Params) -> Result<Xml, AwsError> {
        let arn = required(params, "TargetGroupArn")?;
        let tg = self.target_group(arn)?;
        let hc = apply_health_check(
            params,
            tg.health_check.clone(),
            tg.protocol.as_deref(),
            true,
        )?;
        if let Some(tg) = self.target_groups.get_mut(arn) {
            tg.health_check = hc;
        }
        let tg = self.target_group(arn)?;
        let mut x = Xml::new();
        x.list("TargetGroups", "member", [tg], |x, tg| {
            self.write_target_group(x, tg)
        });
        Ok(x)
    }

    pub(super) fn delete_target_group(&mut self, params: &Params) -> Result<Xml, AwsError> {
        let arn = required(params, "TargetGroupArn")?;
        expect_arn(arn, ArnKind::TargetGroup)?;
        if !self.target_groups.contains_key(arn) {
            return Ok(Xml::new());
        }
        let in_use = self.rules.values().any(|r| {
            r.actions
                .iter()
                .any(|a| a.target_group_arns().any(|t| t == arn))
        });
        if in_use {
            return Err(resource_in_use(format!(
                "Target group '{arn}' is currently in use by a listener or a rule"
            )));
        }
        self.target_groups.remove(arn);
        tracing::info!(%arn, "Target group deleted");
        Ok(Xml::new())
    }

    fn write_target_group(&self, x: &mut Xml, tg: &TargetGroup) {
        let lbs = self.target_group_load_balancers(&tg.arn);
        self.write_target_group_with(x, tg, lbs.iter().map(String::as_str));
    }

    /// Writes a target group with the load balancers that send to it.
    fn write_target_group_with<'a>(
        &self,
        x: &mut Xml,
        tg: &TargetGroup,
        load_balancers: impl IntoIterator<Item = &'a str>,
    ) {
        let hc = &tg.health_check;
        x.leaf("TargetGroupArn", &tg.arn)
            .leaf("TargetGroupName", &tg.name)
            .opt_leaf("Protocol", tg.protocol.as_deref())
            .opt_leaf("Port", tg.port)
            .opt_leaf("VpcId", tg.vpc_id.as_deref())
            .opt_leaf("HealthCheckProtocol", hc.protocol.as_deref())
            .opt_leaf("HealthCheckPort", hc.port.as_deref())
            .leaf("HealthCheckEnabled", hc.enabled)
            .leaf("HealthCheckIntervalSeconds", hc.interval_seconds)
            .leaf("HealthCheckTimeoutSeconds", hc.timeout_seconds)
            .leaf("HealthyThresholdCount", hc.healthy_threshold)
            .leaf("UnhealthyThresholdCount", hc.unhealthy_threshold)
            .opt_leaf("HealthCheckPath", hc.path.as_deref());
        if hc.matcher_http_code.is_some() || hc.matcher_grpc_code.is_some() {
            x.elem("Matcher", |x| {
                x.opt_leaf("HttpCode", hc.matcher_http_code.as_deref())
                    .opt_leaf("GrpcCode", hc.matcher_grpc_code.as_deref());
            });
        }
        x.list("LoadBalancerArns", "member", load_balancers, |x, a| {
            x.text(a);
        });
        x.leaf("TargetType", &tg.target_type)
            .opt_leaf("ProtocolVersion", tg.protocol_version.as_deref())
            .leaf("IpAddressType", &tg.ip_address_type);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_codes() {
        assert!(valid_codes("200", 200, 599).is_ok());
        assert!(valid_codes("200,202-299", 200, 599).is_ok());
        for bad in ["", "abc", "199", "300-200", "200-", "600"] {
            assert!(valid_codes(bad, 200, 599).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_check_defaults_per_protocol() {
        let http = default_health_check(Some("HTTP"), "ip");
        assert_eq!((http.interval_seconds, http.timeout_seconds), (30, 5));
        assert_eq!(http.path.as_deref(), Some("/"));
        let tcp = default_health_check(Some("TCP"), "ip");
        assert_eq!(tcp.timeout_seconds, 10);
        assert_eq!(tcp.protocol.as_deref(), Some("TCP"));
        assert!(!default_health_check(None, "lambda").enabled);
    }
}
