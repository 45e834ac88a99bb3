//! Application Gateways for Ingresses against the mock cloud's ARM port, through
//! azure_mgmt_network: the gateway the mock shows, writes counted.

mod common;
#[path = "support/lb_world.rs"]
mod lb_world;

use cloudnet_azure::lb::appgw::{self, attributes as attr};
use cloudnet_core::{
    Action, ErrorKind, LoadBalancerKind, LoadBalancers, Owner, OwnerKind, Protocol, Target,
};
use common::arm_calls;
use lb_world::{GW_WRITE, LbWorld};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingress_becomes_one_gateway_ensured_once_synced_and_deleted_whole() {
    let w = LbWorld::with_gateway_subnet().await;
    let (_, pips_before) = w.gateways_and_pips().await;
    let lbs = &w.lbs;
    let spec = common::ingress("web");

    let before = w.mutating();
    let status = lbs.ensure(&spec).await.unwrap();
    w.assert_mutating_since(before, 2, "one public IP and one gateway PUT");
    assert_eq!(arm_calls(&w.h, GW_WRITE), 1);
    assert_eq!(status.ips.len(), 1, "{status:?}");
    assert_eq!(status.groups.len(), 3);

    // The gateway as the mock shows it.
    let gw = w.gateway(&lbs.gateway_name(&spec.owner)).await;
    let v = serde_json::to_value(&gw).unwrap();
    let p = &v["properties"];
    let hosts: Vec<_> = p["httpListeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["properties"]["hostNames"].clone())
        .collect();
    assert_eq!(
        hosts,
        [
            json!(["shop.example.com"]),
            json!(["admin.example.com"]),
            serde_json::Value::Null
        ]
    );
    let rules = p["requestRoutingRules"].as_array().unwrap();
    let kinds: Vec<_> = rules
        .iter()
        .map(|r| r["properties"]["ruleType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["PathBasedRouting", "Basic", "Basic"]);
    let path_rule = &p["urlPathMaps"][0]["properties"]["pathRules"][0];
    assert_eq!(path_rule["properties"]["paths"], json!(["/api", "/api/*"]));
    assert!(
        path_rule["id"]
            .as_str()
            .unwrap()
            .contains("/urlPathMaps/paths-80-")
    );
    let settings = &p["backendHttpSettingsCollection"];
    let api = settings
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["properties"]["port"] == 8080)
        .unwrap();
    assert_eq!(api["properties"]["path"], "/v1/");
    assert_eq!(
        gw.properties.as_ref().unwrap().gateway_ip_configurations[0]
            .properties
            .as_ref()
            .unwrap()
            .subnet
            .as_ref()
            .unwrap()
            .id
            .as_deref()
            .unwrap()
            .rsplit('/')
            .next(),
        Some(appgw::DEFAULT_SUBNET)
    );

    // Second ensure: reads only.
    let before = w.mutating();
    let again = lbs.ensure(&spec).await.unwrap();
    w.assert_mutating_since(before, 0, "reads only");
    assert_eq!(arm_calls(&w.h, GW_WRITE), 1);
    assert_eq!(again.id, status.id);

    // Pod IPs: one PUT per group that changes, none when they are the same.
    let targets = |ips: &[&str]| -> Vec<Target> {
        ips.iter()
            .map(|ip| Target {
                ip: ip.parse().unwrap(),
                port: 8080,
            })
            .collect()
    };
    let g = &spec.groups[0].key;
    let before = w.mutating();
    let sync = lbs
        .sync_targets(&status.id, g, &targets(&["10.244.0.7", "10.244.1.9"]))
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (2, 0));
    assert_eq!(sync.health.len(), 2);
    let sync = lbs
        .sync_targets(&status.id, g, &targets(&["10.244.1.9", "10.244.0.7"]))
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (0, 0));
    let sync = lbs
        .sync_targets(
            &status.id,
            g,
            &targets(&["10.244.0.7", "10.244.2.3", "10.244.2.4"]),
        )
        .await
        .unwrap();
    assert_eq!((sync.registered, sync.deregistered), (2, 1));
    w.assert_mutating_since(before, 2, "two PUTs for two changes");
    // ensure keeps the members sync_targets put.
    let kept = lbs.ensure(&spec).await.unwrap();
    assert_eq!(kept.groups[0].targets.len(), 3);
    w.assert_mutating_since(before, 2, "ensure leaves the members alone");
    assert_eq!(
        lbs.target_health(&kept.groups[0].id).await.unwrap().len(),
        3
    );

    // A changed spec (a path gone): one PUT.
    let mut changed = spec.clone();
    changed.listeners[0].rules.remove(0);
    changed.groups.remove(0);
    let before = w.mutating();
    lbs.ensure(&changed).await.unwrap();
    w.assert_mutating_since(before, 1, "one PUT");

    let owned = lbs.list_owned().await.unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].kind, LoadBalancerKind::Application);
    lbs.delete(&owned[0].id).await.unwrap();
    lbs.delete(&owned[0].id).await.unwrap();
    assert_eq!(
        w.gateways_and_pips().await,
        (0, pips_before),
        "no gateway and no public IP of the suite left"
    );
}

