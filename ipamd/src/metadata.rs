//! The node's own view of its interfaces: the EC2 instance metadata service, IMDSv2
//! (`PUT /latest/api/token`, then `GET`s carrying the token).
//!
//! A read is on the path from a pool change to the pods waiting for it, so it is kept
//! short: the token is reused until shortly before it expires (a 401 drops it), the
//! interfaces are read concurrently, and an interface's `interface-id` and `device-number`,
//! fixed while its MAC is listed, are read once.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::pool::MetadataInterface;

/// Names the instance to a mock GCE metadata server or Azure IMDS that serves several.
pub(crate) const INSTANCE_HEADER: &str = "x-mockcloud-instance";

/// Where the node learns its interfaces from, apart from the API.
pub trait MetadataSource: Send + Sync + 'static {
    fn interfaces(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<MetadataInterface>>> + Send;
}

/// An IMDSv2 client.
#[derive(Clone, Debug)]
pub struct Imds {
    endpoint: Endpoint,
    cache: Arc<Mutex<Cache>>,
}

/// What is reused between reads.
#[derive(Debug, Default)]
struct Cache {
    /// The session token and when it was issued.
    token: Option<(String, Instant)>,
    /// `interface-id` and `device-number` by MAC.
    fixed: BTreeMap<String, (String, Option<u32>)>,
}

const TOKEN_TTL: &str = "300";
/// A token is used for this long, well inside its TTL.
const TOKEN_REUSE: Duration = Duration::from_secs(240);

