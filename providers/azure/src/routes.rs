//! [`cloudnet_core::Routes`] for AKS kubenet: one route per node pod CIDR in the cluster's
//! route table, `nextHopType: VirtualAppliance` to the node's primary address.
//!
//! ```text
//!  create/delete ─> queue ──(batch window)──> flush: GET table (ETag)
//!  create/delete ─> queue ┘                          apply every queued change
//!                                                    PUT table, If-Match: ETag   (one PUT)
//!                                                    412 -> GET again, re-apply, PUT again
//!  each caller <── its own result ───────────────────┘
//! ```
//!
//! Changes that arrive within [`AzureConfig::route_batch_window`] go out in one table PUT,
//! as cloud-provider-azure's delayed route updater does (200 nodes joining at once: one
//! GET and one PUT when they all land in the window). Only routes named
//! `k8s-<cluster>-<node>--<destination>` are the cluster's: every other route in the table is
//! sent back as it was read and never changed or deleted. A batch whose PUT fails fails every
//! change in it (the caller retries); a change the table has no room for (400 routes) fails
//! alone with `LimitExceeded(RoutesPerTable)`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_mgmt_network::Client;
use azure_mgmt_network::models::{
    Route as AzRoute, RouteNextHopType, RoutePropertiesFormat, RouteTable, SubResource,
};
use cloudnet_core::ownership::short_hash;
use cloudnet_core::{
    Error, Limit, Result, Route, RouteCapabilities, RouteState, RouteTarget, Routes,
};
use ipnet::IpNet;
use tokio::sync::oneshot;

use crate::call::with_if_match;
use crate::config::AzureConfig;
use crate::error::from_azure;
use crate::nodes::{nics_of, primary_ip};

/// Routes in one table at most (Azure's limit).
pub const MAX_ROUTES: u32 = 400;
/// Re-reads after a 412 before a batch gives up.
const PRECONDITION_RETRIES: u32 = 5;
/// Route names are at most 80 characters.
const MAX_NAME: usize = 80;

/// One queued change to the table.
#[derive(Debug, Clone)]
enum Change {
    Put {
        name: String,
        destination: IpNet,
        next_hop: IpAddr,
    },
    Delete {
        name: String,
    },
}

type Waiter = oneshot::Sender<Result<()>>;

#[derive(Default)]
struct Queue {
    changes: Vec<(Change, Waiter)>,
    scheduled: bool,
}

struct Inner {
    client: Client,
    cfg: Arc<AzureConfig>,
    queue: Mutex<Queue>,
    /// VM resource ID (lowercase) -> the ID as given and the VM's primary address; read
    /// back by address, it is what `list` reports as the target.
    hops: Mutex<BTreeMap<String, (String, IpAddr)>>,
}

/// The kubenet route table of one cluster.
#[derive(Clone)]
pub struct AzureRoutes {
    inner: Arc<Inner>,
}

