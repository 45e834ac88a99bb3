//! An IngressGroup (its member Ingresses and the Services they name) -> the provider-neutral
//! L7 [`LoadBalancerSpec`] (an application load balancer on AWS).
//!
//! Pure. Kubernetes' semantics: each Ingress rule's paths are ordered Exact first, then Prefix
//! longest first, then ImplementationSpecific as written (a pattern with `*` and `?`), and
//! take listener rule priorities 1, 2, ... in the group's member order. One backend group per
//! distinct Service port. The AWS Load Balancer Controller's defaults: scheme `internal`,
//! `instance` targets, listener HTTP:80 (HTTPS:443 with a certificate), a 404 fixed response
//! when no rule and no `defaultBackend` matches, HTTP health checks of `/` every 15 s with a
//! 5 s timeout and thresholds of 2, success code 200. Target-group annotations on the Service
//! win over the Ingress's.
//!
//! Settings of the load balancer itself (scheme, subnets, attributes, ...) must agree across
//! the members that set them; a disagreement, like every other error, leaves the group
//! unchanged in the cloud and is reported on the Ingress that causes it.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, FixedResponse, Listener, LoadBalancerKind,
    LoadBalancerSpec, Protocol, Redirect, Rule, Subnets,
};
use k8s_openapi::api::networking::v1::Ingress;

use super::annotations::PREFIX;
use super::class::IngressSettings;
use super::group::{GroupId, MemberError, order_members};
use super::member::{Member, MemberRule};
pub use super::member::{Services, USE_ANNOTATION};

/// Builds the group's spec, or answers every problem, each with the Ingress it belongs to.
pub fn build_group_spec(
    group: &GroupId,
    members: &[&Ingress],
    services: &Services,
    settings: &IngressSettings,
) -> Result<LoadBalancerSpec, Vec<MemberError>> {
    build_group(group, members, services, settings).map(|b| b.spec)
}

/// A group's spec and what was left out of it.
#[derive(Debug, Clone)]
pub struct BuiltGroup {
    pub spec: LoadBalancerSpec,
    /// Rules of members that lost a host and path to an earlier member (AGIC's dialect),
    /// each with the Ingress it belongs to: built without them, reported as warnings.
    pub warnings: Vec<MemberError>,
}

