//! The node's side of the `NodeNetwork` contract: watch the node's own object, read the
//! running pods, and write `spec.inUse` / `spec.release`.

use std::net::Ipv4Addr;

use cloudnet_crds::node_network::{NodeNetwork, ReleaseOffer};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

use crate::error::Result;
use crate::recovery::RunningPod;
use crate::state::Offer;

/// The pods on `node` that may hold a pod-network address: not host-network, not finished
/// (a finished pod's sandbox is torn down), with or without an address yet. Read from the
/// API directly, not a cache.
pub async fn pods_on_node(client: &kube::Client, node: &str) -> Result<Vec<RunningPod>> {
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    Ok(list.items.iter().filter_map(|p| on_node(p, node)).collect())
}

/// A pod that may hold a pod-network address on `node`, with the addresses its status
/// shows.
pub fn on_node(p: &Pod, node: &str) -> Option<RunningPod> {
    let spec = p.spec.as_ref()?;
    if spec.node_name.as_deref() != Some(node) || spec.host_network == Some(true) {
        return None;
    }
    let status = p.status.as_ref();
    if matches!(
        status.and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    ) {
        return None;
    }
    let mut ips: Vec<Ipv4Addr> = status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.parse().ok())
        .collect();
    if let Some(ip) = status
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|i| i.parse().ok())
        && !ips.contains(&ip)
    {
        ips.push(ip);
    }
    Some(RunningPod {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        uid: p.metadata.uid.clone().unwrap_or_default(),
        created_ms: p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_millisecond().max(0) as u64),
        ips,
    })
}

/// The spec fields ipamd owns, as they should be.
pub fn spec_patch(in_use: u32, offers: &[Offer]) -> serde_json::Value {
    let release: Vec<ReleaseOffer> = offers
        .iter()
        .map(|o| ReleaseOffer {
            interface: o.interface.clone(),
            block: o.block.into(),
        })
        .collect();
    json!({ "spec": { "inUse": in_use, "release": release } })
}

/// Whether the object already carries what ipamd would write.
pub fn spec_matches(nn: &NodeNetwork, in_use: u32, offers: &[Offer]) -> bool {
    let mut want: Vec<ReleaseOffer> = offers
        .iter()
        .map(|o| ReleaseOffer {
            interface: o.interface.clone(),
            block: o.block.into(),
        })
        .collect();
    want.sort();
    let mut have = nn.spec.release.clone();
    have.sort();
    nn.spec.in_use == in_use && have == want
}

pub async fn write_spec(
    client: &kube::Client,
    node: &str,
    in_use: u32,
    offers: &[Offer],
) -> Result<()> {
    let api: Api<NodeNetwork> = Api::all(client.clone());
    api.patch(
        node,
        &PatchParams::default(),
        &Patch::Merge(spec_patch(in_use, offers)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodIP, PodSpec, PodStatus};

    use super::*;

    fn pod(node: &str, phase: &str, ip: Option<&str>, host: bool) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("uid-p".into()),
                creation_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    "2026-12-01T00:00:00Z".parse().unwrap(),
                )),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                host_network: Some(host),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                pod_ip: ip.map(Into::into),
                pod_ips: ip.map(|i| vec![PodIP { ip: i.into() }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn only_pod_network_pods_of_this_node_count() {
        let got = on_node(&pod("n1", "Running", Some("10.0.0.5"), false), "n1").unwrap();
        assert_eq!(got.ips, vec![Ipv4Addr::new(10, 0, 0, 5)]);
        assert_eq!(
            (got.namespace.as_str(), got.name.as_str(), got.uid.as_str()),
            ("ns", "p", "uid-p")
        );
        assert_eq!(got.created_ms, Some(1_796_083_200_000));
        assert!(on_node(&pod("n2", "Running", Some("10.0.0.5"), false), "n1").is_none());
        assert!(on_node(&pod("n1", "Running", Some("10.0.0.5"), true), "n1").is_none());
        assert!(on_node(&pod("n1", "Succeeded", Some("10.0.0.5"), false), "n1").is_none());
        assert!(on_node(&pod("n1", "Failed", Some("10.0.0.5"), false), "n1").is_none());
        // A pod may hold an address before its status shows one.
        assert_eq!(
            on_node(&pod("n1", "Pending", None, false), "n1").map(|p| p.ips),
            Some(vec![])
        );
        assert!(on_node(&pod("n1", "Pending", Some("10.0.0.6"), false), "n1").is_some());
    }

    #[test]
    fn the_patch_carries_in_use_and_offers() {
        let offers = vec![Offer {
            interface: "eni-a".into(),
            block: "10.0.2.0/28".parse().unwrap(),
        }];
        assert_eq!(
            spec_patch(3, &offers),
            json!({"spec": {"inUse": 3, "release": [{"interface": "eni-a", "block": "10.0.2.0/28"}]}})
        );
    }
}
