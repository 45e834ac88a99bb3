//! Ingresses of AGIC's class -> specs, and their bad input -> the Ingress's errors.

use cloudnet_core::{Action, CertificateRef, LoadBalancerSpec, Protocol, Scheme, TargetKind};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde_json::{Value, json};

use super::super::group::{GroupId, MemberError};
use super::super::{IngressSettings, Services, build_group_spec, is_served};
use super::{CLASS, CONTROLLER, PREFIX};

fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": {"app": name}, "ports": [
            {"name": "http", "port": 80, "targetPort": 8080}
        ]}
    }))
    .expect("service fixture")
}

/// Two hosts: shop.example.com (/api to api, / to web) and admin.example.com (to web).
fn ingress(annotations: Value, tls: bool) -> Ingress {
    let path = |p: &str, svc: &str| {
        json!({"path": p, "pathType": "Prefix",
               "backend": {"service": {"name": svc, "port": {"number": 80}}}})
    };
    let mut spec = json!({"ingressClassName": CLASS, "rules": [
        {"host": "shop.example.com", "http": {"paths": [path("/api", "api"), path("/", "web")]}},
        {"host": "admin.example.com", "http": {"paths": [path("/", "web")]}},
    ]});
    if tls {
        spec["tls"] = json!([{"secretName": "web-tls"}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "annotations": annotations},
        "spec": spec
    }))
    .expect("ingress fixture")
}

fn build(ing: &Ingress) -> Result<LoadBalancerSpec, Vec<String>> {
    let services: Services = [
        (("shop".into(), "web".into()), service("web")),
        (("shop".into(), "api".into()), service("api")),
    ]
    .into();
    let group = GroupId::of(ing).expect("group");
    build_group_spec(&group, &[ing], &services, &IngressSettings::agic("demo"))
        .map_err(|e: Vec<MemberError>| e.into_iter().map(|e| e.message).collect())
}

const VAULT: &str = "https://shop.vault.azure.net/secrets/web";

#[test]
fn an_agic_ingress_becomes_an_application_spec_with_agic_settings() {
    let a = |k: &str| format!("{PREFIX}{k}");
    let ing = ingress(
        json!({
            a("appgw-ssl-certificate"): VAULT,
            a("ssl-redirect"): "true",
            a("use-private-ip"): "true",
            a("backend-protocol"): "https",
            a("health-probe-path"): "/healthz",
            a("backend-path-prefix"): "/v1/",
            a("request-timeout"): "120",
            a("connection-draining"): "true",
            a("connection-draining-timeout"): "45",
            a("cookie-based-affinity"): "T",
        }),
        false,
    );
    let spec = build(&ing).expect("spec");
    assert_eq!(spec.scheme, Scheme::Internal);
    assert_eq!(
        spec.attributes
            .get(&a("use-private-ip"))
            .map(String::as_str),
        Some("true")
    );
    let listeners: Vec<(u16, Protocol)> = spec
        .listeners
        .iter()
        .map(|l| (l.port, l.protocol))
        .collect();
    assert_eq!(listeners, [(80, Protocol::Http), (443, Protocol::Https)]);
    // ssl-redirect: 80 redirects to 443; 443 has the rules and the Key Vault certificate.
    assert!(matches!(
        &spec.listeners[0].default_action,
        Action::Redirect(r) if r.port == Some(443) && r.status_code == 301
    ));
    assert_eq!(
        spec.listeners[1].certificates,
        [CertificateRef::Named(VAULT.into())]
    );
    let hosts: Vec<&str> = spec.listeners[1]
        .rules
        .iter()
        .map(|r| r.hosts[0].as_str())
        .collect();
    assert_eq!(
        hosts,
        ["shop.example.com", "shop.example.com", "admin.example.com"]
    );
    assert_eq!(spec.groups.len(), 2);
    for g in &spec.groups {
        assert_eq!(g.target_kind, TargetKind::PodIp);
        assert_eq!(g.port, 8080);
        assert_eq!(g.protocol, Protocol::Https);
        assert_eq!(g.health_check.path.as_deref(), Some("/healthz"));
        assert_eq!(g.health_check.success_codes.as_deref(), Some("200-399"));
        let attr = |k: &str| g.attributes.get(&a(k)).map(String::as_str);
        assert_eq!(attr("backend-path-prefix"), Some("/v1/"));
        assert_eq!(attr("request-timeout"), Some("120"));
        assert_eq!(attr("connection-draining"), Some("true"));
        assert_eq!(attr("connection-draining-timeout"), Some("45"));
        assert_eq!(attr("cookie-based-affinity"), Some("true"));
    }
}