impl AzureRoutes {
    pub fn new(client: Client, cfg: Arc<AzureConfig>) -> AzureRoutes {
        AzureRoutes {
            inner: Arc::new(Inner {
                client,
                cfg,
                queue: Mutex::new(Queue::default()),
                hops: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    fn prefix(&self) -> String {
        format!("k8s-{}-", self.inner.cfg.cluster)
    }

    /// `k8s-<cluster>-<node>--<destination>` (`/` as `_`, `:` as `-`), or, when longer than
    /// Azure allows, `k8s-<cluster>-h<16 hex of sha256(node, destination)>`.
    pub fn route_name(&self, node: &str, destination: &IpNet) -> String {
        let dest = destination.to_string().replace('/', "_").replace(':', "-");
        let name = format!("{}{node}--{dest}", self.prefix());
        if name.len() <= MAX_NAME {
            return name;
        }
        let hash = short_hash(&[node, &destination.to_string()], 16);
        format!("{}h{hash}", self.prefix())
    }

    /// The node a route name carries (None for hashed names).
    fn node_of(&self, name: &str) -> Option<String> {
        let rest = name.strip_prefix(&self.prefix())?;
        rest.rsplit_once("--").map(|(n, _)| n.to_string())
    }

    async fn read_table(&self) -> Result<RouteTable> {
        let c = &self.inner;
        c.client
            .route_tables_client()
            .get(
                &c.cfg.resource_group,
                &c.cfg.route_table,
                &c.cfg.subscription,
            )
            .await
            .map_err(|e| from_azure(&e))
    }

    /// The next hop of a target: the VM's primary address (resolved once per VM).
    async fn next_hop(&self, target: &RouteTarget) -> Result<IpAddr> {
        match target {
            RouteTarget::Ip(ip) => Ok(*ip),
            RouteTarget::Instance(id) => {
                if let Some((_, ip)) = lock(&self.inner.hops).get(&id.to_lowercase()) {
                    return Ok(*ip);
                }
                let nics = nics_of(&self.inner.client, &self.inner.cfg, id).await?;
                let ip = primary_ip(&nics)?;
                lock(&self.inner.hops).insert(id.to_lowercase(), (id.clone(), ip));
                Ok(ip)
            }
            RouteTarget::Interface(_) => Err(Error::invalid(
                "Azure routes go to an address or a VM, not an interface",
            )),
        }
    }

    /// Queues a change and waits for the batch that carries it.
    async fn submit(&self, change: Change) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = lock(&self.inner.queue);
            q.changes.push((change, tx));
            !std::mem::replace(&mut q.scheduled, true)
        };
        if start {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(this.inner.cfg.route_batch_window).await;
                this.flush().await;
            });
        }
        rx.await.unwrap_or_else(|_| {
            Err(Error::Transient {
                code: "RouteBatchAborted".into(),
                message: "the route table update was dropped".into(),
            })
        })
    }

    /// Sends every queued change in one table PUT (re-read and re-applied on 412).
    async fn flush(&self) {
        let batch = {
            let mut q = lock(&self.inner.queue);
            q.scheduled = false;
            std::mem::take(&mut q.changes)
        };
        let (changes, waiters): (Vec<Change>, Vec<Waiter>) = batch.into_iter().unzip();
        let results = self.apply_batch(&changes).await;
        for (w, r) in waiters.into_iter().zip(results) {
            let _ = w.send(r);
        }
    }

    async fn apply_batch(&self, changes: &[Change]) -> Vec<Result<()>> {
        let c = &self.inner;
        let mut attempt = 0;
        loop {
            let mut table = match self.read_table().await {
                Ok(t) => t,
                Err(e) => return vec![Err(e); changes.len()],
            };
            let etag = table.etag.clone();
            let props = table.properties.get_or_insert_with(Default::default);
            let (changed, mut results) = apply(&self.prefix(), &mut props.routes, changes);
            if !changed {
                return results;
            }
            // Read-only fields stay out of the PUT.
            props.subnets.clear();
            props.provisioning_state = None;
            let put = with_if_match(
                etag,
                c.client.route_tables_client().create_or_update(
                    &c.cfg.resource_group,
                    &c.cfg.route_table,
                    table,
                    &c.cfg.subscription,
                ),
            )
            .await;
            match put {
                Ok(_) => return results,
                Err(e) => {
                    let err = from_azure(&e);
                    if err.code() == "PreconditionFailed" && attempt < PRECONDITION_RETRIES {
                        attempt += 1;
                        tracing::debug!(attempt, "Route table changed since read, again");
                        continue;
                    }
                    for r in results.iter_mut().filter(|r| r.is_ok()) {
                        *r = Err(err.clone());
                    }
                    return results;
                }
            }
        }
    }
}

