//! Addresses against the mock cloud, through the real SDK.

mod common;

use std::time::Duration;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use cloudnet_core::ownership::{TAG_CLUSTER, TAG_CREATED_AT, TAG_NODE};
use cloudnet_core::{Addresses, AssignBlocks, BlockKind, Error, InterfaceId, Limit};
use common::*;

/// A new interface on NODE1 in PRIVATE_A with `initial` blocks of `kind`.
async fn attach(env: &Env, initial: u32, kind: BlockKind) -> cloudnet_core::Interface {
    let req = attach_req(PRIVATE_A, initial, kind);
    let attached = env.provider.attach_interface(&node(NODE1), &req).await;
    attached.expect("attach an interface")
}

async fn cluster_enis(env: &Env) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
    common::cluster_enis(&env.ec2, "prod").await
}

#[tokio::test]
async fn describe_node_reads_limits_and_the_primary_interface() {
    let env = start().await;
    let n = env.provider.describe_node(&node(NODE1)).await.unwrap();
    assert_eq!(n.instance_type, "m5.large");
    assert_eq!(n.limits.max_interfaces, 3);
    assert_eq!(n.limits.max_blocks_per_interface, 10);
    assert!(
        n.limits.block_kinds.contains(&BlockKind::Prefix),
        "m5 is Nitro"
    );
    assert_eq!(n.interfaces.len(), 1);
    let primary = &n.interfaces[0];
    assert!(primary.is_primary());
    assert!(!primary.owned, "the primary interface is not ours");
    assert!(primary.blocks.iter().any(|b| b.primary));
    assert_eq!(
        primary.subnet_cidr,
        Some("192.168.96.0/19".parse().unwrap())
    );
    // Instance type limits are cached.
    env.provider.describe_node(&node(NODE1)).await.unwrap();
    assert_eq!(env.count("ec2:DescribeInstanceTypes"), 1);
}

#[tokio::test]
async fn attach_tags_at_creation_and_sets_delete_on_termination() {
    let env = start().await;
    let i = attach(&env, 4, BlockKind::SecondaryIp).await;
    assert_eq!(i.index, 1);
    assert!(i.owned);
    assert_eq!(
        i.blocks.len(),
        5,
        "primary + 4 secondary in the create call"
    );
    let enis = cluster_enis(&env).await;
    assert_eq!(enis.len(), 1);
    let eni = &enis[0];
    let tags: std::collections::BTreeMap<_, _> = eni
        .tag_set()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect();
    assert_eq!(tags[TAG_NODE], NODE1);
    assert!(tags[TAG_CREATED_AT].parse::<u64>().is_ok());
    assert_eq!(tags["kubernetes.io/cluster/prod"], "owned");
    let att = eni.attachment().unwrap();
    assert_eq!(att.device_index(), Some(1));
    assert_eq!(att.delete_on_termination(), Some(true));
    // The interface took the node's security groups.
    assert_eq!(eni.groups()[0].group_id(), Some(NODES_SG));
    assert_eq!(env.count("ec2:CreateNetworkInterface"), 1);
}

#[tokio::test]
async fn the_interface_limit_is_a_clear_error_and_creates_nothing() {
    let env = start().await;
    let req = attach_req(PRIVATE_A, 0, BlockKind::SecondaryIp);
    let a = attach(&env, 0, BlockKind::SecondaryIp).await;
    let b = attach(&env, 0, BlockKind::SecondaryIp).await;
    assert_eq!((a.index, b.index), (1, 2));
    let err = env
        .provider
        .attach_interface(&node(NODE1), &req)
        .await
        .unwrap_err();
    assert_interface_limit(&err);
    assert_eq!(
        env.count("ec2:CreateNetworkInterface"),
        2,
        "nothing created for the third"
    );
}

#[tokio::test]
async fn a_failed_attach_deletes_the_new_interface() {
    let env = start().await;
    env.fault(serde_json::json!({
        "service": "ec2", "action": "AttachNetworkInterface", "kind": "error", "status": 500
    }));
    let err = env
        .provider
        .attach_interface(
            &node(NODE1),
            &attach_req(PRIVATE_A, 2, BlockKind::SecondaryIp),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(env.count("ec2:CreateNetworkInterface"), 1);
    assert_eq!(env.count("ec2:DeleteNetworkInterface"), 1);
    assert!(cluster_enis(&env).await.is_empty(), "no interface leaked");
}

#[tokio::test]
async fn a_full_subnet_is_insufficient_capacity() {
    let env = start().await;
    // A /28: 16 addresses, 5 reserved by AWS, 11 for us.
    let subnet = create_subnet(&env.ec2, VPC, "192.168.200.0/28", "us-west-2a", None).await;
    env.provider
        .attach_interface(
            &node(NODE1),
            &attach_req(&subnet, 9, BlockKind::SecondaryIp),
        )
        .await
        .unwrap();
    let err = env
        .provider
        .attach_interface(
            &node(NODE1),
            &attach_req(&subnet, 5, BlockKind::SecondaryIp),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientCapacity { .. }), "{err:?}");
    assert_eq!(
        cluster_enis(&env).await.len(),
        1,
        "the failed create left nothing"
    );
}

