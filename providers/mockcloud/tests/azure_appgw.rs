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
