//! The hot path: a group's members as NEG endpoints, attached and detached at most
//! [`MAX_ENDPOINTS_PER_CALL`] per call, health from `backendServices.getHealth`.
//!
//! ```text
//!  targets ─> node of each address (primary IP or alias range; instances listed once, again
//!             only when an address is unknown) ─> endpoints per zone
//!          ─> zone without a NEG: insert it, add it to the service's backends (fingerprint)
//!          ─> getHealth per zone (what is attached) ─> attach / detach in batches
//!          ─> getHealth again where something changed
//! ```
//!
//! L7 endpoints are pod IP:port on the pod's node (`GCE_VM_IP_PORT`); L4 endpoints are the
//! nodes themselves (`GCE_VM_IP`), the union over the protocol's groups.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use cloudnet_core::{
    Error, HealthState, LoadBalancerId, Owner, Result, Target, TargetHealth, TargetSync,
};
use google_cloud_compute_v1::model as gce;
use ipnet::IpNet;

use super::apply::{backend, neg_url};
use super::clients::lb_methods as m;
use super::kinds::{region_of, scoped, scoped_list};
use super::model::{BackendServiceDef, ownership_description, ownership_of};
use super::observe::neg_of_url;
use super::plan::{name_pattern, parse_id, scope_path};
use super::{GcpLoadBalancers, lock};
use crate::names::last_segment;
use crate::ops::Scope;

/// Endpoints one attach or detach call may carry.
pub const MAX_ENDPOINTS_PER_CALL: usize = 500;

/// Where a group's targets go.
#[derive(Debug, Clone)]
pub(super) struct GroupRef {
    pub scope: Scope,
    pub owner: Owner,
    pub service: BackendServiceDef,
    /// Zones where the service's NEG exists.
    pub zones: BTreeSet<String>,
}

/// A node: its zone, instance name and primary address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub zone: String,
    pub name: String,
    pub ip: IpAddr,
}

/// The nodes of the network by address.
#[derive(Debug, Default)]
pub(super) struct Nodes {
    primary: HashMap<IpAddr, Node>,
    aliases: Vec<(IpNet, Node)>,
}

impl Nodes {
    fn find(&self, ip: &IpAddr) -> Option<&Node> {
        self.primary.get(ip).or_else(|| {
            self.aliases
                .iter()
                .find(|(net, _)| net.contains(ip))
                .map(|(_, n)| n)
        })
    }
}

/// One NEG endpoint: the instance, the address, and the port (`GCE_VM_IP_PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Endpoint {
    pub instance: String,
    pub ip: String,
    pub port: Option<u16>,
}

fn state_of(h: Option<&str>) -> HealthState {
    match h {
        Some("HEALTHY") => HealthState::Healthy,
        Some("UNHEALTHY") | Some("TIMEOUT") => HealthState::Unhealthy,
        Some("DRAINING") => HealthState::Draining,
        Some("UNKNOWN") | None => HealthState::Initial,
        Some(_) => HealthState::Unavailable,
    }
}

/// What getHealth says of one NEG: endpoint -> state.
type Health = BTreeMap<Endpoint, HealthState>;

