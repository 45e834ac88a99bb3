//! The one error type of the controllers.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Cloud(#[from] cloudnet_core::Error),
    #[error("node {node} has no usable providerID ({provider_id:?})")]
    ProviderId { node: String, provider_id: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("status does not serialise")]
    Json(#[from] serde_json::Error),
    /// Not a failure: the work is to be looked at again after this long.
    #[error("requeue after {0:?}")]
    RequeueAfter(Duration),
    #[error("metrics server failed")]
    Serve(#[from] std::io::Error),
    #[error("lost the leader lease; stopping so that one replica writes")]
    LostLeadership,
    #[error("{0} stopped unexpectedly")]
    Stopped(&'static str),
}
