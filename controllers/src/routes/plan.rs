//! The pure half of the route controller: what routes the nodes want, and the difference
//! from what the cloud lists.

use std::collections::{BTreeMap, BTreeSet};

use cloudnet_core::{Route, RouteState, RouteTarget};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use serde::Serialize;

use crate::node_ref::instance_id;

/// One node's pod ranges and where they go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRoutes {
    pub node: String,
    pub instance_id: String,
    pub pod_cidrs: Vec<IpNet>,
}

/// What to change, in the order to apply it: creates first (a node moving its range keeps
/// connectivity longest), then deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePlan {
    pub create: Vec<Route>,
    pub delete: Vec<Route>,
    /// A node's range already routed by a route this cluster does not own: left alone and
    /// reported (Event on the Node).
    pub conflicts: Vec<Route>,
}

impl RoutePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }
}

/// The nodes' wanted routes, with the nodes that cannot be routed yet and why. Nodes being
/// deleted want no route.
pub fn desired_from_nodes(nodes: &[Node]) -> (Vec<NodeRoutes>, Vec<(String, String)>) {
    let mut wanted = Vec::new();
    let mut skipped = Vec::new();
    for node in nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        if node.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = node.spec.as_ref();
        let mut cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
        if cidrs.is_empty() {
            cidrs.extend(spec.and_then(|s| s.pod_cidr.clone()));
        }
        if cidrs.is_empty() {
            continue;
        }
        let Some(instance) = spec
            .and_then(|s| s.provider_id.as_deref())
            .and_then(instance_id)
        else {
            skipped.push((name, "no providerID yet".to_string()));
            continue;
        };
        let mut pod_cidrs = Vec::new();
        for c in &cidrs {
            match c.parse::<IpNet>() {
                Ok(net) => pod_cidrs.push(net.trunc()),
                Err(_) => skipped.push((name.clone(), format!("pod CIDR {c:?} does not parse"))),
            }
        }
        if !pod_cidrs.is_empty() {
            wanted.push(NodeRoutes {
                node: name,
                instance_id: instance.to_string(),
                pod_cidrs,
            });
        }
    }
    (wanted, skipped)
}

/// The difference between the nodes' routes and the cloud's, for every table the cloud
/// lists for the cluster.
pub fn plan(nodes: &[NodeRoutes], listed: &[Route]) -> RoutePlan {
    plan_in(nodes, listed, &[])
}

