//! The load balancers' firewall rules through the real client library against the mock
//! cloud: made once with their stack, untouched when nothing changed, made or written back
//! when an operator deletes, narrows or disables one, deleted with the stack, and a rule
//! under our name that is not ours refused and never touched. The mock's health checkers
//! need the rule: without it the pods are unhealthy.

use std::net::{IpAddr, Ipv4Addr};

use cloudnet_core::{ErrorKind, HealthState, LoadBalancers, Scheme, Target};
use cloudnet_gcp::GcpLoadBalancers;
use cloudnet_mockcloud::Handle;
use serde_json::{Value, json};

mod common;
#[path = "support/lb_specs.rs"]
mod lb_specs;

use common::{mock_call, mock_post, start_with_pod_ranges as start};
use lb_specs::*;

async fn load_balancers(h: &Handle, cluster: &str) -> GcpLoadBalancers {
    let p = common::provider(h, cluster).await;
    GcpLoadBalancers::new(p).await.expect("clients build")
}

/// Every firewall rule in the mock, by name.
fn firewalls(h: &Handle) -> std::collections::BTreeMap<String, Value> {
    h.with_cloud(|c| {
        c.gcp
            .resources
            .iter()
            .filter(|(k, _)| k.starts_with("global/firewalls/"))
            .map(|(k, v)| {
                (
                    k.rsplit('/').next().unwrap_or_default().to_string(),
                    v.clone(),
                )
            })
            .collect()
    })
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// Someone else (an operator, without the controller's role) changes the rule.
fn by_hand(h: &Handle, method: &str, name: &str, body: Value) {
    mock_call(h, method, &["global", "firewalls", name], body);
}

#[tokio::test]
async fn a_services_rules_are_made_once_kept_repaired_and_deleted_with_it() {
    let h = start().await;
    // Another team's rule on the network: never touched.
    mock_post(
        &h,
        &["global", "firewalls"],
        json!({"name": "allow-ssh", "network": "global/networks/cloudnet",
            "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}),
    );
    let foreign = firewalls(&h)["allow-ssh"].clone();
    let lb = load_balancers(&h, "prod").await;
    let counts = lb.provider().call_counts().clone();
    let mut spec = service("prod", "dns", Scheme::InternetFacing);
    spec.source_ranges = vec!["203.0.113.0/24".parse().unwrap()];
    let planned = lb.plan(&spec).await.expect("plan").stack;
    let [hc, traffic] = &planned.firewalls[..] else {
        panic!("two rules: {:?}", planned.firewalls)
    };

    let status = lb.ensure(&spec).await.expect("ensure");
    assert_eq!(counts.of("firewalls.insert"), 2, "{:?}", counts.snapshot());
    assert_eq!(
        counts.of("firewalls.list"),
        2,
        "plan and ensure read once each"
    );
    let all = firewalls(&h);
    assert_eq!(all.len(), 3, "{:?}", all.keys());
    let ip = status.ips[0].to_string();
    let t = &all[&traffic.name];
    assert_eq!(strings(&t["sourceRanges"]), ["203.0.113.0/24"]);
    assert_eq!(strings(&t["destinationRanges"]), [ip.as_str()]);
    assert_eq!(
        t["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["53"]}, {"IPProtocol": "udp", "ports": ["53"]}])
    );
    assert!(
        t["network"]
            .as_str()
            .unwrap()
            .ends_with("/global/networks/cloudnet")
    );
    let c = &all[&hc.name];
    assert_eq!(
        strings(&c["sourceRanges"]),
        [
            "130.211.0.0/22",
            "209.85.152.0/22",
            "209.85.204.0/22",
            "35.191.0.0/16"
        ]
    );
    assert_eq!(
        c["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["30053", "30054"]}])
    );
    assert!(
        c["description"]
            .as_str()
            .unwrap()
            .contains("cloudnet.io/owner=shop/dns"),
        "{c}"
    );

    // Unchanged: not one mutating call.
    let before = counts.mutating();
    lb.ensure(&spec).await.expect("second ensure");
    assert_eq!(counts.mutating(), before, "{:?}", counts.snapshot());

    // The traffic rule deleted by hand: made again, the only write.
    by_hand(&h, "DELETE", &traffic.name, Value::Null);
    assert_eq!(firewalls(&h).len(), 2);
    let before = counts.mutating();
    lb.ensure(&spec).await.expect("repairs the deleted rule");
    assert_eq!(counts.mutating() - before, 1, "{:?}", counts.snapshot());
    assert_eq!(counts.of("firewalls.insert"), 3);
    assert_eq!(
        strings(&firewalls(&h)[&traffic.name]["destinationRanges"]),
        [ip.as_str()]
    );

    // The health-check rule narrowed, then disabled, by hand: each written back whole.
    let drifts = [
        json!({"sourceRanges": ["35.191.0.0/16"]}),
        json!({"disabled": true}),
        json!({"allowed": [{"IPProtocol": "tcp", "ports": ["30054"]}]}),
    ];
    for (i, drift) in drifts.into_iter().enumerate() {
        by_hand(&h, "PATCH", &hc.name, drift);
        let before = counts.mutating();
        lb.ensure(&spec).await.expect("repairs the edited rule");
        assert_eq!(
            counts.mutating() - before,
            1,
            "drift {i}: {:?}",
            counts.snapshot()
        );
        assert_eq!(counts.of("firewalls.update"), i as u64 + 1);
        let now = &firewalls(&h)[&hc.name];
        assert_eq!(now["sourceRanges"], c["sourceRanges"], "drift {i}");
        assert_eq!(now["allowed"], c["allowed"], "drift {i}");
        assert_eq!(now["disabled"], false, "drift {i}");
        let before = counts.mutating();
        lb.ensure(&spec).await.unwrap();
        assert_eq!(counts.mutating(), before, "drift {i}: repaired once");
    }

    // Deleted with the stack; the other team's rule is as it was.
    lb.delete(&status.id).await.expect("delete");
    assert_eq!(counts.of("firewalls.delete"), 2);
    let left = firewalls(&h);
    assert_eq!(left.keys().collect::<Vec<_>>(), ["allow-ssh"]);
    assert_eq!(left["allow-ssh"], foreign);
}

#[tokio::test]
async fn an_ingress_rule_under_our_name_that_is_not_ours_is_a_conflict_and_left_alone() {
    let h = start().await;
    mock_post(
        &h,
        &["global", "sslCertificates"],
        cloudnet_mockcloud::gcp::self_managed_certificate("shop-cert").expect("a key pair"),
    );
    let lb = load_balancers(&h, "prod").await;
    let counts = lb.provider().call_counts().clone();
    let spec = ingress("prod", "web");
    let planned = lb.plan(&spec).await.expect("plan").stack;
    let [fw] = &planned.firewalls[..] else {
        panic!("one rule: {:?}", planned.firewalls)
    };
    assert_eq!(
        strings(&serde_json::to_value(&fw.source_ranges).unwrap()),
        ["130.211.0.0/22", "35.191.0.0/16"]
    );

    // Made, with the groups' ports, once.
    let status = lb.ensure(&spec).await.expect("ensure");
    assert_eq!(counts.of("firewalls.insert"), 1);
    assert_eq!(
        firewalls(&h)[&fw.name]["allowed"],
        json!([{"IPProtocol": "tcp", "ports": ["8080", "9090"]}])
    );
    let before = counts.mutating();
    lb.ensure(&spec).await.unwrap();
    assert_eq!(counts.mutating(), before);

    // Pods behind it are healthy while the rule lets the health checkers in; deleted by
    // hand, every one is unhealthy until the next ensure makes it again.
    let pods: Vec<Target> = (2..5u8)
        .map(|i| Target {
            ip: IpAddr::V4(Ipv4Addr::new(10, 4, 0, i)),
            port: 8080,
        })
        .collect();
    let sync = lb
        .sync_targets(&status.id, "shop/web:80", &pods)
        .await
        .expect("sync");
    let states = |h: &[cloudnet_core::TargetHealth]| -> Vec<HealthState> {
        h.iter().map(|t| t.state).collect()
    };
    assert_eq!(states(&sync.health), [HealthState::Healthy; 3]);
    let web = status
        .groups
        .iter()
        .find(|g| g.key == "shop/web:80")
        .expect("the web group");
    by_hand(&h, "DELETE", &fw.name, Value::Null);
    let health = lb.target_health(&web.id).await.expect("health");
    assert_eq!(states(&health), [HealthState::Unhealthy; 3]);
    lb.ensure(&spec).await.expect("makes the rule again");
    let health = lb.target_health(&web.id).await.expect("health");
    assert_eq!(states(&health), [HealthState::Healthy; 3]);

    // Someone replaces it with their own rule under the same name: refused, not touched.
    by_hand(&h, "DELETE", &fw.name, Value::Null);
    mock_post(
        &h,
        &["global", "firewalls"],
        json!({"name": fw.name, "network": "global/networks/cloudnet",
            "description": "made by hand", "sourceRanges": ["10.0.0.0/8"],
            "allowed": [{"IPProtocol": "tcp"}]}),
    );
    let theirs = firewalls(&h)[&fw.name].clone();
    let before = counts.mutating();
    let e = lb.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains(&fw.name), "{e}");
    assert_eq!(counts.mutating(), before, "nothing is written");

    // Deleting the stack leaves it too.
    lb.delete(&status.id).await.expect("delete");
    assert_eq!(counts.of("firewalls.delete"), 0);
    let left = firewalls(&h);
    assert_eq!(left.len(), 1);
    assert_eq!(left[&fw.name], theirs);
}
