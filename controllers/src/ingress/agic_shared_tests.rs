//! Ingresses of AGIC's class merged into one shared Application Gateway: one group named
//! after the gateway, AGIC's order for host and path claims, warnings for the losers.

use cloudnet_core::{Action, OwnerKind};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::json;

use super::super::group::GroupId;
use super::super::{IngressSettings, Services, build_group};
use super::{CLASS, GATEWAY_NAME};

fn service(ns: &str, name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [
            {"name": "http", "port": 80, "targetPort": 8080}
        ]}
    }))
    .expect("service fixture")
}

/// An Ingress of AGIC's class routing `host` `paths` (Prefix) to Services of its namespace.
fn ingress(ns: &str, name: &str, host: &str, paths: &[(&str, &str)]) -> Ingress {
    let paths: Vec<_> = paths
        .iter()
        .map(|(p, svc)| {
            json!({"path": p, "pathType": "Prefix",
                   "backend": {"service": {"name": svc, "port": {"number": 80}}}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ingressClassName": CLASS, "rules": [{"host": host, "http": {"paths": paths}}]}
    }))
    .expect("ingress fixture")
}

fn services() -> Services {
    let mut s = Services::new();
    for (ns, name) in [
        ("shop", "web"),
        ("shop", "api"),
        ("blog", "web"),
        ("blog", "api"),
    ] {
        s.insert((ns.into(), name.into()), service(ns, name));
    }
    s
}

fn shared() -> IngressSettings {
    IngressSettings::agic_shared("demo", "appgw-prod").expect("settings")
}

/// `(hosts, paths, backend)` of every rule of port 80, in priority order.
fn routes(spec: &cloudnet_core::LoadBalancerSpec) -> Vec<(String, String, String)> {
    let l = spec
        .listeners
        .iter()
        .find(|l| l.port == 80)
        .expect("port 80");
    l.rules
        .iter()
        .flat_map(|r| {
            let to = match &r.action {
                Action::Forward { groups } => groups[0].group.clone(),
                other => format!("{other:?}"),
            };
            r.paths
                .iter()
                .map(move |p| (r.hosts.join(","), format!("{p:?}"), to.clone()))
        })
        .collect()
}

#[test]
fn every_ingress_of_the_class_is_in_the_gateways_group() {
    let s = shared();
    let a = ingress("shop", "a", "shop.example.com", &[("/", "web")]);
    let b = ingress("blog", "b", "blog.example.com", &[("/", "web")]);
    let group = GroupId::Explicit("appgw-prod".into());
    assert_eq!(GroupId::in_settings(&a, &s).unwrap(), group);
    assert_eq!(GroupId::in_settings(&b, &s).unwrap(), group);
    // Without the setting each Ingress is its own group, as before.
    let own = IngressSettings::agic("demo");
    assert_eq!(
        GroupId::in_settings(&a, &own).unwrap(),
        GroupId::of(&a).unwrap()
    );
    assert_ne!(GroupId::in_settings(&a, &own).unwrap(), group);

    let built = build_group(&group, &[&a, &b], &services(), &s).expect("spec");
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    let spec = built.spec;
    assert_eq!(
        spec.attributes.get(GATEWAY_NAME).map(String::as_str),
        Some("appgw-prod")
    );
    assert_eq!(spec.owner.kind, OwnerKind::IngressGroup);
    assert_eq!(spec.owner.name, "appgw-prod");
    let hosts: Vec<String> = routes(&spec).into_iter().map(|r| r.0).collect();
    assert_eq!(hosts, ["blog.example.com", "shop.example.com"]);
    let keys: Vec<&str> = spec.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["blog/web:80", "shop/web:80"]);
}

#[test]
fn the_first_ingress_by_namespace_and_name_keeps_a_host_and_path() {
    let s = shared();
    let group = GroupId::Explicit("appgw-prod".into());
    // shop/a and shop/b both route shop.example.com/api; a comes first.
    let a = ingress("shop", "a", "shop.example.com", &[("/api", "api")]);
    let b = ingress(
        "shop",
        "b",
        "shop.example.com",
        &[("/api", "web"), ("/docs", "web")],
    );
    for members in [[&a, &b], [&b, &a]] {
        let built = build_group(&group, &members, &services(), &s).expect("spec");
        assert_eq!(
            routes(&built.spec),
            [
                (
                    "shop.example.com".to_string(),
                    "Prefix(\"/api\")".to_string(),
                    "shop/api:80".to_string()
                ),
                (
                    "shop.example.com".to_string(),
                    "Prefix(\"/docs\")".to_string(),
                    "shop/web:80".to_string()
                ),
            ]
        );
        let warnings: Vec<(String, String)> = built
            .warnings
            .iter()
            .map(|w| (w.ingress.clone(), w.message.clone()))
            .collect();
        assert_eq!(
            warnings,
            [(
                "shop/b".to_string(),
                "host shop.example.com path /api: already routed to shop/api:80 by shop/a, \
                 which comes first (AGIC's order: namespace/name); this Ingress's rule to \
                 shop/web:80 is not applied"
                    .to_string()
            )]
        );
    }
}

#[test]
fn the_same_host_and_path_to_the_same_backend_is_kept_once_without_a_warning() {
    let s = shared();
    let group = GroupId::Explicit("appgw-prod".into());
    let a = ingress("shop", "a", "shop.example.com", &[("/api", "api")]);
    let b = ingress("shop", "b", "shop.example.com", &[("/api/", "api")]);
    let built = build_group(&group, &[&a, &b], &services(), &s).expect("spec");
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    assert_eq!(routes(&built.spec).len(), 1);
    // Other hosts are not claims on the same path.
    let c = ingress("blog", "c", "blog.example.com", &[("/api", "api")]);
    let built = build_group(&group, &[&a, &c], &services(), &s).expect("spec");
    assert!(built.warnings.is_empty());
    assert_eq!(routes(&built.spec).len(), 2);
}

#[test]
fn a_gateway_name_that_cannot_be_a_group_is_refused() {
    for bad in ["", "-x", "x-", "a b", &"a".repeat(64)] {
        let e = IngressSettings::agic_shared("demo", bad).unwrap_err();
        assert!(e.contains("1 to 63 letters"), "{bad:?}: {e}");
    }
    assert!(IngressSettings::agic_shared("demo", "My_AppGw.1").is_ok());
    // Outside AGIC's dialect the name is not read.
    let mut aws = IngressSettings::new("demo");
    aws.application_gateway = Some("x".into());
    assert_eq!(aws.shared_gateway(), None);
}
