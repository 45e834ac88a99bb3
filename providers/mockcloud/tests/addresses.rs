//! Secondary addresses and /28 prefixes through the real aws-sdk-ec2 client: limits, subnet
//! exhaustion, prefix alignment, reassignment, and 2,000 concurrent assignments that never
//! hand out one address twice.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_ec2::types::Filter;
use cloudnet_mockcloud::World;
use cloudnet_mockcloud::ec2::world::{InstanceSpec, SubnetSpec};
use common::{
    Assign, assign, control_json, ec2, interface, interfaces_where, new_interface, start,
    start_with,
};

const PRIVATE_A: &str = "subnet-0c10d0e70000000a2";
const NODE_1: &str = "i-0c10d0e7000000001";

async fn primary_eni(c: &aws_sdk_ec2::Client, instance: &str) -> String {
    let filter = Filter::builder()
        .name("attachment.instance-id")
        .values(instance)
        .build();
    interfaces_where(c, vec![filter]).await[0]
        .network_interface_id()
        .unwrap()
        .to_string()
}

/// The available address count DescribeSubnets gives for `subnet`.
async fn free_in(c: &aws_sdk_ec2::Client, subnet: &str) -> Option<i32> {
    let out = c.describe_subnets().subnet_ids(subnet).send().await;
    out.expect("DescribeSubnets").subnets()[0].available_ip_address_count()
}

#[tokio::test]
async fn an_interface_holds_as_many_addresses_as_its_type_allows() {
    let h = start().await;
    let c = ec2(&h).await;
    let eni = primary_eni(&c, NODE_1).await;
    // m5.large: 10 per interface, the primary included.
    let r = assign(&c, &eni, Assign::Ips(9)).await;
    assert_eq!(r.assigned_private_ip_addresses().len(), 9);
    assert_eq!(r.network_interface_id(), Some(eni.as_str()));
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(&eni)
            .secondary_private_ip_address_count(1)
            .send()
            .await,
        "PrivateIpAddressLimitExceeded"
    );
    let d = interface(&c, &eni).await;
    let ips = d.private_ip_addresses();
    assert_eq!(ips.len(), 10);
    assert_eq!(ips.iter().filter(|p| p.primary() == Some(true)).count(), 1);
    let one = r.assigned_private_ip_addresses()[0]
        .private_ip_address()
        .unwrap()
        .to_string();
    c.unassign_private_ip_addresses()
        .network_interface_id(&eni)
        .private_ip_addresses(&one)
        .send()
        .await
        .unwrap();
    assert_code!(
        c.unassign_private_ip_addresses()
            .network_interface_id(&eni)
            .private_ip_addresses(&one)
            .send()
            .await,
        "InvalidParameterValue"
    );
    let primary = ips
        .iter()
        .find(|p| p.primary() == Some(true))
        .and_then(|p| p.private_ip_address())
        .unwrap();
    assert_code!(
        c.unassign_private_ip_addresses()
            .network_interface_id(&eni)
            .private_ip_addresses(primary)
            .send()
            .await,
        "InvalidParameterValue"
    );
    // A prefix takes one slot too: 9 used + 1 prefix = 10.
    let p = assign(&c, &eni, Assign::Prefixes(1)).await;
    let prefix = p.assigned_ipv4_prefixes()[0]
        .ipv4_prefix()
        .unwrap()
        .to_string();
    assert!(prefix.ends_with("/28"));
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(&eni)
            .ipv4_prefix_count(1)
            .send()
            .await,
        "PrivateIpAddressLimitExceeded"
    );
    // IPs and prefixes never in one call.
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(&eni)
            .secondary_private_ip_address_count(1)
            .ipv4_prefix_count(1)
            .send()
            .await,
        "InvalidParameterCombination"
    );
    c.unassign_private_ip_addresses()
        .network_interface_id(&eni)
        .ipv4_prefixes(&prefix)
        .send()
        .await
        .unwrap();
    h.shutdown().await;
}

fn tiny_world() -> World {
    let mut w = World::default();
    // A /28 (11 usable addresses) and a /26 for prefixes, in us-west-2a.
    w.vpcs[0].subnets.push(SubnetSpec {
        id: Some("subnet-0000000000000tiny".into()),
        cidr: "192.168.200.0/28".parse().unwrap(),
        availability_zone: "us-west-2a".into(),
        tags: Default::default(),
    });
    w.vpcs[0].subnets.push(SubnetSpec {
        id: Some("subnet-00000000000000p26".into()),
        cidr: "192.168.201.0/26".parse().unwrap(),
        availability_zone: "us-west-2a".into(),
        tags: Default::default(),
    });
    w
}

