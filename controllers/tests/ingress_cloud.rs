//! The Ingress model's golden specs are load balancers the cloud accepts: each is built in
//! the mock cloud through the AWS provider's real SDK clients, a second ensure makes no
//! mutating call (what is read back equals what was written), and delete leaves nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider};
use cloudnet_core::{BudgetConfig, LoadBalancerSpec, LoadBalancers, Op, Rate};
use cloudnet_mockcloud::{Config as CloudConfig, Handle as Cloud, MockCloud, World};

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

fn mutating(calls: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(k, _)| {
            !k.split_once(':')
                .is_some_and(|(_, a)| a.starts_with("Describe"))
        })
        .map(|(k, n)| n - before.get(k).copied().unwrap_or(0))
        .sum()
}

fn count(cloud: &Cloud, kind: &str) -> usize {
    let state = cloud.with_cloud(|c| serde_json::to_value(c.dump()).expect("state"));
    state["elbv2"][kind].as_object().map_or(0, |m| m.len())
}

#[tokio::test]
async fn golden_ingress_specs_build_converge_and_delete_cleanly() {
    let cloud = MockCloud::start(CloudConfig::ephemeral(World::default()))
        .await
        .expect("mock cloud");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(cloud.endpoint_url())
        .load()
        .await;
    let mut aws = AwsConfig::new("demo");
    aws.vpc_id = Some("vpc-0c10d0e7000000001".into());
    aws.node_security_group = Some("sg-0c10d0e7000000001".into());
    let mut budget = BudgetConfig::default();
    for op in Op::all() {
        budget.rates.insert(op, Rate::new(1000.0, 1000));
    }
    aws.budget = budget;
    let provider: Arc<dyn LoadBalancers> =
        Arc::new(AwsProvider::from_sdk_config(&sdk, aws, AwsMetrics::default()).expect("aws"));

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ingress");
    for name in BUILT {
        let raw = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("golden");
        let spec: LoadBalancerSpec = serde_json::from_str(&raw).expect("spec");
        let status = provider
            .ensure(&spec)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status.groups.len(), spec.groups.len(), "{name}");
        assert_eq!(count(&cloud, "load_balancers"), 1, "{name}");
        assert_eq!(count(&cloud, "target_groups"), spec.groups.len(), "{name}");
        let before = cloud.with_cloud(|c| c.calls.clone());
        provider
            .ensure(&spec)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let after = cloud.with_cloud(|c| c.calls.clone());
        assert_eq!(
            mutating(&after, &before),
            0,
            "{name}: a second ensure changed something"
        );
        provider.delete(&status.id).await.expect("delete");
        assert_eq!(
            count(&cloud, "load_balancers"),
            0,
            "{name}: load balancer left"
        );
        assert_eq!(
            count(&cloud, "target_groups"),
            0,
            "{name}: target group left"
        );
    }
}