impl GcpLoadBalancers {
    /// Instances of the network by primary address and alias ranges: one aggregated list.
    async fn list_nodes(&self) -> Result<Arc<Nodes>> {
        let p = self.project().to_string();
        let network = format!("/global/networks/{}", self.provider().location().network);
        let c = &self.provider().clients().instances;
        let pages = self
            .provider()
            .caller()
            .pages(
                m::INSTANCES_AGGREGATED_LIST,
                |t| {
                    c.aggregated_list()
                        .set_project(&p)
                        .set_or_clear_page_token(t)
                        .send()
                },
                |p: &gce::InstanceAggregatedList| p.next_page_token.as_deref(),
            )
            .await?;
        let mut nodes = Nodes::default();
        for i in pages
            .iter()
            .flat_map(|p| p.items.values())
            .flat_map(|s| &s.instances)
        {
            let (Some(name), Some(zone)) = (&i.name, &i.zone) else {
                continue;
            };
            for nic in &i.network_interfaces {
                if !nic
                    .network
                    .as_deref()
                    .is_some_and(|n| n.ends_with(&network))
                {
                    continue;
                }
                let Some(ip) = nic.network_ip.as_deref().and_then(|a| a.parse().ok()) else {
                    continue;
                };
                let node = Node {
                    zone: last_segment(zone).to_string(),
                    name: name.clone(),
                    ip,
                };
                for r in &nic.alias_ip_ranges {
                    if let Some(net) = r.ip_cidr_range.as_deref().and_then(parse_range) {
                        nodes.aliases.push((net, node.clone()));
                    }
                }
                nodes.primary.insert(ip, node);
            }
        }
        let nodes = Arc::new(nodes);
        lock(&self.inner.cache).nodes = Some(nodes.clone());
        Ok(nodes)
    }

