//! Alias-range node IPAM through the real client library against the mock cloud: describe,
//! assign (Compute Engine picks free blocks), no overlap under concurrency, a stale
//! fingerprint read again, a lost write not doubled, release, and the refusals.

mod common;

use std::time::Duration;

use cloudnet_core::{
    Addresses, AssignBlocks, AttachInterface, BlockKind, ErrorKind, InterfaceId, Limit, NodeRef,
};
use cloudnet_gcp::config::Metadata;
use cloudnet_mockcloud::faults::{FaultKind, Trigger};
use common::*;
use ipnet::IpNet;

fn node(name: &str, zone: &str) -> NodeRef {
    NodeRef {
        name: name.into(),
        instance_id: name.into(),
        zone: Some(zone.into()),
    }
}

fn one_range() -> AssignBlocks {
    AssignBlocks {
        interface: InterfaceId("nic0".into()),
        kind: BlockKind::AliasRange,
        count: 1,
        prefix_len: None,
    }
}

/// The alias ranges the mock holds on an instance's first interface.
fn mock_ranges(h: &cloudnet_mockcloud::Handle, zone: &str, name: &str) -> Vec<IpNet> {
    let inst = resource(h, &format!("zones/{zone}/instances/{name}")).expect("instance");
    inst["networkInterfaces"][0]["aliasIpRanges"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["ipCidrRange"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn pods() -> IpNet {
    "10.4.0.0/14".parse().unwrap()
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[tokio::test]
async fn describe_assign_release_with_counted_calls() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    let n1 = node(NODE_1, ZONE_1);
    assert!(!p.capabilities().hot_plug_interfaces);

    let d = p.describe_node(&n1).await.expect("describe");
    assert_eq!(d.interfaces.len(), 1);
    let nic = &d.interfaces[0];
    assert_eq!(nic.id.0, "nic0");
    assert_eq!(nic.subnet_id, "cloudnet-nodes");
    assert_eq!(nic.subnet_cidr, Some("10.0.0.0/20".parse().unwrap()));
    assert_eq!(nic.blocks.len(), 1);
    assert!(nic.blocks[0].primary && nic.blocks[0].cidr.prefix_len() == 32);
    assert_eq!(d.limits.max_interfaces, 1);
    assert_eq!(d.limits.block_kinds, vec![BlockKind::AliasRange]);
    assert_eq!(d.instance_type, "e2-standard-4");
    assert_eq!(p.call_counts().of("instances.get"), 1);
    assert_eq!(p.call_counts().of("subnetworks.get"), 1);

    // Assign: read, write, read what was picked.
    let got = p.assign_blocks(&n1, &one_range()).await.expect("assign");
    assert_eq!(got.len(), 1);
    let b1 = got[0].cidr;
    assert_eq!(b1.prefix_len(), 24);
    assert!(pods().contains(&b1), "{b1} from the pods range");
    assert!(!got[0].primary);
    assert_eq!(mock_ranges(&h, ZONE_1, NODE_1), vec![b1]);
    assert_eq!(p.call_counts().of("instances.get"), 3);
    assert_eq!(p.call_counts().of("instances.updateNetworkInterface"), 1);
    assert_eq!(p.call_counts().mutating(), 1);

    // The node's own metadata server shows the range (the second source ipamd checks).
    let md = Metadata::new(
        format!(
            "{}/_mockcloud/gce-metadata/{ZONE_1}/{NODE_1}",
            h.endpoint_url()
        ),
        Duration::from_secs(5),
    )
    .unwrap();
    let aliases = md
        .get("aliases", "instance/network-interfaces/0/ip-aliases/0")
        .await
        .expect("metadata");
    assert_eq!(aliases, b1.to_string());

    // The second node gets another block; the subnetwork is not read again.
    let b2 = p
        .assign_blocks(&node(NODE_2, ZONE_2), &one_range())
        .await
        .unwrap()[0]
        .cidr;
    assert!(!overlaps(&b1, &b2), "{b1} {b2}");
    let d = p.describe_node(&n1).await.unwrap();
    assert_eq!(p.call_counts().of("subnetworks.get"), 1, "cached");
    let pod_blocks: Vec<_> = d.interfaces[0]
        .blocks
        .iter()
        .filter(|b| !b.primary)
        .collect();
    assert_eq!(pod_blocks.len(), 1);
    assert_eq!(pod_blocks[0].cidr, b1);
    assert_eq!(d.interfaces[0].pod_capacity(), 256);

    // A second range on node 1, then release it; releasing again writes nothing.
    let b3 = p.assign_blocks(&n1, &one_range()).await.unwrap()[0].cidr;
    assert_eq!(mock_ranges(&h, ZONE_1, NODE_1), vec![b1, b3]);
    let nic0 = InterfaceId("nic0".into());
    p.release_blocks(&n1, &nic0, &[b3]).await.expect("release");
    assert_eq!(mock_ranges(&h, ZONE_1, NODE_1), vec![b1]);
    let mutating = p.call_counts().mutating();
    p.release_blocks(&n1, &nic0, &[b3])
        .await
        .expect("release again");
    assert_eq!(
        p.call_counts().mutating(),
        mutating,
        "already gone: no write"
    );

    // The last range cannot be removed through the client library: refused, not faked.
    let e = p.release_blocks(&n1, &nic0, &[b1]).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::InvalidInput, "lastAliasRange")
    );
    assert_eq!(mock_ranges(&h, ZONE_1, NODE_1), vec![b1]);

    // What the provider counted is what the mock saw.
    assert_eq!(p.call_counts().snapshot(), mock_compute_calls(&h));
}

#[tokio::test]
async fn concurrent_assigns_never_overlap() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    let (n1, n2) = (node(NODE_1, ZONE_1), node(NODE_2, ZONE_2));
    let req = one_range();
    let (a, b, c, d) = tokio::join!(
        p.assign_blocks(&n1, &req),
        p.assign_blocks(&n1, &req),
        p.assign_blocks(&n2, &req),
        p.assign_blocks(&n2, &req),
    );
    let all: Vec<IpNet> = [a, b, c, d]
        .into_iter()
        .flat_map(|r| r.expect("assigned"))
        .map(|b| b.cidr)
        .collect();
    assert_eq!(all.len(), 4);
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert!(!overlaps(x, y), "{x} overlaps {y}");
        }
    }
    let mut on_nodes = mock_ranges(&h, ZONE_1, NODE_1);
    on_nodes.extend(mock_ranges(&h, ZONE_2, NODE_2));
    on_nodes.sort();
    let mut answered = all.clone();
    answered.sort();
    assert_eq!(
        on_nodes, answered,
        "each answered block is on its node, none extra"
    );
    // Writes on one interface that raced were refused as stale and made again.
    let writes = p.call_counts().of("instances.updateNetworkInterface");
    assert!(writes >= 4, "{writes}");
    assert_eq!(writes, mock_calls(&h, "instances.updateNetworkInterface"));
}

