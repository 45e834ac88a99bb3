//! Compute Engine resource names and URLs.

/// The last path segment of a URL or a relative resource path (`.../zones/us-central1-a`
/// -> `us-central1-a`).
pub fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_segments() {
        assert_eq!(
            last_segment("https://h/compute/v1/projects/p/zones/z-a"),
            "z-a"
        );
        assert_eq!(last_segment("plain"), "plain");
    }
}

use std::collections::BTreeMap;

use cloudnet_core::NameRules;
use cloudnet_core::ownership::{TAG_CLUSTER, TAG_NODE, short_hash};
use ipnet::IpNet;

/// The cluster's part of a GCE name: lower-case letters and digits of the cluster name, cut
/// to 30, starting with a letter.
pub fn cluster_part(cluster: &str) -> String {
    let clean: String = cluster
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(30)
        .collect();
    if clean.is_empty() {
        "cluster".into()
    } else {
        clean
    }
}

/// The prefix every route of the cluster has: `k8s-<cluster>-`.
pub fn route_prefix(cluster: &str) -> String {
    format!("k8s-{}-", cluster_part(cluster))
}

/// The name of the cluster's route for a pod range: the cluster prefix and a hash of the
/// cluster and the range, so the same range always has the same name (a node's range moving
/// to another node replaces the route), and two clusters never share one.
pub fn route_name(cluster: &str, destination: &IpNet) -> String {
    let name = format!(
        "{}{}",
        route_prefix(cluster),
        short_hash(&[cluster, &destination.to_string()], 16)
    );
    debug_assert!(NameRules::Gce.is_valid(&name), "{name}");
    name
}

/// The description that marks a route as the cluster's: `cloudnet.io/cluster=<name>
/// cloudnet.io/node=<node>` (GCE routes carry no labels; the description is free text that
/// only its creator sets).
pub fn route_description(cluster: &str, node: Option<&str>) -> String {
    let mut d = format!("{TAG_CLUSTER}={cluster}");
    if let Some(n) = node {
        d.push_str(&format!(" {TAG_NODE}={n}"));
    }
    d
}

/// The `key=value` pairs of a description written by [`route_description`] (anything else in
/// it is ignored).
pub fn description_tags(description: &str) -> BTreeMap<String, String> {
    description
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| k.starts_with("cloudnet.io/"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `projects/<p>/zones/<z>/instances/<n>`.
pub fn instance_path(project: &str, zone: &str, name: &str) -> String {
    format!("projects/{project}/zones/{zone}/instances/{name}")
}

/// `projects/<p>/global/networks/<n>`.
pub fn network_path(project: &str, network: &str) -> String {
    format!("projects/{project}/global/networks/{network}")
}

/// The zone and name of an instance reference (`https://.../zones/z/instances/n`,
/// `projects/p/zones/z/instances/n`, `zones/z/instances/n`); None for a bare name.
pub fn zone_and_instance(reference: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = reference.split('/').collect();
    let i = parts.iter().rposition(|p| *p == "instances")?;
    let name = parts.get(i + 1).copied().filter(|n| !n.is_empty())?;
    let zone = parts
        .get(i.checked_sub(2)?)
        .filter(|z| **z == "zones")
        .and_then(|_| parts.get(i - 1))
        .copied()
        .filter(|z| !z.is_empty())?;
    Some((zone, name))
}

#[cfg(test)]
mod route_name_tests {
    use super::*;

    #[test]
    fn route_names_are_stable_valid_and_prefixed() {
        let d: IpNet = "10.4.1.0/24".parse().unwrap();
        let a = route_name("Prod_Cluster.1", &d);
        assert_eq!(a, route_name("Prod_Cluster.1", &d));
        assert!(a.starts_with("k8s-prodcluster1-"), "{a}");
        assert!(NameRules::Gce.is_valid(&a));
        assert_ne!(a, route_name("prod-cluster-1", &d), "clusters differ");
        assert_ne!(
            a,
            route_name("Prod_Cluster.1", &"10.4.2.0/24".parse().unwrap())
        );
        let long = route_name(&"x".repeat(200), &d);
        assert!(long.len() <= 63 && NameRules::Gce.is_valid(&long));
        assert!(NameRules::Gce.is_valid(&route_name("", &d)));
    }

    #[test]
    fn descriptions_round_trip() {
        let d = route_description("c1", Some("node-a"));
        assert_eq!(d, "cloudnet.io/cluster=c1 cloudnet.io/node=node-a");
        let t = description_tags(&d);
        assert_eq!(t.get(TAG_CLUSTER).map(String::as_str), Some("c1"));
        assert_eq!(t.get(TAG_NODE).map(String::as_str), Some("node-a"));
        assert!(description_tags("k8s-node-route").is_empty());
    }

    #[test]
    fn instance_references() {
        assert_eq!(
            zone_and_instance("https://h/compute/v1/projects/p/zones/us-central1-a/instances/n1"),
            Some(("us-central1-a", "n1"))
        );
        assert_eq!(zone_and_instance("zones/z/instances/n"), Some(("z", "n")));
        assert_eq!(zone_and_instance("n1"), None);
        assert_eq!(zone_and_instance("instances/n1"), None);
    }
}
