//! The provider value the controllers hold: config, location, clients and the caller, shared
//! by every trait the crate implements.

use std::sync::Arc;

use cloudnet_core::{RateBudget, Result};
use google_cloud_compute_v1::model::Operation;

use crate::call::{CallCounts, Caller};
use crate::client::Clients;
use crate::config::{GcpConfig, Location, resolve_location};
use crate::error::ConfigResult;
use crate::ops::Operations;

/// The GCP backend. Cloning is cheap; clones share the budget, counts and clients.
#[derive(Debug, Clone)]
pub struct GcpProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: GcpConfig,
    location: Location,
    clients: Clients,
    caller: Caller,
}

impl GcpProvider {
    /// Resolves the location (asking the metadata server for what the config leaves open)
    /// and builds the clients.
    pub async fn connect(config: GcpConfig) -> ConfigResult<GcpProvider> {
        let location = resolve_location(&config).await?;
        let clients = Clients::build(&config).await?;
        let caller = Caller::new(RateBudget::new(&config.budget), config.retry);
        tracing::info!(
            project = %location.project,
            region = %location.region,
            network = %location.network,
            "GCP provider ready"
        );
        Ok(GcpProvider {
            inner: Arc::new(Inner {
                config,
                location,
                clients,
                caller,
            }),
        })
    }

    pub fn config(&self) -> &GcpConfig {
        &self.inner.config
    }

    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    pub fn project(&self) -> &str {
        &self.inner.location.project
    }

    pub fn clients(&self) -> &Clients {
        &self.inner.clients
    }

    pub fn caller(&self) -> &Caller {
        &self.inner.caller
    }

    /// Calls made so far, per API method (every attempt).
    pub fn call_counts(&self) -> &CallCounts {
        &self.inner.caller.counts
    }

    pub fn operations(&self) -> Operations<'_> {
        Operations {
            caller: &self.inner.caller,
            clients: &self.inner.clients,
            project: &self.inner.location.project,
            polling: self.inner.config.polling,
        }
    }

    /// Waits for a mutating call's operation to be done (see [`Operations::wait`]).
    pub async fn wait(&self, op: Operation) -> Result<()> {
        self.operations().wait(op).await
    }
}
