//! Specs the load balancer tests and the ensure bench share, and the fewest calls a stack
//! takes (one read per kind, one insert or delete per resource, the first forwarding rule's
//! address read back).

#![allow(dead_code)]

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, Listener, LoadBalancerKind, LoadBalancerSpec, Owner,
    OwnerKind, PathMatch, Protocol, Rule, Scheme, TargetKind,
};

pub fn fwd(g: &str) -> Action {
    Action::forward_to(g)
}

pub fn group(key: &str, protocol: Protocol, port: u16, kind: TargetKind) -> BackendGroup {
    BackendGroup::new(key, protocol, port, kind)
}

pub fn ingress(cluster: &str, name: &str) -> LoadBalancerSpec {
    let http = Listener {
        rules: vec![Rule {
            priority: 1,
            hosts: vec!["shop.example.com".into()],
            paths: vec![PathMatch::Prefix("/api".into())],
            conditions: vec![],
            action: fwd("shop/api:80"),
        }],
        ..Listener::new(80, Protocol::Http, fwd("shop/web:80"))
    };
    let https = Listener {
        certificates: vec![CertificateRef::Named("shop-cert".into())],
        ..Listener::new(443, Protocol::Https, fwd("shop/web:80"))
    };
    LoadBalancerSpec::new(
        Owner::namespaced(cluster, OwnerKind::Ingress, "shop", name),
        LoadBalancerKind::Application,
        vec![http, https],
        vec![
            group("shop/web:80", Protocol::Http, 8080, TargetKind::PodIp),
            group("shop/api:80", Protocol::Http, 9090, TargetKind::PodIp),
        ],
    )
}

pub fn service(cluster: &str, name: &str, scheme: Scheme) -> LoadBalancerSpec {
    let key = |p: &str| format!("shop/{name}:{p}");
    let listener = |port, protocol, p: &str| Listener::new(port, protocol, fwd(&key(p)));
    let spec = LoadBalancerSpec::new(
        Owner::namespaced(cluster, OwnerKind::Service, "shop", name),
        LoadBalancerKind::Network,
        vec![
            listener(53, Protocol::Udp, "53u"),
            listener(53, Protocol::Tcp, "53t"),
        ],
        vec![
            group(&key("53u"), Protocol::Udp, 30053, TargetKind::NodePort),
            group(&key("53t"), Protocol::Tcp, 30054, TargetKind::NodePort),
        ],
    );
    LoadBalancerSpec { scheme, ..spec }
}

/// Reads of one ensure: L7 health checks, backend services, URL maps, HTTP and HTTPS
/// proxies, SSL certificates, forwarding rules, firewall rules, NEGs; L4 health checks,
/// backend services, forwarding rules, firewall rules, NEGs.
pub const L7_READS: u64 = 9;
pub const L4_READS: u64 = 5;

/// The fewest calls that create [`ingress`] (2 listeners, 2 groups): the reads, 11 inserts
/// (the firewall rule among them), and the first rule read back for the address the second
/// shares.
pub const L7_CREATE: u64 = L7_READS + 11 + 1;
/// [`service`] (UDP and TCP): the reads, a health check, backend service and rule per
/// protocol, two firewall rules (health checks, traffic), the first rule read back.
pub const L4_CREATE: u64 = L4_READS + 8 + 1;
/// Deleting them (no NEG yet): the reads and one delete per resource.
pub const L7_DELETE: u64 = L7_READS + 11;
pub const L4_DELETE: u64 = L4_READS + 8;
