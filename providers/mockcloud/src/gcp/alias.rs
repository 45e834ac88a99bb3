//! Alias IP ranges: an instance interface's extra addresses, from the subnetwork's primary
//! range or a named secondary range. Each requested range is a CIDR (`10.4.1.0/24`, host bits
//! zero), a single address (`10.4.1.7`, a /32), or only a netmask (`/24`: the cloud picks the
//! lowest free aligned block). It must lie inside its range and overlap nothing else in use
//! there: another alias range, an instance's primary address, or (in the primary range) the
//! four addresses Compute Engine reserves.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{GcpError, GcpResult};

/// A subnetwork's ranges.
#[derive(Debug, Clone)]
pub struct SubnetRanges {
    pub primary: Ipv4Net,
    /// (rangeName, ipCidrRange)
    pub secondary: Vec<(String, Ipv4Net)>,
}

/// Address space already in use in a subnetwork, and by what (for the error).
#[derive(Debug, Clone)]
pub struct Taken {
    pub net: Ipv4Net,
    pub by: String,
}

/// One requested alias range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub range_name: Option<String>,
    pub cidr: String,
}

/// The four addresses of a primary range that are never handed out.
pub fn reserved(primary: Ipv4Net) -> Vec<Taken> {
    let first = u32::from(primary.network());
    let last = u32::from(primary.broadcast());
    [first, first + 1, last.saturating_sub(1), last]
        .into_iter()
        .map(|a| Taken {
            net: Ipv4Net::new(Ipv4Addr::from(a), 32).unwrap_or_default(),
            by: "addresses reserved by Compute Engine".into(),
        })
        .collect()
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Resolves `wanted` against the subnetwork's ranges and what is `taken` (which must not
/// hold the interface's own current alias ranges: the request replaces them). `field` names
/// the request field in errors (`networkInterfaces[0].aliasIpRanges`).
pub fn resolve(
    subnet: &SubnetRanges,
    wanted: &[Wanted],
    taken: &[Taken],
    field: &str,
) -> GcpResult<Vec<(Option<String>, Ipv4Net)>> {
    let mut chosen: Vec<(Option<String>, Ipv4Net)> = Vec::new();
    let mut pending: Vec<(usize, Ipv4Net, u8)> = Vec::new();
    let mut all_taken: Vec<Taken> = taken.to_vec();
    all_taken.extend(reserved(subnet.primary));
    for (i, w) in wanted.iter().enumerate() {
        let f = format!("{field}[{i}].ipCidrRange");
        let range = match &w.range_name {
            None => subnet.primary,
            Some(name) => subnet
                .secondary
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| *r)
                .ok_or_else(|| {
                    GcpError::invalid_field(
                        &format!("{field}[{i}].subnetworkRangeName"),
                        name,
                        "The secondary IP range does not exist in the subnetwork.",
                    )
                })?,
        };
        let cidr = w.cidr.trim();
        if let Some(mask) = cidr.strip_prefix('/') {
            let len = mask
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= 32 && *l >= range.prefix_len())
                .ok_or_else(|| {
                    GcpError::invalid_field(
                        &f,
                        cidr,
                        &format!(
                            "The netmask must be between /{} and /32.",
                            range.prefix_len()
                        ),
                    )
                })?;
            pending.push((i, range, len));
            chosen.push((w.range_name.clone(), range)); // placeholder, replaced below
            continue;
        }
        let net = if cidr.contains('/') {
            cidr.parse::<Ipv4Net>().ok()
        } else {
            cidr.parse::<Ipv4Addr>()
                .ok()
                .and_then(|a| Ipv4Net::new(a, 32).ok())
        }
        .ok_or_else(|| GcpError::invalid_field(&f, cidr, "Not a valid IPv4 CIDR range."))?;
        if net.network() != net.addr() {
            return Err(GcpError::invalid_field(
                &f,
                cidr,
                "The IP range's host bits must be zero.",
            ));
        }
        if !range.contains(&net) {
            let which = w
                .range_name
                .as_deref()
                .map_or("the primary IP range".to_string(), |n| {
                    format!("secondary IP range '{n}'")
                });
            return Err(GcpError::invalid_field(
                &f,
                cidr,
                &format!("The IP range is not within {which} ({range}) of the subnetwork."),
            ));
        }
        if let Some(t) = all_taken.iter().find(|t| overlaps(t.net, net)) {
            return Err(GcpError::invalid_field(
                &f,
                cidr,
                &format!("The IP range overlaps with {} ({}).", t.by, t.net),
            ));
        }
        all_taken.push(Taken {
            net,
            by: format!("{field}[{i}]"),
        });
        chosen.push((w.range_name.clone(), net));
    }
    for (i, range, len) in pending {
        let size = 1u64 << (32 - len);
        let mut at = u64::from(u32::from(range.network()));
        let end = u64::from(u32::from(range.broadcast()));
        let found = loop {
            if at > end {
                break None;
            }
            let net = Ipv4Net::new(Ipv4Addr::from(at as u32), len).unwrap_or_default();
            if !all_taken.iter().any(|t| overlaps(t.net, net)) {
                break Some(net);
            }
            at += size;
        };
        let net = found.ok_or_else(|| {
            GcpError::invalid_field(
                &format!("{field}[{i}].ipCidrRange"),
                &wanted[i].cidr,
                &format!("No free /{len} is left in {range}."),
            )
        })?;
        all_taken.push(Taken {
            net,
            by: format!("{field}[{i}]"),
        });
        chosen[i].1 = net;
    }
    Ok(chosen)
}

