//! [`cloudnet_core::LoadBalancers`] for Services (L4) on a Standard Load Balancer, one per
//! Service: a frontend (a Standard static public IP for `internet-facing`, the node subnet
//! for `internal`), one backend pool per group (members by IP in the cluster's VNet), one
//! rule and one probe per listener port.
//!
//! ```text
//!  ensure(spec) ─> observe: GET public IP (internet-facing), GET load balancer
//!              ─> desired(spec, observed pools' members)       (pure)
//!              ─> diff(observed, desired) -> ChangeSet          (pure)
//!              ─> apply: PUT public IP if missing; PUT load balancer (If-Match) if it differs
//!              ─> the allow rules on the cluster's NSG (security_group): GET NSG,
//!                 plan (security_rules, pure), PUT NSG (If-Match) if the Service's differ
//! ```
//!
//! A Standard Load Balancer is closed until an NSG rule lets its clients in: each Service
//! gets its own allow rules (`<load balancer>-TCP`, `-UDP`) on the NSG of the node subnet or
//! `AZURE_SECURITY_GROUP_NAME`, removed on delete; [`security_rules`] says which and why.
//!
//! Pool members are the hot path's ([`LoadBalancers::sync_targets`]): `ensure` keeps the
//! members it reads. `Application` specs (Ingresses) become Application Gateways
//! ([`appgw`]); the trait's other methods go there when the ID names a gateway. Azure keeps no per-member health in ARM
//! (it is a metric), so members report `Unavailable`. Groups the suite does not own
//! (`sync_bound_targets`) are not supported on Azure yet.

use std::sync::Arc;

use async_trait::async_trait;
use azure_mgmt_network::Client;
use azure_mgmt_network::models::{
    BackendAddressPool, BackendAddressPoolPropertiesFormat, FrontendIpConfiguration,
    FrontendIpConfigurationPropertiesFormat, IpAllocationMethod, LoadBalancer,
    LoadBalancerBackendAddress, LoadBalancerBackendAddressPropertiesFormat,
    LoadBalancerPropertiesFormat, LoadBalancerSku, LoadBalancingRule,
    LoadBalancingRulePropertiesFormat, Probe, ProbePropertiesFormat, PublicIpAddress, Resource,
    SubResource, Subnet, TransportProtocol, load_balancer_sku, probe_properties_format,
};
use cloudnet_core::{
    Action, BoundGroup, Error, GroupStatus, HealthState, LoadBalancerCapabilities, LoadBalancerId,
    LoadBalancerKind, LoadBalancerSpec, LoadBalancerStatus, LoadBalancers, NameRules,
    OwnedLoadBalancer, Owner, Protocol, Result, Scheme, Target, TargetHealth, TargetKind,
    TargetSync, derive_name,
};
use futures::StreamExt;
use serde_json::json;

use crate::call::with_if_match;

pub mod appgw;
pub mod diff;
mod public_ip;
pub mod security_group;
pub mod security_rules;
use crate::config::AzureConfig;
use crate::error::{from_azure, gone_is_done};
use diff::tags_of;
pub use diff::{ChangeSet, PublicIpSeen, diff, projection};

/// Spec attributes read by the Azure provider, named as cloud-provider-azure's Service
/// annotations (a controller passes them through in [`LoadBalancerSpec::attributes`]).
pub mod attributes {
    /// A subnet of the cluster's VNet for the internal frontend (default: the node subnet).
    pub const INTERNAL_SUBNET: &str =
        "service.beta.kubernetes.io/azure-load-balancer-internal-subnet";
    /// The probes' request path (makes them HTTP unless the protocol says otherwise).
    pub const PROBE_REQUEST_PATH: &str =
        "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path";
    /// `tcp`, `http` or `https`.
    pub const PROBE_PROTOCOL: &str =
        "service.beta.kubernetes.io/azure-load-balancer-health-probe-protocol";
    /// The public IP's name: an existing one (the user's is used, never changed or
    /// deleted) or one the suite creates (default `<load balancer>-pip`).
    pub const PIP_NAME: &str = "service.beta.kubernetes.io/azure-pip-name";
    /// The DNS label of the public IP the suite creates.
    pub const DNS_LABEL_NAME: &str = "service.beta.kubernetes.io/azure-dns-label-name";
    /// Minutes, 4 to 100.
    pub const TCP_IDLE_TIMEOUT: &str =
        "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout";
}

