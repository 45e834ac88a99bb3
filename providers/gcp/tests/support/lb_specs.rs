//! Specs the load balancer tests and the ensure bench share, and the fewest calls a stack
//! takes (one read per kind, one insert or delete per resource, the first forwarding rule's
//! address read back).

#![allow(dead_code)]

use std::collections::BTreeMap;

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, IpAddressType, Listener, LoadBalancerKind,
    LoadBalancerSpec, Owner, OwnerKind, PathMatch, Protocol, Rule, Scheme, Subnets, TargetKind,
};

pub fn fwd(g: &str) -> Action {
    Action::forward_to(g)
}

pub fn group(key: &str, protocol: Protocol, port: u16, kind: TargetKind) -> BackendGroup {
    BackendGroup::new(key, protocol, port, kind)
}

pub fn ingress(cluster: &str, name: &str) -> LoadBalancerSpec {
    LoadBalancerSpec {
        owner: Owner::namespaced(cluster, OwnerKind::Ingress, "shop", name),
        kind: LoadBalancerKind::Application,
        scheme: Scheme::InternetFacing,
        ip_address_type: IpAddressType::Ipv4,
        listeners: vec![
            Listener {
                port: 80,
                protocol: Protocol::Http,
                certificates: vec![],
                ssl_policy: None,
                default_action: fwd("shop/web:80"),
                rules: vec![Rule {
                    priority: 1,
                    hosts: vec!["shop.example.com".into()],
                    paths: vec![PathMatch::Prefix("/api".into())],
                    conditions: vec![],
                    action: fwd("shop/api:80"),
                }],
            },
            Listener {
                port: 443,
                protocol: Protocol::Https,
                certificates: vec![CertificateRef::Named("shop-cert".into())],
                ssl_policy: None,
                default_action: fwd("shop/web:80"),
                rules: vec![],
            },
        ],
        groups: vec![
            group("shop/web:80", Protocol::Http, 8080, TargetKind::PodIp),
            group("shop/api:80", Protocol::Http, 9090, TargetKind::PodIp),
        ],
        attributes: BTreeMap::new(),
        subnets: Subnets::Discover,
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}

pub fn service(cluster: &str, name: &str, scheme: Scheme) -> LoadBalancerSpec {
    let listener = |port, protocol, g: &str| Listener {
        port,
        protocol,
        certificates: vec![],
        ssl_policy: None,
        default_action: fwd(g),
        rules: vec![],
    };
    let key = |p: &str| format!("shop/{name}:{p}");
    LoadBalancerSpec {
        owner: Owner::namespaced(cluster, OwnerKind::Service, "shop", name),
        kind: LoadBalancerKind::Network,
        scheme,
        ip_address_type: IpAddressType::Ipv4,
        listeners: vec![
            listener(53, Protocol::Udp, &key("53u")),
            listener(53, Protocol::Tcp, &key("53t")),
        ],
        groups: vec![
            group(&key("53u"), Protocol::Udp, 30053, TargetKind::NodePort),
            group(&key("53t"), Protocol::Tcp, 30054, TargetKind::NodePort),
        ],
        attributes: BTreeMap::new(),
        subnets: Subnets::Discover,
        security_groups: vec![],
        source_ranges: vec![],
        tags: BTreeMap::new(),
    }
}

/// Reads of one ensure: L7 health checks, backend services, URL maps, HTTP and HTTPS
/// proxies, SSL certificates, forwarding rules, NEGs; L4 health checks, backend services,
/// forwarding rules, NEGs.
pub const L7_READS: u64 = 8;
pub const L4_READS: u64 = 4;

/// The fewest calls that create [`ingress`] (2 listeners, 2 groups): the reads, 10 inserts,
/// and the first rule read back for the address the second shares.
pub const L7_CREATE: u64 = L7_READS + 10 + 1;
/// [`service`] (UDP and TCP): the reads, a health check, backend service and rule per
/// protocol, the first rule read back.
pub const L4_CREATE: u64 = L4_READS + 6 + 1;
/// Deleting them (no NEG yet): the reads and one delete per resource.
pub const L7_DELETE: u64 = L7_READS + 10;
pub const L4_DELETE: u64 = L4_READS + 6;
