//! A node fixture shared by the allocator's plan and status tests.

use cloudnet_core::{
    AddressBlock, AddressLimits, BlockKind, Interface, InterfaceId, NodeInterfaces, NodeRef,
};
use ipnet::IpNet;

pub(crate) fn ip(s: &str) -> IpNet {
    s.parse().expect("a CIDR")
}

/// An m5.large with its primary interface, built up by the `with_*` methods.
pub(crate) struct NodeFixture(pub(crate) NodeInterfaces);

impl NodeFixture {
    pub(crate) fn m5() -> NodeFixture {
        NodeFixture(NodeInterfaces {
            node: NodeRef {
                name: "n1".into(),
                instance_id: "i-1".into(),
                zone: None,
            },
            instance_type: "m5.large".into(),
            limits: AddressLimits {
                max_interfaces: 3,
                max_blocks_per_interface: 10,
                block_kinds: vec![BlockKind::SecondaryIp, BlockKind::Prefix],
            },
            interfaces: vec![Interface {
                id: InterfaceId("eni-0".into()),
                index: 0,
                subnet_id: "subnet-a".into(),
                subnet_cidr: Some(ip("10.0.0.0/16")),
                mac: None,
                security_groups: vec![],
                blocks: vec![AddressBlock {
                    cidr: ip("10.0.0.10/32"),
                    kind: BlockKind::SecondaryIp,
                    primary: true,
                }],
                owned: false,
            }],
        })
    }

    /// A secondary interface of ours at `index` with `n` secondary addresses.
    pub(crate) fn with_interface(mut self, index: u32, n: u32) -> NodeFixture {
        let mut blocks = vec![AddressBlock {
            cidr: ip(&format!("10.0.{index}.1/32")),
            kind: BlockKind::SecondaryIp,
            primary: true,
        }];
        blocks.extend((0..n).map(|k| AddressBlock {
            cidr: ip(&format!("10.0.{index}.{}/32", 100 + k)),
            kind: BlockKind::SecondaryIp,
            primary: false,
        }));
        self.0.interfaces.push(Interface {
            id: InterfaceId(format!("eni-{index}")),
            index,
            subnet_id: "subnet-a".into(),
            subnet_cidr: None,
            mac: None,
            security_groups: vec![],
            blocks,
            owned: true,
        });
        self
    }

    /// `n` secondary addresses on the primary interface.
    pub(crate) fn with_primary_addresses(mut self, n: u32) -> NodeFixture {
        for k in 0..n {
            self.0.interfaces[0].blocks.push(AddressBlock {
                cidr: ip(&format!("10.0.0.{}/32", 100 + k)),
                kind: BlockKind::SecondaryIp,
                primary: false,
            });
        }
        self
    }
}
