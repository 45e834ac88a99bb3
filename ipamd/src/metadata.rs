//! The node's own view of its interfaces: the EC2 instance metadata service, IMDSv2
//! (`PUT /latest/api/token`, then `GET`s carrying the token).

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::pool::MetadataInterface;

/// Where the node learns its interfaces from, apart from the API.
pub trait MetadataSource: Send + Sync + 'static {
    fn interfaces(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<MetadataInterface>>> + Send;
}

/// An IMDSv2 client.
#[derive(Clone, Debug)]
pub struct Imds {
    base: String,
    instance: Option<String>,
    http: HttpClient<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

const TOKEN_TTL: &str = "300";

impl Imds {
    /// `base` is `http://169.254.169.254` on EC2. `instance` names the instance to a mock
    /// metadata service that serves several (its `X-Mockcloud-Instance-Id` header).
    pub fn new(base: impl Into<String>, instance: Option<String>) -> Self {
        Imds {
            base: base.into().trim_end_matches('/').to_string(),
            instance,
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            timeout: Duration::from_secs(2),
        }
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        token: Option<&str>,
    ) -> Result<(u16, String)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("x-aws-ec2-metadata-token", t);
        } else {
            req = req.header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL);
        }
        if let Some(i) = &self.instance {
            req = req.header("x-mockcloud-instance-id", i);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| Error::Metadata(format!("{path}: {e}")))?;
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Metadata(format!("{path}: {e}")))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Metadata(format!("{path}: {e}")))?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| Error::Metadata(format!("{path}: no answer within {:?}", self.timeout)))?
    }

    async fn get(&self, token: &str, path: &str) -> Result<Option<String>> {
        match self.call(http::Method::GET, path, Some(token)).await? {
            (200, body) => Ok(Some(body)),
            (404, _) => Ok(None),
            (code, _) => Err(Error::Metadata(format!("GET {path}: HTTP {code}"))),
        }
    }
}

fn lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines().map(str::trim).filter(|l| !l.is_empty())
}

impl MetadataSource for Imds {
    async fn interfaces(&self) -> Result<Vec<MetadataInterface>> {
        let token = match self
            .call(http::Method::PUT, "/latest/api/token", None)
            .await?
        {
            (200, t) => t,
            (code, _) => return Err(Error::Metadata(format!("token: HTTP {code}"))),
        };
        let root = "/latest/meta-data/network/interfaces/macs/";
        let macs = self
            .get(&token, root)
            .await?
            .ok_or_else(|| Error::Metadata("no network interfaces listed".into()))?;
        let mut out = Vec::new();
        for mac in lines(&macs).map(|m| m.trim_end_matches('/')) {
            let field = |f: &str| format!("{root}{mac}/{f}");
            let interface_id = self
                .get(&token, &field("interface-id"))
                .await?
                .ok_or_else(|| Error::Metadata(format!("{mac}: no interface-id")))?;
            let device_number = self
                .get(&token, &field("device-number"))
                .await?
                .and_then(|d| d.trim().parse().ok());
            let local_ipv4s = self
                .get(&token, &field("local-ipv4s"))
                .await?
                .map(|b| parse_all::<Ipv4Addr>(&b, mac))
                .transpose()?
                .unwrap_or_default();
            let ipv4_prefixes = self
                .get(&token, &field("ipv4-prefix"))
                .await?
                .map(|b| parse_all::<Ipv4Net>(&b, mac))
                .transpose()?
                .unwrap_or_default();
            out.push(MetadataInterface {
                mac: mac.to_string(),
                interface_id: interface_id.trim().to_string(),
                device_number,
                local_ipv4s,
                ipv4_prefixes,
            });
        }
        Ok(out)
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
