//! Model tests: serde round trips, a golden file of the wire form, validation and
//! capability checks. Fixture builders live here so other crates' tests can copy the shape.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::*;

pub(crate) fn group(key: &str, kind: TargetKind) -> BackendGroup {
    BackendGroup {
        key: key.into(),
        protocol: Protocol::Http,
        port: 8080,
        target_kind: kind,
        health_check: HealthCheck::defaults_for(Protocol::Http),
        attributes: BTreeMap::from([("deregistration_delay.timeout_seconds".into(), "30".into())]),
    }
}

/// An ALB for an Ingress: HTTP redirects to HTTPS, HTTPS routes two hosts.
pub(crate) fn alb_spec() -> LoadBalancerSpec {
    let not_found = Action::FixedResponse(FixedResponse {
        status_code: 404,
        content_type: Some("text/plain".into()),
        body: Some("not found".into()),
    });
    let api = Action::Forward {
        groups: vec![
            WeightedGroup {
                group: "shop/api:80".into(),
                weight: 90,
            },
            WeightedGroup {
                group: "shop/api-canary:80".into(),
                weight: 10,
            },
        ],
    };
    let https = Listener {
        certificates: vec![CertificateRef::Named(
            "arn:aws:acm:us-west-2:123456789012:certificate/abc".into(),
        )],
        ssl_policy: Some("ELBSecurityPolicy-TLS13-1-2-2021-06".into()),
        rules: vec![
            Rule {
                priority: 1,
                hosts: vec!["shop.example.com".into()],
                paths: vec![PathMatch::Prefix("/api".into())],
                conditions: Vec::new(),
                action: api,
            },
            Rule {
                priority: 2,
                hosts: vec!["*.example.com".into()],
                paths: vec![PathMatch::Exact("/".into())],
                conditions: Vec::new(),
                action: Action::forward_to("shop/web:80"),
            },
        ],
        ..Listener::new(443, Protocol::Https, not_found)
    };
    let listeners = vec![
        Listener::new(80, Protocol::Http, Action::redirect_to_https()),
        https,
    ];
    let groups = vec![
        group("shop/api:80", TargetKind::PodIp),
        group("shop/api-canary:80", TargetKind::PodIp),
        group("shop/web:80", TargetKind::NodePort),
    ];
    let owner = Owner::namespaced("prod", OwnerKind::Ingress, "shop", "web");
    LoadBalancerSpec {
        attributes: BTreeMap::from([("idle_timeout.timeout_seconds".into(), "60".into())]),
        security_groups: vec!["sg-0123".into()],
        source_ranges: vec!["10.0.0.0/8".parse().unwrap()],
        tags: BTreeMap::from([("team".into(), "shop".into())]),
        ..LoadBalancerSpec::new(owner, LoadBalancerKind::Application, listeners, groups)
    }
}

/// Takes a capability away.
type TakeAway = fn(&mut LoadBalancerCapabilities);

fn full_capabilities() -> LoadBalancerCapabilities {
    LoadBalancerCapabilities {
        kinds: vec![LoadBalancerKind::Application, LoadBalancerKind::Network],
        target_kinds: vec![TargetKind::PodIp, TargetKind::NodePort],
        listener_protocols: vec![
            Protocol::Http,
            Protocol::Https,
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::TcpUdp,
            Protocol::Tls,
        ],
        weighted_forward: true,
        redirect: true,
        fixed_response: true,
        max_rules_per_listener: 100,
        max_targets_per_group: 1000,
        max_listeners: 50,
    }
}

