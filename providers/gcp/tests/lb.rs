//! The load balancers through the real client library against the mock cloud: L7 and L4
//! stacks created with the fewest calls, a second ensure without any mutating call, 1,200
//! NEG endpoints in three batches, health read back, foreign resources left alone, and
//! nothing left after delete.

use std::net::{IpAddr, Ipv4Addr};

use cloudnet_core::{Action, ErrorKind, HealthState, LoadBalancers, Scheme, Target};
use cloudnet_gcp::GcpLoadBalancers;
use cloudnet_mockcloud::Handle;
use serde_json::json;

mod common;
#[path = "support/lb_specs.rs"]
mod lb_specs;

use common::{mock_calls as mock_count, mock_post, start_with_pod_ranges as start};
use lb_specs::*;

async fn load_balancers(h: &Handle, cluster: &str) -> GcpLoadBalancers {
    let p = common::provider(h, cluster).await;
    GcpLoadBalancers::new(p).await.expect("clients build")
}

/// Resources (by path) whose name starts with `k8s-`, NEG endpoints included.
fn ours_in_mock(h: &Handle) -> Vec<String> {
    h.with_cloud(|c| {
        c.gcp
            .resources
            .keys()
            .filter(|k| k.rsplit('/').next().is_some_and(|n| n.starts_with("k8s-")))
            .cloned()
            .collect()
    })
}

fn cert(h: &Handle) {
    mock_post(
        h,
        &["global", "sslCertificates"],
        cloudnet_mockcloud::gcp::self_managed_certificate("shop-cert").expect("a key pair"),
    );
}

fn pod(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 4, 0, 2)) + i))
}

#[tokio::test]
async fn l7_stack_is_created_with_the_fewest_calls_synced_in_batches_and_deleted_whole() {
    let h = start().await;
    cert(&h);
    let lb = load_balancers(&h, "prod").await;
    let counts = lb.provider().call_counts().clone();
    let spec = ingress("prod", "web");

    let status = lb.ensure(&spec).await.expect("ensure creates the stack");
    // One read per kind, 11 inserts (2 health checks, 2 backend services, 2 URL maps,
    // 2 proxies, 2 forwarding rules, the firewall rule), the first rule read back for its
    // address; every operation was done in its answer (no poll).
    assert_eq!(counts.mutating(), 11, "{:?}", counts.snapshot());
    assert_eq!(counts.total(), L7_CREATE, "{:?}", counts.snapshot());
    assert_eq!(mock_count(&h, "globalOperations.get"), 0);
    assert_eq!(
        status.ips.len(),
        1,
        "both rules share one address: {status:?}"
    );
    assert_eq!(status.groups.len(), 2);
    assert!(
        status.id.0.starts_with("global/k8s-shop-web-"),
        "{}",
        status.id.0
    );

    // Unchanged: the same reads and not one mutating call.
    let before = (counts.mutating(), counts.total());
    let again = lb.ensure(&spec).await.expect("second ensure");
    assert_eq!(again, status);
    assert_eq!(counts.mutating(), before.0, "{:?}", counts.snapshot());
    assert_eq!(counts.total(), before.1 + L7_READS);

    // Someone points the HTTP listener's URL map elsewhere: ensure reads it under its
    // fingerprint and writes it back whole, one mutating call.
    let planned = lb.plan(&spec).await.expect("plan").stack;
    let um = planned.url_maps[0].name.clone();
    let api = planned.service_of("shop/api:80").unwrap().name.clone();
    common::repoint_url_map(&h, &um, &api);
    let before = (counts.mutating(), counts.total());
    lb.ensure(&spec).await.expect("ensure repairs the drift");
    assert_eq!(counts.mutating() - before.0, 1, "{:?}", counts.snapshot());
    assert_eq!(counts.of("urlMaps.update"), 1);
    assert_eq!(
        counts.total() - before.1,
        L7_READS + 2,
        "reads, the map's get, its update"
    );
    assert!(lb.plan(&spec).await.unwrap().changes.is_empty());

    // 1,200 pods on node 1 (us-central1-a): the NEG made there, added to the service, and
    // the endpoints attached in three calls (500 + 500 + 200).
    let targets: Vec<Target> = (0..1200)
        .map(|i| Target {
            ip: pod(i),
            port: 8080,
        })
        .collect();
    let before = (counts.mutating(), counts.total());
    let sync = lb
        .sync_targets(&status.id, "shop/web:80", &targets)
        .await
        .expect("sync");
    assert_eq!(sync.registered, 1200);
    assert_eq!(counts.of("networkEndpointGroups.attachNetworkEndpoints"), 3);
    assert_eq!(
        mock_count(&h, "networkEndpointGroups.attachNetworkEndpoints"),
        3
    );
    // NEG insert, service patch, three attaches.
    assert_eq!(counts.mutating() - before.0, 5, "{:?}", counts.snapshot());
    // Instances listed once, the service read for its fingerprint, health read after.
    assert_eq!(counts.total() - before.1, 8, "{:?}", counts.snapshot());
    assert_eq!(sync.health.len(), 1200);
    assert!(sync.health.iter().all(|t| t.state == HealthState::Healthy));

    // The same targets again: one health read, nothing written.
    let before = counts.mutating();
    let same = lb
        .sync_targets(&status.id, "shop/web:80", &targets)
        .await
        .unwrap();
    assert_eq!((same.registered, same.deregistered), (0, 0));
    assert_eq!(counts.mutating(), before);

    // 200 pods go, one on node 2 comes.
    let mut fewer: Vec<Target> = targets[..1000].to_vec();
    fewer.push(Target {
        ip: "10.4.8.5".parse().unwrap(),
        port: 8080,
    });
    let s = lb
        .sync_targets(&status.id, "shop/web:80", &fewer)
        .await
        .unwrap();
    assert_eq!((s.registered, s.deregistered), (1, 200));
    let web = status
        .groups
        .iter()
        .find(|g| g.key == "shop/web:80")
        .unwrap();
    let health = lb.target_health(&web.id).await.expect("health");
    assert_eq!(health.len(), 1001);

    // A pod address no node has is a clear error.
    let e = lb
        .sync_targets(
            &status.id,
            "shop/web:80",
            &[Target {
                ip: "10.200.0.1".parse().unwrap(),
                port: 1,
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("10.200.0.1"), "{e}");

    // Listed as ours, then deleted whole: nothing of ours is left in the cloud.
    let owned = lb.list_owned().await.unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].id, status.id);
    assert_eq!(owned[0].owner, spec.owner);
    assert!(!ours_in_mock(&h).is_empty());
    lb.delete(&status.id).await.expect("delete");
    assert_eq!(ours_in_mock(&h), Vec::<String>::new());
    assert!(h.with_cloud(|c| c.gcp.neg_endpoints.is_empty()));
    // Deleting again finds nothing and is fine.
    lb.delete(&status.id).await.expect("delete again");
    assert!(lb.list_owned().await.unwrap().is_empty());
}

