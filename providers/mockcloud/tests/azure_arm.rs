//! Azure Resource Manager over HTTPS: ARM's generic semantics (TLS with the mock's CA,
//! bearer tokens, api-version, PUT/GET/PATCH/DELETE, ETags, asynchronous operations, lists
//! with nextLink, throttling) and the Network provider's rules, each checked through the
//! wire as a client sees it.

mod arm_support;

use arm_support::{Arm, NET, start, start_with, world};
use serde_json::{Value, json};

fn vnet(prefixes: &[&str], subnets: &[(&str, &str)]) -> Value {
    json!({
        "location": "eastus",
        "properties": {
            "addressSpace": {"addressPrefixes": prefixes},
            "subnets": subnets.iter().map(|(n, p)| json!({"name": n, "properties": {"addressPrefix": p}})).collect::<Vec<_>>(),
        },
    })
}

fn nic(arm: &Arm, subnet: &str, configs: &[(&str, Option<&str>)]) -> Value {
    let sid = arm.id(subnet);
    let cfgs: Vec<Value> = configs
        .iter()
        .enumerate()
        .map(|(i, (name, ip))| {
            let mut p = json!({"subnet": {"id": sid}, "primary": i == 0});
            if let Some(ip) = ip {
                p["privateIPAllocationMethod"] = json!("Static");
                p["privateIPAddress"] = json!(ip);
            }
            json!({"name": name, "properties": p})
        })
        .collect();
    json!({"location": "eastus", "properties": {"ipConfigurations": cfgs}})
}

const V: &str = "Microsoft.Network/virtualNetworks/v1";
const S: &str = "Microsoft.Network/virtualNetworks/v1/subnets/s1";

#[tokio::test]
async fn https_with_the_mocks_ca_and_bearer_tokens_and_api_versions() {
    let h = start().await;
    let mut arm = Arm::new(&h).await;
    assert_eq!(arm.get(V).await.code(), "ResourceNotFound");
    let base = arm.path(V);
    let missing = arm.send("GET", &base, &[], None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (400, "MissingApiVersionParameter")
    );
    let unknown = arm
        .send("GET", &format!("{base}?api-version=2099-01-01"), &[], None)
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (400, "NoRegisteredProviderFound")
    );
    let malformed = arm
        .send("GET", &format!("{base}?api-version=latest"), &[], None)
        .await;
    assert_eq!(malformed.code(), "InvalidApiVersionParameter");
    let wrong_type = arm
        .send(
            "GET",
            &format!("{}?api-version={NET}", arm.path("Microsoft.Network/nope/x")),
            &[],
            None,
        )
        .await;
    assert_eq!(wrong_type.code(), "InvalidResourceType");
    let no_group = arm
        .send(
            "GET",
            &format!(
                "/subscriptions/{}/resourceGroups/nope/providers/{V}?api-version={NET}",
                arm.subscription
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(no_group.code(), "ResourceGroupNotFound");
    arm.token = String::new();
    let anonymous = arm.get(V).await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (401, "AuthenticationFailed")
    );
}