#[test]
fn a_plain_agic_ingress_listens_on_80_internet_facing_with_agic_probes() {
    let spec = build(&ingress(json!({}), false)).expect("spec");
    assert_eq!(spec.scheme, Scheme::InternetFacing);
    assert_eq!(spec.listeners.len(), 1);
    assert_eq!(spec.listeners[0].port, 80);
    let hc = &spec.groups[0].health_check;
    assert_eq!(
        (
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.unhealthy_threshold
        ),
        (30, 30, 3)
    );
    assert!(spec.groups[0].attributes.is_empty());
}

#[test]
fn bad_agic_annotations_are_the_ingresses_errors_naming_the_key() {
    let a = |k: &str| format!("{PREFIX}{k}");
    let cases: Vec<(&str, Value, bool, &str)> = vec![
        (
            "boolean",
            json!({a("use-private-ip"): "yes"}),
            false,
            "use-private-ip",
        ),
        (
            "protocol",
            json!({a("backend-protocol"): "grpc"}),
            false,
            "backend-protocol",
        ),
        (
            "timeout",
            json!({a("request-timeout"): "0"}),
            false,
            "request-timeout",
        ),
        (
            "draining timeout",
            json!({a("connection-draining-timeout"): "9999"}),
            false,
            "connection-draining-timeout",
        ),
        (
            "probe path",
            json!({a("health-probe-path"): "healthz"}),
            false,
            "health-probe-path",
        ),
        (
            "path prefix",
            json!({a("backend-path-prefix"): "v1"}),
            false,
            "backend-path-prefix",
        ),
        (
            "redirect without TLS",
            json!({a("ssl-redirect"): "true"}),
            false,
            "ssl-redirect",
        ),
        (
            "certificate not in Key Vault",
            json!({a("appgw-ssl-certificate"): "my-cert"}),
            false,
            "appgw-ssl-certificate",
        ),
        ("TLS from a Secret", json!({}), true, "spec.tls"),
        (
            "not supported yet",
            json!({a("rewrite-rule-set"): "x"}),
            false,
            "not supported by cloudnet yet",
        ),
        (
            "misspelt",
            json!({a("ssl-redirct"): "true"}),
            false,
            "did you mean",
        ),
        (
            "an AWS annotation",
            json!({"alb.ingress.kubernetes.io/scheme": "internal"}),
            false,
            "AWS Load Balancer Controller annotation",
        ),
    ];
    for (what, annotations, tls, says) in cases {
        let errors = build(&ingress(annotations, tls)).expect_err(what);
        assert!(
            errors.iter().any(|e| e.contains(says)),
            "{what}: {errors:?}"
        );
        // Reported once, not once per backend.
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
    }
}

#[test]
fn agic_classes_are_served_by_name_and_object() {
    let s = IngressSettings::agic("demo");
    let with_class = |name: &str| -> Ingress {
        serde_json::from_value(json!({"metadata": {"name": "w", "namespace": "s"},
            "spec": {"ingressClassName": name}}))
        .unwrap()
    };
    let class = |name: &str, controller: &str| -> IngressClass {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"controller": controller}}),
        )
        .unwrap()
    };
    assert!(is_served(&with_class(CLASS), &[], &s));
    assert!(is_served(
        &with_class("appgw"),
        &[class("appgw", CONTROLLER)],
        &s
    ));
    assert!(!is_served(&with_class("alb"), &[], &s));
    assert!(!is_served(&with_class("gce"), &[], &s));
    assert!(!is_served(
        &with_class("nginx"),
        &[class("nginx", "k8s.io/ingress-nginx")],
        &s
    ));
}
