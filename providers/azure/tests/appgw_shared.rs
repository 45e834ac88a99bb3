//! One Application Gateway shared by every Ingress of AGIC's class (AGIC's `appgw.name`),
//! against the mock cloud's ARM port: Ingresses' parts come and go in one PUT each, the
//! gateway and its public IP go with the last, a gateway the suite did not create is never
//! written, and members' health comes from the `backendhealth` action.

mod common;
#[path = "support/lb_world.rs"]
mod lb_world;

use cloudnet_azure::lb::appgw::{self, attributes as attr};
use cloudnet_core::{
    ErrorKind, HealthState, LoadBalancerId, LoadBalancerSpec, LoadBalancers, Owner, OwnerKind,
    Target,
};
use common::arm_calls;
use lb_world::{GW_WRITE, LbWorld};
use serde_json::{Value, json};
const HEALTH: &str = "Microsoft.Network/applicationGateways/backendhealth/action";
const NAME: &str = "appgw-prod";

/// The group every AGIC Ingress is in, as the controller builds its spec.
fn owner() -> Owner {
    Owner::cluster_scoped("demo", OwnerKind::IngressGroup, NAME)
}

/// Ingress `ns`'s part: `common::ingress`'s rules under `<ns>.example.com` hosts and
/// `<ns>/...` backends.
fn part(ns: &str) -> LoadBalancerSpec {
    let mut s = common::ingress("web");
    for r in &mut s.listeners[0].rules {
        r.hosts = r
            .hosts
            .iter()
            .map(|h| h.replace("example.com", &format!("{ns}.example.com")))
            .collect();
        if let cloudnet_core::Action::Forward { groups } = &mut r.action {
            for g in groups {
                g.group = g.group.replacen("shop/", &format!("{ns}/"), 1);
            }
        }
    }
    for g in &mut s.groups {
        g.key = g.key.replacen("shop/", &format!("{ns}/"), 1);
    }
    s
}

/// The shared gateway's spec with the parts of `namespaces`, in that order.
fn merged(namespaces: &[&str]) -> LoadBalancerSpec {
    let mut spec = part(namespaces[0]);
    spec.listeners[0].rules.clear();
    spec.groups.clear();
    for ns in namespaces {
        let p = part(ns);
        spec.listeners[0].rules.extend(p.listeners[0].rules.clone());
        spec.groups.extend(p.groups);
    }
    for (r, priority) in spec.listeners[0].rules.iter_mut().zip(1u32..) {
        r.priority = priority;
    }
    spec.owner = owner();
    spec.attributes
        .insert(attr::GATEWAY_NAME.into(), NAME.into());
    spec
}

