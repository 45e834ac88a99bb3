//! Model tests: Services -> specs as golden files (one per annotation family), bad input ->
//! the exact Event texts, EndpointSlices and Nodes -> targets.
//!
//! Golden files live in `controllers/tests/golden/service/`; `UPDATE_GOLDEN=1 cargo test -p
//! cloudnet-controllers` rewrites them (review the diff before committing).

use std::collections::BTreeMap;

use cloudnet_core::{Target, TargetKind};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;

fn service(annotations: serde_json::Value, spec: serde_json::Value) -> Service {
    let mut s = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080},
                {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP", "nodePort": 30053}
            ]
        }
    });
    if let (Some(base), Some(extra)) = (s["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(s).expect("service fixture")
}

fn settings() -> ServiceSettings {
    ServiceSettings::new("demo")
}

fn golden(name: &str, value: &impl serde::Serialize) {
    crate::golden::check("service", name, value);
}

#[test]
fn golden_specs_per_annotation_family() {
    let p = "service.beta.kubernetes.io/";
    let cases: Vec<(&str, serde_json::Value, serde_json::Value)> = vec![
        ("defaults", json!({}), json!({})),
        (
            "ip-targets-and-placement",
            json!({
                format!("{p}aws-load-balancer-type"): "external",
                format!("{p}aws-load-balancer-nlb-target-type"): "ip",
                format!("{p}aws-load-balancer-scheme"): "internet-facing",
                format!("{p}aws-load-balancer-subnets"): "subnet-a, subnet-b",
                format!("{p}aws-load-balancer-ip-address-type"): "dualstack",
            }),
            json!({}),
        ),
        (
            "health-checks",
            json!({
                format!("{p}aws-load-balancer-healthcheck-protocol"): "http",
                format!("{p}aws-load-balancer-healthcheck-port"): "8081",
                format!("{p}aws-load-balancer-healthcheck-path"): "/ready",
                format!("{p}aws-load-balancer-healthcheck-interval"): "30",
                format!("{p}aws-load-balancer-healthcheck-timeout"): "5",
                format!("{p}aws-load-balancer-healthcheck-healthy-threshold"): "4",
                format!("{p}aws-load-balancer-healthcheck-unhealthy-threshold"): "6",
                format!("{p}aws-load-balancer-healthcheck-success-codes"): "200-299",
            }),
            json!({}),
        ),
        (
            "local-traffic-instance-targets",
            json!({}),
            json!({"externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}),
        ),
        (
            "tls",
            json!({
                format!("{p}aws-load-balancer-ssl-cert"): "arn:aws:acm:us-west-2:111122223333:certificate/abc",
                format!("{p}aws-load-balancer-ssl-ports"): "http",
                format!("{p}aws-load-balancer-ssl-negotiation-policy"): "ELBSecurityPolicy-TLS13-1-2-2021-06",
                format!("{p}aws-load-balancer-backend-protocol"): "ssl",
            }),
            json!({}),
        ),
        (
            "attributes-tags-security",
            json!({
                format!("{p}aws-load-balancer-attributes"): "load_balancing.cross_zone.enabled=true",
                format!("{p}aws-load-balancer-target-group-attributes"): "deregistration_delay.timeout_seconds=120,preserve_client_ip.enabled=false",
                format!("{p}aws-load-balancer-additional-resource-tags"): "team=shop, env=prod",
                format!("{p}aws-load-balancer-security-groups"): "sg-1,sg-2",
                format!("{p}aws-load-balancer-proxy-protocol"): "*",
                format!("{p}load-balancer-source-ranges"): "10.0.0.0/8, 192.168.0.0/16",
            }),
            json!({}),
        ),
        (
            "legacy-in-tree",
            json!({
                format!("{p}aws-load-balancer-type"): "nlb-ip",
                format!("{p}aws-load-balancer-internal"): "false",
            }),
            json!({"loadBalancerSourceRanges": ["203.0.113.0/24"]}),
        ),
    ];
    for (name, annotations, spec) in cases {
        let svc = service(annotations, spec);
        let built = build_spec(&svc, &settings())
            .unwrap_or_else(|e| panic!("{name}: {}", render(&e).join("; ")));
        golden(name, &built);
    }
}

fn render(errors: &[ModelError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn bad_input_gives_the_exact_event_texts() {
    let p = "service.beta.kubernetes.io/";
    let cases: Vec<(serde_json::Value, serde_json::Value, Vec<&str>)> = vec![
        (
            json!({format!("{p}aws-load-balancer-scheme"): "public"}),
            json!({}),
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-scheme: "public": must be one of internal, internet-facing"#,
            ],
        ),
        (
            json!({format!("{p}aws-load-balancer-healthcheck-path"): "/x"}),
            json!({}),
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-healthcheck-path: "/x": needs an HTTP or HTTPS health check"#,
            ],
        ),
        (
            json!({format!("{p}aws-load-balancer-ssl-ports"): "443"}),
            json!({}),
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-ssl-ports: "443": needs service.beta.kubernetes.io/aws-load-balancer-ssl-cert"#,
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-ssl-ports: "443": 443 is not a port of the Service"#,
            ],
        ),
        (
            json!({format!("{p}aws-load-balancer-proxy-protocol"): "80"}),
            json!({}),
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-proxy-protocol: "80": only "*" (every port) is supported"#,
            ],
        ),
        (
            json!({format!("{p}aws-load-balancer-target-group-attributes"): "a=1,oops"}),
            json!({}),
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-target-group-attributes: "a=1,oops": "oops" is not key=value"#,
            ],
        ),
        (
            json!({}),
            json!({"loadBalancerSourceRanges": ["10.0.0.0/33"]}),
            vec![r#"spec.loadBalancerSourceRanges: "10.0.0.0/33" is not a CIDR"#],
        ),
        (
            json!({}),
            json!({"ports": [{"name": "s", "port": 9, "protocol": "SCTP", "nodePort": 30009}]}),
            vec!["port s: protocol SCTP is not supported by network load balancers"],
        ),
        (
            json!({}),
            json!({"ports": [{"name": "http", "port": 80}]}),
            vec!["port http: instance targets need a node port (the Service has none yet)"],
        ),
        (
            json!({format!("{p}aws-load-balancer-nlb-target-type"): "pod"}),
            json!({}),
            vec![
                r#"annotation service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: "pod": must be one of ip, instance"#,
            ],
        ),
    ];
    for (annotations, spec, want) in cases {
        let svc = service(annotations.clone(), spec);
        let got = build_spec(&svc, &settings()).expect_err(&annotations.to_string());
        assert_eq!(render(&got), want, "{annotations}");
    }
}

#[test]
fn only_our_classes_are_served() {
    let mut s = settings();
    let with_class = |class: Option<&str>, annotations: serde_json::Value| {
        service(annotations, json!({"loadBalancerClass": class}))
    };
    assert!(is_served(
        &with_class(Some("cloudnet.io/nlb"), json!({})),
        &s
    ));
    assert!(is_served(
        &with_class(Some("service.k8s.aws/nlb"), json!({})),
        &s
    ));
    assert!(!is_served(&with_class(Some("other.io/lb"), json!({})), &s));
    assert!(!is_served(&with_class(None, json!({})), &s));
    assert!(is_served(
        &with_class(
            None,
            json!({"service.beta.kubernetes.io/aws-load-balancer-type": "external"})
        ),
        &s
    ));
    s.serve_classless = true;
    assert!(is_served(&with_class(None, json!({})), &s));
    let cluster_ip = service(json!({}), json!({"type": "ClusterIP"}));
    assert!(!is_served(&cluster_ip, &s));
}

fn slice(name: &str, endpoints: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 5353, "protocol": "UDP"}],
        "endpoints": endpoints
    }))
    .expect("slice fixture")
}

