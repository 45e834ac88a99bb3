//! The RBAC actions an ARM request needs, as Azure checks them: the request's own operation
//! (`Microsoft.Network/networkInterfaces/write`, see [`crate::arm::operation_name`]) over the
//! resource's scope, and, for a PUT, a `join` action on each resource the body links to
//! (ARM's linked access check):
//!
//! | PUT of | Link (body field) | Linked action |
//! |---|---|---|
//! | `networkInterfaces` | `ipConfigurations[].subnet` | `Microsoft.Network/virtualNetworks/subnets/join/action` |
//! | | `ipConfigurations[].publicIPAddress` | `Microsoft.Network/publicIPAddresses/join/action` |
//! | | `ipConfigurations[].loadBalancerBackendAddressPools[]` | `Microsoft.Network/loadBalancers/backendAddressPools/join/action` |
//! | | `ipConfigurations[].applicationGatewayBackendAddressPools[]` | `Microsoft.Network/applicationGateways/backendAddressPools/join/action` |
//! | | `networkSecurityGroup` | `Microsoft.Network/networkSecurityGroups/join/action` |
//! | `loadBalancers` | `frontendIPConfigurations[].publicIPAddress` / `.subnet` | `publicIPAddresses/join/action` / `virtualNetworks/subnets/join/action` |
//! | | `backendAddressPools[].loadBalancerBackendAddresses[].virtualNetwork` | `Microsoft.Network/virtualNetworks/joinLoadBalancer/action` |
//! | `virtualNetworks/subnets` | `routeTable`, `networkSecurityGroup` | `routeTables/join/action`, `networkSecurityGroups/join/action` |
//! | `virtualMachineScaleSets/virtualMachines` (Compute) | `networkProfileConfiguration.networkInterfaceConfigurations[].ipConfigurations[].subnet` | `Microsoft.Network/virtualNetworks/subnets/join/action` |
//! | | `...ipConfigurations[].loadBalancerBackendAddressPools[]` / `applicationGatewayBackendAddressPools[]`, `networkSecurityGroup` | the `join` actions above |
//! | `applicationGateways` | `gatewayIPConfigurations[].subnet`, `frontendIPConfigurations[].publicIPAddress` / `.subnet` | the `join` actions above |
//!
//! A refused own action is 403 `AuthorizationFailed`; a refused linked one 403
//! `LinkedAuthorizationFailed`, both with ARM's messages.

use serde_json::Value;

use super::{AzError, Call};
use crate::grants::{Need, Refusal};

/// The actions `call` (whose own operation is `operation`) needs, its own first.
pub fn needs(subscription: &str, call: &Call, operation: &str) -> Vec<Need> {
    let scope = format!("/subscriptions/{subscription}/{}", call.segments.join("/"));
    let mut out = vec![Need::new(operation, scope)];
    if call.method != "PUT" {
        return out;
    }
    let Some(body) = &call.body else {
        return out;
    };
    let props = &body["properties"];
    let kind = match operation.strip_suffix("/write") {
        Some("Microsoft.Compute/virtualMachineScaleSets/virtualMachines") => "scaleSetInstance",
        Some(o) => o.strip_prefix("Microsoft.Network/").unwrap_or_default(),
        None => "",
    };
    let mut link = |v: &Value, action: &str| {
        if let Some(id) = v["id"].as_str().filter(|i| !i.is_empty()) {
            let n = Need::new(
                format!("Microsoft.Network/{action}"),
                id.trim_end_matches('/'),
            );
            if !out.contains(&n) {
                out.push(n);
            }
        }
    };
    let each =
        |v: &Value, key: &str| -> Vec<Value> { v[key].as_array().cloned().unwrap_or_default() };
    match kind {
        "networkInterfaces" => {
            for c in each(props, "ipConfigurations") {
                let p = &c["properties"];
                link(&p["subnet"], "virtualNetworks/subnets/join/action");
                link(&p["publicIPAddress"], "publicIPAddresses/join/action");
                for pool in each(p, "loadBalancerBackendAddressPools") {
                    link(&pool, "loadBalancers/backendAddressPools/join/action");
                }
                for pool in each(p, "applicationGatewayBackendAddressPools") {
                    link(&pool, "applicationGateways/backendAddressPools/join/action");
                }
            }
            link(
                &props["networkSecurityGroup"],
                "networkSecurityGroups/join/action",
            );
        }
        "loadBalancers" | "applicationGateways" => {
            for c in each(props, "frontendIPConfigurations")
                .into_iter()
                .chain(each(props, "gatewayIPConfigurations"))
            {
                let p = &c["properties"];
                link(&p["publicIPAddress"], "publicIPAddresses/join/action");
                link(&p["subnet"], "virtualNetworks/subnets/join/action");
            }
            for pool in each(props, "backendAddressPools") {
                for a in each(&pool["properties"], "loadBalancerBackendAddresses") {
                    link(
                        &a["properties"]["virtualNetwork"],
                        "virtualNetworks/joinLoadBalancer/action",
                    );
                }
            }
        }
        "scaleSetInstance" => {
            for c in each(
                &props["networkProfileConfiguration"],
                "networkInterfaceConfigurations",
            ) {
                let p = &c["properties"];
                for ip in each(p, "ipConfigurations") {
                    let p = &ip["properties"];
                    link(&p["subnet"], "virtualNetworks/subnets/join/action");
                    for pool in each(p, "loadBalancerBackendAddressPools") {
                        link(&pool, "loadBalancers/backendAddressPools/join/action");
                    }
                    for pool in each(p, "applicationGatewayBackendAddressPools") {
                        link(&pool, "applicationGateways/backendAddressPools/join/action");
                    }
                }
                link(
                    &p["networkSecurityGroup"],
                    "networkSecurityGroups/join/action",
                );
            }
        }
        "virtualNetworks/subnets" => {
            link(&props["routeTable"], "routeTables/join/action");
            link(
                &props["networkSecurityGroup"],
                "networkSecurityGroups/join/action",
            );
        }
        _ => {}
    }
    out
}

