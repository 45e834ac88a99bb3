//! Diff table tests: plan a spec, build what the cloud would hold, and check the changes,
//! with no cloud.

use cloudnet_core::{
    Action, BackendGroup, CertificateRef, ErrorKind, Listener, LoadBalancerKind, LoadBalancerSpec,
    Owner, OwnerKind, PathMatch, Protocol, Rule, Scheme, TargetKind,
};

use super::changes::{Change, IpSource};
use super::diff::diff;
use super::model::*;
use super::plan::{PlanContext, plan};

fn l7() -> LoadBalancerSpec {
    let rule = |priority, host: &str, path: &str, g: &str| Rule {
        priority,
        hosts: if host.is_empty() {
            vec![]
        } else {
            vec![host.into()]
        },
        paths: vec![PathMatch::Prefix(path.into())],
        conditions: vec![],
        action: Action::forward_to(g),
    };
    let http = Listener {
        rules: vec![
            rule(1, "shop.example.com", "/api", "shop/api:8080"),
            rule(2, "", "/static", "shop/web:80"),
        ],
        ..Listener::new(80, Protocol::Http, Action::forward_to("shop/web:80"))
    };
    let https = Listener {
        certificates: vec![CertificateRef::Named("shop-cert".into())],
        rules: vec![rule(1, "shop.example.com", "/api", "shop/api:8080")],
        ..Listener::new(443, Protocol::Https, Action::forward_to("shop/web:80"))
    };
    LoadBalancerSpec::new(
        Owner::namespaced("prod", OwnerKind::Ingress, "shop", "web"),
        LoadBalancerKind::Application,
        vec![http, https],
        vec![
            BackendGroup::new("shop/web:80", Protocol::Http, 8080, TargetKind::PodIp),
            BackendGroup::new("shop/api:8080", Protocol::Http, 9090, TargetKind::PodIp),
        ],
    )
}

fn l4(scheme: Scheme) -> LoadBalancerSpec {
    let listener = |port, protocol, g: &str| Listener::new(port, protocol, Action::forward_to(g));
    let spec = LoadBalancerSpec::new(
        Owner::namespaced("prod", OwnerKind::Service, "shop", "dns"),
        LoadBalancerKind::Network,
        vec![
            listener(53, Protocol::Udp, "shop/dns:53u"),
            listener(53, Protocol::Tcp, "shop/dns:53t"),
            listener(8053, Protocol::Tcp, "shop/dns:8053"),
        ],
        vec![
            BackendGroup::new("shop/dns:53u", Protocol::Udp, 30053, TargetKind::NodePort),
            BackendGroup::new("shop/dns:53t", Protocol::Tcp, 30054, TargetKind::NodePort),
            BackendGroup::new("shop/dns:8053", Protocol::Tcp, 30055, TargetKind::NodePort),
        ],
    );
    LoadBalancerSpec { scheme, ..spec }
}

fn ctx() -> PlanContext {
    PlanContext {
        region: "us-central1".into(),
        network: "vpc".into(),
        static_ip: None,
        subnetwork: Some("nodes".into()),
    }
}

fn seen<T>(actual: T, owner: &Owner) -> Seen<T> {
    Seen {
        actual,
        owned: Some(Ownership {
            owner: owner.clone(),
            resource: None,
        }),
    }
}

