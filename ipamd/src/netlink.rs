//! The pod's network, made through netlink (rtnetlink), never by running `ip`: a veth pair,
//! the pod end in the pod's namespace with the address as a /32 and a default route via a
//! link-local gateway, the host end with a /32 route to the pod (the VPC CNI's routed mode).
//!
//! ```text
//!   pod netns                                 host netns
//!   eth0 10.0.2.5/32  <----- veth ----->      cnet<hash>
//!   169.254.1.1 dev eth0 scope link           10.0.2.5/32 dev cnet<hash> scope link
//!   default via 169.254.1.1                   
//!   neigh 169.254.1.1 lladdr <host mac> PERMANENT
//! ```
//!
//! The gateway is never configured anywhere: the permanent neighbour entry sends every
//! packet to the host end, so no ARP for it ever leaves the pod.

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use nix::sched::CloneFlags;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::neighbour::NeighbourState;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteScope};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The pod's default gateway: link-local, never assigned to an interface.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

const ENODEV: i32 = 19;
const EEXIST: i32 = 17;

/// What [`setup`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLink {
    pub host_ifname: String,
    pub host_mac: Vec<u8>,
    pub pod_ifname: String,
    pub pod_mac: Vec<u8>,
}

/// The host end's name: stable per attachment, so DEL and CHECK find it without state.
pub fn host_ifname(container_id: &str, ifname: &str) -> String {
    format!("{HOST_PREFIX}{}", short_hash(container_id, ifname))
}

/// Every host end this plugin makes starts with it (GC finds leftovers by it).
pub const HOST_PREFIX: &str = "cnet";

fn temp_ifname(container_id: &str, ifname: &str) -> String {
    format!("cnp{}", short_hash(container_id, ifname))
}

fn short_hash(container_id: &str, ifname: &str) -> String {
    let d = Sha256::digest(format!("{container_id}/{ifname}"));
    d.iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..11]
        .to_string()
}

pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn nl(what: &str) -> impl FnOnce(rtnetlink::Error) -> Error + '_ {
    move |e| Error::Netlink(format!("{what}: {e}"))
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Runs `f` with a netlink handle inside the network namespace at `path`, on a thread of its
/// own (a namespace is a per-thread property; the caller's threads stay where they are).
pub async fn in_netns<T, F, Fut>(path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let netns = File::open(path).map_err(|e| Error::io("open network namespace", path, e))?;
    let path = path.to_path_buf();
    let join = tokio::task::spawn_blocking(move || {
        nix::sched::setns(&netns, CloneFlags::CLONE_NEWNET).map_err(|source| Error::Netns {
            path: path.clone(),
            source,
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("runtime in", path.clone(), e))?;
        rt.block_on(async move {
            let handle = connect()?;
            f(handle).await
        })
    });
    join.await
        .map_err(|e| Error::Netlink(format!("namespace task: {e}")))?
}

/// A netlink handle in the caller's namespace.
pub fn connect() -> Result<Handle> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| Error::io("netlink socket", PathBuf::new(), e))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn link_by_name(h: &mut Handle, name: &str) -> Result<Option<LinkMessage>> {
    match h
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
    {
        Ok(l) => Ok(l),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(Error::Netlink(format!("get link {name}: {e}"))),
    }
}