/// [`plan`] for the listed tables and `known` ones (tables that may hold no route yet, from
/// [`cloudnet_core::Routes::known_tables`]).
pub fn plan_in(nodes: &[NodeRoutes], listed: &[Route], known: &[String]) -> RoutePlan {
    let tables: BTreeSet<&str> = listed
        .iter()
        .map(|r| r.table.as_str())
        .chain(known.iter().map(String::as_str))
        .collect();
    let by_key: BTreeMap<(&str, IpNet), &Route> = listed
        .iter()
        .map(|r| ((r.table.as_str(), r.destination), r))
        .collect();
    let mut out = RoutePlan::default();
    let mut wanted_keys = BTreeSet::new();
    for table in &tables {
        for node in nodes {
            for cidr in &node.pod_cidrs {
                let want = Route {
                    table: (*table).to_string(),
                    destination: *cidr,
                    target: RouteTarget::Instance(node.instance_id.clone()),
                    node: Some(node.node.clone()),
                    state: RouteState::Active,
                    owned: true,
                };
                wanted_keys.insert((*table, *cidr));
                match by_key.get(&(*table, *cidr)) {
                    Some(have) if !have.owned => out.conflicts.push((*have).clone()),
                    Some(have)
                        if have.target == want.target && have.state == RouteState::Active => {}
                    _ => out.create.push(want),
                }
            }
        }
    }
    for r in listed {
        if r.owned && !wanted_keys.contains(&(r.table.as_str(), r.destination)) {
            out.delete.push(r.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(table: &str, dest: &str, instance: &str, owned: bool) -> Route {
        Route {
            table: table.into(),
            destination: dest.parse().expect("cidr"),
            target: RouteTarget::Instance(instance.into()),
            node: None,
            state: RouteState::Active,
            owned,
        }
    }

    fn node(name: &str, instance: &str, cidrs: &[&str]) -> NodeRoutes {
        NodeRoutes {
            node: name.into(),
            instance_id: instance.into(),
            pod_cidrs: cidrs.iter().map(|c| c.parse().expect("cidr")).collect(),
        }
    }

    fn keys(routes: &[Route]) -> Vec<String> {
        routes
            .iter()
            .map(|r| format!("{} {} {:?}", r.table, r.destination, r.target))
            .collect()
    }

    #[test]
    fn plans_as_a_table() {
        let local = route("rtb-1", "192.168.0.0/16", "local", false);
        struct Case {
            name: &'static str,
            nodes: Vec<NodeRoutes>,
            listed: Vec<Route>,
            create: Vec<&'static str>,
            delete: Vec<&'static str>,
            conflicts: usize,
        }
        let cases = vec![
            Case {
                name: "fresh table",
                nodes: vec![
                    node("n1", "i-1", &["10.1.0.0/24"]),
                    node("n2", "i-2", &["10.1.1.0/24"]),
                ],
                listed: vec![local.clone()],
                create: vec![
                    r#"rtb-1 10.1.0.0/24 Instance("i-1")"#,
                    r#"rtb-1 10.1.1.0/24 Instance("i-2")"#,
                ],
                delete: vec![],
                conflicts: 0,
            },
            Case {
                name: "in sync",
                nodes: vec![node("n1", "i-1", &["10.1.0.0/24"])],
                listed: vec![local.clone(), route("rtb-1", "10.1.0.0/24", "i-1", true)],
                create: vec![],
                delete: vec![],
                conflicts: 0,
            },
            Case {
                name: "node gone, its route deleted, the foreign one kept",
                nodes: vec![],
                listed: vec![
                    local.clone(),
                    route("rtb-1", "10.1.0.0/24", "i-1", true),
                    route("rtb-1", "10.9.0.0/24", "i-9", false),
                ],
                create: vec![],
                delete: vec![r#"rtb-1 10.1.0.0/24 Instance("i-1")"#],
                conflicts: 0,
            },
            Case {
                name: "drifted target and blackhole are replaced",
                nodes: vec![
                    node("n1", "i-1", &["10.1.0.0/24"]),
                    node("n2", "i-2", &["10.1.1.0/24"]),
                ],
                listed: vec![
                    local.clone(),
                    route("rtb-1", "10.1.0.0/24", "i-old", true),
                    Route {
                        state: RouteState::Blackhole,
                        ..route("rtb-1", "10.1.1.0/24", "i-2", true)
                    },
                ],
                create: vec![
                    r#"rtb-1 10.1.0.0/24 Instance("i-1")"#,
                    r#"rtb-1 10.1.1.0/24 Instance("i-2")"#,
                ],
                delete: vec![],
                conflicts: 0,
            },
            Case {
                name: "a foreign route on a node's range is a conflict, untouched",
                nodes: vec![node("n1", "i-1", &["10.1.0.0/24"])],
                listed: vec![
                    local.clone(),
                    route("rtb-1", "10.1.0.0/24", "i-other", false),
                ],
                create: vec![],
                delete: vec![],
                conflicts: 1,
            },
            Case {
                name: "every cluster table gets every range",
                nodes: vec![node("n1", "i-1", &["10.1.0.0/24"])],
                listed: vec![
                    local.clone(),
                    route("rtb-2", "192.168.0.0/16", "local", false),
                ],
                create: vec![
                    r#"rtb-1 10.1.0.0/24 Instance("i-1")"#,
                    r#"rtb-2 10.1.0.0/24 Instance("i-1")"#,
                ],
                delete: vec![],
                conflicts: 0,
            },
        ];
        for c in cases {
            let p = plan(&c.nodes, &c.listed);
            assert_eq!(keys(&p.create), c.create, "{}: create", c.name);
            assert_eq!(keys(&p.delete), c.delete, "{}: delete", c.name);
            assert_eq!(p.conflicts.len(), c.conflicts, "{}: conflicts", c.name);
        }
    }

    #[test]
    fn a_known_table_without_routes_gets_the_nodes_routes() {
        let nodes = vec![node("n1", "gke-n1", &["10.100.0.0/24"])];
        assert!(
            plan(&nodes, &[]).create.is_empty(),
            "no table listed, none known"
        );
        let p = plan_in(&nodes, &[], &["cloudnet".to_string()]);
        assert_eq!(
            keys(&p.create),
            vec![r#"cloudnet 10.100.0.0/24 Instance("gke-n1")"#]
        );
        let listed = vec![route("cloudnet", "10.100.0.0/24", "gke-n1", true)];
        assert!(plan_in(&nodes, &listed, &["cloudnet".to_string()]).is_empty());
    }

    #[test]
    fn fifty_nodes_coming_and_going_plan_one_change_each() {
        let local = route("rtb-1", "192.168.0.0/16", "local", false);
        let old: Vec<NodeRoutes> = (0..50)
            .map(|i| {
                node(
                    &format!("old{i}"),
                    &format!("i-o{i}"),
                    &[&format!("10.1.{i}.0/24")],
                )
            })
            .collect();
        let mut listed = vec![local];
        for n in &old {
            listed.push(route(
                "rtb-1",
                &n.pod_cidrs[0].to_string(),
                &n.instance_id,
                true,
            ));
        }
        let new: Vec<NodeRoutes> = (0..50)
            .map(|i| {
                node(
                    &format!("new{i}"),
                    &format!("i-n{i}"),
                    &[&format!("10.2.{i}.0/24")],
                )
            })
            .collect();
        let p = plan(&new, &listed);
        assert_eq!(p.create.len(), 50);
        assert_eq!(p.delete.len(), 50);
        assert!(plan(&old, &listed).is_empty());
    }

    #[test]
    fn nodes_without_provider_id_or_with_bad_cidrs_are_skipped_with_a_reason() {
        let nodes: Vec<Node> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "a"}, "spec": {"podCIDRs": ["10.1.0.0/24"], "providerID": "aws:///us-west-2a/i-0abc"}},
            {"metadata": {"name": "b"}, "spec": {"podCIDRs": ["10.1.1.0/24"]}},
            {"metadata": {"name": "c"}, "spec": {"podCIDR": "nope", "providerID": "aws:///us-west-2a/i-0def"}},
            {"metadata": {"name": "d"}, "spec": {}},
            {"metadata": {"name": "e", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"podCIDRs": ["10.1.4.0/24"], "providerID": "aws:///us-west-2a/i-0eee"}}
        ]))
        .expect("nodes");
        let (wanted, skipped) = desired_from_nodes(&nodes);
        assert_eq!(wanted, vec![node("a", "i-0abc", &["10.1.0.0/24"])]);
        assert_eq!(
            skipped,
            vec![
                ("b".to_string(), "no providerID yet".to_string()),
                (
                    "c".to_string(),
                    "pod CIDR \"nope\" does not parse".to_string()
                ),
            ]
        );
    }
}
