//! AWS: EC2 and ELBv2 in the mock cloud's state dump (`ec2`, `elbv2`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cloudnet_kubesim::sim::node::NodeRegistration;
use cloudnet_mockcloud::ec2::InstanceState;
use serde_json::Value;

use super::CLUSTER;

/// The controller's cloud access key (deploy/iam's controller policy).
pub const CONTROLLER_KEY: &str = "AKIDCLOUDNETCONTROLLER";

/// The default world (two m5.large), with more m5.large up to `nodes`.
pub fn world(nodes: usize) -> cloudnet_mockcloud::World {
    let mut w = cloudnet_mockcloud::World::default();
    let template = w.instances[0].clone();
    while w.instances.len() < nodes {
        let mut i = template.clone();
        i.id = None;
        i.private_ip = None;
        w.instances.push(i);
    }
    w
}

/// A Node for every running instance, named as EKS names them, with the VPC CNI's max-pods
/// (ENIs x (IPv4 per ENI - 1) + 2). The sandbox registers its AWS nodes with this too.
pub fn nodes_from_cloud(cloud: &cloudnet_mockcloud::Handle) -> Vec<NodeRegistration> {
    cloud.with_cloud(|c| {
        let ec2 = &c.ec2;
        ec2.instances
            .values()
            .filter(|i| matches!(i.state, InstanceState::Running | InstanceState::Pending))
            .map(|i| {
                let max_pods = ec2
                    .instance_types
                    .get(&i.instance_type)
                    .map_or(110, |t| t.max_enis * t.ipv4_per_eni.saturating_sub(1) + 2);
                let ip = i.private_ip.to_string();
                NodeRegistration {
                    name: format!(
                        "ip-{}.{}.compute.internal",
                        ip.replace('.', "-"),
                        ec2.region
                    ),
                    provider_id: format!("aws:///{}/{}", i.availability_zone, i.id),
                    internal_ip: ip,
                    zone: i.availability_zone.clone(),
                    instance_type: i.instance_type.clone(),
                    max_pods,
                }
            })
            .collect()
    })
}

/// The calls that would make a second copy of something a Service's stack has.
pub const STACK_CREATES: &[&str] = &[
    "elbv2:CreateLoadBalancer",
    "elbv2:CreateListener",
    "elbv2:CreateTargetGroup",
];

/// Not `Describe*`, `Get*`, `List*`.
pub fn is_mutating(action: &str) -> bool {
    !["Describe", "Get", "List"]
        .iter()
        .any(|p| action.starts_with(p))
}

/// Whether a resource in the state dump carries this cluster's ownership tag.
pub fn owned(resource: &Value) -> bool {
    let tags = &resource["tags"];
    tags[cloudnet_core::ownership::TAG_CLUSTER].as_str() == Some(CLUSTER)
        || tags[format!(
            "{}{CLUSTER}",
            cloudnet_core::ownership::AWS_CLUSTER_TAG_PREFIX
        )]
        .as_str()
            == Some("owned")
}

/// Every address on `instance`'s attached interfaces.
pub fn instance_addresses(dump: &Value, instance: &str) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    if let Some(enis) = dump["ec2"]["network_interfaces"].as_object() {
        for eni in enis.values() {
            if eni["attachment"]["instance_id"].as_str() != Some(instance) {
                continue;
            }
            for ip in eni["private_ips"].as_array().into_iter().flatten() {
                if let Some(a) = ip["address"].as_str().and_then(|a| a.parse().ok()) {
                    out.insert(a);
                }
            }
        }
    }
    out
}

/// Target groups of the cluster: ARN -> (registered target addresses, attached to a
/// listener or rule).
pub fn target_groups(dump: &Value) -> BTreeMap<String, (BTreeSet<String>, bool)> {
    let elbv2 = &dump["elbv2"];
    let routing = format!("{}{}", elbv2["listeners"], elbv2["rules"]);
    elbv2["target_groups"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, g)| owned(g))
        .map(|(arn, g)| {
            let targets = g["targets"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, t)| t["id"].as_str().unwrap_or_default().to_string())
                .collect();
            (arn.clone(), (targets, routing.contains(arn.as_str())))
        })
        .collect()
}

/// The cluster's load balancers: ARN -> (DNS name, number of listeners).
pub fn load_balancers(dump: &Value) -> BTreeMap<String, (String, usize)> {
    let elbv2 = &dump["elbv2"];
    elbv2["load_balancers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, lb)| owned(lb))
        .map(|(arn, lb)| {
            let listeners = elbv2["listeners"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, l)| l["load_balancer_arn"].as_str() == Some(arn.as_str()))
                .count();
            (
                arn.clone(),
                (
                    lb["dns_name"].as_str().unwrap_or_default().to_string(),
                    listeners,
                ),
            )
        })
        .collect()
}

/// Whether a resource is the cluster's: by its own tags, or for a listener or a rule (the
/// default rule cannot be tagged) by its load balancer's.
fn owned_in(dump: &Value, coll: &str, r: &Value) -> bool {
    if owned(r) {
        return true;
    }
    let elbv2 = &dump["elbv2"];
    let lb_owned = |lb: Option<&str>| lb.is_some_and(|a| owned(&elbv2["load_balancers"][a]));
    match coll {
        "listeners" => lb_owned(r["load_balancer_arn"].as_str()),
        "rules" => r["listener_arn"]
            .as_str()
            .is_some_and(|l| lb_owned(elbv2["listeners"][l]["load_balancer_arn"].as_str())),
        _ => false,
    }
}

/// Every EC2 and ELBv2 resource without the cluster's tags, by `service/collection/id`,
/// normalised: what the cluster legitimately changes on them is left out (the secondary
/// addresses the allocator assigns to a node's primary interface, the counts of addresses
/// used in a subnet, an instance's list of attached interfaces, clocks).
pub fn foreign_resources(dump: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for service in ["ec2", "elbv2"] {
        let Some(colls) = dump[service].as_object() else {
            continue;
        };
        for (coll, items) in colls {
            let Some(items) = items.as_object() else {
                continue;
            };
            for (id, r) in items {
                if !r.is_object() || r.get("tags").is_none() || owned_in(dump, coll, r) {
                    continue;
                }
                out.insert(format!("{service}/{coll}/{id}"), normalise(coll, r));
            }
        }
    }
    out
}

fn normalise(coll: &str, r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        for k in [
            "used",
            "available_ip_address_count",
            "visible_at_ms",
            "network_interfaces",
            "allocated",
        ] {
            o.remove(k);
        }
        if coll == "network_interfaces"
            && let Some(ips) = o.get_mut("private_ips").and_then(Value::as_array_mut)
        {
            ips.retain(|ip| ip["primary"] == true);
        }
    }
    r
}

/// No load balancer, target group or security group of the cluster, no detached interface
/// of the cluster.
pub fn leftovers(dump: &Value) -> Vec<String> {
    let mut left = Vec::new();
    let elbv2 = &dump["elbv2"];
    for coll in ["load_balancers", "target_groups"] {
        for (id, r) in elbv2[coll].as_object().into_iter().flatten() {
            if owned(r) {
                left.push(format!("{coll} {id}"));
            }
        }
    }
    for (id, r) in dump["ec2"]["security_groups"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if owned(r) {
            left.push(format!("security group {id}"));
        }
    }
    for (id, r) in dump["ec2"]["network_interfaces"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if owned(r) && r["attachment"].is_null() {
            left.push(format!(
                "detached interface {id} (tags {}, {:?})",
                r["tags"], r["description"]
            ));
        }
    }
    left
}