fn node_interfaces() -> NodeInterfaces {
    NodeInterfaces {
        node: NodeRef {
            name: "ip-192-168-1-10.us-west-2.compute.internal".into(),
            instance_id: "i-0abc".into(),
            zone: Some("us-west-2a".into()),
        },
        instance_type: "m5.large".into(),
        limits: AddressLimits {
            max_interfaces: 3,
            max_blocks_per_interface: 10,
            block_kinds: vec![BlockKind::SecondaryIp, BlockKind::Prefix],
        },
        interfaces: vec![Interface {
            id: InterfaceId("eni-1".into()),
            index: 0,
            subnet_id: "subnet-1".into(),
            subnet_cidr: Some("192.168.0.0/19".parse().unwrap()),
            mac: Some("02:00:00:00:00:01".into()),
            security_groups: vec!["sg-1".into()],
            blocks: vec![
                AddressBlock {
                    cidr: "192.168.1.10/32".parse().unwrap(),
                    kind: BlockKind::SecondaryIp,
                    primary: true,
                },
                AddressBlock {
                    cidr: "192.168.1.16/28".parse().unwrap(),
                    kind: BlockKind::Prefix,
                    primary: false,
                },
            ],
            owned: false,
        }],
    }
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: &T,
) {
    let json = serde_json::to_string(v).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, v, "{json}");
}

#[test]
fn the_model_round_trips_through_json() {
    round_trip(&alb_spec());
    round_trip(&node_interfaces());
    round_trip(&Route {
        table: "rtb-1".into(),
        destination: "10.244.1.0/24".parse().unwrap(),
        target: RouteTarget::Instance("i-1".into()),
        node: Some("n1".into()),
        state: RouteState::Blackhole,
        owned: true,
    });
    round_trip(&RouteTarget::Ip("10.0.0.4".parse().unwrap()));
    round_trip(&LoadBalancerStatus {
        id: LoadBalancerId("arn:lb".into()),
        dns_name: Some("k8s-shop-web-1.elb.amazonaws.com".into()),
        ips: vec!["1.2.3.4".parse().unwrap()],
        groups: vec![GroupStatus {
            key: "shop/web:80".into(),
            id: "arn:tg".into(),
            targets: vec![TargetHealth {
                target: Target {
                    ip: "192.168.1.20".parse().unwrap(),
                    port: 8080,
                },
                state: HealthState::Draining,
                reason: Some("Target.DeregistrationInProgress".into()),
            }],
        }],
    });
    round_trip(&Error::from_aws("TooManyRules", 400, "x", None).kind());
    round_trip(&BudgetConfig::default());
}

/// The spec's JSON is what `cloudnet plan` prints and what golden tests of the controllers
/// compare: a rename here must be deliberate. `UPDATE_GOLDEN=1 cargo test` rewrites it.
#[test]
fn the_spec_wire_form_matches_the_golden_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/alb_spec.json");
    let actual = serde_json::to_string_pretty(&alb_spec()).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &actual).unwrap();
    }
    let golden =
        std::fs::read_to_string(path).expect("golden file missing: run with UPDATE_GOLDEN=1");
    assert_eq!(
        actual, golden,
        "the wire form changed; if on purpose, run with UPDATE_GOLDEN=1"
    );
}

#[test]
fn validate_accepts_a_good_spec_and_names_what_is_wrong() {
    alb_spec().validate().unwrap();
    assert_eq!(
        alb_spec().referenced_groups(),
        vec!["shop/api:80", "shop/api-canary:80", "shop/web:80"]
    );

    let mut s = alb_spec();
    s.listeners[1].certificates.clear();
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("needs a TLS certificate")
    );

    let mut s = alb_spec();
    s.listeners[1].rules[1].priority = 1;
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("priority 1 is used twice")
    );

    let mut s = alb_spec();
    s.groups.pop();
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("shop/web:80 is not defined")
    );

    let mut s = alb_spec();
    s.listeners[0].port = 443;
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("port 443 is used twice")
    );

    let mut s = alb_spec();
    s.kind = LoadBalancerKind::Network;
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("needs an application load balancer")
    );

    let mut s = alb_spec();
    s.listeners.clear();
    assert!(matches!(s.validate(), Err(Error::InvalidInput { .. })));
}

