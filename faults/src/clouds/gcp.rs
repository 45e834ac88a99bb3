//! GCP: Compute Engine in the mock cloud's state dump (`gcp.resources` by path under the
//! project, `gcp.neg_endpoints` by NEG path). Ours is what carries
//! `cloudnet.io/cluster=<cluster>` in its description (GCE load balancing resources have no
//! labels); a node's pod range is an alias range of its instance's interface.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cloudnet_kubesim::sim::node::NodeRegistration;
use serde_json::Value;

use super::CLUSTER;

/// The controller's Google service account, as the chart's Workload Identity binding names
/// it (`iam.gke.io/gcp-service-account`); its calls are logged under it.
pub const CONTROLLER_CALLER: &str = "cloudnet-controller@cloudnet-sandbox.iam.gserviceaccount.com";
/// The operator's bearer token: changes by hand are logged under it.
pub const OPERATOR_TOKEN: &str = "operator";
/// The custom role deploy/iam gives the controller's service account.
pub const CONTROLLER_ROLE: &str = include_str!("../../../deploy/iam/gcp/controller-role.yaml");

/// The built-in GKE-like world (two e2-standard-4 in two zones), with more nodes up to
/// `nodes`, alternating between the two zones; IAM enforced: the controller's service
/// account holds deploy/iam's custom role and nothing else, the operator every Compute
/// Engine permission, any other caller none.
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
    // The metadata server answers the controller with its service account's token, as
    // GKE's does for a pod whose Kubernetes service account is bound by Workload Identity
    // (ipamd reads the metadata server only and makes no Compute Engine call).
    for i in &mut gcp.instances {
        i.service_account = Some(CONTROLLER_CALLER.to_string());
    }
    gcp.iam = Some(iam());
    cloudnet_mockcloud::World {
        gcp: Some(gcp),
        ..cloudnet_mockcloud::World::default()
    }
}

