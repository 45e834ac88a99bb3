//! Load balancer and target group attributes: AWS's keys, defaults and value checks
//! (ELBv2 API reference, `LoadBalancerAttribute` and `TargetGroupAttribute`).
//!
//! Which keys exist depends on the load balancer type, or on the target group's protocol and
//! target type. A key that does not apply is refused the way AWS refuses it:
//! `ValidationError: Load balancer attribute key 'x' not recognized` (seen from AWS in
//! hashicorp/terraform-provider-aws#23971). A Modify call carries at most 20 attributes
//! (hashicorp/terraform-provider-aws#46496: "Member must have length less than or equal to 20").

use std::collections::BTreeMap;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::Elbv2;
use super::errors::{required, validation};
use super::model::LbType;

#[derive(Debug, Clone, Copy)]
enum Check {
    Bool,
    Range(i64, i64),
    /// 0, or within the range (slow start).
    ZeroOrRange(i64, i64),
    OneOf(&'static [&'static str]),
    Any,
}

struct Spec {
    key: &'static str,
    default: String,
    check: Check,
}

fn spec(key: &'static str, default: impl Into<String>, check: Check) -> Spec {
    Spec {
        key,
        default: default.into(),
        check,
    }
}

fn load_balancer_specs(kind: LbType) -> Vec<Spec> {
    use Check::*;
    let mut v = vec![spec("deletion_protection.enabled", "false", Bool)];
    if kind != LbType::Gateway {
        v.extend([
            spec("access_logs.s3.enabled", "false", Bool),
            spec("access_logs.s3.bucket", "", Any),
            spec("access_logs.s3.prefix", "", Any),
            spec("ipv6.deny_all_igw_traffic", "false", Bool),
            spec("zonal_shift.config.enabled", "false", Bool),
        ]);
    }
    match kind {
        LbType::Application => v.extend([
            spec("idle_timeout.timeout_seconds", "60", Range(1, 4000)),
            spec("client_keep_alive.seconds", "3600", Range(60, 604_800)),
            spec("connection_logs.s3.enabled", "false", Bool),
            spec("connection_logs.s3.bucket", "", Any),
            spec("connection_logs.s3.prefix", "", Any),
            spec(
                "routing.http.desync_mitigation_mode",
                "defensive",
                OneOf(&["monitor", "defensive", "strictest"]),
            ),
            spec(
                "routing.http.drop_invalid_header_fields.enabled",
                "false",
                Bool,
            ),
            spec("routing.http.preserve_host_header.enabled", "false", Bool),
            spec(
                "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
                "false",
                Bool,
            ),
            spec("routing.http.xff_client_port.enabled", "false", Bool),
            spec(
                "routing.http.xff_header_processing.mode",
                "append",
                OneOf(&["append", "preserve", "remove"]),
            ),
            spec("routing.http2.enabled", "true", Bool),
            spec("waf.fail_open.enabled", "false", Bool),
            // Cross-zone load balancing is always on for Application Load Balancers.
            spec(
                "load_balancing.cross_zone.enabled",
                "true",
                OneOf(&["true"]),
            ),
        ]),
        LbType::Network => v.extend([
            spec("load_balancing.cross_zone.enabled", "false", Bool),
            spec(
                "dns_record.client_routing_policy",
                "any_availability_zone",
                OneOf(&[
                    "availability_zone_affinity",
                    "partial_availability_zone_affinity",
                    "any_availability_zone",
                ]),
            ),
        ]),
        LbType::Gateway => v.push(spec("load_balancing.cross_zone.enabled", "false", Bool)),
    }
    v
}

