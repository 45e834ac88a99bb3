//! Application gateways as AGIC writes them: one whole-gateway PUT whose parts refer to each
//! other, checked part by part.

mod arm_support;

use arm_support::{Arm, start};
use serde_json::{Value, json};

const GW: &str = "Microsoft.Network/applicationGateways/agw";
const SUBNET: &str = "Microsoft.Network/virtualNetworks/aks-vnet-12345678/subnets/appgw";

fn gateway(arm: &Arm, priority: Option<u64>, port: &str) -> Value {
    let me = arm.id(GW);
    let part = |kind: &str, name: &str| json!({"id": format!("{me}/{kind}/{name}")});
    let mut rule = json!({"name": "rule", "properties": {
        "ruleType": "PathBasedRouting",
        "httpListener": part("httpListeners", "http"),
        "urlPathMap": part("urlPathMaps", "paths"),
    }});
    if let Some(p) = priority {
        rule["properties"]["priority"] = json!(p);
    }
    json!({
        "location": "eastus",
        "properties": {
            "sku": {"name": "Standard_v2", "tier": "Standard_v2", "capacity": 2},
            "gatewayIPConfigurations": [{"name": "gw", "properties": {"subnet": {"id": arm.id(SUBNET)}}}],
            "frontendIPConfigurations": [
                {"name": "public", "properties": {"publicIPAddress": {"id": arm.id("Microsoft.Network/publicIPAddresses/agw-pip")}}},
                {"name": "private", "properties": {"subnet": {"id": arm.id(SUBNET)}}},
            ],
            "frontendPorts": [{"name": "p80", "properties": {"port": 80}}],
            "sslCertificates": [{"name": "tls", "properties": {"data": "MIIKcert", "password": "secret"}}],
            "httpListeners": [{"name": "http", "properties": {
                "frontendIPConfiguration": part("frontendIPConfigurations", "public"),
                "frontendPort": part("frontendPorts", port),
                "protocol": "Http",
            }}],
            "backendAddressPools": [{"name": "pods", "properties": {"backendAddresses": [{"ipAddress": "10.244.0.7"}]}}],
            "probes": [{"name": "hc", "properties": {"protocol": "Http", "path": "/healthz", "pickHostNameFromBackendHttpSettings": true, "interval": 30, "timeout": 30, "unhealthyThreshold": 3}}],
            "backendHttpSettingsCollection": [{"name": "http", "properties": {"port": 8080, "protocol": "Http", "probe": part("probes", "hc")}}],
            "urlPathMaps": [{"name": "paths", "properties": {
                "defaultBackendAddressPool": part("backendAddressPools", "pods"),
                "defaultBackendHttpSettings": part("backendHttpSettingsCollection", "http"),
                "pathRules": [{"name": "api", "properties": {
                    "paths": ["/api/*"],
                    "backendAddressPool": part("backendAddressPools", "pods"),
                    "backendHttpSettings": part("backendHttpSettingsCollection", "http"),
                }}],
            }}],
            "requestRoutingRules": [rule],
        },
    })
}

