//! Shared set-up for the tests: a mock cloud on an ephemeral port, the real aws-sdk-ec2
//! client pointed at it, and a tiny raw HTTP client for IMDS and the control endpoint.

#![allow(dead_code)]

pub mod raw_http;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn start() -> Handle {
    start_with(World::default()).await
}

pub async fn start_with(world: World) -> Handle {
    MockCloud::start(Config::ephemeral(world))
        .await
        .expect("mock cloud starts")
}

/// An EC2 client with the SDK's retries turned off, so tests see every error.
pub async fn ec2(h: &Handle) -> aws_sdk_ec2::Client {
    ec2_with(h, RetryConfig::disabled()).await
}

pub async fn ec2_with(h: &Handle, retry: RetryConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_as(h, "AKIDMOCKCLOUD", retry).await)
}

/// SDK configuration for the mock cloud, signing as `akid`.
pub async fn sdk_as(h: &Handle, akid: &str, retry: RetryConfig) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest()).region("us-west-2");
    let credentials = Credentials::new(akid, "secret", None, None, "test");
    let loader = loader.credentials_provider(credentials);
    let loader = loader.endpoint_url(h.endpoint_url()).retry_config(retry);
    loader.load().await
}

/// A new network interface in `subnet`: its id.
pub async fn new_interface(c: &aws_sdk_ec2::Client, subnet: &str) -> String {
    let out = c.create_network_interface().subnet_id(subnet).send().await;
    let created = out.expect("CreateNetworkInterface").network_interface;
    let id = created.and_then(|e| e.network_interface_id);
    id.expect("the interface's id")
}

/// The network interface `id` as DescribeNetworkInterfaces shows it.
pub async fn interface(c: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::NetworkInterface {
    c.describe_network_interfaces()
        .network_interface_ids(id)
        .send()
        .await
        .expect("DescribeNetworkInterfaces")
        .network_interfaces()[0]
        .clone()
}

/// The network interfaces DescribeNetworkInterfaces lists for these filters (one page).
pub async fn interfaces_where(
    c: &aws_sdk_ec2::Client,
    filters: Vec<aws_sdk_ec2::types::Filter>,
) -> Vec<aws_sdk_ec2::types::NetworkInterface> {
    c.describe_network_interfaces()
        .set_filters(Some(filters))
        .send()
        .await
        .expect("DescribeNetworkInterfaces")
        .network_interfaces()
        .to_vec()
}

/// What an AssignPrivateIpAddresses call asks for.
pub enum Assign {
    /// This many secondary IPs.
    Ips(i32),
    /// This many /28 prefixes.
    Prefixes(i32),
}

/// AssignPrivateIpAddresses on interface `eni`, which must succeed.
pub async fn assign(
    c: &aws_sdk_ec2::Client,
    eni: &str,
    what: Assign,
) -> aws_sdk_ec2::operation::assign_private_ip_addresses::AssignPrivateIpAddressesOutput {
    let call = c.assign_private_ip_addresses().network_interface_id(eni);
    let call = match what {
        Assign::Ips(n) => call.secondary_private_ip_address_count(n),
        Assign::Prefixes(n) => call.ipv4_prefix_count(n),
    };
    call.send().await.expect("AssignPrivateIpAddresses")
}

/// Asserts that a call failed with an AWS error code.
#[macro_export]
macro_rules! assert_code {
    ($call:expr, $code:expr) => {{
        use aws_sdk_ec2::error::ProvideErrorMetadata as _;
        match $call {
            Ok(v) => panic!("expected {} but the call succeeded: {v:?}", $code),
            Err(e) => assert_eq!(e.code(), Some($code), "{e:?}"),
        }
    }};
}

/// A raw HTTP/1.1 exchange: (status, headers lowercased, body).
pub async fn http(
    h: &Handle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = tokio::net::TcpStream::connect(h.addr())
        .await
        .expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        h.addr(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = raw_http::parse_head(head);
    (status, headers, body.to_string())
}

/// Adds fault rules (one rule or an array of them, as JSON) through the control endpoint.
pub async fn add_faults(h: &Handle, rules: &str) -> serde_json::Value {
    control_json(h, "POST", "/_mockcloud/faults", rules).await
}

/// A call to the control endpoint with a JSON `body`: the status and the answer's body.
pub async fn control(h: &Handle, method: &str, path: &str, body: &str) -> (u16, String) {
    let json = [("Content-Type", "application/json")];
    let (status, _, body) = http(h, method, path, &json, body).await;
    (status, body)
}

/// A call to the control endpoint that succeeds: its JSON answer.
pub async fn control_json(h: &Handle, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (status, body) = control(h, method, path, body).await;
    assert!(status < 300, "{method} {path}: {status} {body}");
    serde_json::from_str(&body).expect("json")
}

/// Compute Engine calls as one caller: the headers it sends (its `Authorization`, or none).
pub struct GceCaller<'a> {
    pub h: &'a Handle,
    pub headers: &'a [(&'a str, &'a str)],
}

impl GceCaller<'_> {
    /// A call of `path` under the project: the status and the JSON answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        gce(self.h, method, path, self.headers, body).await
    }

    /// A GET of `path` under the project, with no body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call("GET", path, serde_json::Value::Null).await
    }
}

/// A Compute Engine call (`path` under the project `cloudnet-sandbox`) with these headers: the
/// status and the JSON answer (null when not JSON).
pub async fn gce(
    h: &Handle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let path = format!("/compute/v1/projects/cloudnet-sandbox/{path}");
    let (status, _, text) = http(h, method, &path, headers, &body).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}
