//! VPC routes `pod CIDR -> instance` for routes-based clusters.
//!
//! GCE routes belong to a network and carry no labels; a route is the cluster's when its
//! name has the cluster's prefix ([`route_prefix`]) **and** its description says
//! `cloudnet.io/cluster=<name>` ([`route_description`]). Everything else in the network (the
//! default internet route, other clusters' and other teams' routes) is listed as not owned
//! and never replaced or deleted. A route's name is derived from the cluster and the
//! destination, so the route for a range is found with one `routes.get`, and a range that
//! moves to another node replaces its route (GCE routes cannot be changed, only deleted and
//! inserted again).
//!
//! `Route::table` is the network's name; `RouteTarget::Instance` is the instance's name as
//! Kubernetes' GCE provider ID gives it (`gce://<project>/<zone>/<name>` -> `<name>`), or a
//! reference with its zone (`zones/<z>/instances/<n>`). Listed routes name their instance by
//! name. Routes whose next hop is neither an instance nor an IP (gateways, peerings, ILBs)
//! are not listed: no pod route is one.

use async_trait::async_trait;
use cloudnet_core::ownership::{TAG_CLUSTER, TAG_NODE};
use cloudnet_core::{Error, Result, Route, RouteCapabilities, RouteState, RouteTarget, Routes};
use google_cloud_compute_v1::model::Route as GceRoute;
use google_cloud_compute_v1::model::route::warnings::Code as WarningCode;
use ipnet::IpNet;

use crate::call::{gone_is_done, methods};
use crate::names::{
    description_tags, instance_path, last_segment, network_path, route_description, route_name,
    route_prefix,
};
use crate::provider::GcpProvider;

/// GCE's default `ROUTES` quota per project (the effective limit of one network's routes).
pub const DEFAULT_MAX_ROUTES: u32 = 250;

/// A route as read, with what it takes to decide about it.
#[derive(Debug, Clone)]
struct Observed {
    route: Route,
    name: String,
}

