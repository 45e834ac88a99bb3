//! The controllers on GCP end to end: `app::run` (what `cloudnet-controller --provider gcp`
//! runs) on the GCP backend through the Google Cloud client library against the mock's
//! Compute Engine, the embedded API. What is GCP's own: nodes get one alias range each
//! from the `pods` secondary range, written to `spec.podCIDR(s)`, and node churn reads
//! nothing; a LoadBalancer Service in GKE's dialect becomes a regional passthrough load
//! balancer with a `GCE_VM_IP` NEG per zone holding the nodes of its pods, and the nodes keep
//! their ranges when it goes. (Members following endpoints, bad annotations and leftovers are
//! `service_clouds_e2e`'s, on every cloud.)

mod chart_rbac;
mod clouds;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cloudnet_controllers::app::Settings;
use cloudnet_controllers::ipam::AllocatorConfig;
use cloudnet_controllers::service::ServiceSettings;
use cloudnet_crds::NodeNetwork;
use cloudnet_gcp::GcpCloud;
use cloudnet_mockcloud::Handle;
use cloudnet_testkit::eventually;
use clouds::gcp_world::common as gcp;
use common::{Controllers, NodeSeen};
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const CLUSTER: &str = "gke-e2e";
const WAIT: Duration = Duration::from_secs(60);
/// The built-in GCP world's nodes (name, zone).
const NODES: [(&str, &str); 2] = [(gcp::NODE_1, gcp::ZONE_1), (gcp::NODE_2, gcp::ZONE_2)];