/// The frontend's name in every load balancer the suite makes.
const FRONTEND: &str = "frontend";

/// Standard Load Balancers for one cluster.
#[derive(Clone)]
pub struct AzureLoadBalancers {
    client: Client,
    cfg: Arc<AzureConfig>,
    /// The application gateways' dedicated subnet when a spec names none.
    gateway_subnet: String,
    /// The node subnet's NSG once read (`Some(None)`: it has none).
    nsg: Arc<tokio::sync::Mutex<Option<Option<security_group::SecurityGroupRef>>>>,
    /// Lowercased `<resource group>/<NSG>` -> the lock its read-modify-write PUTs take.
    nsg_writes: NsgLocks,
}

type NsgLocks =
    Arc<std::sync::Mutex<std::collections::BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// A backend group's pool name (in a load balancer or an application gateway).
pub(crate) fn pool_name(key: &str) -> String {
    format!("pool-{}", cloudnet_core::ownership::short_hash(&[key], 12))
}

/// A pool sync's change: the wanted addresses (sorted, once each) against the pool's.
pub(crate) struct MemberDelta {
    pub want: Vec<std::net::IpAddr>,
    pub registered: usize,
    pub deregistered: usize,
}

impl MemberDelta {
    pub fn new(targets: &[Target], have: &[std::net::IpAddr]) -> MemberDelta {
        let mut want: Vec<std::net::IpAddr> = targets.iter().map(|t| t.ip).collect();
        want.sort();
        want.dedup();
        MemberDelta {
            registered: want.iter().filter(|ip| !have.contains(ip)).count(),
            deregistered: have.iter().filter(|ip| !want.contains(ip)).count(),
            want,
        }
    }

    pub fn changes(&self) -> bool {
        self.registered + self.deregistered > 0
    }

    /// The sync's result with the members' health.
    pub fn result(&self, health: Vec<TargetHealth>) -> TargetSync {
        TargetSync {
            registered: u32::try_from(self.registered).unwrap_or(u32::MAX),
            deregistered: u32::try_from(self.deregistered).unwrap_or(u32::MAX),
            health,
        }
    }
}

/// The pool named `pool` of a load balancer's or gateway's pools, for writing.
pub(crate) fn pool_mut<'a, P>(
    pools: Option<&'a mut Vec<P>>,
    name_of: impl Fn(&P) -> Option<&str>,
    pool: &str,
    group: &str,
) -> Result<&'a mut P> {
    pools
        .and_then(|ps| ps.iter_mut().find(|b| name_of(b) == Some(pool)))
        .ok_or_else(|| Error::NotFound {
            code: "TargetGroupNotFound".into(),
            message: format!("no backend pool for group {group}"),
        })
}

pub(crate) fn sub(id: String) -> Option<SubResource> {
    Some(SubResource { id: Some(id) })
}

/// The public IP's name for a spec: the annotation's or `<load balancer>-pip`.
fn pip_name(spec: &LoadBalancerSpec, lb_name: &str) -> String {
    spec.attributes
        .get(attributes::PIP_NAME)
        .cloned()
        .unwrap_or_else(|| format!("{lb_name}-pip"))
}

/// The group each listener forwards to (an L4 listener forwards to exactly one).
pub(crate) fn forward_group(action: &Action) -> Result<&str> {
    match action {
        Action::Forward { groups } if groups.len() == 1 => Ok(&groups[0].group),
        _ => Err(Error::invalid(
            "an Azure load balancer rule forwards to exactly one backend group",
        )),
    }
}

