//! VPC routes `pod CIDR -> instance/ENI`.
//!
//! AWS routes carry no tags, so ownership is defined by place and range: a route is ours when
//! it is in one of the cluster's route tables (named by ID in the config, or tagged
//! `kubernetes.io/cluster/<name>` / `cloudnet.io/cluster=<name>`) **and** its destination lies
//! inside one of the configured cluster pod CIDRs. Everything else in those tables (the local
//! route, gateways, other teams' routes) is listed but never replaced or deleted.
//!
//! `list` reads the tables; `create` and `delete` decide from that view while it is younger
//! than [`ROUTE_VIEW_TTL`] (and keep it up to date with their own writes), so a controller
//! applying a plan of many routes makes one read, not one per route.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, RouteTable};
use cloudnet_core::ownership::{AWS_CLUSTER_TAG_PREFIX, TAG_CLUSTER};
use cloudnet_core::{Error, Result, Route, RouteCapabilities, RouteState, RouteTarget, Routes};
use ipnet::IpNet;

use crate::config::RouteTableSelector;
use crate::ec2_convert::routes_of;
use crate::lb::convert::ec2_tags;
use crate::ops::AwsOp;
use crate::provider::{AwsProvider, RouteView, lock};

/// How long the tables read by `list` (or by a `create` or `delete`) decide later writes.
pub const ROUTE_VIEW_TTL: Duration = Duration::from_secs(10);

impl RouteView {
    fn of(tables: &[RouteTable]) -> RouteView {
        let mut routes = HashMap::new();
        for t in tables {
            let Some(id) = t.route_table_id() else {
                continue;
            };
            for (destination, target, state) in routes_of(t) {
                routes.insert((id.to_string(), destination), (target, state));
            }
        }
        RouteView {
            at: Instant::now(),
            tables: tables
                .iter()
                .filter_map(|t| t.route_table_id().map(str::to_string))
                .collect(),
            routes,
        }
    }
}

/// A `CreateRoute` or `ReplaceRoute` request `b` for `route`, to `dest` (its destination).
macro_rules! route_request {
    ($b:expr, $route:expr, $dest:expr) => {{
        let b = $b
            .route_table_id(&$route.table)
            .destination_cidr_block($dest);
        match &$route.target {
            RouteTarget::Instance(i) => b.instance_id(i),
            RouteTarget::Interface(n) => b.network_interface_id(n),
            RouteTarget::Ip(_) => b,
        }
    }};
}

impl AwsProvider {
    /// The route view, read again when older than [`ROUTE_VIEW_TTL`].
    async fn route_view(&self) -> Result<RouteView> {
        if let Some(v) = lock(&self.inner.cache.route_view).as_ref()
            && v.at.elapsed() < ROUTE_VIEW_TTL
        {
            return Ok(v.clone());
        }
        let tables = self.route_tables().await?;
        let view = RouteView::of(&tables);
        *lock(&self.inner.cache.route_view) = Some(view.clone());
        Ok(view)
    }

    /// Records the provider's own write in the cached view.
    fn remember_route(&self, table: &str, destination: IpNet, now: Option<RouteTarget>) {
        if let Some(v) = lock(&self.inner.cache.route_view).as_mut() {
            let key = (table.to_string(), destination);
            match now {
                Some(target) => {
                    v.routes.insert(key, (target, RouteState::Active));
                }
                None => {
                    v.routes.remove(&key);
                }
            }
        }
    }

