//! The agreed pool: the addresses this node may hand out are those its `NodeNetwork` status
//! and its own instance metadata both place on the same interface.
//!
//! ```text
//!   NodeNetwork status (allocator's view)   instance metadata (the hypervisor's view)
//!            interfaces[].blocks                 macs/<mac>/local-ipv4s, ipv4-prefix
//!                        \                          /
//!                         `--------- agree() ------'
//!                          agreed | status only | metadata only
//! ```
//!
//! A block the status lists but the metadata does not yet show is normal lag (the cloud's
//! metadata is eventually consistent) and is waited out; one that stays is a disagreement the
//! daemon reports. A block the metadata shows but the status does not is never used: the
//! allocator may be about to release it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use cloudnet_crds::node_network::NodeNetworkStatus;
use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;

/// One interface as the instance metadata describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataInterface {
    pub mac: String,
    /// `eni-...`
    pub interface_id: String,
    pub device_number: Option<u32>,
    /// The interface's addresses, its primary first (the order the metadata service keeps).
    pub local_ipv4s: Vec<Ipv4Addr>,
    /// Delegated prefixes (`ipv4-prefix`).
    pub ipv4_prefixes: Vec<Ipv4Net>,
}

/// A block of pod addresses on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PoolBlock {
    pub cidr: Ipv4Net,
}

/// An interface of the agreed pool with the blocks both sources put on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolInterface {
    pub id: String,
    pub index: u32,
    pub mac: Option<String>,
    pub subnet_cidr: Option<IpNet>,
    pub blocks: Vec<Ipv4Net>,
}

/// Where the two sources stand, interface by interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub interfaces: Vec<PoolInterface>,
    /// `(interface, block)` the status lists and the metadata does not (yet) show.
    pub status_only: Vec<(String, Ipv4Net)>,
    /// `(interface, block)` the metadata shows and the status does not list.
    pub metadata_only: Vec<(String, Ipv4Net)>,
    /// Blocks neither IPv4 nor understood (IPv6 pools are not served yet).
    pub ignored: Vec<(String, IpNet)>,
}

impl Agreement {
    /// Every agreed block with its interface, in address order.
    pub fn blocks(&self) -> BTreeMap<Ipv4Net, String> {
        self.interfaces
            .iter()
            .flat_map(|i| i.blocks.iter().map(move |b| (*b, i.id.clone())))
            .collect()
    }

    pub fn agrees(&self) -> bool {
        self.status_only.is_empty() && self.metadata_only.is_empty()
    }
}

/// Compares the status with the metadata. Pure: the caller decides how long a
/// `status_only` block may lag before it counts as a disagreement.
pub fn agree(status: &NodeNetworkStatus, metadata: &[MetadataInterface]) -> Agreement {
    let metadata = &by_status_ids(status, metadata);
    let mut out = Agreement::default();
    let by_id: BTreeMap<&str, &MetadataInterface> = metadata
        .iter()
        .map(|m| (m.interface_id.as_str(), m))
        .collect();
    let mut primaries: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let mut listed: BTreeMap<&str, BTreeSet<Ipv4Net>> = BTreeMap::new();

    for iface in &status.interfaces {
        let md = by_id.get(iface.id.as_str()).copied();
        let mut agreed = Vec::new();
        for block in &iface.blocks {
            let cidr = match block.cidr {
                IpNet::V4(v4) => v4.trunc(),
                v6 @ IpNet::V6(_) => {
                    out.ignored.push((iface.id.clone(), v6));
                    continue;
                }
            };
            if block.primary {
                primaries.extend(addresses(cidr));
                continue;
            }
            listed.entry(iface.id.as_str()).or_default().insert(cidr);
            if md.is_some_and(|m| metadata_has(m, cidr)) {
                agreed.push(cidr);
            } else {
                out.status_only.push((iface.id.clone(), cidr));
            }
        }
        agreed.sort();
        out.interfaces.push(PoolInterface {
            id: iface.id.clone(),
            index: iface.index,
            mac: iface.mac.clone(),
            subnet_cidr: iface.subnet_cidr,
            blocks: agreed,
        });
    }

    for m in metadata {
        let known = listed.get(m.interface_id.as_str());
        let in_status = |c: &Ipv4Net| known.is_some_and(|k| k.contains(c));
        // The first local address is the interface's primary unless the status names one.
        let secondaries = m.local_ipv4s.iter().enumerate().filter(|(i, a)| {
            !(primaries.contains(a) || (*i == 0 && !status_names_primary(status, &m.interface_id)))
        });
        for (_, a) in secondaries {
            let c = Ipv4Net::from(*a);
            if !in_status(&c) && !known.is_some_and(|k| k.iter().any(|b| b.contains(a))) {
                out.metadata_only.push((m.interface_id.clone(), c));
            }
        }
        for p in &m.ipv4_prefixes {
            if !in_status(&p.trunc()) {
                out.metadata_only.push((m.interface_id.clone(), p.trunc()));
            }
        }
    }
    out.interfaces.sort_by_key(|i| (i.index, i.id.clone()));
    out
}

