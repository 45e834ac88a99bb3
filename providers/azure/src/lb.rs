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
//! ```
//!
//! Pool members are the hot path's ([`LoadBalancers::sync_targets`]): `ensure` keeps the
//! members it reads. The Application Gateway (L7) is not built: `Application` specs are
//! refused by the capabilities (`InvalidInput`). Azure keeps no per-member health in ARM
//! (it is a metric), so members report `Unavailable`. Groups the suite does not own
//! (`sync_bound_targets`) are not supported on Azure yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use azure_mgmt_network::Client;
use azure_mgmt_network::models::{
    BackendAddressPool, BackendAddressPoolPropertiesFormat, FrontendIpConfiguration,
    FrontendIpConfigurationPropertiesFormat, IpAllocationMethod, LoadBalancer,
    LoadBalancerBackendAddress, LoadBalancerBackendAddressPropertiesFormat,
    LoadBalancerPropertiesFormat, LoadBalancerSku, LoadBalancingRule,
    LoadBalancingRulePropertiesFormat, Probe, ProbePropertiesFormat, PublicIpAddress,
    PublicIpAddressPropertiesFormat, PublicIpAddressSku, Resource, SubResource, Subnet,
    TransportProtocol, load_balancer_sku, probe_properties_format, public_ip_address_sku,
};
use cloudnet_core::{
    Action, BoundGroup, Error, GroupStatus, HealthState, LoadBalancerCapabilities, LoadBalancerId,
    LoadBalancerKind, LoadBalancerSpec, LoadBalancerStatus, LoadBalancers, NameRules,
    OwnedLoadBalancer, Owner, Protocol, Result, Scheme, Target, TargetHealth, TargetKind,
    TargetSync, derive_name,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::call::with_if_match;
use crate::config::AzureConfig;
use crate::error::{from_azure, gone_is_done};

/// The frontend's name in every load balancer the suite makes.
const FRONTEND: &str = "frontend";

/// What `ensure` has to do, from [`diff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeSet {
    pub create_public_ip: bool,
    pub put_load_balancer: bool,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        !self.create_public_ip && !self.put_load_balancer
    }
}

/// Standard Load Balancers for one cluster.
#[derive(Clone)]
pub struct AzureLoadBalancers {
    client: Client,
    cfg: Arc<AzureConfig>,
}

