//! Azure's faults, throttling budget, long-running operations, scale-set nodes and instance
//! metadata, through the wire.

mod arm_support;

use arm_support::{Arm, http, start, start_with, world};
use serde_json::{Value, json};

const RT: &str = "Microsoft.Network/routeTables/rt";

async fn add_fault(h: &cloudnet_mockcloud::Handle, rule: Value) {
    let rule = serde_json::from_value(rule).unwrap();
    h.with_cloud(|c| c.faults.add(rule));
}

#[tokio::test]
async fn running_operations_hold_the_resource_until_done() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    add_fault(
        &h,
        json!({"service": "arm", "action": "Microsoft.Network/routeTables/*", "kind": "operation_running", "ms": 400, "trigger": "once"}),
    )
    .await;
    let put = arm
        .put(RT, &json!({"location": "eastus", "properties": {}}))
        .await;
    assert_eq!(put.status, 201);
    assert_eq!(put.body["properties"]["provisioningState"], "Updating");
    let op = put.header("azure-asyncoperation").to_string();
    assert_eq!(arm.follow(&op).await.body["status"], "InProgress");
    let busy = arm
        .put(RT, &json!({"location": "eastus", "properties": {}}))
        .await;
    assert_eq!(
        (busy.status, busy.code()),
        (409, "AnotherOperationInProgress")
    );
    assert_eq!(arm.delete(RT).await.code(), "AnotherOperationInProgress");
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    assert_eq!(arm.follow(&op).await.body["status"], "Succeeded");
    assert_eq!(
        arm.get(RT).await.body["properties"]["provisioningState"],
        "Succeeded"
    );

    // A slow delete: 202, the Location answers 202 while running, then 204 and the table is gone.
    add_fault(
        &h,
        json!({"service": "arm", "action": "Microsoft.Network/routeTables/delete", "kind": "operation_running", "ms": 300, "trigger": "once"}),
    )
    .await;
    let del = arm.delete(RT).await;
    assert_eq!(del.status, 202);
    let location = del.header("location").to_string();
    assert_eq!(arm.follow(&location).await.status, 202);
    assert_eq!(
        arm.get(RT).await.body["properties"]["provisioningState"],
        "Deleting"
    );
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    assert_eq!(arm.follow(&location).await.status, 204);
    assert_eq!(arm.get(RT).await.status, 404);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_the_remaining_budget() {
    let h = start_with(world(|w| w.limits.writes_per_hour = 3)).await;
    let arm = Arm::new(&h).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = arm
            .put(RT, &json!({"location": "eastus", "properties": {}}))
            .await;
        assert!(r.status == 200 || r.status == 201, "{:?}", r.body);
        remaining.push(
            r.header("x-ms-ratelimit-remaining-subscription-writes")
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let spent = arm
        .put(RT, &json!({"location": "eastus", "properties": {}}))
        .await;
    assert_eq!((spent.status, spent.code()), (429, "TooManyRequests"));
    let retry: u64 = spent.header("retry-after").parse().unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    assert_eq!(
        spent.header("x-ms-ratelimit-remaining-subscription-writes"),
        "0"
    );
    // Reads have their own budget.
    let read = arm.get(RT).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.header("x-ms-ratelimit-remaining-subscription-reads"),
        "11999"
    );

    // A throttle fault: 429 with Retry-After, the resource untouched.
    let h = start().await;
    let arm = Arm::new(&h).await;
    add_fault(
        &h,
        json!({"service": "arm", "action": "*/write", "kind": "throttle", "rate_per_sec": 0.001, "burst": 1}),
    )
    .await;
    assert_eq!(
        arm.put(RT, &json!({"location": "eastus", "properties": {}}))
            .await
            .status,
        201
    );
    let throttled = arm
        .put(
            "Microsoft.Network/routeTables/other",
            &json!({"location": "eastus", "properties": {}}),
        )
        .await;
    assert_eq!(
        (throttled.status, throttled.code()),
        (429, "TooManyRequests")
    );
    assert_eq!(throttled.header("retry-after"), "1");
    assert_eq!(
        arm.get("Microsoft.Network/routeTables/other").await.status,
        404
    );
}

#[tokio::test]
async fn server_errors_and_dropped_connections() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    add_fault(
        &h,
        json!({"service": "arm", "action": "Microsoft.Network/routeTables/read", "kind": "error", "status": 503, "trigger": "once"}),
    )
    .await;
    let failed = arm.get(RT).await;
    assert_eq!((failed.status, failed.code()), (503, "ServiceUnavailable"));
    add_fault(
        &h,
        json!({"service": "arm", "action": "Microsoft.Network/routeTables/read", "kind": "drop", "trigger": "once"}),
    )
    .await;
    let path = format!("{}?api-version=2025-05-01", arm.path(RT));
    assert!(arm.try_send("GET", &path, &[], None).await.is_err());
    assert_eq!(arm.get(RT).await.code(), "ResourceNotFound");
    let calls = h.with_cloud(|c| c.calls.clone());
    assert_eq!(calls["arm:Microsoft.Network/routeTables/read"], 3);
}

const SS: &str = "Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss";