/// A MAC as lowercase hex digits without separators (`00-0D-3A-..`, `00:0d:3a:..` and
/// `000D3A..` are one MAC).
pub fn normalize_mac(mac: &str) -> String {
    mac.chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Metadata interfaces the status does not list by ID, renamed to the status's interface of
/// the same MAC (Azure's IMDS knows NICs only by MAC; the status lists resource IDs).
fn by_status_ids(
    status: &NodeNetworkStatus,
    metadata: &[MetadataInterface],
) -> Vec<MetadataInterface> {
    metadata
        .iter()
        .map(|m| {
            let mut m = m.clone();
            let listed = status.interfaces.iter().any(|i| i.id == m.interface_id);
            if !listed
                && !m.mac.is_empty()
                && let Some(i) = status.interfaces.iter().find(|i| {
                    i.mac
                        .as_deref()
                        .is_some_and(|mac| normalize_mac(mac) == normalize_mac(&m.mac))
                })
            {
                m.interface_id = i.id.clone();
            }
            m
        })
        .collect()
}

fn status_names_primary(status: &NodeNetworkStatus, interface: &str) -> bool {
    status
        .interfaces
        .iter()
        .filter(|i| i.id == interface)
        .flat_map(|i| &i.blocks)
        .any(|b| b.primary)
}

/// A /32 must be one of the interface's local addresses; a wider block one of its prefixes
/// (or, for a cloud that lists each address, every address of it).
fn metadata_has(m: &MetadataInterface, cidr: Ipv4Net) -> bool {
    if m.ipv4_prefixes.iter().any(|p| p.trunc() == cidr) {
        return true;
    }
    addresses(cidr).all(|a| m.local_ipv4s.contains(&a))
}

/// Every address of a block: a delegated prefix or alias range is routed whole to the
/// interface, so its network and broadcast addresses are pod addresses too.
pub fn addresses(cidr: Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    let first = u32::from(cidr.network());
    let last = u32::from(cidr.broadcast());
    (first..=last).map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use cloudnet_crds::node_network::{BlockStatus, InterfaceStatus};

    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn block(cidr: &str, kind: &str, primary: bool) -> BlockStatus {
        BlockStatus {
            cidr: cidr.parse().unwrap(),
            kind: kind.into(),
            primary,
        }
    }

    fn iface(id: &str, index: u32, blocks: Vec<BlockStatus>) -> InterfaceStatus {
        InterfaceStatus {
            id: id.into(),
            index,
            subnet_id: "subnet-1".into(),
            blocks,
            ..Default::default()
        }
    }

    fn md(id: &str, ips: &[&str], prefixes: &[&str]) -> MetadataInterface {
        MetadataInterface {
            mac: format!("02:00:00:00:00:{:02x}", id.len()),
            interface_id: id.into(),
            device_number: None,
            local_ipv4s: ips.iter().map(|s| s.parse().unwrap()).collect(),
            ipv4_prefixes: prefixes.iter().map(|s| net(s)).collect(),
        }
    }

    struct Case {
        name: &'static str,
        status: Vec<InterfaceStatus>,
        metadata: Vec<MetadataInterface>,
        agreed: Vec<(&'static str, &'static str)>,
        status_only: Vec<(&'static str, &'static str)>,
        metadata_only: Vec<(&'static str, &'static str)>,
    }

    #[test]
    fn interfaces_known_by_mac_only_pair_with_the_status_by_mac() {
        let nic = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm-0-nic";
        let mut i = iface(
            nic,
            0,
            vec![
                block("10.224.0.4/32", "ipConfiguration", true),
                block("10.224.0.9/32", "ipConfiguration", false),
                block("10.224.0.10/32", "ipConfiguration", false),
            ],
        );
        i.mac = Some("00-0D-3A-1B-2C-3D".into());
        let status = NodeNetworkStatus {
            interfaces: vec![i],
            ..Default::default()
        };
        let mut m = md("000d3a1b2c3d", &["10.224.0.4", "10.224.0.9"], &[]);
        m.mac = "000d3a1b2c3d".into();
        let a = agree(&status, &[m.clone()]);
        assert_eq!(a.interfaces[0].blocks, vec![net("10.224.0.9/32")]);
        assert_eq!(
            a.status_only,
            vec![(nic.to_string(), net("10.224.0.10/32"))]
        );
        assert!(a.metadata_only.is_empty());
        // Another MAC is another NIC: nothing of it agrees.
        m.mac = "000d3a1b2c3e".into();
        let a = agree(&status, &[m]);
        assert!(a.interfaces[0].blocks.is_empty());
        assert_eq!(a.metadata_only.len(), 1);
    }

    #[test]
    fn agreement_table() {
        let cases = vec![
            Case {
                name: "both sources list the same secondaries",
                status: vec![iface(
                    "eni-a",
                    0,
                    vec![
                        block("10.0.0.10/32", "secondaryIp", true),
                        block("10.0.0.11/32", "secondaryIp", false),
                        block("10.0.0.12/32", "secondaryIp", false),
                    ],
                )],
                metadata: vec![md("eni-a", &["10.0.0.10", "10.0.0.11", "10.0.0.12"], &[])],
                agreed: vec![("eni-a", "10.0.0.11/32"), ("eni-a", "10.0.0.12/32")],
                status_only: vec![],
                metadata_only: vec![],
            },
            Case {
                name: "metadata lags a new secondary: waited out, not used",
                status: vec![iface(
                    "eni-a",
                    0,
                    vec![
                        block("10.0.0.10/32", "secondaryIp", true),
                        block("10.0.0.11/32", "secondaryIp", false),
                        block("10.0.0.12/32", "secondaryIp", false),
                    ],
                )],
                metadata: vec![md("eni-a", &["10.0.0.10", "10.0.0.11"], &[])],
                agreed: vec![("eni-a", "10.0.0.11/32")],
                status_only: vec![("eni-a", "10.0.0.12/32")],
                metadata_only: vec![],
            },
            Case {
                name: "metadata shows an address the status does not list: not used",
                status: vec![iface(
                    "eni-a",
                    0,
                    vec![block("10.0.0.10/32", "secondaryIp", true)],
                )],
                metadata: vec![md("eni-a", &["10.0.0.10", "10.0.0.99"], &[])],
                agreed: vec![],
                status_only: vec![],
                metadata_only: vec![("eni-a", "10.0.0.99/32")],
            },
            Case {
                name: "an address on another interface than the status says",
                status: vec![
                    iface("eni-a", 0, vec![block("10.0.0.10/32", "secondaryIp", true)]),
                    iface(
                        "eni-b",
                        1,
                        vec![
                            block("10.0.1.10/32", "secondaryIp", true),
                            block("10.0.0.11/32", "secondaryIp", false),
                        ],
                    ),
                ],
                metadata: vec![
                    md("eni-a", &["10.0.0.10", "10.0.0.11"], &[]),
                    md("eni-b", &["10.0.1.10"], &[]),
                ],
                agreed: vec![],
                status_only: vec![("eni-b", "10.0.0.11/32")],
                metadata_only: vec![("eni-a", "10.0.0.11/32")],
            },
            Case {
                name: "delegated prefixes agree as whole blocks",
                status: vec![iface(
                    "eni-a",
                    0,
                    vec![
                        block("10.0.0.10/32", "secondaryIp", true),
                        block("10.0.2.0/28", "prefix", false),
                        block("10.0.2.16/28", "prefix", false),
                    ],
                )],
                metadata: vec![md("eni-a", &["10.0.0.10"], &["10.0.2.0/28"])],
                agreed: vec![("eni-a", "10.0.2.0/28")],
                status_only: vec![("eni-a", "10.0.2.16/28")],
                metadata_only: vec![],
            },
            Case {
                name: "an interface the metadata does not know yet",
                status: vec![iface(
                    "eni-new",
                    1,
                    vec![block("10.0.3.5/32", "secondaryIp", false)],
                )],
                metadata: vec![],
                agreed: vec![],
                status_only: vec![("eni-new", "10.0.3.5/32")],
                metadata_only: vec![],
            },
            Case {
                name: "primary never enters the pool even when the status omits its flag",
                status: vec![iface(
                    "eni-a",
                    0,
                    vec![block("10.0.0.11/32", "secondaryIp", false)],
                )],
                metadata: vec![md("eni-a", &["10.0.0.10", "10.0.0.11"], &[])],
                agreed: vec![("eni-a", "10.0.0.11/32")],
                status_only: vec![],
                metadata_only: vec![],
            },
        ];
        for c in cases {
            let status = NodeNetworkStatus {
                interfaces: c.status,
                ..Default::default()
            };
            let a = agree(&status, &c.metadata);
            let agreed: Vec<(String, Ipv4Net)> =
                a.blocks().into_iter().map(|(b, i)| (i, b)).collect();
            let want = |v: Vec<(&str, &str)>| -> Vec<(String, Ipv4Net)> {
                v.into_iter()
                    .map(|(i, b)| (i.to_string(), net(b)))
                    .collect()
            };
            let mut agreed_sorted = agreed;
            agreed_sorted.sort();
            let mut want_agreed = want(c.agreed);
            want_agreed.sort();
            assert_eq!(agreed_sorted, want_agreed, "{}: agreed", c.name);
            assert_eq!(
                a.status_only,
                want(c.status_only),
                "{}: status only",
                c.name
            );
            assert_eq!(
                a.metadata_only,
                want(c.metadata_only),
                "{}: metadata only",
                c.name
            );
        }
    }

    #[test]
    fn ipv6_blocks_are_set_aside() {
        let status = NodeNetworkStatus {
            interfaces: vec![iface(
                "eni-a",
                0,
                vec![block("2600:1f14::/80", "prefix", false)],
            )],
            ..Default::default()
        };
        let a = agree(&status, &[md("eni-a", &["10.0.0.10"], &[])]);
        assert_eq!(a.ignored.len(), 1);
        assert!(a.blocks().is_empty());
    }

    #[test]
    fn a_prefix_holds_all_sixteen_addresses() {
        let all: Vec<_> = addresses(net("10.0.2.16/28")).collect();
        assert_eq!(all.len(), 16);
        assert_eq!(all[0], Ipv4Addr::new(10, 0, 2, 16));
        assert_eq!(all[15], Ipv4Addr::new(10, 0, 2, 31));
    }
}