/// The names of a gateway's parts of one kind.
fn names(gw: &Value, kind: &str) -> Vec<String> {
    gw["properties"][kind]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn hosts(gw: &Value) -> Vec<Value> {
    gw["properties"]["httpListeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["properties"]["hostNames"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingresses_share_one_gateway_and_leave_it_one_put_at_a_time() {
    let w = LbWorld::with_gateway_subnet().await;
    let (h, lbs) = (&w.h, &w.lbs);
    let (gws_before, pips_before) = w.gateways_and_pips().await;

    // The first Ingress: the public IP and the gateway under the shared name.
    let one = merged(&["shop"]);
    let before = w.mutating();
    let status = lbs.ensure(&one).await.unwrap();
    w.assert_mutating_since(before, 2, "the public IP and the gateway");
    assert!(
        status
            .id
            .0
            .ends_with(&format!("/applicationGateways/{NAME}")),
        "{}",
        status.id.0
    );
    assert_eq!(status.ips.len(), 1);
    let ip = status.ips[0];
    lbs.sync_targets(
        &status.id,
        "shop/api:80",
        &[Target {
            ip: "10.224.0.20".parse().unwrap(),
            port: 8080,
        }],
    )
    .await
    .unwrap();

    // The second Ingress joins: one PUT, the same frontend address.
    let two = merged(&["shop", "blog"]);
    let (writes, mutating) = (arm_calls(h, GW_WRITE), w.mutating());
    let status = lbs.ensure(&two).await.unwrap();
    assert_eq!(arm_calls(h, GW_WRITE) - writes, 1);
    w.assert_mutating_since(mutating, 1, "one gateway PUT");
    assert_eq!(
        status.ips,
        [ip],
        "every Ingress shows the gateway's one frontend address"
    );
    let gw = w.gateway_json(NAME).await;
    assert_eq!(
        hosts(&gw),
        [
            json!(["shop.shop.example.com"]),
            json!(["admin.shop.example.com"]),
            json!(["shop.blog.example.com"]),
            json!(["admin.blog.example.com"]),
            Value::Null
        ]
    );
    assert_eq!(
        names(&gw, "backendAddressPools").len(),
        7,
        "six groups and the empty pool"
    );

    // Nothing changed: no write.
    let mutating = w.mutating();
    lbs.ensure(&two).await.unwrap();
    w.assert_mutating_since(mutating, 0, "nothing changed");

    // The first Ingress leaves: one PUT with only its parts gone; the other's members stay.
    let blog = merged(&["blog"]);
    let (writes, mutating) = (arm_calls(h, GW_WRITE), w.mutating());
    let status = lbs.ensure(&blog).await.unwrap();
    assert_eq!(arm_calls(h, GW_WRITE) - writes, 1);
    w.assert_mutating_since(mutating, 1, "one gateway PUT");
    let after = w.gateway_json(NAME).await;
    assert_eq!(
        hosts(&after),
        [
            json!(["shop.blog.example.com"]),
            json!(["admin.blog.example.com"]),
            Value::Null
        ]
    );
    let kept: Vec<String> = names(&gw, "backendAddressPools")
        .into_iter()
        .filter(|n| names(&after, "backendAddressPools").contains(n))
        .collect();
    assert_eq!(
        kept.len(),
        4,
        "blog's three pools and the empty one stay: {kept:?}"
    );
    for kind in ["backendHttpSettingsCollection", "probes", "httpListeners"] {
        for n in names(&after, kind) {
            assert!(
                names(&gw, kind).contains(&n),
                "{kind} {n} is one of the gateway's before"
            );
        }
    }
    assert_eq!(status.ips, [ip]);

    // The last Ingress leaves: the gateway and its public IP go.
    lbs.delete(&status.id).await.unwrap();
    assert_eq!(w.gateways_and_pips().await, (gws_before, pips_before));
}

#[tokio::test]
async fn a_gateway_of_that_name_the_suite_did_not_create_is_refused_and_untouched() {
    let w = LbWorld::with_gateway_subnet().await;
    let (h, lbs) = (&w.h, &w.lbs);
    let spec = merged(&["shop"]);
    // AKS's add-on made it: its own tags, no cloudnet.io ones, its own listeners.
    let place = lbs.place(&spec).unwrap();
    assert_eq!(place.name, NAME);
    let mut gw = appgw::desired(&part("theirs"), &place, None).unwrap();
    gw.resource.tags = Some(json!({"managed-by-k8s-ingress": "1.7.5"}));
    w.put_foreign_gateway(NAME, gw, None).await;
    let before = w.gateway_json(NAME).await;
    let (writes, mutating) = (arm_calls(h, GW_WRITE), w.mutating());

    let e = lbs.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(e.code(), "ApplicationGatewayNotOwned");
    assert!(e.to_string().contains("was not created by cloudnet"), "{e}");
    let id = LoadBalancerId(place.id.clone());
    // Their pool of a group cloudnet would name the same: still not written.
    let pool = "theirs/web:80";
    let target = Target {
        ip: "10.224.0.9".parse().unwrap(),
        port: 80,
    };
    assert!(lbs.sync_targets(&id, pool, &[target]).await.is_err());
    assert!(lbs.delete(&id).await.is_err());
    assert_eq!(arm_calls(h, GW_WRITE), writes, "the gateway is not written");
    w.assert_mutating_since(mutating, 0, "nothing written or deleted");
    let mut after = w.gateway_json(NAME).await;
    let mut before = before;
    for v in [&mut before, &mut after] {
        v.as_object_mut().unwrap().remove("etag");
    }
    assert_eq!(after, before, "the foreign gateway is as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_health_comes_from_backendhealth() {
    let w = LbWorld::with_gateway_subnet().await;
    let (h, lbs) = (&w.h, &w.lbs);
    let status = lbs.ensure(&merged(&["shop"])).await.unwrap();
    let group = |key: &str| {
        let g = status.groups.iter().find(|g| g.key == key);
        g.expect("the group").id.clone()
    };
    let web = group("shop/web:80");
    let (a, b) = (
        "10.224.0.31".parse().unwrap(),
        "10.224.0.32".parse().unwrap(),
    );
    lbs.sync_targets(
        &status.id,
        "shop/web:80",
        &[Target { ip: a, port: 3000 }, Target { ip: b, port: 3000 }],
    )
    .await
    .unwrap();

    let states = |v: Vec<cloudnet_core::TargetHealth>| -> Vec<HealthState> {
        v.into_iter().map(|t| t.state).collect()
    };
    // Just added: the probe has not finished (ARM's Unknown).
    let mutating = w.mutating();
    let health = lbs.target_health(&web).await.unwrap();
    assert_eq!(states(health), [HealthState::Initial, HealthState::Initial]);
    assert_eq!(arm_calls(h, HEALTH), 1, "one backendhealth action");
    w.assert_mutating_since(mutating, 1, "the action is the only non-read call");
    assert!(arm_calls(h, "Microsoft.Network/locations/operationResults/read") >= 1);

    // Probed: healthy, but for the one a fault makes unhealthy.
    h.with_cloud(|c| {
        c.azure.appgw_health.delay_ms = 0;
        c.azure.set_member_unhealthy("10.224.0.32", true);
    });
    let health = lbs.target_health(&web).await.unwrap();
    assert_eq!(
        states(health.clone()),
        [HealthState::Healthy, HealthState::Unhealthy]
    );
    assert!(
        health[1]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("Cannot connect")
    );
    h.with_cloud(|c| c.azure.set_member_unhealthy("10.224.0.32", false));
    let health = lbs.target_health(&web).await.unwrap();
    assert_eq!(states(health), [HealthState::Healthy, HealthState::Healthy]);

    // A pool without members asks nothing.
    let calls = arm_calls(h, HEALTH);
    let admin = group("shop/admin:80");
    assert!(lbs.target_health(&admin).await.unwrap().is_empty());
    assert_eq!(arm_calls(h, HEALTH), calls);
}
