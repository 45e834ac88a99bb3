//! The AWS Load Balancer Controller's Ingress annotations (`alb.ingress.kubernetes.io/*`):
//! the keys cloudnet reads, the ones it recognises but does not carry out yet, and the
//! parsers of the JSON-valued ones (`listen-ports`, `actions.<name>`, `conditions.<name>`),
//! which take the anchor's field names and spellings.

use std::collections::BTreeMap;

use cloudnet_core::{FixedResponse, Protocol, QueryPair, Redirect, RuleCondition};
use serde::Deserialize;

pub use crate::annotations::{AnnotationError, Annotations, Family};

/// The prefix the Ingress annotations share.
pub const PREFIX: &str = "alb.ingress.kubernetes.io/";

/// An error for each of the AWS Load Balancer Controller's annotations on an Ingress of
/// another dialect's class (`read`: that class, and which annotations it reads).
pub fn foreign(annotations: &BTreeMap<String, String>, read: &str) -> Vec<String> {
    annotations
        .keys()
        .filter(|k| k.starts_with(PREFIX))
        .map(|k| {
            format!(
                "annotation {k}: an AWS Load Balancer Controller annotation on an Ingress of {read}"
            )
        })
        .collect()
}

/// The target-group keys (after [`PREFIX`]), which a Service may set to override its
/// Ingresses', followed by the `$also` keys given.
macro_rules! target_group_keys {
    ($($also:literal),*) => {
        &[
            "target-type",
            "backend-protocol",
            "healthcheck-protocol",
            "healthcheck-port",
            "healthcheck-path",
            "healthcheck-interval-seconds",
            "healthcheck-timeout-seconds",
            "healthy-threshold-count",
            "unhealthy-threshold-count",
            "success-codes",
            "target-group-attributes",
            $($also),*
        ]
    };
}

/// Target-group keys (after [`PREFIX`]), which a Service may set to override its Ingresses'.
pub const TARGET_GROUP_KEYS: &[&str] = target_group_keys!();

/// Keys (after [`PREFIX`]) that cloudnet reads.
pub const SUPPORTED: &[&str] = target_group_keys!(
    "scheme",
    "ip-address-type",
    "subnets",
    "security-groups",
    "inbound-cidrs",
    "listen-ports",
    "certificate-arn",
    "ssl-policy",
    "ssl-redirect",
    "load-balancer-attributes",
    "tags",
    "group.name",
    "group.order"
);

/// Keys of the AWS Load Balancer Controller that cloudnet recognises but does not carry out
/// yet: using one is an error that says so.
pub const NOT_SUPPORTED: &[&str] = &[
    "load-balancer-name",
    "auth-type",
    "auth-idp-cognito",
    "auth-idp-oidc",
    "auth-on-unauthenticated-request",
    "auth-scope",
    "auth-session-cookie",
    "auth-session-timeout",
    "backend-protocol-version",
    "customer-owned-ipv4-pool",
    "wafv2-acl-arn",
    "waf-acl-id",
    "shield-advanced-protection",
    "target-node-labels",
    "manage-backend-security-group-rules",
    "security-group-prefix-lists",
    "mutual-authentication",
    "use-regex-path-match",
    "ipam-ipv4-pool-id",
    "load-balancer-capacity-reservation",
    "multi-cluster-target-group",
    "enable-frontend-nlb",
    "frontend-nlb-scheme",
    "transforms",
];

/// The Ingress family; `actions.<name>` and `conditions.<name>` take any name.
pub static FAMILY: Family = Family {
    prefix: PREFIX,
    checked: "",
    supported: SUPPORTED,
    supported_prefixes: &["actions.", "conditions."],
    not_supported: NOT_SUPPORTED,
};

