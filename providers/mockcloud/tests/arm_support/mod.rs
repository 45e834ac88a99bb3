//! A small HTTPS client for the mock cloud's Azure Resource Manager port: TLS verified
//! against the mock's CA (fetched from `GET /_mockcloud/ca.pem`), one request per connection,
//! JSON bodies.

#![allow(dead_code)]

#[path = "../common/raw_http.rs"]
mod raw_http;

use std::collections::BTreeMap;
use std::sync::Arc;

use cloudnet_mockcloud::{Config, Handle, MockCloud, World};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const NET: &str = "2025-05-01";
pub const COMPUTE: &str = "2024-07-01";

pub async fn start_with(world: World) -> Handle {
    MockCloud::start(Config::ephemeral(world))
        .await
        .expect("mock cloud starts")
}

pub async fn start() -> Handle {
    start_with(World::default()).await
}

/// One plain HTTP request to the main port; (status, headers, body).
pub async fn http(
    h: &Handle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, BTreeMap<String, String>, String) {
    let s = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    exchange(s, &h.addr().to_string(), method, path, headers, "")
        .await
        .unwrap()
}

async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, BTreeMap<String, String>, String)> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    // A peer that closes without close_notify is what a dropped connection looks like.
    match s.read_to_end(&mut buf).await {
        Ok(_) => {}
        Err(e) if !buf.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no response: {text:?}")))?;
    let (status, headers) = raw_http::parse_head(head);
    Ok((status, headers, body.to_string()))
}

/// An answer from ARM.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

pub struct Arm {
    pub addr: std::net::SocketAddr,
    pub subscription: String,
    pub group: String,
    pub token: String,
    tls: tokio_rustls::TlsConnector,
}

impl Arm {
    pub async fn new(h: &Handle) -> Arm {
        let (status, _, pem) = http(h, "GET", "/_mockcloud/ca.pem", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(pem, h.ca_pem());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate"))
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (subscription, group) = h.with_cloud(|c| {
            let g = c
                .azure
                .resource_groups
                .values()
                .next()
                .cloned()
                .unwrap_or_default();
            (c.azure.subscription.clone(), g)
        });
        Arm {
            addr: h.arm_addr(),
            subscription,
            group,
            token: "test-token".into(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    /// `/subscriptions/{s}/resourceGroups/{g}/providers/{rest}`.
    pub fn path(&self, rest: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{rest}",
            self.subscription, self.group
        )
    }

    /// The full id of `rest` (under the resource group's providers).
    pub fn id(&self, rest: &str) -> String {
        self.path(rest)
    }

    pub async fn try_send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> std::io::Result<Answer> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let tls = self.tls.connect(name, tcp).await?;
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        if self.token.is_empty() {
            all.remove(0);
        }
        let text = body.map(Value::to_string).unwrap_or_default();
        let host = format!("localhost:{}", self.addr.port());
        let (status, headers, body) =
            exchange(tls, &host, method, path_and_query, &all, &text).await?;
        let body = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::String(body))
        };
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        self.try_send(method, path_and_query, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"))
    }

    fn versioned(rest: &str, version: &str) -> String {
        let sep = if rest.contains('?') { '&' } else { '?' };
        format!("{rest}{sep}api-version={version}")
    }

    pub async fn get(&self, rest: &str) -> Answer {
        self.send(
            "GET",
            &Self::versioned(&self.path(rest), api_of(rest)),
            &[],
            None,
        )
        .await
    }

    pub async fn put(&self, rest: &str, body: &Value) -> Answer {
        self.put_with(rest, body, &[]).await
    }

    pub async fn put_with(&self, rest: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        self.send(
            "PUT",
            &Self::versioned(&self.path(rest), api_of(rest)),
            headers,
            Some(body),
        )
        .await
    }

    pub async fn patch(&self, rest: &str, body: &Value) -> Answer {
        self.send(
            "PATCH",
            &Self::versioned(&self.path(rest), api_of(rest)),
            &[],
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, rest: &str) -> Answer {
        self.send(
            "DELETE",
            &Self::versioned(&self.path(rest), api_of(rest)),
            &[],
            None,
        )
        .await
    }

    /// GET of a URL the mock handed out (operation status, Location, nextLink).
    pub async fn follow(&self, url: &str) -> Answer {
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(url);
        self.send("GET", path, &[], None).await
    }
}

fn api_of(rest: &str) -> &'static str {
    if rest.starts_with("Microsoft.Compute") && !rest.contains("networkInterfaces") {
        COMPUTE
    } else {
        NET
    }
}

/// A world whose Azure section is the default one changed by `f`.
pub fn world(f: impl FnOnce(&mut cloudnet_mockcloud::azure::AzureWorld)) -> World {
    let mut az = cloudnet_mockcloud::azure::AzureWorld::default();
    f(&mut az);
    World {
        azure: Some(az),
        ..World::default()
    }
}
