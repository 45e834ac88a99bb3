//! The Network client (`azure_mgmt_network`'s [`Client`]) and the Compute calls' client
//! ([`ComputeClient`], the same pipeline) on a reqwest (rustls) transport that
//! trusts the configured CA, with the endpoint override, the credential of
//! [`CredentialsChoice`], azure_core's own retries off and [`CallPolicy`] in the pipeline.

use std::sync::Arc;

use azure_core::auth::{AccessToken, Secret, TokenCredential};
use azure_core::{ClientOptions, RetryOptions, TransportOptions};
use azure_identity::{
    TokenCredentialOptions, VirtualMachineManagedIdentityCredential, WorkloadIdentityCredential,
};
use azure_mgmt_network::Client;
use cloudnet_core::RateBudget;

use crate::call::CallPolicy;
use crate::compute::ComputeClient;
use crate::config::{AzureConfig, CredentialsChoice};
use crate::error::{ConfigError, ConfigResult};

/// A bearer token that never changes (the mock cloud takes any token).
#[derive(Debug, Clone)]
pub struct StaticCredential(pub String);

#[async_trait::async_trait]
impl TokenCredential for StaticCredential {
    async fn get_token(&self, _scopes: &[&str]) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            Secret::new(self.0.clone()),
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}

/// The HTTP client every request goes out on: rustls (ring), trusting the public roots and
/// the configured CA.
pub fn http_client(ca_pem: Option<&str>) -> ConfigResult<reqwest::Client> {
    let mut b = reqwest::Client::builder().use_rustls_tls();
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| ConfigError::Invalid(format!("CA certificate: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    b.build()
        .map_err(|e| ConfigError::Invalid(format!("HTTP client: {e}")))
}

/// The credential of the config.
pub fn credential(config: &AzureConfig) -> ConfigResult<Arc<dyn TokenCredential>> {
    Ok(match &config.credentials {
        CredentialsChoice::Static(token) => Arc::new(StaticCredential(token.clone())),
        CredentialsChoice::WorkloadIdentity => Arc::new(
            WorkloadIdentityCredential::create(TokenCredentialOptions::default())
                .map_err(|e| ConfigError::Credential(e.to_string()))?,
        ),
        CredentialsChoice::ManagedIdentity => Arc::new(
            VirtualMachineManagedIdentityCredential::new(TokenCredentialOptions::default()),
        ),
    })
}

/// The Network client and the policy its requests go through.
pub fn network_client(
    config: &AzureConfig,
    budget: RateBudget,
) -> ConfigResult<(Client, CallPolicy)> {
    config.validate()?;
    let policy = CallPolicy::new(budget, config.retry);
    let (endpoint, options) = pipeline_parts(config, &policy)?;
    let client = Client::new(endpoint, credential(config)?, scopes(), options);
    Ok((client, policy))
}

/// The Compute calls' client on the same policy as the Network client it goes with (the
/// policy of [`network_client`]: one budget, one set of counts).
pub fn compute_client(config: &AzureConfig, policy: &CallPolicy) -> ConfigResult<ComputeClient> {
    config.validate()?;
    let (endpoint, options) = pipeline_parts(config, policy)?;
    Ok(ComputeClient::new(
        endpoint,
        credential(config)?,
        scopes(),
        options,
    ))
}

/// Tokens for ARM are asked for the management scope, whatever the endpoint.
fn scopes() -> Vec<String> {
    vec!["https://management.azure.com/.default".to_string()]
}

/// The endpoint and the pipeline options: the transport trusting the configured CA,
/// azure_core's retries off, `policy` in every request's path.
fn pipeline_parts(
    config: &AzureConfig,
    policy: &CallPolicy,
) -> ConfigResult<(azure_core::Url, ClientOptions)> {
    let http: Arc<dyn azure_core::HttpClient> = Arc::new(http_client(config.ca_pem.as_deref())?);
    let options = ClientOptions::new(TransportOptions::new(http))
        .retry(RetryOptions::none())
        .per_retry_policies(vec![Arc::new(policy.clone()) as Arc<dyn azure_core::Policy>]);
    let endpoint = azure_core::Url::parse(&config.endpoint)
        .map_err(|e| ConfigError::Invalid(format!("endpoint: {e}")))?;
    Ok((endpoint, options))
}