#[tokio::test]
async fn put_replaces_whole_resources_with_etags_and_operations() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    let created = arm
        .put(V, &vnet(&["10.0.0.0/16"], &[("s1", "10.0.1.0/24")]))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["properties"]["provisioningState"], "Succeeded");
    let etag = created.body["etag"].as_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""));
    assert_eq!(created.header("retry-after"), "1");
    let status = arm.follow(created.header("azure-asyncoperation")).await;
    assert_eq!(status.body["status"], "Succeeded");
    assert_eq!(
        created.body["properties"]["subnets"][0]["id"],
        arm.id(S).as_str()
    );

    let stale = arm
        .put_with(
            V,
            &vnet(&["10.0.0.0/16"], &[]),
            &[("If-Match", "W/\"stale\"")],
        )
        .await;
    assert_eq!((stale.status, stale.code()), (412, "PreconditionFailed"));
    let exists = arm
        .put_with(V, &vnet(&["10.0.0.0/16"], &[]), &[("If-None-Match", "*")])
        .await;
    assert_eq!(exists.status, 412);
    let replaced = arm
        .put_with(
            V,
            &vnet(&["10.0.0.0/16"], &[("s2", "10.0.2.0/24")]),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(replaced.status, 200);
    assert_ne!(replaced.body["etag"], etag.as_str());
    // Replaced whole: s1 is gone.
    let subnets = replaced.body["properties"]["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 1);
    assert_eq!(arm.get(S).await.code(), "NotFound");

    let tagged = arm.patch(V, &json!({"tags": {"owner": "cloudnet"}})).await;
    assert_eq!(tagged.status, 200);
    assert_eq!(arm.get(V).await.body["tags"]["owner"], "cloudnet");
    assert_eq!(
        arm.patch(V, &json!({"properties": {}})).await.code(),
        "InvalidRequestFormat"
    );
    let no_location = arm.put(V, &json!({"properties": {}})).await;
    assert_eq!(no_location.code(), "LocationRequired");

    let deleted = arm.delete(V).await;
    assert_eq!(deleted.status, 202);
    let result = arm.follow(deleted.header("location")).await;
    assert_eq!(result.status, 204);
    assert_eq!(arm.get(V).await.status, 404);
    assert_eq!(arm.delete(V).await.status, 204);
    let calls = h.with_cloud(|c| c.calls.clone());
    // Refused writes count too: create, 2 refused conditions, replace, 2 PATCHes, no location.
    assert_eq!(calls["arm:Microsoft.Network/virtualNetworks/write"], 7);
    assert_eq!(calls["arm:Microsoft.Network/virtualNetworks/delete"], 2);
}

#[tokio::test]
async fn subnets_stay_inside_their_vnet_apart_and_in_place_while_used() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    let overlap = arm
        .put(
            V,
            &vnet(
                &["10.0.0.0/16"],
                &[("a", "10.0.0.0/24"), ("b", "10.0.0.128/25")],
            ),
        )
        .await;
    assert_eq!(overlap.code(), "NetcfgSubnetRangesOverlap");
    let outside = arm
        .put(V, &vnet(&["10.0.0.0/16"], &[("a", "10.1.0.0/24")]))
        .await;
    assert_eq!(outside.code(), "NetcfgSubnetRangeOutsideVnet");
    assert_eq!(
        arm.put(V, &vnet(&["10.0.0.0/16"], &[("s1", "10.0.1.0/24")]))
            .await
            .status,
        201
    );
    // A subnet of its own (a child PUT) must not overlap either.
    let child = arm
        .put(
            S.replace("s1", "s2").as_str(),
            &json!({"properties": {"addressPrefix": "10.0.1.128/25"}}),
        )
        .await;
    assert_eq!(child.code(), "NetcfgSubnetRangesOverlap");
    let child = arm
        .put(
            S.replace("s1", "s2").as_str(),
            &json!({"properties": {"addressPrefix": "10.0.2.0/24"}}),
        )
        .await;
    assert_eq!(child.status, 201, "{:?}", child.body);
    assert_eq!(
        arm.get(V).await.body["properties"]["subnets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let n = arm
        .put(
            "Microsoft.Network/networkInterfaces/n1",
            &nic(&arm, S, &[("ip1", None)]),
        )
        .await;
    assert_eq!(n.status, 201, "{:?}", n.body);
    let in_use = arm.delete(S).await;
    assert_eq!(
        (in_use.status, in_use.code()),
        (400, "InUseSubnetCannotBeDeleted")
    );
    let dropped = arm
        .put(V, &vnet(&["10.0.0.0/16"], &[("s2", "10.0.2.0/24")]))
        .await;
    assert_eq!(dropped.code(), "InUseSubnetCannotBeDeleted");
    assert_eq!(arm.delete(V).await.code(), "InUseSubnetCannotBeDeleted");
    let subnet = arm.get(S).await;
    assert_eq!(
        subnet.body["properties"]["ipConfigurations"][0]["id"],
        arm.id("Microsoft.Network/networkInterfaces/n1/ipConfigurations/ip1")
            .as_str()
    );
    assert_eq!(
        arm.delete("Microsoft.Network/networkInterfaces/n1")
            .await
            .status,
        202
    );
    assert_eq!(arm.delete(S).await.status, 202);
    assert_eq!(arm.get(S).await.status, 404);
}

#[tokio::test]
async fn nic_addresses_are_unique_in_the_vnet_inside_the_subnet_and_not_reserved() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    arm.put(
        V,
        &vnet(
            &["10.0.0.0/16"],
            &[("s1", "10.0.1.0/24"), ("tiny", "10.0.9.0/29")],
        ),
    )
    .await;
    let a = arm
        .put(
            "Microsoft.Network/networkInterfaces/a",
            &nic(&arm, S, &[("p", None), ("s", Some("10.0.1.50"))]),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let cfgs = &a.body["properties"]["ipConfigurations"];
    assert_eq!(cfgs[0]["properties"]["privateIPAddress"], "10.0.1.4");
    assert_eq!(
        cfgs[0]["properties"]["privateIPAllocationMethod"],
        "Dynamic"
    );
    assert_eq!(cfgs[1]["properties"]["privateIPAddress"], "10.0.1.50");
    let taken = arm
        .put(
            "Microsoft.Network/networkInterfaces/b",
            &nic(&arm, S, &[("p", Some("10.0.1.50"))]),
        )
        .await;
    assert_eq!(taken.code(), "PrivateIPAddressIsAllocated");
    for (ip, code) in [
        ("10.0.1.1", "PrivateIPAddressInReservedRange"),
        ("10.0.1.255", "PrivateIPAddressInReservedRange"),
        ("10.0.2.9", "PrivateIPAddressNotInSubnet"),
    ] {
        let r = arm
            .put(
                "Microsoft.Network/networkInterfaces/b",
                &nic(&arm, S, &[("p", Some(ip))]),
            )
            .await;
        assert_eq!(r.code(), code, "{ip}");
    }
    // Replacing the NIC keeps its dynamic address.
    let again = arm
        .put(
            "Microsoft.Network/networkInterfaces/a",
            &nic(&arm, S, &[("p", None)]),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.4"
    );
    // A /29 has 3 usable addresses.
    let tiny = "Microsoft.Network/virtualNetworks/v1/subnets/tiny";
    let three = arm
        .put(
            "Microsoft.Network/networkInterfaces/t",
            &nic(&arm, tiny, &[("a", None), ("b", None), ("c", None)]),
        )
        .await;
    assert_eq!(three.status, 201, "{:?}", three.body);
    let full = arm
        .put(
            "Microsoft.Network/networkInterfaces/u",
            &nic(&arm, tiny, &[("a", None)]),
        )
        .await;
    assert_eq!((full.status, full.code()), (400, "SubnetIsFull"));
    let dangling = arm
        .put(
            "Microsoft.Network/networkInterfaces/u",
            &nic(
                &arm,
                "Microsoft.Network/virtualNetworks/v1/subnets/nope",
                &[("a", None)],
            ),
        )
        .await;
    assert_eq!(dangling.code(), "InvalidResourceReference");
}

#[tokio::test]
async fn a_nic_holds_at_most_256_ip_configurations() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    arm.put(V, &vnet(&["10.0.0.0/16"], &[("s1", "10.0.0.0/22")]))
        .await;
    let names: Vec<String> = (0..257).map(|i| format!("c{i}")).collect();
    let cfgs: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
    let over = arm
        .put(
            "Microsoft.Network/networkInterfaces/big",
            &nic(
                &arm,
                "Microsoft.Network/virtualNetworks/v1/subnets/s1",
                &cfgs,
            ),
        )
        .await;
    assert_eq!(over.code(), "NetworkInterfaceIpConfigurationCountExceeded");
    let ok = arm
        .put(
            "Microsoft.Network/networkInterfaces/big",
            &nic(
                &arm,
                "Microsoft.Network/virtualNetworks/v1/subnets/s1",
                &cfgs[..256],
            ),
        )
        .await;
    assert_eq!(ok.status, 201);
    let ips: std::collections::BTreeSet<&str> = ok.body["properties"]["ipConfigurations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["properties"]["privateIPAddress"].as_str())
        .collect();
    assert_eq!(ips.len(), 256);
}

fn routes(n: usize) -> Value {
    let r: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("r{i}"), "properties": {"addressPrefix": format!("10.{}.{}.0/24", 100 + i / 256, i % 256), "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.224.0.4"}}))
        .collect();
    json!({"location": "eastus", "properties": {"routes": r}})
}

