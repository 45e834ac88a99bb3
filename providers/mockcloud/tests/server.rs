//! The server around the state machines: faults, the instance metadata service, the control
//! endpoint, ELBv2 routing, and bad input.

mod common;

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_ec2::error::SdkError;
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use common::{
    Assign, add_faults, assign, control, control_json, ec2, ec2_with, http, interface,
    new_interface, start,
};

const NODE_1: &str = "i-0c10d0e7000000001";
const NODE_2: &str = "i-0c10d0e7000000002";
const PRIVATE_A: &str = "subnet-0c10d0e70000000a2";
const EC2_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-west-2/ec2/aws4_request, SignedHeaders=host, Signature=abc";
const ELB_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-west-2/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=abc";
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// A Query-protocol call: `body` form-encoded and POSTed to `/`, with the `Authorization`
/// header `auth` (none: unsigned). The status and the answer's body.
async fn query(h: &Handle, auth: Option<&str>, body: &str) -> (u16, String) {
    let mut headers = vec![FORM];
    headers.extend(auth.map(|a| ("Authorization", a)));
    let (status, _, body) = http(h, "POST", "/", &headers, body).await;
    (status, body)
}

/// A GET of `path` with `headers`: the status and the answer's body.
async fn get(h: &Handle, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http(h, "GET", path, headers, "").await;
    (status, body)
}

/// The default world with the fault rules `rules` (JSON) added, and an EC2 client on it.
async fn faulted(rules: &str) -> (Handle, aws_sdk_ec2::Client) {
    let h = start().await;
    let c = ec2(&h).await;
    add_faults(&h, rules).await;
    (h, c)
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let (h, c) = faulted(r#"{"action":"DescribeVpcs","kind":"latency","ms":300}"#).await;
    let t = Instant::now();
    c.describe_vpcs().send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    h.shutdown().await;
}

#[tokio::test]
async fn throttling_answers_in_each_services_format() {
    let h = start().await;
    let c = ec2(&h).await;
    add_faults(
        &h,
        r#"[{"service":"ec2","kind":"throttle","rate_per_sec":0.001,"burst":2},
            {"service":"elbv2","kind":"throttle","rate_per_sec":0.001,"burst":0}]"#,
    )
    .await;
    c.describe_vpcs().send().await.unwrap();
    c.describe_subnets().send().await.unwrap();
    assert_code!(c.describe_vpcs().send().await, "RequestLimitExceeded");
    let (status, body) = query(&h, Some(EC2_AUTH), "Action=DescribeVpcs&Version=2016-11-15").await;
    assert_eq!(status, 503);
    assert!(body.contains("<Code>RequestLimitExceeded</Code>"), "{body}");
    let elb = "Action=DescribeLoadBalancers&Version=2015-12-01";
    let (status, body) = query(&h, Some(ELB_AUTH), elb).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("<ErrorResponse") && body.contains("<Code>Throttling</Code>"),
        "{body}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn server_errors_once_and_every_nth() {
    let (h, c) = faulted(
        r#"[{"action":"DescribeVpcs","kind":"error","status":500,"trigger":"once"},
            {"action":"DescribeSubnets","kind":"error","status":503,"trigger":{"every_nth":2}}]"#,
    )
    .await;
    assert_code!(c.describe_vpcs().send().await, "InternalError");
    c.describe_vpcs().send().await.unwrap();
    c.describe_subnets().send().await.unwrap();
    assert_code!(c.describe_subnets().send().await, "Unavailable");
    c.describe_subnets().send().await.unwrap();
    // With the SDK's standard retries a transient 5xx is invisible to the caller.
    let retrying = ec2_with(&h, RetryConfig::standard().with_max_attempts(3)).await;
    retrying.describe_subnets().send().await.unwrap();
    let rules = control_json(&h, "GET", "/_mockcloud/faults", "").await;
    assert_eq!(rules[0]["fired"], 1);
    assert_eq!(rules[1]["fired"], 2);
    control_json(&h, "DELETE", "/_mockcloud/faults", "").await;
    for _ in 0..4 {
        c.describe_subnets().send().await.unwrap();
    }
    h.shutdown().await;
}