/// [`build_group_spec`] with the warnings of the parts left out.
pub fn build_group(
    group: &GroupId,
    members: &[&Ingress],
    services: &Services,
    settings: &IngressSettings,
) -> Result<BuiltGroup, Vec<MemberError>> {
    let ordered = order_members(members)?;
    if ordered.is_empty() {
        return Err(Vec::new());
    }
    let mut errors = Vec::new();
    let mut built = Vec::new();
    for ing in &ordered {
        match Member::read(ing, services, settings) {
            Ok(m) => built.push(m),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let warnings = if settings.agic {
        super::agic::claim_paths(&mut built)
    } else {
        Vec::new()
    };
    let mut spec = assemble(group, &built, settings)?;
    if let Some(name) = settings.shared_gateway() {
        spec.attributes
            .insert(super::agic::GATEWAY_NAME.to_string(), name.to_string());
    }
    spec.validate().map_err(|e| {
        built
            .iter()
            .map(|m| MemberError {
                ingress: m.key.clone(),
                message: format!("{group}: {e}"),
            })
            .collect::<Vec<_>>()
    })?;
    Ok(BuiltGroup { spec, warnings })
}

/// One value the members must agree on: the agreed value, or an error on each member that
/// set it.
fn agree<T: Clone + PartialEq + std::fmt::Debug>(
    what: &str,
    members: &[Member],
    get: impl Fn(&Member) -> Option<&T>,
    errors: &mut Vec<MemberError>,
) -> Option<T> {
    let set: Vec<(&str, &T)> = members
        .iter()
        .filter_map(|m| get(m).map(|v| (m.key.as_str(), v)))
        .collect();
    let first = set.first()?;
    if set.iter().all(|(_, v)| *v == first.1) {
        return Some(first.1.clone());
    }
    let said: Vec<String> = set.iter().map(|(k, v)| format!("{k} says {v:?}")).collect();
    for (k, _) in &set {
        errors.push(MemberError {
            ingress: k.to_string(),
            message: format!(
                "{PREFIX}{what} differs within the group ({}); make them agree",
                said.join(", ")
            ),
        });
    }
    None
}

struct ListenerDraft {
    protocol: Protocol,
    certificates: Vec<CertificateRef>,
    ssl_policy: Option<(String, String)>,
    default_action: Option<(String, Action)>,
    rules: Vec<MemberRule>,
}

fn assemble(
    group: &GroupId,
    members: &[Member],
    settings: &IngressSettings,
) -> Result<LoadBalancerSpec, Vec<MemberError>> {
    let mut errors = Vec::new();
    let scheme = agree("scheme", members, |m| m.shared.scheme.as_ref(), &mut errors);
    let ip_type = agree(
        "ip-address-type",
        members,
        |m| m.shared.ip_address_type.as_ref(),
        &mut errors,
    );
    let subnets = agree(
        "subnets",
        members,
        |m| m.shared.subnets.as_ref(),
        &mut errors,
    );
    let subnet_tags = agree(
        "IngressClassParams subnets.tags",
        members,
        |m| m.shared.subnet_tags.as_ref(),
        &mut errors,
    );
    let security_groups = agree(
        "security-groups",
        members,
        |m| m.shared.security_groups.as_ref(),
        &mut errors,
    );
    let inbound = agree(
        "inbound-cidrs",
        members,
        |m| m.shared.inbound_cidrs.as_ref(),
        &mut errors,
    );
    let attributes = agree(
        "load-balancer-attributes",
        members,
        |m| m.shared.attributes.as_ref(),
        &mut errors,
    );
    let tags = agree("tags", members, |m| m.shared.tags.as_ref(), &mut errors);
    let ssl_redirect = agree(
        "ssl-redirect",
        members,
        |m| m.shared.ssl_redirect.as_ref(),
        &mut errors,
    );

    let mut listeners: BTreeMap<u16, ListenerDraft> = BTreeMap::new();
    for m in members {
        for (protocol, port) in &m.listen {
            let l = listeners.entry(*port).or_insert_with(|| ListenerDraft {
                protocol: *protocol,
                certificates: Vec::new(),
                ssl_policy: None,
                default_action: None,
                rules: Vec::new(),
            });
            if l.protocol != *protocol {
                errors.push(MemberError {
                    ingress: m.key.clone(),
                    message: format!(
                        "{PREFIX}listen-ports: port {port} is {protocol:?} here but {:?} in \
                         another Ingress of {group}",
                        l.protocol
                    ),
                });
                continue;
            }
            if *protocol == Protocol::Https {
                for c in &m.certificates {
                    if !l.certificates.contains(c) {
                        l.certificates.push(c.clone());
                    }
                }
                if let Some(p) = &m.ssl_policy {
                    match &l.ssl_policy {
                        Some((other, by)) if other != p => errors.push(MemberError {
                            ingress: m.key.clone(),
                            message: format!(
                                "{PREFIX}ssl-policy: {p:?} for port {port}, but {by} says \
                                 {other:?}; make them agree"
                            ),
                        }),
                        Some(_) => {}
                        None => l.ssl_policy = Some((p.clone(), m.key.clone())),
                    }
                }
            }
            if let Some(d) = &m.default_action {
                match &l.default_action {
                    Some((by, _)) => errors.push(MemberError {
                        ingress: m.key.clone(),
                        message: format!(
                            "spec.defaultBackend: port {port} of {group} already has the default \
                             backend of {by}; only one Ingress of a group may set one"
                        ),
                    }),
                    None => l.default_action = Some((m.key.clone(), d.clone())),
                }
            }
            l.rules.extend(m.rules.iter().cloned());
        }
    }
    if let Some(port) = ssl_redirect {
        let https = listeners
            .get(&port)
            .is_some_and(|l| l.protocol == Protocol::Https);
        if !https {
            for m in members.iter().filter(|m| m.shared.ssl_redirect.is_some()) {
                errors.push(MemberError {
                    ingress: m.key.clone(),
                    message: format!(
                        "{PREFIX}ssl-redirect: port {port} is not an HTTPS listen port of {group}"
                    ),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let not_found = Action::FixedResponse(FixedResponse {
        status_code: 404,
        content_type: Some("text/plain".into()),
        body: None,
    });
    let listeners: Vec<Listener> = listeners
        .into_iter()
        .map(|(port, l)| {
            let redirect = l.protocol == Protocol::Http && ssl_redirect.is_some();
            let (default_action, rules) = if let Some(to) = ssl_redirect.filter(|_| redirect) {
                let r = Action::Redirect(Redirect {
                    protocol: Some(Protocol::Https),
                    host: None,
                    port: Some(to),
                    path: None,
                    query: None,
                    status_code: 301,
                });
                (r, Vec::new())
            } else {
                let rules = l
                    .rules
                    .into_iter()
                    .zip(1u32..)
                    .map(|(r, priority)| Rule {
                        priority,
                        hosts: r.hosts,
                        paths: r.paths,
                        conditions: r.conditions,
                        action: r.action,
                    })
                    .collect();
                let default = l
                    .default_action
                    .map(|(_, a)| a)
                    .unwrap_or_else(|| not_found.clone());
                (default, rules)
            };
            let tls = l.protocol == Protocol::Https;
            Listener {
                port,
                protocol: l.protocol,
                certificates: if tls { l.certificates } else { Vec::new() },
                ssl_policy: tls.then(|| {
                    l.ssl_policy
                        .map(|(p, _)| p)
                        .unwrap_or_else(|| settings.default_ssl_policy.clone())
                }),
                default_action,
                rules,
            }
        })
        .collect();

    // Groups in first-use order; one Service port's group must mean one thing group-wide.
    let mut groups: Vec<BackendGroup> = Vec::new();
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for m in members {
        for g in &m.groups {
            match groups.iter().find(|x| x.key == g.key) {
                Some(existing) if existing != g => errors.push(MemberError {
                    ingress: m.key.clone(),
                    message: format!(
                        "backend {}: its target-group settings differ from those {} gives it \
                         (annotations on the Service apply to both)",
                        g.key, by_key[&g.key]
                    ),
                }),
                Some(_) => {}
                None => {
                    by_key.insert(g.key.clone(), m.key.clone());
                    groups.push(g.clone());
                }
            }
        }
    }
    // A group only a redirected listener referred to is not wanted.
    let spec_groups_used: BTreeSet<String> = listeners
        .iter()
        .flat_map(|l| std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action)))
        .filter_map(|a| match a {
            Action::Forward { groups } => Some(groups.iter().map(|g| g.group.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    groups.retain(|g| spec_groups_used.contains(&g.key));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(LoadBalancerSpec {
        owner: group.owner(&settings.cluster),
        kind: LoadBalancerKind::Application,
        scheme: scheme.unwrap_or_default(),
        ip_address_type: ip_type.unwrap_or_default(),
        listeners,
        groups,
        attributes: attributes.unwrap_or_default(),
        subnets: match (subnets, subnet_tags) {
            (Some(list), _) => Subnets::Explicit(list),
            (None, Some(tags)) => Subnets::Tagged(tags),
            (None, None) => Subnets::Discover,
        },
        security_groups: security_groups.unwrap_or_default(),
        source_ranges: inbound.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
    })
}
