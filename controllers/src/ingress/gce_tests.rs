//! Ingresses of ingress-gce's classes -> specs, and their bad input -> the Ingress's errors.

use std::collections::BTreeMap;

use cloudnet_core::{
    CertificateRef, HealthCheckPort, LoadBalancerSpec, Protocol, Scheme, TargetKind,
};
use cloudnet_crds::{BackendConfigSpec, ConnectionDrainingConfig, HealthCheckConfig};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use super::super::group::{GroupId, MemberError};
use super::super::{IngressSettings, Services, build_group_spec};
use crate::gce::{
    self, ALLOW_HTTP, ATTR_DRAINING_TIMEOUT_SEC, ATTR_TIMEOUT_SEC, BACKEND_CONFIG,
    GLOBAL_STATIC_IP_NAME, NEG, PRE_SHARED_CERT, with_backend_configs,
};

fn service(annotations: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}
        ]}
    }))
    .expect("service fixture")
}

fn ingress(class: &str, annotations: Value, tls: bool) -> Ingress {
    let mut spec = json!({"ingressClassName": class, "rules": [{"http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    ]}}]});
    if tls {
        spec["tls"] = json!([{"secretName": "web-tls"}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
        "spec": spec
    }))
    .expect("ingress fixture")
}

fn build(ing: &Ingress, svc: Service) -> Result<LoadBalancerSpec, Vec<String>> {
    let services: Services = [(("shop".into(), "web".into()), svc)].into();
    let group = GroupId::of(ing).expect("group");
    build_group_spec(
        &group,
        &[ing],
        &services,
        &IngressSettings::ingress_gce("demo"),
    )
    .map_err(|e: Vec<MemberError>| e.into_iter().map(|e| e.message).collect())
}

#[test]
fn a_gce_ingress_becomes_an_external_container_native_load_balancer() {
    let ing = ingress(
        "gce",
        json!({
            ALLOW_HTTP: "false",
            PRE_SHARED_CERT: "web-cert,web-cert-2",
            GLOBAL_STATIC_IP_NAME: "web-ip",
        }),
        false,
    );
    let spec = build(&ing, service(json!({}))).expect("spec");
    assert_eq!(spec.scheme, Scheme::InternetFacing);
    let listeners: Vec<(u16, Protocol)> = spec
        .listeners
        .iter()
        .map(|l| (l.port, l.protocol))
        .collect();
    assert_eq!(listeners, [(443, Protocol::Https)]);
    assert_eq!(
        spec.listeners[0].certificates,
        [
            CertificateRef("web-cert".into()),
            CertificateRef("web-cert-2".into())
        ]
    );
    assert_eq!(
        spec.attributes,
        BTreeMap::from([(GLOBAL_STATIC_IP_NAME.to_string(), "web-ip".to_string())])
    );
    let g = &spec.groups[0];
    assert_eq!((g.target_kind, g.port), (TargetKind::PodIp, 8080));
    assert_eq!(g.health_check, gce::neg_health_check_defaults());
    assert!(g.attributes.is_empty());

    // HTTP stays on by default, next to HTTPS; no certificate: HTTP only.
    let both = build(
        &ingress("gce", json!({PRE_SHARED_CERT: "web-cert"}), false),
        service(json!({})),
    )
    .expect("spec");
    let ports: Vec<u16> = both.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, [80, 443]);
    let plain = build(&ingress("gce", json!({}), false), service(json!({}))).expect("spec");
    let ports: Vec<u16> = plain.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, [80]);
    assert!(plain.attributes.is_empty());
}

#[test]
fn gce_internal_is_an_internal_load_balancer() {
    let spec = build(
        &ingress("gce-internal", json!({}), false),
        service(json!({})),
    )
    .expect("spec");
    assert_eq!(spec.scheme, Scheme::Internal);
}

#[test]
fn a_backend_config_shapes_its_ports_group() {
    let svc = service(json!({BACKEND_CONFIG: r#"{"ports": {"http": "web-bc"}}"#}));
    let bc = BackendConfigSpec {
        health_check: Some(HealthCheckConfig {
            request_path: Some("/healthz".into()),
            check_interval_sec: Some(10),
            timeout_sec: Some(3),
            port: Some(8081),
            ..HealthCheckConfig::default()
        }),
        timeout_sec: Some(90),
        connection_draining: Some(ConnectionDrainingConfig {
            draining_timeout_sec: 30,
        }),
    };
    let svc = with_backend_configs(&svc, &BTreeMap::from([("web-bc".to_string(), bc)]));
    let spec = build(&ingress("gce", json!({}), false), svc).expect("spec");
    let g = &spec.groups[0];
    assert_eq!(g.health_check.path.as_deref(), Some("/healthz"));
    assert_eq!(
        (
            g.health_check.interval_seconds,
            g.health_check.timeout_seconds
        ),
        (10, 3)
    );
    assert_eq!(g.health_check.port, HealthCheckPort::Port(8081));
    assert_eq!(
        g.attributes,
        BTreeMap::from([
            (ATTR_DRAINING_TIMEOUT_SEC.to_string(), "30".to_string()),
            (ATTR_TIMEOUT_SEC.to_string(), "90".to_string()),
        ])
    );
}

#[test]
fn a_service_can_turn_negs_off_for_ingress() {
    let spec = build(
        &ingress("gce", json!({}), false),
        service(json!({NEG: r#"{"ingress": false}"#})),
    )
    .expect("spec");
    assert_eq!(
        (spec.groups[0].target_kind, spec.groups[0].port),
        (TargetKind::NodePort, 30080)
    );
}

#[test]
fn bad_input_is_reported_on_the_ingress() {
    let table: Vec<(Ingress, Service, &str)> = vec![
        (
            ingress("gce", json!({ALLOW_HTTP: "maybe"}), false),
            service(json!({})),
            "annotation kubernetes.io/ingress.allow-http: \"maybe\": must be true or false",
        ),
        (
            ingress(
                "gce",
                json!({"alb.ingress.kubernetes.io/scheme": "internal"}),
                false,
            ),
            service(json!({})),
            "annotation alb.ingress.kubernetes.io/scheme: an AWS Load Balancer Controller \
             annotation on an Ingress of ingress-gce's classes",
        ),
        (
            ingress("gce", json!({}), true),
            service(json!({})),
            "spec.tls: certificates from Secrets are not supported by cloudnet yet",
        ),
        (
            ingress("gce", json!({}), false),
            service(json!({BACKEND_CONFIG: r#"{"default": "missing"}"#})),
            "BackendConfig shop/missing does not exist",
        ),
        (
            ingress("gce", json!({}), false),
            service(json!({NEG: "yes"})),
            "NEG annotation is invalid",
        ),
        (
            ingress("gce", json!({}), false),
            with_backend_configs(
                &service(json!({BACKEND_CONFIG: r#"{"default": "slow"}"#})),
                &BTreeMap::from([(
                    "slow".to_string(),
                    BackendConfigSpec {
                        timeout_sec: Some(0),
                        ..BackendConfigSpec::default()
                    },
                )]),
            ),
            "BackendConfig shop/slow: timeoutSec: 0 must be between 1 and 86400",
        ),
    ];
    for (ing, svc, want) in table {
        let errors = build(&ing, svc).expect_err("refused");
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "want {want:?} in {errors:#?}"
        );
    }
}

#[test]
fn a_resolved_copy_the_service_brings_itself_is_dropped() {
    let sneaky = service(json!({
        BACKEND_CONFIG: r#"{"default": "x"}"#,
        gce::RESOLVED_BACKEND_CONFIGS: r#"{"x": {"timeoutSec": 5}}"#,
    }));
    let clean = with_backend_configs(&sneaky, &BTreeMap::new());
    assert!(gce::resolved_backend_configs(&clean).is_empty());
    assert_eq!(gce::backend_config_names(&clean), ["x"]);
    let errors = build(&ingress("gce", json!({}), false), clean).expect_err("refused");
    assert!(
        errors[0].contains("BackendConfig shop/x does not exist"),
        "{errors:?}"
    );
}