#[tokio::test]
async fn l4_stacks_external_and_internal_pass_through_to_the_nodes() {
    let h = start().await;
    let lb = load_balancers(&h, "prod").await;
    let counts = lb.provider().call_counts().clone();
    for scheme in [Scheme::InternetFacing, Scheme::Internal] {
        let name = if scheme == Scheme::Internal {
            "dns-int"
        } else {
            "dns"
        };
        let spec = service("prod", name, scheme);
        let before = (counts.mutating(), counts.total());
        let status = lb.ensure(&spec).await.expect("ensure L4");
        assert!(
            status.id.0.starts_with("regions/us-central1/"),
            "{}",
            status.id.0
        );
        // Per protocol: health check, backend service, forwarding rule; the health-check
        // and the traffic firewall rules.
        assert_eq!(counts.mutating() - before.0, 8, "{:?}", counts.snapshot());
        // The internal one looks up the network's subnetwork once.
        let lookup = u64::from(scheme == Scheme::Internal);
        assert_eq!(
            counts.total() - before.1,
            L4_CREATE + lookup,
            "{:?}",
            counts.snapshot()
        );
        assert_eq!(status.ips.len(), 1, "{status:?}");
        let ip = status.ips[0].to_string();
        if scheme == Scheme::Internal {
            assert!(
                ip.starts_with("10.0."),
                "internal address from the subnetwork: {ip}"
            );
        }
        let before = counts.mutating();
        assert_eq!(lb.ensure(&spec).await.unwrap(), status);
        assert_eq!(counts.mutating(), before, "second ensure changes nothing");

        // Node-port targets: both nodes, in their zones' GCE_VM_IP NEGs.
        let nodes: Vec<Target> = ["10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|ip| Target {
                ip: ip.parse().unwrap(),
                port: 30054,
            })
            .collect();
        let key = format!("shop/{name}:53t");
        let s = lb
            .sync_targets(&status.id, &key, &nodes)
            .await
            .expect("sync nodes");
        assert_eq!(s.registered, 2, "{s:?}");
        assert!(
            s.health.iter().all(|t| t.state == HealthState::Healthy),
            "{s:?}"
        );
        lb.delete(&status.id).await.expect("delete");
    }
    assert_eq!(ours_in_mock(&h), Vec::<String>::new());
}