/// `listen-ports`: `[{"HTTP": 80}, {"HTTPS": 443}]`, as (protocol, port) in the order written,
/// each port once.
pub fn parse_listen_ports(raw: &str) -> Result<Vec<(Protocol, u16)>, String> {
    let entries: Vec<BTreeMap<String, i64>> = serde_json::from_str(raw)
        .map_err(|e| format!("must be a JSON list like [{{\"HTTP\": 80}}]: {e}"))?;
    if entries.is_empty() {
        return Err("names no port".into());
    }
    let mut out: Vec<(Protocol, u16)> = Vec::new();
    for entry in &entries {
        for (protocol, port) in entry {
            let protocol = match protocol.as_str() {
                "HTTP" => Protocol::Http,
                "HTTPS" => Protocol::Https,
                other => return Err(format!("protocol {other:?} must be HTTP or HTTPS")),
            };
            let port = u16::try_from(*port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port {port} must be within [1, 65535]"))?;
            match out.iter().find(|(_, p)| *p == port) {
                Some((other, _)) if *other != protocol => {
                    return Err(format!("port {port} is listed as both HTTP and HTTPS"));
                }
                Some(_) => {}
                None => out.push((protocol, port)),
            }
        }
    }
    Ok(out)
}

/// A backend of an `actions.<name>` forward: a Service port, with a weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    pub service: String,
    /// A port number or name, as written.
    pub port: String,
    pub weight: u32,
}

