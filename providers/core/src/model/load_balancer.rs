//! The provider-neutral load balancer: what a Service or an Ingress (group) asks the cloud
//! for, and what the cloud answers.
//!
//! The spec is the *desired model*: built from Kubernetes objects by pure functions in the
//! controllers, printed by `cloudnet plan`, compared in golden tests, and handed to
//! [`crate::LoadBalancers::ensure`] which makes the cloud match it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::ownership::Owner;

/// Layer 4 (NLB, GCE passthrough forwarding rules, Azure Load Balancer) or layer 7 (ALB,
/// GCLB URL maps, Azure Application Gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadBalancerKind {
    Network,
    Application,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    #[default]
    Internal,
    InternetFacing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IpAddressType {
    #[default]
    Ipv4,
    Dualstack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    Udp,
    #[serde(rename = "TCP_UDP")]
    TcpUdp,
    Tls,
}

impl Protocol {
    /// True for the protocols of an L7 listener.
    pub fn is_l7(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Https)
    }

    /// True when the listener terminates TLS and needs a certificate.
    pub fn needs_certificate(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

/// How the cloud reaches a backend group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetKind {
    /// Pod IPs directly (AWS `ip` targets, GCE NEGs `GCE_VM_IP_PORT`, Azure backend pool IPs).
    PodIp,
    /// Every node on the Service's node port (AWS `instance`, GCE instance groups, Azure NIC
    /// pools).
    NodePort,
}

/// A listener's certificate: a reference as the cloud names it (ACM ARN, GCE SSL certificate
/// name or self-link, Key Vault secret ID), or certificate material for the provider to upload
/// itself (a Kubernetes TLS Secret named in an Ingress's `spec.tls`).
///
/// Only a cloud that uploads certificates takes [`CertificateRef::Material`]
/// ([`crate::LoadBalancerCapabilities::check_uploading_certificates`]); everywhere else
/// [`crate::LoadBalancerCapabilities::check`] refuses it as `InvalidInput` naming the field.
/// Neither `Debug` nor the serialized form carries the private key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CertificateRef {
    /// The cloud's own reference.
    Named(String),
    /// A certificate chain and key to upload.
    Material(CertificateMaterial),
}

/// A certificate chain and its private key, PEM, and where they came from (`ns/name` of
/// the Secret).
///
/// Serialized, the key is left out (a spec printed or logged never shows it): read back, such
/// a material has an empty key, which [`crate::LoadBalancerSpec::validate`] refuses.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateMaterial {
    pub source: String,
    pub certificate: String,
    #[serde(skip_serializing, default)]
    pub private_key: String,
}

impl CertificateMaterial {
    /// The first `len` hex digits of SHA-256 over the certificate and the key: what a name
    /// derived from the content changes with.
    pub fn digest(&self, len: usize) -> String {
        crate::ownership::short_hash(&[&self.certificate, &self.private_key], len)
    }
}

impl std::fmt::Debug for CertificateMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateMaterial")
            .field("source", &self.source)
            .field("digest", &self.digest(12))
            .finish_non_exhaustive()
    }
}

impl CertificateRef {
    /// A reference by the cloud's name.
    pub fn named(name: impl Into<String>) -> Self {
        CertificateRef::Named(name.into())
    }

    /// The cloud's name of the certificate; None for material.
    pub fn name(&self) -> Option<&str> {
        match self {
            CertificateRef::Named(n) => Some(n),
            CertificateRef::Material(_) => None,
        }
    }

    /// The material this reference carries; None for a reference by the cloud's name.
    pub fn as_material(&self) -> Option<&CertificateMaterial> {
        match self {
            CertificateRef::Named(_) => None,
            CertificateRef::Material(m) => Some(m),
        }
    }
}

impl std::fmt::Debug for CertificateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateRef::Named(n) => write!(f, "CertificateRef({n:?})"),
            CertificateRef::Material(m) => write!(f, "CertificateRef({m:?})"),
        }
    }
}

