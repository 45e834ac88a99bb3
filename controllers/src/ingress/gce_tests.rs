//! Ingresses of ingress-gce's classes -> specs, and their bad input -> the Ingress's errors.

use std::collections::BTreeMap;

use cloudnet_core::{
    CertificateRef, HealthCheckPort, LoadBalancerSpec, Protocol, Scheme, TargetKind,
};
use cloudnet_crds::{BackendConfigSpec, ConnectionDrainingConfig, HealthCheckConfig};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use super::super::group::{GroupId, MemberError};
use super::super::{IngressSettings, Services, build_group_spec};
use super::{RESOLVED_TLS_SECRETS, TlsSecret, read_tls_secret, tls_secret_names, with_tls_secrets};
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
            CertificateRef::Named("web-cert".into()),
            CertificateRef::Named("web-cert-2".into())
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
            "spec.tls: Secret shop/web-tls does not exist",
        ),
        (
            with_tls_secrets(&ingress("gce", json!({}), true), |_, _| {
                Some(secret(&[("tls.crt", "x")]))
            }),
            service(json!({})),
            "spec.tls: Secret shop/web-tls has no tls.key",
        ),
        (
            ingress("gce", json!({ALLOW_HTTP: "false"}), false),
            service(json!({})),
            "annotation kubernetes.io/ingress.allow-http: \"false\": with HTTP off the load \
             balancer needs HTTPS: set ingress.gcp.kubernetes.io/pre-shared-cert or spec.tls",
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

fn secret(data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("web-tls".into()),
            namespace: Some("shop".into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

#[test]
fn tls_secrets_become_certificate_material_after_the_pre_shared_ones() {
    let ing = ingress("gce", json!({PRE_SHARED_CERT: "web-cert"}), true);
    assert_eq!(tls_secret_names(&ing), ["web-tls"]);
    let crt = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n";
    let asked = std::cell::RefCell::new(Vec::new());
    let resolved = with_tls_secrets(&ing, |ns, name| {
        asked.borrow_mut().push(format!("{ns}/{name}"));
        Some(secret(&[("tls.crt", crt), ("tls.key", key)]))
    });
    assert_eq!(asked.into_inner(), ["shop/web-tls"]);
    let spec = build(&resolved, service(json!({}))).unwrap();
    let https = spec.listeners.iter().find(|l| l.port == 443).unwrap();
    assert_eq!(https.protocol, Protocol::Https);
    assert_eq!(https.certificates.len(), 2);
    assert_eq!(
        https.certificates[0],
        CertificateRef::Named("web-cert".into())
    );
    let m = https.certificates[1].as_material().expect("material");
    assert_eq!(
        (
            m.source.as_str(),
            m.certificate.as_str(),
            m.private_key.as_str()
        ),
        ("shop/web-tls", crt, key)
    );

    // spec.tls alone makes the HTTPS listener, and HTTP may be turned off.
    let ing = ingress("gce", json!({ALLOW_HTTP: "false"}), true);
    let resolved = with_tls_secrets(&ing, |_, _| {
        Some(secret(&[("tls.crt", crt), ("tls.key", key)]))
    });
    let spec = build(&resolved, service(json!({}))).unwrap();
    assert_eq!(spec.listeners.len(), 1);
    assert_eq!(spec.listeners[0].port, 443);

    // A copy the Ingress brings itself is replaced by what the lookup found.
    let mut forged = ingress("gce", json!({}), true);
    forged.metadata.annotations.get_or_insert_default().insert(
        RESOLVED_TLS_SECRETS.into(),
        serde_json::to_string(&BTreeMap::from([(
            "web-tls",
            TlsSecret::Found {
                certificate: crt.into(),
                private_key: key.into(),
            },
        )]))
        .unwrap(),
    );
    let cleaned = with_tls_secrets(&forged, |_, _| None);
    assert!(build(&cleaned, service(json!({}))).is_err());

    // Both keys missing are named together.
    assert_eq!(
        read_tls_secret(&secret(&[])),
        TlsSecret::Unusable {
            reason: "has no tls.crt and no tls.key".into()
        }
    );
}