    /// The node of every address; the instances are listed again when one is unknown.
    async fn nodes_of(&self, ips: &BTreeSet<IpAddr>) -> Result<BTreeMap<IpAddr, Node>> {
        let cached = lock(&self.inner.cache).nodes.clone();
        let mut nodes = match cached {
            Some(n) => n,
            None => self.list_nodes().await?,
        };
        if ips.iter().any(|ip| nodes.find(ip).is_none()) {
            nodes = self.list_nodes().await?;
        }
        let mut out = BTreeMap::new();
        let mut unknown = Vec::new();
        for ip in ips {
            match nodes.find(ip) {
                Some(n) => {
                    out.insert(*ip, n.clone());
                }
                None => unknown.push(ip.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::invalid(format!(
                "no instance of the network has the address(es) {unknown:?} (as its own address or in an alias range)"
            )));
        }
        Ok(out)
    }

    /// The group's service and NEG zones: cached by `ensure`, else found by the service's
    /// description (one read).
    async fn group_ref(&self, lb: &LoadBalancerId, group: &str) -> Result<GroupRef> {
        let key = (lb.0.clone(), group.to_string());
        if let Some(g) = lock(&self.inner.cache).groups.get(&key) {
            return Ok(g.clone());
        }
        let (scope, base) = parse_id(lb)?;
        let observed = self.observe_services(&scope, &base).await?;
        let cluster = &self.provider().config().cluster_name;
        let found = observed.into_iter().find(|b| {
            ownership_of(b.description.as_deref()).is_some_and(|o| {
                &o.owner.cluster == cluster
                    && cloudnet_core::ownership::derive_name(
                        cloudnet_core::NameRules::Gce,
                        &o.owner,
                        &[],
                    ) == base
                    && o.resource
                        .as_deref()
                        .is_some_and(|r| r.split(',').any(|k| k == group))
            })
        });
        let Some((b, owner)) = found.and_then(|b| {
            let o = ownership_of(b.description.as_deref())?.owner;
            Some((b, o))
        }) else {
            return Err(Error::NotFound {
                code: "TargetGroupNotFound".into(),
                message: format!("no backend service of ours for group {group} on {}", lb.0),
            });
        };
        let regional = matches!(scope, Scope::Region(_));
        let name = b.name.clone().unwrap_or_default();
        let service = BackendServiceDef {
            name: name.clone(),
            protocol: b
                .protocol
                .as_ref()
                .and_then(|p| p.name())
                .unwrap_or("")
                .to_string(),
            scheme: b
                .load_balancing_scheme
                .as_ref()
                .and_then(|s| s.name())
                .unwrap_or("")
                .to_string(),
            health_check: b
                .health_checks
                .first()
                .map(|h| last_segment(h).to_string())
                .unwrap_or_default(),
            groups: ownership_of(b.description.as_deref())
                .and_then(|o| o.resource)
                .map(|r| r.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            neg_type: if regional {
                "GCE_VM_IP"
            } else {
                "GCE_VM_IP_PORT"
            }
            .into(),
            neg_port: None,
            // Target sync writes only the backends.
            timeout_sec: None,
            draining_timeout_sec: None,
        };
        let zones = b
            .backends
            .iter()
            .filter_map(|x| x.group.as_deref().map(neg_of_url))
            .filter(|(z, n)| !z.is_empty() && n == &name)
            .map(|(z, _)| z)
            .collect();
        let r = GroupRef {
            scope,
            owner,
            service,
            zones,
        };
        lock(&self.inner.cache).groups.insert(key, r.clone());
        Ok(r)
    }

    /// The backend services matching the stack's name pattern.
    async fn observe_services(
        &self,
        scope: &Scope,
        base: &str,
    ) -> Result<Vec<gce::BackendService>> {
        let filter = format!("name eq \"{}\"", name_pattern(base));
        let (p, c, caller) = self.parts();
        Ok(scoped_list!(caller, region_of(scope), p, &filter,
            m::REGION_BACKEND_SERVICES_LIST => c.region_backend_services;
            m::BACKEND_SERVICES_LIST => c.backend_services; gce::BackendServiceList))
    }

    /// getHealth of one NEG of the service.
    async fn neg_health(&self, scope: &Scope, service: &str, zone: &str) -> Result<Health> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        let body = gce::ResourceGroupReference::new().set_group(neg_url(&p, zone, service));
        let out = scoped!(caller, region_of(scope), &p,
            m::REGION_BACKEND_SERVICES_GET_HEALTH => c.region_backend_services;
            m::BACKEND_SERVICES_GET_HEALTH => c.backend_services;
            get_health.set_backend_service(service).set_body(body.clone()))?;
        Ok(out
            .health_status
            .iter()
            .filter_map(|h| {
                let e = Endpoint {
                    instance: last_segment(h.instance.as_deref()?).to_string(),
                    ip: h.ip_address.clone()?,
                    port: h.port.and_then(|p| u16::try_from(p).ok()),
                };
                Some((e, state_of(h.health_state.as_ref().and_then(|s| s.name()))))
            })
            .collect())
    }

    /// Makes the service's NEG in `zone` and adds it to the service's backends.
    async fn add_zone(&self, g: &GroupRef, zone: &str) -> Result<()> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let bs = &g.service;
        let mut body = gce::NetworkEndpointGroup::new()
            .set_name(&bs.name)
            .set_description(ownership_description(&g.owner, &bs.groups.join(",")))
            .set_network_endpoint_type(gce::network_endpoint_group::NetworkEndpointType::from(
                bs.neg_type.as_str(),
            ))
            .set_network(format!(
                "projects/{p}/global/networks/{}",
                self.provider().location().network
            ));
        if let Some(port) = bs.neg_port {
            body = body.set_default_port(i32::from(port));
        }
        let out = self
            .provider()
            .caller()
            .call(m::NEGS_INSERT, || {
                c.network_endpoint_groups
                    .insert()
                    .set_project(&p)
                    .set_zone(zone)
                    .set_body(body.clone())
                    .send()
            })
            .await;
        match out {
            Ok(op) => self.provider().wait(op).await?,
            // Made by an earlier sync that did not get to add it: ours only when it says so.
            Err(Error::Conflict { code, .. }) if code == "alreadyExists" => {}
            Err(e) => return Err(e),
        }
        let wanted = neg_url(&p, zone, &bs.name);
        self.update_backend_service(&g.scope, &bs.name, |current| {
            let has = current.backends.iter().any(|b| {
                b.group.as_deref().map(neg_of_url) == Some((zone.into(), bs.name.clone()))
            });
            if has {
                return None;
            }
            let mut all = current.backends.clone();
            all.push(backend(&p, bs, zone, &bs.name));
            debug_assert!(
                all.iter()
                    .any(|b| b.group.as_deref() == Some(wanted.as_str()))
            );
            Some(gce::BackendService::new().set_backends(all))
        })
        .await
    }