#[test]
fn capabilities_refuse_what_a_cloud_cannot_do() {
    let caps = full_capabilities();
    caps.check(&alb_spec()).unwrap();

    // Each capability taken away, and what the refusal names.
    let cases: [(&str, TakeAway, &str); 4] = [
        (
            "no weights",
            |c| c.weighted_forward = false,
            "weighted forwarding",
        ),
        ("no fixed", |c| c.fixed_response = false, "fixed-response"),
        (
            "few rules",
            |c| c.max_rules_per_listener = 1,
            "2 rules on listener 443",
        ),
        (
            "pod only",
            |c| c.target_kinds = vec![TargetKind::PodIp],
            "NodePort targets",
        ),
    ];
    for (case, take_away, named) in cases {
        let mut caps = full_capabilities();
        take_away(&mut caps);
        let refused = caps.check(&alb_spec()).unwrap_err().to_string();
        assert!(refused.contains(named), "{case}: {refused}");
    }
}

#[test]
fn node_limits_and_capacity() {
    let n = node_interfaces();
    // m5.large: 3 ENIs x (10 - 1 primary) slots.
    assert_eq!(n.limits.max_pod_addresses(BlockKind::SecondaryIp), 27);
    assert_eq!(n.limits.max_pod_addresses(BlockKind::Prefix), 27 * 16);
    assert_eq!(n.free_index(), Some(1));
    assert_eq!(n.free_slots(&InterfaceId("eni-1".into())), 8);
    assert_eq!(n.free_slots(&InterfaceId("eni-x".into())), 0);
    assert_eq!(n.interfaces[0].pod_capacity(), 16);
    let block = &n.interfaces[0].blocks[1];
    assert!(block.contains("192.168.1.31".parse().unwrap()));
    assert!(!block.contains("192.168.1.32".parse().unwrap()));
    let v6 = AddressBlock {
        cidr: "2600::/80".parse::<IpNet>().unwrap(),
        kind: BlockKind::Prefix,
        primary: false,
    };
    assert_eq!(v6.size(), 1 << 48);
}

#[test]
fn certificate_material_is_refused_unless_the_cloud_uploads_it() {
    let caps = full_capabilities();
    let material = CertificateMaterial {
        source: "shop/web-tls".into(),
        certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        private_key: "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n".into(),
    };
    let mut spec = alb_spec();
    spec.listeners[1].certificates = vec![CertificateRef::Material(material.clone())];

    let err = caps.check(&spec).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(text.contains("listener 443: certificates"), "{text}");
    assert!(text.contains("Secret shop/web-tls"), "{text}");
    caps.check_uploading_certificates(&spec)
        .expect("a cloud that uploads takes it");

    // Neither Debug nor the serialized spec shows the key; read back, the material has
    // none, and a spec with it is refused rather than uploaded keyless.
    assert_eq!(
        spec.listeners[1].certificates[0].as_material(),
        Some(&material)
    );
    let shown = format!("{spec:?}");
    assert!(!shown.contains("SECRETKEY"), "{shown}");
    assert!(shown.contains("shop/web-tls"), "{shown}");
    assert_eq!(material.digest(12).len(), 12);
    let json = serde_json::to_string(&spec).unwrap();
    assert!(!json.contains("SECRETKEY"), "{json}");
    assert!(json.contains("shop/web-tls"), "{json}");
    let read: LoadBalancerSpec = serde_json::from_str(&json).unwrap();
    let read_back = read.listeners[1].certificates[0].as_material().unwrap();
    assert_eq!(read_back.certificate, material.certificate);
    assert!(read_back.private_key.is_empty());
    assert!(caps.check_uploading_certificates(&read).is_err());

    // Material without a key is bad input everywhere.
    let mut keyless = material.clone();
    keyless.private_key = " ".into();
    spec.listeners[1].certificates = vec![CertificateRef::Material(keyless.clone())];
    let err = caps.check_uploading_certificates(&spec).unwrap_err();
    assert!(
        err.to_string()
            .contains("needs a certificate and a private key"),
        "{err}"
    );
    // A name is a name, whatever it starts with; material is only ever typed.
    spec.listeners[1].certificates = vec![CertificateRef::named("material:{not json")];
    assert!(caps.check(&spec).is_ok());
}
