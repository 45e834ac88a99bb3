//! The AWS world: the mock's default world (VPC, two m5.large nodes, tagged subnets), the
//! provider through aws-sdk-ec2 and aws-sdk-elasticloadbalancingv2, the cluster's route table
//! tagged for it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use cloudnet_core::{
    Cloud, LoadBalancerSpec, NodeRef, Owner, OwnerKind, Route, RouteState, RouteTarget, Target,
    TargetKind,
};
use cloudnet_mockcloud::ec2::RouteTarget as MockTarget;
use ipnet::IpNet;

use super::world::{CLUSTER, World};

#[path = "../../../providers/aws/tests/common/mod.rs"]
pub mod common;

use common::{Env, NODE1, NODE2, PRIVATE_A, specs};

const NODES: [&str; 2] = [NODE1, NODE2];

pub struct AwsWorld {
    env: Env,
    cloud: Cloud,
    table: String,
}

impl AwsWorld {
    pub async fn start() -> AwsWorld {
        let env = common::start_with(|c| c.cluster_name = CLUSTER.into()).await;
        let provider = Arc::new(env.fresh_provider());
        let tag = format!("kubernetes.io/cluster/{CLUSTER}");
        let table = common::tagged_route_table(&env.ec2, &[(tag.as_str(), "owned")]).await;
        let cloud = Cloud {
            addresses: provider.clone(),
            routes: provider.clone(),
            load_balancers: provider,
        };
        AwsWorld { env, cloud, table }
    }

    fn elbv2(&self) -> serde_json::Value {
        self.env.state()["elbv2"].take()
    }
}

#[async_trait]
impl World for AwsWorld {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    fn node(&self, i: usize) -> NodeRef {
        NodeRef {
            name: format!("node-{}", NODES[i]),
            instance_id: NODES[i].into(),
            zone: None,
        }
    }

    fn provider_id(&self, i: usize) -> String {
        format!("aws:///us-west-2a/{}", NODES[i])
    }

    fn blocks_in_mock(&self, _node: &NodeRef, interface: &str) -> BTreeSet<IpNet> {
        self.env.mock.with_cloud(|c| {
            let Some(eni) = c.ec2.network_interfaces.get(interface) else {
                return BTreeSet::new();
            };
            let ips = eni.private_ips.iter().filter(|p| !p.primary);
            let ips = ips.map(|p| IpNet::from(IpAddr::V4(p.address)));
            ips.chain(eni.prefixes.iter().map(|p| IpNet::V4(p.prefix)))
                .collect()
        })
    }

    fn route(&self, i: u8, node: usize) -> Route {
        Route {
            table: self.table.clone(),
            destination: format!("10.200.{i}.0/24").parse().expect("a CIDR"),
            target: RouteTarget::Instance(NODES[node].into()),
            node: None,
            state: RouteState::Active,
            owned: true,
        }
    }

    async fn foreign_route(&self) -> IpNet {
        let dest = "172.16.0.0/24";
        let made = self.env.ec2.create_route().route_table_id(&self.table);
        let made = made.destination_cidr_block(dest).instance_id(NODES[0]);
        made.send().await.expect("someone else's route");
        dest.parse().expect("a CIDR")
    }

    fn routes_in_mock(&self) -> BTreeMap<IpNet, String> {
        self.env.mock.with_cloud(|c| {
            let table = &c.ec2.route_tables[&self.table];
            let hop = |t: &MockTarget| match t {
                MockTarget::Instance { instance_id, .. } => instance_id.clone(),
                other => format!("{other:?}"),
            };
            let routes = table.routes.iter();
            routes
                .map(|r| (IpNet::V4(r.destination), hop(&r.target)))
                .collect()
        })
    }

    fn l4_members(&self) -> (TargetKind, u16, Vec<Target>) {
        let pod = |i: u8| Target {
            ip: IpAddr::from([192, 168, 96, 10 + i]),
            port: 8080,
        };
        (TargetKind::PodIp, 8080, (0..3).map(pod).collect())
    }

    async fn l7(&self) -> Option<(LoadBalancerSpec, Vec<Target>)> {
        let mut spec = specs::alb_fixture();
        spec.owner = Owner::namespaced(CLUSTER, OwnerKind::Ingress, "shop", "web");
        let (_, _, members) = self.l4_members();
        Some((spec, members))
    }

    async fn squat(&self, spec: &LoadBalancerSpec) -> String {
        use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, LoadBalancerTypeEnum};
        let name = cloudnet_aws::lb::plan::load_balancer_name(spec);
        let create = self.env.elb.create_load_balancer().name(&name);
        let create = create
            .r#type(LoadBalancerTypeEnum::Network)
            .scheme(LoadBalancerSchemeEnum::Internal)
            .subnets(PRIVATE_A);
        create.send().await.expect("someone else's load balancer");
        name
    }

    fn foreign_resource(&self, key: &str) -> Option<serde_json::Value> {
        let lbs = self.elbv2()["load_balancers"].take();
        let lbs = lbs.as_object().cloned().unwrap_or_default();
        lbs.into_values().find(|lb| lb["name"] == key)
    }

    fn our_resources(&self) -> BTreeSet<String> {
        let elbv2 = self.elbv2();
        let named = |kind: &str| {
            let all = elbv2[kind].as_object().cloned().unwrap_or_default();
            let names = all
                .into_values()
                .filter_map(|v| v["name"].as_str().map(String::from));
            names.collect::<Vec<_>>()
        };
        let mut ours: BTreeSet<String> = named("load_balancers").into_iter().collect();
        ours.extend(named("target_groups"));
        ours.extend(self.env.mock.with_cloud(|c| {
            let groups = c.ec2.security_groups.values();
            groups.map(|g| g.name.clone()).collect::<Vec<_>>()
        }));
        ours.retain(|n| n.starts_with("k8s-"));
        ours
    }

    fn members_in_mock(&self) -> BTreeSet<IpAddr> {
        let groups = self.elbv2()["target_groups"].take();
        let groups = groups.as_object().cloned().unwrap_or_default();
        let targets = groups.values().filter_map(|g| g["targets"].as_object());
        let ids = targets.flat_map(|t| t.values().filter_map(|t| t["id"].as_str()));
        ids.filter_map(|id| id.parse().ok()).collect()
    }

    fn members_by_backend(&self) -> BTreeMap<String, BTreeSet<IpAddr>> {
        let groups = self.elbv2()["target_groups"].take();
        let groups = groups.as_object().cloned().unwrap_or_default();
        let members = |g: &serde_json::Value| -> BTreeSet<IpAddr> {
            let targets = g["targets"].as_object().cloned().unwrap_or_default();
            let ids = targets
                .into_values()
                .filter_map(|t| t["id"].as_str()?.parse().ok());
            ids.collect()
        };
        let named = groups
            .values()
            .filter_map(|g| Some((g["name"].as_str()?, g)));
        named.map(|(n, g)| (n.to_string(), members(g))).collect()
    }

    fn pod(&self, i: u8) -> (IpAddr, usize) {
        (IpAddr::from([192, 168, 96, 10 + i]), usize::from(i % 2))
    }

    fn calls(&self) -> BTreeMap<String, u64> {
        self.env.calls()
    }

    fn is_mutating(&self, key: &str) -> bool {
        specs::is_mutating(key)
    }
}