#[tokio::test]
async fn foreign_resources_under_our_names_are_conflicts_and_left_alone() {
    let h = start().await;
    cert(&h);
    let lb = load_balancers(&h, "prod").await;
    let spec = ingress("prod", "web");
    let planned = lb.plan(&spec).await.expect("plan").stack;
    // Someone made a health check under the name of a group's.
    let taken = planned.health_checks[0].name.clone();
    mock_post(
        &h,
        &["global", "healthChecks"],
        json!({"name": taken, "type": "TCP", "description": "made by hand"}),
    );
    let counts = lb.provider().call_counts().clone();
    let e = lb.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains(&taken), "{e}");
    assert_eq!(counts.mutating(), 0, "nothing is written");
    let hc = h.with_cloud(|c| {
        c.gcp
            .resources
            .get(&format!("global/healthChecks/{taken}"))
            .cloned()
    });
    assert_eq!(hc.unwrap()["description"], "made by hand");

    // Another cluster's stack of the same object is not ours to list or delete.
    let other = load_balancers(&h, "staging").await;
    let mut s = ingress("staging", "web");
    s.listeners.truncate(1);
    let st = other.ensure(&s).await.expect("the other cluster's stack");
    assert!(lb.list_owned().await.unwrap().is_empty());
    lb.delete(&st.id).await.expect("nothing of ours to delete");
    assert_eq!(other.list_owned().await.unwrap().len(), 1);

    // What GCLB cannot do is refused before any call.
    let mut bad = ingress("prod", "web");
    bad.listeners[0].default_action = Action::FixedResponse(cloudnet_core::FixedResponse {
        status_code: 404,
        content_type: None,
        body: None,
    });
    let before = counts.total();
    let e = lb.ensure(&bad).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("fixed-response"), "{e}");
    assert_eq!(counts.total(), before);
}

