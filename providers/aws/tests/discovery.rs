//! Region, VPC and instance discovery from instance metadata (IMDSv2), against the mock
//! cloud's metadata service, through `AwsProvider::connect` as a node runs it: only the
//! cluster name, the EC2/ELBv2 endpoint and the metadata endpoint are given.
//!
//! The mock cloud answers metadata for the instance named in the path prefix
//! `/_mockcloud/imds/<instance-id>` (the SDK's IMDS client takes that as its endpoint), else
//! for the oldest running instance. The endpoint is passed in `AwsConfig::imds_endpoint`, not
//! through `AWS_EC2_METADATA_SERVICE_ENDPOINT`, so these tests run in parallel.

mod common;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_ec2::types::InstanceType;
use cloudnet_aws::config::{discover_instance, imds_client};
use cloudnet_aws::{AwsConfig, AwsMetrics, AwsProvider, ConfigError, InstanceIdentity};
use cloudnet_core::{Addresses, NodeRef};
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};

const REGION: &str = "eu-central-1";
const DEFAULT_VPC: &str = "vpc-0c10d0e7000000001";
const NODE1: &str = "i-0c10d0e7000000001";

/// The default world moved to a region no test machine defaults to, so a region found is
/// one read from metadata.
async fn mock() -> Handle {
    let yaml = include_str!("../../mockcloud/worlds/default.yaml").replace("us-west-2", REGION);
    let world = World::from_yaml(&yaml).unwrap();
    MockCloud::start(Config::ephemeral(world)).await.unwrap()
}

/// The region the SDK's chain finds before metadata, when the environment names one.
fn region_from_env() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// A second VPC with an instance in it: neither the oldest instance nor the default VPC.
async fn launch_elsewhere(mock: &Handle) -> (String, String) {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(mock.endpoint_url())
        .load()
        .await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = common::create_vpc(&ec2, "10.9.0.0/16").await;
    let zone = format!("{REGION}b");
    let subnet = common::create_subnet(&ec2, &vpc, "10.9.1.0/24", &zone, None).await;
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::C5Xlarge)
        .subnet_id(&subnet)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    (vpc, instance)
}

fn node_config(mock: &Handle, imds: String) -> AwsConfig {
    let mut config = AwsConfig::new("prod");
    config.endpoint_url = Some(mock.endpoint_url());
    config.imds_endpoint = Some(imds);
    config
}

#[tokio::test]
async fn connect_discovers_region_vpc_and_the_instance_it_runs_on() {
    let mock = mock().await;
    let (vpc, instance) = launch_elsewhere(&mock).await;
    let imds = format!("{}/_mockcloud/imds/{instance}", mock.endpoint_url());
    let provider = AwsProvider::connect(node_config(&mock, imds), AwsMetrics::default())
        .await
        .unwrap();
    assert_eq!(
        provider.vpc_id(),
        vpc,
        "the VPC of the instance's primary MAC"
    );
    let region = region_from_env().unwrap_or_else(|| REGION.to_string());
    assert_eq!(provider.region(), Some(region.as_str()));
    assert_eq!(
        provider.instance(),
        Some(&InstanceIdentity {
            instance_id: instance.clone(),
            region: REGION.into(),
            zone: format!("{REGION}b"),
            vpc_id: vpc.clone(),
        })
    );
    // The provider works from there: credentials come from the default chain (the
    // environment, else the metadata service's role), the instance type from EC2.
    let n = provider
        .describe_node(&NodeRef {
            name: "node".into(),
            instance_id: instance,
            zone: None,
        })
        .await
        .unwrap();
    assert_eq!(n.instance_type, "c5.xlarge");
    assert_eq!(n.interfaces.len(), 1);
}

#[tokio::test]
async fn without_an_instance_named_metadata_is_the_oldest_running_instance() {
    let mock = mock().await;
    launch_elsewhere(&mock).await;
    let client = imds_client(Some(&mock.endpoint_url())).unwrap();
    let found = discover_instance(&client).await.unwrap();
    assert_eq!(
        found,
        InstanceIdentity {
            instance_id: NODE1.into(),
            region: REGION.into(),
            zone: format!("{REGION}a"),
            vpc_id: DEFAULT_VPC.into(),
        }
    );
}

#[tokio::test]
async fn given_region_and_vpc_metadata_is_not_read() {
    let mock = mock().await;
    // Nothing listens there: reading metadata would fail the setup.
    let port = cloudnet_tests::free_port().unwrap();
    let mut config = node_config(&mock, format!("http://127.0.0.1:{port}"));
    config.region = Some("ap-south-1".into());
    config.vpc_id = Some("vpc-given".into());
    let provider = AwsProvider::connect(config, AwsMetrics::default())
        .await
        .unwrap();
    assert_eq!(provider.region(), Some("ap-south-1"));
    assert_eq!(provider.vpc_id(), "vpc-given");
    assert_eq!(provider.instance(), None);
}

#[tokio::test]
async fn metadata_without_the_instance_is_a_setup_error() {
    let mock = mock().await;
    let imds = format!(
        "{}/_mockcloud/imds/i-0000000000000dead",
        mock.endpoint_url()
    );
    let err = AwsProvider::connect(node_config(&mock, imds), AwsMetrics::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ConfigError::Region(_) | ConfigError::Vpc(_)),
        "{err:?}"
    );
}