/// Applies the changes to the table's routes in order; answers whether anything changed and
/// each change's own result. Routes not named with `prefix` are never touched.
fn apply(prefix: &str, routes: &mut Vec<AzRoute>, changes: &[Change]) -> (bool, Vec<Result<()>>) {
    let mut changed = false;
    let mut results = Vec::with_capacity(changes.len());
    for ch in changes {
        match ch {
            Change::Put {
                name,
                destination,
                next_hop,
            } => {
                let want = az_route(name, destination, next_hop);
                let dest = destination.to_string();
                // Another of ours to the same destination is replaced by this one.
                let before = routes.len();
                routes.retain(|r| {
                    let ours = r.name.as_deref().is_some_and(|n| n.starts_with(prefix));
                    !(ours
                        && r.name.as_deref() != Some(name)
                        && prefix_of(r) == Some(dest.as_str()))
                });
                changed |= routes.len() != before;
                if let Some(have) = routes.iter_mut().find(|r| r.name.as_deref() == Some(name)) {
                    if same_route(have, &want) {
                        results.push(Ok(()));
                    } else {
                        *have = want;
                        changed = true;
                        results.push(Ok(()));
                    }
                } else if let Some(foreign) =
                    routes.iter().find(|r| prefix_of(r) == Some(dest.as_str()))
                {
                    results.push(Err(Error::Conflict {
                        code: "RouteConflict".into(),
                        message: format!(
                            "route {} of the table already sends {dest} elsewhere; it is not this cluster's",
                            foreign.name.as_deref().unwrap_or_default()
                        ),
                    }));
                } else if routes.len() >= MAX_ROUTES as usize {
                    results.push(Err(Error::LimitExceeded {
                        limit: Limit::RoutesPerTable,
                        code: "RouteTableCannotHaveMoreThanMaxRoutes".into(),
                        message: format!("the route table holds {MAX_ROUTES} routes already"),
                    }));
                } else {
                    routes.push(want);
                    changed = true;
                    results.push(Ok(()));
                }
            }
            Change::Delete { name } => {
                let before = routes.len();
                routes.retain(|r| r.name.as_deref() != Some(name));
                changed |= routes.len() != before;
                results.push(Ok(()));
            }
        }
    }
    (changed, results)
}

fn prefix_of(r: &AzRoute) -> Option<&str> {
    r.properties.as_ref()?.address_prefix.as_deref()
}

fn az_route(name: &str, destination: &IpNet, next_hop: &IpAddr) -> AzRoute {
    let mut props = RoutePropertiesFormat::new(RouteNextHopType::VirtualAppliance);
    props.address_prefix = Some(destination.to_string());
    props.next_hop_ip_address = Some(next_hop.to_string());
    AzRoute {
        sub_resource: SubResource::default(),
        properties: Some(props),
        name: Some(name.to_string()),
        etag: None,
        type_: None,
    }
}