/// An `actions.<name>` annotation, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    Forward(Vec<ServiceTarget>),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAction {
    #[serde(rename = "type")]
    type_: String,
    #[serde(default, rename = "targetGroupARN")]
    target_group_arn: Option<String>,
    #[serde(default)]
    forward_config: Option<RawForward>,
    #[serde(default)]
    redirect_config: Option<RawRedirect>,
    #[serde(default)]
    fixed_response_config: Option<RawFixed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawForward {
    target_groups: Vec<RawTargetGroup>,
    #[serde(default)]
    target_group_stickiness_config: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTargetGroup {
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    service_port: Option<serde_json::Value>,
    #[serde(default, rename = "targetGroupARN")]
    target_group_arn: Option<String>,
    #[serde(default)]
    target_group_name: Option<String>,
    #[serde(default)]
    weight: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRedirect {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    port: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    query: Option<String>,
    status_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFixed {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    message_body: Option<String>,
    status_code: String,
}

/// `actions.<name>`: the anchor's action JSON (`forward` with `forwardConfig.targetGroups`,
/// `redirect` with `redirectConfig`, `fixed-response` with `fixedResponseConfig`).
pub fn parse_action(raw: &str) -> Result<ActionSpec, String> {
    let a: RawAction = serde_json::from_str(raw).map_err(|e| format!("is not an action: {e}"))?;
    match a.type_.as_str() {
        "forward" => {
            if a.target_group_arn.is_some() {
                return Err(
                    "targetGroupARN (a target group made outside the cluster) is not \
                            supported by cloudnet yet; forward to serviceName/servicePort"
                        .into(),
                );
            }
            let f = a
                .forward_config
                .ok_or("a forward action needs forwardConfig.targetGroups")?;
            if f.target_group_stickiness_config.is_some() {
                return Err("targetGroupStickinessConfig is not supported by cloudnet yet".into());
            }
            if f.target_groups.is_empty() {
                return Err("forwardConfig.targetGroups is empty".into());
            }
            let mut out = Vec::new();
            for tg in f.target_groups {
                if tg.target_group_arn.is_some() || tg.target_group_name.is_some() {
                    return Err(
                        "targetGroupARN/targetGroupName (a target group made outside \
                                the cluster) is not supported by cloudnet yet; use \
                                serviceName/servicePort"
                            .into(),
                    );
                }
                let service = tg
                    .service_name
                    .filter(|s| !s.is_empty())
                    .ok_or("each target group needs serviceName and servicePort")?;
                let port = match tg.service_port {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => s,
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => return Err(format!("target group {service}: servicePort is missing")),
                };
                let weight = tg.weight.unwrap_or(1);
                if weight > 999 {
                    return Err(format!(
                        "target group {service}: weight {weight} is over 999"
                    ));
                }
                out.push(ServiceTarget {
                    service,
                    port,
                    weight,
                });
            }
            Ok(ActionSpec::Forward(out))
        }
        "redirect" => {
            let r = a
                .redirect_config
                .ok_or("a redirect action needs redirectConfig")?;
            let keep = |v: &Option<String>, placeholder: &str| {
                v.as_ref()
                    .filter(|s| s.as_str() != placeholder && !s.is_empty())
                    .cloned()
            };
            let protocol = match keep(&r.protocol, "#{protocol}").as_deref() {
                None => None,
                Some("HTTP") => Some(Protocol::Http),
                Some("HTTPS") => Some(Protocol::Https),
                Some(other) => {
                    return Err(format!(
                        "redirect protocol {other:?} must be HTTP, HTTPS or #{{protocol}}"
                    ));
                }
            };
            let port = match keep(&r.port, "#{port}") {
                None => None,
                Some(p) => Some(
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("redirect port {p:?} is not a port"))?,
                ),
            };
            let status_code = match r.status_code.as_str() {
                "HTTP_301" => 301,
                "HTTP_302" => 302,
                other => {
                    return Err(format!(
                        "redirect statusCode {other:?} must be HTTP_301 or HTTP_302"
                    ));
                }
            };
            Ok(ActionSpec::Redirect(Redirect {
                protocol,
                host: keep(&r.host, "#{host}"),
                port,
                path: keep(&r.path, "/#{path}"),
                query: keep(&r.query, "#{query}"),
                status_code,
            }))
        }
        "fixed-response" => {
            let f = a
                .fixed_response_config
                .ok_or("a fixed-response action needs fixedResponseConfig")?;
            let status_code = f
                .status_code
                .parse::<u16>()
                .ok()
                .filter(|c| (200..=599).contains(c))
                .ok_or_else(|| {
                    format!(
                        "fixed-response statusCode {:?} must be 2XX to 5XX",
                        f.status_code
                    )
                })?;
            Ok(ActionSpec::FixedResponse(FixedResponse {
                status_code,
                content_type: f.content_type,
                body: f.message_body,
            }))
        }
        other => Err(format!(
            "action type {other:?} must be forward, redirect or fixed-response \
             (authenticate actions are not supported by cloudnet yet)"
        )),
    }
}

/// What a `conditions.<name>` annotation adds to a rule: host names, path patterns and
/// further conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionSpec {
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub conditions: Vec<RuleCondition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCondition {
    field: String,
    #[serde(default)]
    host_header_config: Option<RawValues>,
    #[serde(default)]
    path_pattern_config: Option<RawValues>,
    #[serde(default)]
    http_header_config: Option<RawHeader>,
    #[serde(default)]
    http_request_method_config: Option<RawValues>,
    #[serde(default)]
    query_string_config: Option<RawQuery>,
    #[serde(default)]
    source_ip_config: Option<RawValues>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValues {
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHeader {
    http_header_name: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    values: Vec<RawPair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    #[serde(default)]
    key: Option<String>,
    value: String,
}

/// `conditions.<name>`: the anchor's list of rule conditions (`host-header`, `path-pattern`,
/// `http-header`, `http-request-method`, `query-string`, `source-ip`).
pub fn parse_conditions(raw: &str) -> Result<ConditionSpec, String> {
    let list: Vec<RawCondition> =
        serde_json::from_str(raw).map_err(|e| format!("is not a list of conditions: {e}"))?;
    let mut out = ConditionSpec::default();
    for c in list {
        let missing = |config: &str| format!("a {} condition needs {config}", c.field);
        let nonempty = |values: Vec<String>, config: &str| {
            if values.is_empty() {
                Err(format!(
                    "{config}.values of a {} condition is empty",
                    c.field
                ))
            } else {
                Ok(values)
            }
        };
        match c.field.as_str() {
            "host-header" => {
                let v = c
                    .host_header_config
                    .ok_or_else(|| missing("hostHeaderConfig"))?;
                out.hosts.extend(nonempty(v.values, "hostHeaderConfig")?);
            }
            "path-pattern" => {
                let v = c
                    .path_pattern_config
                    .ok_or_else(|| missing("pathPatternConfig"))?;
                out.paths.extend(nonempty(v.values, "pathPatternConfig")?);
            }
            "http-header" => {
                let h = c
                    .http_header_config
                    .ok_or_else(|| missing("httpHeaderConfig"))?;
                if h.http_header_name.is_empty() {
                    return Err("httpHeaderConfig.httpHeaderName is empty".into());
                }
                out.conditions.push(RuleCondition::HttpHeader {
                    name: h.http_header_name,
                    values: nonempty(h.values, "httpHeaderConfig")?,
                });
            }
            "http-request-method" => {
                let v = c
                    .http_request_method_config
                    .ok_or_else(|| missing("httpRequestMethodConfig"))?;
                out.conditions.push(RuleCondition::HttpRequestMethod {
                    values: nonempty(v.values, "httpRequestMethodConfig")?,
                });
            }
            "query-string" => {
                let q = c
                    .query_string_config
                    .ok_or_else(|| missing("queryStringConfig"))?;
                if q.values.is_empty() {
                    return Err(
                        "queryStringConfig.values of a query-string condition is empty".into(),
                    );
                }
                out.conditions.push(RuleCondition::QueryString {
                    values: q
                        .values
                        .into_iter()
                        .map(|p| QueryPair {
                            key: p.key.filter(|k| !k.is_empty()),
                            value: p.value,
                        })
                        .collect(),
                });
            }
            "source-ip" => {
                let v = c
                    .source_ip_config
                    .ok_or_else(|| missing("sourceIpConfig"))?;
                let mut nets = Vec::new();
                for s in nonempty(v.values, "sourceIpConfig")? {
                    nets.push(
                        s.parse::<ipnet::IpNet>()
                            .map_err(|_| format!("source-ip {s:?} is not a CIDR"))?,
                    );
                }
                out.conditions
                    .push(RuleCondition::SourceIp { values: nets });
            }
            other => {
                return Err(format!(
                    "condition field {other:?} must be host-header, path-pattern, http-header, \
                     http-request-method, query-string or source-ip"
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_ports_table() {
        type Case = (&'static str, Result<Vec<(Protocol, u16)>, &'static str>);
        let cases: &[Case] = &[
            (r#"[{"HTTP": 80}]"#, Ok(vec![(Protocol::Http, 80)])),
            (
                r#"[{"HTTP": 80}, {"HTTPS": 443}]"#,
                Ok(vec![(Protocol::Http, 80), (Protocol::Https, 443)]),
            ),
            (
                r#"[{"HTTP": 80}, {"HTTP": 80}]"#,
                Ok(vec![(Protocol::Http, 80)]),
            ),
            (r#"[]"#, Err("names no port")),
            (r#"[{"TCP": 80}]"#, Err("must be HTTP or HTTPS")),
            (r#"[{"HTTP": 0}]"#, Err("within [1, 65535]")),
            (r#"[{"HTTP": 70000}]"#, Err("within [1, 65535]")),
            (
                r#"[{"HTTP": 8080}, {"HTTPS": 8080}]"#,
                Err("both HTTP and HTTPS"),
            ),
            (r#"HTTP:80"#, Err("must be a JSON list")),
        ];
        for (raw, want) in cases {
            match (parse_listen_ports(raw), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{raw}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{raw}: {got}"),
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn actions_table() {
        let weighted = parse_action(
            r#"{"type":"forward","forwardConfig":{"targetGroups":[
                {"serviceName":"blue","servicePort":"80","weight":20},
                {"serviceName":"green","servicePort":8080,"weight":80}]}}"#,
        )
        .unwrap();
        assert_eq!(
            weighted,
            ActionSpec::Forward(vec![
                ServiceTarget {
                    service: "blue".into(),
                    port: "80".into(),
                    weight: 20
                },
                ServiceTarget {
                    service: "green".into(),
                    port: "8080".into(),
                    weight: 80
                },
            ])
        );
        let redirect = parse_action(
            r##"{"type":"redirect","redirectConfig":{"protocol":"HTTPS","port":"443","statusCode":"HTTP_301"}}"##,
        )
        .unwrap();
        assert_eq!(
            redirect,
            ActionSpec::Redirect(Redirect {
                protocol: Some(Protocol::Https),
                host: None,
                port: Some(443),
                path: None,
                query: None,
                status_code: 301
            })
        );
        let keep = parse_action(
            r##"{"type":"redirect","redirectConfig":{"host":"#{host}","path":"/#{path}","port":"#{port}","query":"#{query}","protocol":"#{protocol}","statusCode":"HTTP_302"}}"##,
        )
        .unwrap();
        assert_eq!(
            keep,
            ActionSpec::Redirect(Redirect {
                protocol: None,
                host: None,
                port: None,
                path: None,
                query: None,
                status_code: 302
            })
        );
        let fixed = parse_action(
            r#"{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"503","messageBody":"down"}}"#,
        )
        .unwrap();
        assert_eq!(
            fixed,
            ActionSpec::FixedResponse(FixedResponse {
                status_code: 503,
                content_type: Some("text/plain".into()),
                body: Some("down".into())
            })
        );
        let refused: &[(&str, &str)] = &[
            (
                r#"{"type":"forward","targetGroupARN":"arn:aws:elasticloadbalancing:x"}"#,
                "not supported by cloudnet yet",
            ),
            (
                r#"{"type":"authenticate-oidc"}"#,
                "must be forward, redirect or fixed-response",
            ),
            (
                r#"{"type":"redirect","redirectConfig":{"statusCode":"HTTP_307"}}"#,
                "HTTP_301 or HTTP_302",
            ),
            (
                r#"{"type":"fixed-response","fixedResponseConfig":{"statusCode":"700"}}"#,
                "2XX to 5XX",
            ),
            (
                r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"a"}]}}"#,
                "servicePort is missing",
            ),
            (r#"{"type":"forward","bogus":1}"#, "is not an action"),
        ];
        for (raw, want) in refused {
            let got = parse_action(raw).unwrap_err();
            assert!(got.contains(want), "{raw}: {got}");
        }
    }

    #[test]
    fn conditions_table() {
        let c = parse_conditions(
            r#"[{"field":"host-header","hostHeaderConfig":{"values":["anno.example.com"]}},
                {"field":"path-pattern","pathPatternConfig":{"values":["/v?/*"]}},
                {"field":"http-header","httpHeaderConfig":{"httpHeaderName":"HeaderName","values":["HeaderValue1"]}},
                {"field":"http-request-method","httpRequestMethodConfig":{"values":["GET","HEAD"]}},
                {"field":"query-string","queryStringConfig":{"values":[{"key":"paramA","value":"valueA1"},{"value":"any"}]}},
                {"field":"source-ip","sourceIpConfig":{"values":["192.168.0.0/16"]}}]"#,
        )
        .unwrap();
        assert_eq!(c.hosts, vec!["anno.example.com"]);
        assert_eq!(c.paths, vec!["/v?/*"]);
        assert_eq!(c.conditions.len(), 4);
        assert_eq!(
            c.conditions[2],
            RuleCondition::QueryString {
                values: vec![
                    QueryPair {
                        key: Some("paramA".into()),
                        value: "valueA1".into()
                    },
                    QueryPair {
                        key: None,
                        value: "any".into()
                    }
                ]
            }
        );
        let refused: &[(&str, &str)] = &[
            (r#"[{"field":"cookie"}]"#, "must be host-header"),
            (
                r#"[{"field":"source-ip","sourceIpConfig":{"values":["nope"]}}]"#,
                "not a CIDR",
            ),
            (r#"[{"field":"http-header"}]"#, "needs httpHeaderConfig"),
            (
                r#"[{"field":"host-header","hostHeaderConfig":{"values":[]}}]"#,
                "is empty",
            ),
            (r#"{"field":"host-header"}"#, "is not a list of conditions"),
        ];
        for (raw, want) in refused {
            let got = parse_conditions(raw).unwrap_err();
            assert!(got.contains(want), "{raw}: {got}");
        }
    }

    #[test]
    fn supported_and_unsupported_lists_do_not_overlap() {
        for k in NOT_SUPPORTED {
            assert!(!SUPPORTED.contains(k), "{k}");
        }
    }
}
