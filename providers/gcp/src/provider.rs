//! The provider value the controllers hold: config, location, clients and the caller, shared
//! by every trait the crate implements.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cloudnet_core::{RateBudget, Result};
use google_cloud_compute_v1::model::Operation;
use ipnet::IpNet;

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
    /// Instance name -> zone, learned from reads (an instance never changes zone).
    zones: Mutex<HashMap<String, String>>,
    /// Subnetwork URL -> its primary range and secondary ranges by name (ranges of a
    /// subnetwork are not changed while it is in use).
    subnets: Mutex<HashMap<String, SubnetRanges>>,
}

/// A subnetwork's address ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetRanges {
    pub primary: IpNet,
    pub secondary: Vec<(String, IpNet)>,
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
                zones: Mutex::default(),
                subnets: Mutex::default(),
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

    /// The zone of an instance, when a read has shown it.
    pub fn known_zone(&self, instance: &str) -> Option<String> {
        lock(&self.inner.zones).get(instance).cloned()
    }

    /// Remembers where an instance is.
    pub fn remember_zone(&self, instance: &str, zone: &str) {
        lock(&self.inner.zones).insert(instance.to_string(), zone.to_string());
    }

    /// A subnetwork's ranges, when read before.
    pub fn known_subnet(&self, url: &str) -> Option<SubnetRanges> {
        lock(&self.inner.subnets).get(url).cloned()
    }

    pub fn remember_subnet(&self, url: &str, ranges: SubnetRanges) {
        lock(&self.inner.subnets).insert(url.to_string(), ranges);
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
