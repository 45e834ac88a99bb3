//! Load balancers on GCLB: [`GcpLoadBalancers`] implements [`cloudnet_core::LoadBalancers`].
//!
//! ```text
//!  spec ─ plan (pure) ─> DesiredStack ─┬─ observe (one filtered list per kind) ─> ObservedStack
//!                                      └──────────────────────────────────────────────┴─ diff (pure)
//!        ─> ChangeSet ─ apply (in order, operations awaited, stops at the first failure) ─> status
//! ```
//!
//! | Neutral | L7 (Application, global) | L4 (Network, regional passthrough) |
//! |---|---|---|
//! | listener | forwarding rule + target HTTP(S) proxy + URL map | forwarding rule per protocol (ports) |
//! | rules | URL map host rules and path matchers | - |
//! | backend group | backend service + health check | backend service + health check per protocol |
//! | targets | zonal `GCE_VM_IP_PORT` NEGs (pod IP:port) | zonal `GCE_VM_IP` NEGs (the nodes) |
//! | certificates | pre-shared SSL certificates by name; certificate material (a Secret) as the stack's own self-managed SSL certificate, named after its content | - |
//! | firewall ([`firewall`]) | one rule: the front ends' and health checkers' ranges to the groups' ports | two rules: the health checkers' ranges to the checks' ports; the clients (`loadBalancerSourceRanges`, else everyone) to the listeners' ports at the load balancer's address |
//!
//! Ownership is written in each resource's `description` (GCE has no labels on these);
//! names come from [`cloudnet_core::ownership::derive_name`]. NEGs are made in a zone when a
//! target first lands there ([`targets`]), and become backends of the group's service then.
//! A new certificate's content is a new certificate: created, the proxy switched to it, the
//! old one deleted, in that order (the proxy is never without one).
//!
//! The firewall rules apply to every instance of the network (no target tags: the backend
//! is not told the node pool's tags); the traffic rule of an L4 stack is narrowed to the
//! load balancer's own address instead, as cloud-provider-gcp's is.
//!
//! Not built: internal L7 (regional `INTERNAL_MANAGED` with a proxy-only subnet), weighted
//! forwarding (`weightedBackendServices`, needs `EXTERNAL_MANAGED` route rules), redirects
//! (`urlRedirect`), instance-group backends, header/method/query/source conditions, and
//! `sync_bound_targets` (GCP has no TargetGroupBinding counterpart).

mod apply;
pub mod changes;
pub mod clients;
mod deletes;
pub mod diff;
pub mod firewall;
mod kinds;
mod lifecycle;
pub mod model;
pub mod observe;
pub mod plan;
mod targets;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use cloudnet_core::{
    Error, GroupStatus, LoadBalancerKind, LoadBalancerSpec, LoadBalancerStatus, Result, Scheme,
    Subnets,
};
use google_cloud_compute_v1::model as gce;

use self::changes::ChangeSet;
use self::clients::{LbClients, lb_methods as m};
use self::model::{DesiredStack, ObservedStack};
use self::plan::{ATTR_STATIC_IP_NAME, PlanContext, plan};
use self::targets::{GroupRef, Nodes};
use crate::error::ConfigResult;
use crate::names::last_segment;
use crate::provider::GcpProvider;