impl Imds {
    /// `base` is `http://169.254.169.254` on EC2. `instance` names the instance to a mock
    /// metadata service that serves several (its `X-Mockcloud-Instance-Id` header).
    pub fn new(base: impl Into<String>, instance: Option<String>) -> Self {
        Imds {
            endpoint: Endpoint::new(base, instance, "x-mockcloud-instance-id"),
            cache: Arc::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session token: the cached one while fresh, else a new one.
    async fn token(&self) -> Result<String> {
        if let Some((t, at)) = &self.cache().token
            && at.elapsed() < TOKEN_REUSE
        {
            return Ok(t.clone());
        }
        let issued = Instant::now();
        match self
            .call(http::Method::PUT, "/latest/api/token", None)
            .await?
        {
            (200, t) => {
                self.cache().token = Some((t.clone(), issued));
                Ok(t)
            }
            (code, _) => Err(Error::Metadata(format!("token: HTTP {code}"))),
        }
    }

    async fn read(&self) -> Result<Vec<MetadataInterface>> {
        let token = self.token().await?;
        let root = "/latest/meta-data/network/interfaces/macs/";
        let macs = self
            .get(&token, root)
            .await?
            .ok_or_else(|| Error::Metadata("no network interfaces listed".into()))?;
        let macs: Vec<&str> = lines(&macs).map(|m| m.trim_end_matches('/')).collect();
        self.cache()
            .fixed
            .retain(|mac, _| macs.contains(&mac.as_str()));
        futures::future::try_join_all(macs.iter().map(|mac| self.interface(&token, root, mac)))
            .await
    }

    /// One interface's fields, read concurrently.
    async fn interface(&self, token: &str, root: &str, mac: &str) -> Result<MetadataInterface> {
        let field = |f: &str| format!("{root}{mac}/{f}");
        let fixed = self.cache().fixed.get(mac).cloned();
        let fixed = async {
            if let Some(f) = fixed {
                return Ok(f);
            }
            let (id_path, device_path) = (field("interface-id"), field("device-number"));
            let (id, device) =
                futures::try_join!(self.get(token, &id_path), self.get(token, &device_path),)?;
            let id = id.ok_or_else(|| Error::Metadata(format!("{mac}: no interface-id")))?;
            let f = (
                id.trim().to_string(),
                device.and_then(|d| d.trim().parse().ok()),
            );
            self.cache().fixed.insert(mac.to_string(), f.clone());
            Ok(f)
        };
        let (ipv4s_path, prefixes_path) = (field("local-ipv4s"), field("ipv4-prefix"));
        let ((interface_id, device_number), ipv4s, prefixes) = futures::try_join!(
            fixed,
            self.get(token, &ipv4s_path),
            self.get(token, &prefixes_path),
        )?;
        Ok(MetadataInterface {
            mac: mac.to_string(),
            interface_id,
            device_number,
            local_ipv4s: ipv4s
                .map(|b| parse_all::<Ipv4Addr>(&b, mac))
                .transpose()?
                .unwrap_or_default(),
            ipv4_prefixes: prefixes
                .map(|b| parse_all::<Ipv4Net>(&b, mac))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        token: Option<&str>,
    ) -> Result<(u16, String)> {
        let header = match token {
            Some(t) => ("x-aws-ec2-metadata-token", t),
            None => ("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL),
        };
        self.endpoint.request(method, path, &[header]).await
    }

    async fn get(&self, token: &str, path: &str) -> Result<Option<String>> {
        match self.call(http::Method::GET, path, Some(token)).await? {
            (200, body) => Ok(Some(body)),
            (404, _) => Ok(None),
            (401, _) => {
                self.cache().token = None;
                Err(Error::Metadata(format!(
                    "GET {path}: HTTP 401, the token was refused"
                )))
            }
            (code, _) => Err(Error::Metadata(format!("GET {path}: HTTP {code}"))),
        }
    }
}

fn lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines().map(str::trim).filter(|l| !l.is_empty())
}

impl MetadataSource for Imds {
    async fn interfaces(&self) -> Result<Vec<MetadataInterface>> {
        match self.read().await {
            // A token the service no longer takes (it restarted): once more, with a new one.
            Err(Error::Metadata(m)) if m.contains("HTTP 401") => self.read().await,
            r => r,
        }
    }
}

fn parse_all<T: std::str::FromStr>(body: &str, mac: &str) -> Result<Vec<T>> {
    lines(body)
        .map(|l| {
            l.parse()
                .map_err(|_| Error::Metadata(format!("{mac}: not an address: {l:?}")))
        })
        .collect()
}

/// A fixed answer, for tests and for running without a metadata service.
#[derive(Clone, Debug, Default)]
pub struct Static(pub std::sync::Arc<std::sync::Mutex<Vec<MetadataInterface>>>);

impl MetadataSource for Static {
    async fn interfaces(&self) -> Result<Vec<MetadataInterface>> {
        self.0
            .lock()
            .map(|v| v.clone())
            .map_err(|_| Error::Metadata("poisoned".into()))
    }
}

/// A metadata service: where it answers, the instance a mock serving several is asked about
/// (in `instance_header`), and the HTTP client, each request limited to 2 s.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    base: String,
    instance: Option<String>,
    instance_header: &'static str,
    http: HttpClient<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl Endpoint {
    pub(crate) fn new(
        base: impl Into<String>,
        instance: Option<String>,
        instance_header: &'static str,
    ) -> Endpoint {
        Endpoint {
            base: base.into().trim_end_matches('/').to_string(),
            instance,
            instance_header,
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            timeout: Duration::from_secs(2),
        }
    }

    /// `{method} {base}{path}` with `headers`: the status and the body, or an
    /// [`Error::Metadata`] naming the path when no answer came.
    pub(crate) async fn request(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String)> {
        let failed = |e: String| Error::Metadata(format!("{path}: {e}"));
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(i) = &self.instance {
            req = req.header(self.instance_header, i);
        }
        let req = req.body(Empty::new()).map_err(|e| failed(e.to_string()))?;
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| failed(format!("no answer within {:?}", self.timeout)))?
    }

    /// `GET {base}{path}` with `headers`: the body of a 200, or an [`Error::Metadata`] naming
    /// the path; what the GCE and Azure metadata clients send.
    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<String> {
        match self.request(http::Method::GET, path, headers).await? {
            (200, body) => Ok(body),
            (status, _) => Err(Error::Metadata(format!("{path}: HTTP {status}"))),
        }
    }
}