    /// The cluster's route tables, as Describe shows them now.
    async fn route_tables(&self) -> Result<Vec<RouteTable>> {
        let ec2 = &self.inner.ec2;
        let cluster = &self.inner.config.cluster_name;
        let k8s_tag = format!("{AWS_CLUSTER_TAG_PREFIX}{cluster}");
        let out = match &self.inner.config.route_tables {
            RouteTableSelector::Ids(ids) => {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                self.inner
                    .caller
                    .call(AwsOp::DescribeRouteTables, || {
                        ec2.describe_route_tables()
                            .set_route_table_ids(Some(ids.clone()))
                            .send()
                    })
                    .await?
            }
            RouteTableSelector::ClusterTag => {
                self.inner
                    .caller
                    .call(AwsOp::DescribeRouteTables, || {
                        ec2.describe_route_tables()
                            .filters(self.in_vpc())
                            .filters(
                                Filter::builder()
                                    .name("tag-key")
                                    .values(&k8s_tag)
                                    .values(TAG_CLUSTER)
                                    .build(),
                            )
                            .send()
                    })
                    .await?
            }
        };
        let tables = out
            .route_tables()
            .iter()
            .filter(|t| match &self.inner.config.route_tables {
                RouteTableSelector::Ids(_) => true,
                RouteTableSelector::ClusterTag => {
                    let tags = ec2_tags(t.tags());
                    tags.contains_key(&k8s_tag)
                        || tags.get(TAG_CLUSTER).is_some_and(|c| c == cluster)
                }
            })
            .cloned()
            .collect();
        Ok(tables)
    }

    /// Inside a cluster pod CIDR (the table being one of ours is checked by the caller).
    fn in_pod_cidrs(&self, destination: &IpNet) -> bool {
        self.inner
            .config
            .pod_cidrs
            .iter()
            .any(|c| c.contains(destination))
    }

    fn check_owned(&self, tables: &BTreeSet<String>, route: &Route) -> Result<()> {
        if !tables.contains(&route.table) {
            return Err(Error::InvalidInput {
                code: "NotOwned".into(),
                message: format!("route table {} is not one of the cluster's", route.table),
            });
        }
        if !self.in_pod_cidrs(&route.destination) {
            return Err(Error::InvalidInput {
                code: "NotOwned".into(),
                message: format!(
                    "{} is outside the cluster pod CIDRs {:?}; refusing to change the route",
                    route.destination, self.inner.config.pod_cidrs
                ),
            });
        }
        Ok(())
    }

    async fn disable_source_dest_check(&self, target: &RouteTarget) -> Result<()> {
        let key = match target {
            RouteTarget::Instance(id) | RouteTarget::Interface(id) => id.clone(),
            RouteTarget::Ip(_) => return Ok(()),
        };
        if lock(&self.inner.cache.source_dest_off).contains(&key) {
            return Ok(());
        }
        let ec2 = &self.inner.ec2;
        let off = || AttributeBooleanValue::builder().value(false).build();
        match target {
            RouteTarget::Instance(id) => {
                self.inner
                    .caller
                    .call(AwsOp::ModifyInstanceAttribute, || {
                        ec2.modify_instance_attribute()
                            .instance_id(id)
                            .source_dest_check(off())
                            .send()
                    })
                    .await?;
            }
            RouteTarget::Interface(id) => {
                self.inner
                    .caller
                    .call(AwsOp::ModifyNetworkInterfaceAttribute, || {
                        ec2.modify_network_interface_attribute()
                            .network_interface_id(id)
                            .source_dest_check(off())
                            .send()
                    })
                    .await?;
            }
            RouteTarget::Ip(_) => {}
        }
        lock(&self.inner.cache.source_dest_off).insert(key);
        Ok(())
    }
}

/// What `create` does to a table for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteChange {
    /// There, active, to the wanted target.
    Keep,
    /// There, but to another target or a blackhole (its instance or interface is gone):
    /// pointed at the wanted target in place.
    Replace,
    Create,
}

/// The pure decision of `create`: the route found for the destination (if any) against the
/// wanted target.
fn route_change(existing: Option<(RouteTarget, RouteState)>, want: &RouteTarget) -> RouteChange {
    match existing {
        Some((target, RouteState::Active)) if &target == want => RouteChange::Keep,
        Some(_) => RouteChange::Replace,
        None => RouteChange::Create,
    }
}

