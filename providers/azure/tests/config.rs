//! `AzureConfig::for_mock`: a node's config read from the mock's IMDS and pointed at its ARM
//! port; a VM the mock does not have is a clear error.

mod common;

use cloudnet_azure::{AzureConfig, ClusterNetwork, ConfigError, CredentialsChoice};

#[tokio::test]
async fn for_mock_reads_imds_and_points_at_the_arm_port() {
    let h = common::start(|_| {}).await;
    let (subscription, groups, location) = h.with_cloud(|c| {
        let s = &c.azure;
        let groups: Vec<String> = s.resource_groups.values().cloned().collect();
        (s.subscription.clone(), groups, s.location.clone())
    });
    let network = ClusterNetwork::aks_sandbox();
    let endpoints = common::endpoints(&h, None);
    let made = AzureConfig::for_mock(&endpoints, &network, "demo").await;
    let cfg = made.expect("IMDS answers");
    assert_eq!(cfg.subscription, subscription);
    assert!(groups.contains(&cfg.resource_group), "{groups:?}");
    assert_eq!(cfg.location, location);
    assert_eq!(cfg.route_table, network.route_table);
    assert_eq!(cfg.endpoint, h.arm_endpoint_url());
    assert_eq!(cfg.ca_pem.as_deref(), Some(h.ca_pem()));
    assert_eq!(
        cfg.credentials,
        CredentialsChoice::Static("test-token".into())
    );
    cfg.validate().expect("a valid config");

    let endpoints = common::endpoints(&h, Some("no-such-vm"));
    let refused = AzureConfig::for_mock(&endpoints, &network, "demo").await;
    match refused {
        Err(ConfigError::Metadata(m)) => assert!(m.contains("No node no-such-vm"), "{m}"),
        other => panic!("not a metadata error: {other:?}"),
    }
}
