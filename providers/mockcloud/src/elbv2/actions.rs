//! Listener and rule actions: forward (with weighted `ForwardConfig`), redirect and
//! fixed-response, their validation and their XML.
//!
//! ELBv2 API reference (`Action`, `ForwardActionConfig`, `RedirectActionConfig`,
//! `FixedResponseActionConfig`): one terminal action per rule; forward to at most 5 target
//! groups with weights 0..=999 and stickiness 1..=604800 s; redirect needs `HTTP_301`/`HTTP_302`
//! and must not point at itself; fixed-response needs a 2XX/4XX/5XX code, one of five content
//! types and a body of at most 1024 characters. Redirect and fixed-response are Application
//! Load Balancer actions; Network and Gateway Load Balancers only forward, to one group.

use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::Elbv2;
use super::errors::{
    bool_of, enum_in, incompatible_protocols, int_in, invalid_action, invalid_configuration,
    required, target_group_not_found, too_many, validation,
};
use super::model::{LbType, LoadBalancer};

const ACTION_TYPES: [&str; 5] = [
    "forward",
    "authenticate-oidc",
    "authenticate-cognito",
    "redirect",
    "fixed-response",
];
const CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightedTargetGroup {
    pub arn: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ActionKind {
    Forward {
        target_groups: Vec<WeightedTargetGroup>,
        stickiness_enabled: bool,
        stickiness_seconds: Option<u32>,
    },
    Redirect {
        protocol: String,
        port: String,
        host: String,
        path: String,
        query: String,
        status_code: String,
    },
    FixedResponse {
        status_code: String,
        content_type: Option<String>,
        message_body: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub order: Option<u32>,
    #[serde(flatten)]
    pub kind: ActionKind,
}

impl Action {
    pub fn target_group_arns(&self) -> impl Iterator<Item = &str> {
        let tgs: &[WeightedTargetGroup] = match &self.kind {
            ActionKind::Forward { target_groups, .. } => target_groups,
            _ => &[],
        };
        tgs.iter().map(|t| t.arn.as_str())
    }
}

/// Parses `prefix.N` actions (`Actions.member`, `DefaultActions.member`) and checks what can
/// be checked without the load balancer.
pub(super) fn parse_actions(
    params: &Params,
    prefix: &str,
    max_target_groups: usize,
) -> Result<Vec<Action>, AwsError> {
    let raw = params.structs(prefix);
    if raw.is_empty() {
        return Err(validation(format!(
            "1 validation error detected: Value null at '{prefix}' failed to satisfy \
             constraint: Member must not be null"
        )));
    }
    let mut out = Vec::new();
    for (i, a) in raw.iter().enumerate() {
        let field = format!("{prefix}.{}.Type", i + 1);
        let Some(kind) = enum_in(a, "Type", &ACTION_TYPES).map_err(|_| {
            super::errors::not_in_enum(a.get("Type").unwrap_or_default(), &field, &ACTION_TYPES)
        })?
        else {
            return Err(validation(format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy \
                 constraint: Member must not be null"
            )));
        };
        let order = int_in(a, "Order", 1, 50_000)?.map(|o| o as u32);
        let kind = match kind {
            "forward" => parse_forward(a, max_target_groups)?,
            "redirect" => parse_redirect(&a.sub("RedirectConfig"))?,
            "fixed-response" => parse_fixed_response(&a.sub("FixedResponseConfig"))?,
            other => {
                return Err(invalid_action(format!(
                    "The action type '{other}' is not supported by this cloud"
                )));
            }
        };
        out.push(Action { order, kind });
    }
    if out.len() > 1 {
        return Err(too_many(
            "TooManyActions",
            "A rule or listener can have only one terminal action (forward, redirect or fixed-response)",
        ));
    }
    Ok(out)
}

fn parse_forward(a: &Params, max_target_groups: usize) -> Result<ActionKind, AwsError> {
    let single = a.get("TargetGroupArn").filter(|s| !s.is_empty());
    let fc = a.sub("ForwardConfig");
    let mut groups = Vec::new();
    for (i, t) in fc.structs("TargetGroups.member").iter().enumerate() {
        let arn = required(t, "TargetGroupArn")?;
        let weight = int_in(t, "Weight", 0, 999)
            .map_err(|_| {
                validation(format!(
                    "Weight of target group {} must be between 0 and 999",
                    i + 1
                ))
            })?
            .unwrap_or(1) as u32;
        if groups.iter().any(|g: &WeightedTargetGroup| g.arn == arn) {
            return Err(validation(format!(
                "Target group '{arn}' is specified more than once in the forward configuration"
            )));
        }
        groups.push(WeightedTargetGroup {
            arn: arn.to_string(),
            weight,
        });
    }
    match (single, groups.is_empty()) {
        (None, true) => {
            return Err(validation(
                "A target group ARN must be specified for a forward action",
            ));
        }
        (Some(arn), true) => groups.push(WeightedTargetGroup {
            arn: arn.to_string(),
            weight: 1,
        }),
        (Some(arn), false) => {
            if groups.len() != 1 || groups[0].arn != arn {
                return Err(validation(
                    "You can specify both a top-level target group ARN and a target group list \
                     only if the list has one target group with the same ARN",
                ));
            }
        }
        (None, false) => {}
    }
    if groups.len() > max_target_groups {
        return Err(too_many(
            "TooManyTargetGroups",
            format!("A forward action can have at most {max_target_groups} target groups"),
        ));
    }
    let st = fc.sub("TargetGroupStickinessConfig");
    let stickiness_enabled = bool_of(&st, "Enabled")?.unwrap_or(false);
    let stickiness_seconds = int_in(&st, "DurationSeconds", 1, 604_800)?.map(|d| d as u32);
    if stickiness_enabled && stickiness_seconds.is_none() {
        return Err(validation(
            "A stickiness duration must be specified when target group stickiness is enabled",
        ));
    }
    Ok(ActionKind::Forward {
        target_groups: groups,
        stickiness_enabled,
        stickiness_seconds,
    })
}

fn parse_redirect(c: &Params) -> Result<ActionKind, AwsError> {
    let status_code = enum_in(c, "StatusCode", &["HTTP_301", "HTTP_302"])?.ok_or_else(|| {
        validation("A redirect status code (HTTP_301 or HTTP_302) must be specified")
    })?;
    let protocol = c.get("Protocol").unwrap_or("#{protocol}");
    if !matches!(protocol, "HTTP" | "HTTPS" | "#{protocol}") {
        return Err(validation(format!(
            "Redirect protocol '{protocol}' must be HTTP, HTTPS or #{{protocol}}"
        )));
    }
    let port = c.get("Port").unwrap_or("#{port}");
    if port != "#{port}" && !port.parse::<u16>().is_ok_and(|p| p >= 1) {
        return Err(validation(format!(
            "Redirect port '{port}' must be between 1 and 65535 or #{{port}}"
        )));
    }
    let host = c.get("Host").unwrap_or("#{host}");
    let path = c.get("Path").unwrap_or("/#{path}");
    let query = c.get("Query").unwrap_or("#{query}");
    for (what, v) in [("host", host), ("path", path), ("query", query)] {
        if v.chars().count() > 128 {
            return Err(validation(format!(
                "The redirect {what} must be at most 128 characters"
            )));
        }
    }
    if host.is_empty() {
        return Err(validation("The redirect host cannot be empty"));
    }
    if !path.starts_with('/') {
        return Err(validation("The redirect path must start with '/'"));
    }
    if query.starts_with('?') {
        return Err(validation("The redirect query must not start with '?'"));
    }
    if protocol == "#{protocol}"
        && port == "#{port}"
        && host == "#{host}"
        && path == "/#{path}"
        && query == "#{query}"
    {
        return Err(invalid_action(
            "The redirect configuration is not valid because it creates a loop",
        ));
    }
    Ok(ActionKind::Redirect {
        protocol: protocol.into(),
        port: port.into(),
        host: host.into(),
        path: path.into(),
        query: query.into(),
        status_code: status_code.into(),
    })
}

fn parse_fixed_response(c: &Params) -> Result<ActionKind, AwsError> {
    let status_code = c
        .get("StatusCode")
        .ok_or_else(|| validation("A fixed-response status code must be specified"))?;
    let valid = status_code.len() == 3
        && status_code.chars().all(|ch| ch.is_ascii_digit())
        && matches!(status_code.as_bytes()[0], b'2' | b'4' | b'5');
    if !valid {
        return Err(validation(format!(
            "1 validation error detected: Value '{status_code}' at 'statusCode' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$"
        )));
    }
    let content_type = enum_in(c, "ContentType", &CONTENT_TYPES)?;
    let message_body = c.get("MessageBody");
    if message_body.is_some_and(|b| b.chars().count() > 1024) {
        return Err(validation(
            "The fixed-response message body must be at most 1024 characters",
        ));
    }
    Ok(ActionKind::FixedResponse {
        status_code: status_code.into(),
        content_type: content_type.map(str::to_string),
        message_body: message_body.map(str::to_string),
    })
}

/// Target-group protocols a listener protocol can forward to.
fn compatible(listener_protocol: Option<&str>, tg_protocol: Option<&str>) -> bool {
    match listener_protocol {
        Some("HTTP" | "HTTPS") => matches!(tg_protocol, Some("HTTP" | "HTTPS")),
        Some("TCP") => matches!(tg_protocol, Some("TCP" | "TCP_UDP")),
        Some("TLS") => matches!(tg_protocol, Some("TCP" | "TLS")),
        Some("UDP") => matches!(tg_protocol, Some("UDP" | "TCP_UDP")),
        Some("TCP_UDP") => matches!(tg_protocol, Some("TCP_UDP")),
        // Gateway Load Balancer listeners have no protocol and forward GENEVE.
        None => matches!(tg_protocol, Some("GENEVE")),
        Some(_) => false,
    }
}

impl Elbv2 {
    /// Checks actions against the load balancer and listener they would run on: action types
    /// the load balancer supports, target groups that exist, are in its VPC, speak a
    /// compatible protocol and are not attached to another load balancer.
    pub(super) fn check_actions(
        &self,
        lb: &LoadBalancer,
        listener_protocol: Option<&str>,
        actions: &[Action],
    ) -> Result<(), AwsError> {
        for a in actions {
            match &a.kind {
                ActionKind::Forward { target_groups, .. } => {
                    if lb.kind != LbType::Application && target_groups.len() > 1 {
                        return Err(invalid_action(
                            "Network and Gateway Load Balancers can forward to only one target group",
                        ));
                    }
                    for wtg in target_groups {
                        self.check_forward_target(lb, listener_protocol, &wtg.arn)?;
                    }
                }
                ActionKind::Redirect { .. } | ActionKind::FixedResponse { .. } => {
                    if lb.kind != LbType::Application {
                        return Err(invalid_action(format!(
                            "Redirect and fixed-response actions are not supported by load balancers of type '{}'",
                            lb.kind.as_str()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_forward_target(
        &self,
        lb: &LoadBalancer,
        listener_protocol: Option<&str>,
        tg_arn: &str,
    ) -> Result<(), AwsError> {
        let tg = self.target_groups.get(tg_arn).ok_or_else(|| {
            let mut e = target_group_not_found();
            e.message = format!("Target group '{tg_arn}' not found");
            e
        })?;
        match tg.target_type.as_str() {
            "lambda" if lb.kind != LbType::Application => {
                return Err(incompatible_protocols(
                    "Lambda target groups can only be used with Application Load Balancers",
                ));
            }
            "lambda" => {}
            "alb" if !(lb.kind == LbType::Network && listener_protocol == Some("TCP")) => {
                return Err(incompatible_protocols(
                    "Target groups of type 'alb' can only be used with TCP listeners of Network Load Balancers",
                ));
            }
            _ => {
                if !compatible(listener_protocol, tg.protocol.as_deref()) {
                    return Err(incompatible_protocols(format!(
                        "Listener protocol '{}' is not compatible with target group protocol '{}'",
                        listener_protocol.unwrap_or("GENEVE"),
                        tg.protocol.as_deref().unwrap_or_default()
                    )));
                }
            }
        }
        if let Some(vpc) = &tg.vpc_id
            && *vpc != lb.vpc_id
        {
            return Err(invalid_configuration(format!(
                "Target group '{tg_arn}' is in VPC '{vpc}', but the load balancer is in VPC '{}'",
                lb.vpc_id
            )));
        }
        let others: Vec<String> = self
            .target_group_load_balancers(tg_arn)
            .into_iter()
            .filter(|a| *a != lb.arn)
            .collect();
        if !others.is_empty() {
            return Err(AwsError::client(
                "TargetGroupAssociationLimit",
                format!(
                    "The following target groups cannot be associated with more than one load balancer: {tg_arn}"
                ),
            ));
        }
        Ok(())
    }
}

pub(super) fn write_actions(x: &mut Xml, tag: &str, actions: &[Action]) {
    x.list(tag, "member", actions, write_action);
}

fn write_action(x: &mut Xml, a: &Action) {
    match &a.kind {
        ActionKind::Forward {
            target_groups,
            stickiness_enabled,
            stickiness_seconds,
        } => {
            x.leaf("Type", "forward");
            if let [only] = target_groups.as_slice() {
                x.leaf("TargetGroupArn", &only.arn);
            }
            x.opt_leaf("Order", a.order);
            x.elem("ForwardConfig", |x| {
                x.list("TargetGroups", "member", target_groups, |x, t| {
                    x.leaf("TargetGroupArn", &t.arn).leaf("Weight", t.weight);
                });
                x.elem("TargetGroupStickinessConfig", |x| {
                    x.leaf("Enabled", stickiness_enabled)
                        .opt_leaf("DurationSeconds", *stickiness_seconds);
                });
            });
        }
        ActionKind::Redirect {
            protocol,
            port,
            host,
            path,
            query,
            status_code,
        } => {
            x.leaf("Type", "redirect").opt_leaf("Order", a.order);
            x.elem("RedirectConfig", |x| {
                x.leaf("Protocol", protocol)
                    .leaf("Port", port)
                    .leaf("Host", host)
                    .leaf("Path", path)
                    .leaf("Query", query)
                    .leaf("StatusCode", status_code);
            });
        }
        ActionKind::FixedResponse {
            status_code,
            content_type,
            message_body,
        } => {
            x.leaf("Type", "fixed-response").opt_leaf("Order", a.order);
            x.elem("FixedResponseConfig", |x| {
                x.opt_leaf("MessageBody", message_body.as_deref())
                    .leaf("StatusCode", status_code)
                    .opt_leaf("ContentType", content_type.as_deref());
            });
        }
    }
}