#[tokio::test]
async fn route_tables_hold_400_routes_and_cannot_go_while_associated() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    let rt = "Microsoft.Network/routeTables/rt";
    assert_eq!(arm.put(rt, &routes(400)).await.status, 201);
    assert_eq!(
        arm.put(rt, &routes(401)).await.code(),
        "RouteTableRouteLimitReached"
    );
    let route = arm
        .put(&format!("{rt}/routes/r0"), &json!({"properties": {"addressPrefix": "10.244.0.0/24", "nextHopType": "VirtualAppliance"}}))
        .await;
    assert_eq!(route.code(), "InvalidNextHopIpAddress");
    let route = arm
        .put(&format!("{rt}/routes/r0"), &json!({"properties": {"addressPrefix": "10.244.0.0/24", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.224.0.5"}}))
        .await;
    assert_eq!(route.status, 200, "{:?}", route.body);
    assert_eq!(route.body["properties"]["addressPrefix"], "10.244.0.0/24");
    let shipped = "Microsoft.Network/routeTables/aks-agentpool-12345678-routetable";
    assert_eq!(
        arm.delete(shipped).await.code(),
        "InUseRouteTableCannotBeDeleted"
    );
}

fn lb(arm: &Arm, rules: usize, probe: &str) -> Value {
    let me = arm.id("Microsoft.Network/loadBalancers/lb");
    let r: Vec<Value> = (0..rules)
        .map(|i| {
            json!({"name": format!("rule{i}"), "properties": {
            "frontendIPConfiguration": {"id": format!("{me}/frontendIPConfigurations/fe")},
            "backendAddressPool": {"id": format!("{me}/backendAddressPools/pool")},
            "probe": {"id": format!("{me}/probes/{probe}")},
            "protocol": "Tcp", "frontendPort": 1000 + i, "backendPort": 8080}})
        })
        .collect();
    json!({
        "location": "eastus",
        "sku": {"name": "Standard"},
        "properties": {
            "frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": arm.id("Microsoft.Network/publicIPAddresses/pip")}}}],
            "backendAddressPools": [{"name": "pool"}],
            "probes": [{"name": "hc", "properties": {"protocol": "Http", "port": 10256, "requestPath": "/healthz"}}],
            "loadBalancingRules": r,
        },
    })
}