/// What the cloud holds once the stack is created, with NEGs in `zones`.
fn built(stack: &DesiredStack, zones: &[&str]) -> ObservedStack {
    let o = &stack.owner;
    let mut out = ObservedStack::default();
    for h in &stack.health_checks {
        out.health_checks.push(seen(h.clone(), o));
    }
    for b in &stack.backend_services {
        let mut backends = std::collections::BTreeSet::new();
        for z in zones {
            out.negs.push(seen(
                ActualNeg {
                    name: b.name.clone(),
                    zone: z.to_string(),
                    neg_type: Some(b.neg_type.clone()),
                },
                o,
            ));
            backends.insert((z.to_string(), b.name.clone()));
        }
        out.backend_services.push(seen(
            ActualBackendService {
                name: b.name.clone(),
                protocol: Some(b.protocol.clone()),
                scheme: Some(b.scheme.clone()),
                health_checks: vec![b.health_check.clone()],
                backends,
                timeout_sec: b.timeout_sec,
                draining_timeout_sec: b.draining_timeout_sec,
            },
            o,
        ));
    }
    for u in &stack.url_maps {
        out.url_maps.push(seen(u.clone(), o));
    }
    for p in &stack.proxies {
        out.proxies.push(seen(p.clone(), o));
    }
    for c in &stack.ssl_certificates {
        out.ssl_certificates.push(seen(c.name.clone(), o));
    }
    for f in &stack.forwarding_rules {
        out.forwarding_rules.push(seen(
            ActualForwardingRule {
                ip: Some("34.1.2.3".into()),
                ..f.clone()
            },
            o,
        ));
    }
    for f in &stack.firewalls {
        let mut actual = f.clone();
        if actual.to_stack_address {
            actual.destination_ranges = vec!["34.1.2.3".into()];
        }
        actual.to_stack_address = false;
        out.firewalls.push(seen(actual, o));
    }
    out
}

fn kinds(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            serde_json::to_value(c).unwrap()["change"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn l7_creation_is_every_resource_in_dependency_order() {
    let stack = plan(&l7(), &ctx()).unwrap();
    let set = diff(&stack, &ObservedStack::default()).unwrap();
    assert_eq!(
        kinds(&set.changes),
        [
            "createHealthCheck",
            "createHealthCheck",
            "createBackendService",
            "createBackendService",
            "createUrlMap",
            "createUrlMap",
            "createProxy",
            "createProxy",
            "createForwardingRule",
            "createForwardingRule",
            "createFirewall",
        ]
    );
    assert!(
        stack.id.0.starts_with("global/k8s-shop-web-"),
        "{}",
        stack.id.0
    );
    // The second rule shares the first one's address.
    let ips: Vec<&IpSource> = set
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateForwardingRule { ip, .. } => Some(ip),
            _ => None,
        })
        .collect();
    assert_eq!(ips[0], &IpSource::Cloud);
    assert!(matches!(ips[1], IpSource::SameAs(n) if n == &stack.forwarding_rules[0].name));
    // Host rules and path matchers: the host's rules, then the any-host ones.
    let um = &stack.url_maps[0];
    let web = &stack.service_of("shop/web:80").unwrap().name;
    let api = &stack.service_of("shop/api:8080").unwrap().name;
    assert_eq!(&um.default_service, web);
    assert_eq!(um.host_rules.len(), 2);
    let host = um.path_matchers.iter().find(|p| p.name == "host1").unwrap();
    assert_eq!(host.path_rules.len(), 2);
    assert_eq!(host.path_rules[0].paths, ["/api", "/api/*"]);
    assert_eq!(&host.path_rules[0].service, api);
    assert_eq!(host.path_rules[1].paths, ["/static", "/static/*"]);
    assert_eq!(
        stack.proxies[1].certificates,
        ["shop-cert"],
        "pre-shared certificate by name"
    );
    // Names are valid and stable.
    for n in stack.forwarding_rules.iter().map(|f| &f.name) {
        assert!(cloudnet_core::NameRules::Gce.is_valid(n), "{n}");
    }
    assert_eq!(plan(&l7(), &ctx()).unwrap(), stack);
}

#[test]
fn an_unchanged_stack_has_no_changes() {
    for (spec, zones) in [
        (l7(), vec!["us-central1-a", "us-central1-b"]),
        (l4(Scheme::InternetFacing), vec!["us-central1-a"]),
        (l4(Scheme::Internal), vec![]),
    ] {
        let stack = plan(&spec, &ctx()).unwrap();
        let set = diff(&stack, &built(&stack, &zones)).unwrap();
        assert!(set.is_empty(), "{:?}", set.changes);
    }
}

