//! The Ingress model's golden specs are load balancers the cloud accepts: each is built in
//! the mock cloud through the AWS provider's real SDK clients, a second ensure makes no
//! mutating call (what is read back equals what was written), and delete leaves nothing.

mod service_env;

use std::path::PathBuf;

use cloudnet_core::LoadBalancerSpec;
use cloudnet_mockcloud::World;
use service_env::{
    calls, elbv2_count, mutating_since, provider, refused, start_cloud, under_policy,
};

/// The golden specs that name only what the default world has (the placement golden names
/// subnets and security groups of its own).
const BUILT: &[&str] = &[
    "book",
    "path-precedence",
    "group-order-default-backend",
    "tls-ssl-redirect",
    "actions-conditions",
    "health-checks-and-target-groups",
];

#[tokio::test]
async fn golden_ingress_specs_build_converge_and_delete_cleanly() {
    let cloud = start_cloud(under_policy(World::default(), &["AKIDTEST"])).await;
    let provider = provider(&cloud, "AKIDTEST").await;

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ingress");
    for name in BUILT {
        let raw = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("golden");
        let spec: LoadBalancerSpec = serde_json::from_str(&raw).expect("spec");
        let status = provider
            .ensure(&spec)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status.groups.len(), spec.groups.len(), "{name}");
        assert_eq!(elbv2_count(&cloud, "load_balancers"), 1, "{name}");
        assert_eq!(
            elbv2_count(&cloud, "target_groups"),
            spec.groups.len(),
            "{name}"
        );
        let before = calls(&cloud);
        provider
            .ensure(&spec)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            mutating_since(&cloud, &before),
            Default::default(),
            "{name}: a second ensure changed something"
        );
        provider.delete(&status.id).await.expect("delete");
        assert_eq!(
            elbv2_count(&cloud, "load_balancers"),
            0,
            "{name}: load balancer left"
        );
        assert_eq!(
            elbv2_count(&cloud, "target_groups"),
            0,
            "{name}: target group left"
        );
    }
    let refused = refused(&cloud);
    assert!(refused.is_empty(), "calls refused by IAM: {refused:?}");
}