    async fn change_endpoints(
        &self,
        zone: &str,
        neg: &str,
        attach: bool,
        endpoints: &[Endpoint],
    ) -> Result<()> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let caller = self.provider().caller();
        // Attach and detach differ in their method and body type only.
        macro_rules! on_neg {
            ($m:expr, $verb:ident, $body:expr) => {
                caller
                    .call($m, || {
                        c.network_endpoint_groups
                            .$verb()
                            .set_project(&p)
                            .set_zone(zone)
                            .set_network_endpoint_group(neg)
                            .set_body($body.clone())
                            .send()
                    })
                    .await?
            };
        }
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_CALL) {
            let eps: Vec<gce::NetworkEndpoint> = chunk
                .iter()
                .map(|e| {
                    gce::NetworkEndpoint::new()
                        .set_instance(&e.instance)
                        .set_ip_address(&e.ip)
                        .set_or_clear_port(e.port.map(i32::from))
                })
                .collect();
            let op = if attach {
                let body = gce::NetworkEndpointGroupsAttachEndpointsRequest::new()
                    .set_network_endpoints(eps);
                on_neg!(m::NEGS_ATTACH, attach_network_endpoints, body)
            } else {
                let body = gce::NetworkEndpointGroupsDetachEndpointsRequest::new()
                    .set_network_endpoints(eps);
                on_neg!(m::NEGS_DETACH, detach_network_endpoints, body)
            };
            self.provider().wait(op).await?;
        }
        Ok(())
    }

    pub(super) async fn sync_group(
        &self,
        lb: &LoadBalancerId,
        group: &str,
        targets: &[Target],
    ) -> Result<TargetSync> {
        let mut g = self.group_ref(lb, group).await?;
        let ips: BTreeSet<IpAddr> = targets.iter().map(|t| t.ip).collect();
        let nodes = self.nodes_of(&ips).await?;
        let l4 = g.service.neg_type == "GCE_VM_IP";
        let endpoint_of = |t: &Target| -> Endpoint {
            let n = &nodes[&t.ip];
            if l4 {
                Endpoint {
                    instance: n.name.clone(),
                    ip: n.ip.to_string(),
                    port: None,
                }
            } else {
                Endpoint {
                    instance: n.name.clone(),
                    ip: t.ip.to_string(),
                    port: Some(t.port),
                }
            }
        };
        let mine: BTreeSet<Endpoint> = targets.iter().map(endpoint_of).collect();
        let wanted: BTreeSet<Endpoint> = if l4 {
            let mut cache = lock(&self.inner.cache);
            let members = cache
                .l4_members
                .entry((lb.0.clone(), g.service.name.clone()))
                .or_default();
            members.insert(group.to_string(), mine.clone());
            members.values().flatten().cloned().collect()
        } else {
            mine.clone()
        };
        let zone_of: HashMap<String, String> = nodes
            .values()
            .map(|n| (n.name.clone(), n.zone.clone()))
            .collect();
        let mut by_zone: BTreeMap<String, BTreeSet<Endpoint>> = BTreeMap::new();
        for e in &wanted {
            if let Some(z) = zone_of.get(&e.instance) {
                by_zone.entry(z.clone()).or_default().insert(e.clone());
            } else if let Some(n) = lock(&self.inner.cache)
                .nodes
                .as_ref()
                .and_then(|ns| ns.primary.values().find(|n| n.name == e.instance).cloned())
            {
                by_zone.entry(n.zone).or_default().insert(e.clone());
            }
        }
        let mut new_zones = BTreeSet::new();
        for zone in by_zone.keys() {
            if !g.zones.contains(zone) {
                self.add_zone(&g, zone).await?;
                new_zones.insert(zone.clone());
                g.zones.insert(zone.clone());
            }
        }
        if !new_zones.is_empty() {
            lock(&self.inner.cache)
                .groups
                .insert((lb.0.clone(), group.to_string()), g.clone());
        }
        let (mut registered, mut deregistered) = (0usize, 0usize);
        let mut health: Health = BTreeMap::new();
        for zone in g.zones.clone() {
            let before = if new_zones.contains(&zone) {
                Health::new()
            } else {
                self.neg_health(&g.scope, &g.service.name, &zone).await?
            };
            let want = by_zone.remove(&zone).unwrap_or_default();
            let attach: Vec<Endpoint> = want
                .iter()
                .filter(|e| !before.contains_key(*e))
                .cloned()
                .collect();
            let detach: Vec<Endpoint> = before
                .keys()
                .filter(|e| !want.contains(*e))
                .cloned()
                .collect();
            self.change_endpoints(&zone, &g.service.name, true, &attach)
                .await?;
            self.change_endpoints(&zone, &g.service.name, false, &detach)
                .await?;
            registered += attach.len();
            deregistered += detach.len();
            let after = if attach.is_empty() && detach.is_empty() {
                before
            } else {
                self.neg_health(&g.scope, &g.service.name, &zone).await?
            };
            health.extend(after);
        }
        let health = if l4 {
            // Each target has its node's health.
            targets
                .iter()
                .map(|t| TargetHealth {
                    target: *t,
                    state: health
                        .get(&endpoint_of(t))
                        .copied()
                        .unwrap_or(HealthState::Initial),
                    reason: None,
                })
                .collect()
        } else {
            health_list(health)
        };
        Ok(TargetSync {
            registered: u32::try_from(registered).unwrap_or(u32::MAX),
            deregistered: u32::try_from(deregistered).unwrap_or(u32::MAX),
            health,
        })
    }

    /// `target_health`: the service (by its ID, `global/backendServices/N` or
    /// `regions/R/backendServices/N`) and getHealth of each of its NEGs.
    pub(super) async fn group_health(&self, group_id: &str) -> Result<Vec<TargetHealth>> {
        let parts: Vec<&str> = group_id.split('/').collect();
        let (scope, name) = match parts.as_slice() {
            ["global", "backendServices", n] => (Scope::Global, n.to_string()),
            ["regions", r, "backendServices", n] => (Scope::Region(r.to_string()), n.to_string()),
            _ => {
                return Err(Error::NotFound {
                    code: "TargetGroupNotFound".into(),
                    message: format!("{group_id} is not a backend service ID"),
                });
            }
        };
        let cached: Option<BTreeSet<String>> = lock(&self.inner.cache)
            .groups
            .values()
            .find(|g| g.service.name == name && scope_path(&g.scope) == scope_path(&scope))
            .map(|g| g.zones.clone());
        let zones = match cached {
            Some(z) => z,
            None => self.service_zones(&scope, &name).await?,
        };
        let mut health = Health::new();
        for z in zones {
            health.extend(self.neg_health(&scope, &name, &z).await?);
        }
        Ok(health_list(health))
    }

    async fn service_zones(&self, scope: &Scope, name: &str) -> Result<BTreeSet<String>> {
        let (p, c, caller) = self.parts();
        let out = scoped!(caller, region_of(scope), p,
            m::REGION_BACKEND_SERVICES_GET => c.region_backend_services;
            m::BACKEND_SERVICES_GET => c.backend_services;
            get.set_backend_service(name));
        let bs = match out {
            Ok(b) => b,
            Err(Error::NotFound { message, .. }) => {
                return Err(Error::NotFound {
                    code: "TargetGroupNotFound".into(),
                    message,
                });
            }
            Err(e) => return Err(e),
        };
        Ok(bs
            .backends
            .iter()
            .filter_map(|b| b.group.as_deref().map(neg_of_url))
            .filter(|(z, n)| !z.is_empty() && n == name)
            .map(|(z, _)| z)
            .collect())
    }
}

fn parse_range(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn health_list(health: Health) -> Vec<TargetHealth> {
    health
        .into_iter()
        .filter_map(|(e, state)| {
            Some(TargetHealth {
                target: Target {
                    ip: e.ip.parse().ok()?,
                    port: e.port.unwrap_or(0),
                },
                state,
                reason: None,
            })
        })
        .collect()
}