#[test]
fn l4_is_one_rule_service_and_check_per_protocol() {
    let stack = plan(&l4(Scheme::Internal), &ctx()).unwrap();
    assert!(stack.id.0.starts_with("regions/us-central1/k8s-shop-dns-"));
    assert_eq!(stack.forwarding_rules.len(), 2);
    let tcp = stack
        .forwarding_rules
        .iter()
        .find(|f| f.ip_protocol == "TCP")
        .unwrap();
    assert_eq!(tcp.ports, ["53", "8053"]);
    assert_eq!(tcp.scheme, "INTERNAL");
    assert_eq!(tcp.subnetwork.as_deref(), Some("nodes"));
    let bs = stack.service_of("shop/dns:8053").unwrap();
    assert_eq!(bs.groups, ["shop/dns:53t", "shop/dns:8053"]);
    assert_eq!(bs.neg_type, "GCE_VM_IP");
    // The node-port check goes to the first group's node port.
    let hc = stack
        .health_checks
        .iter()
        .find(|h| h.name == bs.name)
        .unwrap();
    assert_eq!((hc.protocol.as_str(), hc.port), ("TCP", Some(30054)));
    let ext = plan(&l4(Scheme::InternetFacing), &ctx()).unwrap();
    assert!(
        ext.forwarding_rules
            .iter()
            .all(|f| f.scheme == "EXTERNAL" && f.subnetwork.is_none())
    );
    let set = diff(&stack, &ObservedStack::default()).unwrap();
    // Per protocol a health check, a backend service and a forwarding rule; the two
    // firewall rules last, the traffic one on the first new rule's address.
    assert_eq!(set.len(), 8);
    assert!(matches!(
        &set.changes[7],
        Change::CreateFirewall { address: Some(IpSource::SameAs(n)), .. } if n == &stack.forwarding_rules[0].name
    ));
}

#[test]
fn drift_of_each_field_is_one_change() {
    let stack = plan(&l7(), &ctx()).unwrap();
    let base = built(&stack, &["us-central1-a"]);
    type Edit = fn(&mut ObservedStack);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "check interval",
            |o| o.health_checks[0].actual.interval_sec = 99,
            "modifyHealthCheck",
        ),
        (
            "check path",
            |o| o.health_checks[0].actual.request_path = Some("/x".into()),
            "modifyHealthCheck",
        ),
        (
            "check port",
            |o| o.health_checks[0].actual.port = Some(1),
            "modifyHealthCheck",
        ),
        (
            "service protocol",
            |o| o.backend_services[0].actual.protocol = Some("HTTPS".into()),
            "modifyBackendService",
        ),
        (
            "service check",
            |o| o.backend_services[0].actual.health_checks = vec!["other".into()],
            "modifyBackendService",
        ),
        (
            "service backends",
            |o| o.backend_services[0].actual.backends.clear(),
            "modifyBackendService",
        ),
        (
            "url map default",
            |o| o.url_maps[0].actual.default_service = "other".into(),
            "modifyUrlMap",
        ),
        (
            "url map paths",
            |o| {
                o.url_maps[0].actual.path_matchers[0]
                    .path_rules
                    .pop()
                    .map(|_| ())
                    .unwrap_or(())
            },
            "modifyUrlMap",
        ),
        (
            "proxy url map",
            |o| o.proxies[0].actual.url_map = "other".into(),
            "setProxyUrlMap",
        ),
        (
            "proxy certificates",
            |o| o.proxies[1].actual.certificates = vec!["old".into()],
            "setProxyCertificates",
        ),
        (
            "rule target",
            |o| o.forwarding_rules[0].actual.target = Some(("other".into(), false)),
            "setForwardingRuleTarget",
        ),
        (
            "firewall narrowed",
            |o| o.firewalls[0].actual.source_ranges = vec!["35.191.0.0/16".into()],
            "modifyFirewall",
        ),
        (
            "firewall disabled",
            |o| o.firewalls[0].actual.disabled = true,
            "modifyFirewall",
        ),
        (
            "firewall deleted",
            |o| o.firewalls.clear(),
            "createFirewall",
        ),
    ];
    for (what, edit, want) in cases {
        let mut o = base.clone();
        edit(&mut o);
        let set = diff(&stack, &o).unwrap();
        assert_eq!(kinds(&set.changes), [want], "{what}");
    }
    // A rule's port cannot change in place: deleted and created again at its address.
    let mut o = base.clone();
    o.forwarding_rules[0].actual.port_range = Some("81-81".into());
    let set = diff(&stack, &o).unwrap();
    assert_eq!(
        kinds(&set.changes),
        ["deleteForwardingRule", "createForwardingRule"]
    );
    assert!(matches!(
        &set.changes[1],
        Change::CreateForwardingRule { ip: IpSource::Literal(ip), .. } if ip == "34.1.2.3"
    ));
    // L4 ports.
    let l4 = plan(&l4(Scheme::InternetFacing), &ctx()).unwrap();
    let mut o = built(&l4, &["us-central1-a"]);
    o.forwarding_rules[0].actual.ports = vec!["1".into()];
    assert_eq!(
        kinds(&diff(&l4, &o).unwrap().changes),
        ["deleteForwardingRule", "createForwardingRule"]
    );
    // The L4 traffic rule follows the load balancer's address.
    let mut o = built(&l4, &["us-central1-a"]);
    o.firewalls[1].actual.destination_ranges = vec!["34.9.9.9".into()];
    let set = diff(&l4, &o).unwrap();
    assert!(
        matches!(
            &set.changes[..],
            [Change::ModifyFirewall { address: Some(IpSource::Literal(ip)), .. }] if ip == "34.1.2.3"
        ),
        "{:?}",
        set.changes
    );
}