/// ARM's 403 for a refusal: `AuthorizationFailed` when the call's own action is missing,
/// `LinkedAuthorizationFailed` when a linked one is.
pub fn refusal_error(caller: &str, needs: &[Need], r: &Refusal) -> AzError {
    let own = &needs[0];
    if r.need == *own {
        return AzError::new(
            403,
            "AuthorizationFailed",
            format!(
                "The client '{caller}' with object id '{caller}' does not have authorization to perform action '{}' over scope '{}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                own.permission, own.resource
            ),
        );
    }
    AzError::new(
        403,
        "LinkedAuthorizationFailed",
        format!(
            "The client '{caller}' with object id '{caller}' has permission to perform action '{}' on scope '{}'; however, it does not have permission to perform action '{}' on the linked scope(s) '{}' or the linked scope(s) are invalid.",
            own.permission, own.resource, r.need.permission, r.need.resource
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn put(path: &str, body: Value) -> Call {
        Call {
            method: "PUT".into(),
            segments: path.split('/').map(str::to_string).collect(),
            api_version: None,
            query: BTreeMap::new(),
            if_match: None,
            if_none_match: None,
            body: Some(body),
            now_ms: 0,
            running_ms: 0,
        }
    }

    #[test]
    fn a_nic_put_needs_join_on_its_subnet_and_pools() {
        let subnet = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a";
        let pool = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/kubernetes/backendAddressPools/kubernetes";
        let call = put(
            "resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic",
            json!({"properties": {"ipConfigurations": [
                {"name": "a", "properties": {"subnet": {"id": subnet},
                    "loadBalancerBackendAddressPools": [{"id": pool}]}},
                {"name": "b", "properties": {"subnet": {"id": subnet}}}
            ]}}),
        );
        let n = needs("s", &call, "Microsoft.Network/networkInterfaces/write");
        let actions: Vec<&str> = n.iter().map(|n| n.permission.as_str()).collect();
        assert_eq!(
            actions,
            [
                "Microsoft.Network/networkInterfaces/write",
                "Microsoft.Network/virtualNetworks/subnets/join/action",
                "Microsoft.Network/loadBalancers/backendAddressPools/join/action"
            ]
        );
        assert_eq!(
            n[0].resource,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic"
        );
        assert_eq!(n[1].resource, subnet);
        let refused = Refusal {
            role: Some("r".into()),
            need: n[1].clone(),
        };
        let e = refusal_error("oid-1", &n, &refused);
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "LinkedAuthorizationFailed")
        );
        assert!(
            e.message
                .contains("Microsoft.Network/virtualNetworks/subnets/join/action")
        );
        let own = Refusal {
            role: None,
            need: n[0].clone(),
        };
        assert_eq!(refusal_error("oid-1", &n, &own).code, "AuthorizationFailed");
    }
}
