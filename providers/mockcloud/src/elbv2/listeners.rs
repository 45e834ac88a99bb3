//! CreateListener, DescribeListeners, ModifyListener, DeleteListener.
//!
//! Rules (ELBv2 API reference, CreateListener): Application Load Balancers listen on HTTP and
//! HTTPS, Network Load Balancers on TCP, TLS, UDP and TCP_UDP, Gateway Load Balancers have no
//! protocol or port; one listener per port (`DuplicateListener`), at most 50 listeners per load
//! balancer (`TooManyListeners`); HTTPS and TLS listeners need a certificate
//! (`CertificateNotFound` for an ARN that is not an ACM or IAM certificate) and take an
//! `SslPolicy` from the predefined policies (`SSLPolicyNotFound`). A listener owns its default
//! rule (whose actions are the listener's default actions); deleting the listener deletes
//! its rules.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::actions::{Action, parse_actions, write_actions};
use super::errors::{enum_in, int_in, listener_not_found, required, too_many, validation};
use super::model::{LbType, Listener, LoadBalancer, Rule};
use super::names::{ArnKind, expect_arn};
use super::pagination::paginate;
use super::{Elbv2, tags};

const LISTENER_PROTOCOLS: [&str; 7] = ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE"];
const ALPN_POLICIES: [&str; 5] = [
    "HTTP1Only",
    "HTTP2Only",
    "HTTP2Optional",
    "HTTP2Preferred",
    "None",
];
/// The default policy AWS applies to new HTTPS and TLS listeners.
const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/// The predefined security policies (ELBv2 "Security policies for your Application Load
/// Balancer" / DescribeSSLPolicies), the common ones.
pub(super) const SSL_POLICIES: [&str; 12] = [
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-2016-08",
    "ELBSecurityPolicy-TLS-1-1-2017-01",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    "ELBSecurityPolicy-2015-05",
];

fn is_tls(protocol: Option<&str>) -> bool {
    matches!(protocol, Some("HTTPS" | "TLS"))
}

fn protocols_for(kind: LbType) -> &'static [&'static str] {
    match kind {
        LbType::Application => &["HTTP", "HTTPS"],
        LbType::Network => &["TCP", "TLS", "UDP", "TCP_UDP"],
        LbType::Gateway => &[],
    }
}

/// The listener settings of a Create/ModifyListener request, checked against the load balancer.
struct ListenerSpec {
    port: Option<u16>,
    protocol: Option<String>,
    certificates: Vec<String>,
    ssl_policy: Option<String>,
    alpn_policy: Vec<String>,
}

fn listener_spec(
    lb: &LoadBalancer,
    params: &Params,
    current: Option<&Listener>,
    max_certificates: usize,
) -> Result<ListenerSpec, AwsError> {
    let protocol = enum_in(params, "Protocol", &LISTENER_PROTOCOLS)?
        .map(str::to_string)
        .or_else(|| current.and_then(|l| l.protocol.clone()));
    let port = int_in(params, "Port", 1, 65535)?
        .map(|p| p as u16)
        .or_else(|| current.and_then(|l| l.port));
    if lb.kind == LbType::Gateway {
        if protocol.is_some() || port.is_some() {
            return Err(validation(
                "Protocol and port cannot be specified for listeners of Gateway Load Balancers",
            ));
        }
    } else {
        let Some(p) = protocol.as_deref() else {
            return Err(validation("A listener protocol must be specified"));
        };
        if !protocols_for(lb.kind).contains(&p) {
            return Err(AwsError::client(
                "UnsupportedProtocol",
                format!(
                    "Protocol '{p}' is not supported for load balancers of type '{}'",
                    lb.kind.as_str()
                ),
            ));
        }
        if port.is_none() {
            return Err(validation("A listener port must be specified"));
        }
    }
    let tls = is_tls(protocol.as_deref());
    let given_certs: Vec<String> = params
        .structs("Certificates.member")
        .iter()
        .filter_map(|c| c.get("CertificateArn").map(str::to_string))
        .collect();
    let certificates = if !given_certs.is_empty() {
        given_certs
    } else if tls {
        current.map(|l| l.certificates.clone()).unwrap_or_default()
    } else {
        Vec::new()
    };
    if tls && certificates.is_empty() {
        return Err(validation(format!(
            "A certificate must be specified for {} listeners",
            protocol.as_deref().unwrap_or_default()
        )));
    }
    if !tls && !certificates.is_empty() {
        return Err(validation(
            "Certificates can only be specified for HTTPS and TLS listeners",
        ));
    }
    if certificates.len() > max_certificates {
        return Err(too_many(
            "TooManyCertificates",
            "The quota for the number of certificates per listener has been reached",
        ));
    }
    for c in &certificates {
        let acm = c.starts_with("arn:aws:acm:") && c.contains(":certificate/");
        let iam = c.starts_with("arn:aws:iam::") && c.contains(":server-certificate/");
        if !acm && !iam {
            return Err(AwsError::client(
                "CertificateNotFound",
                format!("Certificate '{c}' not found"),
            ));
        }
    }
    let ssl_policy = match params.get("SslPolicy") {
        Some(p) if !tls => {
            return Err(validation(format!(
                "SSL policy '{p}' can only be specified for HTTPS and TLS listeners"
            )));
        }
        Some(p) if !SSL_POLICIES.contains(&p) => {
            return Err(AwsError::client(
                "SSLPolicyNotFound",
                format!("SSL policy '{p}' not found"),
            ));
        }
        Some(p) => Some(p.to_string()),
        None if tls => Some(
            current
                .and_then(|l| l.ssl_policy.clone())
                .unwrap_or_else(|| DEFAULT_SSL_POLICY.to_string()),
        ),
        None => None,
    };
    let alpn: Vec<String> = params
        .list("AlpnPolicy.member")
        .into_iter()
        .map(str::to_string)
        .collect();
    if let Some(bad) = alpn.iter().find(|a| !ALPN_POLICIES.contains(&a.as_str())) {
        return Err(super::errors::not_in_enum(
            bad,
            "AlpnPolicy",
            &ALPN_POLICIES,
        ));
    }
    if !alpn.is_empty() && protocol.as_deref() != Some("TLS") {
        return Err(validation(
            "An ALPN policy can only be specified for TLS listeners",
        ));
    }
    let alpn_policy = if alpn.is_empty() && protocol.as_deref() == Some("TLS") {
        current.map(|l| l.alpn_policy.clone()).unwrap_or_default()
    } else {
        alpn
    };
    Ok(ListenerSpec {
        port,
        protocol,
        certificates,
        ssl_policy,
        alpn_policy,
    })
}

