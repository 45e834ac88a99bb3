//! The one place SDK types meet the plain structs: actual state read from ELBv2 and EC2
//! responses, and desired state written as SDK inputs.

use std::collections::BTreeMap;

use aws_sdk_ec2::types as ec2;
use aws_sdk_elasticloadbalancingv2::types as elb;
use cloudnet_core::{IpAddressType, LoadBalancerKind, Scheme};

use super::model::*;

pub fn actual_load_balancer(lb: &elb::LoadBalancer) -> Option<ActualLoadBalancer> {
    let mut subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    let mut security_groups = lb.security_groups().to_vec();
    security_groups.sort();
    Some(ActualLoadBalancer {
        arn: lb.load_balancer_arn()?.to_string(),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        kind: lb.r#type().and_then(|t| match t.as_str() {
            "application" => Some(LoadBalancerKind::Application),
            "network" => Some(LoadBalancerKind::Network),
            _ => None,
        }),
        scheme: lb.scheme().and_then(|s| match s.as_str() {
            "internal" => Some(Scheme::Internal),
            "internet-facing" => Some(Scheme::InternetFacing),
            _ => None,
        }),
        ip_address_type: lb.ip_address_type().and_then(|t| match t.as_str() {
            "ipv4" => Some(IpAddressType::Ipv4),
            "dualstack" => Some(IpAddressType::Dualstack),
            _ => None,
        }),
        subnets,
        security_groups,
        dns_name: lb.dns_name().map(str::to_string),
        vpc_id: lb.vpc_id().map(str::to_string),
    })
}

pub fn actual_target_group(tg: &elb::TargetGroup) -> Option<ActualTargetGroup> {
    Some(ActualTargetGroup {
        arn: tg.target_group_arn()?.to_string(),
        name: tg.target_group_name().unwrap_or_default().to_string(),
        protocol: tg.protocol().map(|p| p.as_str().to_string()),
        port: tg.port().and_then(|p| u16::try_from(p).ok()),
        target_type: tg.target_type().map(|t| t.as_str().to_string()),
        health_check: HealthCheckSettings {
            protocol: tg
                .health_check_protocol()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            port: tg.health_check_port().unwrap_or("traffic-port").to_string(),
            path: tg.health_check_path().map(str::to_string),
            interval_seconds: tg.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: tg.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold: tg.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or_default(),
            matcher: tg.matcher().and_then(|m| m.http_code()).map(str::to_string),
        },
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
    })
}