fn mac_of(l: &LinkMessage) -> Vec<u8> {
    l.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

async fn delete_link(h: &mut Handle, name: &str) -> Result<bool> {
    let Some(l) = link_by_name(h, name).await? else {
        return Ok(false);
    };
    match h.link().del(l.header.index).execute().await {
        Ok(()) => Ok(true),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(false),
        Err(e) => Err(Error::Netlink(format!("delete link {name}: {e}"))),
    }
}

/// Deletes a link of the caller's namespace by name; `false` if there was none.
pub async fn delete_link_named(name: &str) -> Result<bool> {
    let mut h = connect()?;
    delete_link(&mut h, name).await
}

/// Creates the veth pair and the addresses and routes of both ends.
pub async fn setup(
    netns: &Path,
    container_id: &str,
    ifname: &str,
    address: Ipv4Addr,
    mtu: u32,
) -> Result<PodLink> {
    let host_if = host_ifname(container_id, ifname);
    let temp = temp_ifname(container_id, ifname);
    let mut h = connect()?;
    // Left over from an earlier ADD of the same attachment that did not finish.
    delete_link(&mut h, &host_if).await?;
    delete_link(&mut h, &temp).await?;
    h.link()
        .add(LinkVeth::new(&host_if, &temp).mtu(mtu).build())
        .execute()
        .await
        .map_err(nl("add veth"))?;
    let host = link_by_name(&mut h, &host_if)
        .await?
        .ok_or_else(|| Error::Netlink(format!("{host_if} vanished after creation")))?;
    let host_mac = mac_of(&host);
    let netns_file =
        File::open(netns).map_err(|e| Error::io("open network namespace", netns, e))?;
    use std::os::fd::AsRawFd;
    h.link()
        .set(
            LinkUnspec::new_with_name(&temp)
                .setns_by_fd(netns_file.as_raw_fd())
                .build(),
        )
        .execute()
        .await
        .map_err(nl("move veth into the pod namespace"))?;
    drop(netns_file);
    h.link()
        .set(LinkUnspec::new_with_index(host.header.index).up().build())
        .execute()
        .await
        .map_err(nl("host end up"))?;
    h.route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(address, 32)
                .output_interface(host.header.index)
                .scope(RouteScope::Link)
                .build(),
        )
        .replace()
        .execute()
        .await
        .map_err(nl("host route to the pod"))?;

    let pod_if = ifname.to_string();
    let mac = host_mac.clone();
    let pod_mac = in_netns(netns, move |mut h| async move {
        let l = link_by_name(&mut h, &temp)
            .await?
            .ok_or_else(|| Error::Netlink(format!("{temp} not in the pod namespace")))?;
        let idx = l.header.index;
        h.link()
            .set(
                LinkUnspec::new_with_index(idx)
                    .name(pod_if.clone())
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(nl("rename and up the pod end"))?;
        if let Some(lo) = link_by_name(&mut h, "lo").await? {
            h.link()
                .set(LinkUnspec::new_with_index(lo.header.index).up().build())
                .execute()
                .await
                .map_err(nl("loopback up"))?;
        }
        match h
            .address()
            .add(idx, IpAddr::V4(address), 32)
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(EEXIST) => {}
            Err(e) => return Err(Error::Netlink(format!("pod address: {e}"))),
        }
        h.route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(GATEWAY, 32)
                    .output_interface(idx)
                    .scope(RouteScope::Link)
                    .build(),
            )
            .replace()
            .execute()
            .await
            .map_err(nl("route to the gateway"))?;
        h.route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
                    .gateway(GATEWAY)
                    .output_interface(idx)
                    .build(),
            )
            .replace()
            .execute()
            .await
            .map_err(nl("default route"))?;
        h.neighbours()
            .add(idx, IpAddr::V4(GATEWAY))
            .link_local_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(nl("gateway neighbour"))?;
        let l = link_by_name(&mut h, &pod_if)
            .await?
            .ok_or_else(|| Error::Netlink(format!("{pod_if} vanished after rename")))?;
        Ok(mac_of(&l))
    })
    .await?;
    Ok(PodLink {
        host_ifname: host_if,
        host_mac,
        pod_ifname: ifname.to_string(),
        pod_mac,
    })
}

/// Removes what [`setup`] made. Deleting the host end removes the pod end and both ends'
/// routes with it; a namespace that is already gone is not an error.
pub async fn teardown(netns: Option<&Path>, container_id: &str, ifname: &str) -> Result<bool> {
    let mut h = connect()?;
    let mut removed = delete_link(&mut h, &host_ifname(container_id, ifname)).await?;
    removed |= delete_link(&mut h, &temp_ifname(container_id, ifname)).await?;
    if let Some(ns) = netns.filter(|p| p.exists()) {
        let name = ifname.to_string();
        removed |= in_netns(
            ns,
            move |mut h| async move { delete_link(&mut h, &name).await },
        )
        .await
        .unwrap_or(false);
    }
    Ok(removed)
}

