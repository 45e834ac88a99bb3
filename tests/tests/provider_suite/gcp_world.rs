//! The GCP world: the mock's GKE-like world (project `cloudnet-sandbox`, network `cloudnet`,
//! nodes in us-central1-a and -b, each with a pod alias range), the backend through
//! google-cloud-compute-v1 with anonymous credentials.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use async_trait::async_trait;
use cloudnet_core::{
    Cloud, LoadBalancerSpec, NodeRef, Route, RouteState, RouteTarget, Target, TargetKind,
};
use cloudnet_gcp::GcpCloud;
use cloudnet_gcp::ops::Scope;
use cloudnet_mockcloud::Handle;
use ipnet::IpNet;
use serde_json::{Value, json};

use super::world::{CLUSTER, World};

#[path = "../../../providers/gcp/tests/common/mod.rs"]
pub mod common;
#[path = "../../../providers/gcp/tests/support/lb_specs.rs"]
mod lb_specs;

use common::{NETWORK, PROJECT};
const NODES: [(&str, &str); 2] = [
    ("gke-cloudnet-node-1", "us-central1-a"),
    ("gke-cloudnet-node-2", "us-central1-b"),
];

pub struct GcpWorld {
    mock: Handle,
    gcp: GcpCloud,
    cloud: Cloud,
}

impl GcpWorld {
    pub async fn start() -> GcpWorld {
        let mock = common::start_with_pod_ranges().await;
        let c = common::config(&mock, CLUSTER);
        let gcp = GcpCloud::connect(c).await.expect("the backend connects");
        let cloud = gcp.cloud();
        GcpWorld { mock, gcp, cloud }
    }

    /// A call straight into the mock's Compute Engine state, as someone else.
    fn post(&self, segments: &[&str], body: Value) {
        common::mock_post(&self.mock, segments, body);
    }

    fn resources(&self, pick: impl Fn(&str, &Value) -> bool) -> BTreeMap<String, Value> {
        self.mock.with_cloud(|c| {
            let all = c.gcp.resources.iter();
            let picked = all.filter(|(k, v)| pick(k, v));
            picked.map(|(k, v)| (k.clone(), v.clone())).collect()
        })
    }
}

fn instance_url(i: usize) -> String {
    let (name, zone) = NODES[i];
    format!("projects/{PROJECT}/zones/{zone}/instances/{name}")
}