#[tokio::test]
async fn gateway_parts_must_refer_to_each_other() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    gateway_world(&arm).await;

    let dangling = arm.put(GW, &gateway(&arm, Some(100), "p443")).await;
    assert_eq!(dangling.code(), "InvalidResourceReference");
    let unprioritised = arm.put(GW, &gateway(&arm, None, "p80")).await;
    assert_eq!(
        unprioritised.code(),
        "ApplicationGatewayRequestRoutingRulePriorityCannotBeEmpty"
    );
    let mut sku = gateway(&arm, Some(100), "p80");
    sku["sku"] = json!({"name": "Standard_Small"});
    sku["properties"]["sku"] = json!({"name": "Standard_Small"});
    assert_eq!(arm.put(GW, &sku).await.code(), "InvalidRequestFormat");

    let ok = arm.put(GW, &gateway(&arm, Some(100), "p80")).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    let p = &ok.body["properties"];
    assert_eq!(
        p["frontendIPConfigurations"][1]["properties"]["privateIPAddress"],
        "10.225.0.4"
    );
    assert_eq!(
        p["urlPathMaps"][0]["properties"]["pathRules"][0]["id"],
        format!("{}/urlPathMaps/paths/pathRules/api", arm.id(GW)).as_str()
    );
    assert!(p["sslCertificates"][0]["properties"]["data"].is_null());
    assert!(p["sslCertificates"][0]["properties"]["password"].is_null());
    let listener = arm.get(&format!("{GW}/httpListeners/http")).await;
    assert_eq!(listener.status, 200);
    assert_eq!(
        listener.body["type"],
        "Microsoft.Network/applicationGateways/httpListeners"
    );

    assert_eq!(
        arm.delete(SUBNET).await.code(),
        "InUseSubnetCannotBeDeleted"
    );
    assert_eq!(
        arm.delete("Microsoft.Network/publicIPAddresses/agw-pip")
            .await
            .code(),
        "PublicIPAddressCannotBeDeleted"
    );
    assert_eq!(arm.delete(GW).await.status, 202);
    assert_eq!(arm.delete(SUBNET).await.status, 202);
}

/// A subnet and public IP for a gateway, as in the test above.
async fn gateway_world(arm: &Arm) {
    let subnet = arm
        .put(
            SUBNET,
            &json!({"properties": {"addressPrefix": "10.225.0.0/24"}}),
        )
        .await;
    assert_eq!(subnet.status, 201, "{:?}", subnet.body);
    let pip = arm
        .put(
            "Microsoft.Network/publicIPAddresses/agw-pip",
            &json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {}}),
        )
        .await;
    assert_eq!(pip.status, 201);
}

#[tokio::test]
async fn rules_go_to_a_backend_or_a_redirect_and_settings_are_checked() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    gateway_world(&arm).await;
    let me = arm.id(GW);
    let part = |kind: &str, name: &str| json!({"id": format!("{me}/{kind}/{name}")});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut g = gateway(&arm, Some(100), "p80");
        f(&mut g);
        g
    };
    // HTTP redirected to HTTPS on the listener: a redirect configuration, no backend.
    let redirected = with(&|g| {
        let p = &mut g["properties"];
        p["frontendPorts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "p443", "properties": {"port": 443}}));
        p["httpListeners"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "https", "properties": {
                "frontendIPConfiguration": part("frontendIPConfigurations", "public"),
                "frontendPort": part("frontendPorts", "p443"),
                "protocol": "Https",
                "sslCertificate": part("sslCertificates", "tls"),
                "hostNames": ["shop.example.com"],
            }}));
        p["redirectConfigurations"] = json!([{"name": "to-https", "properties": {
            "redirectType": "Permanent",
            "targetListener": part("httpListeners", "https"),
            "includePath": true,
        }}]);
        p["requestRoutingRules"] = json!([
            {"name": "http", "properties": {"ruleType": "Basic", "priority": 10,
                "httpListener": part("httpListeners", "http"),
                "redirectConfiguration": part("redirectConfigurations", "to-https")}},
            {"name": "https", "properties": {"ruleType": "PathBasedRouting", "priority": 20,
                "httpListener": part("httpListeners", "https"),
                "urlPathMap": part("urlPathMaps", "paths")}},
        ]);
    });
    let ok = arm.put(GW, &redirected).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "a rule with a backend and a redirect",
            with(&|g| {
                g["properties"]["redirectConfigurations"] = json!([{"name": "r", "properties": {
                    "redirectType": "Found", "targetUrl": "https://example.com/"}}]);
                g["properties"]["urlPathMaps"][0]["properties"]["defaultRedirectConfiguration"] =
                    json!({"id": format!("{}/redirectConfigurations/r", arm.id(GW))});
            }),
            "InvalidRequestFormat",
        ),
        (
            "a redirect to a listener that is not the gateway's",
            with(&|g| {
                g["properties"]["redirectConfigurations"] = json!([{"name": "r", "properties": {
                    "redirectType": "Permanent",
                    "targetListener": {"id": format!("{}/httpListeners/nope", arm.id(GW))}}}]);
            }),
            "InvalidResourceReference",
        ),
        (
            "a redirect with neither a listener nor a URL",
            with(&|g| {
                g["properties"]["redirectConfigurations"] =
                    json!([{"name": "r", "properties": {"redirectType": "Permanent"}}]);
            }),
            "InvalidRequestFormat",
        ),
        (
            "a request timeout of 0",
            with(&|g| {
                g["properties"]["backendHttpSettingsCollection"][0]["properties"]["requestTimeout"] =
                    json!(0);
            }),
            "InvalidRequestFormat",
        ),
        (
            "a path override without '/'",
            with(&|g| {
                g["properties"]["backendHttpSettingsCollection"][0]["properties"]["path"] =
                    json!("v1");
            }),
            "InvalidRequestFormat",
        ),
        (
            "six host names",
            with(&|g| {
                g["properties"]["httpListeners"][0]["properties"]["hostNames"] =
                    json!(["a", "b", "c", "d", "e", "f"]);
            }),
            "InvalidRequestFormat",
        ),
        (
            "a path map without a default",
            with(&|g| {
                let m = g["properties"]["urlPathMaps"][0]["properties"]
                    .as_object_mut()
                    .unwrap();
                m.remove("defaultBackendAddressPool");
                m.remove("defaultBackendHttpSettings");
            }),
            "InvalidRequestFormat",
        ),
    ];
    for (what, body, code) in cases {
        let got = arm.put(GW, &body).await;
        assert_eq!(got.code(), code, "{what}: {:?}", got.body);
    }
    // The gateway stayed as the last good PUT left it.
    let now = arm.get(GW).await;
    assert_eq!(
        now.body["properties"]["redirectConfigurations"][0]["name"],
        "to-https"
    );
}