impl AzureLoadBalancers {
    pub fn new(client: Client, cfg: Arc<AzureConfig>) -> AzureLoadBalancers {
        AzureLoadBalancers {
            client,
            cfg,
            gateway_subnet: appgw::DEFAULT_SUBNET.into(),
            nsg: Arc::default(),
            nsg_writes: Arc::default(),
        }
    }

    /// The application gateways' dedicated subnet (a name in the cluster's VNet, or an ID).
    pub fn with_gateway_subnet(mut self, subnet: &str) -> AzureLoadBalancers {
        self.gateway_subnet = subnet.to_string();
        self
    }

    /// The load balancer's name: `k8s-<namespace>-<name>-<hash>`.
    pub fn name(&self, owner: &Owner) -> String {
        derive_name(NameRules::Azure, owner, &["lb"])
    }

    fn lb_id(&self, name: &str) -> String {
        self.cfg.network_id(&format!("loadBalancers/{name}"))
    }

    /// The load balancer the spec describes, keeping the members of pools that exist.
    pub fn desired(
        &self,
        spec: &LoadBalancerSpec,
        observed: Option<&LoadBalancer>,
    ) -> Result<LoadBalancer> {
        let name = self.name(&spec.owner);
        let id = self.lb_id(&name);
        let child = |kind: &str, n: &str| format!("{id}/{kind}/{n}");
        let mut tags = spec.tags.clone();
        tags.extend(spec.owner.tags());
        let frontend =
            match spec.scheme {
                Scheme::InternetFacing => FrontendIpConfigurationPropertiesFormat {
                    public_ip_address: Some(PublicIpAddress {
                        resource: Resource {
                            id: Some(self.cfg.network_id(&format!(
                                "publicIPAddresses/{}",
                                pip_name(spec, &name)
                            ))),
                            ..Default::default()
                        },
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Scheme::Internal => FrontendIpConfigurationPropertiesFormat {
                    subnet: Some(Subnet {
                        sub_resource: SubResource {
                            id: Some(match spec.attributes.get(attributes::INTERNAL_SUBNET) {
                                Some(subnet) => self.cfg.network_id(&format!(
                                    "virtualNetworks/{}/subnets/{subnet}",
                                    self.cfg.vnet
                                )),
                                None => self.cfg.subnet_id(),
                            }),
                        },
                        ..Default::default()
                    }),
                    private_ip_allocation_method: Some(IpAllocationMethod::Dynamic),
                    ..Default::default()
                },
            };
        let members = |pool: &str| -> Vec<LoadBalancerBackendAddress> {
            observed
                .and_then(|lb| lb.properties.as_ref())
                .and_then(|p| {
                    p.backend_address_pools
                        .iter()
                        .find(|b| b.name.as_deref() == Some(pool))
                })
                .and_then(|b| b.properties.as_ref())
                .map(|p| p.load_balancer_backend_addresses.clone())
                .unwrap_or_default()
        };
        let pools = spec
            .groups
            .iter()
            .map(|g| {
                let n = pool_name(&g.key);
                BackendAddressPool {
                    name: Some(n.clone()),
                    properties: Some(BackendAddressPoolPropertiesFormat {
                        load_balancer_backend_addresses: members(&n),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .collect();
        let mut rules = Vec::new();
        let mut probes = Vec::new();
        for l in &spec.listeners {
            let key = forward_group(&l.default_action)?;
            let g = spec
                .group(key)
                .ok_or_else(|| Error::invalid(format!("no backend group {key}")))?;
            let protocol = match l.protocol {
                Protocol::Tcp => TransportProtocol::Tcp,
                Protocol::Udp => TransportProtocol::Udp,
                Protocol::TcpUdp => TransportProtocol::All,
                other => {
                    return Err(Error::invalid(format!(
                        "{other:?} listeners need an Application Gateway, which is not built"
                    )));
                }
            };
            let suffix = format!("{:?}-{}", l.protocol, l.port).to_lowercase();
            let probe_name = format!("probe-{suffix}");
            let hc = &g.health_check;
            let probe_port = match hc.port {
                cloudnet_core::HealthCheckPort::TrafficPort => g.port,
                cloudnet_core::HealthCheckPort::Port(p) => p,
            };
            let path = spec
                .attributes
                .get(attributes::PROBE_REQUEST_PATH)
                .cloned()
                .or_else(|| hc.path.clone());
            let asked = spec
                .attributes
                .get(attributes::PROBE_PROTOCOL)
                .map(|p| p.to_ascii_lowercase());
            let probe_protocol = match (asked.as_deref(), hc.protocol, &path) {
                (Some("tcp"), ..) => probe_properties_format::Protocol::Tcp,
                (Some("http"), ..) => probe_properties_format::Protocol::Http,
                (Some("https"), ..) => probe_properties_format::Protocol::Https,
                (Some(other), ..) => {
                    return Err(Error::invalid(format!(
                        "{}: {other:?} is not tcp, http or https",
                        attributes::PROBE_PROTOCOL
                    )));
                }
                (None, Protocol::Https, _) => probe_properties_format::Protocol::Https,
                (None, Protocol::Http, _) | (None, _, Some(_)) => {
                    probe_properties_format::Protocol::Http
                }
                (None, ..) => probe_properties_format::Protocol::Tcp,
            };
            let path = match probe_protocol {
                probe_properties_format::Protocol::Tcp => None,
                _ => Some(path.unwrap_or_else(|| "/".into())),
            };
            probes.push(Probe {
                name: Some(probe_name.clone()),
                properties: Some(ProbePropertiesFormat {
                    interval_in_seconds: Some(i32::try_from(hc.interval_seconds).unwrap_or(5)),
                    number_of_probes: Some(i32::try_from(hc.unhealthy_threshold).unwrap_or(2)),
                    request_path: path,
                    ..ProbePropertiesFormat::new(probe_protocol, i32::from(probe_port))
                }),
                ..Default::default()
            });
            let idle = match spec.attributes.get(attributes::TCP_IDLE_TIMEOUT) {
                None => None,
                Some(v) => match v.trim().parse::<i32>() {
                    Ok(m) if (4..=100).contains(&m) => Some(m),
                    _ => {
                        return Err(Error::invalid(format!(
                            "{}: {v:?} is not a number of minutes from 4 to 100",
                            attributes::TCP_IDLE_TIMEOUT
                        )));
                    }
                },
            };
            rules.push(LoadBalancingRule {
                name: Some(format!("rule-{suffix}")),
                properties: Some(LoadBalancingRulePropertiesFormat {
                    frontend_ip_configuration: sub(child("frontendIPConfigurations", FRONTEND)),
                    backend_address_pool: sub(child("backendAddressPools", &pool_name(&g.key))),
                    probe: sub(child("probes", &probe_name)),
                    backend_port: Some(i32::from(g.port)),
                    idle_timeout_in_minutes: idle,
                    enable_floating_ip: Some(false),
                    ..LoadBalancingRulePropertiesFormat::new(protocol, i32::from(l.port))
                }),
                ..Default::default()
            });
        }
        Ok(LoadBalancer {
            resource: Resource {
                name: Some(name),
                location: Some(self.cfg.location.clone()),
                tags: Some(json!(tags)),
                ..Default::default()
            },
            sku: Some(LoadBalancerSku {
                name: Some(load_balancer_sku::Name::Standard),
                tier: Some(load_balancer_sku::Tier::Regional),
            }),
            properties: Some(LoadBalancerPropertiesFormat {
                frontend_ip_configurations: vec![FrontendIpConfiguration {
                    name: Some(FRONTEND.into()),
                    properties: Some(frontend),
                    ..Default::default()
                }],
                backend_address_pools: pools,
                load_balancing_rules: rules,
                probes,
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

impl AzureLoadBalancers {
    async fn get_lb(&self, name: &str) -> Result<Option<LoadBalancer>> {
        found(
            self.client
                .load_balancers_client()
                .get(&self.cfg.resource_group, name, &self.cfg.subscription)
                .await,
        )
    }

    /// Refuses what does not carry this cluster's tags (`what` and `name` say which).
    pub(crate) fn check_ours(
        &self,
        tags: &Option<serde_json::Value>,
        what: &str,
        name: &str,
    ) -> Result<()> {
        if Owner::cluster_owns(&self.cfg.cluster, &tags_of(tags)) {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "{what} {name} is not this cluster's"
            )))
        }
    }

    /// The resource as an owned load balancer when it carries this cluster's tags.
    pub(crate) fn owned(&self, r: &Resource, kind: LoadBalancerKind) -> Option<OwnedLoadBalancer> {
        let owner =
            Owner::from_tags(&tags_of(&r.tags)).filter(|o| o.cluster == self.cfg.cluster)?;
        Some(OwnedLoadBalancer {
            id: LoadBalancerId(r.id.clone().unwrap_or_default()),
            owner,
            kind,
        })
    }

    async fn put_lb(&self, lb: LoadBalancer, etag: Option<String>) -> Result<LoadBalancer> {
        let name = lb.resource.name.clone().unwrap_or_default();
        with_if_match(
            etag,
            self.client.load_balancers_client().create_or_update(
                &self.cfg.resource_group,
                &name,
                lb,
                &self.cfg.subscription,
            ),
        )
        .await
        .map_err(|e| from_azure(&e))
    }

    fn status(
        &self,
        spec_groups: &[(String, String)],
        lb: &LoadBalancer,
        pip: Option<&PublicIpAddress>,
    ) -> LoadBalancerStatus {
        let p = lb.properties.clone().unwrap_or_default();
        let mut ips: Vec<std::net::IpAddr> = pip
            .and_then(|p| p.properties.as_ref())
            .and_then(|p| p.ip_address.as_deref())
            .and_then(|a| a.parse().ok())
            .into_iter()
            .collect();
        ips.extend(p.frontend_ip_configurations.iter().filter_map(|f| {
            f.properties
                .as_ref()?
                .private_ip_address
                .as_deref()?
                .parse::<std::net::IpAddr>()
                .ok()
        }));
        let id = lb.resource.id.clone().unwrap_or_default();
        LoadBalancerStatus {
            id: LoadBalancerId(id.clone()),
            dns_name: None,
            ips,
            groups: spec_groups
                .iter()
                .map(|(key, pool)| GroupStatus {
                    key: key.clone(),
                    id: format!("{id}/backendAddressPools/{pool}"),
                    targets: members_of(lb, pool)
                        .into_iter()
                        .map(|ip| TargetHealth {
                            target: Target { ip, port: 0 },
                            state: HealthState::Unavailable,
                            reason: Some("Azure reports backend health as a metric".into()),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// `(resource group, lb name, pool name)` of a pool ID.
    fn pool_parts(id: &str) -> Result<(String, String, String)> {
        let s: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
        match s.as_slice() {
            [_, _, _, rg, _, _, lbs, lb, pools, pool]
                if lbs.eq_ignore_ascii_case("loadBalancers")
                    && pools.eq_ignore_ascii_case("backendAddressPools") =>
            {
                Ok(((*rg).into(), (*lb).into(), (*pool).into()))
            }
            _ => Err(Error::NotFound {
                code: "TargetGroupNotFound".into(),
                message: format!("not a backend pool ID: {id}"),
            }),
        }
    }
}

/// A read whose resource may be missing: `NotFound` is `None`.
pub(crate) fn found<T>(got: azure_core::Result<T>) -> Result<Option<T>> {
    match got.map_err(|e| from_azure(&e)) {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn members_of(lb: &LoadBalancer, pool: &str) -> Vec<std::net::IpAddr> {
    lb.properties
        .as_ref()
        .and_then(|p| {
            p.backend_address_pools
                .iter()
                .find(|b| b.name.as_deref() == Some(pool))
        })
        .and_then(|b| b.properties.as_ref())
        .map(|p| {
            p.load_balancer_backend_addresses
                .iter()
                .filter_map(|a| a.properties.as_ref()?.ip_address.as_deref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl LoadBalancers for AzureLoadBalancers {
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
            ],
            weighted_forward: false,
            // Application Gateway redirect configurations.
            redirect: true,
            // Only as a listener's default 404 (an empty pool); elsewhere refused by the
            // gateway's desired model.
            fixed_response: true,
            // Path rules per URL path map.
            max_rules_per_listener: 100,
            max_targets_per_group: 1000,
            max_listeners: 250,
        }
    }

    async fn ensure(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
        self.capabilities().check(spec)?;
        if spec.kind == LoadBalancerKind::Application {
            return self.ensure_gateway(spec).await;
        }
        let name = self.name(&spec.owner);
        let pip_name = pip_name(spec, &name);
        let want_label = spec.attributes.get(attributes::DNS_LABEL_NAME).cloned();
        let public = spec.scheme == Scheme::InternetFacing;
        // Observe.
        let mut pip = if public {
            self.get_pip(&pip_name).await?
        } else {
            None
        };
        let observed = self.get_lb(&name).await?;
        if let Some(o) = &observed
            && !spec.owner.owns(&tags_of(&o.resource.tags))
        {
            return Err(Error::Conflict {
                code: "LoadBalancerNotOwned".into(),
                message: format!("load balancer {name} exists and is not this Service's"),
            });
        }
        // Decide.
        let desired = self.desired(spec, observed.as_ref())?;
        let rules = security_rules::wanted(spec, &name)?;
        let seen = self.public_ip_seen(pip.as_ref(), want_label.as_deref());
        let changes = diff(observed.as_ref(), &desired, public, seen);
        // Apply.
        if changes.put_public_ip {
            pip = Some(self.put_public_ip(spec, &pip_name, want_label).await?);
        }
        let lb = if changes.put_load_balancer {
            let etag = observed.as_ref().and_then(|o| o.etag.clone());
            self.put_lb(desired, etag).await?
        } else {
            observed.unwrap_or(desired)
        };
        // The allow rules once the load balancer exists (nothing reaches it before).
        self.sync_security_rules(&name, &rules).await?;
        let groups: Vec<(String, String)> = spec
            .groups
            .iter()
            .map(|g| (g.key.clone(), pool_name(&g.key)))
            .collect();
        Ok(self.status(&groups, &lb, pip.as_ref()))
    }

    async fn sync_targets(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        if appgw::is_gateway(&lb.0) {
            return self.gateway_sync_targets(lb, group, targets).await;
        }
        let pool = pool_name(group);
        let (_, name, _) = Self::pool_parts(&format!("{}/backendAddressPools/{pool}", lb.0))?;
        let mut current = self.get_lb(&name).await?.ok_or_else(|| Error::NotFound {
            code: "ResourceNotFound".into(),
            message: format!("load balancer {name}"),
        })?;
        let delta = MemberDelta::new(targets, &members_of(&current, &pool));
        if delta.changes() {
            let vnet = self
                .cfg
                .network_id(&format!("virtualNetworks/{}", self.cfg.vnet));
            let b = pool_mut(
                current
                    .properties
                    .as_mut()
                    .map(|p| &mut p.backend_address_pools),
                |b| b.name.as_deref(),
                &pool,
                group,
            )?;
            b.properties
                .get_or_insert_with(Default::default)
                .load_balancer_backend_addresses = delta
                .want
                .iter()
                .map(|ip| LoadBalancerBackendAddress {
                    name: Some(format!("ip-{ip}")),
                    properties: Some(LoadBalancerBackendAddressPropertiesFormat {
                        ip_address: Some(ip.to_string()),
                        virtual_network: sub(vnet.clone()),
                        ..Default::default()
                    }),
                })
                .collect();
            let etag = current.etag.clone();
            current = self.put_lb(current, etag).await?;
        }
        let health = members_of(&current, &pool)
            .into_iter()
            .map(|ip| TargetHealth {
                target: Target {
                    ip,
                    port: targets.iter().find(|t| t.ip == ip).map_or(0, |t| t.port),
                },
                state: HealthState::Unavailable,
                reason: Some("Azure reports backend health as a metric".into()),
            })
            .collect();
        Ok(delta.result(health))
    }

    async fn sync_bound_targets(
        &self,
        _: &BoundGroup,
        _: &[Target],
        _: &[Target],
    ) -> Result<TargetSync> {
        Err(Error::InvalidInput {
            code: "NotSupported".into(),
            message: "binding to backend pools the suite does not own is not built for Azure"
                .into(),
        })
    }

    async fn target_health(&self, group_id: &str) -> Result<Vec<TargetHealth>> {
        if appgw::is_gateway(group_id) {
            return self.gateway_target_health(group_id).await;
        }
        let (_, name, pool) = Self::pool_parts(group_id)?;
        let lb = self.get_lb(&name).await?.ok_or_else(|| Error::NotFound {
            code: "TargetGroupNotFound".into(),
            message: format!("load balancer {name}"),
        })?;
        Ok(members_of(&lb, &pool)
            .into_iter()
            .map(|ip| TargetHealth {
                target: Target { ip, port: 0 },
                state: HealthState::Unavailable,
                reason: Some("Azure reports backend health as a metric".into()),
            })
            .collect())
    }

    async fn delete(&self, lb: &LoadBalancerId) -> Result<()> {
        if appgw::is_gateway(&lb.0) {
            return self.delete_gateway(lb).await;
        }
        let name = lb.0.rsplit('/').next().unwrap_or_default().to_string();
        // The public IPs the frontends use, and the default one (a frontend may be gone).
        let mut pips = vec![format!("{name}-pip")];
        let current = self.get_lb(&name).await?;
        if let Some(current) = &current {
            self.check_ours(&current.resource.tags, "load balancer", &name)?;
        }
        // The allow rules first: the load balancer is deleted once nothing of it is left on
        // the NSG, so a failed delete is retried with its name still known.
        self.sync_security_rules(&name, &[]).await?;
        if let Some(current) = current {
            pips.extend(
                current
                    .properties
                    .iter()
                    .flat_map(|p| &p.frontend_ip_configurations)
                    .filter_map(|f| {
                        f.properties
                            .as_ref()?
                            .public_ip_address
                            .as_ref()?
                            .resource
                            .id
                            .as_deref()
                    })
                    .filter_map(|id| id.rsplit('/').next().map(str::to_string)),
            );
            gone_is_done(
                self.client
                    .load_balancers_client()
                    .delete(&self.cfg.resource_group, &name, &self.cfg.subscription)
                    .send()
                    .await
                    .map_err(|e| from_azure(&e)),
            )?;
        }
        self.delete_owned_public_ips(pips).await
    }

    async fn list_owned(&self) -> Result<Vec<OwnedLoadBalancer>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .load_balancers_client()
            .list(&self.cfg.resource_group, &self.cfg.subscription)
            .into_stream();
        while let Some(page) = pages.next().await {
            for lb in page.map_err(|e| from_azure(&e))?.value {
                out.extend(self.owned(&lb.resource, LoadBalancerKind::Network));
            }
        }
        self.list_owned_gateways(&mut out).await?;
        Ok(out)
    }
}