#[tokio::test]
async fn a_named_static_ip_is_used_and_a_missing_one_is_a_clear_error() {
    let h = start().await;
    let lb = load_balancers(&h, "prod").await;
    let mut spec = ingress("prod", "web");
    spec.listeners.truncate(1);
    spec.attributes.insert(
        "kubernetes.io/ingress.global-static-ip-name".into(),
        "shop-ip".into(),
    );
    let e = lb.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("shop-ip"), "{e}");
    mock_post(&h, &["global", "addresses"], json!({"name": "shop-ip"}));
    let address = h.with_cloud(|c| {
        c.gcp.resources["global/addresses/shop-ip"]["address"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let status = lb.ensure(&spec).await.expect("ensure with the static IP");
    assert_eq!(status.ips, vec![address.parse::<IpAddr>().unwrap()]);
    lb.delete(&status.id).await.unwrap();
    assert!(
        h.with_cloud(|c| c.gcp.resources.contains_key("global/addresses/shop-ip")),
        "the user's address stays"
    );
}

/// The backend services of the mock whose name starts with `k8s-`: (timeoutSec,
/// connectionDraining.drainingTimeoutSec) of each.
fn service_timeouts(h: &Handle) -> Vec<(Option<i64>, Option<i64>)> {
    h.with_cloud(|c| {
        c.gcp
            .resources
            .iter()
            .filter(|(k, _)| k.starts_with("global/backendServices/k8s-"))
            .map(|(_, v)| {
                (
                    v["timeoutSec"].as_i64(),
                    v["connectionDraining"]["drainingTimeoutSec"].as_i64(),
                )
            })
            .collect()
    })
}

#[tokio::test]
async fn a_groups_timeout_and_connection_draining_reach_its_backend_service() {
    let h = start().await;
    let lb = load_balancers(&h, "prod").await;
    let counts = lb.provider().call_counts().clone();
    let mut spec = ingress("prod", "web");
    spec.listeners.truncate(1);
    let set = |spec: &mut cloudnet_core::LoadBalancerSpec, key: &str, value: &str| {
        for g in &mut spec.groups {
            g.attributes.insert(key.into(), value.into());
        }
    };
    set(&mut spec, "timeoutSec", "90");
    set(&mut spec, "connectionDraining.drainingTimeoutSec", "30");
    let status = lb.ensure(&spec).await.expect("ensure creates the stack");
    assert_eq!(service_timeouts(&h), [(Some(90), Some(30)); 2]);

    // Unchanged: not one mutating call.
    let before = counts.mutating();
    lb.ensure(&spec).await.expect("second ensure");
    assert_eq!(counts.mutating(), before, "{:?}", counts.snapshot());

    // A new timeout: one patch per backend service, draining kept.
    set(&mut spec, "timeoutSec", "120");
    let before = counts.mutating();
    lb.ensure(&spec).await.expect("ensure patches");
    assert_eq!(counts.mutating() - before, 2, "{:?}", counts.snapshot());
    assert_eq!(service_timeouts(&h), [(Some(120), Some(30)); 2]);
    let before = counts.mutating();
    lb.ensure(&spec).await.expect("third ensure");
    assert_eq!(counts.mutating(), before, "{:?}", counts.snapshot());

    // Out of the cloud's range: a clear error, nothing written.
    set(&mut spec, "connectionDraining.drainingTimeoutSec", "3601");
    let e = lb.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("connectionDraining.drainingTimeoutSec = \"3601\""),
        "{e}"
    );
    assert_eq!(counts.mutating(), before);
    lb.delete(&status.id).await.expect("delete");
    assert!(ours_in_mock(&h).is_empty(), "{:?}", ours_in_mock(&h));
}

fn material(pair: &(String, String)) -> cloudnet_core::CertificateRef {
    cloudnet_core::CertificateRef::Material(cloudnet_core::CertificateMaterial {
        source: "shop/web-tls".into(),
        certificate: pair.0.clone(),
        private_key: pair.1.clone(),
    })
}

/// The SSL certificates in the mock whose name starts with `k8s-` (ours).
fn our_certificates(h: &Handle) -> Vec<String> {
    ours_in_mock(h)
        .into_iter()
        .filter(|k| k.contains("/sslCertificates/"))
        .collect()
}

#[tokio::test]
async fn a_secrets_certificate_is_uploaded_rotated_without_a_gap_and_deleted() {
    let h = start().await;
    cert(&h);
    let lb = load_balancers(&h, "prod").await;
    let counts = lb.provider().call_counts().clone();
    let v1 = cloudnet_mockcloud::gcp::key_pair(&["shop.example.com"]).unwrap();
    let mut spec = ingress("prod", "web");
    let https = spec.listeners.iter().position(|l| l.port == 443).unwrap();
    spec.listeners[https].certificates.push(material(&v1));

    let status = lb.ensure(&spec).await.expect("ensure uploads it");
    // The stack's 11 inserts and the certificate.
    assert_eq!(counts.mutating(), 12, "{:?}", counts.snapshot());
    assert_eq!(mock_count(&h, "sslCertificates.insert"), 1);
    let first = our_certificates(&h);
    assert_eq!(first.len(), 1, "{first:?}");
    let proxy_certs = |h: &Handle| -> Vec<String> {
        h.with_cloud(|c| {
            c.gcp
                .resources
                .iter()
                .filter(|(k, _)| k.contains("/targetHttpsProxies/"))
                .flat_map(|(_, v)| v["sslCertificates"].as_array().cloned().unwrap_or_default())
                .filter_map(|v| {
                    v.as_str()
                        .map(|s| s.rsplit('/').next().unwrap().to_string())
                })
                .collect()
        })
    };
    let own = first[0].rsplit('/').next().unwrap().to_string();
    assert_eq!(proxy_certs(&h), ["shop-cert".to_string(), own.clone()]);
    // The mock keeps no key.
    let stored = h.with_cloud(|c| c.gcp.resources[&first[0]].clone());
    assert!(stored.get("privateKey").is_none(), "{stored}");

    // Unchanged: not one mutating call.
    let before = counts.mutating();
    lb.ensure(&spec).await.expect("second ensure");
    assert_eq!(counts.mutating(), before, "{:?}", counts.snapshot());

    // New content: the new one created, the proxy switched, the old one deleted (3 calls).
    let v2 = cloudnet_mockcloud::gcp::key_pair(&["shop.example.com"]).unwrap();
    spec.listeners[https].certificates[1] = material(&v2);
    lb.ensure(&spec).await.expect("rotation");
    assert_eq!(counts.mutating(), before + 3, "{:?}", counts.snapshot());
    let second = our_certificates(&h);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    let own2 = second[0].rsplit('/').next().unwrap().to_string();
    assert_eq!(proxy_certs(&h), ["shop-cert".to_string(), own2]);
    let log: Vec<String> = h.with_cloud(|c| {
        c.call_log
            .page(0)
            .calls
            .into_iter()
            .map(|x| x.call)
            .filter(|a| a.contains("sslCertificates.") || a.contains("setSslCertificates"))
            .filter(|a| !a.ends_with(".list"))
            .collect()
    });
    let tail: Vec<&str> = log.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "compute:sslCertificates.insert",
            "compute:targetHttpsProxies.setSslCertificates",
            "compute:sslCertificates.delete"
        ],
        "{log:?}"
    );

    // A key that is not the certificate's is the cloud's `invalid`, and nothing changes.
    let mut bad = v2.clone();
    bad.1 = v1.1.clone();
    spec.listeners[https].certificates[1] = material(&bad);
    let e = lb.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("does not match"), "{e}");
    assert_eq!(our_certificates(&h), second);

    // Deleted with the stack; the pre-shared one is not ours and stays.
    lb.delete(&status.id).await.expect("delete");
    assert_eq!(ours_in_mock(&h), Vec::<String>::new());
    assert!(h.with_cloud(|c| {
        c.gcp
            .resources
            .keys()
            .any(|k| k.ends_with("/sslCertificates/shop-cert"))
    }));
}