/// The lowest free address of the primary range (a new instance's or internal address's).
pub fn free_address(primary: Ipv4Net, taken: &[Taken]) -> Option<Ipv4Addr> {
    let reserved = reserved(primary);
    primary.hosts().find(|a| {
        let n = Ipv4Net::new(*a, 32).unwrap_or_default();
        !taken
            .iter()
            .chain(reserved.iter())
            .any(|t| overlaps(t.net, n))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet() -> SubnetRanges {
        SubnetRanges {
            primary: "10.0.0.0/24".parse().unwrap(),
            secondary: vec![
                ("pods".into(), "10.4.0.0/14".parse().unwrap()),
                ("services".into(), "10.8.0.0/20".parse().unwrap()),
            ],
        }
    }

    fn w(range: Option<&str>, cidr: &str) -> Wanted {
        Wanted {
            range_name: range.map(str::to_string),
            cidr: cidr.into(),
        }
    }

    fn taken(net: &str) -> Taken {
        Taken {
            net: net.parse().unwrap(),
            by: "x".into(),
        }
    }

    #[test]
    fn ranges_come_from_the_named_range_and_inside_it() {
        let s = subnet();
        let got = resolve(&s, &[w(Some("pods"), "10.4.1.0/24")], &[], "f").unwrap();
        assert_eq!(got[0].1.to_string(), "10.4.1.0/24");
        let e = resolve(&s, &[w(Some("pods"), "10.8.0.0/24")], &[], "f").unwrap_err();
        assert!(e.message.contains("not within"), "{e}");
        let e = resolve(&s, &[w(Some("nodes"), "10.4.1.0/24")], &[], "f").unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        let e = resolve(&s, &[w(None, "10.4.1.0/24")], &[], "f").unwrap_err();
        assert!(e.message.contains("primary"), "{e}");
        let e = resolve(&s, &[w(Some("pods"), "10.4.1.1/24")], &[], "f").unwrap_err();
        assert!(e.message.contains("host bits"), "{e}");
        assert_eq!(
            resolve(&s, &[w(None, "10.0.0.9")], &[], "f").unwrap()[0]
                .1
                .to_string(),
            "10.0.0.9/32"
        );
    }

    #[test]
    fn overlaps_are_refused_and_netmasks_allocate_around_them() {
        let s = subnet();
        let t = [taken("10.4.0.0/24"), taken("10.0.0.2/32")];
        let e = resolve(&s, &[w(Some("pods"), "10.4.0.128/25")], &t, "f").unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (400, "invalid"));
        assert!(e.message.contains("overlaps"), "{e}");
        let e = resolve(&s, &[w(None, "10.0.0.2")], &t, "f").unwrap_err();
        assert!(e.message.contains("overlaps"), "{e}");
        let e = resolve(&s, &[w(None, "10.0.0.1")], &t, "f").unwrap_err();
        assert!(e.message.contains("reserved"), "{e}");
        let e = resolve(
            &s,
            &[
                w(Some("pods"), "10.5.0.0/24"),
                w(Some("pods"), "10.5.0.0/25"),
            ],
            &t,
            "f",
        )
        .unwrap_err();
        assert!(
            e.message.contains("f[0]"),
            "two ranges of one request overlap: {e}"
        );
        let got = resolve(
            &s,
            &[
                w(Some("pods"), "/24"),
                w(Some("pods"), "10.4.1.0/24"),
                w(Some("pods"), "/24"),
            ],
            &t,
            "f",
        )
        .unwrap();
        let nets: Vec<String> = got.iter().map(|(_, n)| n.to_string()).collect();
        assert_eq!(nets, ["10.4.2.0/24", "10.4.1.0/24", "10.4.3.0/24"]);
        let e = resolve(&s, &[w(Some("services"), "/19")], &[], "f").unwrap_err();
        assert!(e.message.contains("netmask"), "{e}");
        let full = [taken("10.8.0.0/20")];
        let e = resolve(&s, &[w(Some("services"), "/24")], &full, "f").unwrap_err();
        assert!(e.message.contains("No free"), "{e}");
    }

    #[test]
    fn free_addresses_skip_the_reserved_and_the_taken() {
        let p: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        assert_eq!(free_address(p, &[]), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            free_address(p, &[taken("10.0.0.2/31")]),
            Some("10.0.0.4".parse().unwrap())
        );
        assert_eq!(free_address(p, &[taken("10.0.0.0/29")]), None);
    }
}
