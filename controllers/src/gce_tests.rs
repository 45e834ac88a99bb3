//! Table tests of ingress-gce's annotations and the BackendConfig subset.

use std::collections::BTreeMap;

use cloudnet_core::{HealthCheckPort, Protocol, Scheme};
use cloudnet_crds::{BackendConfigSpec, ConnectionDrainingConfig, HealthCheckConfig};
use k8s_openapi::api::core::v1::ServicePort;

use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The keys of every error, in order.
fn keys(errors: &[AnnotationError]) -> Vec<&str> {
    errors.iter().map(|e| e.key.as_str()).collect()
}

/// A table row's annotations, as (key, value) pairs.
type Annotations<'a> = &'a [(&'a str, &'a str)];

#[test]
fn ingress_annotations_read_as_ingress_gce_reads_them() {
    let ok = |allow_http, certs: &[&str], ip: Option<&str>| GceIngress {
        allow_http,
        certificates: certs.iter().map(|c| c.to_string()).collect(),
        static_ip: ip.map(str::to_string),
    };
    let table: Vec<(&[(&str, &str)], GceIngress)> = vec![
        (&[], ok(true, &[], None)),
        (&[(ALLOW_HTTP, "true")], ok(true, &[], None)),
        (&[(ALLOW_HTTP, "T")], ok(true, &[], None)),
        (
            &[(ALLOW_HTTP, "false"), (PRE_SHARED_CERT, "web-cert")],
            ok(false, &["web-cert"], None),
        ),
        (
            &[(ALLOW_HTTP, "0"), (PRE_SHARED_CERT, " a-cert , ,b-cert ")],
            ok(false, &["a-cert", "b-cert"], None),
        ),
        (
            &[(GLOBAL_STATIC_IP_NAME, "web-ip")],
            ok(true, &[], Some("web-ip")),
        ),
        // Other keys under the same prefixes are not ours to judge.
        (
            &[
                ("kubernetes.io/ingress.class", "gce"),
                ("cloud.google.com/other", "x"),
            ],
            ok(true, &[], None),
        ),
    ];
    for (pairs, want) in table {
        assert_eq!(read_ingress(&map(pairs)), Ok(want), "{pairs:?}");
    }
}

#[test]
fn bad_ingress_annotations_are_each_reported_with_their_key() {
    let table: Vec<(Annotations, Vec<&str>, &str)> = vec![
        (
            &[(ALLOW_HTTP, "nope")],
            vec![ALLOW_HTTP],
            "must be true or false",
        ),
        (
            &[(PRE_SHARED_CERT, " , ")],
            vec![PRE_SHARED_CERT],
            "names no certificate",
        ),
        (
            &[(PRE_SHARED_CERT, "Web_Cert")],
            vec![PRE_SHARED_CERT],
            "is not an SSL certificate name",
        ),
        (
            &[(GLOBAL_STATIC_IP_NAME, "1st-ip")],
            vec![GLOBAL_STATIC_IP_NAME],
            "is not an address name",
        ),
        (
            &[(REGIONAL_STATIC_IP_NAME, "r-ip")],
            vec![REGIONAL_STATIC_IP_NAME],
            "not supported by cloudnet yet",
        ),
        (
            &[(ALLOW_HTTP, "yes"), (GLOBAL_STATIC_IP_NAME, "-x")],
            vec![ALLOW_HTTP, GLOBAL_STATIC_IP_NAME],
            "",
        ),
    ];
    for (pairs, want_keys, text) in table {
        let errors = read_ingress(&map(pairs)).expect_err("refused");
        assert_eq!(keys(&errors), want_keys, "{pairs:?}");
        assert!(
            errors[0].to_string().contains(text),
            "{pairs:?}: {}",
            errors[0]
        );
    }
}

#[test]
fn class_names_mean_ingress_gces_schemes() {
    assert_eq!(class_scheme("gce"), Some(Scheme::InternetFacing));
    assert_eq!(class_scheme("gce-internal"), Some(Scheme::Internal));
    assert_eq!(class_scheme("alb"), None);
    assert_eq!(class_scheme("gce-multi-cluster"), None);
}