#[test]
fn a_foreign_resource_under_our_name_is_a_conflict_and_nothing_changes() {
    let stack = plan(&l7(), &ctx()).unwrap();
    let mut o = ObservedStack::default();
    o.url_maps.push(Seen {
        actual: stack.url_maps[0].clone(),
        owned: None,
    });
    let e = diff(&stack, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains(&stack.url_maps[0].name), "{e}");
    assert!(e.to_string().contains("left alone"), "{e}");
    // Another owner's is not ours either.
    let mut o = built(&stack, &[]);
    o.backend_services[0].owned = Some(Ownership {
        owner: Owner::namespaced("prod", OwnerKind::Ingress, "shop", "other"),
        resource: None,
    });
    assert_eq!(diff(&stack, &o).unwrap_err().kind(), ErrorKind::Conflict);
    // A foreign NEG with a group's name in some zone.
    let mut o = built(&stack, &["us-central1-a"]);
    o.negs[0].owned = None;
    assert_eq!(diff(&stack, &o).unwrap_err().kind(), ErrorKind::Conflict);
    // Foreign resources under other names are ignored, never deleted.
    let mut o = built(&stack, &[]);
    let mut other = stack.url_maps[0].clone();
    other.name = "k8s-shop-web-000000000000".into();
    o.url_maps.push(Seen {
        actual: other,
        owned: None,
    });
    assert!(diff(&stack, &o).unwrap().is_empty());
}

#[test]
fn a_partial_stack_is_completed_and_what_is_no_longer_wanted_goes_last() {
    let stack = plan(&l7(), &ctx()).unwrap();
    let mut o = built(&stack, &["us-central1-a"]);
    // Interrupted after the URL maps: no proxies, no rules.
    o.proxies.clear();
    o.forwarding_rules.clear();
    let set = diff(&stack, &o).unwrap();
    assert_eq!(
        kinds(&set.changes),
        [
            "createProxy",
            "createProxy",
            "createForwardingRule",
            "createForwardingRule"
        ]
    );

    // The HTTPS listener and the api group are gone from the spec.
    let mut spec = l7();
    spec.listeners.truncate(1);
    spec.listeners[0].rules.remove(0);
    spec.groups.truncate(1);
    let smaller = plan(&spec, &ctx()).unwrap();
    let set = diff(&smaller, &built(&stack, &["us-central1-a"])).unwrap();
    // The firewall rule no longer lets the api group's port in.
    assert_eq!(
        kinds(&set.changes),
        [
            "modifyUrlMap",
            "modifyFirewall",
            "deleteForwardingRule",
            "deleteProxy",
            "deleteUrlMap",
            "deleteBackendService",
            "deleteNeg",
            "deleteHealthCheck",
        ]
    );
}

