//! EC2 descriptions as the core's plain types: interfaces with their address blocks, and
//! the routes of a route table. Pure, so the SDK shapes (optional fields, a primary address
//! among the secondary ones, prefixes counted as one slot) are tested without a cloud.

use std::net::IpAddr;

use aws_sdk_ec2::types::{NetworkInterface, RouteState as Ec2RouteState, RouteTable};
use cloudnet_core::{
    AddressBlock, BlockKind, Interface, InterfaceId, Owner, RouteState, RouteTarget,
};
use ipnet::IpNet;

use crate::lb::convert::ec2_tags;

fn block(cidr: IpNet, kind: BlockKind, primary: bool) -> AddressBlock {
    AddressBlock {
        cidr,
        kind,
        primary,
    }
}

pub(crate) fn host_block(ip: &str, primary: bool) -> Option<AddressBlock> {
    let ip: IpAddr = ip.parse().ok()?;
    Some(block(IpNet::from(ip), BlockKind::SecondaryIp, primary))
}

pub(crate) fn prefix_block(p: &str) -> Option<AddressBlock> {
    Some(block(p.parse().ok()?, BlockKind::Prefix, false))
}

/// An interface from its EC2 description (subnet CIDR filled in by the caller).
pub(crate) fn interface_from(eni: &NetworkInterface, cluster: &str) -> Option<Interface> {
    let mut blocks: Vec<AddressBlock> = eni
        .private_ip_addresses()
        .iter()
        .filter_map(|a| host_block(a.private_ip_address()?, a.primary().unwrap_or(false)))
        .collect();
    blocks.extend(
        eni.ipv4_prefixes()
            .iter()
            .filter_map(|p| prefix_block(p.ipv4_prefix()?)),
    );
    Some(Interface {
        id: InterfaceId(eni.network_interface_id()?.to_string()),
        index: eni
            .attachment()
            .and_then(|a| a.device_index())
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(0),
        subnet_id: eni.subnet_id().unwrap_or_default().to_string(),
        subnet_cidr: None,
        mac: eni.mac_address().map(str::to_string),
        security_groups: eni
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        blocks,
        owned: Owner::cluster_owns(cluster, &ec2_tags(eni.tag_set())),
    })
}

