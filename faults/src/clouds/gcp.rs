//! GCP: Compute Engine in the mock cloud's state dump (`gcp.resources` by path under the
//! project, `gcp.neg_endpoints` by NEG path). Ours is what carries
//! `cloudnet.io/cluster=<cluster>` in its description (GCE load balancing resources have no
//! labels); a node's pod range is an alias range of its instance's interface.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cloudnet_kubesim::sim::node::NodeRegistration;
use serde_json::Value;

use super::CLUSTER;

/// The controller's caller in the call log: it runs with anonymous credentials (the mock's
/// Compute Engine front takes any, and names none).
pub const CONTROLLER_CALLER: &str = cloudnet_mockcloud::calllog::ANONYMOUS;
/// The operator's bearer token: changes by hand are logged under it.
pub const OPERATOR_TOKEN: &str = "operator";

/// The built-in GKE-like world (two e2-standard-4 in two zones), with more nodes up to
/// `nodes`, alternating between the two zones.
pub fn world(nodes: usize) -> cloudnet_mockcloud::World {
    let mut gcp = cloudnet_mockcloud::gcp::GcpWorld::default();
    let template = gcp.instances.clone();
    let mut n = gcp.instances.len();
    while gcp.instances.len() < nodes && !template.is_empty() {
        n += 1;
        let mut i = template[n % template.len()].clone();
        i.name = format!("gke-cloudnet-node-{n}");
        i.network_ip = None;
        i.alias_ranges.clear();
        gcp.instances.push(i);
    }
    cloudnet_mockcloud::World {
        gcp: Some(gcp),
        ..cloudnet_mockcloud::World::default()
    }
}

/// A Node for every running instance of the GCP world, as GKE registers them: named as the
/// instance, providerID `gce://<project>/<zone>/<name>`, max-pods 110 (GKE's default with a
/// /24 pod range). The sandbox registers its GCP nodes with this too.
pub fn nodes_from_cloud(cloud: &cloudnet_mockcloud::Handle) -> Vec<NodeRegistration> {
    cloud.with_cloud(|c| {
        let project = c.gcp.project.clone();
        c.gcp
            .resources
            .values()
            .filter(|r| r["kind"] == "compute#instance" && r["status"] == "RUNNING")
            .map(|i| {
                let zone = last(&i["zone"]);
                let name = i["name"].as_str().unwrap_or_default().to_string();
                NodeRegistration {
                    provider_id: format!("gce://{project}/{zone}/{name}"),
                    internal_ip: i["networkInterfaces"][0]["networkIP"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    instance_type: last(&i["machineType"]),
                    zone,
                    name,
                    max_pods: 110,
                }
            })
            .collect()
    })
}

fn last(v: &Value) -> String {
    v.as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The calls that would make a second copy of something a Service's stack has.
pub const STACK_CREATES: &[&str] = &[
    "compute:forwardingRules.insert",
    "compute:regionBackendServices.insert",
    "compute:regionHealthChecks.insert",
    "compute:healthChecks.insert",
];

/// Not `get`, `getHealth`, `list`, `aggregatedList` or an operation's `wait`.
pub fn is_mutating(action: &str) -> bool {
    let method = action.rsplit('.').next().unwrap_or(action);
    !(method.starts_with("get")
        || method.starts_with("list")
        || method == "aggregatedList"
        || method == "wait")
}

/// Whether a resource's description marks it as this cluster's.
pub fn owned(resource: &Value) -> bool {
    let mark = format!("{}={CLUSTER}", cloudnet_core::ownership::TAG_CLUSTER);
    resource["description"]
        .as_str()
        .is_some_and(|d| d.split_whitespace().any(|kv| kv == mark))
}

fn resources(dump: &Value) -> impl Iterator<Item = (&String, &Value)> {
    dump["gcp"]["resources"].as_object().into_iter().flatten()
}

fn instance<'a>(dump: &'a Value, name: &str) -> Option<&'a Value> {
    let suffix = format!("/instances/{name}");
    resources(dump)
        .find(|(path, r)| path.ends_with(&suffix) && r["kind"] == "compute#instance")
        .map(|(_, r)| r)
}

/// The instance's own address (its first interface's `networkIP`).
pub fn primary_address(dump: &Value, name: &str) -> Option<String> {
    instance(dump, name)?["networkInterfaces"][0]["networkIP"]
        .as_str()
        .map(str::to_string)
}

/// Whether `address` is an interface's address, or in one of its alias ranges.
pub fn address_on_instance(dump: &Value, name: &str, address: Ipv4Addr) -> bool {
    let Some(i) = instance(dump, name) else {
        return false;
    };
    i["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|nic| {
            nic["networkIP"].as_str() == Some(address.to_string().as_str())
                || nic["aliasIpRanges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["ipCidrRange"].as_str()?.parse::<ipnet::Ipv4Net>().ok())
                    .any(|net| net.contains(&address))
        })
}

fn owned_of_kind<'a>(
    dump: &'a Value,
    kind: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Value)> {
    resources(dump).filter(move |(_, r)| r["kind"] == kind && owned(r))
}