fn node(name: &str, ip: &str, labels: serde_json::Value) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}
    }))
    .expect("node fixture")
}

fn t(ip: &str, port: u16) -> Target {
    Target {
        ip: ip.parse().expect("ip"),
        port,
    }
}

#[test]
fn ip_targets_count_an_address_once_and_skip_unready_endpoints() {
    let svc = service(
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}),
        json!({}),
    );
    let spec = build_spec(&svc, &settings()).expect("spec");
    let slices = vec![
        slice(
            "web-a",
            json!([
                {"addresses": ["192.168.1.10"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["192.168.1.11"], "conditions": {"ready": false}, "nodeName": "n1"},
                {"addresses": ["192.168.1.12"], "nodeName": "n2"}
            ]),
        ),
        // The same endpoint in a second slice while it moves between slices.
        slice(
            "web-b",
            json!([{"addresses": ["192.168.1.10"], "conditions": {"ready": true}, "nodeName": "n1"}]),
        ),
    ];
    let mut other = slice("api-a", json!([{"addresses": ["192.168.9.9"]}]));
    other.metadata.labels = Some(BTreeMap::from([(
        "kubernetes.io/service-name".to_string(),
        "api".to_string(),
    )]));
    let mut all = slices.clone();
    all.push(other);
    let got = targets(&svc, &spec, &all, &[]);
    assert_eq!(
        got["shop/web:80"],
        vec![t("192.168.1.10", 8080), t("192.168.1.12", 8080)]
    );
    assert_eq!(
        got["shop/web:53"],
        vec![t("192.168.1.10", 5353), t("192.168.1.12", 5353)]
    );
}

