//! Discovery from the metadata server and credentials from it, against the mock cloud.

mod common;

use cloudnet_core::{NodeRef, Routes};
use cloudnet_gcp::config::{GcpConfig, Metadata, resolve_location};
use cloudnet_gcp::{CredentialsChoice, GcpProvider, Location};
use common::*;

fn metadata_root(h: &cloudnet_mockcloud::Handle) -> String {
    format!(
        "{}/_mockcloud/gce-metadata/{ZONE_2}/{NODE_2}",
        h.endpoint_url()
    )
}

#[tokio::test]
async fn project_region_and_network_come_from_the_metadata_server() {
    let h = start().await;
    let md = Metadata::new(metadata_root(&h), std::time::Duration::from_secs(5)).unwrap();
    let id = md.discover().await.expect("discovered");
    assert_eq!(id.project, PROJECT);
    assert_eq!(id.zone, ZONE_2);
    assert_eq!(id.region, "us-central1");
    assert_eq!(id.instance_name, NODE_2);
    assert_eq!(id.network, NETWORK);

    let mut config = GcpConfig::new("prod");
    config.metadata_endpoint = Some(metadata_root(&h));
    config.region = Some("europe-west1".into());
    assert_eq!(
        resolve_location(&config).await.unwrap(),
        Location {
            project: PROJECT.into(),
            region: "europe-west1".into(),
            network: NETWORK.into(),
        },
        "what is given wins, the rest is discovered"
    );
}

#[tokio::test]
async fn the_metadata_servers_token_is_the_callers_identity() {
    let h = start().await;
    let mut config = GcpConfig::new("prod");
    config.metadata_endpoint = Some(metadata_root(&h));
    config.endpoint = Some(h.endpoint_url());
    config.credentials = CredentialsChoice::MetadataServer;
    let p = GcpProvider::connect(config).await.expect("connects");
    assert_eq!(p.project(), PROJECT);
    p.list().await.expect("routes listed with the VM's token");
    let node = NodeRef {
        name: NODE_1.into(),
        instance_id: NODE_1.into(),
        zone: None,
    };
    cloudnet_core::Addresses::describe_node(&p, &node)
        .await
        .expect("described");
    let callers: Vec<String> = h.with_cloud(|c| {
        c.call_log
            .by_caller()
            .iter()
            .filter(|(_, calls)| calls.keys().any(|k| k.starts_with("compute:")))
            .map(|(caller, _)| caller.clone())
            .collect()
    });
    assert!(!callers.is_empty());
    assert!(
        callers.iter().all(|c| c != "anonymous" && c.contains('@')),
        "every call made as the VM's service account: {callers:?}"
    );
}

#[tokio::test]
async fn an_empty_cluster_name_or_a_silent_metadata_server_is_a_clear_error() {
    let e = resolve_location(&GcpConfig::new(" ")).await.unwrap_err();
    assert!(matches!(e, cloudnet_gcp::ConfigError::NoClusterName), "{e}");
    let mut config = GcpConfig::new("prod");
    config.metadata_endpoint = Some("http://127.0.0.1:9".into());
    config.metadata_timeout = std::time::Duration::from_millis(500);
    let e = resolve_location(&config).await.unwrap_err();
    assert!(e.to_string().contains("metadata server"), "{e}");
}
