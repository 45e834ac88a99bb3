//! IAM enforcement end to end: the shipped policies from deploy/iam loaded into a world,
//! calls through the real SDKs, refusals in the cloud's own format and in the call log.

mod common;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use cloudnet_mockcloud::iam::config::{CONTROLLER_ROLE, NODE_ROLE};
use cloudnet_mockcloud::iam::{IamSpec, instance_key};
use cloudnet_mockcloud::{Handle, World};

const CONTROLLER: &str = "AKIDCONTROLLER";
const ADMIN: &str = "AKIDADMIN";
const SUBNET: &str = "subnet-0c10d0e70000000a2";

async fn sdk(h: &Handle, akid: &str) -> aws_config::SdkConfig {
    common::sdk_as(h, akid, aws_config::retry::RetryConfig::disabled()).await
}

async fn start() -> Handle {
    let world = World {
        iam: Some(IamSpec::shipped(&[CONTROLLER], &[ADMIN])),
        ..World::default()
    };
    common::start_with(world).await
}

fn owned(rt: ResourceType) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .tags(
            Tag::builder()
                .key("cloudnet.io/cluster")
                .value("demo")
                .build(),
        )
        .build()
}

fn denied(h: &Handle, caller: &str) -> Vec<String> {
    h.with_cloud(|c| {
        c.call_log
            .denied_by_caller()
            .get(caller)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    })
}

#[tokio::test]
async fn creates_need_our_tag_and_changes_need_it_on_the_resource() {
    let h = start().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&h, CONTROLLER).await);
    let admin = aws_sdk_ec2::Client::new(&sdk(&h, ADMIN).await);

    // Untagged: refused, in EC2's format, naming role, action and resource.
    let e = ec2
        .create_network_interface()
        .subnet_id(SUBNET)
        .send()
        .await
        .expect_err("untagged create");
    assert_eq!(e.code(), Some("UnauthorizedOperation"), "{e:?}");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    let msg = e.message().unwrap_or_default().to_string();
    assert!(
        msg.starts_with("You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/cloudnet-controller/AKIDCONTROLLER is not authorized to perform: ec2:CreateNetworkInterface on resource: arn:aws:ec2:us-west-2:123456789012:network-interface/* because no identity-based policy allows the ec2:CreateNetworkInterface action"),
        "{msg}"
    );
    assert_eq!(denied(&h, CONTROLLER), ["ec2:CreateNetworkInterface"]);
    assert_eq!(
        h.with_cloud(|c| c.ec2.network_interfaces.len()),
        2,
        "a refused call changes nothing"
    );

    // Tagged: allowed, and its implied CreateTags too.
    let ours = ec2
        .create_network_interface()
        .subnet_id(SUBNET)
        .tag_specifications(owned(ResourceType::NetworkInterface))
        .send()
        .await
        .expect("tagged create")
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .expect("id")
        .to_string();
    let used = h.with_cloud(|c| c.iam.as_ref().expect("iam").used()[CONTROLLER_ROLE].clone());
    assert!(used.contains("ec2:CreateNetworkInterface") && used.contains("ec2:CreateTags"));

    // Someone else's interface: the controller may not delete it; its own, it may.
    let theirs = common::new_interface(&admin, SUBNET).await;
    let e = ec2
        .delete_network_interface()
        .network_interface_id(&theirs)
        .send()
        .await
        .expect_err("foreign delete");
    assert_eq!(e.code(), Some("UnauthorizedOperation"));
    assert!(
        e.message()
            .unwrap_or_default()
            .contains(&format!("network-interface/{theirs}"))
    );
    ec2.delete_network_interface()
        .network_interface_id(&ours)
        .send()
        .await
        .expect("own delete");
    // Gone: the cloud's own NotFound, not a refusal.
    let e = ec2
        .delete_network_interface()
        .network_interface_id(&ours)
        .send()
        .await
        .expect_err("gone");
    assert_eq!(e.code(), Some("InvalidNetworkInterfaceID.NotFound"));

    // Changing the cluster tag of an owned group is refused; other tags are fine.
    let sg = ec2
        .create_security_group()
        .group_name("k8s-demo")
        .description("d")
        .vpc_id("vpc-0c10d0e7000000001")
        .tag_specifications(owned(ResourceType::SecurityGroup))
        .send()
        .await
        .expect("tagged group")
        .group_id()
        .expect("id")
        .to_string();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    ec2.create_tags()
        .resources(&sg)
        .tags(tag("team", "net"))
        .send()
        .await
        .expect("retag");
    let e = ec2
        .create_tags()
        .resources(&sg)
        .tags(tag("cloudnet.io/cluster", "other"))
        .send()
        .await
        .expect_err("steal");
    assert_eq!(e.code(), Some("UnauthorizedOperation"));
    // Not ours at all: admin's VPC cannot be retagged by the controller.
    let e = ec2
        .create_tags()
        .resources("vpc-0c10d0e7000000001")
        .tags(tag("team", "net"))
        .send()
        .await
        .expect_err("foreign tag");
    assert_eq!(e.code(), Some("UnauthorizedOperation"));
    h.shutdown().await;
}