#[test]
fn instance_targets_follow_nodes_and_local_traffic_policy() {
    let nodes = vec![
        node("n1", "192.168.0.1", json!({})),
        node("n2", "192.168.0.2", json!({})),
        node(
            "n3",
            "192.168.0.3",
            json!({"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
        ),
    ];
    let slices = vec![slice(
        "web-a",
        json!([{"addresses": ["192.168.1.10"], "nodeName": "n2"}]),
    )];

    let cluster = service(json!({}), json!({}));
    let spec = build_spec(&cluster, &settings()).expect("spec");
    assert_eq!(spec.groups[0].target_kind, TargetKind::NodePort);
    let got = targets(&cluster, &spec, &slices, &nodes);
    assert_eq!(
        got["shop/web:80"],
        vec![t("192.168.0.1", 30080), t("192.168.0.2", 30080)]
    );

    let local = service(
        json!({}),
        json!({"externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}),
    );
    let spec = build_spec(&local, &settings()).expect("spec");
    let got = targets(&local, &spec, &slices, &nodes);
    assert_eq!(got["shop/web:80"], vec![t("192.168.0.2", 30080)]);
    assert_eq!(got["shop/web:53"], vec![t("192.168.0.2", 30053)]);
}

#[test]
fn a_node_change_wakes_only_services_with_instance_targets_as_the_model_decides() {
    let mut ip_default = settings();
    ip_default.default_target_kind = TargetKind::PodIp;
    let cases = [
        json!({}),
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}),
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"}),
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"}),
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}),
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "external"}),
        json!({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"}),
    ];
    for settings in [settings(), ip_default] {
        for annotations in &cases {
            let svc = service(annotations.clone(), json!({}));
            let spec = build_spec(&svc, &settings).expect("a valid spec");
            let by_model = spec
                .groups
                .iter()
                .any(|g| g.target_kind == TargetKind::NodePort);
            assert_eq!(
                targets_nodes(&svc, &settings),
                by_model,
                "{annotations} with default {:?}",
                settings.default_target_kind
            );
        }
    }
    let bad = service(
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "pods"}),
        json!({}),
    );
    assert!(
        targets_nodes(&bad, &settings()),
        "a bad value wakes the Service"
    );
}

#[test]
fn gkes_load_balancer_type_picks_the_scheme_in_ingress_gces_dialect() {
    use cloudnet_core::Scheme;
    let gke = ServiceSettings::ingress_gce("demo");
    let scheme = |annotations: serde_json::Value, s: &ServiceSettings| {
        build_spec(&service(annotations, json!({})), s).map(|spec| spec.scheme)
    };
    let table: Vec<(serde_json::Value, Scheme)> = vec![
        (json!({}), Scheme::InternetFacing),
        (
            json!({crate::gce::LOAD_BALANCER_TYPE: "Internal"}),
            Scheme::Internal,
        ),
        (
            json!({crate::gce::LEGACY_LOAD_BALANCER_TYPE: "Internal"}),
            Scheme::Internal,
        ),
        (
            json!({crate::gce::LOAD_BALANCER_TYPE: "External"}),
            Scheme::InternetFacing,
        ),
    ];
    for (annotations, want) in table {
        assert_eq!(scheme(annotations.clone(), &gke), Ok(want), "{annotations}");
    }
    // The AWS dialect does not read GKE's key: internal by the AWS default either way.
    assert_eq!(
        scheme(
            json!({crate::gce::LOAD_BALANCER_TYPE: "External"}),
            &settings()
        ),
        Ok(Scheme::Internal)
    );
    let errors = scheme(json!({crate::gce::LOAD_BALANCER_TYPE: "ILB"}), &gke).unwrap_err();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["annotation networking.gke.io/load-balancer-type: \"ILB\": must be Internal or External"]
    );
}