/// The GCP load balancers of one cluster. Cloning is cheap; clones share the caches.
#[derive(Debug, Clone)]
pub struct GcpLoadBalancers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: GcpProvider,
    clients: LbClients,
    cache: Mutex<Cache>,
    /// One lookup of the default subnetwork at a time (the others wait for its answer).
    subnetwork_lookup: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Cache {
    /// (stack ID, group key) -> where its targets go.
    groups: HashMap<(String, String), GroupRef>,
    /// Node addresses and alias ranges, from the last instance listing.
    nodes: Option<Arc<Nodes>>,
    /// The subnetwork internal L4 stacks use when none is named.
    subnetwork: Option<String>,
    /// L4: (stack ID, service) -> group key -> the node endpoints it last asked for (a
    /// passthrough NEG holds the nodes of every group of its protocol).
    l4_members: HashMap<(String, String), BTreeMap<String, BTreeSet<targets::Endpoint>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One stack's plan, what exists of it, and the changes between them.
pub struct Planned {
    pub stack: DesiredStack,
    pub observed: ObservedStack,
    pub changes: ChangeSet,
}

impl GcpLoadBalancers {
    /// The load balancers on the provider's project, location, budget and counts.
    pub async fn new(provider: GcpProvider) -> ConfigResult<GcpLoadBalancers> {
        let clients = LbClients::build(provider.config()).await?;
        Ok(GcpLoadBalancers {
            inner: Arc::new(Inner {
                provider,
                clients,
                cache: Mutex::default(),
                subnetwork_lookup: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn provider(&self) -> &GcpProvider {
        &self.inner.provider
    }

    /// The project, the clients and the caller: what every call needs.
    fn parts(&self) -> (&str, &LbClients, &crate::call::Caller) {
        (
            self.project(),
            &self.inner.clients,
            self.provider().caller(),
        )
    }

    fn project(&self) -> &str {
        self.inner.provider.project()
    }

    async fn context(&self, spec: &LoadBalancerSpec) -> Result<PlanContext> {
        let cluster = &self.provider().config().cluster_name;
        if &spec.owner.cluster != cluster {
            return Err(Error::invalid(format!(
                "spec is for cluster {}, this provider serves {cluster}",
                spec.owner.cluster
            )));
        }
        if matches!(spec.subnets, Subnets::Tagged(_)) {
            return Err(Error::invalid(
                "subnets by tags: Compute Engine subnetworks carry no tags; name the subnetwork",
            ));
        }
        let mut ctx = PlanContext {
            region: self.provider().location().region.clone(),
            network: self.provider().location().network.clone(),
            ..PlanContext::default()
        };
        if spec.kind == LoadBalancerKind::Application
            && let Some(name) = spec.attributes.get(ATTR_STATIC_IP_NAME)
        {
            ctx.static_ip = Some(self.static_ip(name).await?);
        }
        if spec.kind == LoadBalancerKind::Network && spec.scheme == Scheme::Internal {
            ctx.subnetwork = Some(match &spec.subnets {
                Subnets::Explicit(ids) if !ids.is_empty() => last_segment(&ids[0]).to_string(),
                _ => self.default_subnetwork().await?,
            });
        }
        Ok(ctx)
    }

    /// The address of a reserved global address, by name.
    async fn static_ip(&self, name: &str) -> Result<String> {
        let p = self.project().to_string();
        let c = &self.inner.clients;
        let out = self
            .provider()
            .caller()
            .call(m::GLOBAL_ADDRESSES_GET, || {
                c.global_addresses
                    .get()
                    .set_project(&p)
                    .set_address(name)
                    .send()
            })
            .await;
        match out {
            Ok(a) => a.address.ok_or_else(|| {
                Error::invalid(format!("the global static IP {name} has no address yet"))
            }),
            Err(Error::NotFound { .. }) => Err(Error::invalid(format!(
                "the global static IP {name} ({ATTR_STATIC_IP_NAME}) does not exist; reserve it first"
            ))),
            Err(e) => Err(e),
        }
    }

    /// The first subnetwork (by name) of the cluster's network in its region, cached.
    async fn default_subnetwork(&self) -> Result<String> {
        let _one_at_a_time = self.inner.subnetwork_lookup.lock().await;
        if let Some(s) = lock(&self.inner.cache).subnetwork.clone() {
            return Ok(s);
        }
        let loc = self.provider().location().clone();
        let c = &self.inner.clients;
        let filter = format!(
            "network eq \".*/global/networks/{}\"",
            loc.network.replace('.', "\\.")
        );
        let pages = self
            .provider()
            .caller()
            .pages(
                m::SUBNETWORKS_LIST,
                |t| {
                    c.subnetworks
                        .list()
                        .set_project(&loc.project)
                        .set_region(&loc.region)
                        .set_filter(&filter)
                        .set_or_clear_page_token(t)
                        .send()
                },
                |p: &gce::SubnetworkList| p.next_page_token.as_deref(),
            )
            .await?;
        let mut names: Vec<String> = pages
            .iter()
            .flat_map(|p| &p.items)
            .filter_map(|s| s.name.clone())
            .collect();
        names.sort();
        let first = names.into_iter().next().ok_or_else(|| {
            Error::invalid(format!(
                "no subnetwork of network {} in {} for an internal load balancer; name one",
                loc.network, loc.region
            ))
        })?;
        lock(&self.inner.cache).subnetwork = Some(first.clone());
        Ok(first)
    }

    /// Plans, observes and diffs a spec: what `ensure` would change, without changing
    /// anything (reads only). A `Conflict` means something under our names is not ours.
    pub async fn plan(&self, spec: &LoadBalancerSpec) -> Result<Planned> {
        use cloudnet_core::LoadBalancers;
        self.capabilities().check_uploading_certificates(spec)?;
        let ctx = self.context(spec).await?;
        let stack = plan(spec, &ctx)?;
        let observed = self.observe(&stack.scope, &stack.base).await?;
        let changes = diff::diff(&stack, &observed)?;
        Ok(Planned {
            stack,
            observed,
            changes,
        })
    }

    async fn ensure_stack(&self, spec: &LoadBalancerSpec) -> Result<LoadBalancerStatus> {
        let Planned {
            stack,
            observed,
            changes,
        } = self.plan(spec).await?;
        if !changes.is_empty() {
            tracing::info!(changes = changes.len(), "Applying changes");
        }
        let applied = self.apply(&changes, &stack.scope, &spec.owner).await?;

        let mut ips: Vec<std::net::IpAddr> = Vec::new();
        for fr in &stack.forwarding_rules {
            let ip = applied.addresses.get(&fr.name).cloned().or_else(|| {
                observed
                    .forwarding_rules
                    .iter()
                    .find(|o| o.actual.name == fr.name)
                    .and_then(|o| o.actual.ip.clone())
            });
            if let Some(ip) = ip.and_then(|i| i.parse().ok())
                && !ips.contains(&ip)
            {
                ips.push(ip);
            }
        }
        let mut groups = Vec::new();
        let mut cache = lock(&self.inner.cache);
        cache.groups.retain(|(id, _), _| id != &stack.id.0);
        for bs in &stack.backend_services {
            let zones: BTreeSet<String> = observed
                .negs
                .iter()
                .filter(|n| n.actual.name == bs.name)
                .map(|n| n.actual.zone.clone())
                .collect();
            let id = format!(
                "{}/backendServices/{}",
                plan::scope_path(&stack.scope),
                bs.name
            );
            for key in &bs.groups {
                cache.groups.insert(
                    (stack.id.0.clone(), key.clone()),
                    GroupRef {
                        scope: stack.scope.clone(),
                        owner: spec.owner.clone(),
                        service: bs.clone(),
                        zones: zones.clone(),
                    },
                );
                groups.push(GroupStatus {
                    key: key.clone(),
                    id: id.clone(),
                    targets: Vec::new(),
                });
            }
        }
        Ok(LoadBalancerStatus {
            id: stack.id,
            dns_name: None,
            ips,
            groups,
        })
    }
}

#[cfg(test)]
mod diff_tests;