#[test]
fn gce_names_follow_compute_engines_rule() {
    for good in ["a", "web-ip", "a1", &"a".repeat(63)] {
        assert!(is_gce_name(good), "{good}");
    }
    for bad in ["", "1a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
        assert!(!is_gce_name(bad), "{bad}");
    }
}

#[test]
fn service_annotations_read_as_ingress_gce_reads_them() {
    let refs = |default: Option<&str>, ports: &[(&str, &str)]| BackendConfigRefs {
        default: default.map(str::to_string),
        ports: map(ports),
    };
    let table: Vec<(&[(&str, &str)], GceService)> = vec![
        (&[], GceService::default()),
        (
            &[(NEG, r#"{"ingress": true}"#)],
            GceService {
                neg: Some(NegAnnotation {
                    ingress: true,
                    exposed_ports: BTreeMap::new(),
                }),
                ..GceService::default()
            },
        ),
        (
            &[(NEG, r#"{"exposed_ports": {"80": {}}}"#)],
            GceService {
                neg: Some(NegAnnotation {
                    ingress: false,
                    exposed_ports: [(80, serde_json::json!({}))].into(),
                }),
                ..GceService::default()
            },
        ),
        (
            &[(BACKEND_CONFIG, r#"{"default": "bc"}"#)],
            GceService {
                backend_configs: Some(refs(Some("bc"), &[])),
                ..GceService::default()
            },
        ),
        // The GA key wins over the beta one; the beta one alone is read.
        (
            &[
                (BACKEND_CONFIG, r#"{"ports": {"http": "a"}}"#),
                (BETA_BACKEND_CONFIG, r#"{"default": "b"}"#),
            ],
            GceService {
                backend_configs: Some(refs(None, &[("http", "a")])),
                ..GceService::default()
            },
        ),
        (
            &[(BETA_BACKEND_CONFIG, r#"{"ports": {"8080": "b"}}"#)],
            GceService {
                backend_configs: Some(refs(None, &[("8080", "b")])),
                ..GceService::default()
            },
        ),
        (
            &[(LOAD_BALANCER_TYPE, "Internal")],
            GceService {
                scheme: Some(Scheme::Internal),
                ..GceService::default()
            },
        ),
        (
            &[(LEGACY_LOAD_BALANCER_TYPE, "Internal")],
            GceService {
                scheme: Some(Scheme::Internal),
                ..GceService::default()
            },
        ),
        (
            &[(LOAD_BALANCER_TYPE, "External")],
            GceService {
                scheme: Some(Scheme::InternetFacing),
                ..GceService::default()
            },
        ),
    ];
    for (pairs, want) in table {
        assert_eq!(read_service(&map(pairs)), Ok(want), "{pairs:?}");
    }
}

#[test]
fn bad_service_annotations_carry_ingress_gces_wording() {
    let table: Vec<(Annotations, &str, &str)> = vec![
        (
            &[(NEG, "{ingress: true}")],
            NEG,
            "NEG annotation is invalid",
        ),
        (
            &[(NEG, r#"{"ingress": "yes"}"#)],
            NEG,
            "NEG annotation is invalid",
        ),
        (
            &[(BACKEND_CONFIG, "bc")],
            BACKEND_CONFIG,
            "BackendConfig annotation is invalid json",
        ),
        (
            &[(BACKEND_CONFIG, r#"{"default": ""}"#)],
            BACKEND_CONFIG,
            "no BackendConfig's found in annotation",
        ),
        (
            &[(BETA_BACKEND_CONFIG, "{}")],
            BETA_BACKEND_CONFIG,
            "no BackendConfig's found in annotation",
        ),
        (
            &[(LOAD_BALANCER_TYPE, "internal")],
            LOAD_BALANCER_TYPE,
            "must be Internal or External",
        ),
    ];
    for (pairs, key, text) in table {
        let errors = read_service(&map(pairs)).expect_err("refused");
        assert_eq!(keys(&errors), [key], "{pairs:?}");
        assert!(errors[0].to_string().contains(text), "{}", errors[0]);
    }
}

#[test]
fn a_port_finds_its_backend_config_by_name_then_number_then_default() {
    let refs = BackendConfigRefs {
        default: Some("d".into()),
        ports: map(&[("http", "by-name"), ("8080", "by-number")]),
    };
    let port = |name: Option<&str>, number: i32| ServicePort {
        name: name.map(str::to_string),
        port: number,
        ..ServicePort::default()
    };
    assert_eq!(refs.for_port(&port(Some("http"), 8080)), Some("by-name"));
    assert_eq!(refs.for_port(&port(Some("web"), 8080)), Some("by-number"));
    assert_eq!(refs.for_port(&port(None, 80)), Some("d"));
    let no_default = BackendConfigRefs {
        default: None,
        ports: map(&[("http", "a")]),
    };
    assert_eq!(no_default.for_port(&port(None, 80)), None);
}

#[test]
fn a_backend_config_sets_the_health_check_timeout_and_draining() {
    let spec = BackendConfigSpec {
        health_check: Some(HealthCheckConfig {
            check_interval_sec: Some(20),
            timeout_sec: Some(4),
            healthy_threshold: Some(3),
            unhealthy_threshold: Some(5),
            r#type: Some("HTTPS".into()),
            port: Some(8443),
            request_path: Some("/healthz".into()),
        }),
        timeout_sec: Some(120),
        connection_draining: Some(ConnectionDrainingConfig {
            draining_timeout_sec: 60,
        }),
    };
    let mut hc = neg_health_check_defaults();
    let mut attributes = BTreeMap::new();
    apply_backend_config(&spec, &mut hc, &mut attributes).expect("valid");
    assert_eq!(
        (hc.interval_seconds, hc.timeout_seconds),
        (20, 4),
        "interval, timeout"
    );
    assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (3, 5));
    assert_eq!(hc.protocol, Protocol::Https);
    assert_eq!(hc.port, HealthCheckPort::Port(8443));
    assert_eq!(hc.path.as_deref(), Some("/healthz"));
    assert_eq!(
        attributes,
        map(&[(ATTR_TIMEOUT_SEC, "120"), (ATTR_DRAINING_TIMEOUT_SEC, "60")])
    );

    // Unset fields keep ingress-gce's NEG defaults.
    let mut hc = neg_health_check_defaults();
    let mut attributes = BTreeMap::new();
    apply_backend_config(&BackendConfigSpec::default(), &mut hc, &mut attributes).expect("valid");
    assert_eq!(hc, neg_health_check_defaults());
    assert!(attributes.is_empty());
    assert_eq!(
        (
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.healthy_threshold,
            hc.unhealthy_threshold
        ),
        (15, 15, 1, 2)
    );
}

#[test]
fn backend_config_values_out_of_range_are_each_named() {
    let spec = BackendConfigSpec {
        health_check: Some(HealthCheckConfig {
            check_interval_sec: Some(0),
            timeout_sec: Some(301),
            healthy_threshold: Some(11),
            unhealthy_threshold: Some(-1),
            r#type: Some("HTTP2".into()),
            port: Some(70000),
            request_path: Some("healthz".into()),
        }),
        timeout_sec: Some(0),
        connection_draining: Some(ConnectionDrainingConfig {
            draining_timeout_sec: 3601,
        }),
    };
    let mut hc = neg_health_check_defaults();
    let mut attributes = BTreeMap::new();
    let errors = apply_backend_config(&spec, &mut hc, &mut attributes).expect_err("refused");
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "healthCheck.checkIntervalSec",
            "healthCheck.timeoutSec",
            "healthCheck.healthyThreshold",
            "healthCheck.unhealthyThreshold",
            "healthCheck.port",
            "healthCheck.requestPath",
            "healthCheck.type",
            "timeoutSec",
            "connectionDraining.drainingTimeoutSec",
        ]
    );
    assert!(
        errors[0].contains("0 must be between 1 and 300"),
        "{errors:?}"
    );
    assert!(attributes.is_empty());
}