#[async_trait]
impl World for GcpWorld {
    fn name(&self) -> &'static str {
        "gcp"
    }

    fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    fn node(&self, i: usize) -> NodeRef {
        let (name, zone) = NODES[i];
        NodeRef {
            name: name.into(),
            instance_id: name.into(),
            zone: Some(zone.into()),
        }
    }

    fn provider_id(&self, i: usize) -> String {
        let (name, zone) = NODES[i];
        format!("gce://{PROJECT}/{zone}/{name}")
    }

    fn blocks_in_mock(&self, node: &NodeRef, interface: &str) -> BTreeSet<IpNet> {
        let zone = node.zone.as_deref().expect("a GCE node has a zone");
        let path = format!("zones/{zone}/instances/{}", node.instance_id);
        let found = self.resources(|k, _| k == path);
        let nics = found.get(&path).map(|i| i["networkInterfaces"].clone());
        let nics = nics.and_then(|n| n.as_array().cloned()).unwrap_or_default();
        let nic = nics.iter().find(|n| n["name"] == interface);
        let ranges = nic.and_then(|n| n["aliasIpRanges"].as_array().cloned());
        let ranges = ranges.unwrap_or_default();
        let cidrs = ranges.iter().filter_map(|r| r["ipCidrRange"].as_str());
        cidrs.filter_map(|r| r.parse().ok()).collect()
    }

    fn route(&self, i: u8, node: usize) -> Route {
        let (name, _) = NODES[node];
        Route {
            table: NETWORK.into(),
            destination: format!("10.100.{i}.0/24").parse().expect("a CIDR"),
            target: RouteTarget::Instance(name.into()),
            node: Some(name.into()),
            state: RouteState::Active,
            owned: true,
        }
    }

    async fn foreign_route(&self) -> IpNet {
        let dest = "10.100.200.0/24";
        self.post(
            &["global", "routes"],
            json!({
                "name": "team-vpn-route",
                "network": format!("projects/{PROJECT}/global/networks/{NETWORK}"),
                "destRange": dest,
                "priority": 900,
                "description": "managed by the network team",
                "nextHopInstance": instance_url(0),
            }),
        );
        dest.parse().expect("a CIDR")
    }

    fn routes_in_mock(&self) -> BTreeMap<IpNet, String> {
        let routes = self.resources(|k, _| k.starts_with("global/routes/"));
        let hop = |r: &Value| {
            let keys = ["nextHopInstance", "nextHopIp", "nextHopGateway"];
            let found = keys.iter().find_map(|k| r[*k].as_str());
            found.unwrap_or_default().to_string()
        };
        let dest = |r: &Value| r["destRange"].as_str().and_then(|d| d.parse().ok());
        let routes = routes.values();
        routes.filter_map(|r| Some((dest(r)?, hop(r)))).collect()
    }

    fn l4_members(&self) -> (TargetKind, u16, Vec<Target>) {
        // A passthrough load balancer's members are the nodes (GCE_VM_IP NEGs).
        let node = |ip: &str| Target {
            ip: ip.parse().expect("an IP"),
            port: 30080,
        };
        let nodes = ["10.0.0.2", "10.0.0.3"].map(node);
        (TargetKind::NodePort, 30080, nodes.to_vec())
    }

    async fn l7(&self) -> Option<(LoadBalancerSpec, Vec<Target>)> {
        self.post(
            &["global", "sslCertificates"],
            cloudnet_mockcloud::gcp::self_managed_certificate("shop-cert").expect("a key pair"),
        );
        let spec = lb_specs::ingress(CLUSTER, "web");
        // Pods of node 1's alias range.
        let pod = |i: u8| Target {
            ip: IpAddr::from([10, 4, 0, 2 + i]),
            port: 8080,
        };
        Some((spec, (0..3).map(pod).collect()))
    }

    async fn squat(&self, spec: &LoadBalancerSpec) -> String {
        let planned = self.gcp.load_balancers.plan(spec).await.expect("a plan");
        let name = planned.stack.health_checks[0].name.clone();
        let scope = match &planned.stack.scope {
            Scope::Region(r) => vec!["regions".to_string(), r.clone()],
            _ => vec!["global".to_string()],
        };
        let mut segments: Vec<&str> = scope.iter().map(String::as_str).collect();
        segments.push("healthChecks");
        self.post(
            &segments,
            json!({"name": name, "type": "TCP", "description": "made by hand",
                "tcpHealthCheck": {"port": 80}}),
        );
        format!("{}/{name}", segments.join("/"))
    }

    fn foreign_resource(&self, key: &str) -> Option<Value> {
        self.resources(|k, _| k == key).remove(key)
    }

    fn our_resources(&self) -> BTreeSet<String> {
        let ours =
            self.resources(|k, _| k.rsplit('/').next().is_some_and(|n| n.starts_with("k8s-")));
        ours.into_keys()
            .filter(|k| !k.contains("/routes/"))
            .collect()
    }

    fn members_in_mock(&self) -> BTreeSet<IpAddr> {
        let instances = self.resources(|k, _| k.contains("/instances/"));
        let ip_of = |e: &Value| -> Option<IpAddr> {
            if let Some(ip) = e["ipAddress"].as_str() {
                return ip.parse().ok();
            }
            let url = e["instance"].as_str()?;
            let (_, inst) = instances.iter().find(|(k, _)| url.ends_with(k.as_str()))?;
            inst["networkInterfaces"][0]["networkIP"]
                .as_str()?
                .parse()
                .ok()
        };
        self.mock.with_cloud(|c| {
            let eps = c.gcp.neg_endpoints.values().flatten();
            eps.filter_map(ip_of).collect()
        })
    }

    fn members_by_backend(&self) -> BTreeMap<String, BTreeSet<IpAddr>> {
        // A backend service's members are the endpoints of the NEGs among its backends.
        let services = self.resources(|k, _| k.contains("/backendServices/k8s-"));
        let endpoints = self.mock.with_cloud(|c| c.gcp.neg_endpoints.clone());
        let of_neg = |url: &str| -> Vec<Value> {
            let found = endpoints
                .iter()
                .find(|(neg, _)| url.ends_with(neg.as_str()));
            found.map(|(_, eps)| eps.clone()).unwrap_or_default()
        };
        let ip = |e: &Value| e["ipAddress"].as_str()?.parse::<IpAddr>().ok();
        let members = |s: &Value| -> BTreeSet<IpAddr> {
            let backends = s["backends"].as_array().cloned().unwrap_or_default();
            let groups = backends.iter().filter_map(|b| b["group"].as_str());
            groups.flat_map(of_neg).filter_map(|e| ip(&e)).collect()
        };
        let named = services.iter().map(|(k, s)| {
            let name = k.rsplit('/').next().unwrap_or_default().to_string();
            (name, members(s))
        });
        named.collect()
    }

    fn pod(&self, i: u8) -> (IpAddr, usize) {
        // Node 1's alias range is 10.4.0.0/21, node 2's 10.4.8.0/24.
        let node = usize::from(i % 2);
        (IpAddr::from([10, 4, 8 * node as u8, 10 + i]), node)
    }

    fn calls(&self) -> BTreeMap<String, u64> {
        self.mock.with_cloud(|c| c.calls.clone())
    }

    fn is_mutating(&self, key: &str) -> bool {
        let Some(method) = key.strip_prefix("compute:") else {
            return false;
        };
        let verb = method.rsplit('.').next().unwrap_or("");
        let reads = ["get", "list", "aggregatedList", "getHealth", "wait"];
        !reads.contains(&verb) && verb != "listNetworkEndpoints"
    }
}