/// `app/name/0123..` from a load balancer ARN, the stem of its listeners' and rules' ARNs.
fn lb_stem(lb_arn: &str) -> &str {
    lb_arn
        .split_once(":loadbalancer/")
        .map(|(_, s)| s)
        .unwrap_or_default()
}

impl Elbv2 {
    pub(super) fn listener(&self, arn: &str) -> Result<&Listener, AwsError> {
        expect_arn(arn, ArnKind::Listener)?;
        self.listeners.get(arn).ok_or_else(listener_not_found)
    }

    /// The default actions of a listener (the actions of its default rule).
    pub(super) fn default_actions(&self, l: &Listener) -> &[Action] {
        self.rules
            .get(&l.default_rule_arn)
            .map(|r| r.actions.as_slice())
            .unwrap_or_default()
    }

    pub(super) fn create_listener(
        &mut self,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let lb = self.load_balancer(required(params, "LoadBalancerArn")?)?;
        let spec = listener_spec(
            lb,
            params,
            None,
            self.config.quotas.certificates_per_listener,
        )?;
        let actions = parse_actions(
            params,
            "DefaultActions.member",
            self.config.quotas.target_groups_per_action,
        )?;
        self.check_actions(lb, spec.protocol.as_deref(), &actions)?;
        let new_tags =
            tags::parse_new_tags(params, "Tags.member", self.config.quotas.tags_per_resource)?;
        let on_lb: Vec<&Listener> = self
            .listeners
            .values()
            .filter(|l| l.load_balancer_arn == lb.arn)
            .collect();
        if let Some(existing) = on_lb.iter().find(|l| l.port == spec.port) {
            // Idempotent for the same settings; another listener on the port is a duplicate.
            if existing.protocol == spec.protocol
                && existing.certificates == spec.certificates
                && self.default_actions(existing) == actions.as_slice()
            {
                let mut x = Xml::new();
                x.list("Listeners", "member", [*existing], |x, l| {
                    self.write_listener(x, l)
                });
                return Ok(x);
            }
            return Err(AwsError::client(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        if on_lb.len() >= self.config.quotas.listeners_per_load_balancer {
            return Err(too_many(
                "TooManyListeners",
                "The quota for the number of listeners per load balancer has been reached",
            ));
        }
        let lb_arn = lb.arn.clone();
        let stem = lb_stem(&lb_arn).to_string();
        let (seq, id) = self.next_id();
        let arn = self.arn(&format!("listener/{stem}/{id}"));
        let (rule_seq, rule_id) = self.next_id();
        let rule_arn = self.arn(&format!("listener-rule/{stem}/{id}/{rule_id}"));
        self.rules.insert(
            rule_arn.clone(),
            Rule {
                arn: rule_arn.clone(),
                listener_arn: arn.clone(),
                priority: None,
                conditions: Vec::new(),
                actions,
                tags: BTreeMap::new(),
                seq: rule_seq,
            },
        );
        let listener = Listener {
            arn: arn.clone(),
            load_balancer_arn: lb_arn,
            port: spec.port,
            protocol: spec.protocol,
            certificates: spec.certificates,
            ssl_policy: spec.ssl_policy,
            alpn_policy: spec.alpn_policy,
            default_rule_arn: rule_arn,
            tags: new_tags,
            seq,
        };
        self.listeners.insert(arn.clone(), listener);
        self.refresh_usage(now);
        tracing::info!(%arn, "Listener created");
        let l = self.listener(&arn)?;
        let mut x = Xml::new();
        x.list("Listeners", "member", [l], |x, l| self.write_listener(x, l));
        Ok(x)
    }

    pub(super) fn describe_listeners(&self, params: &Params) -> Result<Xml, AwsError> {
        let lb_arn = params.get("LoadBalancerArn").filter(|s| !s.is_empty());
        let arns = params.list("ListenerArns.member");
        let found: Vec<&Listener> = match (lb_arn, arns.is_empty()) {
            (Some(_), false) => {
                return Err(validation(
                    "Listener ARNs and a load balancer ARN cannot be specified at the same time",
                ));
            }
            (None, true) => {
                return Err(validation(
                    "You must specify either listener ARNs or a load balancer ARN",
                ));
            }
            (Some(lb), true) => {
                self.load_balancer(lb)?;
                self.listeners
                    .values()
                    .filter(|l| l.load_balancer_arn == lb)
                    .collect()
            }
            (None, false) => {
                let mut v = Vec::new();
                for a in &arns {
                    v.push(self.listener(a)?);
                }
                v.dedup_by_key(|l| l.seq);
                v
            }
        };
        let page = paginate(found, |l| l.seq, params)?;
        let mut x = Xml::new();
        x.list("Listeners", "member", page.items, |x, l| {
            self.write_listener(x, l)
        });
        x.opt_leaf("NextMarker", page.next_marker);
        Ok(x)
    }

    pub(super) fn modify_listener(
        &mut self,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "ListenerArn")?;
        let current = self.listener(arn)?;
        let lb = self.load_balancer(&current.load_balancer_arn)?;
        let spec = listener_spec(
            lb,
            params,
            Some(current),
            self.config.quotas.certificates_per_listener,
        )?;
        let new_actions = if params.structs("DefaultActions.member").is_empty() {
            None
        } else {
            Some(parse_actions(
                params,
                "DefaultActions.member",
                self.config.quotas.target_groups_per_action,
            )?)
        };
        if self
            .listeners
            .values()
            .any(|l| l.load_balancer_arn == lb.arn && l.arn != arn && l.port == spec.port)
        {
            return Err(AwsError::client(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        // Every rule of the listener must still be valid with the new protocol.
        let default_actions = new_actions
            .clone()
            .unwrap_or_else(|| self.default_actions(current).to_vec());
        self.check_actions(lb, spec.protocol.as_deref(), &default_actions)?;
        for r in self
            .rules
            .values()
            .filter(|r| r.listener_arn == arn && !r.is_default())
        {
            self.check_actions(lb, spec.protocol.as_deref(), &r.actions)?;
        }
        let default_rule = current.default_rule_arn.clone();
        if let Some(l) = self.listeners.get_mut(arn) {
            l.port = spec.port;
            l.protocol = spec.protocol;
            l.certificates = spec.certificates;
            l.ssl_policy = spec.ssl_policy;
            l.alpn_policy = spec.alpn_policy;
        }
        if let (Some(actions), Some(rule)) = (new_actions, self.rules.get_mut(&default_rule)) {
            rule.actions = actions;
        }
        self.refresh_usage(now);
        let l = self.listener(arn)?;
        let mut x = Xml::new();
        x.list("Listeners", "member", [l], |x, l| self.write_listener(x, l));
        Ok(x)
    }

    pub(super) fn delete_listener(
        &mut self,
        params: &Params,
        now: Instant,
    ) -> Result<Xml, AwsError> {
        let arn = required(params, "ListenerArn")?.to_string();
        self.listener(&arn)?;
        self.remove_listener(&arn);
        self.refresh_usage(now);
        tracing::info!(%arn, "Listener deleted");
        Ok(Xml::new())
    }

    /// Removes a listener and its rules (the caller refreshes target-group usage).
    pub(super) fn remove_listener(&mut self, arn: &str) {
        self.listeners.remove(arn);
        self.rules.retain(|_, r| r.listener_arn != arn);
    }

    fn write_listener(&self, x: &mut Xml, l: &Listener) {
        x.leaf("ListenerArn", &l.arn)
            .leaf("LoadBalancerArn", &l.load_balancer_arn)
            .opt_leaf("Port", l.port)
            .opt_leaf("Protocol", l.protocol.as_deref());
        if !l.certificates.is_empty() {
            x.list("Certificates", "member", &l.certificates, |x, c| {
                x.leaf("CertificateArn", c);
            });
        }
        x.opt_leaf("SslPolicy", l.ssl_policy.as_deref());
        write_actions(x, "DefaultActions", self.default_actions(l));
        if !l.alpn_policy.is_empty() {
            x.list("AlpnPolicy", "member", &l.alpn_policy, |x, a| {
                x.text(a);
            });
        }
    }
}
