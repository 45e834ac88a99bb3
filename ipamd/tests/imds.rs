//! The IMDSv2 source against the mock cloud's metadata service: an instance's interfaces,
//! secondary addresses and delegated prefixes, and their agreement with a status that lists
//! the same blocks.

use std::time::Duration;

use cloudnet_crds::node_network::{BlockStatus, InterfaceStatus, NodeNetworkStatus};
use cloudnet_ipamd::metadata::{Imds, MetadataSource};
use cloudnet_ipamd::pool::{MetadataInterface, addresses, agree};
use cloudnet_mockcloud::{Config, MockCloud, World};

const INSTANCE: &str = "i-0c10d0e7000000001";

async fn ec2(endpoint: &str, params: &[(&str, &str)]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body: String = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(["Version=2016-11-15".to_string()])
        .collect::<Vec<_>>()
        .join("&");
    let host = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

async fn until(
    imds: &Imds,
    what: &str,
    ok: impl Fn(&MetadataInterface) -> bool,
) -> MetadataInterface {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ifs = imds.interfaces().await.expect("metadata");
        if let Some(i) = ifs.into_iter().find(|i| ok(i)) {
            return i;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_metadata_source_reads_interfaces_addresses_and_prefixes() {
    let cloud = MockCloud::start(Config::ephemeral(World::default()))
        .await
        .expect("mock cloud");
    let endpoint = cloud.endpoint_url();
    let imds = Imds::new(&endpoint, Some(INSTANCE.to_string()));

    let primary = until(&imds, "the primary interface", |i| {
        i.device_number == Some(0)
    })
    .await;
    assert!(primary.interface_id.starts_with("eni-"), "{primary:?}");
    assert_eq!(primary.local_ipv4s.len(), 1, "only the primary address yet");
    assert!(primary.ipv4_prefixes.is_empty());

    ec2(
        &endpoint,
        &[
            ("Action", "AssignPrivateIpAddresses"),
            ("NetworkInterfaceId", &primary.interface_id),
            ("SecondaryPrivateIpAddressCount", "2"),
        ],
    )
    .await;
    ec2(
        &endpoint,
        &[
            ("Action", "AssignPrivateIpAddresses"),
            ("NetworkInterfaceId", &primary.interface_id),
            ("Ipv4PrefixCount", "1"),
        ],
    )
    .await;
    let md = until(&imds, "secondaries and a prefix", |i| {
        i.interface_id == primary.interface_id
            && i.local_ipv4s.len() == 3
            && i.ipv4_prefixes.len() == 1
    })
    .await;
    assert_eq!(
        md.local_ipv4s[0], primary.local_ipv4s[0],
        "primary stays first"
    );

    // A status listing what the cloud gave agrees with the metadata, block for block.
    let mut blocks = vec![BlockStatus {
        cidr: ipnet::Ipv4Net::from(md.local_ipv4s[0]).into(),
        kind: "secondaryIp".into(),
        primary: true,
    }];
    blocks.extend(md.local_ipv4s[1..].iter().map(|a| BlockStatus {
        cidr: ipnet::Ipv4Net::from(*a).into(),
        kind: "secondaryIp".into(),
        primary: false,
    }));
    blocks.push(BlockStatus {
        cidr: md.ipv4_prefixes[0].into(),
        kind: "prefix".into(),
        primary: false,
    });
    let status = NodeNetworkStatus {
        interfaces: vec![InterfaceStatus {
            id: md.interface_id.clone(),
            index: 0,
            subnet_id: "subnet-0c10d0e70000000a2".into(),
            blocks,
            ..Default::default()
        }],
        ..Default::default()
    };
    let a = agree(&status, std::slice::from_ref(&md));
    assert!(a.agrees(), "{a:?}");
    let total: usize = a.blocks().keys().map(|b| addresses(*b).count()).sum();
    assert_eq!(total, 2 + 16);

    // A metadata service that refuses us is an error, not an empty pool.
    let wrong = Imds::new(&endpoint, Some("i-doesnotexist".to_string()));
    assert!(wrong.interfaces().await.is_err());
    cloud.shutdown().await;
}