/// A path match of an L7 rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "value")]
pub enum PathMatch {
    /// The path is exactly this.
    Exact(String),
    /// The path is this or below it, by `/`-separated elements (Kubernetes `Prefix`).
    Prefix(String),
    /// A pattern with `*` (any characters) and `?` (one character) wildcards, matched against
    /// the whole path (Kubernetes `ImplementationSpecific`, read as the AWS Load Balancer
    /// Controller reads it).
    Pattern(String),
}

/// A condition of an L7 rule besides its hosts and paths; all of a rule's conditions must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "field")]
pub enum RuleCondition {
    /// The header has any of the values (`*` and `?` wildcards allowed).
    HttpHeader { name: String, values: Vec<String> },
    /// The request method is any of these (`GET`, `POST`, ...).
    HttpRequestMethod { values: Vec<String> },
    /// The query string has any of these pairs (a pair without a key matches any key).
    QueryString { values: Vec<QueryPair> },
    /// The client's address is in any of these ranges.
    SourceIp { values: Vec<ipnet::IpNet> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPair {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// What a rule (or a listener's default) does with a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Action {
    /// Send to backend groups; more than one with weights splits traffic.
    Forward {
        groups: Vec<WeightedGroup>,
    },
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedGroup {
    /// The [`BackendGroup::key`] of the group.
    pub group: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

impl Action {
    /// Everything to one backend group (weight 1).
    pub fn forward_to(group: impl Into<String>) -> Action {
        Action::Forward {
            groups: vec![WeightedGroup {
                group: group.into(),
                weight: 1,
            }],
        }
    }

    /// A permanent redirect (301) to HTTPS on port 443, host, path and query kept: what an
    /// HTTP listener answers when its Ingress asks for HTTPS only.
    pub fn redirect_to_https() -> Action {
        Action::Redirect(Redirect {
            protocol: Some(Protocol::Https),
            host: None,
            port: Some(443),
            path: None,
            query: None,
            status_code: 301,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// 301 or 302.
    pub status_code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedResponse {
    pub status_code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// One L7 rule: conditions (all must hold) and the action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Lower runs first. Unique per listener.
    pub priority: u32,
    /// Host names, any of which matches (`*.example.com` allowed). Empty: any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Paths, any of which matches. Empty: any path.
    #[serde(default)]
    pub paths: Vec<PathMatch>,
    /// Further conditions (headers, method, query string, source address), all of which must
    /// hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RuleCondition>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub port: u16,
    pub protocol: Protocol,
    /// TLS certificates; the first is the default.
    #[serde(default)]
    pub certificates: Vec<CertificateRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    /// What happens when no rule matches (for L4, the only action).
    pub default_action: Action,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl Listener {
    /// A listener without certificates, on the cloud's default TLS policy, and without rules:
    /// every request takes `default_action`.
    pub fn new(port: u16, protocol: Protocol, default_action: Action) -> Listener {
        Listener {
            port,
            protocol,
            certificates: Vec::new(),
            ssl_policy: None,
            default_action,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", tag = "type", content = "port")]
pub enum HealthCheckPort {
    /// The port traffic goes to.
    #[default]
    TrafficPort,
    Port(u16),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub protocol: Protocol,
    #[serde(default)]
    pub port: HealthCheckPort,
    /// For HTTP(S) checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// HTTP codes counted as healthy (`200`, `200-399`), for HTTP(S) checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_codes: Option<String>,
}

impl HealthCheck {
    /// The AWS Load Balancer Controller's defaults for a protocol.
    pub fn defaults_for(protocol: Protocol) -> HealthCheck {
        let l7 = protocol.is_l7();
        HealthCheck {
            protocol: if l7 { protocol } else { Protocol::Tcp },
            port: HealthCheckPort::TrafficPort,
            path: l7.then(|| "/".to_string()),
            interval_seconds: if l7 { 15 } else { 10 },
            timeout_seconds: if l7 { 5 } else { 10 },
            healthy_threshold: if l7 { 2 } else { 3 },
            unhealthy_threshold: if l7 { 2 } else { 3 },
            success_codes: l7.then(|| "200".to_string()),
        }
    }
}

/// A set of targets one action sends to: a Service port's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendGroup {
    /// Stable within the spec (e.g. `default/web:80`): rules refer to groups by it, and the
    /// cloud resource's name and tags are derived from it.
    pub key: String,
    pub protocol: Protocol,
    /// The port on the targets (the pod's port, or the node port).
    pub port: u16,
    pub target_kind: TargetKind,
    pub health_check: HealthCheck,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl BackendGroup {
    /// A group with the protocol's default health check ([`HealthCheck::defaults_for`]) and
    /// no attributes.
    pub fn new(
        key: impl Into<String>,
        protocol: Protocol,
        port: u16,
        target_kind: TargetKind,
    ) -> BackendGroup {
        BackendGroup {
            key: key.into(),
            protocol,
            port,
            target_kind,
            health_check: HealthCheck::defaults_for(protocol),
            attributes: BTreeMap::new(),
        }
    }
}

/// Where the load balancer lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "ids")]
pub enum Subnets {
    /// Named by the user (annotation).
    Explicit(Vec<String>),
    /// Found by the cloud's role tags for the scheme, one per zone.
    Discover,
    /// The subnets whose tags match: every key present with one of its values (the AWS Load
    /// Balancer Controller's IngressClassParams `subnets.tags`), one per zone.
    Tagged(std::collections::BTreeMap<String, Vec<String>>),
}

/// Everything one load balancer should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    /// Who asked: the cluster and the Service, Ingress or IngressGroup.
    pub owner: Owner,
    pub kind: LoadBalancerKind,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub ip_address_type: IpAddressType,
    pub listeners: Vec<Listener>,
    pub groups: Vec<BackendGroup>,
    /// Load balancer attributes by the cloud's own keys (`idle_timeout.timeout_seconds`, ...).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub subnets: Subnets,
    /// Extra security groups the user named; the provider adds its managed one where the
    /// cloud uses them.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Client CIDRs allowed in (empty: everyone for internet-facing, the VPC for internal).
    #[serde(default)]
    pub source_ranges: Vec<ipnet::IpNet>,
    /// User tags, on top of the ownership tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl LoadBalancerSpec {
    /// An internet-facing IPv4 load balancer of `owner` in the subnets the cloud's role tags
    /// name, with the cloud's default attributes, no extra security groups, no source ranges
    /// (everyone) and no user tags.
    pub fn new(
        owner: Owner,
        kind: LoadBalancerKind,
        listeners: Vec<Listener>,
        groups: Vec<BackendGroup>,
    ) -> LoadBalancerSpec {
        LoadBalancerSpec {
            owner,
            kind,
            scheme: Scheme::InternetFacing,
            ip_address_type: IpAddressType::Ipv4,
            listeners,
            groups,
            attributes: BTreeMap::new(),
            subnets: Subnets::Discover,
            security_groups: Vec::new(),
            source_ranges: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    pub fn group(&self, key: &str) -> Option<&BackendGroup> {
        self.groups.iter().find(|g| g.key == key)
    }

    /// Every group key an action of this spec refers to, in order, once each.
    pub fn referenced_groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let actions = self.listeners.iter().flat_map(|l| {
            std::iter::once(&l.default_action).chain(l.rules.iter().map(|r| &r.action))
        });
        for action in actions {
            if let Action::Forward { groups } = action {
                for g in groups {
                    if !out.contains(&g.group.as_str()) {
                        out.push(&g.group);
                    }
                }
            }
        }
        out
    }

    /// Checks what holds for every cloud: unique listener ports, unique rule priorities,
    /// defined groups, certificates on TLS listeners, L7 rules only on L7 listeners.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        if let Subnets::Tagged(tags) = &self.subnets {
            if tags.is_empty() {
                return Err(Error::invalid("subnets by tags need at least one tag"));
            }
            if let Some((key, _)) = tags.iter().find(|(k, v)| k.is_empty() || v.is_empty()) {
                return Err(Error::invalid(format!(
                    "subnets by tags: tag {key:?} needs a key and at least one value"
                )));
            }
        }
        if self.listeners.is_empty() {
            return Err(Error::invalid(
                "a load balancer needs at least one listener",
            ));
        }
        let mut ports = std::collections::BTreeSet::new();
        for l in &self.listeners {
            if !ports.insert((l.port, l.protocol == Protocol::Udp)) {
                return Err(Error::invalid(format!(
                    "listener port {} is used twice",
                    l.port
                )));
            }
            for m in l
                .certificates
                .iter()
                .filter_map(CertificateRef::as_material)
            {
                if m.certificate.trim().is_empty() || m.private_key.trim().is_empty() {
                    return Err(Error::invalid(format!(
                        "listener {}: certificates: the material of {} needs a certificate and a private key",
                        l.port, m.source
                    )));
                }
            }
            if l.protocol.needs_certificate() && l.certificates.is_empty() {
                return Err(Error::invalid(format!(
                    "listener {} ({:?}) needs a TLS certificate",
                    l.port, l.protocol
                )));
            }
            if self.kind == LoadBalancerKind::Network && l.protocol.is_l7() {
                return Err(Error::invalid(format!(
                    "listener {}: {:?} needs an application load balancer",
                    l.port, l.protocol
                )));
            }
            if self.kind == LoadBalancerKind::Application && !l.protocol.is_l7() {
                return Err(Error::invalid(format!(
                    "listener {}: {:?} needs a network load balancer",
                    l.port, l.protocol
                )));
            }
            if !l.rules.is_empty() && !l.protocol.is_l7() {
                return Err(Error::invalid(format!(
                    "listener {}: rules need an HTTP or HTTPS listener",
                    l.port
                )));
            }
            let mut prios = std::collections::BTreeSet::new();
            for r in &l.rules {
                if !prios.insert(r.priority) {
                    return Err(Error::invalid(format!(
                        "listener {}: rule priority {} is used twice",
                        l.port, r.priority
                    )));
                }
            }
        }
        for key in self.referenced_groups() {
            if self.group(key).is_none() {
                return Err(Error::invalid(format!(
                    "backend group {key} is not defined"
                )));
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for g in &self.groups {
            if !keys.insert(&g.key) {
                return Err(Error::invalid(format!(
                    "backend group {} is defined twice",
                    g.key
                )));
            }
        }
        Ok(())
    }
}

/// The cloud's ID of a load balancer stack (AWS LB ARN, GCE forwarding rule / URL map name,
/// Azure LB or Application Gateway resource ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LoadBalancerId(pub String);

/// One member of a backend group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub ip: IpAddr,
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HealthState {
    /// Registered, first checks not done yet.
    Initial,
    Healthy,
    Unhealthy,
    /// Deregistered; connections drain.
    Draining,
    /// Registered but no listener or rule sends to the group.
    Unused,
    /// The cloud cannot tell.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    pub target: Target,
    pub state: HealthState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A backend group as the cloud has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    pub key: String,
    /// The cloud's ID (target group ARN, NEG / backend service, backend pool ID).
    pub id: String,
    pub targets: Vec<TargetHealth>,
}

/// What `ensure` answers: where clients reach the load balancer, and its groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    pub id: LoadBalancerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    pub groups: Vec<GroupStatus>,
}

/// A target group created outside the suite (by Terraform, a console, another stack) that a
/// binding fills with members: the suite registers and deregisters its own targets in it and
/// never creates, modifies or deletes the group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundGroup {
    /// The cloud's ID of the group (a target group ARN on AWS).
    pub id: String,
    /// What its members are; the group must take this kind.
    pub target_kind: TargetKind,
}

/// What `sync_targets` did and what the cloud now says of the group's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetSync {
    pub registered: u32,
    pub deregistered: u32,
    pub health: Vec<TargetHealth>,
}

/// A load balancer this cluster owns, found by its ownership tags or names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedLoadBalancer {
    pub id: LoadBalancerId,
    pub owner: Owner,
    pub kind: LoadBalancerKind,
}