#[tokio::test]
async fn load_balancers_check_their_references_limits_and_users() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    let pip = arm
        .put(
            "Microsoft.Network/publicIPAddresses/pip",
            &json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {}}),
        )
        .await;
    assert_eq!(pip.status, 201);
    assert_eq!(pip.body["properties"]["publicIPAllocationMethod"], "Static");
    assert!(pip.body["properties"]["ipAddress"].as_str().is_some());
    let name = "Microsoft.Network/loadBalancers/lb";
    assert_eq!(
        arm.put(name, &lb(&arm, 2, "nope")).await.code(),
        "InvalidResourceReference"
    );
    assert_eq!(
        arm.put(name, &lb(&arm, 251, "hc")).await.code(),
        "LoadBalancerRulesLimitExceeded"
    );
    let ok = arm.put(name, &lb(&arm, 250, "hc")).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body["error"]);
    // A node NIC joins the pool by its ipConfiguration.
    let ss_nic = "Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/0/networkInterfaces/aks-nodepool1-12345678-vmss";
    assert_eq!(arm.get(ss_nic).await.status, 200);
    let subnet = "Microsoft.Network/virtualNetworks/aks-vnet-12345678/subnets/aks-subnet";
    let mut body = nic(&arm, subnet, &[("ipconfig1", None)]);
    body["properties"]["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] =
        json!([{"id": arm.id("Microsoft.Network/loadBalancers/lb/backendAddressPools/pool")}]);
    let member = arm
        .put("Microsoft.Network/networkInterfaces/m", &body)
        .await;
    assert_eq!(member.status, 201, "{:?}", member.body);
    let pool = arm
        .get("Microsoft.Network/loadBalancers/lb/backendAddressPools/pool")
        .await;
    assert_eq!(pool.status, 200);
    assert_eq!(
        pool.body["properties"]["backendIPConfigurations"][0]["id"],
        arm.id("Microsoft.Network/networkInterfaces/m/ipConfigurations/ipconfig1")
            .as_str()
    );
    let shown = arm.get(name).await;
    assert_eq!(
        shown.body["properties"]["backendAddressPools"][0]["properties"]["backendIPConfigurations"]
            [0]["id"],
        arm.id("Microsoft.Network/networkInterfaces/m/ipConfigurations/ipconfig1")
            .as_str()
    );
    assert_eq!(
        arm.delete(name).await.code(),
        "InUseBackendAddressPoolCannotBeDeleted"
    );
    assert_eq!(
        arm.delete("Microsoft.Network/publicIPAddresses/pip")
            .await
            .code(),
        "PublicIPAddressCannotBeDeleted"
    );
    // An internal frontend takes an address from the subnet, not one a NIC holds.
    let internal = json!({"location": "eastus", "properties": {"frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": arm.id(subnet)}, "privateIPAllocationMethod": "Static", "privateIPAddress": "10.224.0.4"}}]}});
    assert_eq!(
        arm.put("Microsoft.Network/loadBalancers/ilb", &internal)
            .await
            .code(),
        "PrivateIPAddressIsAllocated"
    );
}

#[tokio::test]
async fn lists_page_with_next_links() {
    let h = start_with(world(|w| w.page_size = 2)).await;
    let arm = Arm::new(&h).await;
    arm.put(V, &vnet(&["10.0.0.0/16"], &[("s1", "10.0.1.0/24")]))
        .await;
    for i in 0..5 {
        let r = arm
            .put(
                &format!("Microsoft.Network/networkInterfaces/n{i}"),
                &nic(&arm, S, &[("p", None)]),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut page = arm.get("Microsoft.Network/networkInterfaces").await;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        for v in page.body["value"].as_array().unwrap() {
            names.push(v["name"].as_str().unwrap().to_string());
        }
        match page.body["nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with("https://localhost:"), "{next}");
                page = arm.follow(next).await;
            }
            None => break,
        }
    }
    assert_eq!(names, ["n0", "n1", "n2", "n3", "n4"]);
    assert_eq!(pages, 3);
}