#[tokio::test]
async fn a_foreign_gateway_under_our_name_is_a_conflict_and_untouched() {
    let w = LbWorld::with_gateway_subnet().await;
    let lbs = &w.lbs;
    let spec = common::ingress("web");
    // Someone else's gateway (and public IP) under the name the suite derives.
    let place = lbs.place(&spec).unwrap();
    let mut theirs = spec.clone();
    theirs.owner = Owner::namespaced("elsewhere", OwnerKind::Ingress, "shop", "web");
    let mut gw = appgw::desired(&theirs, &place, None).unwrap();
    gw.resource.tags = Some(json!({"team": "payments"}));
    w.put_foreign_gateway(&place.name, gw, Some(json!({"team": "payments"})))
        .await;
    let before = arm_calls(&w.h, GW_WRITE);
    let mutating = w.mutating();

    let e = lbs.ensure(&spec).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(e.code(), "ApplicationGatewayNotOwned");
    let e = lbs
        .delete(&cloudnet_core::LoadBalancerId(place.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        arm_calls(&w.h, GW_WRITE),
        before,
        "the gateway is not written"
    );
    w.assert_mutating_since(mutating, 0, "nothing written or deleted");
    let still = w.gateway(&place.name).await;
    assert_eq!(still.resource.tags, Some(json!({"team": "payments"})));
}

#[tokio::test]
async fn tls_with_a_redirect_and_a_private_frontend_are_accepted_by_the_mock() {
    use cloudnet_core::CertificateRef;
    let w = LbWorld::with_gateway_subnet().await;
    let lbs = &w.lbs;
    let mut spec = common::ingress("tls");
    spec.attributes
        .insert(attr::USE_PRIVATE_IP.into(), "true".into());
    let mut https = spec.listeners[0].clone();
    https.port = 443;
    https.protocol = Protocol::Https;
    https.certificates = vec![CertificateRef::Named(
        "https://shop.vault.azure.net/secrets/web".into(),
    )];
    spec.listeners[0].rules.clear();
    spec.listeners[0].default_action = Action::redirect_to_https();
    spec.listeners.push(https);
    let status = lbs.ensure(&spec).await.unwrap();
    // The listeners' address is the private frontend's, from the gateway subnet.
    assert_eq!(status.ips.len(), 1);
    assert!(
        status.ips[0].to_string().starts_with("10.225.0."),
        "{status:?}"
    );
    let before = w.mutating();
    lbs.ensure(&spec).await.unwrap();
    w.assert_mutating_since(before, 0, "reads only");
    let v = w.gateway_json(&lbs.gateway_name(&spec.owner)).await;
    let redirect = &v["properties"]["redirectConfigurations"][0]["properties"];
    assert_eq!(redirect["redirectType"], "Permanent");
    assert!(
        redirect["targetListener"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/httpListeners/listener-443")
    );
}

/// Two pools synced at once on one gateway: both read the same ETag, one PUT lands, the other
/// gets 412 and reads, decides and writes again; neither loses the other's members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pool_syncs_meet_412_and_keep_each_others_members() {
    use cloudnet_mockcloud::faults::FaultRule;
    use cloudnet_mockcloud::{Config, MockCloud, World};
    // Gateway reads take 300 ms, so both syncs read before either writes.
    let slow_reads: FaultRule = serde_json::from_value(json!({
        "service": "arm",
        "action": "Microsoft.Network/applicationGateways/read",
        "kind": "latency",
        "ms": 300,
    }))
    .unwrap();
    let world = World {
        azure: Some(cloudnet_mockcloud::azure::AzureWorld::default()),
        faults: vec![slow_reads],
        ..World::default()
    };
    let h = MockCloud::start(Config::ephemeral(world)).await.unwrap();
    let w = LbWorld::with_gateway_subnet_on(h).await;
    let (h, lbs) = (&w.h, &w.lbs);
    let spec = common::ingress("web");
    let status = lbs.ensure(&spec).await.unwrap();
    let writes = arm_calls(h, GW_WRITE);
    let target = |ip: &str| Target {
        ip: ip.parse().unwrap(),
        port: 8080,
    };
    let (ta, tb) = ([target("10.244.0.7")], [target("10.244.0.8")]);
    let (a, b) = tokio::join!(
        lbs.sync_targets(&status.id, &spec.groups[0].key, &ta),
        lbs.sync_targets(&status.id, &spec.groups[1].key, &tb),
    );
    assert_eq!(a.unwrap().registered, 1);
    assert_eq!(b.unwrap().registered, 1);
    assert_eq!(
        arm_calls(h, GW_WRITE) - writes,
        3,
        "two PUTs that landed and one refused with 412"
    );
    let after = lbs.ensure(&spec).await.unwrap();
    assert_eq!(after.groups[0].targets.len(), 1);
    assert_eq!(after.groups[1].targets.len(), 1);
}