fn tags_of(v: &Option<Value>) -> BTreeMap<String, String> {
    v.as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn sub(id: String) -> Option<SubResource> {
    Some(SubResource { id: Some(id) })
}

/// The group each listener forwards to (an L4 listener forwards to exactly one).
fn forward_group(action: &Action) -> Result<&str> {
    match action {
        Action::Forward { groups } if groups.len() == 1 => Ok(&groups[0].group),
        _ => Err(Error::invalid(
            "an Azure load balancer rule forwards to exactly one backend group",
        )),
    }
}

impl AzureLoadBalancers {
    pub fn new(client: Client, cfg: Arc<AzureConfig>) -> AzureLoadBalancers {
        AzureLoadBalancers { client, cfg }
    }

    /// The load balancer's name: `k8s-<namespace>-<name>-<hash>`.
    pub fn name(&self, owner: &Owner) -> String {
        derive_name(NameRules::Azure, owner, &["lb"])
    }

    fn lb_id(&self, name: &str) -> String {
        self.cfg.network_id(&format!("loadBalancers/{name}"))
    }

    fn pool_name(key: &str) -> String {
        format!("pool-{}", cloudnet_core::ownership::short_hash(&[key], 12))
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
        let frontend = match spec.scheme {
            Scheme::InternetFacing => FrontendIpConfigurationPropertiesFormat {
                public_ip_address: Some(PublicIpAddress {
                    resource: Resource {
                        id: Some(
                            self.cfg
                                .network_id(&format!("publicIPAddresses/{name}-pip")),
                        ),
                        ..Default::default()
                    },
                    ..Default::default()
                }),
                ..Default::default()
            },
            Scheme::Internal => FrontendIpConfigurationPropertiesFormat {
                subnet: Some(Subnet {
                    sub_resource: SubResource {
                        id: Some(self.cfg.subnet_id()),
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
                let n = Self::pool_name(&g.key);
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
            let (probe_protocol, path) = match hc.protocol {
                Protocol::Http => (probe_properties_format::Protocol::Http, hc.path.clone()),
                Protocol::Https => (probe_properties_format::Protocol::Https, hc.path.clone()),
                _ => (probe_properties_format::Protocol::Tcp, None),
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
            let idle = spec
                .attributes
                .get("tcp-idle-timeout-minutes")
                .and_then(|v| v.parse().ok());
            rules.push(LoadBalancingRule {
                name: Some(format!("rule-{suffix}")),
                properties: Some(LoadBalancingRulePropertiesFormat {
                    frontend_ip_configuration: sub(child("frontendIPConfigurations", FRONTEND)),
                    backend_address_pool: sub(child(
                        "backendAddressPools",
                        &Self::pool_name(&g.key),
                    )),
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

/// The parts of a load balancer `ensure` decides on, IDs lower-cased (ARM compares them
/// without case), read-only and server-filled fields left out.
pub fn projection(lb: &LoadBalancer) -> Value {
    let lower = |s: &Option<SubResource>| {
        s.as_ref()
            .and_then(|s| s.id.as_deref())
            .map(str::to_lowercase)
    };
    let p = lb.properties.clone().unwrap_or_default();
    json!({
        "sku": lb.sku.as_ref().and_then(|s| s.name.as_ref()).map(|n| format!("{n:?}")),
        "tags": tags_of(&lb.resource.tags),
        "frontends": p.frontend_ip_configurations.iter().map(|f| {
            let fp = f.properties.clone().unwrap_or_default();
            json!([
                f.name,
                fp.public_ip_address.and_then(|p| p.resource.id).map(|s| s.to_lowercase()),
                fp.subnet.and_then(|s| s.sub_resource.id).map(|s| s.to_lowercase()),
            ])
        }).collect::<Vec<_>>(),
        "pools": p.backend_address_pools.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        "rules": p.load_balancing_rules.iter().map(|r| {
            let rp = r.properties.as_ref();
            json!([
                r.name,
                rp.map(|p| format!("{:?}", p.protocol)),
                rp.map(|p| p.frontend_port),
                rp.and_then(|p| p.backend_port),
                rp.and_then(|p| lower(&p.frontend_ip_configuration)),
                rp.and_then(|p| lower(&p.backend_address_pool)),
                rp.and_then(|p| lower(&p.probe)),
                rp.and_then(|p| p.idle_timeout_in_minutes),
            ])
        }).collect::<Vec<_>>(),
        "probes": p.probes.iter().map(|r| {
            let pp = r.properties.as_ref();
            json!([
                r.name,
                pp.map(|p| format!("{:?}", p.protocol)),
                pp.map(|p| p.port),
                pp.and_then(|p| p.request_path.clone()),
                pp.and_then(|p| p.interval_in_seconds),
                pp.and_then(|p| p.number_of_probes),
            ])
        }).collect::<Vec<_>>(),
    })
}

/// What to change to go from the observed resources to the desired ones.
pub fn diff(
    observed: Option<&LoadBalancer>,
    desired: &LoadBalancer,
    needs_public_ip: bool,
    public_ip_exists: bool,
) -> ChangeSet {
    ChangeSet {
        create_public_ip: needs_public_ip && !public_ip_exists,
        put_load_balancer: observed.is_none_or(|o| projection(o) != projection(desired)),
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

    async fn get_pip(&self, name: &str) -> Result<Option<PublicIpAddress>> {
        found(
            self.client
                .public_ip_addresses_client()
                .get(&self.cfg.resource_group, name, &self.cfg.subscription)
                .await,
        )
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
fn found<T>(got: azure_core::Result<T>) -> Result<Option<T>> {
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
            kinds: vec![LoadBalancerKind::Network],
            target_kinds: vec![TargetKind::PodIp, TargetKind::NodePort],
            listener_protocols: vec![Protocol::Tcp, Protocol::Udp, Protocol::TcpUdp],
            weighted_forward: false,
            redirect: false,
            fixed_response: false,
            max_rules_per_listener: 0,
            max_targets_per_group: 1000,
            max_listeners: 250,
        }
    }

    async fn ensure(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
        self.capabilities().check(spec)?;
        let name = self.name(&spec.owner);
        let pip_name = format!("{name}-pip");
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
        let changes = diff(observed.as_ref(), &desired, public, pip.is_some());
        // Apply.
        if changes.create_public_ip {
            let mut tags = spec.tags.clone();
            tags.extend(spec.owner.tags());
            let body = PublicIpAddress {
                resource: Resource {
                    location: Some(self.cfg.location.clone()),
                    tags: Some(json!(tags)),
                    ..Default::default()
                },
                sku: Some(PublicIpAddressSku {
                    name: Some(public_ip_address_sku::Name::Standard),
                    tier: Some(public_ip_address_sku::Tier::Regional),
                }),
                properties: Some(Box::new(PublicIpAddressPropertiesFormat {
                    public_ip_allocation_method: Some(IpAllocationMethod::Static),
                    ..Default::default()
                })),
                ..Default::default()
            };
            pip = Some(
                self.client
                    .public_ip_addresses_client()
                    .create_or_update(
                        &self.cfg.resource_group,
                        &pip_name,
                        body,
                        &self.cfg.subscription,
                    )
                    .await
                    .map_err(|e| from_azure(&e))?,
            );
        }
        let lb = if changes.put_load_balancer {
            let etag = observed.as_ref().and_then(|o| o.etag.clone());
            self.put_lb(desired, etag).await?
        } else {
            observed.unwrap_or(desired)
        };
        let groups: Vec<(String, String)> = spec
            .groups
            .iter()
            .map(|g| (g.key.clone(), Self::pool_name(&g.key)))
            .collect();
        Ok(self.status(&groups, &lb, pip.as_ref()))
    }

    async fn sync_targets(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        let pool = Self::pool_name(group);
        let (_, name, _) = Self::pool_parts(&format!("{}/backendAddressPools/{pool}", lb.0))?;
        let mut current = self.get_lb(&name).await?.ok_or_else(|| Error::NotFound {
            code: "ResourceNotFound".into(),
            message: format!("load balancer {name}"),
        })?;
        let have = members_of(&current, &pool);
        let mut want: Vec<std::net::IpAddr> = targets.iter().map(|t| t.ip).collect();
        want.sort();
        want.dedup();
        let registered = want.iter().filter(|ip| !have.contains(ip)).count();
        let deregistered = have.iter().filter(|ip| !want.contains(ip)).count();
        if registered + deregistered > 0 {
            let vnet = self
                .cfg
                .network_id(&format!("virtualNetworks/{}", self.cfg.vnet));
            let b = current
                .properties
                .as_mut()
                .and_then(|p| {
                    p.backend_address_pools
                        .iter_mut()
                        .find(|b| b.name.as_deref() == Some(pool.as_str()))
                })
                .ok_or_else(|| Error::NotFound {
                    code: "TargetGroupNotFound".into(),
                    message: format!("no backend pool for group {group}"),
                })?;
            b.properties
                .get_or_insert_with(Default::default)
                .load_balancer_backend_addresses = want
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
        Ok(TargetSync {
            registered: u32::try_from(registered).unwrap_or(u32::MAX),
            deregistered: u32::try_from(deregistered).unwrap_or(u32::MAX),
            health,
        })
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
        let name = lb.0.rsplit('/').next().unwrap_or_default().to_string();
        if let Some(current) = self.get_lb(&name).await? {
            if !Owner::cluster_owns(&self.cfg.cluster, &tags_of(&current.resource.tags)) {
                return Err(Error::invalid(format!(
                    "load balancer {name} is not this cluster's"
                )));
            }
            gone_is_done(
                self.client
                    .load_balancers_client()
                    .delete(&self.cfg.resource_group, &name, &self.cfg.subscription)
                    .send()
                    .await
                    .map_err(|e| from_azure(&e)),
            )?;
        }
        let pip = format!("{name}-pip");
        if let Some(p) = self.get_pip(&pip).await?
            && Owner::cluster_owns(&self.cfg.cluster, &tags_of(&p.resource.tags))
        {
            gone_is_done(
                self.client
                    .public_ip_addresses_client()
                    .delete(&self.cfg.resource_group, &pip, &self.cfg.subscription)
                    .send()
                    .await
                    .map_err(|e| from_azure(&e)),
            )?;
        }
        Ok(())
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
                let tags = tags_of(&lb.resource.tags);
                if let Some(owner) =
                    Owner::from_tags(&tags).filter(|o| o.cluster == self.cfg.cluster)
                {
                    out.push(OwnedLoadBalancer {
                        id: LoadBalancerId(lb.resource.id.clone().unwrap_or_default()),
                        owner,
                        kind: LoadBalancerKind::Network,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lb(
        rules: &[(&str, i32)],
        tags: serde_json::Value,
        pool_id_case_upper: bool,
    ) -> LoadBalancer {
        let pool = if pool_id_case_upper {
            "/X/BACKENDADDRESSPOOLS/P"
        } else {
            "/x/backendAddressPools/p"
        };
        LoadBalancer {
            resource: Resource {
                tags: Some(tags),
                ..Default::default()
            },
            properties: Some(LoadBalancerPropertiesFormat {
                load_balancing_rules: rules
                    .iter()
                    .map(|(n, port)| LoadBalancingRule {
                        name: Some((*n).to_string()),
                        properties: Some(LoadBalancingRulePropertiesFormat {
                            backend_address_pool: sub(pool.into()),
                            ..LoadBalancingRulePropertiesFormat::new(TransportProtocol::Tcp, *port)
                        }),
                        ..Default::default()
                    })
                    .collect(),
                provisioning_state: None,
                ..Default::default()
            }),
            etag: Some("W/\"1\"".into()),
            ..Default::default()
        }
    }

    #[test]
    fn diff_writes_only_what_differs() {
        let want = lb(&[("rule-tcp-80", 80)], json!({"a": "b"}), false);
        // Nothing there: create both.
        assert_eq!(
            diff(None, &want, true, false),
            ChangeSet {
                create_public_ip: true,
                put_load_balancer: true
            }
        );
        // The same, IDs in another case, an ETag: nothing to do.
        let have = lb(&[("rule-tcp-80", 80)], json!({"a": "b"}), true);
        assert!(diff(Some(&have), &want, true, true).is_empty());
        // A port, a rule or a tag changed: one PUT.
        for have in [
            lb(&[("rule-tcp-80", 81)], json!({"a": "b"}), false),
            lb(&[], json!({"a": "b"}), false),
            lb(&[("rule-tcp-80", 80)], json!({"a": "c"}), false),
        ] {
            assert_eq!(
                diff(Some(&have), &want, false, false),
                ChangeSet {
                    create_public_ip: false,
                    put_load_balancer: true
                }
            );
        }
    }
}