/// The cluster's forwarding rules by address: address -> (address, how many rules).
pub fn load_balancers(dump: &Value) -> BTreeMap<String, (String, usize)> {
    let mut out: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (_, rule) in owned_of_kind(dump, "compute#forwardingRule") {
        let ip = rule["IPAddress"].as_str().unwrap_or_default().to_string();
        out.entry(ip.clone()).or_insert((ip, 0)).1 += 1;
    }
    out
}

/// The cluster's backend services: path -> (the addresses of their NEGs' endpoints, routed
/// by a forwarding rule or a URL map).
pub fn target_groups(dump: &Value) -> BTreeMap<String, (BTreeSet<String>, bool)> {
    let routing: String = resources(dump)
        .filter(|(_, r)| r["kind"] == "compute#forwardingRule" || r["kind"] == "compute#urlMap")
        .map(|(_, r)| r.to_string())
        .collect();
    let endpoints = &dump["gcp"]["neg_endpoints"];
    owned_of_kind(dump, "compute#backendService")
        .map(|(path, bs)| {
            let targets = bs["backends"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["group"].as_str())
                .flat_map(|group| {
                    endpoints
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(move |(neg, _)| group.ends_with(neg.as_str()))
                        .flat_map(|(_, list)| list.as_array().into_iter().flatten())
                })
                .filter_map(|e| e["ipAddress"].as_str().map(str::to_string))
                .collect();
            let name = format!("/backendServices/{}\"", bs["name"].as_str().unwrap_or("?"));
            (path.clone(), (targets, routing.contains(&name)))
        })
        .collect()
}

/// Every resource not the cluster's, by path, without what the cluster legitimately
/// changes on them: the alias ranges (and fingerprints) of a node's interface, which the
/// allocator sets, and the instance's own fingerprint.
pub fn foreign_resources(dump: &Value) -> BTreeMap<String, Value> {
    resources(dump)
        .filter(|(_, r)| !owned(r))
        .map(|(path, r)| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("fingerprint");
                for nic in o
                    .get_mut("networkInterfaces")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(n) = nic.as_object_mut() {
                        n.remove("aliasIpRanges");
                        n.remove("fingerprint");
                    }
                }
            }
            (format!("gcp/{path}"), r)
        })
        .collect()
}

/// Every resource of the cluster still there.
pub fn leftovers(dump: &Value) -> Vec<String> {
    resources(dump)
        .filter(|(_, r)| owned(r))
        .map(|(path, _)| format!("gcp {path}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dump() -> Value {
        json!({"gcp": {
            "resources": {
                "zones/a/instances/n1": {"kind": "compute#instance", "name": "n1",
                    "networkInterfaces": [{"networkIP": "10.0.0.2",
                        "aliasIpRanges": [{"ipCidrRange": "10.4.1.0/24"}]}]},
                "regions/r/forwardingRules/f": {"kind": "compute#forwardingRule",
                    "IPAddress": "34.1.1.1", "description": "cloudnet.io/cluster=faults",
                    "backendService": "https://x/regions/r/backendServices/k8s-web"},
                "regions/r/backendServices/k8s-web": {"kind": "compute#backendService",
                    "name": "k8s-web", "description": "cloudnet.io/cluster=faults x=y",
                    "backends": [{"group": "https://x/zones/a/networkEndpointGroups/k8s-web"}]},
                "global/firewalls/other": {"kind": "compute#firewall", "description": "cloudnet.io/cluster=other"}
            },
            "neg_endpoints": {"zones/a/networkEndpointGroups/k8s-web": [
                {"instance": "https://x/zones/a/instances/n1", "ipAddress": "10.0.0.2"}]}
        }})
    }

    #[test]
    fn an_alias_range_address_is_on_the_node_and_one_outside_is_not() {
        let d = dump();
        assert!(address_on_instance(&d, "n1", "10.4.1.7".parse().unwrap()));
        assert!(address_on_instance(&d, "n1", "10.0.0.2".parse().unwrap()));
        assert!(!address_on_instance(&d, "n1", "10.4.2.7".parse().unwrap()));
        assert!(!address_on_instance(&d, "n2", "10.4.1.7".parse().unwrap()));
    }

    #[test]
    fn the_routed_backend_service_holds_its_neg_endpoints_and_only_ours_are_leftovers() {
        let d = dump();
        let groups = target_groups(&d);
        let (targets, routed) = &groups["regions/r/backendServices/k8s-web"];
        assert!(*routed);
        assert_eq!(targets.iter().collect::<Vec<_>>(), ["10.0.0.2"]);
        assert_eq!(load_balancers(&d)["34.1.1.1"].1, 1);
        assert_eq!(leftovers(&d).len(), 2);
        assert!(foreign_resources(&d).contains_key("gcp/global/firewalls/other"));
        assert_eq!(
            foreign_resources(&d)["gcp/zones/a/instances/n1"]["networkInterfaces"][0]
                .get("aliasIpRanges"),
            None
        );
    }
}