#[tokio::test]
async fn scale_set_instances_carry_nics_and_keep_their_addresses_when_scaling() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    let ss = arm.get(SS).await;
    assert_eq!(ss.status, 200, "{:?}", ss.body);
    assert_eq!(ss.body["sku"]["capacity"], 2);
    let instances = arm.get(&format!("{SS}/virtualMachines")).await;
    let names: Vec<&str> = instances.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["properties"]["osProfile"]["computerName"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "aks-nodepool1-12345678-vmss000000",
            "aks-nodepool1-12345678-vmss000001"
        ]
    );
    let ips = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                n["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let nics = arm.get(&format!("{SS}/networkInterfaces")).await;
    assert_eq!(ips(&nics.body), ["10.224.0.4", "10.224.0.5"]);
    // Scale to 3 with a second ipConfiguration per node (a model change applied to all).
    let mut body = ss.body.clone();
    body["sku"]["capacity"] = json!(3);
    let cfg = &mut body["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
        [0]["properties"]["ipConfigurations"];
    let mut second = cfg[0].clone();
    second["name"] = json!("ipconfig2");
    second["properties"]["primary"] = json!(false);
    cfg.as_array_mut().unwrap().push(second);
    let scaled = arm.put(SS, &body).await;
    assert_eq!(scaled.status, 200, "{:?}", scaled.body);
    let nics = arm.get(&format!("{SS}/networkInterfaces")).await;
    assert_eq!(ips(&nics.body), ["10.224.0.4", "10.224.0.5", "10.224.0.8"]);
    let second_ips: Vec<&str> = nics.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n["properties"]["ipConfigurations"][1]["properties"]["privateIPAddress"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(second_ips, ["10.224.0.6", "10.224.0.7", "10.224.0.9"]);
    // A node's NIC cannot be deleted while the node has it.
    let nic = nics.body["value"][0]["id"].as_str().unwrap().to_string();
    assert!(nic.contains("/virtualMachines/0/networkInterfaces/"));
    let one = arm
        .get(&format!(
            "{SS}/virtualMachines/0/networkInterfaces/aks-nodepool1-12345678-vmss"
        ))
        .await;
    assert_eq!(
        one.body["properties"]["virtualMachine"]["id"],
        arm.id(&format!("{SS}/virtualMachines/0")).as_str()
    );
    // Scale in: the highest instance goes, its addresses free again.
    body["sku"]["capacity"] = json!(1);
    assert_eq!(arm.put(SS, &body).await.status, 200);
    let nics = arm.get(&format!("{SS}/networkInterfaces")).await;
    assert_eq!(ips(&nics.body), ["10.224.0.4"]);
    assert_eq!(
        arm.get(&format!("{SS}/virtualMachines/1")).await.status,
        404
    );
}

#[tokio::test]
async fn vm_nics_are_in_use_while_attached() {
    let h = start().await;
    let arm = Arm::new(&h).await;
    let subnet = arm.id("Microsoft.Network/virtualNetworks/aks-vnet-12345678/subnets/aks-subnet");
    let nic = arm
        .put("Microsoft.Network/networkInterfaces/vm1-nic", &json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "p", "properties": {"subnet": {"id": subnet}}}]}}))
        .await;
    assert_eq!(nic.status, 201);
    let vm = arm
        .put("Microsoft.Compute/virtualMachines/vm1", &json!({"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v3"}, "networkProfile": {"networkInterfaces": [{"id": arm.id("Microsoft.Network/networkInterfaces/vm1-nic")}]}}}))
        .await;
    assert_eq!(vm.status, 201, "{:?}", vm.body);
    assert_eq!(
        arm.delete("Microsoft.Network/networkInterfaces/vm1-nic")
            .await
            .code(),
        "NicInUse"
    );
    assert_eq!(
        arm.delete("Microsoft.Compute/virtualMachines/vm1")
            .await
            .status,
        202
    );
    assert_eq!(
        arm.delete("Microsoft.Network/networkInterfaces/vm1-nic")
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn instance_metadata_shows_the_nodes_nics_and_hands_out_tokens() {
    let h = start().await;
    let (status, _, body) = http(&h, "GET", "/metadata/instance?api-version=2021-02-01", &[]).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("Required metadata header not specified"),
        "{body}"
    );
    let (status, _, _) = http(
        &h,
        "GET",
        "/metadata/instance?api-version=2099-01-01",
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = http(
        &h,
        "GET",
        "/_mockcloud/azure-imds/aks-nodepool1-12345678-vmss000001/metadata/instance?api-version=2021-02-01",
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        doc["compute"]["vmScaleSetName"],
        "aks-nodepool1-12345678-vmss"
    );
    assert_eq!(doc["compute"]["location"], "eastus");
    let iface = &doc["network"]["interface"][0];
    assert_eq!(
        iface["ipv4"]["ipAddress"][0]["privateIpAddress"],
        "10.224.0.5"
    );
    assert_eq!(
        iface["ipv4"]["subnet"][0],
        json!({"address": "10.224.0.0", "prefix": "16"})
    );
    let (_, _, text) = http(
        &h,
        "GET",
        "/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress?api-version=2021-02-01&format=text",
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(text, "10.224.0.4", "the first node without a selector");

    let (status, _, body) = http(
        &h,
        "GET",
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F",
        &[("Metadata", "true")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["resource"], "https://management.azure.com/");
    let mut arm = Arm::new(&h).await;
    arm.token = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(arm.get(SS).await.status, 200);
    let by_caller = h.with_cloud(|c| c.call_log.by_caller().clone());
    let callers: Vec<&String> = by_caller.keys().collect();
    assert_eq!(callers.len(), 1, "{by_caller:?}");
    assert_eq!(callers[0].len(), 36, "a GUID object id: {callers:?}");
    assert!(
        by_caller[callers[0]].contains_key("arm:Microsoft.Compute/virtualMachineScaleSets/read")
    );
    // The state dump shows Azure.
    let (_, _, state) = http(&h, "GET", "/_mockcloud/state", &[]).await;
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["azure"]["location"], "eastus");
    assert!(state["azure"]["resources"].as_object().unwrap().len() >= 7);
}