#[tokio::test]
async fn elbv2_refuses_with_access_denied_and_unknown_keys_fail_authentication() {
    let h = start().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk(&h, CONTROLLER).await);
    let e = elb
        .create_target_group()
        .name("untagged")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(80)
        .vpc_id("vpc-0c10d0e7000000001")
        .send()
        .await
        .expect_err("untagged");
    assert_eq!(e.code(), Some("AccessDenied"), "{e:?}");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert!(
        e.message().unwrap_or_default().contains(
            "is not authorized to perform: elasticloadbalancing:CreateTargetGroup on resource: arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/untagged/*"
        ),
        "{e:?}"
    );
    let tg = elb
        .create_target_group()
        .name("tagged")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(80)
        .vpc_id("vpc-0c10d0e7000000001")
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("cloudnet.io/cluster")
                .value("demo")
                .build(),
        )
        .send()
        .await
        .expect("tagged");
    let arn = tg.target_groups()[0].target_group_arn().expect("arn");
    elb.delete_target_group()
        .target_group_arn(arn)
        .send()
        .await
        .expect("own delete");

    let stranger = aws_sdk_elasticloadbalancingv2::Client::new(&sdk(&h, "AKIDSTRANGER").await);
    let e = stranger
        .describe_load_balancers()
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(e.code(), Some("InvalidClientTokenId"));
    let stranger = aws_sdk_ec2::Client::new(&sdk(&h, "AKIDSTRANGER").await);
    let e = stranger
        .describe_vpcs()
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(e.code(), Some("AuthFailure"));
    assert_eq!(
        denied(&h, "AKIDSTRANGER"),
        ["ec2:DescribeVpcs", "elbv2:DescribeLoadBalancers"]
    );
    let log = h.with_cloud(|c| c.call_log.page(0));
    assert!(
        log.calls
            .iter()
            .any(|r| r.denied && r.caller == "AKIDSTRANGER")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn instance_metadata_hands_out_the_node_role_which_only_reads() {
    let h = start().await;
    let (_, _, token) = common::http(
        &h,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
        "",
    )
    .await;
    let get = |path: &'static str| {
        let h = &h;
        let token = token.clone();
        async move {
            common::http(h, "GET", path, &[("X-aws-ec2-metadata-token", &token)], "")
                .await
                .2
        }
    };
    assert_eq!(
        get("/latest/meta-data/iam/security-credentials/").await,
        NODE_ROLE
    );
    let creds: serde_json::Value = serde_json::from_str(
        &get("/latest/meta-data/iam/security-credentials/cloudnet-node").await,
    )
    .expect("json");
    let key = creds["AccessKeyId"].as_str().expect("key").to_string();
    assert_eq!(key, instance_key(NODE_ROLE));
    let ec2 = aws_sdk_ec2::Client::new(&sdk(&h, &key).await);
    ec2.describe_instances().send().await.expect("nodes read");
    let e = ec2
        .create_network_interface()
        .subnet_id(SUBNET)
        .tag_specifications(owned(ResourceType::NetworkInterface))
        .send()
        .await
        .expect_err("nodes do not write");
    assert_eq!(e.code(), Some("UnauthorizedOperation"));
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("assumed-role/cloudnet-node/")
    );
    h.shutdown().await;
}

#[test]
fn policy_files_are_read_relative_to_the_world_file_and_bad_sections_are_refused() {
    let dir = std::env::temp_dir().join(format!("mockcloud-iam-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("policies")).expect("dir");
    std::fs::write(
        dir.join("policies/controller.json"),
        cloudnet_mockcloud::iam::config::CONTROLLER_POLICY,
    )
    .expect("policy");
    let world = "region: us-west-2\navailability_zones: [us-west-2a]\niam:\n  access_keys: {AKIDC: controller}\n  roles:\n    controller:\n      policies:\n        - file: policies/controller.json\n";
    std::fs::write(dir.join("world.yaml"), world).expect("world");
    let w = World::load(&dir.join("world.yaml")).expect("loads");
    let cloud = cloudnet_mockcloud::cloud::Cloud::new(w).expect("compiles");
    let iam = cloud.iam.as_ref().expect("iam on");
    assert!(iam.role_of("AKIDC").is_some_and(|r| !r.policies.is_empty()));
    assert!(iam.role_of("AKIDX").is_none());

    // A misspelled key, a missing file, a role nobody defined: clear errors.
    let bad = World::from_yaml(
        "region: us-west-2\navailability_zones: [us-west-2a]\niam:\n  acess_keys: {}\n",
    )
    .expect_err("unknown key");
    assert_eq!(bad.unknown_key(), Some("acess_keys"), "{bad}");
    std::fs::write(
        dir.join("missing.yaml"),
        world.replace("controller.json", "nope.json"),
    )
    .expect("world");
    let e = cloudnet_mockcloud::cloud::Cloud::new(
        World::load(&dir.join("missing.yaml")).expect("parses"),
    )
    .err()
    .expect("missing policy file");
    assert!(e.to_string().contains("nope.json"), "{e}");
    let w = World::from_yaml(
        "region: us-west-2\navailability_zones: [us-west-2a]\niam:\n  access_keys: {AKIDC: ghost}\n",
    )
    .expect("parses");
    let e = cloudnet_mockcloud::cloud::Cloud::new(w)
        .err()
        .expect("unknown role");
    assert!(e.to_string().contains("role 'ghost'"), "{e}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