/// The mock's resources of a collection (`forwardingRules`), by path.
fn resources(mock: &Handle, collection: &str) -> BTreeMap<String, Value> {
    let part = format!("/{collection}/");
    mock.with_cloud(|c| {
        c.gcp
            .resources
            .iter()
            .filter(|(k, _)| k.contains(&part))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// The alias ranges of an instance's first interface, as the mock has them.
fn alias_ranges(mock: &Handle, zone: &str, name: &str) -> Vec<String> {
    let path = format!("zones/{zone}/instances/{name}");
    mock.with_cloud(|c| {
        c.gcp.resources.get(&path).map_or_else(Vec::new, |i| {
            i["networkInterfaces"][0]["aliasIpRanges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["ipCidrRange"].as_str().map(str::to_string))
                .collect()
        })
    })
}

fn node_ip(mock: &Handle, zone: &str, name: &str) -> String {
    let path = format!("zones/{zone}/instances/{name}");
    mock.with_cloud(|c| {
        c.gcp.resources[&path]["networkInterfaces"][0]["networkIP"]
            .as_str()
            .expect("networkIP")
            .to_string()
    })
}

/// The instances each zone's NEGs hold, by zone.
fn neg_members(mock: &Handle) -> BTreeMap<String, BTreeSet<String>> {
    mock.with_cloud(|c| {
        c.gcp
            .neg_endpoints
            .iter()
            .map(|(neg, eps)| {
                let zone = neg.split('/').nth(1).unwrap_or_default().to_string();
                let instances = eps
                    .iter()
                    .filter_map(|e| e["instance"].as_str())
                    .map(|i| i.rsplit('/').next().unwrap_or_default().to_string())
                    .collect();
                (zone, instances)
            })
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_get_alias_ranges_and_a_service_gets_a_passthrough_load_balancer_that_goes_away() {
    let mock = gcp::start().await;
    // What `cloudnet-controller --provider gcp` builds, pointed at the mock.
    let cloud = GcpCloud::connect(gcp::config(&mock, CLUSTER))
        .await
        .expect("the GCP backend connects");
    // As `cloudnet-controller --provider gcp` runs it: ingress-gce's dialect.
    let settings = Settings {
        ipam: Some(AllocatorConfig::default()),
        service: Some(ServiceSettings::ingress_gce(CLUSTER)),
        service_resync: Duration::from_secs(600),
        ..Settings::default()
    };
    let nodes: Vec<NodeSeen> = NODES
        .iter()
        .map(|&(name, zone)| NodeSeen {
            name,
            provider_id: format!("gce://{}/{zone}/{name}", gcp::PROJECT),
            zone,
            ip: node_ip(&mock, zone, name),
        })
        .collect();
    let controllers = Controllers::start(cloud.cloud(), settings, &nodes).await;
    let admin = controllers.admin.clone();

    // Each node: one /24 from the pods range (10.4.0.0/14), on its instance and in its spec.
    let pods_range: Ipv4Net = "10.4.0.0/14".parse().unwrap();
    let nodes: Api<Node> = Api::all(admin.clone());
    let mut ranges = BTreeMap::new();
    for (name, zone) in NODES {
        let cidr = eventually(WAIT, &format!("{name}'s podCIDR"), || {
            let nodes = nodes.clone();
            async move {
                let n = nodes.get(name).await.ok()?;
                n.spec?.pod_cidr
            }
        })
        .await;
        let net: Ipv4Net = cidr.parse().expect("a CIDR");
        assert_eq!(net.prefix_len(), 24, "{cidr}");
        assert!(
            pods_range.contains(&net),
            "{cidr} is outside the pods range"
        );
        let n = nodes.get(name).await.unwrap();
        assert_eq!(n.spec.unwrap().pod_cidrs, Some(vec![cidr.clone()]));
        assert_eq!(alias_ranges(&mock, zone, name), vec![cidr.clone()]);
        ranges.insert(name, net);
    }
    let distinct: BTreeSet<_> = ranges.values().collect();
    assert_eq!(distinct.len(), 2, "two nodes, two ranges: {ranges:?}");
    // One write per node, and each node's NodeNetwork shows the range, Ready, for its ipamd.
    assert_eq!(
        gcp::mock_calls(&mock, "instances.updateNetworkInterface"),
        2
    );
    let networks: Api<NodeNetwork> = Api::all(admin.clone());
    for (name, _) in NODES {
        let want = ranges[name].to_string();
        eventually(WAIT, &format!("{name}'s NodeNetwork Ready"), || {
            let networks = networks.clone();
            let want = want.clone();
            async move {
                let s = networks.get(name).await.ok()?.status?;
                let ready = s
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                let listed =
                    s.interfaces.first()?.blocks.iter().any(|b| {
                        !b.primary && b.kind == "aliasRange" && b.cidr.to_string() == want
                    });
                (ready && listed && s.summary.addresses == 256 && s.summary.releasable == 0)
                    .then_some(())
            }
        })
        .await;
    }

    // Node changes (labels, heartbeats) make no cloud call: the status already says it.
    let (gets, writes) = (
        gcp::mock_calls(&mock, "instances.get"),
        gcp::mock_calls(&mock, "instances.updateNetworkInterface"),
    );
    for i in 0..5 {
        for (name, _) in NODES {
            nodes
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"labels": {"churn": i.to_string()}}})),
                )
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        gcp::mock_calls(&mock, "instances.get"),
        gets,
        "node churn read the cloud"
    );
    assert_eq!(
        gcp::mock_calls(&mock, "instances.updateNetworkInterface"),
        writes
    );

    // A LoadBalancer Service, two pods on each node (addresses from the nodes' ranges): a
    // regional forwarding rule, a backend service, and a GCE_VM_IP NEG in each node's zone
    // holding that node.
    let pod_ips: Vec<String> = NODES
        .iter()
        .flat_map(|(n, _)| {
            let base = ranges[n].network().octets();
            [5u8, 6].map(|last| format!("{}.{}.{}.{last}", base[0], base[1], base[2]))
        })
        .collect();
    let address = common::web_service_with_pods(&admin, json!({}), &pod_ips, WAIT).await;
    let rules = resources(&mock, "forwardingRules");
    assert_eq!(rules.len(), 1, "{rules:#?}");
    let rule = rules.values().next().unwrap();
    assert!(rules.keys().all(|k| k.starts_with("regions/us-central1/")));
    assert_eq!(rule["IPAddress"], json!(address));
    assert_eq!(rule["loadBalancingScheme"], "EXTERNAL");
    let backends = resources(&mock, "backendServices");
    assert_eq!(backends.len(), 1, "{backends:#?}");
    // The address is published once the forwarding rule exists; the NEGs are made per
    // zone as the targets are synced after it, as ingress-gce's NEG controller does.
    let mock = &mock;
    let members = eventually(WAIT, "a NEG per zone holding its node", || async move {
        let negs = resources(mock, "networkEndpointGroups");
        let members = neg_members(mock);
        let held = members.values().map(BTreeSet::len).sum::<usize>();
        (negs.len() == 2 && held == 2).then_some(members)
    })
    .await;
    for (name, zone) in NODES {
        assert_eq!(
            members
                .get(zone)
                .map(|m| m.iter().cloned().collect::<Vec<_>>()),
            Some(vec![name.to_string()]),
            "{members:?}"
        );
    }

    // Deleted: the nodes keep their ranges.
    common::delete_web_service(&admin, WAIT).await;
    assert!(resources(mock, "networkEndpointGroups").is_empty());
    for (name, zone) in NODES {
        assert_eq!(
            alias_ranges(mock, zone, name),
            vec![ranges[name].to_string()]
        );
    }
    controllers.stop().await;
}