#[tokio::test]
async fn subnets_run_out_and_prefixes_stay_aligned() {
    let h = start_with(tiny_world()).await;
    let c = ec2(&h).await;
    let e = c
        .create_network_interface()
        .subnet_id("subnet-0000000000000tiny")
        .secondary_private_ip_address_count(9)
        .send()
        .await
        .unwrap();
    let e = e.network_interface().unwrap();
    let first = e.private_ip_address().unwrap();
    assert_eq!(
        first, "192.168.200.4",
        "the first four addresses are reserved"
    );
    assert_eq!(free_in(&c, "subnet-0000000000000tiny").await, Some(1));
    assert_code!(
        c.create_network_interface()
            .subnet_id("subnet-0000000000000tiny")
            .secondary_private_ip_address_count(1)
            .send()
            .await,
        "InsufficientFreeAddressesInSubnet"
    );
    // The failed call took nothing.
    assert_eq!(free_in(&c, "subnet-0000000000000tiny").await, Some(1));
    // The last address is reserved too.
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(e.network_interface_id().unwrap())
            .private_ip_addresses("192.168.200.15")
            .send()
            .await,
        "InvalidParameterValue"
    );

    // /26: blocks .0 (reserved addresses) and .48 (broadcast) cannot be prefixes.
    let p = c
        .create_network_interface()
        .subnet_id("subnet-00000000000000p26")
        .ipv4_prefix_count(2)
        .send()
        .await;
    // The primary address (.4) lands in the first block, so the free aligned blocks are
    // .16 and .32 only.
    let p = p.unwrap();
    let eni = p.network_interface().unwrap();
    let prefixes: Vec<_> = eni
        .ipv4_prefixes()
        .iter()
        .filter_map(|p| p.ipv4_prefix())
        .collect();
    assert_eq!(prefixes, ["192.168.201.16/28", "192.168.201.32/28"]);
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(eni.network_interface_id().unwrap())
            .ipv4_prefix_count(1)
            .send()
            .await,
        "InsufficientCidrBlocks"
    );
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(eni.network_interface_id().unwrap())
            .ipv4_prefixes("192.168.201.40/28")
            .send()
            .await,
        "InvalidParameterValue"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn reassignment_moves_secondaries_only_when_allowed() {
    let h = start().await;
    let c = ec2(&h).await;
    let a = c
        .create_network_interface()
        .subnet_id(PRIVATE_A)
        .secondary_private_ip_address_count(1)
        .send()
        .await
        .unwrap();
    let a = a.network_interface().unwrap();
    let secondary = a
        .private_ip_addresses()
        .iter()
        .find(|p| p.primary() == Some(false))
        .and_then(|p| p.private_ip_address())
        .unwrap()
        .to_string();
    let b_id = new_interface(&c, PRIVATE_A).await;
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(&b_id)
            .private_ip_addresses(&secondary)
            .send()
            .await,
        "InvalidIPAddress.InUse"
    );
    c.assign_private_ip_addresses()
        .network_interface_id(&b_id)
        .private_ip_addresses(&secondary)
        .allow_reassignment(true)
        .send()
        .await
        .unwrap();
    let d = interface(&c, a.network_interface_id().unwrap()).await;
    assert_eq!(d.private_ip_addresses().len(), 1);
    // A primary never moves.
    assert_code!(
        c.assign_private_ip_addresses()
            .network_interface_id(&b_id)
            .private_ip_addresses(a.private_ip_address().unwrap())
            .allow_reassignment(true)
            .send()
            .await,
        "InvalidIPAddress.InUse"
    );
    h.shutdown().await;
}

fn big_world(nodes: usize) -> World {
    let mut w = World::default();
    w.vpcs[0].cidr_blocks.push("10.0.0.0/16".parse().unwrap());
    w.vpcs[0].subnets.push(SubnetSpec {
        id: Some("subnet-000000000000000big".into()),
        cidr: "10.0.0.0/16".parse().unwrap(),
        availability_zone: "us-west-2a".into(),
        tags: Default::default(),
    });
    for i in 0..nodes {
        w.instances.push(InstanceSpec {
            id: Some(format!("i-00000000000000{i:03}")),
            instance_type: "m5.4xlarge".into(),
            subnet: "subnet-000000000000000big".into(),
            private_ip: None,
            security_groups: vec![],
            image_id: "ami-0c10d0e7000000001".into(),
            tags: Default::default(),
        });
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_concurrent_assignments_never_share_an_address() {
    const NODES: usize = 10;
    const CALLS: usize = 2000;
    let h = start_with(big_world(NODES)).await;
    let c = ec2(&h).await;
    // 8 interfaces per m5.4xlarge: the primary and 7 more.
    let mut enis = Vec::new();
    for n in 0..NODES {
        let inst = format!("i-00000000000000{n:03}");
        enis.push(primary_eni(&c, &inst).await);
        for d in 1..8 {
            let id = new_interface(&c, "subnet-000000000000000big").await;
            c.attach_network_interface()
                .network_interface_id(&id)
                .instance_id(&inst)
                .device_index(d)
                .send()
                .await
                .unwrap();
            enis.push(id);
        }
    }
    let enis = Arc::new(enis);
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let (c, enis, limit) = (c.clone(), enis.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let eni = &enis[i % enis.len()];
            let r = assign(&c, eni, Assign::Ips(1)).await;
            r.assigned_private_ip_addresses()[0]
                .private_ip_address()
                .unwrap()
                .to_string()
        }));
    }
    let mut handed_out = BTreeSet::new();
    for t in tasks {
        let ip = t.await.unwrap();
        assert!(handed_out.insert(ip.clone()), "{ip} handed out twice");
    }
    assert_eq!(handed_out.len(), CALLS);

    // The cloud agrees: every address on exactly one interface.
    let mut on_enis = Vec::new();
    let pages: Vec<_> = c
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .values("subnet-000000000000000big")
                .build(),
        )
        .max_results(1000)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    for p in pages {
        for e in p.unwrap().network_interfaces() {
            for ip in e.private_ip_addresses() {
                on_enis.push(ip.private_ip_address().unwrap().to_string());
            }
        }
    }
    let unique: BTreeSet<_> = on_enis.iter().cloned().collect();
    assert_eq!(unique.len(), on_enis.len());
    assert_eq!(on_enis.len(), CALLS + NODES * 8);
    assert!(handed_out.is_subset(&unique));

    let state = control_json(&h, "GET", "/_mockcloud/state", "").await;
    let used = state["ec2"]["subnets"]["subnet-000000000000000big"]["used"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(used, CALLS + NODES * 8);
    h.shutdown().await;
}