impl GcpProvider {
    /// Reads a GCE route into the model; None for routes that are not `pod CIDR -> instance
    /// or IP` (or whose range does not parse).
    fn observe(&self, r: &GceRoute) -> Option<Observed> {
        let cluster = &self.config().cluster_name;
        let name = r.name.clone()?;
        let destination: IpNet = r.dest_range.as_deref()?.parse().ok()?;
        let target = if let Some(i) = r.next_hop_instance.as_deref() {
            RouteTarget::Instance(last_segment(i).to_string())
        } else if let Some(ip) = r.next_hop_ip.as_deref() {
            RouteTarget::Ip(ip.parse().ok()?)
        } else {
            return None;
        };
        let tags = description_tags(r.description.as_deref().unwrap_or_default());
        let owned = name.starts_with(&route_prefix(cluster))
            && tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster);
        let gone = r.warnings.iter().any(|w| {
            matches!(
                w.code,
                Some(WarningCode::NextHopInstanceNotFound)
                    | Some(WarningCode::NextHopAddressNotAssigned)
                    | Some(WarningCode::NextHopNotRunning)
                    | Some(WarningCode::NextHopInstanceNotOnNetwork)
            )
        });
        Some(Observed {
            route: Route {
                table: self.location().network.clone(),
                destination,
                target,
                node: if owned {
                    tags.get(TAG_NODE).cloned()
                } else {
                    None
                },
                state: if gone {
                    RouteState::Blackhole
                } else {
                    RouteState::Active
                },
                owned,
            },
            name,
        })
    }

    fn check_table(&self, route: &Route) -> Result<()> {
        let network = &self.location().network;
        if &route.table != network {
            return Err(Error::InvalidInput {
                code: "NotOwned".into(),
                message: format!(
                    "routes of this cluster live in network {network}, not {}",
                    route.table
                ),
            });
        }
        Ok(())
    }

    /// The route of this name, if there is one.
    async fn get_route(&self, name: &str) -> Result<Option<GceRoute>> {
        let project = self.project();
        let got = self
            .caller()
            .call(methods::ROUTES_GET, || {
                self.clients()
                    .routes
                    .get()
                    .set_project(project)
                    .set_route(name)
                    .send()
            })
            .await;
        match got {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete_route_named(&self, name: &str) -> Result<()> {
        let project = self.project();
        let op = self
            .caller()
            .call(methods::ROUTES_DELETE, || {
                self.clients()
                    .routes
                    .delete()
                    .set_project(project)
                    .set_route(name)
                    .send()
            })
            .await;
        match op {
            Ok(op) => gone_is_done(self.wait(op).await),
            Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The route body to insert for `route` under `name`.
    async fn route_body(&self, route: &Route, name: &str) -> Result<GceRoute> {
        let project = self.project();
        let mut body = GceRoute::new()
            .set_name(name)
            .set_network(network_path(project, &self.location().network))
            .set_dest_range(route.destination.trunc().to_string())
            .set_priority(self.config().route_priority)
            .set_description(route_description(
                &self.config().cluster_name,
                route.node.as_deref(),
            ));
        body = match &route.target {
            RouteTarget::Instance(reference) => {
                let (zone, instance) = self.locate_instance(reference).await?;
                body.set_next_hop_instance(instance_path(project, &zone, &instance))
            }
            RouteTarget::Ip(ip) => body.set_next_hop_ip(ip.to_string()),
            RouteTarget::Interface(id) => {
                return Err(Error::invalid(format!(
                    "GCE routes cannot target an interface ({id}); target the instance"
                )));
            }
        };
        Ok(body)
    }

    async fn insert_route(&self, body: GceRoute) -> Result<()> {
        let project = self.project();
        let op = self
            .caller()
            .call(methods::ROUTES_INSERT, || {
                self.clients()
                    .routes
                    .insert()
                    .set_project(project)
                    .set_body(body.clone())
                    .send()
            })
            .await?;
        self.wait(op).await
    }
}

/// True when the listed route already is what `want` asks for.
fn same_route(have: &Route, want: &Route) -> bool {
    let want_target = match &want.target {
        RouteTarget::Instance(reference) => RouteTarget::Instance(
            crate::names::zone_and_instance(reference)
                .map_or(reference.as_str(), |(_, n)| n)
                .to_string(),
        ),
        other => other.clone(),
    };
    have.destination == want.destination.trunc()
        && have.target == want_target
        && have.state == RouteState::Active
}

#[async_trait]
impl Routes for GcpProvider {
    fn capabilities(&self) -> RouteCapabilities {
        RouteCapabilities {
            instance_target: true,
            interface_target: false,
            ip_target: true,
            max_routes: DEFAULT_MAX_ROUTES,
            // GCE forwards for an instance created with canIpForward; nothing to switch.
            needs_source_dest_check_off: false,
        }
    }

    /// The cluster's network: routes go there even before it lists any.
    fn known_tables(&self) -> Vec<String> {
        vec![self.location().network.clone()]
    }

    async fn list(&self) -> Result<Vec<Route>> {
        let project = self.project().to_string();
        let pages = self
            .caller()
            .pages(
                methods::ROUTES_LIST,
                |token| {
                    let mut req = self
                        .clients()
                        .routes
                        .list()
                        .set_project(project.clone())
                        .set_max_results(500u32);
                    if let Some(t) = token {
                        req = req.set_page_token(t);
                    }
                    req.send()
                },
                |p| p.next_page_token.as_deref(),
            )
            .await?;
        let network = &self.location().network;
        Ok(pages
            .iter()
            .flat_map(|p| p.items.iter())
            .filter(|r| r.network.as_deref().map(last_segment) == Some(network.as_str()))
            .filter_map(|r| self.observe(r))
            .map(|o| o.route)
            .collect())
    }

    async fn create(&self, route: &Route) -> Result<()> {
        self.check_table(route)?;
        let cluster = &self.config().cluster_name;
        let name = route_name(cluster, &route.destination.trunc());
        if let Some(have) = self.get_route(&name).await? {
            match self.observe(&have) {
                Some(o) if o.route.owned => {
                    if same_route(&o.route, route) {
                        return Ok(());
                    }
                    tracing::info!(route = %o.name, destination = %route.destination, "Replacing route");
                    self.delete_route_named(&o.name).await?;
                }
                _ => {
                    return Err(Error::InvalidInput {
                        code: "NotOwned".into(),
                        message: format!(
                            "route {name} exists and is not this cluster's; refusing to replace it"
                        ),
                    });
                }
            }
        }
        let body = self.route_body(route, &name).await?;
        match self.insert_route(body).await {
            Err(Error::Conflict { code, .. }) if code == "alreadyExists" => {
                // Another writer inserted it between our read and insert: fine when it is
                // the same route.
                let now = self.get_route(&name).await?;
                match now.as_ref().and_then(|r| self.observe(r)) {
                    Some(o) if o.route.owned && same_route(&o.route, route) => Ok(()),
                    _ => Err(Error::Conflict {
                        code: "alreadyExists".into(),
                        message: format!("route {name} was created with another next hop"),
                    }),
                }
            }
            other => other,
        }
    }

    async fn delete(&self, route: &Route) -> Result<()> {
        self.check_table(route)?;
        let name = route_name(&self.config().cluster_name, &route.destination.trunc());
        let Some(have) = self.get_route(&name).await? else {
            return Ok(());
        };
        match self.observe(&have) {
            Some(o) if o.route.owned => self.delete_route_named(&o.name).await,
            _ => Err(Error::InvalidInput {
                code: "NotOwned".into(),
                message: format!("route {name} is not this cluster's; refusing to delete it"),
            }),
        }
    }
}
