//! The Azure world: the mock's AKS-like world on its ARM port (a VNet with the node subnet,
//! the cluster's route table) with two standalone VMs as nodes, the backend through
//! azure_mgmt_network with a static token, its three parts put together as the controllers
//! hold them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cloudnet_azure::client::{compute_client, network_client};
use cloudnet_azure::{AzureAddresses, AzureConfig, AzureLoadBalancers, AzureRoutes};
use cloudnet_core::{
    Cloud, LoadBalancerSpec, NodeRef, Owner, OwnerKind, Route, RouteState, RouteTarget, Target,
    TargetKind,
};
use cloudnet_mockcloud::Handle;
use cloudnet_mockcloud::azure::world::SubnetSpec;
use ipnet::IpNet;
use serde_json::{Value, json};

use super::world::{CLUSTER, World};

#[path = "../../../providers/azure/tests/common/mod.rs"]
pub mod common;

/// Two availability-set nodes (standalone VMs, whose NICs take ipConfigurations; a scale
/// set's come from its model).
const NODES: [&str; 2] = ["vm1", "vm2"];

pub struct AzureWorld {
    mock: Handle,
    cfg: Arc<AzureConfig>,
    lbs: AzureLoadBalancers,
    cloud: Cloud,
    /// The nodes' VM IDs.
    vms: Vec<String>,
}

impl AzureWorld {
    pub async fn start() -> AzureWorld {
        // With the Application Gateways' dedicated subnet, as AGIC's add-on makes it.
        let mock = common::start(|w| {
            w.virtual_networks[0].subnets.push(SubnetSpec {
                name: cloudnet_azure::lb::appgw::DEFAULT_SUBNET.into(),
                address_prefix: "10.225.0.0/24".into(),
                route_table: None,
                network_security_group: None,
            })
        })
        .await;
        let mut cfg = common::config(&mock).await;
        cfg.cluster = CLUSTER.into();
        cfg.route_batch_window = Duration::from_millis(50);
        let cfg = Arc::new(cfg);
        let vms = NODES.map(|n| common::standalone_vm(&mock, &cfg, n).0);
        let made = network_client(&cfg, common::wide_budget());
        let (client, policy) = made.expect("the ARM client");
        let compute = compute_client(&cfg, &policy).expect("the Compute client");
        let lbs = AzureLoadBalancers::new(client.clone(), cfg.clone());
        let cloud = Cloud {
            addresses: Arc::new(AzureAddresses::new(client.clone(), compute, cfg.clone())),
            routes: Arc::new(AzureRoutes::new(client, cfg.clone())),
            load_balancers: Arc::new(lbs.clone()),
        };
        AzureWorld {
            mock,
            cfg,
            lbs,
            cloud,
            vms: vms.to_vec(),
        }
    }

    /// The mock's resource with this ID.
    fn resource(&self, id: &str) -> Option<Value> {
        let id = id.to_ascii_lowercase();
        self.mock
            .with_cloud(|c| c.azure.resources.get(&id).cloned())
    }

    /// The mock's top-level resources of a type (`loadbalancers`) named `k8s-...`.
    fn ours_of(&self, collection: &str) -> BTreeMap<String, Value> {
        let part = format!("/microsoft.network/{collection}/k8s-");
        self.mock.with_cloud(|c| {
            let all = c.azure.resources.iter();
            let ours = all.filter(|(k, _)| k.contains(&part) && k.matches('/').count() == 8);
            ours.map(|(k, v)| (k.clone(), v.clone())).collect()
        })
    }

    /// A PUT of a network resource (`routeTables/x`) straight into the mock, as someone else.
    fn put(&self, rest: &str, body: Value) {
        let rg = &self.cfg.resource_group;
        let path = format!("resourceGroups/{rg}/providers/Microsoft.Network/{rest}");
        common::arm_put(&self.mock, &path, body, "2024-03-01");
    }
}

#[async_trait]
impl World for AzureWorld {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    fn node(&self, i: usize) -> NodeRef {
        NodeRef {
            name: NODES[i].into(),
            instance_id: format!("azure://{}", self.vms[i]),
            zone: None,
        }
    }

    fn provider_id(&self, i: usize) -> String {
        self.node(i).instance_id
    }

    fn blocks_in_mock(&self, _node: &NodeRef, interface: &str) -> BTreeSet<IpNet> {
        let nic = self.resource(interface).unwrap_or_default();
        let configs = nic["properties"]["ipConfigurations"].as_array().cloned();
        let secondary = configs.unwrap_or_default().into_iter();
        let secondary = secondary.filter(|c| c["properties"]["primary"] != json!(true));
        let ips = secondary.filter_map(|c| {
            let ip = c["properties"]["privateIPAddress"].as_str()?;
            ip.parse::<IpAddr>().ok()
        });
        ips.map(IpNet::from).collect()
    }

    fn route(&self, i: u8, node: usize) -> Route {
        Route {
            table: self.cfg.route_table_id(),
            destination: format!("10.244.{i}.0/24").parse().expect("a CIDR"),
            target: RouteTarget::Instance(self.node(node).instance_id),
            node: Some(self.node(node).name),
            state: RouteState::Active,
            owned: true,
        }
    }