#[async_trait]
impl Routes for AwsProvider {
    fn capabilities(&self) -> RouteCapabilities {
        RouteCapabilities {
            instance_target: true,
            interface_target: true,
            ip_target: false,
            max_routes: 50,
            needs_source_dest_check_off: true,
        }
    }

    async fn list(&self) -> Result<Vec<Route>> {
        let tables = self.route_tables().await?;
        *lock(&self.inner.cache.route_view) = Some(RouteView::of(&tables));
        let mut out = Vec::new();
        for t in &tables {
            let Some(table) = t.route_table_id() else {
                continue;
            };
            for (destination, target, state) in routes_of(t) {
                out.push(Route {
                    table: table.to_string(),
                    owned: self.in_pod_cidrs(&destination),
                    destination,
                    target,
                    node: None,
                    state,
                });
            }
        }
        Ok(out)
    }

    async fn create(&self, route: &Route) -> Result<()> {
        let view = self.route_view().await?;
        self.check_owned(&view.tables, route)?;
        if let RouteTarget::Ip(ip) = route.target {
            return Err(Error::invalid(format!(
                "AWS routes go to an instance or an interface, not an IP ({ip})"
            )));
        }
        self.disable_source_dest_check(&route.target).await?;
        let existing = view
            .routes
            .get(&(route.table.clone(), route.destination))
            .cloned();
        let ec2 = &self.inner.ec2;
        let dest = route.destination.to_string();
        let replace = || async {
            self.inner
                .caller
                .call(AwsOp::ReplaceRoute, || {
                    route_request!(ec2.replace_route(), route, &dest).send()
                })
                .await
                .map(|_| ())
        };
        let done = match route_change(existing, &route.target) {
            RouteChange::Keep => Ok(()),
            RouteChange::Replace => replace().await,
            RouteChange::Create => {
                let created = self
                    .inner
                    .caller
                    .call(AwsOp::CreateRoute, || {
                        route_request!(ec2.create_route(), route, &dest).send()
                    })
                    .await;
                match created {
                    Ok(_) => Ok(()),
                    // Someone (or our own earlier attempt) got there first: it is in our
                    // range, so it is ours to point at the right target.
                    Err(Error::Conflict { code, .. }) if code == "RouteAlreadyExists" => {
                        replace().await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match &done {
            Ok(()) => {
                self.remember_route(&route.table, route.destination, Some(route.target.clone()))
            }
            // The view was wrong about this route: read the tables again next time.
            Err(_) => *lock(&self.inner.cache.route_view) = None,
        }
        done
    }

    async fn delete(&self, route: &Route) -> Result<()> {
        let view = self.route_view().await?;
        self.check_owned(&view.tables, route)?;
        let ec2 = &self.inner.ec2;
        let dest = route.destination.to_string();
        let out = self
            .inner
            .caller
            .call(AwsOp::DeleteRoute, || {
                ec2.delete_route()
                    .route_table_id(&route.table)
                    .destination_cidr_block(&dest)
                    .send()
            })
            .await;
        crate::call::gone_is_done(out)?;
        self.remember_route(&route.table, route.destination, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_change_table() {
        let i1 = || RouteTarget::Instance("i-1".into());
        let i2 = || RouteTarget::Instance("i-2".into());
        let e1 = || RouteTarget::Interface("eni-1".into());
        let cases = [
            (None, i1(), RouteChange::Create),
            (Some((i1(), RouteState::Active)), i1(), RouteChange::Keep),
            (Some((i2(), RouteState::Active)), i1(), RouteChange::Replace),
            (
                Some((i1(), RouteState::Blackhole)),
                i1(),
                RouteChange::Replace,
            ),
            (Some((i1(), RouteState::Active)), e1(), RouteChange::Replace),
            (Some((e1(), RouteState::Active)), e1(), RouteChange::Keep),
        ];
        for (existing, want, change) in cases {
            assert_eq!(
                route_change(existing.clone(), &want),
                change,
                "{existing:?} -> {want:?}"
            );
        }
    }
}
