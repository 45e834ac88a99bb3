//! Calls counted on the wire: an HTTP client around the SDK's own that counts each
//! query-protocol request by its `Action`, and apart from them the requests the cloud
//! refused (a 4xx answer other than 429: not found, duplicate, ...; a first `ensure` gets
//! one `LoadBalancerNotFound` per stack) and the requests that failed (5xx, 429, or no answer
//! at all). The ensure bench includes this file by path; it trusts neither the provider's
//! metrics nor the mock cloud's log, which counts faulted calls as calls.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// SDK configuration for the mock cloud at `endpoint` signing as `akid`, with the SDK's
/// default retries.
pub async fn mock_sdk(endpoint: &str, akid: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(akid, "secret", None, None, "test");
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = loader.region(aws_config::Region::new("us-west-2"));
    let loader = loader.credentials_provider(credentials);
    loader.endpoint_url(endpoint).load().await
}

/// Requests, refused requests and failed requests per `Action`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireCalls {
    pub sent: BTreeMap<String, u64>,
    pub refused: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Refused,
    Failed,
}

impl WireCalls {
    pub fn total(&self) -> u64 {
        self.sent.values().sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }

    /// The requests that did not fail (answered, refusals included), per action.
    pub fn answered(&self) -> BTreeMap<String, u64> {
        self.sent
            .iter()
            .map(|(a, n)| (a.clone(), n - self.failed.get(a).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// What was counted after `before`.
    pub fn since(&self, before: &WireCalls) -> WireCalls {
        let diff = |now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>| {
            now.iter()
                .filter_map(|(k, n)| {
                    let d = n.saturating_sub(then.get(k).copied().unwrap_or(0));
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        WireCalls {
            sent: diff(&self.sent, &before.sent),
            refused: diff(&self.refused, &before.refused),
            failed: diff(&self.failed, &before.failed),
        }
    }
}

/// The shared counters.
#[derive(Debug, Clone, Default)]
pub struct Wire(Arc<Mutex<WireCalls>>);

impl Wire {
    pub fn snapshot(&self) -> WireCalls {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn count(&self, action: &str, outcome: Outcome) {
        let mut calls = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let table = match outcome {
            Outcome::Sent => &mut calls.sent,
            Outcome::Refused => &mut calls.refused,
            Outcome::Failed => &mut calls.failed,
        };
        *table.entry(action.to_string()).or_default() += 1;
    }

    /// `sdk` with its HTTP client counting here.
    pub fn counting(&self, sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        let builder = sdk.clone().into_builder();
        builder.http_client(self.client(sdk_http_client())).build()
    }

    /// An HTTP client that counts here, then hands each request to `inner`.
    pub fn client(&self, inner: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(Counting {
            inner,
            wire: self.clone(),
        })
    }
}

#[derive(Debug, Clone)]
struct Counting {
    inner: SharedHttpClient,
    wire: Wire,
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    wire: Wire,
}

impl HttpClient for Counting {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            wire: self.wire.clone(),
        })
    }
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let action = request
            .body()
            .bytes()
            .and_then(|body| {
                body.split(|b| *b == b'&')
                    .find_map(|kv| kv.strip_prefix(b"Action="))
                    .map(|a| String::from_utf8_lossy(a).into_owned())
            })
            .unwrap_or_else(|| "(no action)".to_string());
        self.wire.count(&action, Outcome::Sent);
        let wire = self.wire.clone();
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let answer = sent.await;
            let outcome = match &answer {
                Ok(response) => match response.status().as_u16() {
                    429 | 500.. => Some(Outcome::Failed),
                    400.. => Some(Outcome::Refused),
                    _ => None,
                },
                Err(_) => Some(Outcome::Failed),
            };
            if let Some(o) = outcome {
                wire.count(&action, o);
            }
            answer
        })
    }
}

/// The SDK's own HTTP client, as the default config builds it (it speaks plain HTTP to the
/// mock cloud too): what [`Wire::client`] wraps.
pub fn sdk_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}