    async fn foreign_route(&self) -> IpNet {
        let dest = "10.244.250.0/24";
        let mut table = self
            .resource(&self.cfg.route_table_id())
            .expect("the table");
        let props = &mut table["properties"];
        props.as_object_mut().expect("properties").remove("subnets");
        let routes = props["routes"].as_array_mut().expect("routes");
        routes.push(json!({"name": "firewall", "properties": {
            "addressPrefix": dest, "nextHopType": "VirtualAppliance",
            "nextHopIpAddress": "10.224.9.9"}}));
        self.put(&format!("routeTables/{}", self.cfg.route_table), table);
        dest.parse().expect("a CIDR")
    }

    fn routes_in_mock(&self) -> BTreeMap<IpNet, String> {
        let table = self
            .resource(&self.cfg.route_table_id())
            .unwrap_or_default();
        let routes = table["properties"]["routes"].as_array().cloned();
        let routes = routes.unwrap_or_default().into_iter();
        let entry = |r: Value| {
            let p = &r["properties"];
            let dest = p["addressPrefix"].as_str()?.parse().ok()?;
            let hop = p["nextHopIpAddress"].as_str().or(p["nextHopType"].as_str());
            Some((dest, hop.unwrap_or_default().to_string()))
        };
        routes.filter_map(entry).collect()
    }

    fn l4_members(&self) -> (TargetKind, u16, Vec<Target>) {
        let pod = |i: u8| Target {
            ip: IpAddr::from([10, 224, 0, 40 + i]),
            port: 8080,
        };
        (TargetKind::PodIp, 8080, (0..3).map(pod).collect())
    }

    async fn l7(&self) -> Option<(LoadBalancerSpec, Vec<Target>)> {
        // An Application Gateway for an Ingress with two hosts.
        let mut spec = common::ingress("web");
        spec.owner = Owner::namespaced(CLUSTER, OwnerKind::Ingress, "shop", "web");
        let (_, _, members) = self.l4_members();
        Some((spec, members))
    }

    async fn squat(&self, spec: &LoadBalancerSpec) -> String {
        let name = self.lbs.name(&spec.owner);
        self.put(
            &format!("loadBalancers/{name}"),
            json!({"location": self.cfg.location, "sku": {"name": "Standard"},
                "tags": {"owner": "the network team"}, "properties": {}}),
        );
        self.cfg.network_id(&format!("loadBalancers/{name}"))
    }

    fn foreign_resource(&self, key: &str) -> Option<Value> {
        self.resource(key)
    }

    fn our_resources(&self) -> BTreeSet<String> {
        let mut ours: BTreeSet<String> = self.ours_of("loadbalancers").into_keys().collect();
        ours.extend(self.ours_of("publicipaddresses").into_keys());
        ours.extend(self.ours_of("applicationgateways").into_keys());
        ours
    }

    fn members_in_mock(&self) -> BTreeSet<IpAddr> {
        let lbs = self.ours_of("loadbalancers");
        let pools = lbs.values().filter_map(|lb| {
            let pools = lb["properties"]["backendAddressPools"].as_array();
            pools.cloned()
        });
        let addresses = pools.flatten().flat_map(|p| {
            let a = p["properties"]["loadBalancerBackendAddresses"].as_array();
            a.cloned().unwrap_or_default()
        });
        let ips = addresses.filter_map(|a| a["properties"]["ipAddress"].as_str().map(String::from));
        // An Application Gateway's pools hold `backendAddresses` of `ipAddress`.
        let gateways = self.ours_of("applicationgateways");
        let gateway_pools = gateways.values().filter_map(|g| {
            let pools = g["properties"]["backendAddressPools"].as_array();
            pools.cloned()
        });
        let gateway_ips = gateway_pools.flatten().flat_map(|p| {
            let a = p["properties"]["backendAddresses"].as_array();
            a.cloned().unwrap_or_default()
        });
        let gateway_ips = gateway_ips.filter_map(|a| a["ipAddress"].as_str().map(String::from));
        let ips = ips.chain(gateway_ips);
        ips.filter_map(|ip| ip.parse().ok()).collect()
    }

    fn members_by_backend(&self) -> BTreeMap<String, BTreeSet<IpAddr>> {
        // A load balancer's pools hold `loadBalancerBackendAddresses`, an Application
        // Gateway's `backendAddresses`; a pool is named `<resource>/<pool>`.
        let mut by_pool = BTreeMap::new();
        let kinds = [
            (
                "loadbalancers",
                "loadBalancerBackendAddresses",
                "/properties/ipAddress",
            ),
            ("applicationgateways", "backendAddresses", "/ipAddress"),
        ];
        for (collection, addresses, ip) in kinds {
            for (id, resource) in self.ours_of(collection) {
                let owner = id.rsplit('/').next().unwrap_or_default().to_string();
                let pools = resource["properties"]["backendAddressPools"]
                    .as_array()
                    .cloned();
                for pool in pools.unwrap_or_default() {
                    let name = pool["name"].as_str().unwrap_or_default();
                    let all = pool["properties"][addresses].as_array().cloned();
                    let ips = all.unwrap_or_default().into_iter();
                    let ips = ips.filter_map(|a| a.pointer(ip)?.as_str()?.parse().ok());
                    by_pool.insert(format!("{owner}/{name}"), ips.collect());
                }
            }
        }
        by_pool
    }

    fn pod(&self, i: u8) -> (IpAddr, usize) {
        (IpAddr::from([10, 224, 0, 40 + i]), usize::from(i % 2))
    }

    fn calls(&self) -> BTreeMap<String, u64> {
        self.mock.with_cloud(|c| c.calls.clone())
    }

    fn is_mutating(&self, key: &str) -> bool {
        key.starts_with("arm:") && (key.ends_with("/write") || key.ends_with("/delete"))
    }
}