#[test]
fn what_gclb_cannot_do_is_refused_by_name() {
    let mut spec = l7();
    spec.listeners[0].rules[0].conditions = vec![cloudnet_core::RuleCondition::HttpRequestMethod {
        values: vec!["GET".into()],
    }];
    let e = plan(&spec, &ctx()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("conditions"), "{e}");

    let mut spec = l7();
    spec.scheme = Scheme::Internal;
    assert!(
        plan(&spec, &ctx())
            .unwrap_err()
            .to_string()
            .contains("internal application")
    );

    let mut spec = l7();
    spec.groups[0].target_kind = TargetKind::NodePort;
    assert!(
        plan(&spec, &ctx())
            .unwrap_err()
            .to_string()
            .contains("NodePort")
    );

    let mut spec = l7();
    spec.listeners[0].rules[0].paths = vec![PathMatch::Pattern("/a*b".into())];
    assert!(
        plan(&spec, &ctx())
            .unwrap_err()
            .to_string()
            .contains("/a*b")
    );

    let mut c = ctx();
    c.subnetwork = None;
    assert!(
        plan(&l4(Scheme::Internal), &c)
            .unwrap_err()
            .to_string()
            .contains("subnetwork")
    );
}

fn material(source: &str, body: &str) -> CertificateRef {
    CertificateRef::Material(cloudnet_core::CertificateMaterial {
        source: source.into(),
        certificate: format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
        private_key: format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    })
}

#[test]
fn a_secrets_certificate_is_made_before_the_proxy_names_it_and_replaced_on_new_content() {
    let mut spec = l7();
    spec.listeners[1].certificates = vec![
        CertificateRef::Named("shop-cert".into()),
        material("shop/web-tls", "v1"),
    ];
    let v1 = plan(&spec, &ctx()).unwrap();
    assert_eq!(v1.ssl_certificates.len(), 1);
    let own = v1.ssl_certificates[0].name.clone();
    assert!(own.starts_with("k8s-shop-web-"), "{own}");
    assert_eq!(
        v1.proxies[1].certificates,
        ["shop-cert".to_string(), own.clone()]
    );
    // No key in what a plan prints.
    let printed = serde_json::to_string(&v1).unwrap();
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");

    // A new stack: the certificate before its proxy.
    let set = diff(&v1, &ObservedStack::default()).unwrap();
    let k = kinds(&set.changes);
    let cert_at = k.iter().position(|c| c == "createSslCertificate").unwrap();
    let proxy_at = k.iter().position(|c| c == "createProxy").unwrap();
    assert!(cert_at < proxy_at, "{k:?}");

    // Built: nothing to do.
    let had = built(&v1, &["us-central1-a"]);
    assert!(diff(&v1, &had).unwrap().is_empty());

    // The Secret's new content: create the new one, switch the proxy, delete the old one.
    spec.listeners[1].certificates = vec![
        CertificateRef::Named("shop-cert".into()),
        material("shop/web-tls", "v2"),
    ];
    let v2 = plan(&spec, &ctx()).unwrap();
    assert_ne!(v2.ssl_certificates[0].name, own);
    let set = diff(&v2, &had).unwrap();
    assert_eq!(
        kinds(&set.changes),
        [
            "createSslCertificate",
            "setProxyCertificates",
            "deleteSslCertificate"
        ]
    );
    assert!(matches!(&set.changes[2], Change::DeleteSslCertificate { name } if name == &own));

    // The Secret gone from spec.tls: the proxy keeps the pre-shared one, ours is deleted.
    spec.listeners[1].certificates = vec![CertificateRef::Named("shop-cert".into())];
    let none = plan(&spec, &ctx()).unwrap();
    assert_eq!(
        kinds(&diff(&none, &had).unwrap().changes),
        ["setProxyCertificates", "deleteSslCertificate"]
    );

    // A certificate under our name that is not ours is left alone.
    let mut foreign = had.clone();
    foreign.ssl_certificates[0].owned = None;
    let err = diff(&v1, &foreign).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}