#[tokio::test]
async fn a_stale_fingerprint_is_read_again_and_written_again() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    // Hold the write in the mock long enough for "someone else" to change the interface.
    fault(
        &h,
        "instances.updateNetworkInterface",
        FaultKind::Latency { ms: 400 },
        Trigger::Once,
    );
    let n1 = node(NODE_1, ZONE_1);
    let req = one_range();
    let assign = p.assign_blocks(&n1, &req);
    let meddle = async {
        while mock_calls(&h, "instances.updateNetworkInterface") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.with_cloud(|c| {
            let inst = c
                .gcp
                .resources
                .get_mut(&format!("zones/{ZONE_1}/instances/{NODE_1}"))
                .expect("instance");
            inst["networkInterfaces"][0]["fingerprint"] = "QW5vdGhlcjE=".into() // another writer's fingerprint;
        });
    };
    let (got, ()) = tokio::join!(assign, meddle);
    let got = got.expect("assigned after reading again");
    assert_eq!(got.len(), 1);
    assert_eq!(mock_ranges(&h, ZONE_1, NODE_1), vec![got[0].cidr]);
    assert_eq!(
        p.call_counts().of("instances.updateNetworkInterface"),
        2,
        "stale, then ok"
    );
    assert_eq!(
        p.call_counts().of("instances.get"),
        3,
        "read, read again, read the answer"
    );
}

#[tokio::test]
async fn a_lost_write_is_checked_not_doubled() {
    let h = start().await;
    let p = provider(&h, "prod").await;
    fault(
        &h,
        "instances.updateNetworkInterface",
        FaultKind::Drop,
        Trigger::Once,
    );
    let got = p
        .assign_blocks(&node(NODE_1, ZONE_1), &one_range())
        .await
        .expect("assigned");
    assert_eq!(got.len(), 1);
    assert_eq!(
        mock_ranges(&h, ZONE_1, NODE_1),
        vec![got[0].cidr],
        "exactly one range"
    );
    assert_eq!(p.call_counts().of("instances.updateNetworkInterface"), 2);
}

#[tokio::test]
async fn refusals_are_clear_and_cost_no_write() {
    let h = start().await;
    let mut config = config(&h, "prod");
    config.max_alias_ranges = 2;
    let p = cloudnet_gcp::GcpProvider::connect(config).await.unwrap();
    let n1 = node(NODE_1, ZONE_1);

    let mut three = one_range();
    three.count = 3;
    let e = p.assign_blocks(&n1, &three).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let mut two = one_range();
    two.count = 2;
    p.assign_blocks(&n1, &two).await.expect("two fit");
    let e = p.assign_blocks(&n1, &one_range()).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::LimitExceeded(Limit::AddressesPerInterface)
    );
    let mut prefix = one_range();
    prefix.kind = BlockKind::Prefix;
    assert_eq!(
        p.assign_blocks(&n1, &prefix).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let e = p
        .assign_blocks(
            &n1,
            &AssignBlocks {
                interface: InterfaceId("nic7".into()),
                ..one_range()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::InvalidInput, "NoSuchInterface")
    );
    let e = p
        .attach_interface(
            &n1,
            &AttachInterface {
                subnet_id: "cloudnet-nodes".into(),
                security_groups: vec![],
                initial_blocks: 0,
                block_kind: BlockKind::AliasRange,
                description: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::InvalidInput, "NotSupported")
    );
    let e = p
        .detach_interface(&n1, &InterfaceId("nic0".into()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NotSupported");
    assert!(p.list_orphans(Duration::ZERO).await.unwrap().is_empty());
    let e = p
        .describe_node(&NodeRef {
            name: "gone".into(),
            instance_id: "gone".into(),
            zone: Some(ZONE_1.into()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        p.call_counts().of("instances.updateNetworkInterface"),
        1,
        "only the one that fit"
    );
}