/// deploy/iam's role for the controller, every Compute Engine permission for the operator.
fn iam() -> cloudnet_mockcloud::grants::GrantSpec {
    use cloudnet_mockcloud::grants::{GrantSpec, Granted, RoleSource};
    let role = Granted::from_gcp_role(CONTROLLER_ROLE)
        .unwrap_or_else(|e| panic!("deploy/iam/gcp/controller-role.yaml: {e}"));
    GrantSpec {
        roles: BTreeMap::from([
            (
                "cloudnet-controller".to_string(),
                RoleSource {
                    permissions: role.allow,
                    ..RoleSource::default()
                },
            ),
            (
                "operator".to_string(),
                RoleSource {
                    permissions: vec!["compute.*".to_string()],
                    ..RoleSource::default()
                },
            ),
        ]),
        bindings: BTreeMap::from([
            (
                CONTROLLER_CALLER.to_string(),
                "cloudnet-controller".to_string(),
            ),
            (OPERATOR_TOKEN.to_string(), "operator".to_string()),
        ]),
        base_dir: None,
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

/// The cluster's backend services' endpoints that Compute Engine reports unhealthy:
/// `(backend service path, address)`, judged as the mock cloud's `getHealth` judges them
/// (the health checkers need a firewall rule to reach an endpoint).
pub fn unhealthy_targets(dump: &Value) -> BTreeSet<(String, String)> {
    use cloudnet_mockcloud::gcp::health::{endpoint_state, path_of_url};
    let all = &dump["gcp"]["resources"];
    let lookup = |p: &str| all.get(p);
    let firewalls: Vec<&Value> = resources(dump)
        .map(|(_, r)| r)
        .filter(|r| r["kind"] == "compute#firewall")
        .collect();
    let mut out = BTreeSet::new();
    for (path, bs) in owned_of_kind(dump, "compute#backendService") {
        for group in bs["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["group"].as_str())
        {
            let neg_path = path_of_url(group);
            let Some(neg) = all.get(neg_path) else {
                continue;
            };
            for e in dump["gcp"]["neg_endpoints"][neg_path]
                .as_array()
                .into_iter()
                .flatten()
            {
                if endpoint_state(lookup, firewalls.iter().copied(), bs, neg, e) != "HEALTHY"
                    && let Some(ip) = e["ipAddress"].as_str()
                {
                    out.insert((path.clone(), ip.to_string()));
                }
            }
        }
    }
    out
}

/// The resource a URL names (by the path under the project it ends with).
fn resolve<'a>(dump: &'a Value, url: &str) -> Option<(&'a String, &'a Value)> {
    resources(dump).find(|(path, _)| url.ends_with(&format!("/{path}")) || url == path.as_str())
}

/// The path of the URL map behind the cluster's forwarding rule at `address` (its target
/// proxy's URL map).
pub fn url_map_of(dump: &Value, address: &str) -> Option<String> {
    owned_of_kind(dump, "compute#forwardingRule")
        .filter(|(_, rule)| rule["IPAddress"].as_str() == Some(address))
        .filter_map(|(_, rule)| resolve(dump, rule["target"].as_str()?))
        .filter_map(|(_, proxy)| resolve(dump, proxy["urlMap"].as_str()?))
        .map(|(path, _)| path.clone())
        .next()
}

/// The paths the URL map behind the forwarding rule at `address` routes (its path matchers'
/// path rules).
pub fn rule_paths(dump: &Value, address: &str) -> BTreeSet<String> {
    let Some(path) = url_map_of(dump, address) else {
        return BTreeSet::new();
    };
    dump["gcp"]["resources"][&path]["pathMatchers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|pm| pm["pathRules"].as_array().into_iter().flatten())
        .flat_map(|rule| rule["paths"].as_array().into_iter().flatten())
        .filter_map(|p| p.as_str().map(str::to_string))
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

/// Whether the resource at `path` exists with each of `fields` (a JSON object) as given;
/// lists are compared in any order.
pub fn has_fields(dump: &Value, path: &str, fields: &Value) -> bool {
    let r = &dump["gcp"]["resources"][path];
    if r.is_null() {
        return false;
    }
    let sorted = |v: &Value| -> Value {
        match v.as_array() {
            Some(a) => {
                let mut items: Vec<String> = a.iter().map(Value::to_string).collect();
                items.sort();
                Value::from(items)
            }
            None => v.clone(),
        }
    };
    fields
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, want)| sorted(&r[k]) == sorted(want))
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
                "global/firewalls/other": {"kind": "compute#firewall", "description": "cloudnet.io/cluster=other"},
                "global/forwardingRules/l7": {"kind": "compute#forwardingRule",
                    "IPAddress": "34.2.2.2", "description": "cloudnet.io/cluster=faults",
                    "target": "https://x/compute/v1/projects/p/global/targetHttpProxies/px"},
                "global/targetHttpProxies/px": {"kind": "compute#targetHttpProxy",
                    "urlMap": "https://x/compute/v1/projects/p/global/urlMaps/um"},
                "global/urlMaps/um": {"kind": "compute#urlMap", "pathMatchers": [
                    {"name": "anyhost", "pathRules": [{"paths": ["/shop", "/shop/*"]}]}]}
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
        assert_eq!(leftovers(&d).len(), 3);
        assert!(foreign_resources(&d).contains_key("gcp/global/firewalls/other"));
        assert_eq!(
            foreign_resources(&d)["gcp/zones/a/instances/n1"]["networkInterfaces"][0]
                .get("aliasIpRanges"),
            None
        );
    }

    #[test]
    fn an_l7_forwarding_rule_leads_to_its_url_maps_paths_and_an_l4_one_to_none() {
        let d = dump();
        assert_eq!(
            url_map_of(&d, "34.2.2.2").as_deref(),
            Some("global/urlMaps/um")
        );
        assert_eq!(
            rule_paths(&d, "34.2.2.2").into_iter().collect::<Vec<_>>(),
            ["/shop", "/shop/*"]
        );
        assert!(rule_paths(&d, "34.1.1.1").is_empty());
        assert!(rule_paths(&d, "34.9.9.9").is_empty());
    }

    #[tokio::test]
    async fn the_worlds_compute_engine_refuses_a_caller_without_a_role() {
        let cloud =
            cloudnet_mockcloud::MockCloud::start(cloudnet_mockcloud::Config::ephemeral(world(0)))
                .await
                .expect("the mock cloud starts");
        let addr = cloud
            .endpoint_url()
            .trim_start_matches("http://")
            .parse()
            .expect("an address");
        let path = "/compute/v1/projects/cloudnet-sandbox/zones/us-central1-a/instances";
        let list = |token| crate::http::request_as(addr, "GET", path, None, token);
        assert!(list(Some(CONTROLLER_CALLER)).await.is_ok());
        assert!(list(Some(OPERATOR_TOKEN)).await.is_ok());
        let refused = list(Some("someone-else")).await.expect_err("refused");
        assert!(format!("{refused:#}").contains("403"), "{refused:#}");
        let refused = list(None).await.expect_err("refused");
        assert!(format!("{refused:#}").contains("403"), "{refused:#}");
    }

    #[test]
    fn the_controller_holds_the_shipped_role_and_the_operator_all_of_compute() {
        let spec = iam();
        let controller = &spec.roles["cloudnet-controller"].permissions;
        assert!(controller.iter().any(|p| p == "compute.urlMaps.update"));
        assert!(!controller.iter().any(|p| p.contains('*')));
        assert_eq!(spec.bindings[CONTROLLER_CALLER], "cloudnet-controller");
        assert_eq!(spec.bindings[OPERATOR_TOKEN], "operator");
        assert!(!spec.bindings.contains_key("*"));
    }
}