/// Protocol families of target groups, for their attribute sets.
fn target_group_specs(protocol: Option<&str>, target_type: &str) -> Vec<Spec> {
    use Check::*;
    if target_type == "lambda" {
        return vec![spec("lambda.multi_value_headers.enabled", "false", Bool)];
    }
    let mut v = vec![
        spec(
            "deregistration_delay.timeout_seconds",
            "300",
            Range(0, 3600),
        ),
        spec("stickiness.enabled", "false", Bool),
    ];
    let health = [
        spec(
            "target_group_health.dns_failover.minimum_healthy_targets.count",
            "1",
            Range(1, i64::MAX),
        ),
        spec(
            "target_group_health.dns_failover.minimum_healthy_targets.percentage",
            "off",
            Any,
        ),
        spec(
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
            "1",
            Range(1, i64::MAX),
        ),
        spec(
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
            "off",
            Any,
        ),
    ];
    match protocol {
        Some("HTTP" | "HTTPS") => {
            v.extend([
                spec(
                    "stickiness.type",
                    "lb_cookie",
                    OneOf(&["lb_cookie", "app_cookie"]),
                ),
                spec(
                    "stickiness.lb_cookie.duration_seconds",
                    "86400",
                    Range(1, 604_800),
                ),
                spec("stickiness.app_cookie.cookie_name", "", Any),
                spec(
                    "stickiness.app_cookie.duration_seconds",
                    "86400",
                    Range(1, 604_800),
                ),
                spec(
                    "load_balancing.algorithm.type",
                    "round_robin",
                    OneOf(&[
                        "round_robin",
                        "least_outstanding_requests",
                        "weighted_random",
                    ]),
                ),
                spec(
                    "load_balancing.algorithm.anomaly_mitigation",
                    "off",
                    OneOf(&["on", "off"]),
                ),
                spec("slow_start.duration_seconds", "0", ZeroOrRange(30, 900)),
                spec(
                    "load_balancing.cross_zone.enabled",
                    "use_load_balancer_configuration",
                    OneOf(&["true", "false", "use_load_balancer_configuration"]),
                ),
            ]);
            v.extend(health);
        }
        Some("GENEVE") => v.extend([
            spec(
                "stickiness.type",
                "source_ip_dest_ip_proto",
                OneOf(&["source_ip_dest_ip", "source_ip_dest_ip_proto"]),
            ),
            spec(
                "target_failover.on_deregistration",
                "no_rebalance",
                OneOf(&["rebalance", "no_rebalance"]),
            ),
            spec(
                "target_failover.on_unhealthy",
                "no_rebalance",
                OneOf(&["rebalance", "no_rebalance"]),
            ),
        ]),
        // TCP, TLS, UDP, TCP_UDP: Network Load Balancer target groups.
        _ => {
            // Client IP preservation is on by default for instance targets and for UDP and
            // TCP_UDP; off for ip targets with TCP or TLS.
            let preserve = target_type == "instance" || matches!(protocol, Some("UDP" | "TCP_UDP"));
            v.extend([
                spec("stickiness.type", "source_ip", OneOf(&["source_ip"])),
                spec("proxy_protocol_v2.enabled", "false", Bool),
                spec("preserve_client_ip.enabled", preserve.to_string(), Bool),
                spec(
                    "deregistration_delay.connection_termination.enabled",
                    "false",
                    Bool,
                ),
                spec(
                    "load_balancing.cross_zone.enabled",
                    "use_load_balancer_configuration",
                    OneOf(&["true", "false", "use_load_balancer_configuration"]),
                ),
                spec(
                    "target_health_state.unhealthy.connection_termination.enabled",
                    "true",
                    Bool,
                ),
                spec(
                    "target_health_state.unhealthy.draining_interval_seconds",
                    "0",
                    Range(0, 360_000),
                ),
            ]);
            v.extend(health);
        }
    }
    v
}

fn defaults(specs: &[Spec]) -> BTreeMap<String, String> {
    specs
        .iter()
        .map(|s| (s.key.to_string(), s.default.clone()))
        .collect()
}

pub(super) fn load_balancer_defaults(kind: LbType) -> BTreeMap<String, String> {
    defaults(&load_balancer_specs(kind))
}

pub(super) fn target_group_defaults(
    protocol: Option<&str>,
    target_type: &str,
) -> BTreeMap<String, String> {
    defaults(&target_group_specs(protocol, target_type))
}

/// Checks every `Attributes.member.N` against the specs and returns the updated map; nothing
/// changes unless all of them are valid.
fn apply(
    what: &str,
    specs: &[Spec],
    current: &BTreeMap<String, String>,
    params: &Params,
) -> Result<BTreeMap<String, String>, AwsError> {
    let changes = params.structs("Attributes.member");
    if changes.is_empty() {
        return Err(validation(
            "1 validation error detected: Value null at 'attributes' failed to satisfy \
             constraint: Member must not be null",
        ));
    }
    if changes.len() > 20 {
        return Err(validation(
            "1 validation error detected: Value at 'attributes' failed to satisfy constraint: \
             Member must have length less than or equal to 20",
        ));
    }
    let mut out = current.clone();
    for c in changes {
        let key = required(&c, "Key")?;
        let value = c.get("Value").unwrap_or_default();
        let Some(s) = specs.iter().find(|s| s.key == key) else {
            return Err(validation(format!(
                "{what} attribute key '{key}' not recognized"
            )));
        };
        let ok = match s.check {
            Check::Bool => matches!(value, "true" | "false"),
            Check::Range(lo, hi) => value.parse::<i64>().is_ok_and(|n| n >= lo && n <= hi),
            Check::ZeroOrRange(lo, hi) => value
                .parse::<i64>()
                .is_ok_and(|n| n == 0 || (n >= lo && n <= hi)),
            Check::OneOf(vals) => vals.contains(&value),
            Check::Any => true,
        };
        if !ok {
            let expected = match s.check {
                Check::Bool => "must be 'true' or 'false'".to_string(),
                Check::Range(lo, hi) => format!("must be an integer between {lo} and {hi}"),
                Check::ZeroOrRange(lo, hi) => {
                    format!("must be 0 or an integer between {lo} and {hi}")
                }
                Check::OneOf(vals) => format!("must be one of [{}]", vals.join(", ")),
                Check::Any => String::new(),
            };
            return Err(validation(format!(
                "{what} attribute '{key}' value '{value}' is not valid: it {expected}"
            )));
        }
        out.insert(key.to_string(), value.to_string());
    }
    for logs in ["access_logs.s3", "connection_logs.s3"] {
        let enabled = out
            .get(&format!("{logs}.enabled"))
            .is_some_and(|v| v == "true");
        let bucket_empty = out
            .get(&format!("{logs}.bucket"))
            .is_none_or(|b| b.is_empty());
        if enabled && bucket_empty {
            return Err(validation(format!(
                "The value of '{logs}.bucket' cannot be empty when '{logs}.enabled' is true"
            )));
        }
    }
    Ok(out)
}

