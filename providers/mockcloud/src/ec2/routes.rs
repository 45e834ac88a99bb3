//! Route tables: the immutable `local` route of every VPC CIDR, one route per destination
//! (`RouteAlreadyExists`), `blackhole` when an instance or interface target is gone, and
//! subnet associations (one explicit table per subnet, the VPC's main table otherwise).

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::awserror::AwsError;
use crate::query::Params;
use crate::xml::Xml;

use super::describe::{self, Filterable};
use super::tags::{from_specs, tag_set};
use super::{Ec2State, InstanceState, Tags, ok_return};

#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    pub routes: Vec<Route>,
    pub associations: Vec<Association>,
    pub tags: Tags,
}

impl RouteTable {
    pub fn is_main(&self) -> bool {
        self.associations.iter().any(|a| a.main)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Association {
    pub id: String,
    pub subnet_id: Option<String>,
    pub main: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub destination: Ipv4Net,
    pub target: RouteTarget,
    /// `CreateRouteTable` for the local routes, `CreateRoute` for the rest.
    pub origin: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    Local,
    Gateway(String),
    NatGateway(String),
    /// An instance, and the interface the route resolved to when it was made.
    Instance {
        instance_id: String,
        network_interface_id: String,
    },
    NetworkInterface(String),
}

fn route_table_not_found(id: &str) -> AwsError {
    AwsError::client(
        "InvalidRouteTableID.NotFound",
        format!("The routeTable ID '{id}' does not exist"),
    )
}

fn route_not_found(table: &str, dest: &Ipv4Net) -> AwsError {
    AwsError::client(
        "InvalidRoute.NotFound",
        format!("no route with destination-cidr-block {dest} in route table {table}"),
    )
}

impl Filterable for (&RouteTable, &Ec2State) {
    fn filter_values(&self, name: &str) -> Vec<String> {
        let (rt, _) = self;
        match name {
            "route-table-id" => vec![rt.id.clone()],
            "vpc-id" => vec![rt.vpc_id.clone()],
            "association.subnet-id" => rt
                .associations
                .iter()
                .filter_map(|a| a.subnet_id.clone())
                .collect(),
            "association.route-table-association-id" => {
                rt.associations.iter().map(|a| a.id.clone()).collect()
            }
            "association.main" => vec![rt.is_main().to_string()],
            "route.destination-cidr-block" => rt
                .routes
                .iter()
                .map(|r| r.destination.to_string())
                .collect(),
            "route.instance-id" => rt
                .routes
                .iter()
                .filter_map(|r| match &r.target {
                    RouteTarget::Instance { instance_id, .. } => Some(instance_id.clone()),
                    _ => None,
                })
                .collect(),
            "route.state" => rt
                .routes
                .iter()
                .map(|r| self.1.route_state(r).to_string())
                .collect(),
            _ => vec![],
        }
    }
    fn tags(&self) -> &Tags {
        &self.0.tags
    }
}

impl Ec2State {
    pub(super) fn insert_route_table(&mut self, vpc_id: &str, main: bool, tags: Tags) -> String {
        let id = self.ids.id("rtb");
        let routes = self
            .vpcs
            .get(vpc_id)
            .map(|v| {
                v.cidr_blocks
                    .iter()
                    .map(|c| Route {
                        destination: *c,
                        target: RouteTarget::Local,
                        origin: "CreateRouteTable",
                    })
                    .collect()
            })
            .unwrap_or_default();
        let associations = if main {
            vec![Association {
                id: self.ids.id("rtbassoc"),
                subnet_id: None,
                main: true,
            }]
        } else {
            vec![]
        };
        self.route_tables.insert(
            id.clone(),
            RouteTable {
                id: id.clone(),
                vpc_id: vpc_id.to_string(),
                routes,
                associations,
                tags,
            },
        );
        id
    }

    fn route_table_mut(&mut self, id: &str) -> Result<&mut RouteTable, AwsError> {
        self.route_tables
            .get_mut(id)
            .ok_or_else(|| route_table_not_found(id))
    }

    /// `active`, or `blackhole` when the target instance or interface no longer exists.
    pub(super) fn route_state(&self, r: &Route) -> &'static str {
        let alive = match &r.target {
            RouteTarget::Instance {
                instance_id,
                network_interface_id,
            } => {
                self.instances
                    .get(instance_id)
                    .is_some_and(|i| i.state != InstanceState::Terminated)
                    && self.network_interfaces.contains_key(network_interface_id)
            }
            RouteTarget::NetworkInterface(id) => self.network_interfaces.contains_key(id),
            _ => true,
        };
        if alive { "active" } else { "blackhole" }
    }

    fn route_target(&self, p: &Params, vpc_id: &str) -> Result<RouteTarget, AwsError> {
        let given: Vec<(&str, &str)> = [
            "GatewayId",
            "NatGatewayId",
            "InstanceId",
            "NetworkInterfaceId",
            "VpcPeeringConnectionId",
            "TransitGatewayId",
        ]
        .into_iter()
        .filter_map(|k| p.get(k).map(|v| (k, v)))
        .collect();
        match given.as_slice() {
            [] => Err(AwsError::missing_parameter(
                "GatewayId, NatGatewayId, InstanceId or NetworkInterfaceId",
            )),
            [(k, v)] => match *k {
                "GatewayId" if *v == "local" => Err(AwsError::invalid_parameter_value(
                    "Cannot create or replace a route with target local",
                )),
                "GatewayId" => Ok(RouteTarget::Gateway(v.to_string())),
                "NatGatewayId" => Ok(RouteTarget::NatGateway(v.to_string())),
                "InstanceId" => {
                    let inst = self.instance(v)?;
                    if inst.vpc_id != vpc_id {
                        return Err(AwsError::invalid_parameter_value(format!(
                            "route table and instance {v} belong to different networks"
                        )));
                    }
                    // AWS resolves an instance target to its only interface; with more than
                    // one attached it cannot tell which and refuses.
                    let enis: Vec<&str> = self.instance_enis(v).map(|e| e.id.as_str()).collect();
                    match enis.as_slice() {
                        [one] => Ok(RouteTarget::Instance {
                            instance_id: v.to_string(),
                            network_interface_id: one.to_string(),
                        }),
                        _ => Err(AwsError::client(
                            "InvalidInstanceID",
                            format!(
                                "There are multiple interfaces attached to instance '{v}'. Please specify an interface ID for the operation instead."
                            ),
                        )),
                    }
                }
                "NetworkInterfaceId" => {
                    let eni = self.eni(v)?;
                    if eni.vpc_id != vpc_id {
                        return Err(AwsError::invalid_parameter_value(format!(
                            "route table and network interface {v} belong to different networks"
                        )));
                    }
                    Ok(RouteTarget::NetworkInterface(v.to_string()))
                }
                other => Err(AwsError::invalid_parameter_value(format!(
                    "The target {other} is not supported by this cloud"
                ))),
            },
            _ => Err(AwsError::client(
                "InvalidParameterCombination",
                "More than one target specified for the route",
            )),
        }
    }

    pub(super) fn create_route(
        &mut self,
        p: &Params,
        replace: bool,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let table_id = p.required("RouteTableId")?.to_string();
        let dest_s = p.required("DestinationCidrBlock")?;
        let dest: Ipv4Net = dest_s
            .parse::<Ipv4Net>()
            .map(|n| n.trunc())
            .map_err(|_| {
                AwsError::invalid_parameter_value(format!(
                    "Value ({dest_s}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block."
                ))
            })?;
        let vpc_id = self
            .route_tables
            .get(&table_id)
            .ok_or_else(|| route_table_not_found(&table_id))?
            .vpc_id
            .clone();
        let target = self.route_target(p, &vpc_id)?;
        let rt = self.route_table_mut(&table_id)?;
        let existing = rt.routes.iter().position(|r| r.destination == dest);
        match (replace, existing) {
            (false, Some(_)) => {
                return Err(AwsError::client(
                    "RouteAlreadyExists",
                    format!("The route identified by {dest} already exists."),
                ));
            }
            (false, None) => rt.routes.push(Route {
                destination: dest,
                target,
                origin: "CreateRoute",
            }),
            (true, None) => return Err(route_not_found(&table_id, &dest)),
            (true, Some(i)) => {
                if rt.routes[i].target == RouteTarget::Local {
                    return Err(AwsError::invalid_parameter_value(format!(
                        "cannot replace local route {dest} in route table {table_id}"
                    )));
                }
                rt.routes[i].target = target;
            }
        }
        ok_return(x);
        Ok(())
    }

    pub(super) fn delete_route(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let table_id = p.required("RouteTableId")?.to_string();
        let dest_s = p.required("DestinationCidrBlock")?;
        let dest: Ipv4Net = dest_s.parse::<Ipv4Net>().map(|n| n.trunc()).map_err(|_| {
            AwsError::invalid_parameter_value(format!(
                "Value ({dest_s}) for parameter destinationCidrBlock is invalid."
            ))
        })?;
        let rt = self.route_table_mut(&table_id)?;
        let i = rt
            .routes
            .iter()
            .position(|r| r.destination == dest)
            .ok_or_else(|| route_not_found(&table_id, &dest))?;
        if rt.routes[i].target == RouteTarget::Local {
            return Err(AwsError::invalid_parameter_value(format!(
                "cannot remove local route {dest} in route table {table_id}"
            )));
        }
        rt.routes.remove(i);
        ok_return(x);
        Ok(())
    }

    pub(super) fn create_route_table(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let vpc_id = p.required("VpcId")?.to_string();
        self.vpc(&vpc_id)?;
        let tags = from_specs(p, &["route-table"], "route-table")?;
        let id = self.insert_route_table(&vpc_id, false, tags);
        let rt = self
            .route_tables
            .get(&id)
            .ok_or_else(|| route_table_not_found(&id))?;
        x.elem("routeTable", |x| self.route_table_xml(x, rt));
        Ok(())
    }

    pub(super) fn delete_route_table(&mut self, p: &Params, x: &mut Xml) -> Result<(), AwsError> {
        let id = p.required("RouteTableId")?.to_string();
        let rt = self.route_table_mut(&id)?;
        if !rt.associations.is_empty() {
            return Err(AwsError::client(
                "DependencyViolation",
                format!("The routeTable '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.route_tables.remove(&id);
        ok_return(x);
        Ok(())
    }

    pub(super) fn associate_route_table(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let id = p.required("RouteTableId")?.to_string();
        let subnet_id = p.required("SubnetId")?.to_string();
        let subnet_vpc = self.subnet(&subnet_id)?.vpc_id.clone();
        let vpc = self
            .route_tables
            .get(&id)
            .ok_or_else(|| route_table_not_found(&id))?
            .vpc_id
            .clone();
        if vpc != subnet_vpc {
            return Err(AwsError::invalid_parameter_value(format!(
                "Route table {id} and subnet {subnet_id} belong to different networks"
            )));
        }
        if let Some(other) = self.route_tables.values().find(|r| {
            r.associations
                .iter()
                .any(|a| a.subnet_id.as_deref() == Some(subnet_id.as_str()))
        }) {
            return Err(AwsError::client(
                "Resource.AlreadyAssociated",
                format!(
                    "the specified association for route table {} conflicts with an existing association",
                    other.id
                ),
            ));
        }
        let assoc = self.ids.id("rtbassoc");
        self.route_table_mut(&id)?.associations.push(Association {
            id: assoc.clone(),
            subnet_id: Some(subnet_id),
            main: false,
        });
        x.leaf("associationId", &assoc)
            .elem("associationState", |x| {
                x.leaf("state", "associated");
            });
        Ok(())
    }

    pub(super) fn disassociate_route_table(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let assoc = p.required("AssociationId")?.to_string();
        let not_found = || {
            AwsError::client(
                "InvalidAssociationID.NotFound",
                format!("The association ID '{assoc}' does not exist"),
            )
        };
        let rt = self
            .route_tables
            .values_mut()
            .find(|r| r.associations.iter().any(|a| a.id == assoc))
            .ok_or_else(not_found)?;
        if rt.associations.iter().any(|a| a.id == assoc && a.main) {
            return Err(AwsError::invalid_parameter_value(format!(
                "cannot disassociate the main route table association {assoc}"
            )));
        }
        rt.associations.retain(|a| a.id != assoc);
        ok_return(x);
        Ok(())
    }

    fn route_table_xml(&self, x: &mut Xml, rt: &RouteTable) {
        let owner = &self.account_id;
        x.leaf("routeTableId", &rt.id)
            .leaf("vpcId", &rt.vpc_id)
            .leaf("ownerId", owner)
            .list("routeSet", "item", &rt.routes, |x, r| {
                x.leaf("destinationCidrBlock", r.destination);
                match &r.target {
                    RouteTarget::Local => {
                        x.leaf("gatewayId", "local");
                    }
                    RouteTarget::Gateway(g) => {
                        x.leaf("gatewayId", g);
                    }
                    RouteTarget::NatGateway(g) => {
                        x.leaf("natGatewayId", g);
                    }
                    RouteTarget::Instance {
                        instance_id,
                        network_interface_id,
                    } => {
                        x.leaf("instanceId", instance_id)
                            .leaf("instanceOwnerId", owner)
                            .leaf("networkInterfaceId", network_interface_id);
                    }
                    RouteTarget::NetworkInterface(e) => {
                        x.leaf("networkInterfaceId", e);
                        if let Some(i) = self
                            .network_interfaces
                            .get(e)
                            .and_then(|e| e.attachment.as_ref())
                        {
                            x.leaf("instanceId", &i.instance_id)
                                .leaf("instanceOwnerId", owner);
                        }
                    }
                }
                x.leaf("state", self.route_state(r))
                    .leaf("origin", r.origin);
            })
            .list("associationSet", "item", &rt.associations, |x, a| {
                x.leaf("routeTableAssociationId", &a.id)
                    .leaf("routeTableId", &rt.id)
                    .opt_leaf("subnetId", a.subnet_id.as_deref())
                    .leaf("main", a.main)
                    .elem("associationState", |x| {
                        x.leaf("state", "associated");
                    });
            })
            .elem("propagatingVgwSet", |_| {});
        tag_set(x, &rt.tags);
    }

    pub(super) fn describe_route_tables(
        &mut self,
        p: &Params,
        x: &mut Xml,
    ) -> Result<(), AwsError> {
        let filters = describe::filters(
            p,
            &[
                "route-table-id",
                "vpc-id",
                "association.subnet-id",
                "association.route-table-association-id",
                "association.main",
                "route.destination-cidr-block",
                "route.instance-id",
                "route.state",
            ],
        )?;
        let ids = p.list("RouteTableId");
        describe::check_ids(
            &ids,
            |id| self.route_tables.contains_key(id),
            route_table_not_found,
        )?;
        let items: Vec<&RouteTable> = self
            .route_tables
            .values()
            .filter(|r| ids.is_empty() || ids.contains(&r.id.as_str()))
            .filter(|r| describe::matches(&(*r, &*self), &filters))
            .collect();
        let page = describe::paginate(items, p, 100, !ids.is_empty(), |r| r.id.as_str())?;
        x.list("routeTableSet", "item", &page.items, |x, rt| {
            self.route_table_xml(x, rt)
        });
        x.opt_leaf("nextToken", page.next_token.as_deref());
        Ok(())
    }
}