#[tokio::test]
async fn a_fault_rule_with_an_unknown_key_is_a_400_naming_it() {
    let h = start().await;
    let rule = "{\"action\": \"DescribeVpcs\", \"kind\": \"drop\",\n \"triger\": \"once\"}";
    let (status, body) = control(&h, "POST", "/_mockcloud/faults", rule).await;
    assert_eq!(status, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["key"], "triger", "{body}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("POST /_mockcloud/faults:2:"), "{error}");
    // Nothing was added: the rule would otherwise fire on every call.
    let rules = control_json(&h, "GET", "/_mockcloud/faults", "").await;
    assert_eq!(rules, serde_json::json!([]));
    ec2(&h).await.describe_vpcs().send().await.unwrap();
    h.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_close_without_an_answer() {
    let (h, c) = faulted(r#"{"action":"DescribeVpcs","kind":"drop","trigger":"once"}"#).await;
    match c.describe_vpcs().send().await {
        Err(SdkError::DispatchFailure(_)) | Err(SdkError::ResponseError(_)) => {}
        other => panic!("expected a transport failure, got {other:?}"),
    }
    c.describe_vpcs().send().await.unwrap();
    let calls = control_json(&h, "GET", "/_mockcloud/calls", "").await;
    assert_eq!(calls["ec2:DescribeVpcs"], 2);
    h.shutdown().await;
}

#[tokio::test]
async fn probabilistic_faults_replay_from_their_seed() {
    let h = start().await;
    let c = ec2(&h).await;
    let rule = r#"{"action":"DescribeVpcs","kind":"error","status":500,"trigger":{"probability":{"p":0.5,"seed":42}}}"#;
    let mut runs = Vec::new();
    for _ in 0..2 {
        control_json(&h, "POST", "/_mockcloud/reset", "").await;
        add_faults(&h, rule).await;
        let mut pattern = Vec::new();
        for _ in 0..24 {
            pattern.push(c.describe_vpcs().send().await.is_ok());
        }
        runs.push(pattern);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].iter().any(|ok| *ok) && runs[0].iter().any(|ok| !*ok));
    h.shutdown().await;
}

#[tokio::test]
async fn new_interfaces_and_addresses_can_be_invisible_for_a_while() {
    let (h, c) = faulted(r#"[{"action":"CreateNetworkInterface","kind":"eventual_consistency","ms":600000,"trigger":"once"},
            {"action":"AssignPrivateIpAddresses","kind":"eventual_consistency","ms":600000}]"#).await;
    let id = new_interface(&c, PRIVATE_A).await;
    assert_code!(
        c.describe_network_interfaces()
            .network_interface_ids(&id)
            .send()
            .await,
        "InvalidNetworkInterfaceID.NotFound"
    );
    // The next one is visible at once (the rule fired once).
    let id2 = new_interface(&c, PRIVATE_A).await;
    let r = assign(&c, &id2, Assign::Ips(2)).await;
    assert_eq!(r.assigned_private_ip_addresses().len(), 2);
    let d = interface(&c, &id2).await;
    assert_eq!(d.private_ip_addresses().len(), 1);
    // The state dump shows the truth.
    let state = control_json(&h, "GET", "/_mockcloud/state", "").await;
    assert_eq!(
        state["ec2"]["network_interfaces"][&id2]["private_ips"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    h.shutdown().await;
}

#[tokio::test]
async fn eventual_consistency_ends() {
    let (h, c) =
        faulted(r#"{"action":"CreateNetworkInterface","kind":"eventual_consistency","ms":200}"#)
            .await;
    let id = new_interface(&c, PRIVATE_A).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if c.describe_network_interfaces()
            .network_interface_ids(&id)
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "never became visible");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.shutdown().await;
}

async fn imds_token(h: &cloudnet_mockcloud::Handle) -> String {
    let (status, headers, token) = http(
        h,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "x-aws-ec2-metadata-token-ttl-seconds" && v == "60")
    );
    token
}

#[tokio::test]
async fn the_metadata_service_wants_a_token_and_knows_each_instance() {
    let h = start().await;
    let c = ec2(&h).await;
    let (status, _, _) = http(&h, "GET", "/latest/meta-data/instance-id", &[], "").await;
    assert_eq!(status, 401);
    let (status, _, _) = http(&h, "PUT", "/latest/api/token", &[], "").await;
    assert_eq!(status, 400);
    let forged = [("X-aws-ec2-metadata-token", "forged")];
    let (status, _) = get(&h, "/latest/meta-data/instance-id", &forged).await;
    assert_eq!(status, 401);
    let token = imds_token(&h).await;
    let as_instance = |path: &'static str, instance: Option<&'static str>| {
        let token = token.clone();
        let h = &h;
        async move {
            let mut headers = vec![("X-aws-ec2-metadata-token", token.as_str())];
            if let Some(i) = instance {
                headers.push(("X-Mockcloud-Instance-Id", i));
            }
            http(h, "GET", path, &headers, "").await
        }
    };
    assert_eq!(
        as_instance("/latest/meta-data/instance-id", None).await.2,
        NODE_1
    );
    assert_eq!(
        as_instance("/latest/meta-data/instance-id", Some(NODE_2))
            .await
            .2,
        NODE_2
    );
    let by_path = format!("/_mockcloud/imds/{NODE_2}/latest/meta-data/placement/availability-zone");
    let (_, az) = get(&h, &by_path, &[("X-aws-ec2-metadata-token", &token)]).await;
    assert_eq!(az, "us-west-2b");
    assert_eq!(
        as_instance("/latest/meta-data/placement/region", None)
            .await
            .2,
        "us-west-2"
    );
    assert_eq!(
        as_instance("/latest/meta-data/instance-type", None).await.2,
        "m5.large"
    );
    let mac = as_instance("/latest/meta-data/mac", None).await.2;
    let local = as_instance("/latest/meta-data/local-ipv4", None).await.2;

    // Add a prefix and an address, then read them through the interface's tree.
    let eni = c
        .describe_network_interfaces()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(NODE_1)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .network_interfaces()[0]
        .network_interface_id()
        .unwrap()
        .to_string();
    let base = format!("/latest/meta-data/network/interfaces/macs/{mac}");
    let tok = [("X-aws-ec2-metadata-token", token.as_str())];
    let (status, _, _) = http(&h, "GET", &format!("{base}/ipv4-prefix"), &tok, "").await;
    assert_eq!(status, 404);
    c.assign_private_ip_addresses()
        .network_interface_id(&eni)
        .ipv4_prefix_count(1)
        .send()
        .await
        .unwrap();
    c.assign_private_ip_addresses()
        .network_interface_id(&eni)
        .secondary_private_ip_address_count(1)
        .send()
        .await
        .unwrap();
    let (status, _, prefix) = http(&h, "GET", &format!("{base}/ipv4-prefix"), &tok, "").await;
    assert_eq!(status, 200);
    assert!(prefix.ends_with("/28"));
    for (field, want) in [
        ("device-number", "0".to_string()),
        ("interface-id", eni.clone()),
        ("subnet-id", PRIVATE_A.to_string()),
        ("vpc-id", "vpc-0c10d0e7000000001".to_string()),
        ("subnet-ipv4-cidr-block", "192.168.96.0/19".to_string()),
        ("vpc-ipv4-cidr-blocks", "192.168.0.0/16".to_string()),
        ("security-group-ids", "sg-0c10d0e7000000001".to_string()),
    ] {
        let (_, _, got) = http(&h, "GET", &format!("{base}/{field}"), &tok, "").await;
        assert_eq!(got, want, "{field}");
    }
    let (_, _, ips) = http(&h, "GET", &format!("{base}/local-ipv4s"), &tok, "").await;
    assert_eq!(ips.lines().next(), Some(local.as_str()));
    let (_, _, doc) = http(
        &h,
        "GET",
        "/latest/dynamic/instance-identity/document",
        &tok,
        "",
    )
    .await;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["instanceId"], NODE_1);
    assert_eq!(doc["region"], "us-west-2");
    assert_eq!(doc["privateIp"], local.as_str());
    let (status, _, _) = http(&h, "GET", "/latest/meta-data/no-such-thing", &tok, "").await;
    assert_eq!(status, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn the_control_endpoint_dumps_counts_resets_and_launches() {
    let h = start().await;
    let c = ec2(&h).await;
    c.create_network_interface()
        .subnet_id(PRIVATE_A)
        .send()
        .await
        .unwrap();
    c.describe_vpcs().send().await.unwrap();
    let calls = control_json(&h, "GET", "/_mockcloud/calls", "").await;
    assert_eq!(calls["ec2:CreateNetworkInterface"], 1);
    assert_eq!(calls["ec2:DescribeVpcs"], 1);
    let interfaces = || async {
        let state = control_json(&h, "GET", "/_mockcloud/state", "").await;
        state["ec2"]["network_interfaces"]
            .as_object()
            .unwrap()
            .len()
    };
    assert_eq!(interfaces().await, 3);
    control_json(&h, "POST", "/_mockcloud/reset", "").await;
    assert_eq!(interfaces().await, 2);
    let calls = control_json(&h, "GET", "/_mockcloud/calls", "").await;
    assert!(calls.as_object().unwrap().is_empty());
    let launched = control_json(
        &h,
        "POST",
        "/_mockcloud/instances",
        r#"{"instance_type":"c5.xlarge","subnet":"cloudnet-private-us-west-2c","tags":{"Name":"extra"}}"#,
    )
    .await;
    let id = launched["instance_id"].as_str().unwrap().to_string();
    let d = c
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.reservations()[0].instances()[0]
            .placement()
            .and_then(|p| p.availability_zone()),
        Some("us-west-2c")
    );
    let (status, _, _) = http(&h, "POST", "/_mockcloud/faults", &[], "{not json").await;
    assert_eq!(status, 400);
    let bad_subnet = r#"{"instance_type":"m5.large","subnet":"nope"}"#;
    let (status, _) = control(&h, "POST", "/_mockcloud/instances", bad_subnet).await;
    assert_eq!(status, 400);
    let (status, _, _) = http(&h, "GET", "/_mockcloud/nothing", &[], "").await;
    assert_eq!(status, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn the_call_log_names_each_calls_caller_by_its_access_key() {
    let h = start().await;
    // The shared client signs as AKIDMOCKCLOUD; a second one signs with another key.
    ec2(&h).await.describe_vpcs().send().await.unwrap();
    let other = aws_sdk_ec2::Client::from_conf(
        ec2(&h)
            .await
            .config()
            .to_builder()
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDOTHER",
                "secret",
                None,
                None,
                "test",
            ))
            .build(),
    );
    other
        .create_network_interface()
        .subnet_id(PRIVATE_A)
        .send()
        .await
        .unwrap();
    // Unsigned: routed by Version, logged as anonymous; a faulted call is logged too.
    add_faults(
        &h,
        r#"{"action":"DescribeSubnets","kind":"error","status":503,"trigger":"once"}"#,
    )
    .await;
    let (status, _) = query(&h, None, "Action=DescribeSubnets&Version=2016-11-15").await;
    assert_eq!(status, 503);

    let by = control_json(&h, "GET", "/_mockcloud/calls?by=caller", "").await;
    assert_eq!(
        by,
        serde_json::json!({
            "AKIDMOCKCLOUD": {"ec2:DescribeVpcs": 1},
            "AKIDOTHER": {"ec2:CreateNetworkInterface": 1},
            "anonymous": {"ec2:DescribeSubnets": 1},
        })
    );
    let log = control_json(&h, "GET", "/_mockcloud/call-log", "").await;
    let seen: Vec<(String, String)> = log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["caller"].as_str().unwrap().to_string(),
                c["call"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("AKIDMOCKCLOUD".into(), "ec2:DescribeVpcs".into()),
            ("AKIDOTHER".into(), "ec2:CreateNetworkInterface".into()),
            ("anonymous".into(), "ec2:DescribeSubnets".into()),
        ]
    );
    assert_eq!(log["last_seq"], 3);
    assert_eq!(log["dropped"], 0);
    let after = control_json(&h, "GET", "/_mockcloud/call-log?since=2", "").await;
    assert_eq!(after["calls"].as_array().unwrap().len(), 1);
    assert_eq!(after["calls"][0]["seq"], 3);
    let (status, _, _) = http(&h, "GET", "/_mockcloud/calls?by=action", &[], "").await;
    assert_eq!(status, 400);
    let (status, _, _) = http(&h, "GET", "/_mockcloud/call-log?since=x", &[], "").await;
    assert_eq!(status, 400);
    control_json(&h, "POST", "/_mockcloud/reset", "").await;
    let by = control_json(&h, "GET", "/_mockcloud/calls?by=caller", "").await;
    assert!(by.as_object().unwrap().is_empty());
    assert_eq!(
        control_json(&h, "GET", "/_mockcloud/call-log", "").await["last_seq"],
        0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_aws_errors_not_panics() {
    let mut config = Config::ephemeral(World::default());
    config.max_body_bytes = 4096;
    let h = MockCloud::start(config).await.unwrap();
    let (s, b) = query(&h, Some(EC2_AUTH), "Action=Frobnicate&Version=2016-11-15").await;
    assert_eq!(s, 400);
    assert!(b.contains("<Code>InvalidAction</Code>"), "{b}");
    let (s, b) = query(&h, Some(EC2_AUTH), "%%%&&&===\u{1}").await;
    assert_eq!(s, 400);
    assert!(b.contains("<Code>MissingAction</Code>"), "{b}");
    let (s, b) = query(
        &h,
        Some(EC2_AUTH),
        "Action=DescribeNetworkInterfaces&MaxResults=banana",
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("InvalidParameterValue"), "{b}");
    let (s, b) = query(&h, Some(EC2_AUTH), "Action=AssignPrivateIpAddresses&NetworkInterfaceId=eni-1&SecondaryPrivateIpAddressCount=99999999999999999999").await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = query(
        &h,
        Some(EC2_AUTH),
        &format!("Action=DescribeVpcs&Pad={}", "x".repeat(8192)),
    )
    .await;
    assert_eq!(s, 413, "{b}");
    // No signature and no Version: the service is unknown.
    let (s, b) = query(&h, None, "Action=DescribeVpcs").await;
    assert_eq!(s, 400);
    assert!(b.contains("InvalidAction"), "{b}");
    // Unsigned but versioned, and a GET with a query string, both work.
    let (s, b) = query(&h, None, "Action=DescribeVpcs&Version=2016-11-15").await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = get(&h, "/?Action=DescribeVpcs&Version=2016-11-15", &[]).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains("<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">")
    );
    // ELBv2 by its signing name, in the awsQuery shapes.
    let (s, b) = query(
        &h,
        Some(ELB_AUTH),
        "Action=DescribeLoadBalancers&Version=2015-12-01",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("<DescribeLoadBalancersResult>"), "{b}");
    let (s, b) = query(&h, Some(ELB_AUTH), "Action=Frobnicate&Version=2015-12-01").await;
    assert_eq!(s, 400);
    assert!(
        b.contains("<ErrorResponse") && b.contains("InvalidAction"),
        "{b}"
    );
    // The server is still fine.
    let c = ec2(&h).await;
    c.describe_vpcs().send().await.unwrap();
    h.shutdown().await;
}