fn write_attributes(x: &mut Xml, attrs: &BTreeMap<String, String>) {
    x.list("Attributes", "member", attrs, |x, (k, v)| {
        x.leaf("Key", k).leaf("Value", v);
    });
}

impl Elbv2 {
    pub(super) fn describe_load_balancer_attributes(
        &self,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let lb = self.load_balancer(required(params, "LoadBalancerArn")?)?;
        let mut x = Xml::new();
        write_attributes(&mut x, &lb.attributes);
        Ok(x)
    }

    pub(super) fn modify_load_balancer_attributes(
        &mut self,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "LoadBalancerArn")?;
        let lb = self.load_balancer(arn)?;
        let updated = apply(
            "Load balancer",
            &load_balancer_specs(lb.kind),
            &lb.attributes,
            params,
        )?;
        let mut x = Xml::new();
        write_attributes(&mut x, &updated);
        if let Some(lb) = self.load_balancers.get_mut(arn) {
            lb.attributes = updated;
        }
        Ok(x)
    }

    pub(super) fn describe_target_group_attributes(
        &self,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let tg = self.target_group(required(params, "TargetGroupArn")?)?;
        let mut x = Xml::new();
        write_attributes(&mut x, &tg.attributes);
        Ok(x)
    }

    pub(super) fn modify_target_group_attributes(
        &mut self,
        params: &Params,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "TargetGroupArn")?;
        let tg = self.target_group(arn)?;
        let updated = apply(
            "Target group",
            &target_group_specs(tg.protocol.as_deref(), &tg.target_type),
            &tg.attributes,
            params,
        )?;
        let mut x = Xml::new();
        write_attributes(&mut x, &updated);
        if let Some(tg) = self.target_groups.get_mut(arn) {
            tg.attributes = updated;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_depend_on_kind_and_protocol() {
        let alb = load_balancer_defaults(LbType::Application);
        assert_eq!(alb["idle_timeout.timeout_seconds"], "60");
        assert!(
            !load_balancer_defaults(LbType::Network).contains_key("idle_timeout.timeout_seconds")
        );
        let http = target_group_defaults(Some("HTTP"), "ip");
        assert_eq!(http["deregistration_delay.timeout_seconds"], "300");
        assert_eq!(http["load_balancing.algorithm.type"], "round_robin");
        assert!(!http.contains_key("proxy_protocol_v2.enabled"));
        let tcp_ip = target_group_defaults(Some("TCP"), "ip");
        assert_eq!(tcp_ip["preserve_client_ip.enabled"], "false");
        assert_eq!(
            target_group_defaults(Some("TCP"), "instance")["preserve_client_ip.enabled"],
            "true"
        );
        assert_eq!(
            target_group_defaults(Some("UDP"), "ip")["preserve_client_ip.enabled"],
            "true"
        );
    }

    #[test]
    fn apply_checks_keys_and_values_atomically() {
        let specs = target_group_specs(Some("HTTP"), "ip");
        let cur = defaults(&specs);
        let p = |pairs: &[(&str, &str)]| Params::from_pairs(pairs.iter().copied());
        let ok = apply(
            "Target group",
            &specs,
            &cur,
            &p(&[
                (
                    "Attributes.member.1.Key",
                    "deregistration_delay.timeout_seconds",
                ),
                ("Attributes.member.1.Value", "5"),
            ]),
        )
        .unwrap();
        assert_eq!(ok["deregistration_delay.timeout_seconds"], "5");
        for (k, v) in [
            ("deregistration_delay.timeout_seconds", "3601"),
            ("stickiness.enabled", "yes"),
            ("slow_start.duration_seconds", "10"),
            ("proxy_protocol_v2.enabled", "true"),
            ("no.such.key", "1"),
        ] {
            let e = apply(
                "Target group",
                &specs,
                &cur,
                &p(&[
                    ("Attributes.member.1.Key", k),
                    ("Attributes.member.1.Value", v),
                ]),
            )
            .unwrap_err();
            assert_eq!(e.code, "ValidationError", "{k}={v}");
        }
    }
}