/// Slots an interface uses: every address and prefix (AWS counts a prefix as one).
pub(crate) fn used_slots(eni: &NetworkInterface) -> u32 {
    let n = eni.private_ip_addresses().len() + eni.ipv4_prefixes().len();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The routes of a table that point at an instance or interface, with their state.
pub(crate) fn routes_of(table: &RouteTable) -> Vec<(IpNet, RouteTarget, RouteState)> {
    table
        .routes()
        .iter()
        .filter_map(|r| {
            let dest: IpNet = r.destination_cidr_block()?.parse().ok()?;
            let target = match (r.instance_id(), r.network_interface_id()) {
                (Some(i), _) => RouteTarget::Instance(i.to_string()),
                (None, Some(n)) => RouteTarget::Interface(n.to_string()),
                _ => return None,
            };
            let state = if r.state() == Some(&Ec2RouteState::Blackhole) {
                RouteState::Blackhole
            } else {
                RouteState::Active
            };
            Some((dest, target, state))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        GroupIdentifier, Ipv4PrefixSpecification, NetworkInterfaceAttachment,
        NetworkInterfacePrivateIpAddress, Route, Tag,
    };
    use cloudnet_core::ownership::TAG_CLUSTER;

    use super::*;

    fn ip(addr: &str, primary: bool) -> NetworkInterfacePrivateIpAddress {
        NetworkInterfacePrivateIpAddress::builder()
            .private_ip_address(addr)
            .primary(primary)
            .build()
    }

    fn eni() -> aws_sdk_ec2::types::builders::NetworkInterfaceBuilder {
        NetworkInterface::builder()
            .network_interface_id("eni-1")
            .subnet_id("subnet-a")
            .mac_address("0a:00:00:00:00:01")
            .groups(GroupIdentifier::builder().group_id("sg-nodes").build())
            .attachment(
                NetworkInterfaceAttachment::builder()
                    .device_index(2)
                    .build(),
            )
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn interfaces_table() {
        let ours = Tag::builder().key(TAG_CLUSTER).value("prod").build();
        type Case = (
            &'static str,
            NetworkInterface,
            Option<(Vec<AddressBlock>, u32, bool, u32)>,
        );
        let cases: Vec<Case> = vec![
            (
                "primary and secondary addresses, ours",
                eni()
                    .private_ip_addresses(ip("10.0.0.5", true))
                    .private_ip_addresses(ip("10.0.0.6", false))
                    .tag_set(ours.clone())
                    .build(),
                Some((
                    vec![
                        block(net("10.0.0.5/32"), BlockKind::SecondaryIp, true),
                        block(net("10.0.0.6/32"), BlockKind::SecondaryIp, false),
                    ],
                    2,
                    true,
                    2,
                )),
            ),
            (
                "a /28 prefix is one block and one slot",
                eni()
                    .private_ip_addresses(ip("10.0.0.5", true))
                    .ipv4_prefixes(
                        Ipv4PrefixSpecification::builder()
                            .ipv4_prefix("10.0.1.16/28")
                            .build(),
                    )
                    .build(),
                Some((
                    vec![
                        block(net("10.0.0.5/32"), BlockKind::SecondaryIp, true),
                        block(net("10.0.1.16/28"), BlockKind::Prefix, false),
                    ],
                    2,
                    false,
                    2,
                )),
            ),
            (
                "unparsable addresses and prefixes are skipped, not guessed",
                eni()
                    .private_ip_addresses(ip("not-an-ip", false))
                    .private_ip_addresses(NetworkInterfacePrivateIpAddress::builder().build())
                    .ipv4_prefixes(
                        Ipv4PrefixSpecification::builder()
                            .ipv4_prefix("10.0.1.0/99")
                            .build(),
                    )
                    .build(),
                Some((vec![], 2, false, 3)),
            ),
            (
                "detached: device index 0, another cluster's",
                NetworkInterface::builder()
                    .network_interface_id("eni-1")
                    .tag_set(Tag::builder().key(TAG_CLUSTER).value("staging").build())
                    .build(),
                Some((vec![], 0, false, 0)),
            ),
            (
                "no ID: not an interface",
                NetworkInterface::builder().build(),
                None,
            ),
        ];
        for (name, e, want) in cases {
            let got = interface_from(&e, "prod");
            match (got, want) {
                (None, None) => {}
                (Some(i), Some((blocks, index, owned, slots))) => {
                    assert_eq!(i.id, InterfaceId("eni-1".into()), "{name}");
                    assert_eq!(i.blocks, blocks, "{name}");
                    assert_eq!(i.index, index, "{name}");
                    assert_eq!(i.owned, owned, "{name}");
                    assert_eq!(used_slots(&e), slots, "{name}");
                    assert_eq!(i.subnet_cidr, None, "{name}: filled in by the caller");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        let full = interface_from(&eni().build(), "prod").unwrap();
        assert_eq!(full.subnet_id, "subnet-a");
        assert_eq!(full.mac.as_deref(), Some("0a:00:00:00:00:01"));
        assert_eq!(full.security_groups, vec!["sg-nodes".to_string()]);
    }

    #[test]
    fn routes_table() {
        let route = |dest: Option<&str>, instance: Option<&str>, eni: Option<&str>| {
            Route::builder()
                .set_destination_cidr_block(dest.map(str::to_string))
                .set_instance_id(instance.map(str::to_string))
                .set_network_interface_id(eni.map(str::to_string))
        };
        let table = RouteTable::builder()
            .routes(route(Some("10.200.1.0/24"), Some("i-1"), Some("eni-1")).build())
            .routes(route(Some("10.200.2.0/24"), None, Some("eni-2")).build())
            .routes(
                route(Some("10.200.3.0/24"), Some("i-3"), None)
                    .state(Ec2RouteState::Blackhole)
                    .build(),
            )
            // The local route and gateways point at neither: not ours to list.
            .routes(
                route(Some("10.0.0.0/16"), None, None)
                    .gateway_id("local")
                    .build(),
            )
            .routes(route(None, Some("i-4"), None).build())
            .routes(route(Some("not-a-cidr"), Some("i-5"), None).build())
            .build();
        assert_eq!(
            routes_of(&table),
            vec![
                (
                    net("10.200.1.0/24"),
                    RouteTarget::Instance("i-1".into()),
                    RouteState::Active
                ),
                (
                    net("10.200.2.0/24"),
                    RouteTarget::Interface("eni-2".into()),
                    RouteState::Active
                ),
                (
                    net("10.200.3.0/24"),
                    RouteTarget::Instance("i-3".into()),
                    RouteState::Blackhole
                ),
            ]
        );
        assert_eq!(routes_of(&RouteTable::builder().build()), vec![]);
    }
}