async fn routes(h: &Handle) -> Result<Vec<RouteMessage>> {
    h.route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(nl("list routes"))
}

fn route_to(r: &RouteMessage, dst: Ipv4Addr, len: u8, gateway: Option<Ipv4Addr>, oif: u32) -> bool {
    let mut d = Ipv4Addr::UNSPECIFIED;
    let mut gw = None;
    let mut out = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(v)) => d = *v,
            RouteAttribute::Gateway(RouteAddress::Inet(v)) => gw = Some(*v),
            RouteAttribute::Oif(i) => out = Some(*i),
            _ => {}
        }
    }
    r.header.destination_prefix_length == len && d == dst && gw == gateway && out == Some(oif)
}

/// CNI CHECK: the pod end, its address and routes, and the host end and its route are as
/// [`setup`] made them. The error names the first thing missing.
pub async fn verify(
    netns: &Path,
    container_id: &str,
    ifname: &str,
    address: Ipv4Addr,
) -> Result<()> {
    let host_if = host_ifname(container_id, ifname);
    let mut h = connect()?;
    let host = link_by_name(&mut h, &host_if)
        .await?
        .ok_or_else(|| Error::Netlink(format!("host interface {host_if} is missing")))?;
    if !routes(&h)
        .await?
        .iter()
        .any(|r| route_to(r, address, 32, None, host.header.index))
    {
        return Err(Error::Netlink(format!(
            "host route {address}/32 dev {host_if} is missing"
        )));
    }
    let name = ifname.to_string();
    in_netns(netns, move |mut h| async move {
        let l = link_by_name(&mut h, &name)
            .await?
            .ok_or_else(|| Error::Netlink(format!("{name} is missing in the pod namespace")))?;
        if !l.header.flags.contains(LinkFlags::Up) {
            return Err(Error::Netlink(format!("{name} is down")));
        }
        let idx = l.header.index;
        let addrs: Vec<_> = h
            .address()
            .get()
            .set_link_index_filter(idx)
            .execute()
            .try_collect()
            .await
            .map_err(nl("list addresses"))?;
        let has = addrs.iter().any(|m| {
            m.header.prefix_len == 32
                && m.attributes
                    .iter()
                    .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(v)) if *v == address))
        });
        if !has {
            return Err(Error::Netlink(format!("{name} lacks {address}/32")));
        }
        let rs = routes(&h).await?;
        if !rs
            .iter()
            .any(|r| route_to(r, Ipv4Addr::UNSPECIFIED, 0, Some(GATEWAY), idx))
        {
            return Err(Error::Netlink(format!(
                "default route via {GATEWAY} dev {name} is missing"
            )));
        }
        Ok(())
    })
    .await
}

/// Whether a route to `address/32` exists in the caller's namespace (for tests and GC).
pub async fn host_route_exists(address: Ipv4Addr) -> Result<bool> {
    let h = connect()?;
    Ok(routes(&h).await?.iter().any(|r| {
        r.header.destination_prefix_length == 32
            && r.attributes.iter().any(|a| {
                matches!(a, RouteAttribute::Destination(RouteAddress::Inet(v)) if *v == address)
            })
    }))
}

/// Names of the links in the caller's namespace that start with `prefix`.
pub async fn links_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let h = connect()?;
    let links: Vec<LinkMessage> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl("list links"))?;
    Ok(links
        .iter()
        .filter_map(|l| {
            l.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) if n.starts_with(prefix) => Some(n.clone()),
                _ => None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_fit_ifnamsiz_and_differ_per_attachment() {
        let a = host_ifname("0123456789abcdef", "eth0");
        assert_eq!(a.len(), 15);
        assert_ne!(a, host_ifname("0123456789abcdef", "eth1"));
        assert_eq!(a, host_ifname("0123456789abcdef", "eth0"));
        assert_eq!(temp_ifname("x", "eth0").len(), 14);
    }
}