fn same_route(a: &AzRoute, b: &AzRoute) -> bool {
    match (&a.properties, &b.properties) {
        (Some(x), Some(y)) => {
            x.address_prefix == y.address_prefix
                && x.next_hop_type == y.next_hop_type
                && x.next_hop_ip_address == y.next_hop_ip_address
        }
        _ => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl Routes for AzureRoutes {
    fn capabilities(&self) -> RouteCapabilities {
        RouteCapabilities {
            instance_target: true,
            interface_target: false,
            ip_target: true,
            max_routes: MAX_ROUTES,
            needs_source_dest_check_off: false,
        }
    }

    async fn list(&self) -> Result<Vec<Route>> {
        let table = self.read_table().await?;
        let id = self.inner.cfg.route_table_id();
        let by_ip: BTreeMap<IpAddr, String> = lock(&self.inner.hops)
            .values()
            .map(|(vm, ip)| (*ip, vm.clone()))
            .collect();
        let mut out = Vec::new();
        for r in table.properties.map(|p| p.routes).unwrap_or_default() {
            let (Some(name), Some(p)) = (r.name.as_deref(), r.properties.as_ref()) else {
                continue;
            };
            let Some(destination) = p.address_prefix.as_deref().and_then(|d| d.parse().ok()) else {
                continue; // service tags (`AzureCloud`) are not CIDRs: never ours
            };
            let owned = name.starts_with(&self.prefix());
            let hop: Option<IpAddr> = p
                .next_hop_ip_address
                .as_deref()
                .and_then(|a| a.parse().ok());
            let (target, state) = match (hop, &p.next_hop_type) {
                (Some(ip), RouteNextHopType::VirtualAppliance) => (
                    by_ip
                        .get(&ip)
                        .map_or(RouteTarget::Ip(ip), |vm| RouteTarget::Instance(vm.clone())),
                    RouteState::Active,
                ),
                (_, RouteNextHopType::None) => (
                    RouteTarget::Ip(IpAddr::from([0, 0, 0, 0])),
                    RouteState::Blackhole,
                ),
                (hop, other) => (
                    RouteTarget::Ip(hop.unwrap_or(IpAddr::from([0, 0, 0, 0]))),
                    if owned {
                        RouteState::Blackhole
                    } else {
                        tracing::trace!(?other, "Foreign route");
                        RouteState::Active
                    },
                ),
            };
            out.push(Route {
                table: id.clone(),
                destination,
                target,
                node: if owned { self.node_of(name) } else { None },
                state,
                owned,
            });
        }
        Ok(out)
    }

    fn known_tables(&self) -> Vec<String> {
        vec![self.inner.cfg.route_table_id()]
    }

    async fn create(&self, route: &Route) -> Result<()> {
        let node = route
            .node
            .as_deref()
            .ok_or_else(|| Error::invalid("an Azure route needs its node's name"))?;
        self.check_table(&route.table)?;
        let next_hop = self.next_hop(&route.target).await?;
        self.submit(Change::Put {
            name: self.route_name(node, &route.destination),
            destination: route.destination,
            next_hop,
        })
        .await
    }

    async fn delete(&self, route: &Route) -> Result<()> {
        self.check_table(&route.table)?;
        if !route.owned {
            return Err(Error::invalid(format!(
                "route to {} is not this cluster's; it is left alone",
                route.destination
            )));
        }
        let node = route
            .node
            .as_deref()
            .ok_or_else(|| Error::invalid("an Azure route needs its node's name"))?;
        self.submit(Change::Delete {
            name: self.route_name(node, &route.destination),
        })
        .await
    }
}

impl AzureRoutes {
    fn check_table(&self, table: &str) -> Result<()> {
        if crate::nodes::same_id(table, &self.inner.cfg.route_table_id()) {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "route table {table} is not the cluster's ({})",
                self.inner.cfg.route_table_id()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(name: &str, dest: &str, hop: &str) -> Change {
        Change::Put {
            name: name.into(),
            destination: dest.parse().unwrap(),
            next_hop: hop.parse().unwrap(),
        }
    }

    #[test]
    fn changes_apply_in_order_and_foreign_routes_stay() {
        let p = "k8s-c-";
        let mut routes = vec![
            az_route(
                "user-route",
                &"10.9.0.0/16".parse().unwrap(),
                &"10.0.0.9".parse().unwrap(),
            ),
            az_route(
                "k8s-c-a--10.244.0.0_24",
                &"10.244.0.0/24".parse().unwrap(),
                &"10.0.0.4".parse().unwrap(),
            ),
        ];
        let (changed, results) = apply(
            p,
            &mut routes,
            &[
                put("k8s-c-a--10.244.0.0_24", "10.244.0.0/24", "10.0.0.4"),
                put("k8s-c-b--10.244.1.0_24", "10.244.1.0/24", "10.0.0.5"),
                put("k8s-c-x--10.9.0.0_16", "10.9.0.0/16", "10.0.0.6"),
                Change::Delete {
                    name: "k8s-c-a--10.244.0.0_24".into(),
                },
            ],
        );
        assert!(changed);
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        assert_eq!(results[2].as_ref().unwrap_err().code(), "RouteConflict");
        let names: Vec<_> = routes.iter().filter_map(|r| r.name.clone()).collect();
        assert_eq!(names, ["user-route", "k8s-c-b--10.244.1.0_24"]);
        // The same changes again change nothing.
        let (changed, _) = apply(
            p,
            &mut routes,
            &[put("k8s-c-b--10.244.1.0_24", "10.244.1.0/24", "10.0.0.5")],
        );
        assert!(!changed);
    }

    #[test]
    fn a_full_table_refuses_more() {
        let mut routes: Vec<AzRoute> = (0..MAX_ROUTES)
            .map(|i| {
                az_route(
                    &format!("u{i}"),
                    &format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
                    &"10.0.0.1".parse().unwrap(),
                )
            })
            .collect();
        let (changed, results) = apply(
            "k8s-c-",
            &mut routes,
            &[put("k8s-c-n--10.250.0.0_24", "10.250.0.0/24", "10.0.0.4")],
        );
        assert!(!changed);
        assert_eq!(
            results[0].as_ref().unwrap_err().kind(),
            cloudnet_core::ErrorKind::LimitExceeded(Limit::RoutesPerTable)
        );
    }
}