#[tokio::test]
async fn blocks_are_assigned_in_one_call_up_to_the_limit_and_released() {
    let env = start().await;
    let i = attach(&env, 0, BlockKind::SecondaryIp).await;
    let before = env.count("ec2:AssignPrivateIpAddresses");
    let req = |count| AssignBlocks {
        interface: i.id.clone(),
        kind: BlockKind::SecondaryIp,
        count,
        prefix_len: None,
    };
    let got = env
        .provider
        .assign_blocks(&node(NODE1), &req(20))
        .await
        .unwrap();
    assert_eq!(got.len(), 9, "10 slots, one is the primary address");
    assert_eq!(env.count("ec2:AssignPrivateIpAddresses") - before, 1);
    let err = env
        .provider
        .assign_blocks(&node(NODE1), &req(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LimitExceeded {
                limit: Limit::AddressesPerInterface,
                ..
            }
        ),
        "{err:?}"
    );
    let release: Vec<_> = got[..3].iter().map(|b| b.cidr).collect();
    env.provider
        .release_blocks(&node(NODE1), &i.id, &release)
        .await
        .unwrap();
    // Already gone is fine, and makes no call.
    let unassigns = env.count("ec2:UnassignPrivateIpAddresses");
    env.provider
        .release_blocks(&node(NODE1), &i.id, &release)
        .await
        .unwrap();
    assert_eq!(env.count("ec2:UnassignPrivateIpAddresses"), unassigns);
    let n = env.provider.describe_node(&node(NODE1)).await.unwrap();
    let iface = n.interface(&i.id).unwrap();
    assert_eq!(iface.blocks.len(), 1 + 6);
}

#[tokio::test]
async fn lagging_describe_does_not_lead_to_a_second_interface_at_one_index() {
    let env = start().await;
    env.fault(serde_json::json!({
        "service": "ec2", "action": "CreateNetworkInterface", "kind": "eventual_consistency", "ms": 60000
    }));
    let req = attach_req(PRIVATE_A, 0, BlockKind::SecondaryIp);
    let a = attach(&env, 0, BlockKind::SecondaryIp).await;
    // Describe does not show it yet, the provider still does.
    let n = env.provider.describe_node(&node(NODE1)).await.unwrap();
    assert!(n.interface(&a.id).is_some());
    let b = attach(&env, 0, BlockKind::SecondaryIp).await;
    assert_ne!(a.index, b.index);
    assert_ne!(a.id, b.id);
    let err = env
        .provider
        .attach_interface(&node(NODE1), &req)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err:?}");
    assert_eq!(env.count("ec2:CreateNetworkInterface"), 2);
}

#[tokio::test]
async fn orphans_are_ours_unattached_and_old_and_deleted_after_a_recheck() {
    let env = start().await;
    let tagged = |created: u64| {
        TagSpecification::builder()
            .resource_type(ResourceType::NetworkInterface)
            .tags(Tag::builder().key(TAG_CLUSTER).value("prod").build())
            .tags(
                Tag::builder()
                    .key(TAG_CREATED_AT)
                    .value(created.to_string())
                    .build(),
            )
            .build()
    };
    let create = |spec: Option<TagSpecification>| {
        let ec2 = env.ec2.clone();
        async move {
            let create = ec2.create_network_interface().subnet_id(PRIVATE_A);
            create_interface(create.set_tag_specifications(spec.map(|s| vec![s]))).await
        }
    };
    let old = create(Some(tagged(1))).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = create(Some(tagged(now))).await;
    let foreign = create(None).await;

    let ids = orphan_ids(&env.provider, Duration::from_secs(600)).await;
    assert_eq!(ids, vec![old.clone()], "fresh and foreign are not orphans");
    assert_eq!(orphan_ids(&env.provider, Duration::ZERO).await.len(), 2);

    env.provider
        .delete_orphan(&InterfaceId(old.clone()))
        .await
        .unwrap();
    env.provider.delete_orphan(&InterfaceId(old)).await.unwrap();
    let err = env
        .provider
        .delete_orphan(&InterfaceId(foreign.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotOwned");
    let left = env
        .ec2
        .describe_network_interfaces()
        .network_interface_ids(&foreign)
        .network_interface_ids(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        left.network_interfaces().len(),
        2,
        "the foreign one is untouched"
    );
}

#[tokio::test]
async fn detach_deletes_ours_and_refuses_the_primary() {
    let env = start().await;
    let i = attach(&env, 0, BlockKind::SecondaryIp).await;
    env.provider
        .detach_interface(&node(NODE1), &i.id)
        .await
        .unwrap();
    assert!(cluster_enis(&env).await.is_empty());
    let n = env.provider.describe_node(&node(NODE1)).await.unwrap();
    assert_eq!(n.interfaces.len(), 1);
    let primary = n.interfaces[0].id.clone();
    let err = env
        .provider
        .detach_interface(&node(NODE1), &primary)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotOwned");
}
