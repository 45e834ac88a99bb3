//! Waiting for Compute Engine operations.
//!
//! Every mutating call answers an operation (global, regional or zonal, told apart by its
//! `zone`/`region` fields). [`Operations::wait`] polls it with `*Operations.get` until it is
//! `DONE`, backing off between polls, and maps a finished operation's error onto the core
//! error with GCP's own code (`QUOTA_EXCEEDED`, `RESOURCE_IN_USE_BY_ANOTHER_RESOURCE`, ...).
//! An operation already `DONE` in the mutating call's answer costs no poll.

use cloudnet_core::{Error, Result};
use google_cloud_compute_v1::model::{Operation, operation};

use crate::call::{Caller, methods};
use crate::client::Clients;
pub use crate::config::OperationPolling;
use crate::error::from_operation;
use crate::names::last_segment;

/// Where an operation lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Global,
    Region(String),
    Zone(String),
}

impl Scope {
    /// The scope of an operation, from its `zone` or `region` URL.
    pub fn of(op: &Operation) -> Scope {
        if let Some(z) = op.zone.as_deref().filter(|z| !z.is_empty()) {
            Scope::Zone(last_segment(z).to_string())
        } else if let Some(r) = op.region.as_deref().filter(|r| !r.is_empty()) {
            Scope::Region(last_segment(r).to_string())
        } else {
            Scope::Global
        }
    }
}

/// Waits for operations with the provider's clients and caller.
pub struct Operations<'a> {
    pub caller: &'a Caller,
    pub clients: &'a Clients,
    pub project: &'a str,
    pub polling: OperationPolling,
}

impl Operations<'_> {
    /// Polls `op` until it is `DONE`; its error, if any, is the result.
    pub async fn wait(&self, mut op: Operation) -> Result<()> {
        let started = tokio::time::Instant::now();
        let mut interval = self.polling.initial_interval;
        loop {
            if op.status == Some(operation::Status::Done) {
                return from_operation(&op).map_or(Ok(()), Err);
            }
            if started.elapsed() >= self.polling.timeout {
                return Err(Error::Transient {
                    code: "operationTimeout".into(),
                    message: format!(
                        "operation {} ({}) not done after {:?}",
                        op.name.as_deref().unwrap_or("?"),
                        op.operation_type.as_deref().unwrap_or("?"),
                        self.polling.timeout
                    ),
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(self.polling.max_interval);
            op = self.get(&op).await?;
        }
    }

    async fn get(&self, op: &Operation) -> Result<Operation> {
        let name = op.name.clone().unwrap_or_default();
        let project = self.project.to_string();
        match Scope::of(op) {
            Scope::Zone(zone) => {
                self.caller
                    .call(methods::ZONE_OPERATIONS_GET, || {
                        self.clients
                            .zone_operations
                            .get()
                            .set_project(project.clone())
                            .set_zone(zone.clone())
                            .set_operation(name.clone())
                            .send()
                    })
                    .await
            }
            Scope::Region(region) => {
                self.caller
                    .call(methods::REGION_OPERATIONS_GET, || {
                        self.clients
                            .region_operations
                            .get()
                            .set_project(project.clone())
                            .set_region(region.clone())
                            .set_operation(name.clone())
                            .send()
                    })
                    .await
            }
            Scope::Global => {
                self.caller
                    .call(methods::GLOBAL_OPERATIONS_GET, || {
                        self.clients
                            .global_operations
                            .get()
                            .set_project(project.clone())
                            .set_operation(name.clone())
                            .send()
                    })
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_comes_from_the_zone_or_region_url() {
        let z = Operation::new()
            .set_zone("https://compute.googleapis.com/compute/v1/projects/p/zones/us-central1-a");
        assert_eq!(Scope::of(&z), Scope::Zone("us-central1-a".into()));
        let r = Operation::new().set_region("projects/p/regions/us-central1");
        assert_eq!(Scope::of(&r), Scope::Region("us-central1".into()));
        assert_eq!(Scope::of(&Operation::new()), Scope::Global);
    }
}