pub fn actual_action(a: &elb::Action) -> Option<ElbAction> {
    match a.r#type()?.as_str() {
        "forward" => {
            let tuples: Vec<TargetGroupWeight> = a
                .forward_config()
                .map(|f| {
                    f.target_groups()
                        .iter()
                        .filter_map(|t| {
                            Some(TargetGroupWeight {
                                target_group: t.target_group_arn()?.to_string(),
                                weight: t.weight().and_then(|w| u32::try_from(w).ok()).unwrap_or(1),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let groups = if tuples.is_empty() {
                a.target_group_arn()
                    .map(|arn| {
                        vec![TargetGroupWeight {
                            target_group: arn.to_string(),
                            weight: 1,
                        }]
                    })
                    .unwrap_or_default()
            } else {
                tuples
            };
            Some(ElbAction::forward(groups))
        }
        "redirect" => {
            let r = a.redirect_config()?;
            Some(ElbAction::Redirect(RedirectSettings {
                protocol: r
                    .protocol()
                    .unwrap_or(RedirectSettings::DEFAULT_PROTOCOL)
                    .to_string(),
                host: r
                    .host()
                    .unwrap_or(RedirectSettings::DEFAULT_HOST)
                    .to_string(),
                port: r
                    .port()
                    .unwrap_or(RedirectSettings::DEFAULT_PORT)
                    .to_string(),
                path: r
                    .path()
                    .unwrap_or(RedirectSettings::DEFAULT_PATH)
                    .to_string(),
                query: r
                    .query()
                    .unwrap_or(RedirectSettings::DEFAULT_QUERY)
                    .to_string(),
                status_code: r
                    .status_code()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            }))
        }
        "fixed-response" => {
            let f = a.fixed_response_config()?;
            Some(ElbAction::FixedResponse(FixedResponseSettings {
                status_code: f.status_code().unwrap_or_default().to_string(),
                content_type: f.content_type().map(str::to_string),
                message_body: f.message_body().map(str::to_string),
            }))
        }
        _ => None,
    }
}

/// Actions we do not write (authentication, JWT) come back as `None` and make the list
/// differ from ours, so the matcher sees drift.
fn actual_actions(actions: &[elb::Action]) -> Vec<Option<ElbAction>> {
    let mut sorted: Vec<&elb::Action> = actions.iter().collect();
    sorted.sort_by_key(|a| a.order().unwrap_or(0));
    sorted.into_iter().map(actual_action).collect()
}

fn known_actions(actions: &[elb::Action]) -> Vec<ElbAction> {
    let all = actual_actions(actions);
    if all.iter().any(Option::is_none) {
        // Something we do not manage: an impossible action list, so it never matches ours.
        return vec![ElbAction::forward(vec![]), ElbAction::forward(vec![])];
    }
    all.into_iter().flatten().collect()
}

pub fn actual_listener(l: &elb::Listener) -> Option<ActualListener> {
    Some(ActualListener {
        arn: l.listener_arn()?.to_string(),
        port: l.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
        protocol: l.protocol().map(|p| p.as_str().to_string()),
        certificates: l
            .certificates()
            .iter()
            .filter_map(|c| c.certificate_arn().map(str::to_string))
            .collect(),
        ssl_policy: l.ssl_policy().map(str::to_string),
        default_actions: known_actions(l.default_actions()),
    })
}

pub fn actual_condition(c: &elb::RuleCondition) -> Option<ElbCondition> {
    let field = c.field()?;
    match field {
        "http-header" => {
            let h = c.http_header_config()?;
            return Some(ElbCondition::header(
                h.http_header_name()?,
                h.values().iter().cloned(),
            ));
        }
        "query-string" => {
            let q = c.query_string_config()?;
            return Some(ElbCondition::query(q.values().iter().map(|p| {
                (
                    p.key().map(str::to_string),
                    p.value().unwrap_or_default().to_string(),
                )
            })));
        }
        _ => {}
    }
    let from_config: Option<Vec<String>> = match field {
        "host-header" => c.host_header_config().map(|h| h.values().to_vec()),
        "path-pattern" => c.path_pattern_config().map(|p| p.values().to_vec()),
        "http-request-method" => c.http_request_method_config().map(|m| m.values().to_vec()),
        "source-ip" => c.source_ip_config().map(|s| s.values().to_vec()),
        _ => None,
    };
    let values = match from_config {
        Some(v) if !v.is_empty() => v,
        _ => c.values().to_vec(),
    };
    Some(ElbCondition::new(field, values))
}

/// A rule, or None for the listener's default rule (which the listener's default action is).
pub fn actual_rule(r: &elb::Rule) -> Option<ActualRule> {
    if r.is_default() == Some(true) {
        return None;
    }
    let priority = r.priority()?.parse::<i32>().ok()?;
    let mut conditions: Vec<ElbCondition> =
        r.conditions().iter().filter_map(actual_condition).collect();
    conditions.sort();
    Some(ActualRule {
        arn: r.rule_arn()?.to_string(),
        priority,
        conditions,
        actions: known_actions(r.actions()),
    })
}

pub fn elb_tags(tags: &[elb::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

pub fn ec2_tags(tags: &[ec2::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// A group's ingress as single-source permissions (AWS groups several sources in one).
pub fn actual_ingress(perms: &[ec2::IpPermission]) -> Vec<SgRule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from_port, to_port) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
        let rule = |source| SgRule {
            protocol: protocol.clone(),
            from_port,
            to_port,
            source,
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(rule(SgSource::Cidr(c.to_string())));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push(rule(SgSource::Cidr(c.to_string())));
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                out.push(rule(SgSource::Group(id.to_string())));
            }
        }
    }
    out.sort();
    out
}

pub fn actual_security_group(g: &ec2::SecurityGroup) -> Option<ActualSecurityGroup> {
    Some(ActualSecurityGroup {
        id: g.group_id()?.to_string(),
        name: g.group_name().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().map(str::to_string),
        tags: ec2_tags(g.tags()),
        ingress: actual_ingress(g.ip_permissions()),
    })
}

// ---- desired -> SDK ----

pub fn to_elb_tags(tags: &BTreeMap<String, String>) -> Vec<elb::Tag> {
    tags.iter()
        .map(|(k, v)| elb::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn to_ec2_tag_spec(
    resource: ec2::ResourceType,
    tags: &BTreeMap<String, String>,
) -> ec2::TagSpecification {
    ec2::TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| ec2::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// The action as ELBv2 takes it; `order` is 1 (we write one action per rule).
pub fn to_elb_action(a: &ElbAction) -> elb::Action {
    let b = elb::Action::builder().order(1);
    match a {
        ElbAction::Forward { groups } => {
            let b = b.r#type(elb::ActionTypeEnum::Forward);
            match groups.as_slice() {
                [only] => b.target_group_arn(&only.target_group).build(),
                _ => b
                    .forward_config(
                        elb::ForwardActionConfig::builder()
                            .set_target_groups(Some(
                                groups
                                    .iter()
                                    .map(|g| {
                                        elb::TargetGroupTuple::builder()
                                            .target_group_arn(&g.target_group)
                                            .weight(i32::try_from(g.weight).unwrap_or(i32::MAX))
                                            .build()
                                    })
                                    .collect(),
                            ))
                            .build(),
                    )
                    .build(),
            }
        }
        ElbAction::Redirect(r) => b
            .r#type(elb::ActionTypeEnum::Redirect)
            .redirect_config(
                elb::RedirectActionConfig::builder()
                    .protocol(&r.protocol)
                    .host(&r.host)
                    .port(&r.port)
                    .path(&r.path)
                    .query(&r.query)
                    .status_code(elb::RedirectActionStatusCodeEnum::from(
                        r.status_code.as_str(),
                    ))
                    .build(),
            )
            .build(),
        ElbAction::FixedResponse(f) => b
            .r#type(elb::ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                elb::FixedResponseActionConfig::builder()
                    .status_code(&f.status_code)
                    .set_content_type(f.content_type.clone())
                    .set_message_body(f.message_body.clone())
                    .build(),
            )
            .build(),
    }
}

/// A condition whose config holds only its values: `$set` takes `elb::$config`.
macro_rules! values_config {
    ($b:expr, $set:ident, $config:ident, $values:expr) => {
        $b.$set(elb::$config::builder().set_values(Some($values)).build())
            .build()
    };
}

pub fn to_elb_condition(c: &ElbCondition) -> elb::RuleCondition {
    let b = elb::RuleCondition::builder().field(&c.field);
    let values = c.values.clone();
    match c.field.as_str() {
        "host-header" => values_config!(b, host_header_config, HostHeaderConditionConfig, values),
        "path-pattern" => {
            values_config!(b, path_pattern_config, PathPatternConditionConfig, values)
        }
        "http-header" => b
            .http_header_config(
                elb::HttpHeaderConditionConfig::builder()
                    .set_http_header_name(c.header.clone())
                    .set_values(Some(values))
                    .build(),
            )
            .build(),
        "http-request-method" => values_config!(
            b,
            http_request_method_config,
            HttpRequestMethodConditionConfig,
            values
        ),
        "query-string" => {
            let pairs = c.query.iter().map(|(k, v)| {
                elb::QueryStringKeyValuePair::builder()
                    .set_key(k.clone())
                    .value(v)
                    .build()
            });
            values_config!(
                b,
                query_string_config,
                QueryStringConditionConfig,
                pairs.collect()
            )
        }
        "source-ip" => values_config!(b, source_ip_config, SourceIpConditionConfig, values),
        _ => b.set_values(Some(values)).build(),
    }
}

pub fn to_certificates(certs: &[String]) -> Option<Vec<elb::Certificate>> {
    certs
        .first()
        .map(|c| vec![elb::Certificate::builder().certificate_arn(c).build()])
}

pub fn to_ip_permission(r: &SgRule) -> ec2::IpPermission {
    let b = ec2::IpPermission::builder()
        .ip_protocol(&r.protocol)
        .from_port(r.from_port)
        .to_port(r.to_port);
    match &r.source {
        SgSource::Cidr(c) if c.contains(':') => b
            .ipv6_ranges(ec2::Ipv6Range::builder().cidr_ipv6(c).build())
            .build(),
        SgSource::Cidr(c) => b
            .ip_ranges(ec2::IpRange::builder().cidr_ip(c).build())
            .build(),
        SgSource::Group(g) => b
            .user_id_group_pairs(ec2::UserIdGroupPair::builder().group_id(g).build())
            .build(),
    }
}

pub fn elb_protocol(p: &str) -> elb::ProtocolEnum {
    elb::ProtocolEnum::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_sdk_types() {
        let actions = [
            ElbAction::forward(vec![TargetGroupWeight {
                target_group: "arn:a".into(),
                weight: 1,
            }]),
            ElbAction::forward(vec![
                TargetGroupWeight {
                    target_group: "arn:a".into(),
                    weight: 90,
                },
                TargetGroupWeight {
                    target_group: "arn:b".into(),
                    weight: 10,
                },
            ]),
            ElbAction::Redirect(RedirectSettings {
                protocol: "HTTPS".into(),
                host: "#{host}".into(),
                port: "443".into(),
                path: "/#{path}".into(),
                query: "#{query}".into(),
                status_code: "HTTP_301".into(),
            }),
            ElbAction::FixedResponse(FixedResponseSettings {
                status_code: "404".into(),
                content_type: Some("text/plain".into()),
                message_body: None,
            }),
        ];
        for a in actions {
            assert_eq!(actual_action(&to_elb_action(&a)).as_ref(), Some(&a));
        }
    }

    #[test]
    fn a_described_redirect_with_defaults_omitted_equals_ours() {
        let described = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Redirect)
            .redirect_config(
                elb::RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(elb::RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build();
        let ElbAction::Redirect(r) = actual_action(&described).unwrap() else {
            panic!("redirect")
        };
        assert_eq!(r.host, "#{host}");
        assert_eq!(r.path, "/#{path}");
    }

    #[test]
    fn a_forward_with_both_shapes_reads_once() {
        let described = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Forward)
            .target_group_arn("arn:a")
            .forward_config(
                elb::ForwardActionConfig::builder()
                    .target_groups(
                        elb::TargetGroupTuple::builder()
                            .target_group_arn("arn:a")
                            .weight(1)
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            actual_action(&described),
            Some(ElbAction::forward(vec![TargetGroupWeight {
                target_group: "arn:a".into(),
                weight: 1
            }]))
        );
    }

    #[test]
    fn every_condition_kind_reads_back_as_written() {
        let written = [
            ElbCondition::new("host-header", ["a.example.com".to_string()]),
            ElbCondition::new("path-pattern", ["/a".to_string(), "/b/*".to_string()]),
            ElbCondition::header("X-Canary", ["yes".to_string()]),
            ElbCondition::new("http-request-method", ["GET".to_string()]),
            ElbCondition::query([
                (Some("v".to_string()), "2".to_string()),
                (None, "beta".to_string()),
            ]),
            ElbCondition::new("source-ip", ["10.0.0.0/8".to_string()]),
        ];
        for c in written {
            assert_eq!(actual_condition(&to_elb_condition(&c)), Some(c.clone()));
        }
    }

    #[test]
    fn conditions_read_from_config_or_legacy_values() {
        for c in [
            elb::RuleCondition::builder()
                .field("path-pattern")
                .values("/b")
                .values("/a")
                .build(),
            to_elb_condition(&ElbCondition::new(
                "path-pattern",
                ["/a".to_string(), "/b".to_string()],
            )),
        ] {
            assert_eq!(
                actual_condition(&c),
                Some(ElbCondition::new(
                    "path-pattern",
                    ["/a".to_string(), "/b".to_string()]
                ))
            );
        }
    }

    #[test]
    fn permissions_split_per_source() {
        let p = ec2::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(ec2::IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .user_id_group_pairs(ec2::UserIdGroupPair::builder().group_id("sg-1").build())
            .build();
        let rules = actual_ingress(&[p]);
        assert_eq!(rules.len(), 2);
        for r in &rules {
            let back = actual_ingress(&[to_ip_permission(r)]);
            assert_eq!(back, vec![r.clone()]);
        }
    }

    #[test]
    fn unmanaged_actions_never_match() {
        let auth = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .build();
        let l = elb::Listener::builder()
            .listener_arn("arn:l")
            .port(80)
            .default_actions(auth)
            .build();
        let actual = actual_listener(&l).unwrap();
        assert_eq!(actual.default_actions.len(), 2);
    }
}
