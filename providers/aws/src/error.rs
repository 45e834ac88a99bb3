//! The errors of setting the provider up. Calls themselves answer [`cloudnet_core::Error`].

use aws_config::imds::client::error::ImdsError;

/// Why the provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the cluster name is empty")]
    NoClusterName,
    #[error("no region given, none in the environment, and the instance metadata did not answer")]
    Region(#[source] Box<ImdsError>),
    #[error("no VPC ID given, and the instance metadata did not answer")]
    Vpc(#[source] Box<ImdsError>),
    #[error("instance metadata has no {0}")]
    MissingMetadata(&'static str),
    #[error("invalid endpoint URL {url:?}")]
    Endpoint {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type ConfigResult<T> = Result<T, ConfigError>;