#[tokio::test]
async fn priorities_are_required_from_2021_08_01_and_the_subnet_is_the_gateways_alone() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    gateway_world(&arm).await;
    // Before 2021-08-01 a rule may have no priority.
    let old = arm
        .send(
            "PUT",
            &format!("{}?api-version=2021-05-01", arm.path(GW)),
            &[],
            Some(&gateway(&arm, None, "p80")),
        )
        .await;
    assert_eq!(old.status, 201, "{:?}", old.body);
    assert_eq!(
        arm.put(GW, &gateway(&arm, None, "p80")).await.code(),
        "ApplicationGatewayRequestRoutingRulePriorityCannotBeEmpty"
    );
    assert_eq!(arm.delete(GW).await.status, 202);

    // A load balancer frontend in the subnet: no gateway there.
    let lb = arm
        .put(
            "Microsoft.Network/loadBalancers/ilb",
            &json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {
                "frontendIPConfigurations": [{"name": "f", "properties": {
                    "subnet": {"id": arm.id(SUBNET)}}}]}}),
        )
        .await;
    assert_eq!(lb.status, 201, "{:?}", lb.body);
    let refused = arm.put(GW, &gateway(&arm, Some(100), "p80")).await;
    assert_eq!(
        refused.code(),
        "ApplicationGatewaySubnetCannotBeUsedByOtherResources"
    );
    assert_eq!(
        arm.delete("Microsoft.Network/loadBalancers/ilb")
            .await
            .status,
        202
    );
    let ok = arm.put(GW, &gateway(&arm, Some(100), "p80")).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    // Its own private frontend in the subnet is no other resource: a second PUT passes.
    let etag = ok.body["etag"].as_str().unwrap().to_string();
    let again = arm
        .put_with(GW, &gateway(&arm, Some(100), "p80"), &[("If-Match", &etag)])
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    // A stale ETag: 412.
    let stale = arm
        .put_with(GW, &gateway(&arm, Some(100), "p80"), &[("If-Match", &etag)])
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.code(), "PreconditionFailed");
}
